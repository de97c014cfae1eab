//! The public runtime: [`Runtime`], [`Handle`], [`spawn`], and the
//! introspection functions (`num_goroutine`, `maxprocs`, `num_cpu`, ...).
//!
//! # Design
//!
//! `Shared` is everything the threads of one runtime share: the scheduler (Ps, global queue,
//! idle lists), the registry of goroutines and the configuration. `Runtime` and every `Handle`
//! hold an `Arc<Shared>`; so does every M's context.
//!
//! Shutdown (dropping the `Runtime`, or `shutdown_timeout`) stops the scheduler, joins the Ms,
//! then sweeps: it closes the registry (new spawns are cancelled on the spot), wakes every
//! registered goroutine so it becomes a `Runnable`, and drops every `Runnable` it finds in the
//! queues, until a round finds nothing. Dropping a `Runnable` drops its future, so every
//! unfinished goroutine's future is dropped exactly once, and its `JoinHandle` reports it
//! cancelled.
//!
//! Shutdowns that do not wait for every M (`shutdown_timeout` past its deadline,
//! `shutdown_background`, a drop refused inside async code) sweep what they can; goroutines an
//! M was still running stay registered and are swept by `Shared`'s own drop, which runs once
//! the last thread has let go of it. Nothing else may free `Shared` while a goroutine is open
//! (goroutines point at it without a reference count).
//!
//! `block_on` (on a `Runtime` or a `Handle`) makes the calling thread M0; it is refused where
//! blocking would stall a runtime (`must_not_block`). `Handle::enter` installs a context
//! without a P, so a plain thread can spawn and find the runtime.

use crate::loom::thread;
use std::future::Future;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_task::{ScheduleInfo, WithInfo};

use crate::builder::{Builder, Config};
use crate::console;
use crate::goroutine::{self, Goroutine, GoroutineFuture, Runnable, RuntimePointer};
use crate::machine;
use crate::registry::Registry;
use crate::sched::{Scheduler, Wakeup};
use crate::task::JoinHandle;

mod handle;
mod main_thread;
pub mod trace;

pub use handle::{EnterGuard, Handle, NoRuntime};

pub(crate) use main_thread::main_thread_in_network;
use main_thread::{block_on, must_not_block};

pub use crate::goroutine::{GoroutineState, WaitReason};
pub use crate::metrics::{Histogram, ProcessorCounters, ProcessorStats, HISTOGRAM_BUCKETS};
pub use crate::registry::GoroutineRecord;
pub use crate::trace::Stats;

/// What the threads of one runtime share.
pub(crate) struct Shared {
    pub(crate) sched: Scheduler<Runnable>,
    pub(crate) registry: Registry,
    pub(crate) config: Config,
    pub(crate) netpoll: crate::netpoll::Netpoller,
    pub(crate) timers: crate::time::Timers,
    pub(crate) blocking: crate::blocking::BlockingPool,
    next_goroutine_id: AtomicU64,
    machines: AtomicUsize,
    thread_limit_reported: std::sync::atomic::AtomicBool,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
    sysmon: Mutex<Option<thread::JoinHandle<()>>>,
    started: Instant,
    pub(crate) trace: crate::trace::TraceConfig,
    pub(crate) exec_trace: trace::Tracer,
    coarse_millis: crate::loom::CachePadded<AtomicU32>,
    seed: AtomicU32,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("sched", &self.sched).field("registry", &self.registry).finish()
    }
}

impl Shared {
    /// Ids `[start, start + count)` for an M's id cache.
    pub(crate) fn reserve_goroutine_ids(&self, count: u64) -> u64 {
        self.next_goroutine_id.fetch_add(count, Ordering::Relaxed)
    }

    /// Milliseconds since the runtime started, as last sampled (coarse; for `dump`).
    pub(crate) fn coarse_now(&self) -> u32 {
        self.coarse_millis.load(Ordering::Relaxed)
    }

    /// When the runtime started.
    pub(crate) fn started_at(&self) -> Instant {
        self.started
    }

    /// Re-samples the coarse clock and returns it.
    pub(crate) fn coarse_now_fresh(&self) -> u32 {
        self.update_coarse_clock()
    }

    /// Re-samples the coarse clock.
    pub(crate) fn update_coarse_clock(&self) -> u32 {
        let now = self.started.elapsed().as_millis() as u32;
        self.coarse_millis.store(now, Ordering::Relaxed);
        now
    }

    /// Spawns a goroutine; its first run goes to the calling M's P if it is one of ours.
    pub(crate) fn spawn<F>(&self, future: F, spawned_at: &'static Location<'static>) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (id, processor) = machine::with_current(|context| match context {
            Some(context) if std::ptr::eq(&*context.shared, self) => {
                (context.next_goroutine_id(), context.machine.processor())
            }
            _ => (self.reserve_goroutine_ids(1), None),
        });
        let metadata = Goroutine::new(id, spawned_at, RuntimePointer(self), self.coarse_now());
        let (runnable, task) = async_task::Builder::new().metadata(metadata).spawn(
            move |g: &Goroutine| GoroutineFuture::new(console::instrument(future, console::Kind::Task, g), g),
            WithInfo(schedule),
        );
        if !self.registry.insert_near(runnable.metadata(), runnable.waker(), processor) {
            // The runtime has shut down: cancel at once (the handle reports it).
            drop(runnable);
            return JoinHandle::new(task);
        }
        self.queue_spawned(runnable, processor);
        JoinHandle::new(task)
    }

    /// The second half of a spawn: queues the registered goroutine. A shutdown may have swept
    /// the queues between the two halves (the sweep's wake of a goroutine that was never
    /// queued does nothing): then the goroutine would sit in the global queue with its handle
    /// never resolving, so after queueing globally, a spawner that sees the shutdown drops
    /// what is queued globally itself. `ready_global` fences (`SeqCst`, in `wake_if_idle`)
    /// between its push and our look at the flag, which pairs with the fence in
    /// `drop_queued_goroutines`: either the sweep sees this push or we see the flag. (A
    /// goroutine queued on this M's own P is swept once this M has let go of the P.)
    fn queue_spawned(&self, runnable: Runnable, processor: Option<usize>) {
        match processor {
            Some(p) => self.sched.ready_local(p, runnable, false),
            None => {
                self.sched.ready_global(runnable);
                if self.sched.is_shut_down() {
                    self.drop_globally_queued_goroutines();
                }
            }
        }
    }

    /// Queues a woken goroutine: on the waking M's P if it has one here, else globally.
    #[inline]
    fn ready(&self, runnable: Runnable, yielded: bool) {
        match machine::current_processor(self) {
            Some(p) if machine::count_in_batch_wake() => self.sched.ready_local_in_order(p, runnable),
            Some(p) => self.sched.ready_local(p, runnable, yielded),
            None => self.sched.ready_global(runnable),
        }
    }

    /// Starts a worker thread (M) that begins with `wakeup`.
    pub(crate) fn start_thread(self: Arc<Self>, wakeup: Wakeup) -> bool {
        if self.machines.fetch_add(1, Ordering::AcqRel) >= self.config.max_threads {
            self.machines.fetch_sub(1, Ordering::AcqRel);
            self.thread_limit_reached();
            return false;
        }
        let seed = self.seed.fetch_add(0x9E37_79B9, Ordering::Relaxed);
        let mut builder = thread::Builder::new().name(self.config.thread_name.clone());
        if let Some(size) = self.config.thread_stack_size {
            builder = builder.stack_size(size);
        }
        let shared = self.clone();
        match builder.spawn(move || {
            machine::machine_main(shared.clone(), wakeup, seed);
            shared.machines.fetch_sub(1, Ordering::AcqRel);
        }) {
            Ok(handle) => {
                let mut threads = crate::loom::lock(&self.threads);
                // Ms exit after a keep-alive: forget the handles of those that did.
                threads.retain(|thread| !thread.is_finished());
                threads.push(handle);
                true
            }
            Err(error) => {
                self.machines.fetch_sub(1, Ordering::AcqRel);
                eprintln!("gmp: could not start a worker thread: {error}");
                false
            }
        }
    }

    /// Says once, on stderr, that work waits for a thread because `max_threads` is reached.
    #[cold]
    fn thread_limit_reached(&self) {
        if !self.thread_limit_reported.swap(true, Ordering::Relaxed) {
            eprintln!(
                "gmp: all {} worker threads allowed by Builder::max_threads are busy (goroutines \
                 blocking their threads hold them); runnable goroutines wait until one is free. \
                 Raise the limit with gmp::Builder::max_threads (or #[gmp::main(max_threads = N)])",
                self.config.max_threads
            );
        }
    }

    /// Worker threads (Ms) currently alive, M0 excluded.
    pub(crate) fn thread_count(&self) -> usize {
        self.machines.load(Ordering::Acquire)
    }

    /// Threads of this runtime (Ms and blocking-pool threads) that have not exited yet.
    fn threads_still_running(&self) -> usize {
        self.thread_count() + self.blocking.thread_count()
    }

    /// Stops every M and drops every unfinished goroutine. Waits at most `timeout` for the
    /// Ms (forever if `None`).
    fn shutdown(&self, timeout: Option<Duration>) {
        let deadline = timeout.map(|t| Instant::now() + t);
        self.sched.shutdown();
        if let Some(sysmon) = crate::loom::lock(&self.sysmon).take() {
            let _ = sysmon.join();
        }
        self.blocking.shutdown(deadline);
        self.join_threads(deadline);
        self.cancel_all_goroutines(false);
        self.exec_trace.finish();
    }

    fn join_threads(&self, deadline: Option<Instant>) {
        loop {
            let handles = std::mem::take(&mut *crate::loom::lock(&self.threads));
            if handles.is_empty() {
                // A thread whose start raced with the shutdown may not have filed its handle
                // yet: wait until every started M has exited (or the deadline passes).
                if self.thread_count() == 0 || deadline.is_some_and(|d| Instant::now() >= d) {
                    return;
                }
                thread::sleep(Duration::from_millis(1));
                continue;
            }
            for handle in handles {
                if let Some(deadline) = deadline {
                    while !handle.is_finished() && Instant::now() < deadline {
                        thread::sleep(Duration::from_millis(1));
                    }
                    if !handle.is_finished() {
                        continue; // left running (stuck in a blocking call); detached
                    }
                }
                let _ = handle.join();
            }
        }
    }

    /// Stops the runtime without waiting for any thread: the scheduler stops (Ms exit at their
    /// next scheduling point), queued blocking calls are cancelled and the registry refuses
    /// new goroutines. What is left is dropped by whoever sweeps next: the caller, or at the
    /// latest `Shared`'s own drop, once the last thread lets go of it.
    fn stop_without_waiting(&self) {
        self.sched.shutdown();
        self.blocking.shutdown(Some(Instant::now()));
        self.registry.close();
    }

    /// Closes the registry, then wakes every registered goroutine and drops every queued one,
    /// until a round drops nothing. Entries stay in the registry until their future is
    /// dropped, so a goroutine that an M still running at this point parks again is found by
    /// the next sweep (`Shared`'s drop at the latest), never forgotten. `every_processor`:
    /// also drain Ps that some M still owns (only when no M can be running).
    fn cancel_all_goroutines(&self, every_processor: bool) {
        self.registry.close();
        loop {
            for waker in self.registry.wakers() {
                let _ = catch_unwind(AssertUnwindSafe(|| waker.wake()));
            }
            if !self.drop_queued_goroutines(every_processor) {
                return;
            }
        }
    }

    /// Drops every globally queued `Runnable`. True if there was any.
    fn drop_globally_queued_goroutines(&self) -> bool {
        let mut dropped = false;
        while let Some(runnable) = self.sched.global.pop() {
            dropped = true;
            let _ = catch_unwind(AssertUnwindSafe(|| drop(runnable)));
        }
        dropped
    }

    /// Drops every queued `Runnable` (global queue, and the queues of Ps no M holds, or of
    /// every P if `every_processor`).
    fn drop_queued_goroutines(&self, every_processor: bool) -> bool {
        // Pairs with the fence in `queue_spawned` (see there).
        crate::loom::fence(Ordering::SeqCst);
        let mut dropped = self.drop_globally_queued_goroutines();
        for processor in self.sched.processors.iter() {
            if !every_processor && processor.status() != crate::processor::ProcessorStatus::Idle {
                continue; // still owned by an M that did not exit in time
            }
            for runnable in processor.queue.drain() {
                dropped = true;
                let _ = catch_unwind(AssertUnwindSafe(|| drop(runnable)));
            }
        }
        dropped
    }
}

/// Held shared by code outside the runtime's threads that reaches a runtime through a
/// goroutine's uncounted pointer after checking that the goroutine is still open
/// (`JoinHandle::abort`); `Shared`'s drop takes it exclusively after its last sweep, so such
/// code finishes before the memory is freed.
pub(crate) static RUNTIMES_IN_USE: std::sync::RwLock<()> = std::sync::RwLock::new(());

impl Drop for Shared {
    /// The last sweep. Every path that stops a runtime sweeps, but one that does not wait for
    /// the Ms (`shutdown_timeout` past its deadline, `shutdown_background`, a drop refused
    /// inside async code) can leave goroutines that an M was still running; once the last
    /// thread has let go of `Shared`, no M can run anything, so this sweep finds them all.
    /// After it no goroutine is open, so none can reach this `Shared` through its uncounted
    /// pointer once it is freed (see `goroutine.rs`); and this does not depend on the order in
    /// which the fields drop.
    fn drop(&mut self) {
        if !self.sched.is_shut_down() {
            self.stop_without_waiting();
        }
        let this: &Shared = self;
        this.blocking.shutdown(Some(Instant::now()));
        this.cancel_all_goroutines(true);
        this.exec_trace.finish();
        // Every goroutine is closed now; wait for whoever looked at one just before.
        drop(RUNTIMES_IN_USE.write().unwrap_or_else(|e| e.into_inner()));
    }
}

/// The schedule function of every goroutine (zero-sized: the runtime comes from the
/// goroutine's metadata).
fn schedule(runnable: Runnable, info: ScheduleInfo) {
    let g = runnable.metadata();
    g.set_state(goroutine::GoroutineState::Runnable);
    let shared: *const Shared = g.runtime();
    // SAFETY: the runtime outlives every goroutine that can still be scheduled
    // (see `goroutine.rs`), and `runnable` is one.
    unsafe { &*shared }.ready(runnable, info.woken_while_running);
}

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
        let config = crate::loom::runtime_config(config);
        let maxprocs = config.maxprocs;
        let shared = Arc::new(Shared {
            // Spares beyond the first ones are added as polls get stuck, up to one per thread.
            sched: Scheduler::with_spare_limit(maxprocs, maxprocs.max(4), config.max_threads),
            registry: Registry::new(maxprocs * 4),
            netpoll: crate::netpoll::Netpoller::new()?,
            timers: crate::time::Timers::new(maxprocs),
            blocking: crate::blocking::BlockingPool::new(&config),
            config,
            next_goroutine_id: AtomicU64::new(1),
            machines: AtomicUsize::new(0),
            thread_limit_reported: std::sync::atomic::AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
            sysmon: Mutex::new(None),
            started: Instant::now(),
            trace: crate::trace::TraceConfig::from_env(),
            exec_trace: trace::Tracer::default(),
            coarse_millis: crate::loom::CachePadded(AtomicU32::new(0)),
            seed: AtomicU32::new(0x2545_F491),
        });
        shared.sched.set_platform(crate::loom::platform(&shared));
        *crate::loom::lock(&shared.sysmon) = crate::loom::start_sysmon(&shared)?;
        if let Some(path) = &shared.trace.exec_trace {
            shared.exec_trace.start_from_env(path);
        }
        let runtime = Runtime { shared, shut_down: false };
        #[cfg(unix)]
        if runtime.shared.config.dump_on_sigquit {
            crate::sigquit::enable(&runtime.shared)?;
        }
        Ok(runtime)
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

    /// Runs `f` on the runtime's blocking pool; see [`spawn_blocking`](crate::spawn_blocking).
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
        crate::loom::lock(&self.shared.sysmon).take();
        crate::loom::lock(&self.shared.threads).clear();
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
    machine::with_current(|context| match context {
        Some(context) => context.shared.spawn(future, location),
        None => panic!(
            "gmp::spawn must be called from inside a gmp runtime: run the code under \
             Runtime::block_on or #[gmp::main], or spawn through a gmp::Handle \
             (Runtime::handle) from other threads"
        ),
    })
}

fn with_shared<R>(call: &str, f: impl FnOnce(&Shared) -> R) -> R {
    machine::with_current(|context| match context {
        Some(context) => f(&context.shared),
        None => panic!(
            "gmp::runtime::{call} must be called from inside a gmp runtime: run the code under \
             Runtime::block_on or #[gmp::main]"
        ),
    })
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
    thread::available_parallelism().map_or(1, |n| n.get())
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
///     gmp::yield_now().await;
///     let dump = gmp::runtime::dump();
///     assert!(dump.contains(&format!("goroutine {} [waiting]:", handle.id())));
///     handle.cancel().await;
/// });
/// ```
pub fn dump() -> String {
    with_shared("dump", crate::trace::dump)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The interleaving of a spawn from a thread without a P with a shutdown: the spawner
    /// registers its goroutine, the whole shutdown (sweep included) runs, then the spawner
    /// queues it. The sweep's wake of a goroutine that was never queued does nothing, so
    /// before the spawner looked at the shutdown flag after queueing, the goroutine sat in
    /// the global queue for good and its handle never resolved.
    #[test]
    fn a_spawn_racing_the_shutdown_sweep_is_cancelled() {
        let rt = Builder::new().maxprocs(1).build().unwrap();
        let shared = rt.shared.clone();
        let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        struct SetOnDrop(Arc<std::sync::atomic::AtomicBool>);
        impl Drop for SetOnDrop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let guard = SetOnDrop(dropped.clone());
        let metadata = Goroutine::new(shared.reserve_goroutine_ids(1), Location::caller(), RuntimePointer(&*shared), 0);
        let (runnable, task) = async_task::Builder::new().metadata(metadata).spawn(
            move |g: &Goroutine| {
                GoroutineFuture::new(
                    async move {
                        let _guard = guard;
                        std::future::pending::<()>().await
                    },
                    g,
                )
            },
            WithInfo(schedule),
        );
        let handle: JoinHandle<()> = JoinHandle::new(task);
        // The first half of `Shared::spawn`.
        assert!(shared.registry.insert_near(runnable.metadata(), runnable.waker(), None));
        // The whole shutdown runs in between.
        drop(rt);
        assert!(!dropped.load(Ordering::SeqCst), "the sweep cannot reach a goroutine nobody queued yet");
        // The second half.
        shared.queue_spawned(runnable, None);
        assert!(dropped.load(Ordering::SeqCst), "the late goroutine was left in the global queue");
        assert!(shared.sched.global.is_empty());
        let error = futures::executor::block_on(handle).unwrap_err();
        assert!(error.is_cancelled());
    }
}
