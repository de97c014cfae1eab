//! Unix-domain sockets through the netpoller.

use std::path::PathBuf;
use std::time::Duration;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use gmp::net::{UnixDatagram, UnixListener, UnixStream};

mod common;
use common::within;

fn runtime() -> gmp::Runtime {
    gmp::Builder::new().maxprocs(2).build().unwrap()
}

/// A socket path unique to this process and `name`, removed when dropped.
struct SocketPath(PathBuf);

impl SocketPath {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("gmp-test-{}-{name}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        SocketPath(path)
    }
}

impl Drop for SocketPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_unix_stream_client_gets_its_bytes_echoed_by_the_listener() {
    let path = SocketPath::new("stream");
    let rt = runtime();
    within(Duration::from_secs(60), "Unix stream echo", || {
        rt.block_on(async {
            let listener = UnixListener::bind(&path.0).unwrap();
            assert_eq!(listener.local_addr().unwrap().as_pathname(), Some(path.0.as_path()));
            gmp::spawn(async move {
                loop {
                    let (mut stream, _) = listener.accept().await.unwrap();
                    gmp::spawn(async move {
                        let mut buf = [0u8; 1024];
                        loop {
                            let n = stream.read(&mut buf).await.unwrap();
                            if n == 0 {
                                return;
                            }
                            stream.write_all(&buf[..n]).await.unwrap();
                        }
                    });
                }
            });
            let clients: Vec<_> = (0..200u32)
                .map(|i| {
                    let path = path.0.clone();
                    gmp::spawn(async move {
                        let mut stream = UnixStream::connect(&path).await.unwrap();
                        let message = format!("hello from {i}");
                        stream.write_all(message.as_bytes()).await.unwrap();
                        stream.close().await.unwrap();
                        let mut reply = String::new();
                        stream.read_to_string(&mut reply).await.unwrap();
                        assert_eq!(reply, message);
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
fn a_stream_pair_carries_a_megabyte_through_shared_references() {
    let rt = runtime();
    within(Duration::from_secs(60), "Unix pair", || {
        rt.block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            const TOTAL: usize = 1 << 20;
            let writer = gmp::spawn(async move {
                let chunk = vec![3u8; 4096];
                for _ in 0..TOTAL / chunk.len() {
                    (&a).write_all(&chunk).await.unwrap();
                }
                a
            });
            let mut received = 0;
            let mut buf = vec![0u8; 16 * 1024];
            while received < TOTAL {
                let n = (&b).read(&mut buf).await.unwrap();
                assert!(n > 0);
                received += n;
            }
            let a = writer.await.unwrap();
            drop(a);
            assert_eq!((&b).read(&mut buf).await.unwrap(), 0, "EOF after the peer drops");
        })
    });
}

#[test]
fn a_unix_datagram_round_trip_between_bound_sockets() {
    let server_path = SocketPath::new("dgram-server");
    let client_path = SocketPath::new("dgram-client");
    let rt = runtime();
    within(Duration::from_secs(30), "Unix datagram round trip", || {
        rt.block_on(async {
            let server = UnixDatagram::bind(&server_path.0).unwrap();
            let echo = gmp::spawn(async move {
                let mut buf = [0u8; 256];
                for _ in 0..50 {
                    let (n, from) = server.recv_from(&mut buf).await.unwrap();
                    let from = from.as_pathname().unwrap().to_owned();
                    server.send_to(&buf[..n], &from).await.unwrap();
                }
            });
            let client = UnixDatagram::bind(&client_path.0).unwrap();
            let mut buf = [0u8; 256];
            for i in 0..50u32 {
                client.send_to(&i.to_le_bytes(), &server_path.0).await.unwrap();
                let (n, from) = client.recv_from(&mut buf).await.unwrap();
                assert_eq!(&buf[..n], &i.to_le_bytes());
                assert_eq!(from.as_pathname(), Some(server_path.0.as_path()));
            }
            echo.await.unwrap();
        })
    });
}

#[test]
fn connected_and_paired_unix_datagrams_send_and_recv() {
    let server_path = SocketPath::new("dgram-connected");
    let rt = runtime();
    within(Duration::from_secs(30), "Unix datagram send/recv", || {
        rt.block_on(async {
            let (a, b) = UnixDatagram::pair().unwrap();
            let receiver = gmp::spawn(async move {
                let mut buf = [0u8; 16];
                let n = b.recv(&mut buf).await.unwrap();
                buf[..n].to_vec()
            });
            a.send(b"paired").await.unwrap();
            assert_eq!(receiver.await.unwrap(), b"paired");

            let server = UnixDatagram::bind(&server_path.0).unwrap();
            let client = UnixDatagram::unbound().unwrap();
            client.connect(&server_path.0).unwrap();
            client.send(b"connected").await.unwrap();
            let mut buf = [0u8; 16];
            let (n, _) = server.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"connected");
        })
    });
}

#[test]
fn connecting_to_a_missing_path_is_not_found() {
    let path = SocketPath::new("missing");
    let rt = runtime();
    let error = rt.block_on(async { UnixStream::connect(&path.0).await.unwrap_err() });
    assert_eq!(error.kind(), std::io::ErrorKind::NotFound, "{error:?}");
}

#[test]
fn a_connect_to_a_full_accept_queue_waits_without_a_thread_until_the_listener_accepts() {
    let rt = runtime();
    let path = SocketPath::new("full-queue");
    within(Duration::from_secs(30), "a connect to a full Unix accept queue", || {
        rt.block_on(async {
            // Backlog 0: Linux queues one connection, then refuses more with EAGAIN.
            let listener = std::os::unix::net::UnixListener::bind(&path.0).unwrap();
            socket2::SockRef::from(&listener).listen(0).unwrap();
            let listener = UnixListener::from_std(listener).unwrap();
            let mut queued = Vec::new();
            let full = loop {
                match gmp::time::timeout(Duration::from_millis(100), UnixStream::connect(&path.0)).await {
                    Ok(stream) => queued.push(stream.unwrap()),
                    Err(_elapsed) => break true,
                }
                if queued.len() >= 64 {
                    break false;
                }
            };
            if !full {
                // A kernel that does not bound a Unix listener's queue this way: nothing to test.
                return;
            }
            let waiting = gmp::spawn({
                let path = path.0.clone();
                async move { UnixStream::connect(&path).await }
            });
            gmp::time::sleep(Duration::from_millis(50)).await;
            assert!(!waiting.is_finished(), "a connect went through while the queue was full");
            // Accepting makes room: the waiting connect's next try gets in.
            let mut accepted = vec![listener.accept().await.unwrap().0];
            let mut client = waiting.await.unwrap().unwrap();
            while accepted.len() <= queued.len() {
                accepted.push(listener.accept().await.unwrap().0);
            }
            client.write_all(b"in").await.unwrap();
            let mut buf = [0u8; 2];
            let last = accepted.last_mut().unwrap();
            last.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"in");
        })
    });
}
