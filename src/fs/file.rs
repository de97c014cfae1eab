//! `File`: an open file whose reads, writes and seeks run on the goroutine's thread.
//!
//! Each `poll_read`/`poll_write`/`poll_seek` is one std call inside `gmp::syscall` (see
//! `fs/mod.rs`), so a `File` keeps no buffer and no operation in flight between polls: it is
//! always in the state std's `File` is in, and [`File::into_std`] can hand it back at any time.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncSeek, AsyncWrite};

use super::{poll_syscall, run, OpenOptions};
use std::fs::{Metadata, Permissions};

/// An open file on the filesystem: std's [`std::fs::File`] with its calls as futures, and the
/// futures-io [`AsyncRead`], [`AsyncWrite`] and [`AsyncSeek`] traits (also on `&File`, as std
/// implements `Read`, `Write` and `Seek` on `&File`).
///
/// Writes go straight to the file (there is no write buffer to flush), so, as with std, the
/// data is in the OS's page cache when a write returns, and on the disk after
/// [`sync_all`](Self::sync_all).
///
/// # Examples
///
/// ```
/// use futures::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
/// use std::io::SeekFrom;
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let path = std::env::temp_dir().join(format!("gmp-doc-file-{}", std::process::id()));
///     let mut file = gmp::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true)
///         .open(&path).await.unwrap();
///     file.write_all(b"hello, world").await.unwrap();
///     file.seek(SeekFrom::Start(7)).await.unwrap();
///     let mut word = String::new();
///     file.read_to_string(&mut word).await.unwrap();
///     assert_eq!(word, "world");
///     gmp::fs::remove_file(&path).await.unwrap();
/// });
/// ```
pub struct File {
    std: std::fs::File,
}

impl File {
    /// Opens the file at `path` for reading ([`std::fs::File::open`]).
    ///
    /// # Errors
    ///
    /// Those of the std call (`NotFound` for a missing file).
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::io::AsyncReadExt;
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let mut file = gmp::fs::File::open("Cargo.toml").await.unwrap();
    ///     let mut text = String::new();
    ///     file.read_to_string(&mut text).await.unwrap();
    ///     assert!(text.contains("[package]"));
    /// });
    /// ```
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        let std = run("gmp::fs::File::open", || std::fs::File::open(path)).await?;
        Ok(File { std })
    }

    /// Opens the file at `path` for writing, creating it or truncating it
    /// ([`std::fs::File::create`]).
    ///
    /// # Errors
    ///
    /// Those of the std call.
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::io::AsyncWriteExt;
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let path = std::env::temp_dir().join(format!("gmp-doc-create-{}", std::process::id()));
    ///     let mut file = gmp::fs::File::create(&path).await.unwrap();
    ///     file.write_all(b"new").await.unwrap();
    ///     assert_eq!(gmp::fs::read(&path).await.unwrap(), b"new");
    ///     gmp::fs::remove_file(&path).await.unwrap();
    /// });
    /// ```
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        let std = run("gmp::fs::File::create", || std::fs::File::create(path)).await?;
        Ok(File { std })
    }

    /// Creates a new file at `path` for reading and writing; `AlreadyExists` if there is one
    /// ([`std::fs::File::create_new`]).
    ///
    /// # Errors
    ///
    /// Those of the std call.
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let path = std::env::temp_dir().join(format!("gmp-doc-create-new-{}", std::process::id()));
    ///     let _file = gmp::fs::File::create_new(&path).await.unwrap();
    ///     let error = gmp::fs::File::create_new(&path).await.unwrap_err();
    ///     assert_eq!(error.kind(), std::io::ErrorKind::AlreadyExists);
    ///     gmp::fs::remove_file(&path).await.unwrap();
    /// });
    /// ```
    pub async fn create_new(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).write(true).create_new(true).open(path).await
    }

    /// A new [`OpenOptions`], to open a file with other options than
    /// [`open`](Self::open) and [`create`](Self::create) use.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let file = gmp::fs::File::options().read(true).open("Cargo.toml").await.unwrap();
    ///     assert!(file.metadata().await.unwrap().len() > 0);
    /// });
    /// ```
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// The file's metadata ([`std::fs::File::metadata`]).
    ///
    /// # Errors
    ///
    /// Those of the std call.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let file = gmp::fs::File::open("Cargo.toml").await.unwrap();
    ///     assert!(file.metadata().await.unwrap().is_file());
    /// });
    /// ```
    pub async fn metadata(&self) -> io::Result<Metadata> {
        run("gmp::fs::File::metadata", || self.std.metadata()).await
    }

    /// Truncates or extends the file to `size` bytes; the file position does not move
    /// ([`std::fs::File::set_len`]).
    ///
    /// # Errors
    ///
    /// Those of the std call (the file must be open for writing).
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let path = std::env::temp_dir().join(format!("gmp-doc-set-len-{}", std::process::id()));
    ///     let file = gmp::fs::File::create(&path).await.unwrap();
    ///     file.set_len(10).await.unwrap();
    ///     assert_eq!(file.metadata().await.unwrap().len(), 10);
    ///     gmp::fs::remove_file(&path).await.unwrap();
    /// });
    /// ```
    pub async fn set_len(&self, size: u64) -> io::Result<()> {
        run("gmp::fs::File::set_len", || self.std.set_len(size)).await
    }

    /// Flushes the file's data and metadata to the disk ([`std::fs::File::sync_all`]).
    ///
    /// # Errors
    ///
    /// Those of the std call.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::io::AsyncWriteExt;
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let path = std::env::temp_dir().join(format!("gmp-doc-sync-all-{}", std::process::id()));
    ///     let mut file = gmp::fs::File::create(&path).await.unwrap();
    ///     file.write_all(b"durable").await.unwrap();
    ///     file.sync_all().await.unwrap();
    ///     gmp::fs::remove_file(&path).await.unwrap();
    /// });
    /// ```
    pub async fn sync_all(&self) -> io::Result<()> {
        run("gmp::fs::File::sync_all", || self.std.sync_all()).await
    }

    /// Flushes the file's data (and only the metadata needed to read it back) to the disk
    /// ([`std::fs::File::sync_data`]).
    ///
    /// # Errors
    ///
    /// Those of the std call.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let path = std::env::temp_dir().join(format!("gmp-doc-sync-data-{}", std::process::id()));
    ///     let file = gmp::fs::File::create(&path).await.unwrap();
    ///     file.sync_data().await.unwrap();
    ///     gmp::fs::remove_file(&path).await.unwrap();
    /// });
    /// ```
    pub async fn sync_data(&self) -> io::Result<()> {
        run("gmp::fs::File::sync_data", || self.std.sync_data()).await
    }

    /// Changes the file's permissions ([`std::fs::File::set_permissions`]).
    ///
    /// # Errors
    ///
    /// Those of the std call.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let path = std::env::temp_dir().join(format!("gmp-doc-file-perm-{}", std::process::id()));
    ///     let file = gmp::fs::File::create(&path).await.unwrap();
    ///     let mut permissions = file.metadata().await.unwrap().permissions();
    ///     permissions.set_readonly(true);
    ///     file.set_permissions(permissions).await.unwrap();
    ///     assert!(file.metadata().await.unwrap().permissions().readonly());
    ///     gmp::fs::remove_file(&path).await.unwrap();
    /// });
    /// ```
    pub async fn set_permissions(&self, permissions: Permissions) -> io::Result<()> {
        run("gmp::fs::File::set_permissions", || self.std.set_permissions(permissions)).await
    }

    /// A second handle to the same open file, sharing its position
    /// ([`std::fs::File::try_clone`]).
    ///
    /// # Errors
    ///
    /// Those of the std call (out of file descriptors).
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let file = gmp::fs::File::open("Cargo.toml").await.unwrap();
    ///     let clone = file.try_clone().await.unwrap();
    ///     assert_eq!(clone.metadata().await.unwrap().len(), file.metadata().await.unwrap().len());
    /// });
    /// ```
    pub async fn try_clone(&self) -> io::Result<File> {
        let std = run("gmp::fs::File::try_clone", || self.std.try_clone()).await?;
        Ok(File { std })
    }

    /// Wraps a std file (no system call).
    ///
    /// # Examples
    ///
    /// ```
    /// let file = gmp::fs::File::from_std(std::fs::File::open("Cargo.toml").unwrap());
    /// drop(file);
    /// ```
    pub fn from_std(std: std::fs::File) -> File {
        File { std }
    }

    /// The std file inside (no system call; a `File` has no operation in flight between polls).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let file = gmp::fs::File::open("Cargo.toml").await.unwrap();
    ///     let mut text = String::new();
    ///     file.into_std().read_to_string(&mut text).unwrap();
    ///     assert!(text.contains("[package]"));
    /// });
    /// ```
    pub fn into_std(self) -> std::fs::File {
        self.std
    }

    /// The std file inside, by reference; use it for calls this type does not offer, inside
    /// [`gmp::syscall`](crate::syscall) if they may block.
    pub fn as_std(&self) -> &std::fs::File {
        &self.std
    }
}

impl From<std::fs::File> for File {
    fn from(std: std::fs::File) -> File {
        File { std }
    }
}

impl From<File> for std::fs::File {
    fn from(file: File) -> std::fs::File {
        file.std
    }
}

impl From<File> for OwnedFd {
    fn from(file: File) -> OwnedFd {
        file.std.into()
    }
}

impl From<OwnedFd> for File {
    fn from(fd: OwnedFd) -> File {
        File { std: fd.into() }
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.std.as_fd()
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.std.as_raw_fd()
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File").field("std", &self.std).finish()
    }
}

/// The futures-io impls, written once for `File` and `&File` (std implements `Read`, `Write`
/// and `Seek` on both).
macro_rules! file_io {
    ($($ty:ty => |$this:ident| $std:expr;)*) => {$(
        impl AsyncRead for $ty {
            fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
                let $this = self.get_mut();
                poll_syscall(cx, "gmp::fs::File::poll_read", || $std.read(buf))
            }

            fn poll_read_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &mut [IoSliceMut<'_>],
            ) -> Poll<io::Result<usize>> {
                let $this = self.get_mut();
                poll_syscall(cx, "gmp::fs::File::poll_read_vectored", || $std.read_vectored(bufs))
            }
        }

        impl AsyncWrite for $ty {
            fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
                let $this = self.get_mut();
                poll_syscall(cx, "gmp::fs::File::poll_write", || $std.write(buf))
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                let $this = self.get_mut();
                poll_syscall(cx, "gmp::fs::File::poll_write_vectored", || $std.write_vectored(bufs))
            }

            /// A write is in the OS when it returns: nothing to flush (as std's `File::flush`).
            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }

            /// Nothing to flush; the descriptor closes when the `File` drops.
            fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
        }

        impl AsyncSeek for $ty {
            fn poll_seek(self: Pin<&mut Self>, cx: &mut Context<'_>, pos: SeekFrom) -> Poll<io::Result<u64>> {
                let $this = self.get_mut();
                poll_syscall(cx, "gmp::fs::File::poll_seek", || $std.seek(pos))
            }
        }
    )*};
}

file_io! {
    File => |this| this.std;
    &File => |this| (&this.std);
}
