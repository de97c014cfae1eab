//! M: a worker thread, and the per-thread context that tells gmp code which runtime and which
//! P it runs on.
//!
//! # Design
//!
//! Every thread that runs goroutines (the worker threads gmp starts, and the thread inside
//! `Runtime::block_on`, M0) has a [`Context`] installed in a thread-local for as long as it
//! serves the runtime. The context owns the thread's [`Machine`] (its scheduling state: the P
//! it holds, whether it is spinning, how to wake it). Spawns and wakes on such a thread read
//! the context to push onto the P's local queue instead of the global one.
//!
//! A worker thread's life: it is started by `Scheduler::start_machine` with a P (or told to
//! exit), then loops `next goroutine → run it` until the scheduler says to exit. When it finds
//! no work it gives its P back and parks on the idle-M list, inside `Scheduler::next`.
//!
//! A poll is recorded in the execution trace here too (`run_traced`, `observe_poll`), since
//! only the context knows which goroutine, which P and which runtime: the recorder
//! (`runtime/trace/recorder.rs`) gets plain numbers.
//!
//! # Who may touch what
//!
//! Only the owning thread reads or writes its `Context`; other threads reach an M only
//! through its `Parker`.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::ptr;
use std::sync::Arc;
use std::time::Instant;

use crate::coop;
use crate::goroutine::Goroutine;
use crate::runtime::metadata::Runnable;
use crate::runtime::shared::Shared;
use crate::runtime::trace::recorder::{self, nanos_since, processor_number, Event, Role, M_SAMPLE_PERIOD_NS};
use crate::sched::{Machine, Wakeup};

/// How many goroutine ids an M reserves at a time (Go's `goidcache`).
const GOROUTINE_ID_BATCH: u64 = 256;

/// The gmp state of one thread that serves a runtime.
pub(crate) struct Context {
    pub(crate) shared: Arc<Shared>,
    pub(crate) machine: Machine,
    id_cache: Cell<(u64, u64)>,
    /// The traced poll in progress on this M, until it is recorded: after the poll, or
    /// earlier, as its goroutine completes (`record_completing_poll`).
    traced_poll: Cell<Option<TracedPoll>>,
}

/// A poll being traced: who, where, and when it started.
#[derive(Clone, Copy)]
struct TracedPoll {
    id: u64,
    spawned_at: &'static Location<'static>,
    p: Option<usize>,
    started: Instant,
}

crate::loom::thread_local! {
    static CURRENT: Cell<*const Context> = const { Cell::new(ptr::null()) };
    /// Goroutines queued so far by the batch wake in progress, or `usize::MAX` outside one.
    static BATCH_WAKE: Cell<usize> = const { Cell::new(usize::MAX) };
}

const NOT_IN_BATCH: usize = usize::MAX;

/// Runs `wake` (which wakes a batch of goroutines, e.g. everything one netpoll found) so that
/// the goroutines woken onto this M's P queue in the order they were woken, at the ring's tail,
/// instead of each taking runnext from the one before (which would run the batch newest
/// first). Idle Ps are offered the batch once at the end, and only if it holds more than one
/// goroutine: this M runs a lone one itself (Go skips `wakep` the same way after `netpoll`).
pub(crate) fn as_batch_wake<R>(shared: &Shared, wake: impl FnOnce() -> R) -> R {
    let previous = BATCH_WAKE.with(|batch| batch.replace(0));
    let result = wake();
    let queued = BATCH_WAKE.with(|batch| batch.replace(previous));
    if queued > 1 {
        shared.sched.wake_if_idle();
    }
    result
}

/// Inside [`as_batch_wake`]: counts one more goroutine queued and returns true.
#[inline]
pub(crate) fn count_in_batch_wake() -> bool {
    BATCH_WAKE.with(|batch| {
        let queued = batch.get();
        if queued == NOT_IN_BATCH {
            return false;
        }
        batch.set(queued + 1);
        true
    })
}

/// Uninstalls a context when dropped, restoring the previous one.
pub(crate) struct ContextGuard {
    previous: *const Context,
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        CURRENT.with(|current| current.set(self.previous));
    }
}

impl Context {
    pub(crate) fn new(shared: Arc<Shared>, machine: Machine) -> Self {
        Self { shared, machine, id_cache: Cell::new((0, 0)), traced_poll: Cell::new(None) }
    }

    /// Installs `self` as this thread's context until the guard drops. `self` must outlive
    /// the guard (callers keep both on the same stack frame).
    pub(crate) fn enter(&self) -> ContextGuard {
        ContextGuard { previous: CURRENT.with(|current| current.replace(self)) }
    }

    /// The next goroutine id, from this M's reserved batch.
    pub(crate) fn next_goroutine_id(&self) -> u64 {
        let (next, end) = self.id_cache.get();
        if next < end {
            self.id_cache.set((next + 1, end));
            return next;
        }
        let start = self.shared.reserve_goroutine_ids(GOROUTINE_ID_BATCH);
        self.id_cache.set((start + 1, start + GOROUTINE_ID_BATCH));
        start
    }

    /// Polls one goroutine on this M's P.
    #[inline]
    pub(crate) fn run(&self, runnable: Runnable) {
        if recorder::is_on() {
            return self.run_traced(runnable);
        }
        self.poll_goroutine(runnable);
    }

    /// [`run`](Self::run), without the execution trace.
    pub(crate) fn poll_goroutine(&self, runnable: Runnable) {
        // A panic in the goroutine is caught inside its future; this catches one from
        // dropping it, so no goroutine can unwind the M.
        let goroutine = runnable.metadata().id();
        self.polling(goroutine, || {
            let _ = catch_unwind(AssertUnwindSafe(|| runnable.run()));
        });
    }

    /// Runs `poll`, a poll of goroutine `goroutine`, as one poll on this M's P: sysmon sees it
    /// (`polls` odd meanwhile, `running` naming the goroutine), it gets
    /// a fresh coop budget, and if sysmon marked the P blocked while it ran, the P is dealt
    /// with afterwards.
    pub(crate) fn polling<R>(&self, goroutine: u64, poll: impl FnOnce() -> R) -> R {
        let processor = self.shared.sched.start_poll(&self.machine, Some(goroutine));
        let _finish = PollFinished(self);
        let _budget = coop::start_poll(processor.map(|p| p.preempt_flag()));
        poll()
    }

    /// Runs `runnable` as [`poll_goroutine`](Self::poll_goroutine) does, recording the poll
    /// in the execution trace.
    #[cold]
    #[inline(never)]
    fn run_traced(&self, runnable: Runnable) {
        let goroutine = runnable.metadata();
        self.begin_traced_poll(goroutine);
        self.poll_goroutine(runnable);
        self.end_traced_poll();
    }

    /// A traced poll of `goroutine` starts on this M.
    fn begin_traced_poll(&self, goroutine: &Goroutine) {
        let (id, spawned_at) = (goroutine.id(), goroutine.spawned_at());
        let poll = TracedPoll { id, spawned_at, p: self.machine.processor(), started: Instant::now() };
        self.traced_poll.set(Some(poll));
    }

    /// The traced poll on this M has ended: recorded, unless its goroutine completed and
    /// recorded it then.
    fn end_traced_poll(&self) {
        if let Some(poll) = self.traced_poll.take() {
            self.record_poll(poll);
        }
    }

    /// Runs `poll`, a poll of `goroutine` (the main future of `block_on`), recording it in the
    /// execution trace if the trace is on.
    #[inline]
    pub(crate) fn observe_poll<R>(&self, goroutine: &Goroutine, poll: impl FnOnce() -> R) -> R {
        if !recorder::is_on() {
            return poll();
        }
        self.begin_traced_poll(goroutine);
        let result = poll();
        self.end_traced_poll();
        result
    }

    /// Records a poll of goroutine `id` on P `p` that started at `started` and, at most every
    /// 100 µs of this M's polls, the queue lengths.
    fn record_poll(&self, TracedPoll { id, spawned_at, p, started }: TracedPoll) {
        let ended = Instant::now();
        let shared = &*self.shared;
        let main = self.machine.interrupt_flag().is_some();
        shared.exec_trace.record(Role::Machine { main }, |local, events| {
            let start = nanos_since(local.epoch, started);
            let end = nanos_since(local.epoch, ended);
            events.push(Event::Poll {
                start,
                duration: end - start,
                goroutine: id,
                spawned_at,
                p: processor_number(p),
            });
            if local.last_sample.is_none_or(|last| end >= last + M_SAMPLE_PERIOD_NS) {
                local.last_sample = Some(end);
                events.push(Event::GlobalQueue { at: end, length: shared.sched.global.len() as u32 });
                if let Some(p) = self.machine.processor() {
                    let length = shared.sched.processors[p].queue.len() as u32;
                    events.push(Event::LocalQueue { at: end, p: p as u32, length });
                }
            }
        });
    }
}

/// Goroutine `id`'s future has completed, inside a poll on this thread: if the execution
/// trace is following that poll, it is recorded now, before the goroutine's handle can see
/// the output. So a poll whose goroutine was joined before `trace::stop` is always in the
/// trace, even when its M is descheduled between the end of the poll and its record.
pub(crate) fn record_completing_poll(id: u64) {
    if !recorder::is_on() {
        return;
    }
    with_current(|context| {
        let Some(context) = context else { return };
        if let Some(poll) = context.traced_poll.get().filter(|poll| poll.id == id) {
            context.traced_poll.set(None);
            context.record_poll(poll);
        }
    });
}

/// Ends a poll, on unwinding too (a panicking main future must not leave `polls` odd).
struct PollFinished<'a>(&'a Context);

impl Drop for PollFinished<'_> {
    fn drop(&mut self) {
        self.0.shared.sched.finish_poll(&self.0.machine);
    }
}

impl Context {
    /// Runs goroutines until the scheduler says to stop (shutdown, or M0's interrupt).
    pub(crate) fn schedule(&self) {
        while let Some(runnable) = self.shared.sched.next(&self.machine) {
            self.run(runnable);
        }
    }
}

/// Runs `f` with the current thread's context, if it serves a runtime.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Context>) -> R) -> R {
    CURRENT.with(|current| {
        let context = current.get();
        // SAFETY: a context is installed only by `enter`, whose guard uninstalls it before the
        // context (on the same stack frame) is dropped.
        f(unsafe { context.as_ref() })
    })
}

/// Counts the goroutines the netpoller just readied against the P of the current thread, or
/// `unowned` if it holds none (sysmon's backstop poll). The runtime hands this to its
/// netpoller (`Netpoller::new`), which so need not know about threads and Ps.
pub(crate) fn count_netpoll_wakes(goroutines: usize, unowned: &std::sync::atomic::AtomicU64) {
    let counted = with_current(|context| {
        let context = context?;
        let p = context.machine.processor()?;
        context.shared.sched.processors[p].metrics.netpoll_wakes.add(goroutines as u64);
        Some(())
    });
    if counted.is_none() {
        unowned.fetch_add(goroutines as u64, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The hint for calls that need a runtime's I/O or timers (`outside_runtime`'s `or`).
pub(crate) const IN_A_GOROUTINE: &str = ", or in a goroutine (gmp::spawn)";

/// The one panic of a gmp call made on a thread that serves no runtime: names `call`, says
/// how to run it inside one, then `or` (another way out, or empty).
#[cold]
#[track_caller]
pub(crate) fn outside_runtime(call: impl std::fmt::Display, or: &str) -> ! {
    panic!("{call} must be called from inside a gmp runtime: run the code under Runtime::block_on or #[gmp::main]{or}")
}

/// Runs `f` with the runtime the current thread serves; outside one, panics naming `call`
/// (see [`outside_runtime`]).
#[track_caller]
pub(crate) fn with_runtime<R>(call: impl std::fmt::Display, or: &str, f: impl FnOnce(&Arc<Shared>) -> R) -> R {
    with_current(|context| match context {
        Some(context) => f(&context.shared),
        None => outside_runtime(call, or),
    })
}

/// The P index the current thread holds in runtime `shared`, if it is an M of that runtime.
#[inline]
pub(crate) fn current_processor(shared: &Shared) -> Option<usize> {
    with_current(|context| match context {
        Some(context) if ptr::eq(&*context.shared, shared) => context.machine.processor(),
        _ => None,
    })
}

/// The body of a worker thread gmp starts.
pub(crate) fn machine_main(shared: Arc<Shared>, wakeup: Wakeup, seed: u32) {
    let context = Context::new(shared, Machine::new(seed, None));
    context.machine.set_thread_id(crate::os::current_thread_id());
    let _guard = context.enter();
    match wakeup {
        Wakeup::Processor { p, spinning } => context.shared.sched.resume(&context.machine, p, spinning),
        Wakeup::Exit | Wakeup::Interrupted => return,
    }
    context.schedule();
    context.shared.sched.detach_machine(&context.machine);
}
