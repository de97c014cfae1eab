//! `TcpListener`.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::task::{ready, Context, Poll};

use super::TcpStream;
use crate::io::Async;
use crate::net::{first_that_works, poll_accept, resolve, sys, AcceptBackoff, ToSocketAddrs};

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
    /// address in turn. As with std, `SO_REUSEADDR` is set; the accept queue asks for 1024
    /// connections. For other options, or another backlog, use
    /// [`TcpSocket`](crate::net::TcpSocket).
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
        let listener = first_that_works(addresses, |address| async move { sys::tcp_listener(address) }).await?;
        Self::from_nonblocking(listener, "gmp::net::TcpListener::bind")
    }

    /// Wraps a std listener (made non-blocking here) and registers it with the current runtime.
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Self::from_nonblocking(listener, "gmp::net::TcpListener::from_std")
    }

    /// Registers a listener that is already non-blocking; `call` names the public function for
    /// the outside-a-runtime panic.
    pub(crate) fn from_nonblocking(listener: std::net::TcpListener, call: &str) -> io::Result<TcpListener> {
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
        let (stream, address) = ready!(poll_accept(&self.io, &self.backoff, cx, sys::tcp_accept))?;
        Poll::Ready(TcpStream::from_nonblocking(stream, "gmp::net::TcpListener::accept").map(|s| (s, address)))
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
