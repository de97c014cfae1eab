//! Socket set-up through `socket2`: new non-blocking sockets, the start of a non-blocking
//! `connect`, `listen` with gmp's backlog, `accept` of a non-blocking connection and bound
//! UDP sockets.
//!
//! std's `connect` blocks its thread until the handshake ends, so gmp starts the connect on a
//! non-blocking socket instead, and the netpoller reports when it is done, as in Go's
//! `netFD.connect`: `connect` returns `EINPROGRESS`, the socket becomes writable when the
//! handshake ends, and `SO_ERROR` (`take_error`) then says whether it failed. That works on
//! every target `polling` supports (epoll, kqueue, event ports), so no connect needs a thread.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use socket2::{Domain, SockAddr, SockRef, Socket, Type};

/// The accept-queue length gmp's listeners ask for (std asks for 128; tokio for 1024). The
/// kernel caps it at `net.core.somaxconn`.
pub(crate) const LISTEN_BACKLOG: i32 = 1024;

/// Items for the targets whose `socket` and `accept4` take `SOCK_NONBLOCK` (one call
/// instead of a second `fcntl`), and their fallbacks for the others (macOS, iOS...).
macro_rules! with_sock_nonblock {
    (yes: $yes:item no: $no:item) => {
        #[cfg(any(
            target_os = "android",
            target_os = "dragonfly",
            target_os = "freebsd",
            target_os = "fuchsia",
            target_os = "illumos",
            target_os = "linux",
            target_os = "netbsd",
            target_os = "openbsd"
        ))]
        $yes
        #[cfg(not(any(
            target_os = "android",
            target_os = "dragonfly",
            target_os = "freebsd",
            target_os = "fuchsia",
            target_os = "illumos",
            target_os = "linux",
            target_os = "netbsd",
            target_os = "openbsd"
        )))]
        $no
    };
}

with_sock_nonblock! {
    yes:
    /// A new non-blocking, close-on-exec stream socket of `domain`.
    pub(crate) fn stream_socket(domain: Domain) -> io::Result<Socket> {
        Socket::new(domain, Type::STREAM.nonblocking(), None)
    }
    no:
    /// A new non-blocking, close-on-exec stream socket of `domain`.
    pub(crate) fn stream_socket(domain: Domain) -> io::Result<Socket> {
        let socket = Socket::new(domain, Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        Ok(socket)
    }
}

with_sock_nonblock! {
    yes:
    /// A new non-blocking, close-on-exec datagram socket of `domain`.
    fn datagram_socket(domain: Domain) -> io::Result<Socket> {
        Socket::new(domain, Type::DGRAM.nonblocking(), None)
    }
    no:
    /// A new non-blocking, close-on-exec datagram socket of `domain`.
    fn datagram_socket(domain: Domain) -> io::Result<Socket> {
        let socket = Socket::new(domain, Type::DGRAM, None)?;
        socket.set_nonblocking(true)?;
        Ok(socket)
    }
}

with_sock_nonblock! {
    yes:
    /// `accept` whose new socket is non-blocking and close-on-exec.
    fn accept_nonblocking(listener: SockRef<'_>) -> io::Result<(Socket, SockAddr)> {
        listener.accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
    }
    no:
    /// `accept` whose new socket is non-blocking and close-on-exec.
    fn accept_nonblocking(listener: SockRef<'_>) -> io::Result<(Socket, SockAddr)> {
        let (socket, address) = listener.accept()?;
        socket.set_nonblocking(true)?;
        Ok((socket, address))
    }
}

/// The domain of an IP socket (TCP or UDP) that can reach `address`.
pub(crate) fn domain_of(address: &SocketAddr) -> Domain {
    match address {
        SocketAddr::V4(_) => Domain::IPV4,
        SocketAddr::V6(_) => Domain::IPV6,
    }
}

/// Starts connecting the non-blocking `socket` to `address`. `Ok(true)`: the handshake is
/// still running (wait for writability, then check `SO_ERROR`); `Ok(false)`: connected
/// already (Unix sockets, some loopback connects).
pub(crate) fn start_connect(socket: &Socket, address: &SockAddr) -> io::Result<bool> {
    match socket.connect(address) {
        Ok(()) => Ok(false),
        Err(error) => match error.raw_os_error() {
            // EINTR: the connect goes on in the background, as if EINPROGRESS (Go does the
            // same); EALREADY: an earlier attempt on this socket is still running.
            Some(libc::EINPROGRESS | libc::EALREADY | libc::EINTR) => Ok(true),
            _ => Err(error),
        },
    }
}

/// Sets the accept-queue length of a listening socket (`listen` again on a listening socket
/// only changes its backlog).
pub(crate) fn set_backlog(fd: impl AsFd, backlog: i32) -> io::Result<()> {
    SockRef::from(&fd).listen(backlog)
}

/// A TCP listener on `address` as std's `bind` makes one (`SO_REUSEADDR`, so a restarted
/// server can bind while old connections linger in `TIME_WAIT`), non-blocking, with gmp's
/// backlog.
pub(crate) fn tcp_listener(address: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = stream_socket(domain_of(&address))?;
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// A UDP socket bound to `address` as std's `bind` makes one, non-blocking from the start.
pub(crate) fn udp_socket(address: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let socket = datagram_socket(domain_of(&address))?;
    socket.bind(&address.into())?;
    Ok(socket.into())
}

/// Accepts a connection from a non-blocking TCP listener; the new socket is non-blocking and
/// close-on-exec.
pub(crate) fn tcp_accept(listener: &std::net::TcpListener) -> io::Result<(std::net::TcpStream, SocketAddr)> {
    let (socket, address) = accept_nonblocking(SockRef::from(listener))?;
    let address = address
        .as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "accept returned a non-IP peer address"))?;
    Ok((socket.into(), address))
}

/// True for the errors of `accept` that mean "out of descriptors or memory": retrying at once
/// would fail again, so the listener backs off (see `netpoll.rs`).
pub(crate) fn out_of_resources(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
        || error.kind() == io::ErrorKind::OutOfMemory
}

/// The address of the Unix socket at `path`, or `InvalidInput` naming `call` if `path` is too
/// long for one or contains a NUL byte (std's checks; `socket2` alone would take a leading
/// NUL as a Linux abstract name).
pub(crate) fn unix_address(path: &Path, call: &str) -> io::Result<SockAddr> {
    if path.as_os_str().as_bytes().contains(&0) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{call}: path contains a NUL byte")));
    }
    SockAddr::unix(path).map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, format!("{call}: {error}")))
}
