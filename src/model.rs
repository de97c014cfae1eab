//! Whole-runtime models: a user's gmp program inside `loom::model` (built only under
//! `--cfg loom`; issue 20).
//!
//! # Design
//!
//! A model runs the real runtime: the real scheduler (rings, runnext, stealing, the global
//! queue, the idle lists and their park/wake protocol) on the shim's loom atomics and locks, the
//! real goroutines, `JoinHandle`s, channels and `gmp::sync` locks. What loom cannot model is
//! replaced here:
//!
//! - **Threads.** Ms (and M0's park) are loom threads (`crate::loom::thread`, in
//!   `loom/model_thread.rs`); every thread-local on a
//!   runtime path is a loom thread-local (`crate::loom::thread_local!`), since loom runs all
//!   model threads on one OS thread.
//! - **sysmon** does not run ([`start_sysmon`]): its checks are driven by wall time. Its one
//!   duty a model needs, moving a paused clock, is done by the M that waits in the "netpoller".
//! - **The netpoller** ([`ModelPlatform`]): there is no I/O, so the M that would block in
//!   epoll instead watches the runtime, yielding to loom between looks (loom runs a yielded
//!   thread only when no other thread can run). When it sees the runtime idle — every P idle,
//!   no goroutine queued, no main future woken, no blocking call or `gmp::syscall` running —
//!   it either moves the clock to the next timer and fires it (the clock is paused from the
//!   start, so `sleep` and `timeout` keep their meaning on virtual time), or, with no timer
//!   pending while a `block_on` waits, reports a deadlock: a panic carrying gmp's `dump()`,
//!   which names every goroutine and what it waits on (Go's "all goroutines are asleep").
//! - **Limits.** loom allows 5 threads in all (the model's main thread included), so the
//!   runtime's thread limits are clamped ([`runtime_config`]).
//!
//! [`model`] wraps `loom::model`, and on a failing model appends the last deadlock report to
//! loom's own message.

use std::sync::Arc as StdArc;

use crate::runtime::config::Config;
use crate::platform::RuntimePlatform;
use crate::runtime::shared::Shared;
use crate::sched::{Platform, Wakeup};


/// Worker threads a model's runtime may start (M0, the model's main thread, not counted).
const MODEL_MAX_THREADS: usize = 3;
/// Blocking-pool threads a model's runtime may start.
const MODEL_MAX_BLOCKING_THREADS: usize = 1;

/// sysmon does not run inside a model (see the module docs); the clock is paused instead, so
/// that timers run on virtual time, which the netpoller's M moves.
pub(crate) fn start_sysmon(shared: &StdArc<Shared>) -> std::io::Result<Option<crate::loom::thread::JoinHandle<()>>> {
    // Kept referenced, so that sysmon's code (which a model never runs) still counts as used.
    let _sysmon: fn(&StdArc<Shared>) -> std::io::Result<std::thread::JoinHandle<()>> = crate::sysmon::start;
    shared.timers.clock.pause().expect("a new runtime's clock runs");
    Ok(None)
}

/// The runtime's configuration with loom's thread limits.
pub(crate) fn runtime_config(mut config: Config) -> Config {
    config.max_threads = config.max_threads.min(MODEL_MAX_THREADS);
    config.max_blocking_threads = config.max_blocking_threads.min(MODEL_MAX_BLOCKING_THREADS);
    config.dump_on_sigquit = false;
    config
}

/// The platform of a runtime inside a model.
pub(crate) fn platform(shared: &StdArc<Shared>) -> Box<dyn Platform> {
    Box::new(ModelPlatform {
        real: RuntimePlatform::new(shared),
        shared: StdArc::as_ptr(shared),
        watching: crate::loom::AtomicBool::new(false),
        kicked: crate::loom::AtomicBool::new(false),
    })
}

/// The real platform for starting Ms and running timers; the model's own "netpoller".
struct ModelPlatform {
    real: RuntimePlatform,
    shared: *const Shared,
    /// An M is waiting in `block_in_network` (the model's netpoller).
    watching: crate::loom::AtomicBool,
    /// `wake_network` was called: the watching M must look at the scheduler again.
    kicked: crate::loom::AtomicBool,
}

// SAFETY: as `RuntimePlatform`: `Shared` is `Send + Sync`, and the pointer is dereferenced only
// while the scheduler that owns this platform (inside `*shared`) calls it.
unsafe impl Send for ModelPlatform {}
// SAFETY: as above.
unsafe impl Sync for ModelPlatform {}

impl ModelPlatform {
    fn shared(&self) -> &Shared {
        // SAFETY: see the `Send` impl.
        unsafe { &*self.shared }
    }

    /// The runtime has nothing to do but wait: every P idle, nothing queued, no main future
    /// woken, no blocking call or syscall running (auto-advance's test, `auto_advance.rs`).
    fn idle(&self) -> bool {
        let shared = self.shared();
        let sched = &shared.sched;
        sched.all_processors_idle()
            && shared.blocking.is_quiet()
            && !shared.timers.clock.main_future_woken()
            && !shared.timers.clock.syscall_running()
            && sched.global.is_empty()
            && sched.processors.iter().all(|p| p.queue.is_empty())
            && sched.all_processors_idle()
    }
}

impl ModelPlatform {
    /// sysmon's retake, for loom to race against the call's return: the P of every
    /// `gmp::syscall` in progress is handed to another M (in a model every call is "long").
    fn retake_syscalls(&self) {
        use crate::processor::ProcessorStatus::Syscall;
        let sched = &self.shared().sched;
        for (p, processor) in sched.processors.iter().enumerate() {
            if processor.status() == Syscall {
                sched.retake_syscall(p);
            }
        }
    }

    /// Called with the runtime idle and no timer pending: while a `block_on` waits on a main
    /// future that has not finished (it is still registered), nothing can ever wake a
    /// goroutine again — a deadlock. (Without a `block_on`, or once the main future is done,
    /// an idle runtime is just idle.)
    ///
    /// Reported only when seen on two looks in a row with a yield between (`suspected` carries
    /// the first), as auto-advance does: loom runs a yielded thread again only once the other
    /// threads have moved or blocked, so an M0 on its way out of `block_on` (its main future
    /// done, its P given back, its watch not yet removed) is not taken for a deadlock.
    fn check_deadlock(&self, suspected: &mut bool) {
        let shared = self.shared();
        let goroutines = crate::poll_watch::goroutines(shared);
        let stuck = shared.timers.clock.has_main_future()
            && !shared.sched.is_shut_down()
            && !goroutines.is_empty()
            && goroutines.iter().all(|g| g.state == crate::goroutine::GoroutineState::Waiting);
        if !stuck || !std::mem::replace(suspected, true) {
            *suspected &= stuck;
            return;
        }
        let dump = crate::trace::dump(shared);
        panic!("{DEADLOCK} (Go: \"all goroutines are asleep\")\n\n{dump}");
    }
}

impl Platform for ModelPlatform {
    fn start_machine(&self, wakeup: Wakeup) -> bool {
        self.real.start_machine(wakeup)
    }

    fn run_timers(&self, processor: usize) {
        self.real.run_timers(processor);
    }

    fn has_timers(&self, processor: usize) -> bool {
        self.real.has_timers(processor)
    }

    fn block_in_network(&self, has_work: &dyn Fn() -> bool, before_waking: &dyn Fn()) -> bool {
        use crate::loom::Ordering::SeqCst;
        if self.watching.swap(true, SeqCst) {
            return false;
        }
        let shared = self.shared();
        // A deadlock seen on the previous look (see `check_deadlock`).
        let mut suspected = false;
        loop {
            if self.kicked.swap(false, SeqCst) || has_work() {
                break;
            }
            self.retake_syscalls();
            if self.idle() {
                let now = shared.timers.now();
                match shared.timers.next_deadline() {
                    Some(deadline) => {
                        shared.timers.clock.advance_to(deadline.max(now));
                        self.watching.store(false, SeqCst);
                        before_waking();
                        crate::context::as_batch_wake(shared, || shared.timers.run_all_due(shared.timers.now()));
                        return true;
                    }
                    None => self.check_deadlock(&mut suspected),
                }
            } else {
                suspected = false;
            }
            loom::thread::yield_now();
        }
        self.watching.store(false, SeqCst);
        before_waking();
        true
    }

    fn wake_network(&self) {
        self.kicked.store(true, crate::loom::Ordering::SeqCst);
    }

    fn network_is_polled(&self) -> bool {
        self.watching.load(crate::loom::Ordering::SeqCst)
    }
}

/// The first line of a deadlock report.
const DEADLOCK: &str = "gmp::model: deadlock: every goroutine is blocked and no timer is pending";

/// Runs `f` — a whole gmp program: build a runtime, `block_on` it — under `loom::model`:
/// loom runs it once for every interleaving of the runtime's threads it can tell apart, within
/// `LOOM_MAX_PREEMPTIONS`, and panics on the first that fails (a panic, a failed assertion, a
/// deadlock). Built only under `RUSTFLAGS="--cfg loom"`; see the README's "Model-checking your
/// program".
///
/// Keep models small: loom's work grows exponentially with the number of goroutines, Ms
/// (`maxprocs`) and synchronisation points. Two or three goroutines and `maxprocs(1)` or `2`
/// finish in seconds; loom allows at most 5 threads (the model's own included), so a model's
/// runtime starts at most 3 worker threads and 1 blocking thread.
///
/// # Panics
///
/// If some interleaving fails: with loom's message, which for a deadlock gmp fills with
/// `dump()`'s account of every goroutine and what it waits on. Also if loom explored only one
/// interleaving (the model then checks nothing).
///
/// # Examples
///
/// ```ignore
/// // RUSTFLAGS="--cfg loom" cargo test
/// gmp::model(|| {
///     let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
///     let total = rt.block_on(async {
///         let counter = std::sync::Arc::new(gmp::sync::Mutex::new(0));
///         let handles: Vec<_> = (0..2)
///             .map(|_| {
///                 let counter = counter.clone();
///                 gmp::spawn(async move { *counter.lock().await += 1 })
///             })
///             .collect();
///         for handle in handles {
///             handle.await.unwrap();
///         }
///         let total = *counter.lock().await;
///         total
///     });
///     assert_eq!(total, 2);
/// });
/// ```
pub fn model<F>(f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    ModelBuilder::new().check(f);
}

/// [`model`] with a preemption bound of at most `max_preemptions` (lower if
/// `LOOM_MAX_PREEMPTIONS` says so).
///
/// # Examples
///
/// ```ignore
/// gmp::model_with(1, || {
///     let rt = gmp::Builder::new().maxprocs(1).build().unwrap();
///     assert_eq!(rt.block_on(async { gmp::spawn(async { 7 }).await.unwrap() }), 7);
/// });
/// ```
pub fn model_with<F>(max_preemptions: usize, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = ModelBuilder::new();
    builder.max_preemptions = Some(max_preemptions);
    builder.check(f);
}

/// Options of a model run (see [`model`]).
///
/// # Examples
///
/// ```ignore
/// let mut builder = gmp::ModelBuilder::new();
/// builder.max_preemptions = Some(1);
/// builder.check(|| {
///     let rt = gmp::Builder::new().maxprocs(1).build().unwrap();
///     rt.block_on(async { gmp::task::yield_now().await });
/// });
/// ```
#[derive(Debug, Default, Clone)]
#[non_exhaustive]
pub struct ModelBuilder {
    /// Caps loom's preemption bound (`LOOM_MAX_PREEMPTIONS` still lowers it).
    pub max_preemptions: Option<usize>,
}

impl ModelBuilder {
    /// The defaults: loom's own (from the `LOOM_*` environment variables).
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `f` under loom (see [`model`]).
    pub fn check<F>(&self, f: F)
    where
        F: Fn() + Sync + Send + 'static,
    {
        use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
        let mut builder = loom::model::Builder::new();
        if let Some(cap) = self.max_preemptions {
            builder.preemption_bound = Some(builder.preemption_bound.map_or(cap, |bound| bound.min(cap)));
        }
        let executions = StdArc::new(AtomicUsize::new(0));
        let counter = executions.clone();
        crate::loom::THREADS_STARTED.with(|started| started.set(0));
        builder.check(move || {
            counter.fetch_add(1, Relaxed);
            f();
        });
        let executions = executions.load(Relaxed);
        assert!(
            executions > 1 || crate::loom::THREADS_STARTED.with(|started| started.get()) == 0,
            "gmp::model: loom explored only {executions} interleaving(s), so the model checks nothing \
             (loom#392); give it more than one goroutine or M"
        );
    }
}
