//! The public runtime: [`Runtime`], [`Handle`], [`spawn`], and the
//! introspection functions (`num_goroutine`, `maxprocs`, `num_cpu`, ...).
//!
//! # Design
//!
//! This is the façade: the public types and functions, each a thin layer over `Shared`
//! (`shared.rs`), the runtime's kernel, which holds what the threads of one runtime share and
//! does the spawning, waking, thread starts and shutdown. `Runtime` and every `Handle` hold an
//! `Arc<Shared>`; so does every M's context (`context.rs`).
//!
//! `block_on` (on a `Runtime` or a `Handle`) makes the calling thread M0; it is refused where
//! blocking would stall a runtime (`must_not_block`). `Handle::enter` installs a context
//! without a P, so a plain thread can spawn and find the runtime.

use std::future::Future;
use std::io;
use std::panic::Location;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crate::context;
use crate::task::JoinHandle;
use builder::Builder;
use config::Config;
use shared::Shared;

pub(crate) mod builder;
pub(crate) mod config;
mod handle;
mod main_thread;
pub(crate) mod metadata;
pub(crate) mod shared;
pub mod trace;

pub use handle::{EnterGuard, Handle, NoRuntime};

pub(crate) use main_thread::main_thread_in_network;
use main_thread::{block_on, must_not_block, run_on_m0, Listing};

pub use crate::goroutine::{GoroutineState, WaitReason};
pub use crate::metrics::{Histogram, ProcessorCounters, ProcessorStats, HISTOGRAM_BUCKETS};
pub use crate::registry::GoroutineRecord;
pub use crate::trace::Stats;

/// The gmp runtime: Ps, Ms, and the goroutines they run.
///
/// # Examples
///
/// ```
/// let rt = gmp::Runtime::new().unwrap();
/// let sum = rt.block_on(async {
///     let handles: Vec<_> = (0..10u64).map(|i| gmp::spawn(async move { i * i })).collect();
///     let mut sum = 0;
///     for handle in handles {
///         sum += handle.await.unwrap();
///     }
///     sum
/// });
/// assert_eq!(sum, 285);
/// ```
pub struct Runtime {
    shared: Arc<Shared>,
    /// Set by the consuming shutdowns, so that `Drop` does nothing more.
    shut_down: bool,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("maxprocs", &self.shared.config.maxprocs).finish()
    }
}

impl Runtime {
    /// A runtime with the default configuration (see [`Builder::new`]).
    ///
    /// # Errors
    ///
    /// If the configuration taken from the environment is unusable.
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    pub(crate) fn with_config(config: Config) -> io::Result<Runtime> {
        use crate::loom::real_or_model_expr;
        let shared = Shared::new(real_or_model_expr!(config, crate::model::runtime_config(config)))?;
        let platform: Box<dyn crate::sched::Platform> = real_or_model_expr!(
            Box::new(crate::platform::RuntimePlatform::new(&shared)),
            crate::model::platform(&shared)
        );
        shared.sched.set_platform(platform);
        if let Some(sysmon) =
            real_or_model_expr!(Some(crate::sysmon::start(&shared)?), crate::model::start_sysmon(&shared)?)
        {
            shared.set_sysmon(sysmon);
        }
        #[cfg(unix)]
        if shared.config.dump_on_sigquit {
            crate::sigquit::enable(&shared)?;
        }
        Ok(Runtime { shared, shut_down: false })
    }

    /// Runs `future` to completion on the calling thread, which becomes an M (M0) holding a P
    /// while it runs: goroutines it spawns go to that P's queue, and while the future waits
    /// the thread runs goroutines too. With `maxprocs = 1` the whole program runs on this
    /// thread, as in Go. The future need not be `Send`.
    ///
    /// # Panics
    ///
    /// If called from inside a goroutine (other than a `spawn_blocking` call) or another
    /// `block_on`: that would block one of a runtime's threads.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = gmp::Runtime::new().unwrap();
    /// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
    /// ```
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        block_on(&self.shared, future)
    }

    /// `block_on` for a future that only joins a goroutine already listed as the program's
    /// main goroutine (`#[gmp::main]`'s `Send` body): the future itself is not listed in
    /// `num_goroutine` or `dump`, so main counts once.
    #[track_caller]
    pub(crate) fn block_on_unlisted<F: Future>(&self, future: F) -> F::Output {
        run_on_m0(&self.shared, future, Listing::Unlisted)
    }

    /// Spawns a goroutine on this runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = gmp::Runtime::new().unwrap();
    /// let handle = rt.spawn(async { "done" });
    /// assert_eq!(rt.block_on(handle).unwrap(), "done");
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shared.spawn(future, Location::caller())
    }

    /// Runs `f` on the runtime's blocking pool; see [`spawn_blocking`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = gmp::Runtime::new().unwrap();
    /// let handle = rt.spawn_blocking(|| 6 * 7);
    /// assert_eq!(rt.block_on(handle).unwrap(), 42);
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.handle().spawn_blocking(f)
    }

    /// A handle for spawning onto this runtime from other threads.
    pub fn handle(&self) -> Handle {
        Handle { shared: self.shared.clone() }
    }

    /// Shuts the runtime down, waiting at most `timeout` for its threads; threads still busy
    /// after that (stuck in a blocking call) are left to finish on their own, and the
    /// goroutines they still hold are dropped once they let go of the runtime.
    ///
    /// # Panics
    ///
    /// Inside a goroutine or `block_on` (as dropping a `Runtime` there does; use
    /// [`shutdown_background`](Self::shutdown_background) to stop a runtime from async code).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = gmp::Runtime::new().unwrap();
    /// rt.spawn(std::future::pending::<()>());
    /// rt.shutdown_timeout(std::time::Duration::from_secs(1));
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) {
        // `Drop` must not shut down (or report misuse) a second time, even if this panics.
        self.shut_down = true;
        self.shutdown_checked(Some(timeout));
    }

    /// Shuts the runtime down without waiting for anything: its threads are told to stop and
    /// exit on their own, every goroutine not running at this moment is dropped now, and the
    /// rest as soon as the threads running them let go of it (tokio's
    /// `Runtime::shutdown_background`). Unlike dropping a runtime, this may be called from
    /// async code.
    ///
    /// # Examples
    ///
    /// ```
    /// let outer = gmp::Runtime::new().unwrap();
    /// let inner = gmp::Runtime::new().unwrap();
    /// inner.spawn(std::future::pending::<()>());
    /// outer.block_on(async move { inner.shutdown_background() });
    /// ```
    pub fn shutdown_background(mut self) {
        self.shut_down = true;
        self.shared.stop_without_waiting();
        // Not joined: dropping the handles detaches the threads, which exit by themselves.
        self.shared.detach_threads();
        self.shared.cancel_all_goroutines(false);
    }

    fn shutdown_checked(&self, timeout: Option<Duration>) {
        if must_not_block(Some(&self.shared)) {
            // Waiting for the runtime's threads here could deadlock (or stall a P): stop it
            // without waiting, then report the misuse (unless already unwinding).
            self.shared.stop_without_waiting();
            if !thread::panicking() {
                panic!(
                    "gmp: a Runtime was dropped (or shut down) inside a goroutine, block_on or \
                     one of its own threads; that blocks a runtime thread while it waits for \
                     the runtime's threads. Drop the Runtime from a plain thread or a \
                     spawn_blocking call, or use Runtime::shutdown_background"
                );
            }
            return;
        }
        self.shared.shutdown(timeout);
    }

    /// Enters the runtime's context on this thread until the guard drops; see
    /// [`Handle::enter`].
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = gmp::Runtime::new().unwrap();
    /// let _guard = rt.enter();
    /// let handle = gmp::spawn(async { 1 });
    /// assert_eq!(rt.block_on(handle).unwrap(), 1);
    /// ```
    pub fn enter(&self) -> EnterGuard<'_> {
        EnterGuard::new(&self.shared)
    }
}

/// Dropping a runtime stops it: every goroutine is dropped, and the drop waits for the
/// runtime's threads at most [`Builder::drop_timeout`](crate::Builder::drop_timeout)
/// (10 s by default). Threads still inside a blocking call after that are detached and exit
/// when their call returns; one line on stderr says how many. (A `#[gmp::main]` program
/// does not wait at all: it exits when `main` returns, as a Go program does.)
impl Drop for Runtime {
    fn drop(&mut self) {
        if !self.shut_down {
            let timeout = self.shared.config.drop_timeout;
            self.shutdown_checked(Some(timeout));
            let left = self.shared.threads_still_running();
            if left > 0 && !thread::panicking() {
                eprintln!(
                    "gmp: dropped a Runtime with {left} thread(s) still in blocking calls after \
                     {timeout:?}; they were detached and exit when their calls return \
                     (Builder::drop_timeout sets the wait)"
                );
            }
        }
    }
}

/// Spawns a goroutine on the current runtime (Go's `go` statement) and returns a handle to
/// await its output. The goroutine starts on the calling M's P (in its runnext slot), like
/// Go's `newproc`.
///
/// # Panics
///
/// Outside a gmp runtime.
///
/// # Examples
///
/// ```
/// gmp::Runtime::new().unwrap().block_on(async {
///     let handle = gmp::spawn(async { 40 + 2 });
///     assert_eq!(handle.await.unwrap(), 42);
/// });
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let location = Location::caller();
    context::with_runtime(
        "gmp::spawn",
        ", or spawn through a gmp::Handle (Runtime::handle) from other threads",
        |shared| shared.spawn(future, location),
    )
}

/// Runs `f`, a blocking closure, on the current runtime's blocking pool and returns a handle
/// to await its result, so the goroutine that calls it (and its P) is not blocked.
///
/// Threads are started on demand, up to [`Builder::max_blocking_threads`] (512 by default);
/// beyond that, calls wait in FIFO order and are never refused. A thread left idle for
/// [`Builder::blocking_keep_alive`] (10 s by default) exits. A panic in `f` reaches the handle
/// as a panic [`JoinError`](crate::JoinError::is_panic) and does not kill the pool thread. Inside
/// `f`, [`gmp::spawn`](crate::spawn) and [`Handle::current`](crate::Handle::current) work.
///
/// Prefer [`gmp::syscall`](crate::syscall) for calls that are usually short: it runs `f` on
/// the current thread and hands the P off only if `f` is slow. Use `spawn_blocking` for calls
/// that are long or many, or when the caller should not wait.
///
/// Shutting the runtime down cancels calls still queued (their handles report
/// a cancelled [`JoinError`](crate::JoinError::is_cancelled)) and waits for running ones.
///
/// [`Builder::max_blocking_threads`]: crate::Builder::max_blocking_threads
/// [`Builder::blocking_keep_alive`]: crate::Builder::blocking_keep_alive
///
/// # Panics
///
/// Outside a gmp runtime; from other threads use [`Handle::spawn_blocking`](crate::Handle::spawn_blocking).
///
/// # Examples
///
/// ```
/// gmp::Runtime::new().unwrap().block_on(async {
///     let contents = gmp::spawn_blocking(|| std::fs::read_to_string("Cargo.toml"));
///     assert!(contents.await.unwrap().unwrap().contains("[package]"));
/// });
/// ```
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let location = Location::caller();
    context::with_runtime(
        "gmp::spawn_blocking",
        ", or call Handle::spawn_blocking (Runtime::handle) from other threads",
        |shared| shared.spawn_blocking(f, location),
    )
}

fn with_shared<R>(call: &str, f: impl FnOnce(&Shared) -> R) -> R {
    context::with_runtime(format_args!("gmp::runtime::{call}"), "", |shared| f(shared))
}

/// Live goroutines of the current runtime: running, runnable and waiting (Go's
/// `runtime.NumGoroutine`).
///
/// # Panics
///
/// Outside a gmp runtime.
///
/// # Examples
///
/// ```
/// gmp::Runtime::new().unwrap().block_on(async {
///     let handle = gmp::spawn(std::future::pending::<()>());
///     assert!(gmp::runtime::num_goroutine() >= 1);
///     handle.cancel().await;
/// });
/// ```
pub fn num_goroutine() -> usize {
    with_shared("num_goroutine", |shared| shared.registry.len())
}

/// The number of Ps of the current runtime (Go's `runtime.GOMAXPROCS(0)`).
///
/// # Panics
///
/// Outside a gmp runtime.
///
/// # Examples
///
/// ```
/// let rt = gmp::Builder::new().maxprocs(3).build().unwrap();
/// assert_eq!(rt.block_on(async { gmp::runtime::maxprocs() }), 3);
/// ```
pub fn maxprocs() -> usize {
    with_shared("maxprocs", |shared| shared.config.maxprocs)
}

/// The number of CPUs this process may use (Go's `runtime.NumCPU`).
///
/// # Examples
///
/// ```
/// assert!(gmp::runtime::num_cpu() >= 1);
/// ```
pub fn num_cpu() -> usize {
    crate::os::cpu_count()
}

/// Every live goroutine of the current runtime with its state, wait reason and spawn site,
/// whatever it is doing: queued (`Runnable`), parked (`Waiting`, with its reason), in a
/// poll (`Running`, with its P and, once sysmon has seen the poll, how long it has run, so a
/// goroutine blocking its thread in a poll shows how long it has), inside `gmp::syscall` or
/// running as a `spawn_blocking` call (`Syscall`).
///
/// # Panics
///
/// Outside a gmp runtime.
///
/// # Examples
///
/// ```
/// gmp::Runtime::new().unwrap().block_on(async {
///     let handle = gmp::spawn(std::future::pending::<()>());
///     gmp::yield_now().await;
///     let records = gmp::runtime::goroutines();
///     assert!(records.iter().any(|g| g.id == handle.id()));
///     handle.cancel().await;
/// });
/// ```
pub fn goroutines() -> Vec<GoroutineRecord> {
    with_shared("goroutines", crate::poll_watch::goroutines)
}

/// A snapshot of the current runtime's scheduler: Ps, threads, queue lengths.
///
/// # Panics
///
/// Outside a gmp runtime.
pub fn stats() -> Stats {
    with_shared("stats", crate::trace::stats)
}

/// Every goroutine of the current runtime, Go-traceback style: one block per goroutine with
/// its id, state or wait reason (`IO wait`, `sleep`, `join`, ...), how many minutes it has
/// waited (when over one) and where it was spawned.
///
/// # Panics
///
/// Outside a gmp runtime.
///
/// # Examples
///
/// ```
/// gmp::Runtime::new().unwrap().block_on(async {
///     let handle = gmp::spawn(std::future::pending::<()>());
///     // Once it has run and parked (another M may still be polling it after one yield):
///     let parked = |g: &gmp::runtime::GoroutineRecord| g.id == handle.id() && g.state == gmp::runtime::GoroutineState::Waiting;
///     while !gmp::runtime::goroutines().iter().any(parked) {
///         gmp::yield_now().await;
///     }
///     let dump = gmp::runtime::dump();
///     assert!(dump.contains(&format!("goroutine {} [waiting]:", handle.id())));
///     handle.cancel().await;
/// });
/// ```
pub fn dump() -> String {
    with_shared("dump", crate::trace::dump)
}
