//! `examples/echo.rs` on plain mio, no executor: the floor the I/O path is measured against
//! (issue 16). One epoll loop per thread, each with its own `SO_REUSEPORT` listener on the same
//! port, so the kernel spreads new connections over the threads and no connection ever moves.
//!
//! ```text
//! GMP_MAXPROCS=2 cargo run --release --example echo_mio -- 127.0.0.1:0
//! ```
//!
//! Same contract as the other example servers (address argument, `listening on ...`, backlog
//! 1024, `TCP_NODELAY`); `GMP_MAXPROCS` sets the thread count (default 2) so one variable sizes
//! every server of `scripts/bench_apps.sh`.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

/// The listener's token; connections count up from 1.
const LISTENER: Token = Token(0);

fn main() -> std::io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7000".to_owned());
    let address: SocketAddr = address.parse().map_err(|e| std::io::Error::new(ErrorKind::InvalidInput, e))?;
    let threads: usize = std::env::var("GMP_MAXPROCS").ok().and_then(|n| n.parse().ok()).unwrap_or(2).max(1);
    // The first listener picks the port (the address may say 0); the others join it.
    let first = reuseport_listener(address)?;
    let address = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..threads {
        listeners.push(reuseport_listener(address)?);
    }
    println!("listening on {address}");
    let workers: Vec<_> = listeners
        .into_iter()
        .map(|listener| std::thread::spawn(move || event_loop(TcpListener::from_std(listener))))
        .collect();
    for worker in workers {
        worker.join().expect("echo_mio: a loop panicked")?;
    }
    Ok(())
}

/// A nonblocking listener on `address` with `SO_REUSEADDR`, `SO_REUSEPORT` and backlog 1024.
fn reuseport_listener(address: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(address), socket2::Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// One thread's loop: accepts on its listener and echoes every connection it accepted.
fn event_loop(mut listener: TcpListener) -> std::io::Result<()> {
    let mut poll = Poll::new()?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let mut connections: HashMap<Token, TcpStream> = HashMap::new();
    let mut next = 1;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if let Err(error) = poll.poll(&mut events, None) {
            if error.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(error);
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                accept_all(&listener, &poll, &mut connections, &mut next);
            } else if let Some(stream) = connections.get_mut(&event.token()) {
                if !echo_ready(stream, &mut buf) {
                    let mut stream = connections.remove(&event.token()).expect("present");
                    let _ = poll.registry().deregister(&mut stream);
                }
            }
        }
    }
}

/// Accepts until the backlog is empty, registering each connection for readability.
fn accept_all(listener: &TcpListener, poll: &Poll, connections: &mut HashMap<Token, TcpStream>, next: &mut usize) {
    loop {
        match listener.accept() {
            Ok((mut stream, _)) => {
                // A peer that already went away fails this too; its first read then ends it.
                let _ = stream.set_nodelay(true);
                let token = Token(*next);
                *next += 1;
                if poll.registry().register(&mut stream, token, Interest::READABLE).is_ok() {
                    connections.insert(token, stream);
                }
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => return,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            // Out of file descriptors, say: the next readiness event retries.
            Err(error) => {
                eprintln!("echo_mio: accept: {error}");
                return;
            }
        }
    }
}

/// Reads until the socket would block, writing back what arrived; false once the connection is
/// done (end of stream or an error). Edge-triggered readiness, hence the loop to `WouldBlock`.
fn echo_ready(stream: &mut TcpStream, buf: &mut [u8]) -> bool {
    loop {
        match stream.read(buf) {
            Ok(0) => return false,
            Ok(n) => {
                if write_all(stream, &buf[..n]).is_err() {
                    return false;
                }
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => return true,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

/// Writes all of `bytes`. A closed-loop peer reads every reply before sending again, so the
/// send buffer never fills here; should it, this spins until it drains (a baseline, not a server).
fn write_all(stream: &mut TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                std::thread::yield_now()
            }
            Err(error) => return Err(error),
        }
    }
    Ok(())
}
