//! `UnixListener`, `UnixStream` and `UnixDatagram`.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::{self as std_unix, SocketAddr};
use std::path::Path;
use std::task::{ready, Context, Poll};

use super::{poll_accept, run_blocking, sys, AcceptBackoff};
use crate::io::Async;
use crate::netpoll::Direction;

/// A Unix-domain socket listening for connections.
///
/// # Examples
///
/// ```
/// use futures::io::{AsyncReadExt, AsyncWriteExt};
/// use gmp::net::{UnixListener, UnixStream};
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let path = std::env::temp_dir().join(format!("gmp-doc-{}.sock", std::process::id()));
///     let _ = std::fs::remove_file(&path);
///     let listener = UnixListener::bind(&path).unwrap();
///     let client = gmp::spawn({
///         let path = path.clone();
///         async move {
///             let mut stream = UnixStream::connect(&path).await.unwrap();
///             stream.write_all(b"hi").await.unwrap();
///         }
///     });
///     let (mut stream, _) = listener.accept().await.unwrap();
///     let mut buf = [0u8; 2];
///     stream.read_exact(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"hi");
///     client.await.unwrap();
///     std::fs::remove_file(&path).unwrap();
/// });
/// ```
pub struct UnixListener {
    io: Async<std_unix::UnixListener>,
    backoff: AcceptBackoff,
}

impl UnixListener {
    /// Binds a listener to the filesystem path `path` (which must not exist yet).
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        let listener = std_unix::UnixListener::bind(path)?;
        sys::set_backlog(listener.as_fd(), sys::LISTEN_BACKLOG)?;
        Self::from_std_named(listener, "gmp::net::UnixListener::bind")
    }

    /// Wraps a std listener (made non-blocking here) and registers it with the current runtime.
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    pub fn from_std(listener: std_unix::UnixListener) -> io::Result<UnixListener> {
        Self::from_std_named(listener, "gmp::net::UnixListener::from_std")
    }

    fn from_std_named(listener: std_unix::UnixListener, call: &str) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        Ok(UnixListener { io: Async::new_nonblocking(listener, call)?, backoff: AcceptBackoff::default() })
    }

    /// Deregisters the listener and returns the std one (still in non-blocking mode).
    pub fn into_std(self) -> io::Result<std_unix::UnixListener> {
        Ok(self.io.into_inner())
    }

    /// Waits for a connection. Out of file descriptors, it behaves as
    /// [`TcpListener::accept`](super::TcpListener::accept).
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a connection.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        let (stream, address) = ready!(poll_accept(&self.io, &self.backoff, cx, |listener| listener.accept()))?;
        Poll::Ready(UnixStream::from_std_named(stream, "gmp::net::UnixListener::accept").map(|s| (s, address)))
    }

    /// The address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

socket_conversions!(UnixListener, std_unix::UnixListener);

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener").field("fd", &self.as_raw_fd()).field("addr", &self.local_addr().ok()).finish()
    }
}

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
    /// Connects to the socket at `path`. If the listener's accept queue is full, the goroutine
    /// waits (on a helper thread's blocking connect) until the listener accepts.
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    pub async fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        const CALL: &str = "gmp::net::UnixStream::connect";
        let path = path.as_ref().to_owned();
        if sys::SUPPORTED {
            match sys::connect_unix(&path) {
                Ok(connecting) => {
                    let stream =
                        UnixStream { io: Async::new_nonblocking(std_unix::UnixStream::from(connecting.fd), CALL)? };
                    if connecting.in_progress {
                        poll_fn(|cx| stream.poll_connected(cx)).await?;
                    }
                    return Ok(stream);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Err(error),
            }
        }
        let stream = run_blocking(CALL, move || std_unix::UnixStream::connect(path)).await??;
        Self::from_std_named(stream, CALL)
    }

    fn poll_connected(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let registration = self.io.registration();
        loop {
            let event = ready!(registration.poll_ready(cx, Direction::Write))?;
            let stream = self.io.get_ref();
            if let Some(error) = stream.take_error()? {
                return Poll::Ready(Err(error));
            }
            match stream.peer_addr() {
                Ok(_) => return Poll::Ready(Ok(())),
                Err(error) if error.kind() == io::ErrorKind::NotConnected => registration.clear_readiness(event),
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }

    /// A connected pair of streams.
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std_unix::UnixStream::pair()?;
        Ok((
            Self::from_std_named(a, "gmp::net::UnixStream::pair")?,
            Self::from_std_named(b, "gmp::net::UnixStream::pair")?,
        ))
    }

    /// Wraps a connected std stream (made non-blocking here) and registers it with the current
    /// runtime.
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    pub fn from_std(stream: std_unix::UnixStream) -> io::Result<UnixStream> {
        Self::from_std_named(stream, "gmp::net::UnixStream::from_std")
    }

    fn from_std_named(stream: std_unix::UnixStream, call: &str) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
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

    /// Waits until the stream may be read without blocking.
    pub async fn readable(&self) -> io::Result<()> {
        self.io.readable().await
    }

    /// Waits until the stream may be written without blocking.
    pub async fn writable(&self) -> io::Result<()> {
        self.io.writable().await
    }
}

socket_conversions!(UnixStream, std_unix::UnixStream);

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream").field("fd", &self.as_raw_fd()).finish()
    }
}

stream_io!(UnixStream, std_unix::UnixStream);

/// A Unix-domain datagram socket.
///
/// # Examples
///
/// ```
/// gmp::Runtime::new().unwrap().block_on(async {
///     let (a, b) = gmp::net::UnixDatagram::pair().unwrap();
///     a.send(b"one").await.unwrap();
///     let mut buf = [0u8; 8];
///     let n = b.recv(&mut buf).await.unwrap();
///     assert_eq!(&buf[..n], b"one");
/// });
/// ```
pub struct UnixDatagram {
    io: Async<std_unix::UnixDatagram>,
}

impl UnixDatagram {
    /// A socket bound to the filesystem path `path` (which must not exist yet).
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        Self::from_std_named(std_unix::UnixDatagram::bind(path)?, "gmp::net::UnixDatagram::bind")
    }

    /// A socket bound to no address (it can send, and receive once connected).
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    pub fn unbound() -> io::Result<UnixDatagram> {
        Self::from_std_named(std_unix::UnixDatagram::unbound()?, "gmp::net::UnixDatagram::unbound")
    }

    /// A connected pair of sockets.
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = std_unix::UnixDatagram::pair()?;
        Ok((
            Self::from_std_named(a, "gmp::net::UnixDatagram::pair")?,
            Self::from_std_named(b, "gmp::net::UnixDatagram::pair")?,
        ))
    }

    /// Wraps a std socket (made non-blocking here) and registers it with the current runtime.
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    pub fn from_std(socket: std_unix::UnixDatagram) -> io::Result<UnixDatagram> {
        Self::from_std_named(socket, "gmp::net::UnixDatagram::from_std")
    }

    fn from_std_named(socket: std_unix::UnixDatagram, call: &str) -> io::Result<UnixDatagram> {
        socket.set_nonblocking(true)?;
        Ok(UnixDatagram { io: Async::new_nonblocking(socket, call)? })
    }

    /// Deregisters the socket and returns the std one (still in non-blocking mode).
    pub fn into_std(self) -> io::Result<std_unix::UnixDatagram> {
        Ok(self.io.into_inner())
    }

    /// Connects the socket to the one at `path` (the default for `send`, the only sender
    /// `recv` accepts). Does not wait.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.io.get_ref().connect(path)
    }

    /// Sends `buf` to the connected socket.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_send(cx, buf)).await
    }

    /// Polls to send `buf` to the connected socket.
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.poll_write_ref(cx, |socket| socket.send(buf))
    }

    /// Receives one datagram from the connected socket.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_recv(cx, buf)).await
    }

    /// Polls to receive one datagram from the connected socket.
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_read_ref(cx, |socket| socket.recv(buf))
    }

    /// Sends `buf` to the socket at `path`.
    pub async fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let path = path.as_ref();
        poll_fn(|cx| self.io.poll_write_ref(cx, |socket| socket.send_to(buf, path))).await
    }

    /// Receives one datagram; returns its length and the sender's address.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.poll_recv_from(cx, buf)).await
    }

    /// Polls to receive one datagram.
    pub fn poll_recv_from(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io.poll_read_ref(cx, |socket| socket.recv_from(buf))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The connected peer's address.
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
}

socket_conversions!(UnixDatagram, std_unix::UnixDatagram);

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixDatagram").field("fd", &self.as_raw_fd()).finish()
    }
}
