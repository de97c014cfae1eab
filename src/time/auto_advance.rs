//! Auto-advance: while a runtime's clock is paused and the runtime has nothing left to do but
//! wait for a timer, sysmon moves the clock to the next timer's deadline and fires it.
//!
//! # Design
//!
//! sysmon calls [`AutoAdvance::round`] on each of its rounds while the clock is paused. A round
//! *observes* the runtime and finds it idle when, in this order:
//!
//! 1. a timer is pending (its deadline is the step to take);
//! 2. the `spawn_blocking` pool has no call queued or running;
//! 3. every P is idle (`npidle` counts them all) — read first as (A);
//! 4. no main future of a `block_on` is woken and waiting to be polled (its M0 may still be on
//!    its way to a P; the flags are on the clock's watch list, see `clock.rs`), and no
//!    `gmp::syscall` is running (sysmon may have retaken its P);
//! 5. no goroutine is queued (global queue, every P's ring and runnext);
//! 6. a non-blocking look at the network readies nothing;
//! 7. every P is still idle and no P ran a poll since (A): the sum of the Ps' poll counters
//!    is unchanged.
//!
//! Why the order: whatever wakes a main future or a goroutine while holding a P (a goroutine,
//! the M back from the netpoller) does so before it releases that P, and the release is a
//! `SeqCst` update of `npidle`; so if (A) sees every P idle, the wake is visible to (4) and (5).
//! A wake from a blocking-pool thread happens before the thread goes back to the pool's lock,
//! which (2) takes. A woken M0 takes a P before it clears its flag, and an M back from a
//! syscall takes a P before it uncounts the call, so a flag or count seen clear in (4) after
//! the event means that P shows in (7).
//!
//! Only an observation repeated on the next round, with the same deadline and the same poll
//! counters, moves the clock: this leaves a round (tens of microseconds) for what the steps
//! cannot see — an M that has just left the netpoller's wait but not yet taken a P, a plain
//! thread about to wake a goroutine — to show up.
//!
//! Not seen (documented at `pause`): I/O the OS has not reported yet; a plain thread about to
//! wake a goroutine; a syscall that began before the clock was first paused; the rest of a
//! poll that an M finishes without a P after a syscall found none idle.

use std::time::Instant as StdInstant;

use crate::runtime::shared::Shared;

/// sysmon's notes between rounds.
#[derive(Debug, Default)]
pub(crate) struct AutoAdvance {
    last: Option<Observation>,
}

/// What one round saw of an idle runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Observation {
    deadline: StdInstant,
    polls: u64,
}

/// What a round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Round {
    /// The clock moved to the next deadline and its timers fired.
    Advanced,
    /// The runtime looked idle for the first time: look again soon.
    Watching,
    /// Not paused, no timer pending, or the runtime is busy.
    Nothing,
}

impl AutoAdvance {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// One sysmon round (see the module docs).
    pub(crate) fn round(&mut self, shared: &Shared) -> Round {
        let clock = &shared.timers.clock;
        if !clock.is_paused() {
            self.last = None;
            return Round::Nothing;
        }
        let Some(observation) = observe(shared) else {
            self.last = None;
            return Round::Nothing;
        };
        if self.last != Some(observation) {
            self.last = Some(observation);
            return Round::Watching;
        }
        self.last = None;
        if !clock.advance_to(observation.deadline) {
            return Round::Nothing; // resumed meanwhile
        }
        shared.timers.run_all_due(shared.timers.now());
        Round::Advanced
    }
}

/// Looks at the runtime; `Some` if it is idle with a timer pending.
fn observe(shared: &Shared) -> Option<Observation> {
    let sched = &shared.sched;
    let deadline = shared.timers.next_deadline()?;
    let now = shared.timers.now();
    if deadline <= now {
        // Due but not fired yet (every P is idle, or about to be): fire it, no need to move.
        shared.timers.run_all_due(now);
        return None;
    }
    if !shared.blocking.is_quiet() {
        return None;
    }
    let polls = idle_poll_count(shared)?;
    if shared.timers.clock.main_future_woken() || shared.timers.clock.syscall_running() {
        return None;
    }
    if !sched.global.is_empty() || sched.processors.iter().any(|p| !p.queue.is_empty()) {
        return None;
    }
    if crate::context::as_batch_wake(shared, || shared.netpoll.poll_now_eager()) {
        return None;
    }
    if idle_poll_count(shared)? != polls {
        return None;
    }
    Some(Observation { deadline, polls })
}

/// The sum of every P's poll counter, if every P is idle.
fn idle_poll_count(shared: &Shared) -> Option<u64> {
    let sched = &shared.sched;
    if !sched.all_processors_idle() {
        return None;
    }
    Some(sched.processors.iter().fold(0u64, |sum, p| sum.wrapping_add(p.polls_synced())))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::task::Waker;
    use std::thread;
    use std::time::{Duration, Instant as StdInstant};

    use crate::loom::{AtomicBool, Ordering::SeqCst};
    use crate::time::MainFutureWatch;

    /// The runtime's own sysmon does the advancing here; the test only holds the flag.
    #[test]
    fn a_woken_main_future_holds_the_clock_until_it_is_polled() {
        let rt = crate::Builder::new().maxprocs(1).build().unwrap();
        let shared = rt.handle().shared().clone();
        let woken = Arc::new(AtomicBool::new(true));
        let watch = MainFutureWatch::new(&shared, &woken);
        shared.timers.clock.pause().unwrap();
        let start = shared.timers.now();
        shared.timers.insert(0, start + Duration::from_secs(60), Waker::noop().clone());
        shared.sched.wake_sysmon();
        thread::sleep(Duration::from_millis(100));
        assert_eq!(shared.timers.now(), start, "the clock moved while a main future was woken");
        woken.store(false, SeqCst);
        let limit = StdInstant::now() + Duration::from_secs(10);
        while shared.timers.now() == start && StdInstant::now() < limit {
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(shared.timers.now(), start + Duration::from_secs(60));
        drop(watch);
        assert!(!shared.timers.clock.main_future_woken());
    }
}
