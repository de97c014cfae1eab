//! The `hyper` and `tokio-io` features on gmp's streams: tokio's I/O traits move bytes both
//! ways on TCP and Unix streams (also through `&TcpStream`), reads fill uninitialised buffers,
//! and hyper serves over a Unix stream.

use std::convert::Infallible;
use std::future::poll_fn;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use gmp::compat::hyper::{GmpExecutor, GmpTimer};
use gmp::net::{TcpListener, TcpStream, UnixStream};
use http_body_util::{BodyExt, Full};
use hyper::rt::{Executor, Timer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

async fn write_all<W: AsyncWrite + Unpin>(writer: &mut W, mut data: &[u8]) {
    while !data.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *writer).poll_write(cx, data)).await.unwrap();
        data = &data[n..];
    }
    poll_fn(|cx| Pin::new(&mut *writer).poll_shutdown(cx)).await.unwrap();
}

/// Reads to end of stream through tokio's `AsyncRead` into an uninitialised buffer.
async fn read_to_end<R: AsyncRead + Unpin>(reader: &mut R) -> Vec<u8> {
    let mut out = Vec::new();
    let mut storage = [MaybeUninit::<u8>::uninit(); 4096];
    loop {
        let mut buf = ReadBuf::uninit(&mut storage);
        poll_fn(|cx| Pin::new(&mut *reader).poll_read(cx, &mut buf)).await.unwrap();
        if buf.filled().is_empty() {
            return out;
        }
        out.extend_from_slice(buf.filled());
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn tokio_io_moves_a_megabyte_each_way_over_tcp() {
    gmp::Runtime::new().unwrap().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = gmp::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            // Through shared references: read and write halves from one stream.
            let received = read_to_end(&mut &stream).await;
            write_all(&mut &stream, &received).await;
            received.len()
        });
        let mut client = TcpStream::connect(addr).await.unwrap();
        let data = pattern(1 << 20);
        write_all(&mut client, &data).await;
        let echoed = read_to_end(&mut client).await;
        assert_eq!(server.await.unwrap(), data.len());
        assert!(echoed == data, "the echo differs from what was sent");
    });
}

#[test]
fn tokio_io_works_on_split_halves_owned_and_borrowed() {
    gmp::Runtime::new().unwrap().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = gmp::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            // Borrowed halves: read everything, then echo it and shut the write side down.
            let (mut reader, mut writer) = stream.split();
            let received = read_to_end(&mut reader).await;
            write_all(&mut writer, &received).await;
            received.len()
        });
        // Owned halves, used from two goroutines at once.
        let (mut reader, mut writer) = TcpStream::connect(addr).await.unwrap().into_split();
        let data = pattern(1 << 20);
        let sent = data.clone();
        let writing = gmp::spawn(async move { write_all(&mut writer, &sent).await });
        let echoed = read_to_end(&mut reader).await;
        writing.await.unwrap();
        assert_eq!(server.await.unwrap(), data.len());
        assert!(echoed == data, "the echo through the halves differs from what was sent");

        let (a, b) = UnixStream::pair().unwrap();
        let (_a_reader, mut a_writer) = a.into_split();
        let (mut b_reader, _b_writer) = b.into_split();
        let small = pattern(10_000);
        write_all(&mut a_writer, &small).await;
        assert!(read_to_end(&mut b_reader).await == small, "the Unix halves lost bytes");
    });
}

#[test]
fn tokio_io_works_on_unix_streams() {
    gmp::Runtime::new().unwrap().block_on(async {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let data = pattern(100_000);
        let expected = data.clone();
        let writer = gmp::spawn(async move { write_all(&mut a, &data).await });
        let received = read_to_end(&mut b).await;
        writer.await.unwrap();
        assert!(received == expected);
    });
}

#[test]
fn hyper_serves_http1_over_a_unix_stream() {
    gmp::Runtime::new().unwrap().block_on(async {
        let (server_side, client_side) = UnixStream::pair().unwrap();
        gmp::spawn(async move {
            let service = hyper::service::service_fn(|request: hyper::Request<hyper::body::Incoming>| async move {
                let body = request.into_body().collect().await.unwrap().to_bytes();
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(format!("got {} bytes", body.len())))))
            });
            hyper::server::conn::http1::Builder::new()
                .timer(GmpTimer)
                .header_read_timeout(Duration::from_secs(5))
                .serve_connection(server_side, service)
                .await
                .unwrap();
        });
        let (mut sender, connection) = hyper::client::conn::http1::handshake(client_side).await.unwrap();
        gmp::spawn(connection);
        for size in [0usize, 1, 70_000] {
            let request = hyper::Request::post("/")
                .header("host", "localhost")
                .body(Full::new(Bytes::from(pattern(size))))
                .unwrap();
            // hyper accepts a request only once its connection task has asked for the next one;
            // without this wait the second request races that task and is refused as "not ready".
            sender.ready().await.unwrap();
            let response = sender.send_request(request).await.unwrap();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body, format!("got {size} bytes"));
        }
    });
}

#[test]
fn the_executor_spawns_goroutines_and_the_timer_sleeps_and_resets() {
    gmp::Runtime::new().unwrap().block_on(async {
        let (sender, receiver) = futures::channel::oneshot::channel();
        GmpExecutor.execute(async move { sender.send(gmp::Handle::try_current().is_ok()).unwrap() });
        assert!(receiver.await.unwrap(), "the executed future ran inside the runtime");

        let start = std::time::Instant::now();
        let mut sleep = GmpTimer.sleep(Duration::from_secs(60));
        GmpTimer.reset(&mut sleep, std::time::Instant::now() + Duration::from_millis(20));
        gmp::time::timeout(Duration::from_secs(10), sleep).await.expect("the reset sleep fires at its new deadline");
        assert!(start.elapsed() >= Duration::from_millis(20));
    });
}
