//! Unix-domain sockets' addresses ([`SocketAddr`], std's type) and the halves of a split
//! [`UnixStream`]: borrowed ([`ReadHalf`], [`WriteHalf`], from
//! `split`) and owned ([`OwnedReadHalf`], [`OwnedWriteHalf`], from `into_split`), each
//! implementing `futures::io::AsyncRead` or `AsyncWrite`.
//!
//! `UnixListener`, `UnixStream` and `UnixDatagram` themselves are in [`gmp::net`](crate::net).

pub(super) mod datagram;
pub(super) mod listener;
pub(super) mod stream;

use stream::UnixStream;

/// The address of a Unix-domain socket: std's
/// [`std::os::unix::net::SocketAddr`], with `as_pathname`, `is_unnamed` (and, on Linux,
/// `as_abstract_name` through `std::os::linux::net::SocketAddrExt`).
///
/// # Examples
///
/// ```
/// gmp::Runtime::new().unwrap().block_on(async {
///     let (a, _b) = gmp::net::UnixStream::pair().unwrap();
///     let address: gmp::net::unix::SocketAddr = a.local_addr().unwrap();
///     assert!(address.is_unnamed());
///     assert_eq!(address.as_pathname(), None);
/// });
/// ```
pub use std::os::unix::net::SocketAddr;

stream_halves!(UnixStream, SocketAddr, "    let (client, server) = gmp::net::UnixStream::pair().unwrap();");
