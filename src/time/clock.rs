//! The runtime's clock, and the paused clock for tests: [`pause`], [`advance`], [`resume`]
//! (tokio's `time::pause`, `advance`, `resume`).
//!
//! # Design
//!
//! Each runtime has one [`Clock`] (inside its `Timers`). Every reading of "now" that decides
//! whether a timer is due — `Sleep`, `Interval`, the Ps and sysmon firing timers, the netpoller's
//! timeout — and [`Instant::now`](super::Instant::now) on the runtime's threads goes through it.
//! Deadlines are `std::time::Instant`s on the clock's time line, which is real time until the
//! clock is first paused.
//!
//! - **Running, never paused** (`altered` false): `now` is `std::time::Instant::now()`, after one
//!   relaxed load of `altered`. This is the only cost for a runtime that never pauses.
//! - **Paused**: `now` is `virtual_mark`, frozen. [`advance`] moves it forward and fires the
//!   timers it passes, in deadline order. When the runtime has nothing left to do but wait for a
//!   timer, sysmon moves it to the next deadline (`auto_advance.rs`), so a test of a ten-minute
//!   timeout takes milliseconds.
//! - **Resumed**: `now` is `virtual_mark + (real now - real_mark)`: real speed, from where the
//!   paused clock stood. Virtual time never goes backwards.
//!
//! The clock is **per runtime**: pausing it affects the runtime running the calling thread and
//! no other; code outside every runtime reads real time. `pause`, `advance` and `resume` panic
//! outside a runtime. Changes take the clock's lock; readers of an altered clock take it too
//! (a paused clock is for tests, where a lock per reading costs nothing that matters).
//!
//! A real wait for a virtual deadline (the netpoller's timeout, sysmon's sleep) is converted
//! with [`Clock::real_deadline`]: while paused there is none, as waiting does not move a paused
//! clock; the auto-advance does.

use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::{Duration, Instant as StdInstant};

use crate::context;
use crate::loom::AtomicBool;
use crate::runtime::shared::Shared;
use std::sync::atomic::{AtomicBool as StdAtomicBool, AtomicUsize, Ordering};

/// One runtime's clock.
#[derive(Debug)]
pub(crate) struct Clock {
    /// False until the clock is first paused; `now` is then real time.
    altered: StdAtomicBool,
    state: Mutex<ClockState>,
    /// The "main future woken" flags of the threads inside `block_on` (M0s): while one is set,
    /// a main future is runnable without a P, so the runtime is not idle (`auto_advance.rs`).
    interrupts: crate::loom::Mutex<Vec<Arc<AtomicBool>>>,
    /// `gmp::syscall` calls running that began while the clock was altered: sysmon may have
    /// retaken their Ps, so every P can be idle while they run (`auto_advance.rs`).
    syscalls: AtomicUsize,
}

#[derive(Debug, Clone, Copy)]
struct ClockState {
    paused: bool,
    /// Virtual time at the last change (`now` while paused).
    virtual_mark: StdInstant,
    /// Real time at the last change.
    real_mark: StdInstant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        let now = StdInstant::now();
        Self {
            altered: StdAtomicBool::new(false),
            state: Mutex::new(ClockState { paused: false, virtual_mark: now, real_mark: now }),
            interrupts: crate::loom::Mutex::new(Vec::new()),
            syscalls: AtomicUsize::new(0),
        }
    }

    /// Now, on this clock.
    #[inline]
    pub(crate) fn now(&self) -> StdInstant {
        let real = StdInstant::now();
        if !self.altered.load(Ordering::Relaxed) {
            return real;
        }
        self.state().virtual_at(real)
    }

    /// True while the clock is paused.
    #[inline]
    pub(crate) fn is_paused(&self) -> bool {
        self.altered.load(Ordering::Relaxed) && self.state().paused
    }

    /// The real instant at which this clock reaches `deadline`, or `None` while it is paused
    /// (no real wait reaches a virtual deadline then).
    pub(crate) fn real_deadline(&self, deadline: StdInstant) -> Option<StdInstant> {
        if !self.altered.load(Ordering::Relaxed) {
            return Some(deadline);
        }
        let state = self.state();
        if state.paused {
            return None;
        }
        Some(match deadline.checked_duration_since(state.virtual_mark) {
            Some(ahead) => state.real_mark.checked_add(ahead).unwrap_or(deadline),
            None => state.real_mark.checked_sub(state.virtual_mark - deadline).unwrap_or(state.real_mark),
        })
    }

    pub(crate) fn pause(&self) -> Result<(), &'static str> {
        let mut state = self.state();
        if state.paused {
            return Err("the clock is already paused");
        }
        let real = StdInstant::now();
        *state = ClockState { paused: true, virtual_mark: state.virtual_at(real), real_mark: real };
        self.altered.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn resume(&self) -> Result<(), &'static str> {
        let mut state = self.state();
        if !state.paused {
            return Err("the clock is not paused");
        }
        *state = ClockState { paused: false, virtual_mark: state.virtual_mark, real_mark: StdInstant::now() };
        Ok(())
    }

    /// Moves the paused clock forward by `duration`; returns the new now.
    fn advance(&self, duration: Duration) -> Result<StdInstant, &'static str> {
        let mut state = self.state();
        if !state.paused {
            return Err("the clock is not paused");
        }
        state.virtual_mark = state.virtual_mark.checked_add(duration).ok_or("the duration overflows the clock")?;
        Ok(state.virtual_mark)
    }

    /// Moves the paused clock forward to `instant` (never back). False if it is not paused.
    pub(crate) fn advance_to(&self, instant: StdInstant) -> bool {
        let mut state = self.state();
        if !state.paused {
            return false;
        }
        state.virtual_mark = state.virtual_mark.max(instant);
        true
    }

    /// True if the main future of some `block_on` has been woken and not yet polled.
    pub(crate) fn main_future_woken(&self) -> bool {
        crate::loom::lock(&self.interrupts).iter().any(|flag| flag.load(crate::loom::Ordering::SeqCst))
    }

    /// True while some `block_on` is running its main future on this runtime (loom models).
    #[allow(dead_code)]
    pub(crate) fn has_main_future(&self) -> bool {
        !crate::loom::lock(&self.interrupts).is_empty()
    }

    /// `gmp::syscall`, on entry: counts the call if the clock has ever been paused (one relaxed
    /// load otherwise). Returns whether it was counted; if so, call
    /// [`syscall_finished`](Self::syscall_finished) once the M holds a P again (or failed to).
    #[inline]
    pub(crate) fn syscall_started(&self) -> bool {
        if !self.altered.load(Ordering::Relaxed) {
            return false;
        }
        self.syscalls.fetch_add(1, Ordering::SeqCst);
        true
    }

    pub(crate) fn syscall_finished(&self) {
        self.syscalls.fetch_sub(1, Ordering::SeqCst);
    }

    /// True while a counted `gmp::syscall` runs.
    pub(crate) fn syscall_running(&self) -> bool {
        self.syscalls.load(Ordering::SeqCst) != 0
    }

    fn watch(&self, flag: &Arc<AtomicBool>) {
        crate::loom::lock(&self.interrupts).push(flag.clone());
    }

    fn unwatch(&self, flag: &Arc<AtomicBool>) {
        let mut flags = crate::loom::lock(&self.interrupts);
        if let Some(index) = flags.iter().position(|watched| Arc::ptr_eq(watched, flag)) {
            flags.swap_remove(index);
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ClockState> {
        crate::loom::lock(&self.state)
    }
}

impl ClockState {
    fn virtual_at(&self, real: StdInstant) -> StdInstant {
        if self.paused {
            return self.virtual_mark;
        }
        self.virtual_mark + real.saturating_duration_since(self.real_mark)
    }
}

/// Keeps an M0's "main future woken" flag on its runtime's watch list while it is inside
/// `block_on` (held by `block_on`, next to its context guard).
pub(crate) struct MainFutureWatch {
    shared: Arc<Shared>,
    flag: Arc<AtomicBool>,
}

impl MainFutureWatch {
    pub(crate) fn new(shared: &Arc<Shared>, flag: &Arc<AtomicBool>) -> Self {
        shared.timers.clock.watch(flag);
        Self { shared: shared.clone(), flag: flag.clone() }
    }
}

impl Drop for MainFutureWatch {
    fn drop(&mut self) {
        self.shared.timers.clock.unwatch(&self.flag);
    }
}

/// Now on the clock of the runtime running this thread; real time outside one.
#[inline]
pub(crate) fn now() -> StdInstant {
    context::with_current(|context| match context {
        Some(context) => context.shared.timers.now(),
        None => StdInstant::now(),
    })
}

/// Pauses the clock of the runtime running this thread (tokio's `time::pause`).
///
/// From now on, [`Instant::now`](super::Instant::now) on this runtime stands still, and timers
/// ([`sleep`](super::sleep), [`timeout`](super::timeout), [`interval`](super::interval)) wait
/// for virtual time. It moves in two ways:
///
/// - [`advance`] moves it forward by a duration and fires the timers it passes;
/// - **auto-advance**: when the runtime has nothing to do but wait for a timer — no goroutine
///   runnable or running, no main future woken, no `spawn_blocking` call running or queued, no
///   `gmp::syscall` running, and the network reports nothing — the clock jumps to the next
///   timer's deadline (sysmon checks twice, tens of microseconds apart, before it moves it).
///   So a test of a ten-minute timeout runs in milliseconds.
///
/// [`resume`] lets it run again at real speed. [`#[gmp::test(start_paused = true)]`](crate::test)
/// calls `pause` before the test body runs.
///
/// The clock is per runtime: other runtimes, and code outside any runtime (a plain thread), keep
/// real time. A [`gmp::syscall`](crate::syscall) in progress holds the auto-advance back (if it
/// began after the clock was first paused); I/O the OS has not reported yet, and a plain thread
/// about to wake a goroutine, do not (as in tokio, tests that mix real I/O or threads with a
/// paused clock can race).
///
/// # Panics
///
/// Outside a gmp runtime, and if the clock is already paused.
///
/// # Examples
///
/// ```
/// use gmp::time::{pause, sleep, timeout, Duration, Instant};
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     pause();
///     let start = Instant::now();
///     let real = std::time::Instant::now();
///     // Nothing else to do: the clock skips straight to the deadline.
///     assert!(timeout(Duration::from_secs(600), std::future::pending::<()>()).await.is_err());
///     assert_eq!(start.elapsed(), Duration::from_secs(600));
///     assert!(real.elapsed() < Duration::from_secs(60));
///     sleep(Duration::from_secs(3600)).await;
///     assert_eq!(start.elapsed(), Duration::from_secs(4200));
/// });
/// ```
#[track_caller]
pub fn pause() {
    let shared = current_runtime("gmp::time::pause");
    if let Err(problem) = shared.timers.clock.pause() {
        panic!("gmp::time::pause: {problem}; call gmp::time::resume first to pause it again");
    }
}

/// Lets the paused clock of this thread's runtime run again at real speed, from the virtual
/// time it shows now (tokio's `time::resume`). Virtual time never goes backwards, so after
/// `advance`, [`Instant::now`](super::Instant::now) stays ahead of real time.
///
/// # Panics
///
/// Outside a gmp runtime, and if the clock is not paused.
///
/// # Examples
///
/// ```
/// use gmp::time::{advance, pause, resume, sleep, Duration, Instant};
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     pause();
///     let start = Instant::now();
///     advance(Duration::from_secs(60)).await;
///     resume();
///     sleep(Duration::from_millis(5)).await; // a real 5 ms
///     assert!(start.elapsed() >= Duration::from_secs(60) + Duration::from_millis(5));
/// });
/// ```
#[track_caller]
pub fn resume() {
    let shared = current_runtime("gmp::time::resume");
    if let Err(problem) = shared.timers.clock.resume() {
        panic!("gmp::time::resume: {problem}; call gmp::time::pause first");
    }
    // Whoever sleeps until a timer (the M in the netpoller, sysmon) computed its wait while
    // the clock stood still: make it compute again.
    shared.netpoll.notify();
    shared.sched.wake_sysmon();
}

/// Moves the paused clock of this thread's runtime forward by `duration`, fires every timer
/// whose deadline it passes — in deadline order, each woken goroutine seeing the new time — and
/// yields so that the goroutines it woke onto the caller's P run before it returns (tokio's
/// `time::advance`). Goroutines that other Ps took may still be running when it returns.
///
/// To let time pass until the next timer instead, sleep: the paused clock auto-advances when
/// the runtime has nothing else to do (see [`pause`]).
///
/// # Panics
///
/// When polled outside a gmp runtime, if the clock is not paused, or if `duration` takes the
/// clock past what `Instant` can represent.
///
/// # Examples
///
/// ```
/// use gmp::time::{advance, pause, sleep, Duration};
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     pause();
///     let sleeper = gmp::spawn(sleep(Duration::from_secs(30)));
///     gmp::yield_now().await; // let it register its timer
///     advance(Duration::from_secs(29)).await;
///     assert!(!sleeper.is_finished());
///     advance(Duration::from_secs(1)).await;
///     sleeper.await.unwrap();
/// });
/// ```
pub async fn advance(duration: Duration) {
    let shared = current_runtime("gmp::time::advance");
    let now = match shared.timers.clock.advance(duration) {
        Ok(now) => now,
        Err(problem) => {
            panic!("gmp::time::advance: {problem}; call gmp::time::pause (or use #[gmp::test(start_paused = true)])")
        }
    };
    let mut fired: Vec<Waker> = Vec::new();
    shared.timers.take_due_in_order(now, &mut fired);
    context::as_batch_wake(&shared, || {
        for waker in fired {
            // A foreign waker may panic; it must not unwind through advance's caller.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake()));
        }
    });
    settle(&shared).await;
}

/// Most yields `advance` makes waiting for the goroutines it woke to run (bounded, so a
/// goroutine that keeps the queue busy forever cannot keep it from returning).
const SETTLE_YIELDS: usize = 1024;

/// Yields until neither the caller's P nor the global queue holds a runnable goroutine.
async fn settle(shared: &Shared) {
    for _ in 0..SETTLE_YIELDS {
        crate::yield_now().await;
        let local = context::current_processor(shared).is_some_and(|p| !shared.sched.processors[p].queue.is_empty());
        if !local && shared.sched.global.is_empty() {
            return;
        }
    }
}

#[track_caller]
fn current_runtime(call: &str) -> Arc<Shared> {
    context::with_current(|context| context.map(|c| c.shared.clone()))
        .unwrap_or_else(|| crate::context::outside_runtime(call, crate::context::IN_A_GOROUTINE))
}
