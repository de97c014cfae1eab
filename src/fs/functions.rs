//! std::fs's free functions as futures that run on the goroutine's thread (see `fs/mod.rs`).

use std::io;
use std::path::{Path, PathBuf};

use super::run;
use std::fs::{Metadata, Permissions};

/// Reads the whole file at `path` into a vector ([`std::fs::read`]).
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
/// # gmp::Runtime::new().unwrap().block_on(async {
/// # let dir = std::env::temp_dir().join(format!("gmp-doc-read-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir(&dir).unwrap();
/// gmp::fs::write(dir.join("a"), b"bytes").await.unwrap();
/// assert_eq!(gmp::fs::read(dir.join("a")).await.unwrap(), b"bytes");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    run("gmp::fs::read", || std::fs::read(path)).await
}

/// Reads the whole file at `path` into a string ([`std::fs::read_to_string`]); text that is not
/// UTF-8 is an `InvalidData` error.
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
/// # gmp::Runtime::new().unwrap().block_on(async {
/// # let dir = std::env::temp_dir().join(format!("gmp-doc-read_to_string-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir(&dir).unwrap();
/// gmp::fs::write(dir.join("a"), "text").await.unwrap();
/// assert_eq!(gmp::fs::read_to_string(dir.join("a")).await.unwrap(), "text");
/// gmp::fs::write(dir.join("b"), [0xff, 0xfe]).await.unwrap();
/// let error = gmp::fs::read_to_string(dir.join("b")).await.unwrap_err();
/// assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    run("gmp::fs::read_to_string", || std::fs::read_to_string(path)).await
}

/// Writes `contents` to the file at `path`, creating or truncating it ([`std::fs::write`]).
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
/// # gmp::Runtime::new().unwrap().block_on(async {
/// # let dir = std::env::temp_dir().join(format!("gmp-doc-write-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir(&dir).unwrap();
/// gmp::fs::write(dir.join("a"), "first").await.unwrap();
/// gmp::fs::write(dir.join("a"), "second").await.unwrap();
/// assert_eq!(gmp::fs::read_to_string(dir.join("a")).await.unwrap(), "second");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    run("gmp::fs::write", || std::fs::write(path, contents)).await
}

/// Copies the contents and permissions of `from` to `to`, returning the bytes copied
/// ([`std::fs::copy`]).
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
/// # gmp::Runtime::new().unwrap().block_on(async {
/// # let dir = std::env::temp_dir().join(format!("gmp-doc-copy-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir(&dir).unwrap();
/// gmp::fs::write(dir.join("a"), "copied").await.unwrap();
/// assert_eq!(gmp::fs::copy(dir.join("a"), dir.join("b")).await.unwrap(), 6);
/// assert_eq!(gmp::fs::read(dir.join("b")).await.unwrap(), b"copied");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    run("gmp::fs::copy", || std::fs::copy(from, to)).await
}

/// Renames `from` to `to`, replacing `to` if it is a file ([`std::fs::rename`]).
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
/// # gmp::Runtime::new().unwrap().block_on(async {
/// # let dir = std::env::temp_dir().join(format!("gmp-doc-rename-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir(&dir).unwrap();
/// gmp::fs::write(dir.join("a"), "moved").await.unwrap();
/// gmp::fs::rename(dir.join("a"), dir.join("b")).await.unwrap();
/// assert!(!gmp::fs::try_exists(dir.join("a")).await.unwrap());
/// assert_eq!(gmp::fs::read(dir.join("b")).await.unwrap(), b"moved");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    run("gmp::fs::rename", || std::fs::rename(from, to)).await
}

/// Removes the file at `path` ([`std::fs::remove_file`]).
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
/// # gmp::Runtime::new().unwrap().block_on(async {
/// # let dir = std::env::temp_dir().join(format!("gmp-doc-remove_file-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir(&dir).unwrap();
/// gmp::fs::write(dir.join("a"), "").await.unwrap();
/// gmp::fs::remove_file(dir.join("a")).await.unwrap();
/// let error = gmp::fs::remove_file(dir.join("a")).await.unwrap_err();
/// assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    run("gmp::fs::remove_file", || std::fs::remove_file(path)).await
}

/// Removes the empty directory at `path` ([`std::fs::remove_dir`]).
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
/// # gmp::Runtime::new().unwrap().block_on(async {
/// # let dir = std::env::temp_dir().join(format!("gmp-doc-remove_dir-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir(&dir).unwrap();
/// gmp::fs::create_dir(dir.join("empty")).await.unwrap();
/// gmp::fs::remove_dir(dir.join("empty")).await.unwrap();
/// assert!(!gmp::fs::try_exists(dir.join("empty")).await.unwrap());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    run("gmp::fs::remove_dir", || std::fs::remove_dir(path)).await
}

/// Removes the directory at `path` and everything in it ([`std::fs::remove_dir_all`]).
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
/// # gmp::Runtime::new().unwrap().block_on(async {
/// # let dir = std::env::temp_dir().join(format!("gmp-doc-remove_dir_all-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir(&dir).unwrap();
/// gmp::fs::create_dir_all(dir.join("a/b/c")).await.unwrap();
/// gmp::fs::write(dir.join("a/b/c/file"), "").await.unwrap();
/// gmp::fs::remove_dir_all(dir.join("a")).await.unwrap();
/// assert!(!gmp::fs::try_exists(dir.join("a")).await.unwrap());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
pub async fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    run("gmp::fs::remove_dir_all", || std::fs::remove_dir_all(path)).await
}

/// Creates the directory `path`; its parent must exist ([`std::fs::create_dir`]).
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
/// # gmp::Runtime::new().unwrap().block_on(async {
/// # let dir = std::env::temp_dir().join(format!("gmp-doc-create_dir-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir(&dir).unwrap();
/// gmp::fs::create_dir(dir.join("new")).await.unwrap();
/// assert!(gmp::fs::metadata(dir.join("new")).await.unwrap().is_dir());
/// let error = gmp::fs::create_dir(dir.join("new")).await.unwrap_err();
/// assert_eq!(error.kind(), std::io::ErrorKind::AlreadyExists);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    run("gmp::fs::create_dir", || std::fs::create_dir(path)).await
}

/// Creates the directory `path` and any missing parents ([`std::fs::create_dir_all`]).
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
/// # gmp::Runtime::new().unwrap().block_on(async {
/// # let dir = std::env::temp_dir().join(format!("gmp-doc-create_dir_all-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir(&dir).unwrap();
/// gmp::fs::create_dir_all(dir.join("x/y/z")).await.unwrap();
/// assert!(gmp::fs::metadata(dir.join("x/y/z")).await.unwrap().is_dir());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    run("gmp::fs::create_dir_all", || std::fs::create_dir_all(path)).await
}

/// The metadata of `path`, following symbolic links ([`std::fs::metadata`]).
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
/// # gmp::Runtime::new().unwrap().block_on(async {
/// # let dir = std::env::temp_dir().join(format!("gmp-doc-metadata-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir(&dir).unwrap();
/// gmp::fs::write(dir.join("a"), "four").await.unwrap();
/// let metadata = gmp::fs::metadata(dir.join("a")).await.unwrap();
/// assert!(metadata.is_file());
/// assert_eq!(metadata.len(), 4);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    run("gmp::fs::metadata", || std::fs::metadata(path)).await
}

/// The metadata of `path` itself, not following a symbolic link ([`std::fs::symlink_metadata`]).
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
/// # gmp::Runtime::new().unwrap().block_on(async {
/// # let dir = std::env::temp_dir().join(format!("gmp-doc-symlink_metadata-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir(&dir).unwrap();
/// gmp::fs::write(dir.join("target"), "").await.unwrap();
/// gmp::fs::symlink(dir.join("target"), dir.join("link")).await.unwrap();
/// assert!(gmp::fs::symlink_metadata(dir.join("link")).await.unwrap().file_type().is_symlink());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    run("gmp::fs::symlink_metadata", || std::fs::symlink_metadata(path)).await
}

/// The target of the symbolic link at `path` ([`std::fs::read_link`]).
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
/// # gmp::Runtime::new().unwrap().block_on(async {
/// # let dir = std::env::temp_dir().join(format!("gmp-doc-read_link-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir(&dir).unwrap();
/// gmp::fs::symlink("somewhere", dir.join("link")).await.unwrap();
/// assert_eq!(gmp::fs::read_link(dir.join("link")).await.unwrap(), std::path::Path::new("somewhere"));
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
pub async fn read_link(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    run("gmp::fs::read_link", || std::fs::read_link(path)).await
}

/// The absolute form of `path` with every symbolic link and `.`/`..` resolved
/// ([`std::fs::canonicalize`]).
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
/// # gmp::Runtime::new().unwrap().block_on(async {
/// # let dir = std::env::temp_dir().join(format!("gmp-doc-canonicalize-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir(&dir).unwrap();
/// gmp::fs::create_dir(dir.join("sub")).await.unwrap();
/// let resolved = gmp::fs::canonicalize(dir.join("sub/..")).await.unwrap();
/// assert_eq!(resolved, std::fs::canonicalize(&dir).unwrap());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
pub async fn canonicalize(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    run("gmp::fs::canonicalize", || std::fs::canonicalize(path)).await
}

/// Makes `link` a new name for the file `original` ([`std::fs::hard_link`]).
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
/// # gmp::Runtime::new().unwrap().block_on(async {
/// # let dir = std::env::temp_dir().join(format!("gmp-doc-hard_link-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir(&dir).unwrap();
/// gmp::fs::write(dir.join("a"), "shared").await.unwrap();
/// gmp::fs::hard_link(dir.join("a"), dir.join("b")).await.unwrap();
/// assert_eq!(gmp::fs::read(dir.join("b")).await.unwrap(), b"shared");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
pub async fn hard_link(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    run("gmp::fs::hard_link", || std::fs::hard_link(original, link)).await
}

/// Sets the permissions of `path` ([`std::fs::set_permissions`]).
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
/// # gmp::Runtime::new().unwrap().block_on(async {
/// # let dir = std::env::temp_dir().join(format!("gmp-doc-set_permissions-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir(&dir).unwrap();
/// gmp::fs::write(dir.join("a"), "").await.unwrap();
/// let mut permissions = gmp::fs::metadata(dir.join("a")).await.unwrap().permissions();
/// permissions.set_readonly(true);
/// gmp::fs::set_permissions(dir.join("a"), permissions).await.unwrap();
/// assert!(gmp::fs::metadata(dir.join("a")).await.unwrap().permissions().readonly());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
pub async fn set_permissions(path: impl AsRef<Path>, permissions: Permissions) -> io::Result<()> {
    run("gmp::fs::set_permissions", || std::fs::set_permissions(path, permissions)).await
}

/// Whether `path` exists, following symbolic links ([`Path::try_exists`]): `Ok(false)` for a
/// missing path or a broken link, an error if that cannot be told (no permission to look).
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
/// # gmp::Runtime::new().unwrap().block_on(async {
/// # let dir = std::env::temp_dir().join(format!("gmp-doc-try_exists-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir(&dir).unwrap();
/// assert!(!gmp::fs::try_exists(dir.join("nothing")).await.unwrap());
/// gmp::fs::write(dir.join("a"), "").await.unwrap();
/// assert!(gmp::fs::try_exists(dir.join("a")).await.unwrap());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
pub async fn try_exists(path: impl AsRef<Path>) -> io::Result<bool> {
    run("gmp::fs::try_exists", || path.as_ref().try_exists()).await
}

/// Makes `link` a symbolic link to `original` ([`std::os::unix::fs::symlink`]).
///
/// # Errors
///
/// Those of the std call (`AlreadyExists` if `link` exists).
///
/// # Panics
///
/// Outside a gmp runtime.
///
/// # Examples
///
/// ```
/// # gmp::Runtime::new().unwrap().block_on(async {
/// # let dir = std::env::temp_dir().join(format!("gmp-doc-symlink-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// # std::fs::create_dir(&dir).unwrap();
/// gmp::fs::write(dir.join("target"), "via the link").await.unwrap();
/// gmp::fs::symlink(dir.join("target"), dir.join("link")).await.unwrap();
/// assert_eq!(gmp::fs::read(dir.join("link")).await.unwrap(), b"via the link");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// ```
#[cfg(unix)]
pub async fn symlink(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    run("gmp::fs::symlink", || std::os::unix::fs::symlink(original, link)).await
}
