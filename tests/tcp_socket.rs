//! `TcpSocket`: options set before `bind`/`connect` read back, `SO_REUSEPORT` listeners share
//! a port, refused connects, and connects that hang on a full accept queue give up under a
//! timeout without a thread per attempt (the connect is non-blocking on every target).

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::io::{AsyncReadExt, AsyncWriteExt};
use gmp::net::{TcpListener, TcpSocket, TcpStream};

mod common;
use common::{runtime, within};

const LOOPBACK: &str = "127.0.0.1:0";

fn loopback() -> SocketAddr {
    LOOPBACK.parse().unwrap()
}

#[test]
fn keepalive_nodelay_reuseaddr_and_buffer_sizes_read_back_what_was_set() {
    let socket = TcpSocket::new_v4().unwrap();
    for on in [true, false, true] {
        socket.set_keepalive(on).unwrap();
        assert_eq!(socket.keepalive().unwrap(), on);
        socket.set_nodelay(on).unwrap();
        assert_eq!(socket.nodelay().unwrap(), on);
        socket.set_reuseaddr(on).unwrap();
        assert_eq!(socket.reuseaddr().unwrap(), on);
        socket.set_reuseport(on).unwrap();
        assert_eq!(socket.reuseport().unwrap(), on);
    }
    // Below the usual net.core.{w,r}mem_max (208 KiB), so the kernel takes the value as it is
    // (Linux reports it doubled, for its bookkeeping; other kernels report it as set).
    for size in [16 * 1024u32, 96 * 1024] {
        socket.set_send_buffer_size(size).unwrap();
        let send = socket.send_buffer_size().unwrap();
        assert!(send == size || send == 2 * size, "SO_SNDBUF set to {size}, read back {send}");
        socket.set_recv_buffer_size(size).unwrap();
        let recv = socket.recv_buffer_size().unwrap();
        assert!(recv == size || recv == 2 * size, "SO_RCVBUF set to {size}, read back {recv}");
    }
    socket.set_linger(Some(Duration::from_secs(3))).unwrap();
    assert_eq!(socket.linger().unwrap(), Some(Duration::from_secs(3)));

    // The options stay with the connection the socket becomes.
    let rt = runtime(2);
    rt.block_on(async move {
        let listener = TcpListener::bind(LOOPBACK).await.unwrap();
        socket.set_keepalive(true).unwrap();
        let stream = socket.connect(listener.local_addr().unwrap()).await.unwrap();
        assert!(stream.nodelay().unwrap());
        let raw = socket2::SockRef::from(&stream);
        assert!(raw.keepalive().unwrap());
        let recv = raw.recv_buffer_size().unwrap();
        assert!(recv == 96 * 1024 || recv == 2 * 96 * 1024, "the connection's SO_RCVBUF is {recv}");
    });
}

#[test]
fn two_listeners_with_so_reuseport_on_one_port_both_accept() {
    let rt = runtime(2);
    within(Duration::from_secs(30), "two SO_REUSEPORT listeners to accept", || {
        rt.block_on(async {
            let first = TcpSocket::new_v4().unwrap();
            first.set_reuseport(true).unwrap();
            first.bind(loopback()).unwrap();
            let addr = first.local_addr().unwrap();
            let second = TcpSocket::new_v4().unwrap();
            second.set_reuseport(true).unwrap();
            second.bind(addr).unwrap();
            let listeners = [first.listen(128).unwrap(), second.listen(128).unwrap()];
            assert_eq!(listeners[1].local_addr().unwrap(), addr);

            // A third socket without SO_REUSEPORT may not join them.
            let third = TcpSocket::new_v4().unwrap();
            assert_eq!(third.bind(addr).unwrap_err().kind(), ErrorKind::AddrInUse);

            // Linux spreads connections over the group by a hash of the peer's address and
            // port, so a few connects from fresh ports reach both; 200 that all land on one
            // listener would mean it is not sharing (chance 2^-199). Elsewhere (BSD
            // semantics) the last listener may take them all.
            for (index, listener) in listeners.into_iter().enumerate() {
                gmp::spawn(async move {
                    loop {
                        let (mut stream, _) = listener.accept().await.unwrap();
                        stream.write_all(&[index as u8]).await.unwrap();
                    }
                });
            }
            let mut seen = [0usize; 2];
            for _ in 0..200 {
                let mut client = TcpStream::connect(addr).await.unwrap();
                let mut which = [0u8; 1];
                client.read_exact(&mut which).await.unwrap();
                seen[which[0] as usize] += 1;
                if cfg!(not(any(target_os = "linux", target_os = "android"))) || seen.iter().all(|&n| n > 0) {
                    break;
                }
            }
            if cfg!(any(target_os = "linux", target_os = "android")) {
                assert!(seen.iter().all(|&n| n > 0), "accepts per listener: {seen:?}");
            }
        })
    });
}

#[test]
fn connecting_to_a_closed_port_is_connection_refused() {
    let rt = runtime(2);
    rt.block_on(async {
        // Bind and drop a listener: nothing listens on its port now.
        let port = std::net::TcpListener::bind(LOOPBACK).unwrap().local_addr().unwrap().port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let error = TcpSocket::new_v4().unwrap().connect(addr).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ConnectionRefused);
        let error = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ConnectionRefused);
    });
}

#[test]
fn a_listener_made_by_tcp_socket_accepts_and_echoes() {
    let rt = runtime(2);
    rt.block_on(async {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(loopback()).unwrap();
        let listener = socket.listen(16).unwrap();
        let addr = listener.local_addr().unwrap();
        gmp::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 5];
            stream.read_exact(&mut buf).await.unwrap();
            stream.write_all(&buf).await.unwrap();
        });
        let mut stream = TcpSocket::new_v4().unwrap().connect(addr).await.unwrap();
        stream.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
    });
}

#[test]
fn an_ipv6_socket_connects_over_the_ipv6_loopback_when_the_host_has_one() {
    let rt = runtime(2);
    rt.block_on(async {
        let Ok(socket) = TcpSocket::new_v6() else { return };
        // Hosts (and containers) without IPv6 have no ::1 to bind.
        if socket.bind("[::1]:0".parse().unwrap()).is_err() {
            return;
        }
        let listener = socket.listen(16).unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(addr.is_ipv6());
        let client = TcpSocket::new_v6().unwrap().connect(addr).await.unwrap();
        let (_server, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
    });
}

/// The threads of this process (Linux: the entries of `/proc/self/task`).
#[cfg(target_os = "linux")]
fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn connects_to_a_full_accept_queue_time_out_without_a_thread_per_attempt() {
    const ATTEMPTS: usize = 100;
    const TIMEOUT: Duration = Duration::from_millis(300);
    let rt = runtime(2);
    within(Duration::from_secs(60), "connects to a full accept queue to time out", || {
        rt.block_on(async {
            // Backlog 1 and never accepting: once the queue holds what the kernel allows
            // (backlog + 1 on Linux), new SYNs are dropped and connects hang in SYN_SENT.
            let socket = TcpSocket::new_v4().unwrap();
            socket.bind(loopback()).unwrap();
            let listener = socket.listen(1).unwrap();
            let addr = listener.local_addr().unwrap();
            let mut queued = Vec::new();
            let full = loop {
                match gmp::time::timeout(TIMEOUT, TcpStream::connect(addr)).await {
                    Ok(stream) => queued.push(stream.unwrap()),
                    Err(_) => break true,
                }
                if queued.len() >= 64 {
                    break false;
                }
            };
            assert!(full, "64 connects to a listener with backlog 1 went through");

            #[cfg(target_os = "linux")]
            let threads_before = thread_count();
            let started = Instant::now();
            let attempts: Vec<_> = (0..ATTEMPTS)
                .map(|_| gmp::spawn(gmp::time::timeout(TIMEOUT, TcpSocket::new_v4().unwrap().connect(addr))))
                .collect();
            // Half-way through the wait, every attempt is parked on its socket.
            gmp::time::sleep(TIMEOUT / 2).await;
            #[cfg(target_os = "linux")]
            let threads_during = thread_count();
            let mut timed_out = 0;
            for attempt in attempts {
                match attempt.await.unwrap() {
                    Err(_elapsed) => timed_out += 1,
                    Ok(result) => panic!("a connect to a full accept queue finished: {result:?}"),
                }
            }
            assert_eq!(timed_out, ATTEMPTS);
            // Concurrent, not one after the other: all 100 were waiting at once.
            assert!(started.elapsed() < TIMEOUT * 20, "100 timed-out connects took {:?}", started.elapsed());
            #[cfg(target_os = "linux")]
            {
                let threads_after = thread_count();
                // A thread per blocked connect would add ~100; the runtime starts Ms on demand
                // (a few, bounded by its Ps and spares).
                assert!(
                    threads_during <= threads_before + 8 && threads_after <= threads_before + 8,
                    "threads: {threads_before} before, {threads_during} during, {threads_after} after {ATTEMPTS} connects",
                );
            }
            drop((queued, listener));
        })
    });
}
