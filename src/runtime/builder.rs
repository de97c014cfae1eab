//! [`Builder`]: the runtime's configuration, checked when the runtime is built.

use std::io;
use std::sync::Once;
use std::time::Duration;

use crate::runtime::config::Config;
use crate::runtime::Runtime;

/// How long a drop of a [`Runtime`] waits for threads stuck in blocking calls, by default.
const DEFAULT_DROP_TIMEOUT: Duration = Duration::from_secs(10);

/// The environment variable that overrides the default number of Ps.
pub const MAXPROCS_ENV: &str = "GMP_MAXPROCS";

/// Configures and builds a [`Runtime`].
///
/// # Examples
///
/// ```
/// let rt = gmp::Builder::new()
///     .maxprocs(2)
///     .thread_name("my-worker")
///     .build()
///     .unwrap();
/// assert_eq!(rt.block_on(async { gmp::runtime::maxprocs() }), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    /// `None`: `GMP_MAXPROCS` or the number of CPUs, read by `build`.
    maxprocs: Option<usize>,
    /// Every other setting, as it will run (`config.maxprocs` is filled in by `build`).
    config: Config,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// The defaults: `maxprocs` from `GMP_MAXPROCS` or the number of CPUs, up to 10,000
    /// threads (as Go), 512 blocking threads kept alive 10 s when idle, and a drop of the
    /// runtime that waits at most 10 s for threads stuck in blocking calls.
    pub fn new() -> Self {
        Self {
            maxprocs: None,
            config: Config {
                maxprocs: 0,
                max_threads: 10_000,
                max_blocking_threads: 512,
                blocking_keep_alive: Duration::from_secs(10),
                thread_name: "gmp-worker".to_owned(),
                thread_stack_size: None,
                dump_on_sigquit: false,
                drop_timeout: DEFAULT_DROP_TIMEOUT,
            },
        }
    }

    /// Ps: how many goroutines run at once (Go's `GOMAXPROCS`). Overrides `GMP_MAXPROCS`.
    /// Zero makes `build` fail.
    pub fn maxprocs(mut self, maxprocs: usize) -> Self {
        self.maxprocs = Some(maxprocs);
        self
    }

    /// Most worker threads (Ms) the runtime may start, counting threads stuck in syscalls or
    /// blocked polls (each goroutine blocking its thread holds one, as in Go). Must be at
    /// least `maxprocs`. When it is reached the runtime says so once on stderr and runnable
    /// goroutines wait until a thread is free; worker threads parked for 10 s without work
    /// exit.
    pub fn max_threads(mut self, max_threads: usize) -> Self {
        self.config.max_threads = max_threads;
        self
    }

    /// Most threads of the `spawn_blocking` pool; more calls wait in FIFO order.
    pub fn max_blocking_threads(mut self, max_blocking_threads: usize) -> Self {
        self.config.max_blocking_threads = max_blocking_threads;
        self
    }

    /// How long an idle blocking-pool thread waits for work before it exits.
    pub fn blocking_keep_alive(mut self, keep_alive: Duration) -> Self {
        self.config.blocking_keep_alive = keep_alive;
        self
    }

    /// The name of the threads gmp starts.
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.config.thread_name = name.into();
        self
    }

    /// The stack size of the threads gmp starts.
    pub fn thread_stack_size(mut self, bytes: usize) -> Self {
        self.config.thread_stack_size = Some(bytes);
        self
    }

    /// SIGQUIT as in Go: when on, a SIGQUIT (Ctrl-\\ in a terminal) that no
    /// [`gmp::signal`](crate::signal::signal) listener takes prints every goroutine of this
    /// runtime on stderr, as [`runtime::dump`](crate::runtime::dump) lists them (id, state or
    /// wait reason, minutes waiting, spawn site), and exits the process with status 2. It
    /// prints even when every P is held by a stuck goroutine: a thread of its own does it.
    /// Off by default, as a library's runtime should not decide what a signal does to the
    /// process; `#[gmp::main]` turns it on. Once on, it stays on for the process (a dropped
    /// runtime is just no longer listed).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = gmp::Builder::new().maxprocs(1).dump_on_sigquit(true).build().unwrap();
    /// // From here on `kill -QUIT <pid>` prints the runtime's goroutines and exits with 2.
    /// rt.block_on(async { assert!(gmp::runtime::dump().contains("goroutine ")) });
    /// ```
    pub fn dump_on_sigquit(mut self, on: bool) -> Self {
        self.config.dump_on_sigquit = on;
        self
    }

    /// The longest that dropping the [`Runtime`] waits for its threads (default 10 s). A drop
    /// stops the runtime and drops every goroutine at once; what it waits for is threads
    /// still inside a blocking call — a `spawn_blocking` closure, a `gmp::syscall`, or a
    /// future that blocks its thread. Past this bound those threads are detached: they finish
    /// their call on their own and exit, and the drop returns after saying so on stderr.
    /// [`Runtime::shutdown_timeout`] picks the bound for one shutdown instead.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let rt = gmp::Builder::new().drop_timeout(Duration::from_millis(100)).build().unwrap();
    /// rt.spawn_blocking(|| std::thread::sleep(Duration::from_secs(2)));
    /// let start = Instant::now();
    /// drop(rt); // detaches the sleeping thread after 100 ms
    /// assert!(start.elapsed() < Duration::from_secs(2));
    /// ```
    pub fn drop_timeout(mut self, timeout: Duration) -> Self {
        self.config.drop_timeout = timeout;
        self
    }

    /// Checks the configuration and starts the runtime.
    ///
    /// # Errors
    ///
    /// An `InvalidInput` error naming the field: `maxprocs`, `max_threads`,
    /// `max_blocking_threads` or `thread_stack_size` of zero, or `max_threads` below
    /// `maxprocs`, or a thread name containing a NUL byte.
    pub fn build(self) -> io::Result<Runtime> {
        Runtime::with_config(self.into_config()?)
    }

    pub(crate) fn into_config(self) -> io::Result<Config> {
        let maxprocs = match self.maxprocs {
            Some(0) => return Err(invalid("maxprocs must be at least 1 (got 0)")),
            Some(n) => n,
            None => maxprocs_from_env().unwrap_or_else(crate::runtime::num_cpu),
        };
        let config = Config { maxprocs, ..self.config };
        if config.max_threads == 0 {
            return Err(invalid("max_threads must be at least 1 (got 0)"));
        }
        if config.max_threads < maxprocs {
            return Err(invalid(format!(
                "max_threads ({}) must be at least maxprocs ({maxprocs})",
                config.max_threads
            )));
        }
        if config.max_blocking_threads == 0 {
            return Err(invalid("max_blocking_threads must be at least 1 (got 0)"));
        }
        if config.thread_stack_size == Some(0) {
            return Err(invalid("thread_stack_size must be at least 1 byte (got 0)"));
        }
        if config.thread_name.contains('\0') {
            return Err(invalid("thread_name must not contain a NUL byte"));
        }
        Ok(config)
    }
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("gmp::Builder: {}", message.into()))
}

/// `GMP_MAXPROCS` if it is a positive integer. Empty (`GMP_MAXPROCS=`) counts as unset;
/// anything else is ignored with one warning line on stderr per process.
fn maxprocs_from_env() -> Option<usize> {
    let value = std::env::var_os(MAXPROCS_ENV).filter(|value| !value.is_empty())?;
    match value.to_str().and_then(|s| s.trim().parse::<usize>().ok()) {
        Some(n) if n > 0 => Some(n),
        _ => {
            static WARNED: Once = Once::new();
            WARNED.call_once(|| {
                eprintln!(
                    "gmp: ignoring {MAXPROCS_ENV}={:?}: it must be a positive integer; using the number of CPUs",
                    value
                );
            });
            None
        }
    }
}
