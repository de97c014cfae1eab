//! The parent's ends of a child's piped stdin, stdout and stderr, as async pipes.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};

use crate::io::Async;

/// The common part of the three pipe types: construction, conversions, `Debug`.
macro_rules! child_pipe {
    ($(#[$doc:meta])* $name:ident($std:ty), $call:literal) => {
        $(#[$doc])*
        pub struct $name {
            inner: Async<$std>,
        }

        impl $name {
            /// Makes a std pipe end non-blocking and registers it with the current runtime's
            /// netpoller.
            ///
            /// # Errors
            ///
            /// If the descriptor cannot be made non-blocking or registered.
            ///
            /// # Panics
            ///
            /// Outside a gmp runtime.
            #[track_caller]
            pub fn from_std(std: $std) -> io::Result<$name> {
                crate::fs::expect_runtime($call);
                Ok($name { inner: Async::new(std)? })
            }

            /// Deregisters the pipe end and returns its descriptor, in blocking mode again (to
            /// hand it to another child with `Stdio::from`).
            ///
            /// # Errors
            ///
            /// If the blocking mode cannot be restored.
            pub fn into_owned_fd(self) -> io::Result<OwnedFd> {
                let fd: OwnedFd = self.inner.into_inner().into();
                rustix::io::ioctl_fionbio(&fd, false)?;
                Ok(fd)
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.inner.as_fd()
            }
        }

        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.inner.as_raw_fd()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).field("fd", &self.inner.as_raw_fd()).finish()
            }
        }
    };
}

/// The reading side: `AsyncRead` through the netpoller.
macro_rules! child_reader {
    ($name:ident) => {
        impl AsyncRead for $name {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
            }

            fn poll_read_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &mut [IoSliceMut<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.get_mut().inner).poll_read_vectored(cx, bufs)
            }
        }
    };
}

child_pipe! {
    /// The parent's end of a child's stdin ([`Child::stdin`](super::Child::stdin), when the
    /// [`Command`](super::Command) set `stdin(Stdio::piped())`): a futures-io `AsyncWrite`.
    /// Drop it to give the child end-of-file (`close` only flushes, as for other gmp pipes).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::io::AsyncWriteExt;
    /// use gmp::process::{Command, Stdio};
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    ///     let mut stdin = child.stdin.take().unwrap();
    ///     stdin.write_all(b"fed to cat").await.unwrap();
    ///     drop(stdin);
    ///     assert!(child.wait().await.unwrap().success());
    /// });
    /// ```
    ChildStdin(std::process::ChildStdin), "gmp::process::ChildStdin::from_std"
}

child_pipe! {
    /// The parent's end of a child's stdout ([`Child::stdout`](super::Child::stdout), when the
    /// [`Command`](super::Command) set `stdout(Stdio::piped())`): a futures-io `AsyncRead`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::io::AsyncReadExt;
    /// use gmp::process::{Command, Stdio};
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let mut child = Command::new("echo").arg("hi").stdout(Stdio::piped()).spawn().unwrap();
    ///     let mut text = String::new();
    ///     child.stdout.take().unwrap().read_to_string(&mut text).await.unwrap();
    ///     assert_eq!(text, "hi\n");
    ///     child.wait().await.unwrap();
    /// });
    /// ```
    ChildStdout(std::process::ChildStdout), "gmp::process::ChildStdout::from_std"
}

child_pipe! {
    /// The parent's end of a child's stderr ([`Child::stderr`](super::Child::stderr), when the
    /// [`Command`](super::Command) set `stderr(Stdio::piped())`): a futures-io `AsyncRead`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::io::AsyncReadExt;
    /// use gmp::process::{Command, Stdio};
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let mut child = Command::new("sh").args(["-c", "echo oops >&2"]).stderr(Stdio::piped()).spawn().unwrap();
    ///     let mut text = String::new();
    ///     child.stderr.take().unwrap().read_to_string(&mut text).await.unwrap();
    ///     assert_eq!(text, "oops\n");
    ///     child.wait().await.unwrap();
    /// });
    /// ```
    ChildStderr(std::process::ChildStderr), "gmp::process::ChildStderr::from_std"
}

child_reader!(ChildStdout);
child_reader!(ChildStderr);

impl AsyncWrite for ChildStdin {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}
