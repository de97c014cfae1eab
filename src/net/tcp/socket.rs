//! `TcpSocket`: a TCP socket not yet bound, listening or connected, to set options on first.
//!
//! It is a `socket2::Socket` created non-blocking; nothing is registered with a runtime until
//! it becomes a [`TcpListener`] (`listen`) or a [`TcpStream`] (`connect`), so it can be made
//! and configured anywhere.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

use socket2::{Domain, Socket};

use super::{TcpListener, TcpStream};
use crate::net::sys;

/// A TCP socket to configure before it listens or connects: `SO_REUSEADDR`, `SO_REUSEPORT`,
/// buffer sizes, keep-alive and the like, which must be set before `bind` or `connect` (or
/// the kernel sizes the connection's windows without them).
///
/// [`TcpListener::bind`] and [`TcpStream::connect`] are shorthands for the common cases;
/// `TcpSocket` is tokio's type of the same name, over a `socket2::Socket`.
///
/// # Examples
///
/// A listener with `SO_REUSEADDR` and a backlog of 4096, and a client with bigger buffers:
///
/// ```
/// use gmp::net::TcpSocket;
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let socket = TcpSocket::new_v4().unwrap();
///     socket.set_reuseaddr(true).unwrap();
///     socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
///     let listener = socket.listen(4096).unwrap();
///
///     let client = TcpSocket::new_v4().unwrap();
///     client.set_send_buffer_size(256 * 1024).unwrap();
///     client.set_recv_buffer_size(256 * 1024).unwrap();
///     let stream = client.connect(listener.local_addr().unwrap()).await.unwrap();
///     let (_server_side, peer) = listener.accept().await.unwrap();
///     assert_eq!(peer, stream.local_addr().unwrap());
/// });
/// ```
pub struct TcpSocket {
    inner: Socket,
}

impl TcpSocket {
    /// A new IPv4 TCP socket (non-blocking, close-on-exec). Needs no runtime.
    ///
    /// # Errors
    ///
    /// As `socket(2)` (`EMFILE` when out of descriptors...).
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = gmp::net::TcpSocket::new_v4().unwrap();
    /// socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    /// assert!(socket.local_addr().unwrap().is_ipv4());
    /// ```
    pub fn new_v4() -> io::Result<TcpSocket> {
        Self::new(Domain::IPV4)
    }

    /// A new IPv6 TCP socket (non-blocking, close-on-exec). Needs no runtime.
    ///
    /// # Errors
    ///
    /// As `socket(2)`; `EAFNOSUPPORT` where IPv6 is off.
    ///
    /// # Examples
    ///
    /// ```
    /// if let Ok(socket) = gmp::net::TcpSocket::new_v6() {
    ///     if socket.bind("[::1]:0".parse().unwrap()).is_ok() {
    ///         assert!(socket.local_addr().unwrap().is_ipv6());
    ///     }
    /// }
    /// ```
    pub fn new_v6() -> io::Result<TcpSocket> {
        Self::new(Domain::IPV6)
    }

    fn new(domain: Domain) -> io::Result<TcpSocket> {
        Ok(TcpSocket { inner: sys::stream_socket(domain)? })
    }

    /// A socket of the family of `address`.
    pub(crate) fn for_address(address: &SocketAddr) -> io::Result<TcpSocket> {
        Self::new(sys::domain_of(address))
    }

    /// Sets `SO_REUSEADDR`: bind to a port that connections in `TIME_WAIT` still use (what a
    /// restarting server wants).
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = gmp::net::TcpSocket::new_v4().unwrap();
    /// socket.set_reuseaddr(true).unwrap();
    /// assert!(socket.reuseaddr().unwrap());
    /// ```
    pub fn set_reuseaddr(&self, reuseaddr: bool) -> io::Result<()> {
        self.inner.set_reuse_address(reuseaddr)
    }

    /// Reads `SO_REUSEADDR`.
    pub fn reuseaddr(&self) -> io::Result<bool> {
        self.inner.reuse_address()
    }

    /// Sets `SO_REUSEPORT`: several sockets, each with it set, may bind the same address and
    /// port; on Linux the kernel spreads incoming connections over their listeners.
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = gmp::net::TcpSocket::new_v4().unwrap();
    /// socket.set_reuseport(true).unwrap();
    /// assert!(socket.reuseport().unwrap());
    /// ```
    #[cfg(not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin")))]
    pub fn set_reuseport(&self, reuseport: bool) -> io::Result<()> {
        self.inner.set_reuse_port(reuseport)
    }

    /// Reads `SO_REUSEPORT`.
    #[cfg(not(any(target_os = "solaris", target_os = "illumos", target_os = "cygwin")))]
    pub fn reuseport(&self) -> io::Result<bool> {
        self.inner.reuse_port()
    }

    /// Sets `SO_SNDBUF`, the size of the kernel's send buffer. Linux doubles the value (for
    /// its bookkeeping) and reports the doubled size; it caps it at `net.core.wmem_max`.
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = gmp::net::TcpSocket::new_v4().unwrap();
    /// socket.set_send_buffer_size(64 * 1024).unwrap();
    /// assert!(socket.send_buffer_size().unwrap() >= 64 * 1024);
    /// ```
    pub fn set_send_buffer_size(&self, size: u32) -> io::Result<()> {
        self.inner.set_send_buffer_size(size as usize)
    }

    /// Reads `SO_SNDBUF`.
    pub fn send_buffer_size(&self) -> io::Result<u32> {
        self.inner.send_buffer_size().map(saturating_u32)
    }

    /// Sets `SO_RCVBUF`, the size of the kernel's receive buffer (doubled and capped on Linux
    /// as with [`set_send_buffer_size`](Self::set_send_buffer_size), at `net.core.rmem_max`).
    /// Set it before `connect` or `listen`: the TCP window scale is fixed by the handshake.
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = gmp::net::TcpSocket::new_v4().unwrap();
    /// socket.set_recv_buffer_size(64 * 1024).unwrap();
    /// assert!(socket.recv_buffer_size().unwrap() >= 64 * 1024);
    /// ```
    pub fn set_recv_buffer_size(&self, size: u32) -> io::Result<()> {
        self.inner.set_recv_buffer_size(size as usize)
    }

    /// Reads `SO_RCVBUF`.
    pub fn recv_buffer_size(&self) -> io::Result<u32> {
        self.inner.recv_buffer_size().map(saturating_u32)
    }

    /// Sets `SO_KEEPALIVE`: probe an idle connection so a vanished peer is noticed (after the
    /// system's keep-alive time, two hours by default on Linux).
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = gmp::net::TcpSocket::new_v4().unwrap();
    /// socket.set_keepalive(true).unwrap();
    /// assert!(socket.keepalive().unwrap());
    /// ```
    pub fn set_keepalive(&self, keepalive: bool) -> io::Result<()> {
        self.inner.set_keepalive(keepalive)
    }

    /// Reads `SO_KEEPALIVE`.
    pub fn keepalive(&self) -> io::Result<bool> {
        self.inner.keepalive()
    }

    /// Sets `TCP_NODELAY` (true: send small writes at once, without Nagle's algorithm).
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = gmp::net::TcpSocket::new_v4().unwrap();
    /// socket.set_nodelay(true).unwrap();
    /// assert!(socket.nodelay().unwrap());
    /// ```
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.set_tcp_nodelay(nodelay)
    }

    /// Reads `TCP_NODELAY`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.tcp_nodelay()
    }

    /// Sets `SO_LINGER`: `Some(d)` makes closing wait up to `d` for unsent data (`Some(0)`
    /// resets the connection on close); `None` closes in the background.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let socket = gmp::net::TcpSocket::new_v4().unwrap();
    /// socket.set_linger(Some(Duration::from_secs(1))).unwrap();
    /// assert_eq!(socket.linger().unwrap(), Some(Duration::from_secs(1)));
    /// ```
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.inner.set_linger(linger)
    }

    /// Reads `SO_LINGER`.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        self.inner.linger()
    }

    /// Binds the socket to `addr` (port 0: the kernel picks one).
    ///
    /// # Errors
    ///
    /// As `bind(2)`: `AddrInUse`, `AddrNotAvailable`...
    ///
    /// # Examples
    ///
    /// ```
    /// let socket = gmp::net::TcpSocket::new_v4().unwrap();
    /// socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    /// assert_ne!(socket.local_addr().unwrap().port(), 0);
    /// ```
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        self.inner.bind(&addr.into())
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()?.as_socket().ok_or_else(|| io::Error::other("not an IP socket"))
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }

    /// Starts listening with an accept queue of `backlog` connections (the kernel caps it at
    /// `net.core.somaxconn`; Linux queues `backlog + 1`) and registers the listener with the
    /// current runtime. An unbound socket listens on an ephemeral port of every address.
    ///
    /// # Errors
    ///
    /// As `listen(2)`.
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let socket = gmp::net::TcpSocket::new_v4().unwrap();
    ///     socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    ///     let listener = socket.listen(128).unwrap();
    ///     assert!(listener.local_addr().unwrap().ip().is_loopback());
    /// });
    /// ```
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        self.inner.listen(backlog.min(i32::MAX as u32) as i32)?;
        TcpListener::from_nonblocking(self.inner.into(), "gmp::net::TcpSocket::listen")
    }

    /// Connects to `addr`; the goroutine waits for the handshake in the netpoller (no thread
    /// blocks). Put it under [`gmp::time::timeout`](crate::time::timeout) to bound the wait:
    /// dropping the future closes the socket.
    ///
    /// # Errors
    ///
    /// `ConnectionRefused` if nothing listens there, `TimedOut` when the kernel gives up on
    /// the handshake, `HostUnreachable`, `NetworkUnreachable`...
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let socket = gmp::net::TcpSocket::new_v4().unwrap();
    ///     socket.set_nodelay(true).unwrap();
    ///     let addr = "192.0.2.1:80".parse().unwrap();
    ///     match gmp::time::timeout(Duration::from_secs(1), socket.connect(addr)).await {
    ///         Ok(Ok(_stream)) => println!("connected"),
    ///         Ok(Err(error)) => println!("failed: {error}"),
    ///         Err(_) => println!("timed out"),
    ///     }
    /// });
    /// ```
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        self.connect_named(addr, "gmp::net::TcpSocket::connect").await
    }

    /// `connect`, naming `call` in the outside-a-runtime panic.
    pub(crate) async fn connect_named(self, addr: SocketAddr, call: &str) -> io::Result<TcpStream> {
        let in_progress = sys::start_connect(&self.inner, &addr.into())?;
        TcpStream::finish_connect(self.inner.into(), in_progress, call).await
    }

    /// Wraps a std stream (any state) to read or set its options; it is made non-blocking.
    ///
    /// # Examples
    ///
    /// ```
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    /// let socket = gmp::net::TcpSocket::from_std_stream(stream);
    /// socket.set_keepalive(true).unwrap();
    /// ```
    pub fn from_std_stream(stream: std::net::TcpStream) -> TcpSocket {
        let inner = Socket::from(stream);
        let _ = inner.set_nonblocking(true);
        TcpSocket { inner }
    }
}

fn saturating_u32(size: usize) -> u32 {
    u32::try_from(size).unwrap_or(u32::MAX)
}

impl fmt::Debug for TcpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpSocket").field("fd", &self.as_raw_fd()).field("local", &self.local_addr().ok()).finish()
    }
}

impl AsFd for TcpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl AsRawFd for TcpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl IntoRawFd for TcpSocket {
    fn into_raw_fd(self) -> RawFd {
        self.inner.into_raw_fd()
    }
}

impl FromRawFd for TcpSocket {
    /// Takes ownership of `fd`, a TCP socket, and makes it non-blocking.
    ///
    /// # Safety
    ///
    /// `fd` must be an open socket that nothing else owns.
    unsafe fn from_raw_fd(fd: RawFd) -> TcpSocket {
        // SAFETY: the caller hands over an open socket it owns (this function's contract).
        let inner = unsafe { Socket::from_raw_fd(fd) };
        let _ = inner.set_nonblocking(true);
        TcpSocket { inner }
    }
}

impl From<TcpSocket> for OwnedFd {
    fn from(socket: TcpSocket) -> OwnedFd {
        socket.inner.into()
    }
}
