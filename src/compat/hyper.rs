//! hyper 1.x on gmp (feature `hyper`): [`GmpExecutor`] (`hyper::rt::Executor`), [`GmpTimer`]
//! (`hyper::rt::Timer`), and `hyper::rt::Read`/`Write` on [`TcpStream`] and [`UnixStream`].
//!
//! hyper's servers and clients, hyper-util's `auto::Builder` (HTTP/1.1 and h2c on one port),
//! axum's `Router` and tonic's `Routes` need nothing else. Give hyper the timer: without one it
//! disables HTTP/1's header-read timeout, and setting that timeout without a timer panics.
//!
//! Reads go straight into hyper's uninitialised buffer (`ReadBufCursor`), writes of several
//! buffers are one `writev`.
//!
//! # Examples
//!
//! An HTTP/1.1 server and client, both on gmp:
//!
//! ```
//! use std::convert::Infallible;
//! use std::time::Duration;
//!
//! use bytes::Bytes;
//! use gmp::compat::hyper::{GmpExecutor, GmpTimer};
//! use gmp::net::{TcpListener, TcpStream};
//! use http_body_util::{BodyExt, Full};
//! use hyper::{server, service::service_fn, Request, Response};
//!
//! gmp::Runtime::new().unwrap().block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     gmp::spawn(async move {
//!         let (stream, _) = listener.accept().await.unwrap();
//!         let hello = service_fn(|_: Request<hyper::body::Incoming>| async {
//!             Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello"))))
//!         });
//!         server::conn::http1::Builder::new()
//!             .timer(GmpTimer)
//!             .header_read_timeout(Duration::from_secs(5))
//!             .serve_connection(stream, hello)
//!             .await
//!             .unwrap();
//!     });
//!
//!     let stream = TcpStream::connect(addr).await.unwrap();
//!     let (mut sender, connection) = hyper::client::conn::http1::handshake(stream).await.unwrap();
//!     gmp::spawn(connection);
//!     let request = Request::get("/").header("host", "localhost").body(Full::new(Bytes::new())).unwrap();
//!     let response = sender.send_request(request).await.unwrap();
//!     let body = response.into_body().collect().await.unwrap().to_bytes();
//!     assert_eq!(&body[..], b"hello");
//! });
//! ```

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use hyper::rt::ReadBufCursor;

use crate::net::{TcpStream, UnixStream};

/// hyper's executor on gmp: every future hyper hands it (an HTTP/2 stream, a client's
/// connection task) becomes a goroutine of the current runtime.
///
/// # Panics
///
/// `execute` panics outside a gmp runtime, as [`gmp::spawn`](crate::spawn) does; hyper calls
/// it from the connection future, so serve connections from goroutines.
///
/// # Examples
///
/// ```
/// use hyper::rt::Executor;
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let (sender, receiver) = futures::channel::oneshot::channel();
///     gmp::compat::hyper::GmpExecutor.execute(async move { sender.send(7).unwrap() });
///     assert_eq!(receiver.await.unwrap(), 7);
/// });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct GmpExecutor;

impl<F> hyper::rt::Executor<F> for GmpExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    #[track_caller]
    fn execute(&self, future: F) {
        drop(crate::spawn(future));
    }
}

/// hyper's timer on gmp: [`gmp::time::Sleep`](crate::time::Sleep)s on the runtime's timer
/// heaps. `reset` moves the existing timer instead of allocating a new one.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use hyper::rt::Timer;
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let start = Instant::now();
///     gmp::compat::hyper::GmpTimer.sleep(Duration::from_millis(5)).await;
///     assert!(start.elapsed() >= Duration::from_millis(5));
/// });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct GmpTimer;

impl hyper::rt::Timer for GmpTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(GmpSleep(crate::time::sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(GmpSleep(crate::time::sleep_until(deadline)))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<GmpSleep>() {
            Some(mut ours) => ours.0.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// A gmp sleep as a `hyper::rt::Sleep`.
#[derive(Debug)]
struct GmpSleep(crate::time::Sleep);

impl Future for GmpSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl hyper::rt::Sleep for GmpSleep {}

/// `hyper::rt::Read` and `Write` for a gmp stream type.
macro_rules! hyper_io {
    ($ty:ty) => {
        impl hyper::rt::Read for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                mut buf: ReadBufCursor<'_>,
            ) -> Poll<io::Result<()>> {
                // SAFETY: the slice is handed only to read(2), which writes into it and never
                // reads it; nothing de-initialises bytes hyper already counts as initialised.
                let unfilled = unsafe { buf.as_mut() };
                let n = ready!(super::poll_read_uninit(self.registered(), cx, unfilled))?;
                // SAFETY: the kernel wrote the first `n` bytes of the unfilled part.
                unsafe { buf.advance(n) };
                Poll::Ready(Ok(()))
            }
        }

        impl hyper::rt::Write for $ty {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                super::poll_write(self.registered(), cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                super::poll_write_vectored(self.registered(), cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                super::poll_shutdown(self.registered())
            }
        }
    };
}

hyper_io!(TcpStream);
hyper_io!(UnixStream);
