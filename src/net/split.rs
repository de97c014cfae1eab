//! The halves of a split stream, written once for `TcpStream` and `UnixStream`.
//!
//! A gmp stream reads and writes through `&self` (each direction parks its own wakers in the
//! netpoller), so splitting needs no lock: the borrowed halves hold `&Stream`, the owned halves
//! an `Arc<Stream>`. Each half forwards to the stream's own polls, so a half behaves exactly
//! as the stream does in its direction. Dropping an owned write half shuts down the write
//! side (the peer reads end of stream) unless it was [`forget`]-ed or reunited, as tokio's
//! does; the stream itself closes when both owned halves are gone.
//!
//! [`forget`]: crate::net::tcp::OwnedWriteHalf::forget

/// `stream_halves!(Stream, Address, "setup")` defines `ReadHalf`, `WriteHalf`, `OwnedReadHalf`,
/// `OwnedWriteHalf` and `ReuniteError` for `Stream` in the calling module. `Address` is what
/// `local_addr`/`peer_addr` return; `setup` is doctest code, run inside `block_on`, that binds
/// two connected streams `client` and `server`.
macro_rules! stream_halves {
    ($stream:ident, $address:ty, $setup:literal) => {
        #[doc = concat!("The read half of a stream borrowed by [`split`](crate::net::", stringify!($stream), "::split): [`AsyncRead`](futures::io::AsyncRead) and the stream's non-waiting reads.")]
        ///
        /// # Examples
        ///
        /// ```
        /// use futures::io::{AsyncReadExt, AsyncWriteExt};
        ///
        /// gmp::Runtime::new().unwrap().block_on(async {
        #[doc = $setup]
        ///     let (mut server, mut client) = (server, client);
        ///     let (mut reader, mut writer) = client.split();
        ///     let (sent, received) = futures::join!(
        ///         async { writer.write_all(b"to server").await.unwrap() },
        ///         async {
        ///             server.write_all(b"to client").await.unwrap();
        ///             let mut buf = [0u8; 9];
        ///             reader.read_exact(&mut buf).await.unwrap();
        ///             buf
        ///         },
        ///     );
        ///     assert_eq!(&received, b"to client");
        ///     let mut buf = [0u8; 9];
        ///     server.read_exact(&mut buf).await.unwrap();
        ///     assert_eq!(&buf, b"to server");
        ///     let _ = sent;
        /// });
        /// ```
        #[derive(Debug)]
        pub struct ReadHalf<'a> {
            stream: &'a $stream,
        }

        #[doc = concat!("The write half of a stream borrowed by [`split`](crate::net::", stringify!($stream), "::split): [`AsyncWrite`](futures::io::AsyncWrite) (closing shuts down the write")]
        /// side) and the stream's non-waiting writes.
        ///
        /// # Examples
        ///
        /// ```
        /// use futures::io::{AsyncReadExt, AsyncWriteExt};
        ///
        /// gmp::Runtime::new().unwrap().block_on(async {
        #[doc = $setup]
        ///     let (mut server, mut client) = (server, client);
        ///     let (_reader, mut writer) = client.split();
        ///     writer.write_all(b"bye").await.unwrap();
        ///     writer.close().await.unwrap();
        ///     let mut text = String::new();
        ///     server.read_to_string(&mut text).await.unwrap();
        ///     assert_eq!(text, "bye");
        /// });
        /// ```
        #[derive(Debug)]
        pub struct WriteHalf<'a> {
            stream: &'a $stream,
        }

        #[doc = concat!("The read half of a stream split by [`into_split`](crate::net::", stringify!($stream), "::into_split), to move into a goroutine of its own.")]
        ///
        /// # Examples
        ///
        /// ```
        /// use futures::io::{AsyncReadExt, AsyncWriteExt};
        ///
        /// gmp::Runtime::new().unwrap().block_on(async {
        #[doc = $setup]
        ///     let mut server = server;
        ///     let (mut reader, writer) = client.into_split();
        ///     let received = gmp::spawn(async move {
        ///         let mut buf = [0u8; 5];
        ///         reader.read_exact(&mut buf).await.unwrap();
        ///         buf
        ///     });
        ///     server.write_all(b"hello").await.unwrap();
        ///     assert_eq!(&received.await.unwrap(), b"hello");
        ///     drop(writer);
        /// });
        /// ```
        #[derive(Debug)]
        pub struct OwnedReadHalf {
            stream: std::sync::Arc<$stream>,
        }

        #[doc = concat!("The write half of a stream split by [`into_split`](crate::net::", stringify!($stream), "::into_split), to move into a goroutine of its own. Dropping it shuts down the")]
        /// write side (the peer reads end of stream), unless it was [`forget`](Self::forget)-ed
        /// or reunited.
        ///
        /// # Examples
        ///
        /// ```
        /// use futures::io::{AsyncReadExt, AsyncWriteExt};
        ///
        /// gmp::Runtime::new().unwrap().block_on(async {
        #[doc = $setup]
        ///     let mut server = server;
        ///     let (_reader, mut writer) = client.into_split();
        ///     gmp::spawn(async move {
        ///         writer.write_all(b"hello").await.unwrap();
        ///         // Dropped here: the server reads end of stream after the bytes.
        ///     });
        ///     let mut text = String::new();
        ///     server.read_to_string(&mut text).await.unwrap();
        ///     assert_eq!(text, "hello");
        /// });
        /// ```
        #[derive(Debug)]
        pub struct OwnedWriteHalf {
            stream: std::sync::Arc<$stream>,
            shutdown_on_drop: bool,
        }

        /// [`OwnedReadHalf::reunite`] or [`OwnedWriteHalf::reunite`] was given halves of two
        /// different streams; both are handed back.
        ///
        /// # Examples
        ///
        /// ```
        /// gmp::Runtime::new().unwrap().block_on(async {
        #[doc = $setup]
        ///     let (read_a, _write_a) = client.into_split();
        ///     let (_read_b, write_b) = server.into_split();
        ///     let error = read_a.reunite(write_b).unwrap_err();
        ///     let (_read_a, _write_b) = (error.0, error.1);
        /// });
        /// ```
        #[derive(Debug)]
        pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

        impl std::fmt::Display for ReuniteError {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("tried to reunite halves that are not from the same stream")
            }
        }

        impl std::error::Error for ReuniteError {}

        impl<'a> ReadHalf<'a> {
            pub(super) fn new(stream: &'a $stream) -> Self {
                Self { stream }
            }
        }

        impl<'a> WriteHalf<'a> {
            pub(super) fn new(stream: &'a $stream) -> Self {
                Self { stream }
            }
        }

        impl OwnedReadHalf {
            pub(super) fn new(stream: std::sync::Arc<$stream>) -> Self {
                Self { stream }
            }

            /// Puts the stream back together from its two halves.
            ///
            /// # Errors
            ///
            /// [`ReuniteError`], holding both halves, if they are not from the same stream.
            ///
            /// # Examples
            ///
            /// ```
            /// gmp::Runtime::new().unwrap().block_on(async {
            #[doc = $setup]
            ///     let (reader, writer) = client.into_split();
            ///     let client = reader.reunite(writer).unwrap();
            ///     drop((client, server));
            /// });
            /// ```
            pub fn reunite(self, other: OwnedWriteHalf) -> Result<$stream, ReuniteError> {
                reunite(self, other)
            }
        }

        impl OwnedWriteHalf {
            pub(super) fn new(stream: std::sync::Arc<$stream>) -> Self {
                Self { stream, shutdown_on_drop: true }
            }

            /// Puts the stream back together from its two halves (see
            /// [`OwnedReadHalf::reunite`]).
            ///
            /// # Errors
            ///
            /// [`ReuniteError`], holding both halves, if they are not from the same stream.
            ///
            /// # Examples
            ///
            /// ```
            /// gmp::Runtime::new().unwrap().block_on(async {
            #[doc = $setup]
            ///     let (reader, writer) = client.into_split();
            ///     let client = writer.reunite(reader).unwrap();
            ///     drop((client, server));
            /// });
            /// ```
            pub fn reunite(self, other: OwnedReadHalf) -> Result<$stream, ReuniteError> {
                reunite(other, self)
            }

            /// Drops the write half without shutting down the write side: the stream stays
            /// open for writing until the read half is dropped too.
            ///
            /// # Examples
            ///
            /// ```
            /// gmp::Runtime::new().unwrap().block_on(async {
            #[doc = $setup]
            ///     let (reader, writer) = client.into_split();
            ///     writer.forget();
            ///     drop((reader, server));
            /// });
            /// ```
            pub fn forget(mut self) {
                self.shutdown_on_drop = false;
            }
        }

        impl Drop for OwnedWriteHalf {
            fn drop(&mut self) {
                if self.shutdown_on_drop {
                    let _ = self.stream.shutdown(std::net::Shutdown::Write);
                }
            }
        }

        fn reunite(read: OwnedReadHalf, mut write: OwnedWriteHalf) -> Result<$stream, ReuniteError> {
            if !std::sync::Arc::ptr_eq(&read.stream, &write.stream) {
                return Err(ReuniteError(read, write));
            }
            write.shutdown_on_drop = false;
            drop(write);
            Ok(std::sync::Arc::into_inner(read.stream).expect("the two halves are a stream's only owners"))
        }

        stream_halves!(@read ReadHalf<'_>, $stream, $address);
        stream_halves!(@read OwnedReadHalf, $stream, $address);
        stream_halves!(@write WriteHalf<'_>, $stream, $address);
        stream_halves!(@write OwnedWriteHalf, $stream, $address);
    };

    (@common $half:ty, $stream:ident, $address:ty) => {
        impl $half {
            /// The local address of the stream.
            pub fn local_addr(&self) -> std::io::Result<$address> {
                self.stream.local_addr()
            }

            /// The peer's address.
            pub fn peer_addr(&self) -> std::io::Result<$address> {
                self.stream.peer_addr()
            }
        }

        impl AsRef<$stream> for $half {
            fn as_ref(&self) -> &$stream {
                &self.stream
            }
        }
    };

    (@read $half:ty, $stream:ident, $address:ty) => {
        stream_halves!(@common $half, $stream, $address);

        impl $half {
            #[doc = concat!("Waits until the stream may be read without blocking (see [`", stringify!($stream), "::readable`](crate::net::", stringify!($stream), "::readable)).")]
            pub async fn readable(&self) -> std::io::Result<()> {
                self.stream.readable().await
            }

            /// Polls for read readiness.
            pub fn poll_read_ready(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
                self.stream.poll_read_ready(cx)
            }

            #[doc = concat!("Reads without waiting (see [`", stringify!($stream), "::try_read`](crate::net::", stringify!($stream), "::try_read)).")]
            pub fn try_read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.stream.try_read(buf)
            }

            /// Reads into several buffers without waiting.
            pub fn try_read_vectored(&self, bufs: &mut [std::io::IoSliceMut<'_>]) -> std::io::Result<usize> {
                self.stream.try_read_vectored(bufs)
            }
        }

        impl futures::io::AsyncRead for $half {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.stream.poll_read_priv(cx, buf)
            }

            fn poll_read_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.stream.poll_read_vectored_priv(cx, bufs)
            }
        }
    };

    (@write $half:ty, $stream:ident, $address:ty) => {
        stream_halves!(@common $half, $stream, $address);

        impl $half {
            #[doc = concat!("Waits until the stream may be written without blocking (see [`", stringify!($stream), "::writable`](crate::net::", stringify!($stream), "::writable)).")]
            pub async fn writable(&self) -> std::io::Result<()> {
                self.stream.writable().await
            }

            /// Polls for write readiness.
            pub fn poll_write_ready(&self, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
                self.stream.poll_write_ready(cx)
            }

            #[doc = concat!("Writes without waiting (see [`", stringify!($stream), "::try_write`](crate::net::", stringify!($stream), "::try_write)).")]
            pub fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
                self.stream.try_write(buf)
            }

            /// Writes from several buffers without waiting.
            pub fn try_write_vectored(&self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                self.stream.try_write_vectored(bufs)
            }
        }

        impl futures::io::AsyncWrite for $half {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.stream.poll_write_priv(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.stream.poll_write_vectored_priv(cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            /// Shuts down the write side.
            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.stream.poll_close_priv()
            }
        }
    };
}
