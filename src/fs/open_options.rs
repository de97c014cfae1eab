//! `OpenOptions`: std's builder for opening files, with `open` as a future.

use std::io;
use std::path::Path;

use super::{run, File};

/// Options for opening a file: std's [`std::fs::OpenOptions`], whose
/// [`open`](Self::open) runs on the goroutine's thread.
///
/// # Examples
///
/// ```
/// use futures::io::AsyncWriteExt;
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let path = std::env::temp_dir().join(format!("gmp-doc-options-{}", std::process::id()));
///     gmp::fs::write(&path, "log: ").await.unwrap();
///     let mut log = gmp::fs::OpenOptions::new().append(true).open(&path).await.unwrap();
///     log.write_all(b"appended").await.unwrap();
///     assert_eq!(gmp::fs::read_to_string(&path).await.unwrap(), "log: appended");
///     gmp::fs::remove_file(&path).await.unwrap();
/// });
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions {
    std: std::fs::OpenOptions,
}

impl OpenOptions {
    /// Options with every flag off ([`std::fs::OpenOptions::new`]).
    pub fn new() -> OpenOptions {
        OpenOptions { std: std::fs::OpenOptions::new() }
    }

    /// Open for reading.
    pub fn read(&mut self, read: bool) -> &mut OpenOptions {
        self.std.read(read);
        self
    }

    /// Open for writing.
    pub fn write(&mut self, write: bool) -> &mut OpenOptions {
        self.std.write(write);
        self
    }

    /// Open for appending: every write goes to the end of the file.
    pub fn append(&mut self, append: bool) -> &mut OpenOptions {
        self.std.append(append);
        self
    }

    /// Truncate the file to length 0 when opening it (needs write access).
    pub fn truncate(&mut self, truncate: bool) -> &mut OpenOptions {
        self.std.truncate(truncate);
        self
    }

    /// Create the file if it does not exist (needs write or append access).
    pub fn create(&mut self, create: bool) -> &mut OpenOptions {
        self.std.create(create);
        self
    }

    /// Create the file, failing with `AlreadyExists` if it exists (needs write or append
    /// access; `create` and `truncate` are then ignored).
    pub fn create_new(&mut self, create_new: bool) -> &mut OpenOptions {
        self.std.create_new(create_new);
        self
    }

    /// The permission bits a new file gets, before the umask (Unix; default `0o666`).
    #[cfg(unix)]
    pub fn mode(&mut self, mode: u32) -> &mut OpenOptions {
        std::os::unix::fs::OpenOptionsExt::mode(&mut self.std, mode);
        self
    }

    /// Extra `open(2)` flags, such as `O_NOFOLLOW` (Unix).
    #[cfg(unix)]
    pub fn custom_flags(&mut self, flags: i32) -> &mut OpenOptions {
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut self.std, flags);
        self
    }

    /// Opens the file at `path` with these options ([`std::fs::OpenOptions::open`]).
    ///
    /// # Errors
    ///
    /// Those of the std call: `NotFound` without `create`, `AlreadyExists` with `create_new`,
    /// `InvalidInput` for a contradictory combination (such as `create` without write access).
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let error = gmp::fs::OpenOptions::new().read(true).open("no/such/file").await.unwrap_err();
    ///     assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
    /// });
    /// ```
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let std = run("gmp::fs::OpenOptions::open", || self.std.open(path)).await?;
        Ok(File::from_std(std))
    }

    /// The std options inside, for the platform extensions this type does not offer.
    pub fn as_std_mut(&mut self) -> &mut std::fs::OpenOptions {
        &mut self.std
    }
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl From<std::fs::OpenOptions> for OpenOptions {
    fn from(std: std::fs::OpenOptions) -> OpenOptions {
        OpenOptions { std }
    }
}
