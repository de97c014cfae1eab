//! tokio's I/O traits on gmp (feature `tokio-io`): `tokio::io::AsyncRead` and `AsyncWrite` on
//! [`TcpStream`], `&TcpStream`, [`UnixStream`] and `&UnixStream`, and on the halves of
//! `split` / `into_split` (`AsyncRead` on the read halves, `AsyncWrite` on the write halves;
//! shutting down a write half shuts down the stream's write side).
//!
//! Only the traits: tokio is built with its default features off, so no tokio runtime, reactor
//! or timer comes with them. Crates written against the traits alone (tokio-util's codecs,
//! tokio-rustls, `tokio::io::{copy, split, BufReader}`-style helpers from tokio's `io-util`
//! feature) then run on gmp's netpoller. Reads go straight into the `ReadBuf`'s uninitialised
//! part.
//!
//! # Examples
//!
//! ```
//! use std::pin::Pin;
//! use std::future::poll_fn;
//! use gmp::net::{TcpListener, TcpStream};
//! use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
//!
//! gmp::Runtime::new().unwrap().block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     gmp::spawn(async move {
//!         let (mut stream, _) = listener.accept().await.unwrap();
//!         poll_fn(|cx| Pin::new(&mut stream).poll_write(cx, b"hi")).await.unwrap();
//!     });
//!     let mut stream = TcpStream::connect(addr).await.unwrap();
//!     let mut storage = [0u8; 2];
//!     let mut buf = ReadBuf::new(&mut storage);
//!     while buf.remaining() > 0 {
//!         poll_fn(|cx| Pin::new(&mut stream).poll_read(cx, &mut buf)).await.unwrap();
//!     }
//!     assert_eq!(buf.filled(), b"hi");
//! });
//! ```

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::net::{tcp, unix, TcpStream, UnixStream};

/// `AsyncRead` and `AsyncWrite` for a gmp stream type (`$ty`) or a shared reference to one.
macro_rules! tokio_io {
    ($ty:ty) => {
        impl AsyncRead for $ty {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
                // SAFETY: the slice is handed only to read(2), which writes into it and never
                // reads it; nothing de-initialises bytes the `ReadBuf` counts as initialised.
                let unfilled = unsafe { buf.unfilled_mut() };
                let n = ready!(super::poll_read_uninit(self.registered(), cx, unfilled))?;
                // SAFETY: the kernel wrote the first `n` bytes of the unfilled part.
                unsafe { buf.assume_init(n) };
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
        }

        impl AsyncWrite for $ty {
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

tokio_io!(TcpStream);
tokio_io!(&TcpStream);
tokio_io!(UnixStream);
tokio_io!(&UnixStream);

/// `AsyncRead` for a read half and `AsyncWrite` for a write half of `$stream`: each goes
/// through the `&$stream` implementation above (a half is a shared view of its stream).
macro_rules! tokio_io_halves {
    ($module:ident, $stream:ty) => {
        tokio_io_halves!(@read $module::ReadHalf<'_>, $stream);
        tokio_io_halves!(@read $module::OwnedReadHalf, $stream);
        tokio_io_halves!(@write $module::WriteHalf<'_>, $stream);
        tokio_io_halves!(@write $module::OwnedWriteHalf, $stream);
    };
    (@read $half:ty, $stream:ty) => {
        impl AsyncRead for $half {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
                let mut stream: &$stream = (*self).as_ref();
                Pin::new(&mut stream).poll_read(cx, buf)
            }
        }
    };
    (@write $half:ty, $stream:ty) => {
        impl AsyncWrite for $half {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                let mut stream: &$stream = (*self).as_ref();
                Pin::new(&mut stream).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                let mut stream: &$stream = (*self).as_ref();
                Pin::new(&mut stream).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                true
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let mut stream: &$stream = (*self).as_ref();
                Pin::new(&mut stream).poll_shutdown(cx)
            }
        }
    };
}

tokio_io_halves!(tcp, TcpStream);
tokio_io_halves!(unix, UnixStream);
