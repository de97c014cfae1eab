//! Bring-your-own I/O: [`Async`] makes any file descriptor (a pipe, an eventfd, a socket type
//! gmp does not wrap) awaitable on gmp's netpoller.
//!
//! The types of [`gmp::net`](crate::net) are built on it.

use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};

use crate::netpoll::{Direction, Registration};

/// An I/O object registered with the gmp runtime's netpoller.
///
/// `Async::new` puts the file descriptor in non-blocking mode and registers it; the goroutine
/// that then reads or writes through [`read_with`](Self::read_with),
/// [`write_with`](Self::write_with) or the [`AsyncRead`]/[`AsyncWrite`] impls (when `T` is
/// `Read`/`Write`) parks until the descriptor is ready instead of blocking its thread, and
/// shows as "IO wait" in `gmp::runtime::dump()`. Dropping it deregisters the descriptor, then
/// closes it (by dropping `T`).
///
/// # Examples
///
/// A pipe:
///
/// ```
/// use futures::io::{AsyncReadExt, AsyncWriteExt};
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let (reader, writer) = std::io::pipe().unwrap();
///     let mut reader = gmp::io::Async::new(reader).unwrap();
///     let mut writer = gmp::io::Async::new(writer).unwrap();
///     let echo = gmp::spawn(async move {
///         let mut buf = [0u8; 5];
///         reader.read_exact(&mut buf).await.unwrap();
///         buf
///     });
///     writer.write_all(b"hello").await.unwrap();
///     assert_eq!(&echo.await.unwrap(), b"hello");
/// });
/// ```
pub struct Async<T: AsFd> {
    registration: Registration,
    io: Option<T>,
}

impl<T: AsFd> Async<T> {
    /// Puts `io` in non-blocking mode and registers it with the current runtime's netpoller.
    ///
    /// # Errors
    ///
    /// If the descriptor cannot be made non-blocking or registered (it is not pollable, such
    /// as a regular file on Linux, or the runtime has shut down).
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let (reader, _writer) = std::io::pipe().unwrap();
    ///     let reader = gmp::io::Async::new(reader).unwrap();
    ///     assert!(reader.get_ref().try_clone().is_ok());
    /// });
    /// ```
    #[track_caller]
    pub fn new(io: T) -> io::Result<Self> {
        set_nonblocking(io.as_fd())?;
        Self::new_nonblocking(io, "gmp::io::Async::new")
    }

    /// Registers `io`, which the caller has already made non-blocking.
    pub(crate) fn new_nonblocking(io: T, call: &str) -> io::Result<Self> {
        crate::loom::not_in_a_model(call);
        let registration = crate::context::with_runtime(call, crate::context::IN_A_GOROUTINE, |shared| {
            Registration::new(&shared.netpoll, io.as_fd())
        })?;
        Ok(Self { registration, io: Some(io) })
    }

    /// The inner I/O object.
    pub fn get_ref(&self) -> &T {
        self.io.as_ref().expect("gmp::io::Async used after into_inner")
    }

    /// The inner I/O object, mutably.
    ///
    /// # Safety
    ///
    /// The file descriptor stays registered with the netpoller while the `Async` lives, and
    /// is deregistered on drop by its number: the caller must not close it, replace `T` (or
    /// the fd inside it) with another, or otherwise end the fd's life through this reference.
    /// A closed fd whose number is reused by another file would receive that file's events,
    /// and dropping the `Async` would deregister the other file. For reads and writes, use
    /// [`get_ref`](Self::get_ref), [`read_with`](Self::read_with) or
    /// [`write_with`](Self::write_with); to take the object back, [`into_inner`](Self::into_inner).
    ///
    /// Calling it outside `unsafe` does not compile:
    ///
    /// ```compile_fail,E0133
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let (reader, _writer) = std::io::pipe().unwrap();
    ///     let mut reader = gmp::io::Async::new(reader).unwrap();
    ///     *reader.get_mut() = std::io::pipe().unwrap().0; // would swap the registered fd
    /// });
    /// ```
    pub unsafe fn get_mut(&mut self) -> &mut T {
        self.io.as_mut().expect("gmp::io::Async used after into_inner")
    }

    /// Deregisters the descriptor and returns the inner I/O object (still non-blocking).
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let (reader, _writer) = std::io::pipe().unwrap();
    ///     let reader: std::io::PipeReader = gmp::io::Async::new(reader).unwrap().into_inner();
    ///     drop(reader);
    /// });
    /// ```
    pub fn into_inner(mut self) -> T {
        let io = self.io.take().expect("gmp::io::Async used after into_inner");
        self.registration.deregister(io.as_fd());
        io
    }

    /// Waits until the descriptor may be read without blocking.
    ///
    /// Readiness is edge-triggered and cleared only by a gmp operation that saw `WouldBlock`
    /// ([`read_with`](Self::read_with), the `AsyncRead` impl): if you read through
    /// [`get_ref`](Self::get_ref) yourself, use `read_with` instead of a loop of
    /// `readable().await` and reads, or such a loop spins.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Write;
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let (reader, mut writer) = std::io::pipe().unwrap();
    ///     let reader = gmp::io::Async::new(reader).unwrap();
    ///     writer.write_all(b"x").unwrap();
    ///     reader.readable().await.unwrap();
    /// });
    /// ```
    pub async fn readable(&self) -> io::Result<()> {
        poll_fn(|cx| self.poll_readable(cx)).await
    }

    /// Waits until the descriptor may be written without blocking (see
    /// [`readable`](Self::readable) for how readiness is cleared).
    pub async fn writable(&self) -> io::Result<()> {
        poll_fn(|cx| self.poll_writable(cx)).await
    }

    /// Polls for read readiness (see [`readable`](Self::readable)).
    pub fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.registration.poll_ready(cx, Direction::Read).map_ok(|_| ())
    }

    /// Polls for write readiness (see [`writable`](Self::writable)).
    pub fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.registration.poll_ready(cx, Direction::Write).map_ok(|_| ())
    }

    /// Runs `op`, a non-blocking read on the inner object, until it returns something other
    /// than `WouldBlock`, waiting for read readiness in between.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Read, Write};
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let (reader, mut writer) = std::io::pipe().unwrap();
    ///     let reader = gmp::io::Async::new(reader).unwrap();
    ///     writer.write_all(b"ping").unwrap();
    ///     let mut buf = [0u8; 4];
    ///     let n = reader.read_with(|mut r| r.read(&mut buf)).await.unwrap();
    ///     assert_eq!(&buf[..n], b"ping");
    /// });
    /// ```
    pub async fn read_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        poll_fn(|cx| self.poll_read_ref(cx, &mut op)).await
    }

    /// Runs `op`, a non-blocking write on the inner object, until it returns something other
    /// than `WouldBlock`, waiting for write readiness in between.
    pub async fn write_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        poll_fn(|cx| self.poll_write_ref(cx, &mut op)).await
    }

    /// `poll_io` for the net types: `op` gets the inner object by shared reference.
    pub(crate) fn poll_read_ref<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let io = self.get_ref();
        self.registration.poll_io(cx, Direction::Read, || op(io))
    }

    /// `poll_io` for the net types: `op` gets the inner object by shared reference.
    pub(crate) fn poll_write_ref<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let io = self.get_ref();
        self.registration.poll_io(cx, Direction::Write, || op(io))
    }

    /// A read from a stream socket (TCP, Unix stream) of at most `len` bytes; `op` returns how
    /// many it read. As [`poll_read_ref`](Self::poll_read_ref), and a read that returns fewer
    /// than `len` bytes, but some, clears read readiness: on a stream socket it drained the
    /// receive queue, and the next data is a new edge, so the next read parks at once instead
    /// of making a syscall that returns `WouldBlock` (see
    /// `Registration::clear_readiness_after_short_read` for why an end of stream queued behind
    /// the data is still seen). Not for datagram sockets or other descriptors, where a short
    /// read says nothing about what is left.
    pub(crate) fn poll_read_stream(
        &self,
        cx: &mut Context<'_>,
        len: usize,
        mut op: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let io = self.get_ref();
        loop {
            let event = ready!(self.registration.poll_ready(cx, Direction::Read))?;
            ready!(crate::coop::poll_proceed(cx));
            match op(io) {
                Ok(n) => {
                    if n > 0 && n < len {
                        self.registration.clear_readiness_after_short_read(event);
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => self.registration.clear_readiness(event),
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }

    pub(crate) fn registration(&self) -> &Registration {
        &self.registration
    }

    fn split_mut(&mut self) -> (&Registration, &mut T) {
        (&self.registration, self.io.as_mut().expect("gmp::io::Async used after into_inner"))
    }
}

impl<T: AsFd> Drop for Async<T> {
    fn drop(&mut self) {
        if let Some(io) = self.io.take() {
            self.registration.deregister(io.as_fd());
            drop(io);
        }
    }
}

impl<T: AsFd> AsFd for Async<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.get_ref().as_fd()
    }
}

impl<T: AsFd> AsRawFd for Async<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.get_ref().as_fd().as_raw_fd()
    }
}

impl<T: AsFd + fmt::Debug> fmt::Debug for Async<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Async").field("io", &self.io).finish()
    }
}

impl<T: AsFd + Read + Unpin> AsyncRead for Async<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let (registration, io) = self.get_mut().split_mut();
        registration.poll_io(cx, Direction::Read, || io.read(buf))
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        let (registration, io) = self.get_mut().split_mut();
        registration.poll_io(cx, Direction::Read, || io.read_vectored(bufs))
    }
}

impl<T: AsFd + Write + Unpin> AsyncWrite for Async<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let (registration, io) = self.get_mut().split_mut();
        registration.poll_io(cx, Direction::Write, || io.write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let (registration, io) = self.get_mut().split_mut();
        registration.poll_io(cx, Direction::Write, || io.write_vectored(bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let (registration, io) = self.get_mut().split_mut();
        registration.poll_io(cx, Direction::Write, || io.flush())
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl<'a, T: AsFd> AsyncRead for &'a Async<T>
where
    &'a T: Read,
{
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this: &'a Async<T> = *self;
        let mut io: &'a T = this.get_ref();
        this.registration.poll_io(cx, Direction::Read, || io.read(buf))
    }
}

impl<'a, T: AsFd> AsyncWrite for &'a Async<T>
where
    &'a T: Write,
{
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this: &'a Async<T> = *self;
        let mut io: &'a T = this.get_ref();
        this.registration.poll_io(cx, Direction::Write, || io.write(buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this: &'a Async<T> = *self;
        let mut io: &'a T = this.get_ref();
        this.registration.poll_io(cx, Direction::Write, || io.flush())
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

/// Puts the open file description behind `fd` in non-blocking mode: `ioctl(FIONBIO)`, which
/// works on any descriptor (sockets, pipes, ttys, eventfds), where std offers
/// `set_nonblocking` only on its socket types.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    rustix::io::ioctl_fionbio(fd, true).map_err(io::Error::from)
}
