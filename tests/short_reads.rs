//! A read from a stream socket that returns fewer bytes than asked clears read readiness (the
//! receive queue was drained), so the next read parks without a syscall. What must still hold:
//! an end of stream that arrived with the data in the same edge is seen, and data that comes
//! later wakes the reader.

mod common;

use std::io::Write;
use std::time::Duration;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use gmp::net::{TcpListener, TcpStream, UnixStream};
use gmp::time::{sleep, timeout};

const LIMIT: Duration = Duration::from_secs(5);

#[test]
fn data_and_end_of_stream_in_one_edge_are_both_seen_on_tcp() {
    common::runtime(2).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        for round in 0..50 {
            // The peer is a blocking std socket: the data and the FIN are both queued before
            // the gmp side reads at all, so one edge announces both.
            let mut peer = std::net::TcpStream::connect(addr).unwrap();
            let (mut stream, _) = listener.accept().await.unwrap();
            peer.write_all(b"last words").unwrap();
            peer.shutdown(std::net::Shutdown::Write).unwrap();
            sleep(Duration::from_millis(2)).await;
            let mut buf = [0u8; 1024];
            let n = timeout(LIMIT, stream.read(&mut buf)).await.unwrap().unwrap();
            assert_eq!(&buf[..n], b"last words", "round {round}");
            let end = timeout(LIMIT, stream.read(&mut buf)).await;
            assert_eq!(end.expect("end of stream seen, not a reader parked forever").unwrap(), 0, "round {round}");
        }
    });
}

#[test]
fn data_and_end_of_stream_in_one_edge_are_both_seen_on_unix_streams() {
    common::runtime(2).block_on(async {
        for round in 0..50 {
            let (mut peer, stream) = std::os::unix::net::UnixStream::pair().unwrap();
            let mut stream_gmp = UnixStream::try_from(stream).unwrap();
            peer.write_all(b"bye").unwrap();
            drop(peer);
            let mut buf = [0u8; 64];
            let n = timeout(LIMIT, stream_gmp.read(&mut buf)).await.unwrap().unwrap();
            assert_eq!(&buf[..n], b"bye", "round {round}");
            let end = timeout(LIMIT, stream_gmp.read(&mut buf)).await;
            assert_eq!(end.expect("end of stream seen").unwrap(), 0, "round {round}");
        }
    });
}

#[test]
fn data_after_a_short_read_wakes_the_reader() {
    common::runtime(2).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let writer = gmp::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            for i in 0..200u32 {
                stream.write_all(&i.to_le_bytes()).await.unwrap();
                if i % 20 == 0 {
                    sleep(Duration::from_millis(1)).await;
                }
            }
        });
        let (mut stream, _) = listener.accept().await.unwrap();
        // Reads with room for far more than arrives at once: nearly every read is short.
        let mut received = Vec::new();
        let mut buf = [0u8; 4096];
        while received.len() < 800 {
            let n = timeout(LIMIT, stream.read(&mut buf)).await.expect("later data wakes the reader").unwrap();
            assert!(n > 0, "end of stream before all the data");
            received.extend_from_slice(&buf[..n]);
        }
        let expected: Vec<u8> = (0..200u32).flat_map(|i| i.to_le_bytes()).collect();
        assert_eq!(received, expected);
        writer.await.unwrap();
        assert_eq!(timeout(LIMIT, stream.read(&mut buf)).await.unwrap().unwrap(), 0);
    });
}

#[test]
fn a_request_response_exchange_never_stalls() {
    // The pattern the optimisation is for: short request, short reply, both sides reading
    // with large buffers, thousands of times over a few connections.
    common::runtime(2).block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        gmp::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                gmp::spawn(async move {
                    let mut buf = [0u8; 8192];
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
        let clients: Vec<_> = (0..8)
            .map(|c| {
                gmp::spawn(async move {
                    let mut stream = TcpStream::connect(addr).await.unwrap();
                    let mut buf = [0u8; 8192];
                    for i in 0..2000u32 {
                        let message = (c * 1_000_000 + i).to_le_bytes();
                        stream.write_all(&message).await.unwrap();
                        let mut got = 0;
                        while got < 4 {
                            got += stream.read(&mut buf[got..]).await.unwrap();
                        }
                        assert_eq!(buf[..4], message);
                    }
                })
            })
            .collect();
        for client in clients {
            timeout(Duration::from_secs(60), client).await.expect("no exchange stalled").unwrap();
        }
    });
}
