//! `Command`: std's process builder, whose spawning and waiting suit goroutines.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};

use super::Child;

/// A process builder: std's [`std::process::Command`] with the same builder methods, whose
/// [`spawn`](Self::spawn) gives a [`Child`] with async pipes and whose
/// [`status`](Self::status) and [`output`](Self::output) are futures.
///
/// As with std, a missing program is an `io::Error` of kind `NotFound` from `spawn`,
/// `status` or `output`.
///
/// # Examples
///
/// ```
/// use gmp::process::Command;
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let output = Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]).output().await.unwrap();
///     assert_eq!(output.status.code(), Some(3));
///     assert_eq!(output.stdout, b"out\n");
///     assert_eq!(output.stderr, b"err\n");
///
///     let error = Command::new("no-such-program-anywhere").status().await.unwrap_err();
///     assert_eq!(error.kind(), std::io::ErrorKind::NotFound);
/// });
/// ```
pub struct Command {
    std: std::process::Command,
    /// Which of stdin, stdout, stderr the user set (`output` gives the others its defaults).
    stdio_set: [bool; 3],
}

impl Command {
    /// A builder for running `program`, looked up in `PATH` if it has no `/`
    /// ([`std::process::Command::new`]).
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command { std: std::process::Command::new(program), stdio_set: [false; 3] }
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.std.env(key, value);
        self
    }

    /// Sets environment variables for the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Clears the child's environment (it inherits nothing but what `env` sets).
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// Sets the child's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// The child's stdin: `Stdio::piped()` makes [`Child::stdin`] an async pipe. Default:
    /// inherited for `spawn` and `status`, null for `output`.
    pub fn stdin(&mut self, stdin: impl Into<Stdio>) -> &mut Command {
        self.std.stdin(stdin);
        self.stdio_set[0] = true;
        self
    }

    /// The child's stdout: `Stdio::piped()` makes [`Child::stdout`] an async pipe. Default:
    /// inherited for `spawn` and `status`, piped for `output`.
    pub fn stdout(&mut self, stdout: impl Into<Stdio>) -> &mut Command {
        self.std.stdout(stdout);
        self.stdio_set[1] = true;
        self
    }

    /// The child's stderr: `Stdio::piped()` makes [`Child::stderr`] an async pipe. Default:
    /// inherited for `spawn` and `status`, piped for `output`.
    pub fn stderr(&mut self, stderr: impl Into<Stdio>) -> &mut Command {
        self.std.stderr(stderr);
        self.stdio_set[2] = true;
        self
    }

    /// Sets the child's user id (Unix; `setuid` in the child before `exec`).
    #[cfg(unix)]
    pub fn uid(&mut self, id: u32) -> &mut Command {
        std::os::unix::process::CommandExt::uid(&mut self.std, id);
        self
    }

    /// Sets the child's group id (Unix).
    #[cfg(unix)]
    pub fn gid(&mut self, id: u32) -> &mut Command {
        std::os::unix::process::CommandExt::gid(&mut self.std, id);
        self
    }

    /// Puts the child in process group `pgroup` (0: a new group led by the child), so that a
    /// Ctrl-C at the terminal does not reach it (Unix).
    #[cfg(unix)]
    pub fn process_group(&mut self, pgroup: i32) -> &mut Command {
        std::os::unix::process::CommandExt::process_group(&mut self.std, pgroup);
        self
    }

    /// Sets the child's `argv[0]` (Unix).
    #[cfg(unix)]
    pub fn arg0(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        std::os::unix::process::CommandExt::arg0(&mut self.std, arg);
        self
    }

    /// The program to run.
    pub fn get_program(&self) -> &OsStr {
        self.std.get_program()
    }

    /// The arguments given so far.
    pub fn get_args(&self) -> std::process::CommandArgs<'_> {
        self.std.get_args()
    }

    /// The std builder inside, for what this type does not offer (`pre_exec`, ...).
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }

    /// The std builder inside.
    pub fn as_std(&self) -> &std::process::Command {
        &self.std
    }

    /// Starts the program; the returned [`Child`] has async pipes for the streams set to
    /// `Stdio::piped()`. The fork and exec run on the goroutine's thread through
    /// [`gmp::syscall`](crate::syscall).
    ///
    /// # Errors
    ///
    /// `NotFound` for a missing program, `PermissionDenied` for one that may not be run, or
    /// another OS error from starting it.
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let mut child = gmp::process::Command::new("true").spawn().unwrap();
    ///     assert!(child.id().is_some());
    ///     assert!(child.wait().await.unwrap().success());
    /// });
    /// ```
    #[track_caller]
    pub fn spawn(&mut self) -> io::Result<Child> {
        crate::fs::expect_runtime("gmp::process::Command::spawn");
        let std = crate::syscall(|| self.std.spawn())?;
        Child::from_std(std)
    }

    /// Runs the program to its end and returns its exit status; stdin, stdout and stderr are
    /// inherited unless set.
    ///
    /// # Errors
    ///
    /// Those of [`spawn`](Self::spawn) and [`Child::wait`].
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let status = gmp::process::Command::new("sh").args(["-c", "exit 4"]).status().await.unwrap();
    ///     assert_eq!(status.code(), Some(4));
    /// });
    /// ```
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        self.spawn()?.wait().await
    }

    /// Runs the program to its end, collecting its stdout and stderr (piped unless set; stdin
    /// is null unless set).
    ///
    /// # Errors
    ///
    /// Those of [`spawn`](Self::spawn) and [`Child::wait_with_output`].
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let output = gmp::process::Command::new("echo").arg("hello").output().await.unwrap();
    ///     assert!(output.status.success());
    ///     assert_eq!(output.stdout, b"hello\n");
    /// });
    /// ```
    pub async fn output(&mut self) -> io::Result<Output> {
        let [stdin_set, stdout_set, stderr_set] = self.stdio_set;
        if !stdin_set {
            self.std.stdin(Stdio::null());
        }
        if !stdout_set {
            self.std.stdout(Stdio::piped());
        }
        if !stderr_set {
            self.std.stderr(Stdio::piped());
        }
        let child = self.spawn();
        // Back to the defaults of `spawn` and `status` (inherit) for the streams the user
        // did not set.
        if !stdin_set {
            self.std.stdin(Stdio::inherit());
        }
        if !stdout_set {
            self.std.stdout(Stdio::inherit());
        }
        if !stderr_set {
            self.std.stderr(Stdio::inherit());
        }
        child?.wait_with_output().await
    }
}

impl From<std::process::Command> for Command {
    /// Wraps a std builder; streams it set count as unset for [`output`](Command::output)'s
    /// defaults (std does not tell).
    fn from(std: std::process::Command) -> Command {
        Command { std, stdio_set: [false; 3] }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.std, f)
    }
}
