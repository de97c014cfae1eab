//! Split streams and non-waiting I/O: owned halves moved into two goroutines echo a megabyte
//! both ways, borrowed halves serve an echo, halves reunite (and refuse halves of another
//! stream), dropping an owned write half shuts the write side, and `try_read`/`try_write`
//! return `WouldBlock` instead of waiting, for TCP and Unix streams alike.

use std::io::{ErrorKind, IoSlice, IoSliceMut};
use std::time::Duration;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use gmp::net::{TcpListener, TcpStream, UnixStream};

mod common;
use common::{runtime, within};

const MIB: usize = 1 << 20;

/// A connected loopback pair: (client, server).
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

/// 1 MiB of bytes that are not all alike, so a reordered or lost chunk shows.
fn pattern(seed: u8) -> Vec<u8> {
    (0..MIB).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 12) as u8).collect()
}

/// The server echoes through its borrowed halves (`split`, one goroutine); the client moves
/// its owned halves into two goroutines that write and read 1 MiB at the same time. (Writing
/// all before reading would deadlock once both directions' buffers fill: the halves must
/// really run at once.)
macro_rules! echo_a_mebibyte_both_ways {
    ($client:expr, $server:expr) => {{
        let (client, server) = ($client, $server);
        let echo = gmp::spawn(async move {
            let (mut reader, mut writer) = server.split();
            let copied = futures::io::copy(&mut reader, &mut writer).await.unwrap();
            writer.close().await.unwrap();
            copied
        });
        let (mut reader, mut writer) = client.into_split();
        let data = pattern(7);
        let expected = data.clone();
        let sender = gmp::spawn(async move {
            for chunk in data.chunks(64 * 1024) {
                writer.write_all(chunk).await.unwrap();
            }
            writer
        });
        let receiver = gmp::spawn(async move {
            let mut received = vec![0u8; MIB];
            reader.read_exact(&mut received).await.unwrap();
            (reader, received)
        });
        let writer = sender.await.unwrap();
        let (mut reader, received) = receiver.await.unwrap();
        assert!(received == expected, "the echo differs from what was sent");
        // Dropping the owned write half shuts down the client's write side: the server's
        // copy ends, and it closes its side.
        drop(writer);
        assert_eq!(echo.await.unwrap(), MIB as u64);
        let mut rest = Vec::new();
        assert_eq!(reader.read_to_end(&mut rest).await.unwrap(), 0);
    }};
}

#[test]
fn tcp_halves_in_two_goroutines_echo_a_mebibyte_both_ways() {
    let rt = runtime(2);
    within(Duration::from_secs(60), "a 1 MiB echo through TCP halves", || {
        rt.block_on(async {
            let (client, server) = tcp_pair().await;
            echo_a_mebibyte_both_ways!(client, server);
        })
    });
}

#[test]
fn unix_halves_in_two_goroutines_echo_a_mebibyte_both_ways() {
    let rt = runtime(2);
    within(Duration::from_secs(60), "a 1 MiB echo through Unix halves", || {
        rt.block_on(async {
            let (client, server) = UnixStream::pair().unwrap();
            echo_a_mebibyte_both_ways!(client, server);
        })
    });
}

#[test]
fn owned_halves_reunite_into_their_stream_and_refuse_another_streams_half() {
    let rt = runtime(1);
    rt.block_on(async {
        let (client, server) = tcp_pair().await;
        let client_addr = client.local_addr().unwrap();
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        assert_eq!(client_read.local_addr().unwrap(), client_addr);
        assert_eq!(server_write.peer_addr().unwrap(), client_addr);

        let error = client_read.reunite(server_write).unwrap_err();
        assert_eq!(error.to_string(), "tried to reunite halves that are not from the same stream");
        let gmp::net::tcp::ReuniteError(client_read, server_write) = error;

        let mut client = client_read.reunite(client_write).unwrap();
        let mut server = server_write.reunite(server_read).unwrap();
        assert_eq!(client.local_addr().unwrap(), client_addr);
        // Reuniting does not shut anything down: the stream still works both ways.
        client.write_all(b"still open").await.unwrap();
        let mut buf = [0u8; 10];
        server.read_exact(&mut buf).await.unwrap();
        server.write_all(&buf).await.unwrap();
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"still open");
    });
}

#[test]
fn a_forgotten_write_half_leaves_the_write_side_open() {
    let rt = runtime(1);
    rt.block_on(async {
        let (a, mut b) = UnixStream::pair().unwrap();
        let (reader, writer) = a.into_split();
        writer.forget();
        // Had the drop shut down the write side, this would fail with a broken pipe.
        assert_eq!(reader.as_ref().try_write(b"x").unwrap(), 1);
        let mut buf = [0u8; 1];
        b.read_exact(&mut buf).await.unwrap();
        drop(reader);
        // Both halves gone: the stream is closed.
        assert_eq!(b.read(&mut buf).await.unwrap(), 0);
    });
}

#[test]
fn try_read_on_an_empty_socket_is_would_block_and_readable_then_waits_for_data() {
    let rt = runtime(2);
    within(Duration::from_secs(30), "try_read and readable", || {
        rt.block_on(async {
            let (client, server) = tcp_pair().await;
            let mut buf = [0u8; 64];
            for _ in 0..3 {
                assert_eq!(client.try_read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
                let mut bufs = [IoSliceMut::new(&mut buf)];
                assert_eq!(client.try_read_vectored(&mut bufs).unwrap_err().kind(), ErrorKind::WouldBlock);
            }
            // After the WouldBlock, `readable` parks until the peer writes.
            let reader = gmp::spawn(async move {
                let mut buf = [0u8; 64];
                loop {
                    client.readable().await.unwrap();
                    match client.try_read(&mut buf) {
                        Ok(n) => return buf[..n].to_vec(),
                        Err(error) if error.kind() == ErrorKind::WouldBlock => continue,
                        Err(error) => panic!("try_read: {error}"),
                    }
                }
            });
            gmp::time::sleep(Duration::from_millis(20)).await;
            assert!(!reader.is_finished(), "readable returned with nothing to read");
            server.writable().await.unwrap();
            assert_eq!(server.try_write_vectored(&[IoSlice::new(b"ab"), IoSlice::new(b"c")]).unwrap(), 3);
            assert_eq!(reader.await.unwrap(), b"abc");
        })
    });
}

#[test]
fn try_write_fills_the_socket_buffer_then_is_would_block_until_the_peer_reads() {
    let rt = runtime(2);
    within(Duration::from_secs(30), "try_write against a full buffer", || {
        rt.block_on(async {
            let (a, mut b) = UnixStream::pair().unwrap();
            let chunk = [5u8; 16 * 1024];
            let mut written = 0;
            let error = loop {
                match a.try_write(&chunk) {
                    Ok(n) => written += n,
                    Err(error) => break error,
                }
                assert!(written < 64 * MIB, "a socket buffer took 64 MiB without blocking");
            };
            assert_eq!(error.kind(), ErrorKind::WouldBlock);
            assert!(written > 0);
            let (mut read_half, write_half) = a.into_split();
            // Drain on the peer; the write half's `writable` wakes once there is room.
            let drain = gmp::spawn(async move {
                let mut buf = vec![0u8; written];
                b.read_exact(&mut buf).await.unwrap();
                assert!(buf.iter().all(|&byte| byte == 5));
                b.write_all(b"done").await.unwrap();
                b
            });
            write_half.writable().await.unwrap();
            let _b = drain.await.unwrap();
            let mut reply = [0u8; 4];
            read_half.read_exact(&mut reply).await.unwrap();
            assert_eq!(&reply, b"done");
            assert!(write_half.try_write(b"more").unwrap() > 0);
        })
    });
}

#[test]
fn unix_stream_try_read_is_would_block_and_addresses_are_std_socket_addrs() {
    let rt = runtime(1);
    rt.block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(a.try_read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
        let address: gmp::net::unix::SocketAddr = a.local_addr().unwrap();
        assert!(address.is_unnamed());
        assert_eq!(address.as_pathname(), None);
        b.try_write(b"hey").unwrap();
        a.readable().await.unwrap();
        assert_eq!(a.try_read(&mut buf).unwrap(), 3);

        let path = std::env::temp_dir().join(format!("gmp-split-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = gmp::net::UnixListener::bind(&path).unwrap();
        let client = UnixStream::connect(&path).await.unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        assert!(peer.is_unnamed());
        assert_eq!(client.peer_addr().unwrap().as_pathname(), Some(path.as_path()));
        assert_eq!(server.local_addr().unwrap().as_pathname(), Some(path.as_path()));
        let (read_half, write_half) = client.into_split();
        assert_eq!(read_half.peer_addr().unwrap().as_pathname(), Some(path.as_path()));
        assert!(write_half.local_addr().unwrap().is_unnamed());
        std::fs::remove_file(&path).unwrap();
    });
}
