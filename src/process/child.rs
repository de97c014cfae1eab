//! `Child`: a running child process, awaited on the netpoller (see `process/mod.rs`).

use std::io;
use std::process::{ExitStatus, Output};

use futures::io::AsyncReadExt;

use super::wait::ExitWatch;
use super::{ChildStderr, ChildStdin, ChildStdout};

/// A child process started by [`Command::spawn`](super::Command::spawn).
///
/// Its piped streams are in the public fields; take them out to use them while waiting.
/// Dropping a `Child` neither kills nor reaps the process (as with std).
///
/// # Examples
///
/// ```
/// use futures::io::{AsyncReadExt, AsyncWriteExt};
/// use gmp::process::{Command, Stdio};
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let mut child = Command::new("tr").arg("a-z").arg("A-Z")
///         .stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
///     let mut stdin = child.stdin.take().unwrap();
///     stdin.write_all(b"shout").await.unwrap();
///     drop(stdin);
///     let mut loud = String::new();
///     child.stdout.take().unwrap().read_to_string(&mut loud).await.unwrap();
///     assert_eq!(loud, "SHOUT");
///     assert!(child.wait().await.unwrap().success());
/// });
/// ```
#[derive(Debug)]
pub struct Child {
    /// The child's stdin, if it was piped.
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, if it was piped.
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, if it was piped.
    pub stderr: Option<ChildStderr>,
    std: std::process::Child,
    /// The exit status, once reaped.
    status: Option<ExitStatus>,
    /// What `wait` parks on, made at the first wait.
    watch: Option<ExitWatch>,
}

impl Child {
    /// Takes a started std child over, turning its piped streams into async pipes on the
    /// current runtime's netpoller.
    pub(crate) fn from_std(mut std: std::process::Child) -> io::Result<Child> {
        let pipes = (|| {
            let stdin = std.stdin.take().map(ChildStdin::from_std).transpose()?;
            let stdout = std.stdout.take().map(ChildStdout::from_std).transpose()?;
            let stderr = std.stderr.take().map(ChildStderr::from_std).transpose()?;
            Ok::<_, io::Error>((stdin, stdout, stderr))
        })();
        match pipes {
            Ok((stdin, stdout, stderr)) => Ok(Child { stdin, stdout, stderr, std, status: None, watch: None }),
            Err(error) => {
                // Do not leave a child running that no one can talk to or wait for.
                let _ = std.kill();
                let _ = crate::syscall(|| std.wait());
                Err(error)
            }
        }
    }

    /// The child's process id, or `None` once it has been reaped (the id may then belong to
    /// another process).
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let mut child = gmp::process::Command::new("true").spawn().unwrap();
    ///     assert!(child.id().unwrap() > 0);
    ///     child.wait().await.unwrap();
    ///     assert_eq!(child.id(), None);
    /// });
    /// ```
    pub fn id(&self) -> Option<u32> {
        self.status.is_none().then(|| self.std.id())
    }

    /// Sends SIGKILL to the child, unless it has been reaped already; await
    /// [`wait`](Self::wait) afterwards to reap it ([`std::process::Child::kill`]).
    ///
    /// # Errors
    ///
    /// If the signal cannot be sent.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let mut child = gmp::process::Command::new("sleep").arg("30").spawn().unwrap();
    ///     child.kill().unwrap();
    ///     assert_eq!(child.wait().await.unwrap().signal(), Some(libc::SIGKILL));
    /// });
    /// ```
    pub fn kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        self.std.kill()
    }

    /// The exit status if the child has exited (reaping it), `None` if it still runs; does not
    /// wait.
    ///
    /// # Errors
    ///
    /// If `waitpid` fails.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let mut child = gmp::process::Command::new("sleep").arg("30").spawn().unwrap();
    ///     assert_eq!(child.try_wait().unwrap(), None);
    ///     child.kill().unwrap();
    ///     child.wait().await.unwrap();
    ///     assert!(child.try_wait().unwrap().is_some());
    /// });
    /// ```
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.std.try_wait()?;
        }
        Ok(self.status)
    }

    /// Waits for the child to exit and returns its status, parking the goroutine (no thread
    /// waits). Closes the child's stdin first, if piped, so a child reading it sees the end.
    /// Waiting again returns the same status.
    ///
    /// # Errors
    ///
    /// If no pidfd or SIGCHLD listener can be made (out of descriptors), or `waitpid` fails.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let mut child = gmp::process::Command::new("sh").args(["-c", "exit 9"]).spawn().unwrap();
    ///     assert_eq!(child.wait().await.unwrap().code(), Some(9));
    ///     assert_eq!(child.wait().await.unwrap().code(), Some(9));
    /// });
    /// ```
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        if let Some(status) = self.try_wait()? {
            return Ok(status);
        }
        let watch = match &mut self.watch {
            Some(watch) => watch,
            None => self.watch.insert(ExitWatch::new(&self.std)?),
        };
        let status = watch.wait(&mut self.std).await?;
        self.status = Some(status);
        self.watch = None;
        Ok(status)
    }

    /// Waits for the child to exit while reading all of its piped stdout and stderr (at the
    /// same time, so a child filling one pipe does not stall on it). Closes stdin first.
    ///
    /// # Errors
    ///
    /// Those of [`wait`](Self::wait), or a read error on a pipe.
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::process::{Command, Stdio};
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let child = Command::new("sh").args(["-c", "echo out; echo err >&2"])
    ///         .stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    ///     let output = child.wait_with_output().await.unwrap();
    ///     assert_eq!((output.stdout, output.stderr), (b"out\n".to_vec(), b"err\n".to_vec()));
    /// });
    /// ```
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        async fn read_all(pipe: Option<impl futures::io::AsyncRead + Unpin>) -> io::Result<Vec<u8>> {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                pipe.read_to_end(&mut bytes).await?;
            }
            Ok(bytes)
        }
        let (stdout, stderr) = (self.stdout.take(), self.stderr.take());
        let (stdout, stderr) = futures::future::try_join(read_all(stdout), read_all(stderr)).await?;
        let status = self.wait().await?;
        Ok(Output { status, stdout, stderr })
    }

    /// The std child inside (its pipes are in this type's fields instead). Reaping it through
    /// std behind this type's back leaves [`wait`](Self::wait) an error.
    pub fn as_std(&self) -> &std::process::Child {
        &self.std
    }
}
