//! TCP through the netpoller: many concurrent echo clients, refused connects, end of stream,
//! resets, shared-reference I/O and conversions to and from std.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread;
use std::time::Duration;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use gmp::net::{TcpListener, TcpStream};

mod common;
use common::{runtime, within};

/// Serves echo on `listener` until the runtime goes away: one goroutine per connection.
fn spawn_echo_server(listener: TcpListener) {
    gmp::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.expect("accept");
            gmp::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut stream = stream;
                loop {
                    let n = stream.read(&mut buf).await.expect("server read");
                    if n == 0 {
                        return;
                    }
                    stream.write_all(&buf[..n]).await.expect("server write");
                }
            });
        }
    });
}

#[test]
fn a_thousand_concurrent_echo_clients_each_get_their_4_kib_back() {
    const CLIENTS: usize = 1000;
    const SIZE: usize = 4096;
    let rt = runtime(2);
    within(Duration::from_secs(120), "1,000 echo clients", || {
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            spawn_echo_server(listener);
            let clients: Vec<_> = (0..CLIENTS)
                .map(|client| {
                    gmp::spawn(async move {
                        let message: Vec<u8> = (0..SIZE).map(|i| (i * 31 + client) as u8).collect();
                        let mut stream = TcpStream::connect(addr).await.expect("connect");
                        stream.write_all(&message).await.expect("client write");
                        let mut reply = vec![0u8; SIZE];
                        stream.read_exact(&mut reply).await.expect("client read");
                        assert!(reply == message, "client {client} got someone else's bytes");
                        stream.close().await.expect("close");
                        let mut rest = Vec::new();
                        stream.read_to_end(&mut rest).await.expect("read to end");
                        assert!(rest.is_empty());
                    })
                })
                .collect();
            for client in clients {
                client.await.unwrap();
            }
        })
    });
}

#[test]
fn connecting_to_a_closed_port_is_connection_refused() {
    // Bind then drop a listener: its port is free and nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let rt = runtime(2);
    let error = within(Duration::from_secs(30), "refused connect", || {
        rt.block_on(async move { TcpStream::connect(("127.0.0.1", port)).await.unwrap_err() })
    });
    assert_eq!(error.kind(), ErrorKind::ConnectionRefused, "{error:?}");
}

#[test]
fn a_read_after_the_peer_closes_returns_zero_bytes() {
    let rt = runtime(2);
    within(Duration::from_secs(30), "EOF", || {
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = gmp::spawn(async move {
                let (mut stream, _) = listener.accept().await.unwrap();
                stream.write_all(b"last words").await.unwrap();
                // Dropping the stream closes it.
            });
            let mut client = TcpStream::connect(addr).await.unwrap();
            server.await.unwrap();
            let mut text = String::new();
            client.read_to_string(&mut text).await.unwrap();
            assert_eq!(text, "last words");
            let mut buf = [0u8; 16];
            assert_eq!(client.read(&mut buf).await.unwrap(), 0, "EOF reads 0 again");
        })
    });
}

#[test]
fn a_connection_reset_by_the_peer_is_an_error_not_a_panic() {
    let rt = runtime(2);
    within(Duration::from_secs(30), "reset", || {
        rt.block_on(async {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let mut client = TcpStream::connect(addr).await.unwrap();
            let (server, _) = listener.accept().unwrap();
            client.write_all(b"unread").await.unwrap();
            // Give the bytes time to reach the server's receive queue, then close it unread:
            // the kernel answers with a reset.
            let mut peeked = [0u8; 6];
            server.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            assert_eq!(server.peek(&mut peeked).unwrap(), 6);
            drop(server);
            let mut buf = [0u8; 16];
            let error = client.read(&mut buf).await.unwrap_err();
            assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{error:?}");
        })
    });
}

#[test]
fn one_goroutine_reads_while_another_writes_through_shared_references() {
    let rt = runtime(2);
    within(Duration::from_secs(30), "shared-reference I/O", || {
        rt.block_on(async {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let echo = thread::spawn(move || {
                let (mut stream, _) = listener.accept().unwrap();
                let mut buf = [0u8; 1024];
                loop {
                    let n = stream.read(&mut buf).unwrap();
                    if n == 0 {
                        return;
                    }
                    stream.write_all(&buf[..n]).unwrap();
                }
            });
            let stream = std::sync::Arc::new(TcpStream::connect(addr).await.unwrap());
            stream.set_nodelay(true).unwrap();
            assert!(stream.nodelay().unwrap());
            const TOTAL: usize = 1 << 20;
            let reader = gmp::spawn({
                let stream = stream.clone();
                async move {
                    let mut received = 0;
                    let mut buf = vec![0u8; 8192];
                    while received < TOTAL {
                        let n = (&*stream).read(&mut buf).await.unwrap();
                        assert!(buf[..n].iter().all(|&b| b == 7));
                        received += n;
                    }
                    received
                }
            });
            let chunk = vec![7u8; 8192];
            for _ in 0..TOTAL / chunk.len() {
                (&*stream).write_all(&chunk).await.unwrap();
            }
            assert_eq!(reader.await.unwrap(), TOTAL);
            stream.shutdown(Shutdown::Write).unwrap();
            echo.join().unwrap();
        })
    });
}

#[test]
fn std_streams_and_listeners_convert_to_gmp_and_back() {
    let rt = runtime(2);
    within(Duration::from_secs(30), "conversions", || {
        rt.block_on(async {
            let listener = TcpListener::try_from(std::net::TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
            let addr: SocketAddr = listener.local_addr().unwrap();
            let std_client = std::net::TcpStream::connect(addr).unwrap();
            let (server, peer) = listener.accept().await.unwrap();
            assert_eq!(peer, std_client.local_addr().unwrap());
            let mut client = TcpStream::try_from(std_client).unwrap();
            client.write_all(b"abc").await.unwrap();
            let mut server = std::net::TcpStream::try_from(server).unwrap();
            server.set_nonblocking(false).unwrap();
            let mut buf = [0u8; 3];
            server.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"abc");
            let std_listener = listener.into_std().unwrap();
            assert_eq!(std_listener.local_addr().unwrap(), addr);
        })
    });
}

#[test]
fn a_host_name_is_resolved_and_connected_to() {
    let rt = runtime(2);
    within(Duration::from_secs(30), "connect by name", || {
        rt.block_on(async {
            let listener = TcpListener::bind("localhost:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let accept = gmp::spawn(async move { listener.accept().await.map(|_| ()) });
            let target = format!("localhost:{port}");
            // A `&String` that the future borrows only until it has resolved the name.
            let stream = TcpStream::connect(&target).await.unwrap();
            drop(target);
            accept.await.unwrap().unwrap();
            assert_eq!(stream.peer_addr().unwrap().port(), port);
        })
    });
}

#[test]
fn binding_outside_a_runtime_panics_with_a_message_that_says_how_to_enter_one() {
    let panic = catch_unwind(AssertUnwindSafe(|| {
        futures::executor::block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    }))
    .unwrap_err();
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("");
    assert!(message.contains("gmp::net::TcpListener::bind must be called from inside a gmp runtime"), "{message}");
    assert!(message.contains("block_on"), "{message}");
}

#[test]
fn an_address_already_in_use_is_an_error() {
    let rt = runtime(1);
    rt.block_on(async {
        let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let error = TcpListener::bind(first.local_addr().unwrap()).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::AddrInUse, "{error:?}");
    });
}
