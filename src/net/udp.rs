//! `UdpSocket`.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::task::{Context, Poll};

use super::{first_that_works, resolve, ToSocketAddrs};
use crate::io::Async;

/// A UDP socket.
///
/// Bind it, then either [`send_to`](Self::send_to)/[`recv_from`](Self::recv_from) any peer,
/// or [`connect`](Self::connect) it to one peer and [`send`](Self::send)/[`recv`](Self::recv).
/// All methods take `&self`, so goroutines can share it in an `Arc`.
///
/// # Examples
///
/// ```
/// use gmp::net::UdpSocket;
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
///     let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
///     a.send_to(b"hi", b.local_addr().unwrap()).await.unwrap();
///     let mut buf = [0u8; 16];
///     let (n, from) = b.recv_from(&mut buf).await.unwrap();
///     assert_eq!(&buf[..n], b"hi");
///     assert_eq!(from, a.local_addr().unwrap());
/// });
/// ```
pub struct UdpSocket {
    io: Async<std::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds a socket to `addr` (resolving a host name off the Ps), trying each resolved
    /// address in turn.
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        let addresses = resolve(addr, "gmp::net::UdpSocket::bind").await?;
        let socket = first_that_works(addresses, |address| async move { super::sys::udp_socket(address) }).await?;
        Ok(UdpSocket { io: Async::new_nonblocking(socket, "gmp::net::UdpSocket::bind")? })
    }

    /// Wraps a std socket (made non-blocking here) and registers it with the current runtime.
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        Self::from_std_named(socket, "gmp::net::UdpSocket::from_std")
    }

    fn from_std_named(socket: std::net::UdpSocket, call: &str) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        Ok(UdpSocket { io: Async::new_nonblocking(socket, call)? })
    }

    /// Deregisters the socket and returns the std one (still in non-blocking mode).
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        Ok(self.io.into_inner())
    }

    /// Sets the default peer for [`send`](Self::send) and the only peer
    /// [`recv`](Self::recv) accepts datagrams from (the first resolved address that works).
    pub async fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        let addresses = resolve(addr, "gmp::net::UdpSocket::connect").await?;
        let socket = self.io.get_ref();
        first_that_works(addresses, |address| async move { socket.connect(address) }).await
    }

    /// Sends `buf` to the connected peer; returns the bytes sent.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_send(cx, buf)).await
    }

    /// Polls to send `buf` to the connected peer.
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.poll_write_ref(cx, |socket| socket.send(buf))
    }

    /// Receives one datagram from the connected peer into `buf`; returns its length (the
    /// rest of a datagram longer than `buf` is discarded).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_recv(cx, buf)).await
    }

    /// Polls to receive one datagram from the connected peer.
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_read_ref(cx, |socket| socket.recv(buf))
    }

    /// Sends `buf` to `target` (the first address it resolves to).
    pub async fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], target: A) -> io::Result<usize> {
        let target = resolve(target, "gmp::net::UdpSocket::send_to").await?[0];
        poll_fn(|cx| self.poll_send_to(cx, buf, target)).await
    }

    /// Polls to send `buf` to `target`.
    pub fn poll_send_to(&self, cx: &mut Context<'_>, buf: &[u8], target: SocketAddr) -> Poll<io::Result<usize>> {
        self.io.poll_write_ref(cx, |socket| socket.send_to(buf, target))
    }

    /// Receives one datagram into `buf`; returns its length and sender.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.poll_recv_from(cx, buf)).await
    }

    /// Polls to receive one datagram.
    pub fn poll_recv_from(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io.poll_read_ref(cx, |socket| socket.recv_from(buf))
    }

    /// Receives one datagram into `buf` without removing it from the queue.
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.io.poll_read_ref(cx, |socket| socket.peek_from(buf))).await
    }

    /// The address this socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Sets `SO_BROADCAST`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_broadcast(on)
    }

    /// Reads `SO_BROADCAST`.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.io.get_ref().broadcast()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// Reads `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }

    /// Joins an IPv4 multicast group on `interface`.
    pub fn join_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.io.get_ref().join_multicast_v4(&group, &interface)
    }

    /// Joins an IPv6 multicast group on interface index `interface`.
    pub fn join_multicast_v6(&self, group: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.io.get_ref().join_multicast_v6(group, interface)
    }

    /// Leaves an IPv4 multicast group.
    pub fn leave_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.io.get_ref().leave_multicast_v4(&group, &interface)
    }

    /// Leaves an IPv6 multicast group.
    pub fn leave_multicast_v6(&self, group: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.io.get_ref().leave_multicast_v6(group, interface)
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }
}

socket_conversions!(UdpSocket, std::net::UdpSocket);

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket").field("fd", &self.as_raw_fd()).field("addr", &self.local_addr().ok()).finish()
    }
}
