//! `TcpListener` and `TcpStream`.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd};
use std::task::{ready, Context, Poll};

use super::{first_that_works, poll_accept, resolve, run_blocking, sys, AcceptBackoff, ToSocketAddrs};
use crate::io::Async;
use crate::netpoll::Direction;

/// A TCP socket listening for connections.
///
/// # Examples
///
/// ```
/// use gmp::net::{TcpListener, TcpStream};
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let addr = listener.local_addr().unwrap();
///     let client = gmp::spawn(async move { TcpStream::connect(addr).await.unwrap() });
///     let (server_side, peer) = listener.accept().await.unwrap();
///     let client = client.await.unwrap();
///     assert_eq!(peer, client.local_addr().unwrap());
///     assert_eq!(server_side.peer_addr().unwrap(), client.local_addr().unwrap());
/// });
/// ```
pub struct TcpListener {
    io: Async<std::net::TcpListener>,
    backoff: AcceptBackoff,
}

impl TcpListener {
    /// Binds a listener to `addr` (resolving a host name off the Ps), trying each resolved
    /// address in turn.
    ///
    /// # Errors
    ///
    /// The error of the last address tried (`AddrInUse`, `AddrNotAvailable`...), or
    /// `InvalidInput` if `addr` resolves to nothing.
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let addresses = resolve(addr, "gmp::net::TcpListener::bind").await?;
        let listener =
            first_that_works(addresses, |address| async move { std::net::TcpListener::bind(address) }).await?;
        sys::set_backlog(listener.as_fd(), sys::LISTEN_BACKLOG)?;
        Self::from_std_named(listener, "gmp::net::TcpListener::bind")
    }

    /// Wraps a std listener (made non-blocking here) and registers it with the current runtime.
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        Self::from_std_named(listener, "gmp::net::TcpListener::from_std")
    }

    fn from_std_named(listener: std::net::TcpListener, call: &str) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Ok(TcpListener { io: Async::new_nonblocking(listener, call)?, backoff: AcceptBackoff::default() })
    }

    /// Deregisters the listener and returns the std one (still in non-blocking mode).
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        Ok(self.io.into_inner())
    }

    /// Waits for a connection and returns it with the peer's address.
    ///
    /// # Errors
    ///
    /// As `accept(2)`. If the process is out of file descriptors (`EMFILE`, `ENFILE`) the
    /// error is returned and the listener's next `accept` waits for a short back-off (1 ms,
    /// doubling up to 100 ms) or a new connection before trying again, so a loop that retries
    /// at once does not spin; once descriptors are free it accepts as before.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a connection (see [`accept`](Self::accept)).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let (stream, address) = ready!(poll_accept(&self.io, &self.backoff, cx, |listener| listener.accept()))?;
        Poll::Ready(TcpStream::from_std_named(stream, "gmp::net::TcpListener::accept").map(|s| (s, address)))
    }

    /// The address this listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// Reads `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }
}

socket_conversions!(TcpListener, std::net::TcpListener);

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener").field("fd", &self.as_raw_fd()).field("addr", &self.local_addr().ok()).finish()
    }
}

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
        const CALL: &str = "gmp::net::TcpStream::connect";
        if !sys::SUPPORTED {
            let stream = run_blocking(CALL, move || std::net::TcpStream::connect(address)).await??;
            return Self::from_std_named(stream, CALL);
        }
        let connecting = sys::connect_tcp(address)?;
        let stream = TcpStream { io: Async::new_nonblocking(std::net::TcpStream::from(connecting.fd), CALL)? };
        if connecting.in_progress {
            poll_fn(|cx| stream.poll_connected(cx)).await?;
        }
        Ok(stream)
    }

    /// Waits for a non-blocking connect to finish (Go's `netFD.connect`).
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

    /// Wraps a connected std stream (made non-blocking here) and registers it with the current
    /// runtime.
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        Self::from_std_named(stream, "gmp::net::TcpStream::from_std")
    }

    fn from_std_named(stream: std::net::TcpStream, call: &str) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
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

    /// Waits until the stream may be read without blocking.
    pub async fn readable(&self) -> io::Result<()> {
        self.io.readable().await
    }

    /// Waits until the stream may be written without blocking.
    pub async fn writable(&self) -> io::Result<()> {
        self.io.writable().await
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
