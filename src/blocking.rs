//! The pool of threads that runs [`spawn_blocking`](crate::spawn_blocking)'s calls.
//!
//! # Design
//!
//! A blocking call is a goroutine like any other: an async-task task whose metadata is a
//! [`Goroutine`](crate::goroutine::Goroutine) and whose future is `async move { f() }` inside a
//! [`GoroutineFuture`](crate::goroutine::GoroutineFuture) (so a panic in `f` reaches the
//! [`JoinHandle`](crate::JoinHandle) as [`JoinError::Panic`](crate::JoinError), the call
//! shows in `num_goroutine` and `dump`, and shutdown cancels it like any goroutine). It
//! differs in one thing: its schedule function queues it on this pool instead of a P. Its
//! future finishes in its first poll, so it is queued exactly once (at spawn) unless
//! the shutdown sweep wakes it, which finds the pool closed and cancels it.
//!
//! The pool is tokio's design (`blocking/pool.rs`): one `Mutex<VecDeque>` and a condvar.
//!
//! - A call goes to the back of the queue. If a thread is idle, one is notified; otherwise a
//!   new thread is started if fewer than `max_blocking_threads` exist. Beyond the cap the call
//!   waits in the queue (FIFO, never refused).
//! - A thread runs queued calls front to back until the queue is empty, then waits on the
//!   condvar. After `blocking_keep_alive` without work it exits.
//! - Threads are started outside the lock (a thread start costs tens of microseconds): the
//!   spawner reserves the slot under the lock (`threads`, `starting`), starts the thread, then
//!   files its `JoinHandle` under the lock again.
//!
//! This file is the pool alone: its queue, its threads, their parking and keep-alive. It is
//! generic over the call it queues (`Runnable` in the runtime) and knows nothing of the
//! runtime: the kernel (`runtime/shared.rs`) spawns the calls, and is the [`CallRunner`] that
//! runs them. While running calls a thread has a gmp `Context` installed (by
//! `CallRunner::run_calls`) whose M holds no P, so `gmp::spawn` and `Handle::current` work
//! inside `f` (their goroutines go to the global queue) and `gmp::syscall` just calls its
//! closure.
//!
//! # Counting idle threads and notifications
//!
//! `idle` counts threads waiting for work that nobody has notified yet; `notified` counts
//! notifications not yet taken. A spawner that finds `idle > 0` moves one unit from `idle` to
//! `notified` and signals the condvar. A waking thread first takes a notification if there is
//! one (whichever thread wakes first takes it; a thread woken without one keeps waiting for
//! the rest of its keep-alive), and only then considers shutdown or its keep-alive expired. So
//! every notification is taken by exactly one thread, which goes back to the queue: a call is
//! never left queued with every thread asleep.
//!
//! # Lifetimes
//!
//! The pool lives inside the runtime's `Shared`; its threads hold its state (`PoolInner`) by
//! `Arc` and the runtime (the [`CallRunner`]) only by `Weak`, upgraded while they run calls, so an idle pool never
//! keeps a runtime alive. Shutdown (runtime drop, before the Ms are joined) closes the pool,
//! cancels the queued calls by dropping their `Runnable`s (never under the lock: dropping one
//! runs the closure's destructors, which may call back into gmp), wakes the idle threads so
//! they exit, waits for busy ones until the deadline and joins the threads that have exited.
//! A `Runnable` is never dropped while a pool lock is held, and every queued `Runnable` is
//! dropped or run before `Shared` goes, so the uncounted runtime pointer in its metadata
//! stays valid (see `runtime/metadata.rs`).

use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::loom::{lock, thread, Condvar, Mutex, MutexGuard};
use crate::runtime::config::Config;

/// What a pool thread needs from the runtime that owns the pool: to run calls as one of the
/// runtime's threads. `Shared` is the one implementation (`runtime/shared.rs`).
pub(crate) trait CallRunner<T>: Send + Sync {
    /// Runs every call `next` hands out, in order, until it hands out none, on the calling
    /// pool thread serving this runtime. A call must not unwind out of this.
    fn run_calls(self: Arc<Self>, seed: u32, next: &mut dyn FnMut() -> Option<T>);
}

/// The `spawn_blocking` pool of one runtime, queueing calls of type `T`.
pub(crate) struct BlockingPool<T> {
    inner: Arc<PoolInner<T>>,
    /// The runtime this pool belongs to, for the threads it starts. Set by the first
    /// `spawn_blocking` (the pool is built inside `Shared`, before any `Arc` to it exists).
    pub(crate) runtime: OnceLock<Weak<dyn CallRunner<T>>>,
}

/// What the pool's threads share with it.
struct PoolInner<T> {
    state: Mutex<PoolState<T>>,
    /// Idle threads wait here for work.
    work: Condvar,
    /// Shutdown waits here for threads to exit (and for thread starts to finish).
    exited: Condvar,
    max_threads: usize,
    keep_alive: Duration,
    thread_name: String,
    stack_size: Option<usize>,
}

struct PoolState<T> {
    queue: VecDeque<T>,
    /// Threads started (or being started) and not yet exited.
    threads: usize,
    /// Threads being started whose `JoinHandle` is not in `handles` yet.
    starting: usize,
    /// Threads waiting for work that nobody has notified.
    idle: usize,
    /// Notifications sent and not yet taken by a waking thread.
    notified: usize,
    /// Handles of started threads (finished ones are pruned when a new thread starts).
    handles: Vec<thread::JoinHandle<()>>,
    shutdown: bool,
    /// Seeds the threads' Ms (their random numbers are unused without a P, but cheap).
    next_seed: u32,
}

impl<T> fmt::Debug for BlockingPool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.inner.state);
        f.debug_struct("BlockingPool")
            .field("queued", &state.queue.len())
            .field("threads", &state.threads)
            .field("idle", &state.idle)
            .field("max_threads", &self.inner.max_threads)
            .finish()
    }
}

impl<T: Send + 'static> BlockingPool<T> {
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            inner: Arc::new(PoolInner {
                state: Mutex::new(PoolState {
                    queue: VecDeque::new(),
                    threads: 0,
                    starting: 0,
                    idle: 0,
                    notified: 0,
                    handles: Vec::new(),
                    shutdown: false,
                    next_seed: 0x6A09_E667,
                }),
                work: Condvar::new(),
                exited: Condvar::new(),
                max_threads: config.max_blocking_threads,
                keep_alive: config.blocking_keep_alive,
                thread_name: format!("{}-blocking", config.thread_name),
                stack_size: config.thread_stack_size,
            }),
            runtime: OnceLock::new(),
        }
    }

    /// True if no call is queued or running (a snapshot, taken under the pool's lock: a call
    /// that finished before it has had its effects, such as waking its `JoinHandle`). The
    /// paused clock's auto-advance waits for this.
    pub(crate) fn is_quiet(&self) -> bool {
        let state = lock(&self.inner.state);
        state.queue.is_empty() && state.threads == state.idle
    }

    /// Threads of the pool alive now (busy or idle).
    pub(crate) fn thread_count(&self) -> usize {
        lock(&self.inner.state).threads
    }

    /// Queues a call: notifies an idle thread, or starts one if the cap allows; otherwise the
    /// call waits its turn. After shutdown the call is cancelled instead.
    pub(crate) fn push(&self, runnable: T) {
        let mut state = lock(&self.inner.state);
        if state.shutdown {
            drop(state);
            cancel(runnable);
            return;
        }
        state.queue.push_back(runnable);
        if state.idle > 0 {
            state.idle -= 1;
            state.notified += 1;
            drop(state);
            self.inner.work.notify_one();
        } else if state.threads < self.inner.max_threads {
            state.threads += 1;
            state.starting += 1;
            let seed = state.next_seed;
            state.next_seed = seed.wrapping_add(0x9E37_79B9);
            drop(state);
            self.start_thread(seed);
        }
    }

    /// Starts a pool thread whose slot `push` has reserved.
    fn start_thread(&self, seed: u32) {
        let inner = self.inner.clone();
        let runtime = self.runtime.get().cloned();
        let mut builder = thread::Builder::new().name(inner.thread_name.clone());
        if let Some(size) = inner.stack_size {
            builder = builder.stack_size(size);
        }
        let started = builder.spawn(move || thread_main(&inner, runtime.as_ref(), seed));
        let mut state = lock(&self.inner.state);
        state.starting -= 1;
        let error = match started {
            Ok(handle) => {
                // Threads that left after their keep-alive are done; drop (detach) them.
                state.handles.retain(|handle| !handle.is_finished());
                state.handles.push(handle);
                None
            }
            Err(error) => {
                state.threads -= 1;
                Some((error, state.threads == 0 && !state.queue.is_empty()))
            }
        };
        if state.shutdown {
            self.inner.exited.notify_all();
        }
        drop(state);
        if let Some((error, stranded)) = error {
            assert!(
                !stranded,
                "gmp::spawn_blocking could not start a blocking-pool thread and none is running \
                 to take the call: {error}. Lower Builder::thread_stack_size or free resources"
            );
            eprintln!("gmp: could not start a blocking-pool thread ({error}); the call waits for a running one");
        }
    }

    /// Stops the pool: queued calls are cancelled, idle threads exit; waits for busy threads
    /// until `deadline` (forever if `None`). Threads still busy after that are left to finish
    /// on their own.
    pub(crate) fn shutdown(&self, deadline: Option<Instant>) {
        let queued = {
            let mut state = lock(&self.inner.state);
            state.shutdown = true;
            std::mem::take(&mut state.queue)
        };
        self.inner.work.notify_all();
        for runnable in queued {
            cancel(runnable);
        }
        let mut state = lock(&self.inner.state);
        while state.threads > 0 || state.starting > 0 {
            state = match deadline {
                None => wait(&self.inner.exited, state),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    wait_timeout(&self.inner.exited, state, deadline - now)
                }
            };
        }
        let all_exited = state.threads == 0;
        let handles = std::mem::take(&mut state.handles);
        drop(state);
        for handle in handles {
            // A thread that has left its loop finishes at once; one still in a call after the
            // deadline is detached (dropping its handle).
            if all_exited || handle.is_finished() {
                let _ = handle.join();
            }
        }
    }
}

/// Cancels a call: dropping its `Runnable` drops `f` and makes its `JoinHandle` report
/// cancellation. A panicking destructor in `f`'s captures must not unwind into gmp.
fn cancel<T>(runnable: T) {
    let _ = catch_unwind(AssertUnwindSafe(|| drop(runnable)));
}

/// The life of a pool thread: run queued calls; wait up to the keep-alive for more; exit.
fn thread_main<T>(inner: &PoolInner<T>, runtime: Option<&Weak<dyn CallRunner<T>>>, seed: u32) {
    let mut state = lock(&inner.state);
    loop {
        if !state.queue.is_empty() {
            drop(state);
            if !run_queued(inner, runtime, seed) {
                state = lock(&inner.state);
                break;
            }
            state = lock(&inner.state);
            continue;
        }
        if state.shutdown {
            break;
        }
        let got_work;
        (state, got_work) = wait_for_work(inner, state);
        if !got_work {
            break;
        }
    }
    state.threads -= 1;
    if state.shutdown {
        inner.exited.notify_all();
    }
}

/// Runs queued calls until the queue is empty, with the runtime's context installed. Returns
/// false if the runtime is gone (cannot happen while calls are queued: shutdown empties the
/// queue before the runtime can be freed).
fn run_queued<T>(inner: &PoolInner<T>, runtime: Option<&Weak<dyn CallRunner<T>>>, seed: u32) -> bool {
    let Some(runtime) = runtime.and_then(Weak::upgrade) else {
        return false;
    };
    runtime.run_calls(seed, &mut || lock(&inner.state).queue.pop_front());
    true
}

/// Waits for a notification. Returns false if the keep-alive ran out or the pool shut down
/// first (the thread then exits).
fn wait_for_work<'a, T>(
    inner: &'a PoolInner<T>,
    mut state: MutexGuard<'a, PoolState<T>>,
) -> (MutexGuard<'a, PoolState<T>>, bool) {
    state.idle += 1;
    // A keep-alive too long to add to `now` means "forever".
    let deadline = Instant::now().checked_add(inner.keep_alive);
    loop {
        state = match deadline {
            None => wait(&inner.work, state),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                wait_timeout(&inner.work, state, left)
            }
        };
        if state.notified > 0 {
            // The notifier already took us out of `idle`.
            state.notified -= 1;
            return (state, true);
        }
        if state.shutdown || deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            state.idle -= 1;
            return (state, false);
        }
    }
}

fn wait<'a, T>(condvar: &Condvar, guard: MutexGuard<'a, PoolState<T>>) -> MutexGuard<'a, PoolState<T>> {
    condvar.wait(guard).unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn wait_timeout<'a, T>(
    condvar: &Condvar,
    guard: MutexGuard<'a, PoolState<T>>,
    timeout: Duration,
) -> MutexGuard<'a, PoolState<T>> {
    match condvar.wait_timeout(guard, timeout) {
        Ok((guard, _)) => guard,
        Err(poisoned) => poisoned.into_inner().0,
    }
}
