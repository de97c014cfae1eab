//! `UnixStream`.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::os::unix::net as std_unix;
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, SocketAddr, WriteHalf};
use crate::io::Async;
use crate::net::{poll_connected, sys};

/// The first wait of a connect that found the listener's accept queue full, and the longest.
const FULL_QUEUE_RETRY_MIN: Duration = Duration::from_millis(1);
const FULL_QUEUE_RETRY_MAX: Duration = Duration::from_millis(64);

/// A Unix-domain stream connection, with [`AsyncRead`](futures::io::AsyncRead) and
/// [`AsyncWrite`](futures::io::AsyncWrite) on it and on `&UnixStream`.
///
/// # Examples
///
/// ```
/// use futures::io::{AsyncReadExt, AsyncWriteExt};
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let (mut a, mut b) = gmp::net::UnixStream::pair().unwrap();
///     a.write_all(b"ping").await.unwrap();
///     let mut buf = [0u8; 4];
///     b.read_exact(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"ping");
/// });
/// ```
pub struct UnixStream {
    io: Async<std_unix::UnixStream>,
}

impl UnixStream {
    /// Connects to the socket at `path`. The connect does not block a thread: if the
    /// listener's accept queue is full (`EAGAIN` from a non-blocking connect on Linux), the
    /// goroutine retries after a back-off (1 ms, doubling up to 64 ms) until the listener
    /// makes room; put it under [`gmp::time::timeout`](crate::time::timeout) to bound that.
    ///
    /// # Errors
    ///
    /// `NotFound` if nothing is at `path`, `ConnectionRefused` if nothing listens there;
    /// `InvalidInput` if `path` is too long for a Unix socket address or contains a NUL byte.
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let path = std::env::temp_dir().join(format!("gmp-doc-connect-{}.sock", std::process::id()));
    ///     let _ = std::fs::remove_file(&path);
    ///     let listener = gmp::net::UnixListener::bind(&path).unwrap();
    ///     let stream = gmp::net::UnixStream::connect(&path).await.unwrap();
    ///     assert_eq!(stream.peer_addr().unwrap().as_pathname(), Some(path.as_path()));
    ///     drop(listener);
    ///     std::fs::remove_file(&path).unwrap();
    /// });
    /// ```
    pub async fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        const CALL: &str = "gmp::net::UnixStream::connect";
        let address = sys::unix_address(path.as_ref(), CALL)?;
        let socket = sys::stream_socket(socket2::Domain::UNIX)?;
        let stream = UnixStream::from_nonblocking(std::os::fd::OwnedFd::from(socket).into(), CALL)?;
        let mut retry = FULL_QUEUE_RETRY_MIN;
        let in_progress = loop {
            match sys::start_connect(&socket2::SockRef::from(stream.io.get_ref()), &address) {
                Ok(in_progress) => break in_progress,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    crate::time::sleep(retry).await;
                    retry = (retry * 2).min(FULL_QUEUE_RETRY_MAX);
                }
                Err(error) => return Err(error),
            }
        };
        if in_progress {
            poll_fn(|cx| poll_connected(&stream.io, cx)).await?;
        }
        Ok(stream)
    }

    /// A connected pair of streams.
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std_unix::UnixStream::pair()?;
        a.set_nonblocking(true)?;
        b.set_nonblocking(true)?;
        Ok((
            Self::from_nonblocking(a, "gmp::net::UnixStream::pair")?,
            Self::from_nonblocking(b, "gmp::net::UnixStream::pair")?,
        ))
    }

    /// Wraps a connected std stream (made non-blocking here) and registers it with the current
    /// runtime.
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    pub fn from_std(stream: std_unix::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        Self::from_nonblocking(stream, "gmp::net::UnixStream::from_std")
    }

    /// Registers a stream that is already non-blocking.
    pub(crate) fn from_nonblocking(stream: std_unix::UnixStream, call: &str) -> io::Result<UnixStream> {
        Ok(UnixStream { io: Async::new_nonblocking(stream, call)? })
    }

    /// Deregisters the stream and returns the std one (still in non-blocking mode).
    pub fn into_std(self) -> io::Result<std_unix::UnixStream> {
        Ok(self.io.into_inner())
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Shuts down the read side, the write side, or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
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
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let (a, b) = gmp::net::UnixStream::pair().unwrap();
    ///     a.try_write(b"hello").unwrap();
    ///     let mut buf = [0u8; 16];
    ///     let n = loop {
    ///         b.readable().await.unwrap();
    ///         match b.try_read(&mut buf) {
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
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let (a, _b) = gmp::net::UnixStream::pair().unwrap();
    ///     a.writable().await.unwrap();
    ///     assert_eq!(a.try_write(b"hi").unwrap(), 2);
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
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let (a, _b) = gmp::net::UnixStream::pair().unwrap();
    ///     let mut buf = [0u8; 16];
    ///     assert_eq!(a.try_read(&mut buf).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
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
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let (a, b) = gmp::net::UnixStream::pair().unwrap();
    ///     a.try_write(b"abcd").unwrap();
    ///     b.readable().await.unwrap();
    ///     let (mut head, mut tail) = ([0u8; 2], [0u8; 2]);
    ///     let n = b.try_read_vectored(&mut [IoSliceMut::new(&mut head), IoSliceMut::new(&mut tail)]).unwrap();
    ///     assert_eq!((n, &head, &tail), (4, b"ab", b"cd"));
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
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let (a, _b) = gmp::net::UnixStream::pair().unwrap();
    ///     assert_eq!(a.try_write_vectored(&[IoSlice::new(b"ab"), IoSlice::new(b"cd")]).unwrap(), 4);
    /// });
    /// ```
    pub fn try_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.try_write_vectored_priv(bufs)
    }

    /// Splits the stream into a read half and a write half that borrow it, for two futures
    /// of one goroutine. To move the halves into two goroutines, use
    /// [`into_split`](Self::into_split).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::io::{AsyncReadExt, AsyncWriteExt};
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let (mut a, mut b) = gmp::net::UnixStream::pair().unwrap();
    ///     gmp::spawn(async move {
    ///         let (mut reader, mut writer) = b.split();
    ///         futures::io::copy(&mut reader, &mut writer).await.unwrap();
    ///     });
    ///     a.write_all(b"echo").await.unwrap();
    ///     let mut buf = [0u8; 4];
    ///     a.read_exact(&mut buf).await.unwrap();
    ///     assert_eq!(&buf, b"echo");
    /// });
    /// ```
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        (ReadHalf::new(self), WriteHalf::new(self))
    }

    /// Splits the stream into a read half and a write half that own it (behind an `Arc`), to
    /// move into two goroutines. Dropping the write half shuts down the write side;
    /// [`OwnedReadHalf::reunite`] puts the two back together.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::io::{AsyncReadExt, AsyncWriteExt};
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let (a, mut b) = gmp::net::UnixStream::pair().unwrap();
    ///     let (mut reader, mut writer) = a.into_split();
    ///     gmp::spawn(async move { writer.write_all(b"ping").await.unwrap() });
    ///     let mut buf = [0u8; 4];
    ///     b.read_exact(&mut buf).await.unwrap();
    ///     b.write_all(&buf).await.unwrap();
    ///     reader.read_exact(&mut buf).await.unwrap();
    ///     assert_eq!(&buf, b"ping");
    /// });
    /// ```
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let stream = Arc::new(self);
        (OwnedReadHalf::new(stream.clone()), OwnedWriteHalf::new(stream))
    }
}

socket_conversions!(UnixStream, std_unix::UnixStream);

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream").field("fd", &self.as_raw_fd()).finish()
    }
}

stream_io!(UnixStream, std_unix::UnixStream);
