//! `UnixListener`.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net as std_unix;
use std::path::Path;
use std::task::{ready, Context, Poll};

use super::{SocketAddr, UnixStream};
use crate::io::Async;
use crate::net::{poll_accept, sys, AcceptBackoff};

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
        sys::set_backlog(&listener, sys::LISTEN_BACKLOG)?;
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
    /// [`TcpListener::accept`](crate::net::TcpListener::accept).
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a connection.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        let (stream, address) = ready!(poll_accept(&self.io, &self.backoff, cx, |listener| listener.accept()))?;
        stream.set_nonblocking(true)?;
        Poll::Ready(UnixStream::from_nonblocking(stream, "gmp::net::UnixListener::accept").map(|s| (s, address)))
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
