//! TCP, UDP and Unix sockets whose waits park the goroutine, not the thread.
//!
//! The types mirror `std::net` and `std::os::unix::net`, and tokio's: what may resolve a name
//! or wait for the network is `async` (`TcpListener::bind`, `TcpStream::connect`,
//! `UdpSocket::bind`, `UnixStream::connect`, every `accept`, `send` and `recv`); binding a Unix
//! path is not. Streams implement `futures::io::{AsyncRead, AsyncWrite}`, also through a
//! shared reference, so one goroutine can read while another writes. Every failure is an
//! `io::Error`: a refused connect is `ConnectionRefused`, end of stream is a read of 0 bytes.
//!
//! All of them are [`gmp::io::Async`](crate::io::Async) over the std type: one registration
//! with the runtime's netpoller, made when the socket is created and removed when it drops.
//! Creating one outside a gmp runtime panics.
//!
//! # Examples
//!
//! ```
//! use futures::io::{AsyncReadExt, AsyncWriteExt};
//! use gmp::net::{TcpListener, TcpStream};
//!
//! gmp::Runtime::new().unwrap().block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     gmp::spawn(async move {
//!         let (mut stream, _) = listener.accept().await.unwrap();
//!         let mut buf = [0u8; 4];
//!         stream.read_exact(&mut buf).await.unwrap();
//!         stream.write_all(&buf).await.unwrap();
//!     });
//!     let mut client = TcpStream::connect(addr).await.unwrap();
//!     client.write_all(b"ping").await.unwrap();
//!     let mut reply = [0u8; 4];
//!     client.read_exact(&mut reply).await.unwrap();
//!     assert_eq!(&reply, b"ping");
//! });
//! ```

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use crate::io::Async;
use crate::netpoll::{Direction, EXHAUSTED_BACKOFF_MAX, EXHAUSTED_BACKOFF_MIN};

/// `AsyncRead` and `AsyncWrite` for a stream type with an `io: Async<$inner>` field, on the
/// type and on a shared reference to it.
/// The conversions every socket type has: `TryFrom` the std type (sets it non-blocking and
/// registers it) and back (`into_std`), and `AsFd`/`AsRawFd` through its `io` field.
macro_rules! socket_conversions {
    ($ty:ty, $std:ty) => {
        impl TryFrom<$std> for $ty {
            type Error = std::io::Error;

            fn try_from(socket: $std) -> std::io::Result<Self> {
                Self::from_std(socket)
            }
        }

        impl TryFrom<$ty> for $std {
            type Error = std::io::Error;

            fn try_from(socket: $ty) -> std::io::Result<Self> {
                socket.into_std()
            }
        }

        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.io.as_fd()
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.io.as_raw_fd()
            }
        }
    };
}

/// `futures::io::{AsyncRead, AsyncWrite}` for a stream type and for a shared reference to it
/// (reads and writes go through `&self`, as with std's sockets), plus the private polls they
/// share.
macro_rules! stream_io {
    (@traits $t:ty) => {
        impl futures::io::AsyncRead for $t {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_read_priv(cx, buf)
            }

            fn poll_read_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_read_vectored_priv(cx, bufs)
            }
        }

        impl futures::io::AsyncWrite for $t {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_write_priv(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.poll_write_vectored_priv(cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.poll_close_priv()
            }
        }

    };
    ($ty:ty, $inner:ty) => {
        // `pub(crate)`: the split halves and the compat impls call these.
        impl $ty {
            /// The registered socket, for the `hyper` and `tokio-io` integrations (`compat/`).
            #[cfg(any(feature = "hyper", feature = "tokio-io"))]
            pub(crate) fn registered(&self) -> &crate::io::Async<$inner> {
                &self.io
            }

            pub(crate) fn poll_read_priv(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let len = buf.len();
                self.io.poll_read_stream(cx, len, |mut stream: &$inner| std::io::Read::read(&mut stream, buf))
            }

            pub(crate) fn poll_read_vectored_priv(
                &self,
                cx: &mut std::task::Context<'_>,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let len = bufs.iter().map(|buf| buf.len()).sum();
                self.io.poll_read_stream(cx, len, |mut stream: &$inner| {
                    std::io::Read::read_vectored(&mut stream, bufs)
                })
            }

            pub(crate) fn poll_write_priv(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.io.poll_write_ref(cx, |mut stream: &$inner| std::io::Write::write(&mut stream, buf))
            }

            pub(crate) fn poll_write_vectored_priv(
                &self,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.io.poll_write_ref(cx, |mut stream: &$inner| std::io::Write::write_vectored(&mut stream, bufs))
            }

            /// `poll_close`: shuts down the write side (the peer reads end of stream).
            pub(crate) fn poll_close_priv(&self) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(match self.io.get_ref().shutdown(std::net::Shutdown::Write) {
                    Err(error) if error.kind() == std::io::ErrorKind::NotConnected => Ok(()),
                    result => result,
                })
            }

            pub(crate) fn try_read_priv(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                let mut stream: &$inner = self.io.get_ref();
                self.io.registration().try_io(crate::netpoll::Direction::Read, || std::io::Read::read(&mut stream, buf))
            }

            pub(crate) fn try_read_vectored_priv(&self, bufs: &mut [std::io::IoSliceMut<'_>]) -> std::io::Result<usize> {
                let mut stream: &$inner = self.io.get_ref();
                self.io
                    .registration()
                    .try_io(crate::netpoll::Direction::Read, || std::io::Read::read_vectored(&mut stream, bufs))
            }

            pub(crate) fn try_write_priv(&self, buf: &[u8]) -> std::io::Result<usize> {
                let mut stream: &$inner = self.io.get_ref();
                self.io.registration().try_io(crate::netpoll::Direction::Write, || std::io::Write::write(&mut stream, buf))
            }

            pub(crate) fn try_write_vectored_priv(&self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                let mut stream: &$inner = self.io.get_ref();
                self.io
                    .registration()
                    .try_io(crate::netpoll::Direction::Write, || std::io::Write::write_vectored(&mut stream, bufs))
            }
        }

        stream_io!(@traits $ty);
        stream_io!(@traits &$ty);
    };
}

#[macro_use]
mod split;
mod sys;
pub mod tcp;
mod udp;
pub mod unix;

pub use tcp::listener::TcpListener;
pub use tcp::socket::TcpSocket;
pub use tcp::stream::TcpStream;
pub use udp::UdpSocket;
pub use unix::datagram::UnixDatagram;
pub use unix::listener::UnixListener;
pub use unix::stream::UnixStream;

/// Addresses a socket can be bound or connected to: what `std::net::ToSocketAddrs` takes
/// (`"host:port"`, `("host", port)`, `SocketAddr`, `(IpAddr, u16)`, `&[SocketAddr]`...).
/// IP literals are used as they are; host names are resolved on a helper thread, never on a
/// thread that runs goroutines.
///
/// The trait is sealed: its method is not part of gmp's API.
pub trait ToSocketAddrs: sealed::ToSocketAddrsPriv {}

pub(crate) mod sealed {
    use std::io;
    use std::net::SocketAddr;

    /// What an address turned into: addresses, or a name to look up.
    #[derive(Debug)]
    pub enum Addresses {
        Ready(Vec<SocketAddr>),
        Lookup(String),
        LookupPair(String, u16),
    }

    pub trait ToSocketAddrsPriv {
        fn to_addresses(&self) -> io::Result<Addresses>;
    }
}

use sealed::{Addresses, ToSocketAddrsPriv};

macro_rules! ready_addresses {
    ($($ty:ty => |$this:ident| $body:expr;)*) => {$(
        impl ToSocketAddrs for $ty {}
        impl ToSocketAddrsPriv for $ty {
            fn to_addresses(&self) -> io::Result<Addresses> {
                let $this = self;
                Ok(Addresses::Ready($body))
            }
        }
    )*};
}

ready_addresses! {
    SocketAddr => |a| vec![*a];
    SocketAddrV4 => |a| vec![SocketAddr::V4(*a)];
    SocketAddrV6 => |a| vec![SocketAddr::V6(*a)];
    (IpAddr, u16) => |a| vec![SocketAddr::new(a.0, a.1)];
    (Ipv4Addr, u16) => |a| vec![SocketAddr::new(IpAddr::V4(a.0), a.1)];
    (Ipv6Addr, u16) => |a| vec![SocketAddr::new(IpAddr::V6(a.0), a.1)];
    [SocketAddr] => |a| a.to_vec();
    Vec<SocketAddr> => |a| a.clone();
}

impl ToSocketAddrs for str {}
impl ToSocketAddrsPriv for str {
    fn to_addresses(&self) -> io::Result<Addresses> {
        match self.parse::<SocketAddr>() {
            Ok(address) => Ok(Addresses::Ready(vec![address])),
            Err(_) => Ok(Addresses::Lookup(self.to_owned())),
        }
    }
}

impl ToSocketAddrs for String {}
impl ToSocketAddrsPriv for String {
    fn to_addresses(&self) -> io::Result<Addresses> {
        self.as_str().to_addresses()
    }
}

impl ToSocketAddrs for (&str, u16) {}
impl ToSocketAddrsPriv for (&str, u16) {
    fn to_addresses(&self) -> io::Result<Addresses> {
        match self.0.parse::<IpAddr>() {
            Ok(ip) => Ok(Addresses::Ready(vec![SocketAddr::new(ip, self.1)])),
            Err(_) => Ok(Addresses::LookupPair(self.0.to_owned(), self.1)),
        }
    }
}

impl ToSocketAddrs for (String, u16) {}
impl ToSocketAddrsPriv for (String, u16) {
    fn to_addresses(&self) -> io::Result<Addresses> {
        (self.0.as_str(), self.1).to_addresses()
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
impl<T: ToSocketAddrsPriv + ?Sized> ToSocketAddrsPriv for &T {
    fn to_addresses(&self) -> io::Result<Addresses> {
        (**self).to_addresses()
    }
}

/// Resolves `address`; a name lookup runs on the blocking pool. The returned future does not
/// borrow `address`. `call` names the public function for the outside-a-runtime panic.
pub(crate) fn resolve<A: ToSocketAddrs>(
    address: A,
    call: &'static str,
) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send {
    let addresses = address.to_addresses();
    async move {
        use std::net::ToSocketAddrs as _;
        let addresses = match addresses? {
            Addresses::Ready(addresses) => addresses,
            Addresses::Lookup(name) => {
                run_blocking(call, move || name.to_socket_addrs().map(Iterator::collect)).await??
            }
            Addresses::LookupPair(host, port) => {
                run_blocking(call, move || (host.as_str(), port).to_socket_addrs().map(Iterator::collect)).await??
            }
        };
        if addresses.is_empty() {
            return Err(no_addresses());
        }
        Ok(addresses)
    }
}

/// Tries `f` on each resolved address in turn; the last error if none works.
pub(crate) async fn first_that_works<T, F, Fut>(addresses: Vec<SocketAddr>, mut f: F) -> io::Result<T>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    let mut last_error = None;
    for address in addresses {
        match f(address).await {
            Ok(value) => return Ok(value),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(no_addresses))
}

fn no_addresses() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any address")
}

/// Runs a blocking call (a name lookup) on the runtime's blocking pool and
/// waits for it without blocking the M.
///
/// # Panics
///
/// Outside a gmp runtime, naming `call`.
pub(crate) async fn run_blocking<R: Send + 'static>(
    call: &'static str,
    f: impl FnOnce() -> R + Send + 'static,
) -> io::Result<R> {
    let handle = crate::Handle::try_current()
        .unwrap_or_else(|_| crate::context::outside_runtime(call, crate::context::IN_A_GOROUTINE));
    Ok(handle.spawn_blocking(f).await?)
}

/// The back-off of a listener after an out-of-resources `accept` (0: none yet).
#[derive(Debug, Default)]
pub(crate) struct AcceptBackoff {
    nanos: AtomicU64,
}

impl AcceptBackoff {
    fn reset(&self) {
        if self.nanos.load(Relaxed) != 0 {
            self.nanos.store(0, Relaxed);
        }
    }

    fn next(&self) -> Duration {
        let previous = Duration::from_nanos(self.nanos.load(Relaxed));
        let delay = (previous * 2).clamp(EXHAUSTED_BACKOFF_MIN, EXHAUSTED_BACKOFF_MAX);
        self.nanos.store(delay.as_nanos() as u64, Relaxed);
        delay
    }
}

/// `accept` for the listeners: waits for readability, and after an out-of-resources error
/// makes the next attempt wait for a back-off (or a new connection) instead of spinning.
pub(crate) fn poll_accept<T: AsFd, R>(
    io: &Async<T>,
    backoff: &AcceptBackoff,
    cx: &mut Context<'_>,
    mut accept: impl FnMut(&T) -> io::Result<R>,
) -> Poll<io::Result<R>> {
    let registration = io.registration();
    loop {
        let event = ready!(registration.poll_ready(cx, Direction::Read))?;
        ready!(crate::coop::poll_proceed(cx));
        match accept(io.get_ref()) {
            Ok(accepted) => {
                backoff.reset();
                return Poll::Ready(Ok(accepted));
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => registration.clear_readiness(event),
            Err(error) => {
                if sys::out_of_resources(&error) {
                    registration.defer_readiness(event, backoff.next());
                }
                return Poll::Ready(Err(error));
            }
        }
    }
}

/// Waits for the non-blocking connect of `io` to finish (Go's `netFD.connect`): the socket
/// turns writable, then `SO_ERROR` says whether the handshake failed. A wake-up that finds no
/// peer yet (the registration starts out ready) clears the readiness and waits again.
pub(crate) fn poll_connected<T: AsFd>(io: &Async<T>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    let registration = io.registration();
    loop {
        let event = ready!(registration.poll_ready(cx, Direction::Write))?;
        let socket = socket2::SockRef::from(io.get_ref());
        if let Some(error) = socket.take_error()? {
            return Poll::Ready(Err(error));
        }
        match socket.peer_addr() {
            Ok(_) => return Poll::Ready(Ok(())),
            Err(error) if error.kind() == io::ErrorKind::NotConnected => registration.clear_readiness(event),
            Err(error) => return Poll::Ready(Err(error)),
        }
    }
}
