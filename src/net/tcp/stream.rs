//! `TcpStream`.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, TcpSocket, WriteHalf};
use crate::io::Async;
use crate::net::{first_that_works, poll_connected, resolve, ToSocketAddrs};

/// A TCP connection.
///
/// Reads and writes go through [`AsyncRead`](futures::io::AsyncRead)/[`AsyncWrite`](futures::io::AsyncWrite) (use `futures::io::AsyncReadExt`
/// and `AsyncWriteExt`), on the stream or on `&TcpStream`, so one goroutine can read while
/// another writes. A read of 0 bytes means the peer closed its side; closing (`poll_close`)
/// shuts down the write side.
///
/// # Examples
///
/// ```
/// use futures::io::{AsyncReadExt, AsyncWriteExt};
/// use gmp::net::{TcpListener, TcpStream};
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let addr = listener.local_addr().unwrap();
///     gmp::spawn(async move {
///         let (mut stream, _) = listener.accept().await.unwrap();
///         stream.write_all(b"bye").await.unwrap();
///     });
///     let mut stream = TcpStream::connect(addr).await.unwrap();
///     let mut text = String::new();
///     stream.read_to_string(&mut text).await.unwrap();
///     assert_eq!(text, "bye");
/// });
/// ```
pub struct TcpStream {
    io: Async<std::net::TcpStream>,
}

impl TcpStream {
    /// Connects to `addr`, trying each resolved address in turn (host names are resolved off
    /// the Ps). The goroutine waits for the handshake in the netpoller.
    ///
    /// # Errors
    ///
    /// The error of the last address tried: `ConnectionRefused` if nothing listens there,
    /// `TimedOut`, `HostUnreachable`...; `InvalidInput` if `addr` resolves to nothing.
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     // Bind and drop a listener to find a port where nothing listens.
    ///     let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    ///     let error = gmp::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap_err();
    ///     assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
    /// });
    /// ```
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let addresses = resolve(addr, "gmp::net::TcpStream::connect").await?;
        first_that_works(addresses, Self::connect_to).await
    }

    async fn connect_to(address: SocketAddr) -> io::Result<TcpStream> {
        TcpSocket::for_address(&address)?.connect_named(address, "gmp::net::TcpStream::connect").await
    }

    /// Registers `socket`, whose non-blocking connect has started, and waits for the handshake
    /// if it is still running (`in_progress`). `call` names the public function for the
    /// outside-a-runtime panic.
    pub(crate) async fn finish_connect(
        socket: std::net::TcpStream,
        in_progress: bool,
        call: &str,
    ) -> io::Result<TcpStream> {
        let stream = TcpStream { io: Async::new_nonblocking(socket, call)? };
        if in_progress {
            poll_fn(|cx| poll_connected(&stream.io, cx)).await?;
        }
        Ok(stream)
    }

    /// Wraps a connected std stream (made non-blocking here) and registers it with the current
    /// runtime.
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        Self::from_nonblocking(stream, "gmp::net::TcpStream::from_std")
    }

    /// Registers a stream that is already non-blocking.
    pub(crate) fn from_nonblocking(stream: std::net::TcpStream, call: &str) -> io::Result<TcpStream> {
        Ok(TcpStream { io: Async::new_nonblocking(stream, call)? })
    }

    /// Deregisters the stream and returns the std one (still in non-blocking mode).
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        Ok(self.io.into_inner())
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm when true).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    /// Reads `TCP_NODELAY`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// Reads `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }

    /// Shuts down the read side, the write side, or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Reads into `buf` without removing the data from the socket's queue.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.io.poll_read_ref(cx, |stream| stream.peek(buf))).await
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }

    /// Waits until the stream may be read without blocking: data, end of stream or an error
    /// is there. It may wake with nothing to read (another goroutine read it first); the
    /// [`try_read`](Self::try_read) that then returns `WouldBlock` makes the next call wait.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// use futures::io::AsyncWriteExt;
    /// use gmp::net::{TcpListener, TcpStream};
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    ///     let (mut server, _) = listener.accept().await.unwrap();
    ///     server.write_all(b"hello").await.unwrap();
    ///     let mut buf = [0u8; 16];
    ///     let n = loop {
    ///         client.readable().await.unwrap();
    ///         match client.try_read(&mut buf) {
    ///             Ok(n) => break n,
    ///             Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
    ///             Err(e) => panic!("{e}"),
    ///         }
    ///     };
    ///     assert_eq!(&buf[..n], b"hello");
    /// });
    /// ```
    pub async fn readable(&self) -> io::Result<()> {
        self.io.readable().await
    }

    /// Waits until the stream may be written without blocking (see
    /// [`readable`](Self::readable) for spurious wake-ups).
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::net::{TcpListener, TcpStream};
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    ///     client.writable().await.unwrap();
    ///     assert_eq!(client.try_write(b"hi").unwrap(), 2);
    /// });
    /// ```
    pub async fn writable(&self) -> io::Result<()> {
        self.io.writable().await
    }

    /// Polls for read readiness (see [`readable`](Self::readable)).
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_readable(cx)
    }

    /// Polls for write readiness (see [`writable`](Self::writable)).
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_writable(cx)
    }

    /// Reads what is there without waiting: `Ok(0)` at end of stream, `WouldBlock` if
    /// nothing is (and then the next [`readable`](Self::readable) waits for more).
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::net::{TcpListener, TcpStream};
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    ///     let mut buf = [0u8; 16];
    ///     let error = client.try_read(&mut buf).unwrap_err();
    ///     assert_eq!(error.kind(), std::io::ErrorKind::WouldBlock);
    /// });
    /// ```
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.try_read_priv(buf)
    }

    /// [`try_read`](Self::try_read) into several buffers (one `readv`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::IoSliceMut;
    /// use futures::io::AsyncWriteExt;
    /// use gmp::net::{TcpListener, TcpStream};
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    ///     let (mut server, _) = listener.accept().await.unwrap();
    ///     server.write_all(b"abcd").await.unwrap();
    ///     let (mut head, mut tail) = ([0u8; 2], [0u8; 2]);
    ///     let mut read = 0;
    ///     while read < 4 {
    ///         client.readable().await.unwrap();
    ///         let mut bufs = [IoSliceMut::new(&mut head[read.min(2)..]), IoSliceMut::new(&mut tail[read.saturating_sub(2)..])];
    ///         match client.try_read_vectored(&mut bufs) {
    ///             Ok(n) => read += n,
    ///             Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
    ///             Err(e) => panic!("{e}"),
    ///         }
    ///     }
    ///     assert_eq!((&head, &tail), (b"ab", b"cd"));
    /// });
    /// ```
    pub fn try_read_vectored(&self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
        self.try_read_vectored_priv(bufs)
    }

    /// Writes what fits in the socket's buffer without waiting; `WouldBlock` if nothing does
    /// (and then the next [`writable`](Self::writable) waits for room).
    ///
    /// # Examples
    ///
    /// See [`writable`](Self::writable).
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.try_write_priv(buf)
    }

    /// [`try_write`](Self::try_write) from several buffers (one `writev`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::IoSlice;
    /// use gmp::net::{TcpListener, TcpStream};
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    ///     let n = client.try_write_vectored(&[IoSlice::new(b"ab"), IoSlice::new(b"cd")]).unwrap();
    ///     assert_eq!(n, 4);
    /// });
    /// ```
    pub fn try_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.try_write_vectored_priv(bufs)
    }

    /// Splits the stream into a read half and a write half that borrow it, for two futures
    /// of one goroutine (`futures::join!`, a `select`). To move the halves into two
    /// goroutines, use [`into_split`](Self::into_split). (The halves are only a convenience:
    /// `AsyncRead` and `AsyncWrite` are also implemented on `&TcpStream`.)
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::io::{AsyncReadExt, AsyncWriteExt};
    /// use gmp::net::{TcpListener, TcpStream};
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let mut client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    ///     let (mut server, _) = listener.accept().await.unwrap();
    ///     gmp::spawn(async move {
    ///         // An echo server: copy the read half into the write half.
    ///         let (mut reader, mut writer) = server.split();
    ///         futures::io::copy(&mut reader, &mut writer).await.unwrap();
    ///     });
    ///     client.write_all(b"echo").await.unwrap();
    ///     let mut buf = [0u8; 4];
    ///     client.read_exact(&mut buf).await.unwrap();
    ///     assert_eq!(&buf, b"echo");
    /// });
    /// ```
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        (ReadHalf::new(self), WriteHalf::new(self))
    }

    /// Splits the stream into a read half and a write half that own it (behind an `Arc`), to
    /// move into two goroutines. Dropping the write half shuts down the write side, as
    /// tokio's does; [`OwnedReadHalf::reunite`] puts the two back together.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::io::{AsyncReadExt, AsyncWriteExt};
    /// use gmp::net::{TcpListener, TcpStream};
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    ///     let (mut server, _) = listener.accept().await.unwrap();
    ///     let (mut reader, mut writer) = client.into_split();
    ///     let sender = gmp::spawn(async move { writer.write_all(b"ping").await.unwrap() });
    ///     let mut buf = [0u8; 4];
    ///     server.read_exact(&mut buf).await.unwrap();
    ///     server.write_all(&buf).await.unwrap();
    ///     reader.read_exact(&mut buf).await.unwrap();
    ///     assert_eq!(&buf, b"ping");
    ///     sender.await.unwrap();
    /// });
    /// ```
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let stream = Arc::new(self);
        (OwnedReadHalf::new(stream.clone()), OwnedWriteHalf::new(stream))
    }
}

socket_conversions!(TcpStream, std::net::TcpStream);

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("fd", &self.as_raw_fd())
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

stream_io!(TcpStream, std::net::TcpStream);
