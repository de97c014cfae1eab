//! `UnixDatagram`.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::os::unix::net as std_unix;
use std::path::Path;
use std::task::{Context, Poll};

use super::SocketAddr;
use crate::io::Async;

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
