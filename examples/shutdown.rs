//! A TCP server that, on Ctrl-C, stops accepting, finishes the requests in flight and exits 0.
//!
//! ```text
//! cargo run --example shutdown                   # listens on 127.0.0.1:7001
//! cargo run --example shutdown -- 127.0.0.1:0    # or where you say (port 0: any free port)
//! ```
//!
//! Each request is one line holding a number of milliseconds of "work"; the server sleeps that
//! long and answers `done <ms>`. Try `echo 3000 | nc 127.0.0.1 7001` and press Ctrl-C in the
//! server's terminal while it works: the answer still comes, then the server exits.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use futures::{FutureExt, StreamExt};
use gmp::net::{TcpListener, TcpStream};
use gmp::sync::WaitGroup;

#[gmp::main]
async fn main() -> io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7001".to_owned());
    // Listening for Ctrl-C starts here, inside the runtime, before anyone can connect.
    let mut shutdown = gmp::signal::ctrl_c().fuse();
    let listener = TcpListener::bind(addr.as_str()).await?;
    println!("shutdown: listening on {}", listener.local_addr()?);

    let in_flight = WaitGroup::new();
    let served = Arc::new(AtomicUsize::new(0));
    let mut incoming = futures::stream::poll_fn(|cx| listener.poll_accept(cx).map(Some)).fuse();
    loop {
        futures::select! {
            accepted = incoming.next() => match accepted {
                Some(Ok((stream, peer))) => {
                    in_flight.add(1);
                    println!("shutdown: serving {peer}");
                    let (in_flight, served) = (in_flight.clone(), served.clone());
                    gmp::spawn(async move {
                        match serve(stream).await {
                            Ok(()) => {
                                served.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(error) => eprintln!("shutdown: request failed: {error}"),
                        }
                        in_flight.done();
                    });
                }
                Some(Err(error)) => eprintln!("shutdown: accept: {error}"),
                None => unreachable!("the accept stream never ends"),
            },
            interrupted = shutdown => {
                interrupted?;
                break;
            }
        }
    }

    // No more accepts (the listener closes here); the requests already taken still finish.
    drop(incoming);
    drop(listener);
    println!("shutdown: Ctrl-C; finishing {} request(s) in flight", in_flight.count());
    in_flight.wait().await;
    println!("shutdown: served {} request(s); bye", served.load(Ordering::SeqCst));
    Ok(())
}

/// One request: a line with the milliseconds to work, answered with `done <ms>`.
async fn serve(stream: TcpStream) -> io::Result<()> {
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let millis: u64 = line.trim().parse().map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not a number"))?;
    gmp::time::sleep(Duration::from_millis(millis)).await;
    (&stream).write_all(format!("done {millis}\n").as_bytes()).await
}
