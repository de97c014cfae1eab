//! The runtime's kernel: `Shared`, what the threads of one runtime share, and what it does
//! itself — spawn, ready (the schedule function), starting a worker thread, and shutdown.
//!
//! # Design
//!
//! `Shared` holds the scheduler (Ps, global queue, idle lists), the registry of goroutines,
//! the netpoller, the timers, the blocking pool and the configuration. `Runtime` and every
//! `Handle` hold an `Arc<Shared>`; so does every M's context.
//!
//! Every spawn (`gmp::spawn`, `Runtime::spawn`, `Handle::spawn`, and `spawn_blocking`'s
//! goroutine) goes through [`Shared::spawn`]; every wake goes through [`schedule`].
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
//! (goroutines point at it without a reference count; the argument is written once, at
//! [`runtime_of`], where that pointer is dereferenced).

use std::any::TypeId;
use std::future::Future;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_task::{ScheduleInfo, WithInfo};

use crate::blocking::{BlockingPool, CallRunner};
use crate::console;
use crate::context::{self, Context};
use crate::goroutine::{self, Goroutine, GoroutineFuture, GoroutineState};
use crate::loom::thread;
use crate::registry::Registry;
use crate::runtime::config::Config;
use crate::runtime::metadata::{Metadata, Runnable};
use crate::sched::{Machine, Scheduler, Wakeup};
use crate::task::JoinHandle;

/// What the threads of one runtime share.
pub(crate) struct Shared {
    pub(crate) sched: Scheduler<Runnable>,
    pub(crate) registry: Registry,
    pub(crate) config: Config,
    pub(crate) netpoll: crate::netpoll::Netpoller,
    pub(crate) timers: crate::time::Timers,
    pub(crate) blocking: BlockingPool<Runnable>,
    next_goroutine_id: AtomicU64,
    machines: AtomicUsize,
    thread_limit_reported: std::sync::atomic::AtomicBool,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
    sysmon: Mutex<Option<thread::JoinHandle<()>>>,
    started: Instant,
    pub(crate) trace: crate::runtime::config::TraceConfig,
    pub(crate) exec_trace: crate::runtime::trace::Tracer,
    coarse_millis: crate::loom::CachePadded<AtomicU32>,
    seed: AtomicU32,
    /// This runtime's index, which its goroutines name it by (`metadata.rs`).
    pub(crate) index: crate::runtime::metadata::RuntimeIndex,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("sched", &self.sched).field("registry", &self.registry).finish()
    }
}

impl Shared {
    /// A runtime's shared state, its execution trace started if the environment asks for
    /// one. The façade then gives it its platform, sysmon and SIGQUIT dump (`Runtime::new`),
    /// which sit above the kernel.
    pub(crate) fn new(config: Config) -> io::Result<Arc<Shared>> {
        let maxprocs = config.maxprocs;
        // Spares beyond the first ones are added as polls get stuck, up to one per thread.
        let mut sched = Scheduler::with_spare_limit(maxprocs, maxprocs.max(4), config.max_threads);
        if maxprocs > crate::os::cpu_count() {
            sched = sched.without_rescues();
        }
        let shared = Arc::new(Shared {
            sched,
            registry: Registry::for_processors(maxprocs),
            netpoll: crate::netpoll::Netpoller::new(context::count_netpoll_wakes)?,
            timers: crate::time::Timers::new(maxprocs),
            blocking: BlockingPool::new(&config),
            config,
            next_goroutine_id: AtomicU64::new(1),
            machines: AtomicUsize::new(0),
            thread_limit_reported: std::sync::atomic::AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
            sysmon: Mutex::new(None),
            started: Instant::now(),
            trace: crate::runtime::config::TraceConfig::from_env(),
            exec_trace: crate::runtime::trace::Tracer::default(),
            coarse_millis: crate::loom::CachePadded(AtomicU32::new(0)),
            seed: AtomicU32::new(0x2545_F491),
            index: crate::runtime::metadata::RuntimeIndex::take()?,
        });
        shared.index.publish(&shared);
        if let Some(path) = &shared.trace.exec_trace {
            shared.exec_trace.start_from_env(path);
        }
        Ok(shared)
    }

    /// Files sysmon's thread handle, for the shutdown to join.
    pub(crate) fn set_sysmon(&self, sysmon: thread::JoinHandle<()>) {
        *crate::loom::lock(&self.sysmon) = Some(sysmon);
    }

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
        let (runnable, task, processor, task_type) =
            self.new_goroutine(future, console::Kind::Task, WithInfo(schedule), spawned_at);
        let Some(runnable) = self.register(runnable, task_type, processor) else {
            // The runtime has shut down: cancelled at once (the handle reports it).
            return JoinHandle::new(task);
        };
        self.queue_spawned(runnable, processor);
        JoinHandle::new(task)
    }

    /// Runs `f` as a call on the blocking pool: its goroutine is registered and queued on
    /// the pool, not on a P.
    pub(crate) fn spawn_blocking<F, R>(self: &Arc<Self>, f: F, spawned_at: &'static Location<'static>) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.blocking.runtime.get_or_init(|| Arc::downgrade(self) as Weak<dyn CallRunner<Runnable>>);
        let call = async move { run_blocking_call(f) };
        let (runnable, task, _, task_type) =
            self.new_goroutine(call, console::Kind::Blocking, schedule_blocking_call, spawned_at);
        let Some(runnable) = self.register(runnable, task_type, None) else {
            // The runtime has shut down: cancelled at once (the handle reports it).
            return JoinHandle::new(task);
        };
        self.blocking.push(runnable);
        JoinHandle::new(task)
    }

    /// The first half of a spawn: registers a goroutine made by `new_goroutine`, whose task
    /// type `task_type` names, in the shard of P `processor`. `None` if the registry is closed
    /// (the runtime shut down): the goroutine is then cancelled (dropped) here.
    fn register(&self, runnable: Runnable, task_type: TypeId, processor: Option<usize>) -> Option<Runnable> {
        let data = Runnable::into_raw(runnable);
        // SAFETY: `data` was made by `into_raw` just above, and is turned back once.
        let runnable = unsafe { Runnable::from_raw(data) };
        let registered =
            self.registry.insert_task(runnable.metadata(), data.as_ptr(), task_type, || runnable.waker(), processor);
        registered.then_some(runnable)
    }

    /// The one place a goroutine is made (for `spawn`, `Handle::spawn` and `spawn_blocking`):
    /// its id (from the calling M's batch if the M is one of ours), its metadata and its
    /// task, not yet registered or queued. Also returns the calling M's P, if it is ours, and
    /// the `TypeId` that names the task's type for the registry (`(F, S)` decides it).
    #[allow(clippy::type_complexity)]
    fn new_goroutine<F, S>(
        &self,
        future: F,
        kind: console::Kind,
        schedule: S,
        spawned_at: &'static Location<'static>,
    ) -> (Runnable, async_task::Task<goroutine::Output<F::Output>, Metadata>, Option<usize>, TypeId)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
        S: async_task::Schedule<Metadata> + Send + Sync + 'static,
    {
        let (id, processor) = context::with_current(|context| match context {
            Some(context) if std::ptr::eq(&*context.shared, self) => {
                (context.next_goroutine_id(), context.machine.processor())
            }
            _ => (self.reserve_goroutine_ids(1), None),
        });
        let mut goroutine = Goroutine::new(id, spawned_at, self.coarse_now());
        if matches!(kind, console::Kind::Blocking) {
            goroutine.set_blocking_call();
        }
        let metadata = Metadata::new(goroutine, self);
        let (runnable, task) = async_task::Builder::new()
            .metadata(metadata)
            .spawn(move |m: &Metadata| GoroutineFuture::new(console::instrument(future, kind, m), m), schedule);
        (runnable, task, processor, TypeId::of::<(F, S)>())
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
            Some(p) => self.sched.ready_spawned(p, runnable),
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
        match context::current_processor(self) {
            Some(p) if context::count_in_batch_wake() => self.sched.ready_local_in_order(p, runnable),
            Some(p) => self.sched.ready_local(p, runnable, yielded),
            None => self.sched.ready_global(runnable),
        }
    }

    /// Starts a worker thread (M) that begins with `wakeup`.
    pub(crate) fn start_thread(self: Arc<Self>, wakeup: Wakeup) -> bool {
        // Reserve a slot without ever counting past the limit: an add-then-undo would let
        // `thread_count` (and `stats().threads`) read max_threads + 1 for a moment.
        let limit = self.config.max_threads;
        let reserved = self
            .machines
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |machines| (machines < limit).then_some(machines + 1));
        if reserved.is_err() {
            self.thread_limit_reached();
            return false;
        }
        let seed = self.next_seed();
        let mut builder = thread::Builder::new().name(self.config.thread_name.clone());
        if let Some(size) = self.config.thread_stack_size {
            builder = builder.stack_size(size);
        }
        let shared = self.clone();
        match builder.spawn(move || {
            context::machine_main(shared.clone(), wakeup, seed);
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

    /// A seed for a new M's random steal order (each M gets its own).
    pub(super) fn next_seed(&self) -> u32 {
        self.seed.fetch_add(0x9E37_79B9, Ordering::Relaxed)
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
    pub(super) fn threads_still_running(&self) -> usize {
        self.thread_count() + self.blocking.thread_count()
    }

    /// Stops every M and drops every unfinished goroutine. Waits at most `timeout` for the
    /// Ms (forever if `None`).
    pub(super) fn shutdown(&self, timeout: Option<Duration>) {
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

    /// Forgets the handles of sysmon and the Ms, detaching them: they exit by themselves.
    pub(super) fn detach_threads(&self) {
        crate::loom::lock(&self.sysmon).take();
        crate::loom::lock(&self.threads).clear();
    }

    /// Stops the runtime without waiting for any thread: the scheduler stops (Ms exit at their
    /// next scheduling point), queued blocking calls are cancelled and the registry refuses
    /// new goroutines. What is left is dropped by whoever sweeps next: the caller, or at the
    /// latest `Shared`'s own drop, once the last thread lets go of it.
    pub(super) fn stop_without_waiting(&self) {
        self.sched.shutdown();
        self.blocking.shutdown(Some(Instant::now()));
        self.registry.close();
    }

    /// Closes the registry, then wakes every registered goroutine and drops every queued one,
    /// until a round drops nothing. Entries stay in the registry until their future is
    /// dropped, so a goroutine that an M still running at this point parks again is found by
    /// the next sweep (`Shared`'s drop at the latest), never forgotten. `every_processor`:
    /// also drain Ps that some M still owns (only when no M can be running).
    pub(super) fn cancel_all_goroutines(&self, every_processor: bool) {
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

impl Drop for Shared {
    /// The last sweep. Every path that stops a runtime sweeps, but one that does not wait for
    /// the Ms (`shutdown_timeout` past its deadline, `shutdown_background`, a drop refused
    /// inside async code) can leave goroutines that an M was still running; once the last
    /// thread has let go of `Shared`, no M can run anything, so this sweep finds them all.
    /// After it no goroutine is open, so none can reach this `Shared` through its uncounted
    /// pointer once it is freed (see `metadata.rs`); and this does not depend on the order in
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
        drop(crate::runtime::metadata::RUNTIMES_IN_USE.write().unwrap_or_else(|e| e.into_inner()));
        // No goroutine names this runtime any more.
        self.index.release();
    }
}

/// The schedule function of every goroutine (zero-sized: the runtime comes from the
/// goroutine's metadata).
fn schedule(runnable: Runnable, info: ScheduleInfo) {
    runnable.metadata().set_state(goroutine::GoroutineState::Runnable);
    crate::runtime::metadata::with_runtime(runnable, |shared, runnable| {
        shared.ready(runnable, info.woken_while_running)
    });
}

/// A blocking-pool thread runs its calls as one of the runtime's threads: with a context
/// installed whose M holds no P.
impl CallRunner<Runnable> for Shared {
    fn run_calls(self: Arc<Self>, seed: u32, next: &mut dyn FnMut() -> Option<Runnable>) {
        let context = Context::new(self, Machine::new(seed, None));
        let _entered = context.enter();
        while let Some(runnable) = next() {
            // A panic in `f` is caught inside its `GoroutineFuture`; this catches one from
            // dropping its output, so no call can unwind the thread.
            let _ = catch_unwind(AssertUnwindSafe(|| runnable.run()));
        }
    }
}

/// The schedule function of every blocking call (zero-sized: the pool comes from the
/// goroutine's metadata). Calls are queued directly at spawn; this runs only if a call is
/// woken, which the shutdown sweep does (the pool is closed by then, so it is cancelled).
fn schedule_blocking_call(runnable: Runnable) {
    runnable.metadata().set_state(GoroutineState::Runnable);
    crate::runtime::metadata::with_runtime(runnable, |shared, runnable| shared.blocking.push(runnable));
}

/// Runs a blocking call's closure with its goroutine in the `syscall` state (Go's name for a
/// goroutine blocked on its own thread), so `dump()` shows it and how long it has run.
fn run_blocking_call<R>(f: impl FnOnce() -> R) -> R {
    goroutine::with_current(|g| {
        if let Some(g) = g {
            // Pool threads serve the runtime with a context installed (`run_calls`).
            let now = context::with_current(|context| context.map_or(0, |c| c.shared.coarse_now()));
            g.set_state_since(GoroutineState::Syscall, now);
        }
    });
    f()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Builder;

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
        let metadata = Metadata::new(Goroutine::new(shared.reserve_goroutine_ids(1), Location::caller(), 0), &shared);
        let (runnable, task) = async_task::Builder::new().metadata(metadata).spawn(
            move |g: &Metadata| {
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
        // The first half of `Shared::spawn` (a type of this test's own names its task type).
        struct ThisTestsTask;
        let runnable = shared.register(runnable, TypeId::of::<ThisTestsTask>(), None).expect("registered");
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
