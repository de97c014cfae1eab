//! `read_dir`: a directory's entries as a `futures::Stream`.
//!
//! std's `ReadDir` reads entries from the kernel in batches (`getdents64` fills a buffer), so
//! most `next` calls make no system call; each one still goes through `gmp::syscall`, which is
//! cheap to enter and covers the call that does refill the buffer.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;

use super::{poll_syscall, run};
use std::fs::{FileType, Metadata};

/// Opens the directory at `path` to list its entries ([`std::fs::read_dir`]). The entries come
/// in no particular order and leave out `.` and `..`.
///
/// # Errors
///
/// Those of the std call (`NotFound`; `NotADirectory`-like errors for a file).
///
/// # Panics
///
/// Outside a gmp runtime.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let mut entries = gmp::fs::read_dir("src").await.unwrap();
///     let mut names = Vec::new();
///     while let Some(entry) = entries.next().await {
///         names.push(entry.unwrap().file_name());
///     }
///     assert!(names.iter().any(|name| name == "lib.rs"));
/// });
/// ```
pub async fn read_dir(path: impl AsRef<Path>) -> io::Result<ReadDir> {
    let std = run("gmp::fs::read_dir", || std::fs::read_dir(path)).await?;
    Ok(ReadDir { std: Some(std) })
}

/// The entries of a directory, from [`read_dir`]: a [`Stream`] of `io::Result<DirEntry>`, or
/// one entry at a time with [`next_entry`](Self::next_entry).
#[derive(Debug)]
pub struct ReadDir {
    /// `None` once the listing ended.
    std: Option<std::fs::ReadDir>,
}

impl ReadDir {
    /// The next entry, or `None` at the end of the directory.
    ///
    /// # Errors
    ///
    /// An error reading the directory (the stream may go on after it, as std's does).
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let mut entries = gmp::fs::read_dir("src").await.unwrap();
    ///     let mut count = 0;
    ///     while let Some(_entry) = entries.next_entry().await.unwrap() {
    ///         count += 1;
    ///     }
    ///     assert!(count > 0);
    /// });
    /// ```
    pub async fn next_entry(&mut self) -> io::Result<Option<DirEntry>> {
        std::future::poll_fn(|cx| self.poll_next_entry(cx)).await
    }

    /// Polls for the next entry (see [`next_entry`](Self::next_entry)).
    pub fn poll_next_entry(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<DirEntry>>> {
        let Some(std) = self.std.as_mut() else { return Poll::Ready(Ok(None)) };
        let next = match poll_syscall(cx, "gmp::fs::ReadDir::next_entry", || std.next()) {
            Poll::Ready(next) => next,
            Poll::Pending => return Poll::Pending,
        };
        Poll::Ready(match next {
            Some(entry) => entry.map(|std| Some(DirEntry { std })),
            None => {
                self.std = None;
                Ok(None)
            }
        })
    }
}

impl Stream for ReadDir {
    type Item = io::Result<DirEntry>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_entry(cx).map(Result::transpose)
    }
}

/// One entry of a [`ReadDir`]: std's [`std::fs::DirEntry`], with the calls that may touch the
/// disk as futures.
///
/// # Examples
///
/// ```
/// gmp::Runtime::new().unwrap().block_on(async {
///     let mut entries = gmp::fs::read_dir(".").await.unwrap();
///     while let Some(entry) = entries.next_entry().await.unwrap() {
///         if entry.file_name() == "Cargo.toml" {
///             assert!(entry.file_type().await.unwrap().is_file());
///             assert!(entry.metadata().await.unwrap().len() > 0);
///             assert!(entry.path().ends_with("Cargo.toml"));
///         }
///     }
/// });
/// ```
#[derive(Debug)]
pub struct DirEntry {
    std: std::fs::DirEntry,
}

impl DirEntry {
    /// The entry's full path: the directory given to [`read_dir`] joined with the file name.
    pub fn path(&self) -> PathBuf {
        self.std.path()
    }

    /// The entry's file name, without any leading path.
    pub fn file_name(&self) -> OsString {
        self.std.file_name()
    }

    /// The entry's inode number (Unix).
    #[cfg(unix)]
    pub fn ino(&self) -> u64 {
        std::os::unix::fs::DirEntryExt::ino(&self.std)
    }

    /// The entry's metadata, not following a symbolic link ([`std::fs::DirEntry::metadata`]).
    ///
    /// # Errors
    ///
    /// Those of the std call (the file may have been removed since the listing).
    pub async fn metadata(&self) -> io::Result<Metadata> {
        run("gmp::fs::DirEntry::metadata", || self.std.metadata()).await
    }

    /// The entry's file type, usually known from the listing without a system call
    /// ([`std::fs::DirEntry::file_type`]).
    ///
    /// # Errors
    ///
    /// Those of the std call.
    pub async fn file_type(&self) -> io::Result<FileType> {
        run("gmp::fs::DirEntry::file_type", || self.std.file_type()).await
    }

    /// The std entry inside.
    pub fn into_std(self) -> std::fs::DirEntry {
        self.std
    }
}
