//! Integrations with crates outside the futures-io world, each behind a Cargo feature that is
//! off by default, so the core pulls none of them:
//!
//! - `hyper` — [`compat::hyper`](crate::compat::hyper): an executor and a timer for hyper 1.x,
//!   and `hyper::rt::Read`/`Write` on [`TcpStream`](crate::net::TcpStream) and
//!   [`UnixStream`](crate::net::UnixStream), so hyper, hyper-util's servers and clients, axum
//!   and tonic run on gmp without a tokio runtime.
//! - `tokio-io` — [`compat::tokio_io`](crate::compat::tokio_io): `tokio::io::AsyncRead` and
//!   `AsyncWrite` on the same streams (tokio with its default features off: the traits only,
//!   no tokio runtime), for crates such as tokio-util's codecs or tokio-rustls.
//!
//! Both read straight into the caller's uninitialised buffer (hyper's `ReadBufCursor`, tokio's
//! `ReadBuf`), as the tokio adapters do, instead of zero-filling it before every read.
//!
//! ```toml
//! gmp = { version = "0.1", features = ["hyper"] }
//! ```

use std::io::{self, Write};
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::os::fd::AsFd;
use std::task::{Context, Poll};

use crate::io::Async;

#[cfg(feature = "hyper")]
pub mod hyper;
#[cfg(feature = "tokio-io")]
pub mod tokio_io;

/// A non-blocking `read(2)` into uninitialised memory, parking the goroutine until the socket
/// is readable. Returns how many bytes of `buf`'s front the kernel filled. Stream sockets
/// only: a short read clears readiness (`Async::poll_read_stream`).
fn poll_read_uninit<T: AsFd>(
    io: &Async<T>,
    cx: &mut Context<'_>,
    buf: &mut [MaybeUninit<u8>],
) -> Poll<io::Result<usize>> {
    let len = buf.len();
    io.poll_read_stream(cx, len, |fd| {
        rustix::io::read(fd, &mut *buf).map(|(filled, _)| filled.len()).map_err(io::Error::from)
    })
}

/// `shutdown(Write)` for a stream's `poll_shutdown`; a socket the peer already reset counts as
/// shut down.
fn shutdown_write(result: io::Result<()>) -> Poll<io::Result<()>> {
    Poll::Ready(match result {
        Err(error) if error.kind() == io::ErrorKind::NotConnected => Ok(()),
        result => result,
    })
}

/// The write side of the stream types, shared by both integrations.
trait StreamSocket: AsFd {
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;
}

impl StreamSocket for std::net::TcpStream {
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        std::net::TcpStream::shutdown(self, how)
    }
}

impl StreamSocket for std::os::unix::net::UnixStream {
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        std::os::unix::net::UnixStream::shutdown(self, how)
    }
}

/// Writes go through std's `Write` on `&T` (for TCP a `send` with `MSG_NOSIGNAL`: a peer that
/// went away gives `BrokenPipe`, never a `SIGPIPE`).
fn poll_write<T: AsFd>(io: &Async<T>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>
where
    for<'a> &'a T: Write,
{
    io.poll_write_ref(cx, |mut socket| socket.write(buf))
}

fn poll_write_vectored<T: AsFd>(
    io: &Async<T>,
    cx: &mut Context<'_>,
    bufs: &[io::IoSlice<'_>],
) -> Poll<io::Result<usize>>
where
    for<'a> &'a T: Write,
{
    io.poll_write_ref(cx, |mut socket| socket.write_vectored(bufs))
}

fn poll_shutdown<T: StreamSocket>(io: &Async<T>) -> Poll<io::Result<()>> {
    shutdown_write(io.get_ref().shutdown(Shutdown::Write))
}
