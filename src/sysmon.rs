//! sysmon: the runtime's monitor thread, which holds no P.
//!
//! # Design
//!
//! sysmon wakes every 20 µs; after 50 rounds in which it had nothing to do it doubles its
//! sleep, up to 10 ms; when every P has stayed idle for a whole round (no poll ran since the
//! last one) and its tick has backed off to 1 ms or more, it sleeps until a P gets busy (the
//! scheduler unparks it), and wakes to a few 20 µs rounds. While backed off, a goroutine made
//! runnable on a P nudges it back to the 20 µs tick for a few rounds: queued work is what a
//! stuck poll would strand, so that is when to watch. Only a retaken syscall resets the tick to
//! 50 fast rounds; marking a poll blocked or preempting one buys 5 (`Tick`). A poll with work
//! queued behind it whose thread read as runnable (descheduled, or computing) is looked at
//! again when its next state read is due, whatever the tick. `GMP_SYSMON_COUNTS=<ms>` prints
//! what sysmon did per second. Each round it looks at every P:
//!
//! - **Go's `retake` rule** decides, for a P whose M is blocked (in `gmp::syscall`, or in a
//!   poll that has not moved for a round), whether to take the P away: yes if goroutines are
//!   queued on it or globally, or timers are pending on it, or no M spins and no P is idle
//!   (then nothing would pick up what a timer, the netpoller or another thread makes runnable
//!   next), or the block has lasted 10 ms.
//! - **A P in `gmp::syscall`** (status `Syscall`): the first round that sees a new syscall
//!   only notes the time. After that, if the rule says so, sysmon retakes the P — a CAS from
//!   `Syscall` that the returning M races — and hands it to another M (Go's `handoffp`, in
//!   `hand_off_processor`). The retake itself is `Scheduler::retake_syscall`
//!   (`sched/syscall.rs`); sysmon keeps the sightings and the rule.
//! - **A P running a poll** (`polls` odd): sysmon notes when it first saw the current value of
//!   `polls`. A poll running past 10 ms gets its P's `preempt` flag set, so gmp's cooperative
//!   points make the goroutine yield (to the end of the global queue). A poll that is *stuck* —
//!   its thread sleeps in the kernel (a blocking call inside a future) for a sysmon round (at
//!   the fast tick, with work queued behind it: once it has run 5 µs since its first
//!   sighting, sysmon spinning beside it meanwhile), or it has run 20 ms — gets its P marked
//!   blocked if the rule says so, and a spare P (allp grows as needed) and another M take
//!   over its queued goroutines (runnext included). When the poll returns, its M notices the
//!   mark and retires a P, so `maxprocs` Ps run goroutines again.
//! - **Work behind a poll**: at every round that sees a poll it saw before (or one that
//!   outlasts its watch), if goroutines are queued on that P, sysmon wakes an idle P's M to
//!   take them (`offer_queued_work`; nothing happens unless a P is idle and no M spins). A
//!   spawn into an empty runnext wakes nobody (`ready_spawned`), so this is what runs such a
//!   goroutine beside a spawner that goes on computing.
//! - **Time slices**: when a P's `slicetick` has not moved for 10 ms, the goroutines handing
//!   off through its runnext have used up their slice (`slice_expired`; see `sched.rs`).
//!
//! Every 10 ms sysmon also polls the network (if no M did) and fires due timers, as a
//! backstop, and it refreshes the coarse clock that `dump()` uses. While a test has paused the
//! runtime's clock, sysmon also moves it to the next timer when the runtime is idle
//! (`time/auto_advance.rs`).
//!
//! # Who may touch what
//!
//! sysmon only reads Ps' counters, sets `preempt`, and changes a P's state through the
//! scheduler's CAS and lock-protected paths (`retake_syscall`, `mark_blocked`), through
//! `Processor`'s named operations. Its per-P notes are its own.

use std::io;
use std::sync::{Arc, Weak};
use std::thread;
use std::time::{Duration, Instant};

use crate::processor::{Processor, ProcessorId, ProcessorStatus, GLOBAL_QUEUE_INTERVAL};
use crate::runq::QueueItem;
use crate::runtime::shared::Shared;
use crate::runtime::trace::SysmonAction;

/// sysmon's shortest sleep (Go: 20 µs).
const MIN_DELAY: Duration = Duration::from_micros(20);
/// sysmon's shortest sleep before a poll's thread is due for a look (`next_recheck`). A
/// sleep this short still takes about 25 µs on a 2-CPU VM (a 20 µs one about 40 µs).
const RECHECK_FLOOR: Duration = Duration::from_micros(1);
/// How long a poll first seen at the fast tick with goroutines queued behind it runs before
/// sysmon looks at its thread (`watch_poll`); with the sleep's overshoot, that look comes
/// about 25 µs after the first sighting.
const LOOK_AGAIN_AFTER: Duration = Duration::from_micros(5);
/// sysmon's longest sleep while some P is busy (Go: 10 ms).
const MAX_DELAY: Duration = Duration::from_millis(10);
/// Idle rounds before the sleep starts doubling (Go: 50).
const IDLE_ROUNDS_BEFORE_BACKOFF: u32 = 50;
/// A poll running this long is asked to yield (Go's `forcePreemptNS`).
pub(crate) const PREEMPT_AFTER: Duration = Duration::from_millis(10);
/// A poll computing (not blocked in the kernel) this long with work queued behind it is
/// treated as stuck.
const STUCK_COMPUTING_AFTER: Duration = Duration::from_millis(20);
/// A syscall lasting this long is retaken even if nothing waits (Go: 10 ms).
const SYSCALL_RETAKE_AFTER: Duration = Duration::from_millis(10);
/// How much polling time may pass between a P's looks at the global queue.
const GLOBAL_CHECK_PERIOD: Duration = Duration::from_micros(200);
/// How much polling time may pass between a P's looks at the P it watches for a stall.
const RESCUE_CHECK_PERIOD: Duration = Duration::from_micros(200);
/// How long sysmon watches a P's poll rate before retuning its global-queue interval.
const GLOBAL_TUNING_WINDOW: Duration = Duration::from_millis(1);
/// How often sysmon polls the network and fires timers as a backstop.
const BACKSTOP_INTERVAL: Duration = Duration::from_millis(10);
/// How long sysmon sleeps, every P idle, while the clock is paused and a timer is pending.
const PAUSED_CLOCK_RECHECK: Duration = Duration::from_millis(1);

/// What sysmon did, counted for `GMP_SYSMON_COUNTS=<ms>`: a debugging aid that prints one
/// line of rates to stderr every `<ms>` (scripts/cpu_per_request.sh reads it). sysmon alone
/// writes these, so they are plain integers.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    /// Rounds (wake-ups that looked at the Ps).
    rounds: u64,
    /// Rounds at the 20 µs tick.
    fast_rounds: u64,
    /// Syscall Ps retaken.
    retakes: u64,
    /// Polls asked to yield (10 ms).
    preempts: u64,
    /// Polls marked blocked: thread asleep in the kernel / computing 20 ms.
    blocked_asleep: u64,
    blocked_computing: u64,
    /// Reads of a thread's state in /proc, and how many found it runnable.
    state_reads: u64,
    state_runnable: u64,
    /// Nudges honoured.
    nudges: u64,
    /// Deep sleeps (every P idle).
    deep_sleeps: u64,
}

/// The period of `GMP_SYSMON_COUNTS`, if set.
fn counts_period() -> Option<Duration> {
    let ms: u64 = std::env::var("GMP_SYSMON_COUNTS").ok()?.parse().ok()?;
    (ms > 0).then(|| Duration::from_millis(ms))
}

impl Counts {
    fn print(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let rate = |n: u64| (n as f64 / secs).round() as u64;
        eprintln!(
            "gmp sysmon/s: rounds={} fast={} retake={} preempt={} blocked_asleep={} blocked_computing={} \
             state_reads={} state_runnable={} nudges={} deep_sleeps={}",
            rate(self.rounds),
            rate(self.fast_rounds),
            rate(self.retakes),
            rate(self.preempts),
            rate(self.blocked_asleep),
            rate(self.blocked_computing),
            rate(self.state_reads),
            rate(self.state_runnable),
            rate(self.nudges),
            rate(self.deep_sleeps),
        );
    }
}

/// sysmon's notes about one P.
#[derive(Debug, Clone, Copy)]
struct ProcessorNotes {
    polls: u64,
    polls_seen_at: Instant,
    preempted: bool,
    handed_off: bool,
    /// The `polls` value the long-poll warning last named (`long_poll.rs`).
    long_poll_warned: u64,
    /// The poll age at which to read the thread's state again (doubles after each read
    /// that finds it computing, so a long CPU poll costs few reads).
    next_state_check: Duration,
    /// The last read of the thread's state found it runnable, with work queued behind the
    /// poll: sysmon looks again at `next_state_check` even if its tick has backed off.
    recheck: bool,
    syscalltick: u32,
    syscall_seen_at: Instant,
    /// `slicetick` as last seen, when, and whether its slice was ended already.
    slicetick: u32,
    slice_seen_at: Instant,
    slice_ended: bool,
    /// schedtick and time at the start of the current poll-rate window.
    window_ticks: u32,
    window_start: Instant,
}

impl ProcessorNotes {
    fn new(now: Instant) -> Self {
        Self {
            polls: u64::MAX,
            polls_seen_at: now,
            preempted: false,
            handed_off: false,
            long_poll_warned: u64::MAX,
            next_state_check: Duration::ZERO,
            recheck: false,
            syscalltick: u32::MAX,
            syscall_seen_at: now,
            slicetick: u32::MAX,
            slice_seen_at: now,
            slice_ended: false,
            window_ticks: 0,
            window_start: now,
        }
    }
}

/// Starts sysmon for `shared`.
pub(crate) fn start(shared: &Arc<Shared>) -> io::Result<thread::JoinHandle<()>> {
    let weak = Arc::downgrade(shared);
    let name = format!("{}-sysmon", shared.config.thread_name);
    let handle = thread::Builder::new().name(name).spawn(move || run(weak))?;
    shared.sched.set_sysmon_thread(handle.thread().clone());
    Ok(handle)
}

fn run(weak: Weak<Shared>) {
    crate::os::reduce_timer_slack();
    let mut tick = Tick::new();
    let mut notes: Vec<ProcessorNotes> = Vec::new();
    let mut last_backstop = Instant::now();
    let mut last_trace = Instant::now();
    let mut auto_advance = crate::time::AutoAdvance::new();
    let counts_period = counts_period();
    let mut counts = Counts::default();
    let mut counts_since = Instant::now();
    let mut idle_streak = IdleStreak::default();
    loop {
        let sleep = tick.next_sleep();
        let early = tick.recheck_in.filter(|&recheck| recheck < sleep);
        thread::park_timeout(early.map_or(sleep, |recheck| recheck.max(RECHECK_FLOOR)));
        let Some(shared) = weak.upgrade() else { return };
        if shared.sched.is_shut_down() {
            return;
        }
        if let Some(period) = shared.trace.schedtrace {
            if last_trace.elapsed() >= period {
                last_trace = Instant::now();
                print_trace(&shared);
            }
        }
        if auto_advance.round(&shared) != crate::time::AutoAdvanceRound::Nothing {
            tick = Tick::new(); // look again (or at what the fired timers started) soon
            continue;
        }
        // With schedtrace on, sysmon never sleeps deeply (as in Go), so the lines keep coming.
        // Only a sysmon that has backed off sleeps deeply, and only once every P has stayed
        // idle for a whole round (`IdleStreak`): a runtime that goes idle between bursts of
        // requests (hundreds of times a second under load) would otherwise pay a sysmon
        // wake-up (a futex wake on the P's side, a context switch) at many of them.
        let may_sleep = shared.trace.schedtrace.is_none() && tick.may_sleep_deeply();
        if idle_streak.stayed_idle(&shared, may_sleep) {
            counts.deep_sleeps += 1;
            if deep_sleep(shared) {
                return;
            }
            // The P that woke us may be about to block its thread: a few 20 µs rounds see it,
            // then the backed-off tick resumes (queued work nudges it, see `Tick`).
            tick.woke();
            continue;
        }
        let now = Instant::now();
        shared.update_coarse_clock();
        if now.duration_since(last_backstop) >= BACKSTOP_INTERVAL {
            last_backstop = now;
            // Only if no M looked for 10 ms: goroutines sysmon readies go to the global queue
            // (it holds no P), behind the work of busy Ps, so it must not take events the Ps
            // would have found themselves within a few hundred microseconds.
            if shared.netpoll.last_poll_age() >= BACKSTOP_INTERVAL {
                crate::context::as_batch_wake(&shared, || shared.netpoll.poll_now());
            }
            shared.timers.run_all_due(shared.timers.now());
        }
        if notes.len() != shared.sched.processors.len() {
            // Spare Ps were added: keep the notes about the others.
            notes.resize(shared.sched.processors.len(), ProcessorNotes::new(now));
        }
        if tick.armed && shared.sched.sysmon_was_nudged() {
            tick.nudged(now);
            counts.nudges += 1;
        }
        counts.rounds += 1;
        if tick.next_sleep() == MIN_DELAY {
            counts.fast_rounds += 1;
        }
        if let Some(period) = counts_period {
            if now.duration_since(counts_since) >= period {
                counts.print(now.duration_since(counts_since));
                counts = Counts::default();
                counts_since = now;
            }
        }
        // Only a round at the 20 µs tick, not an early one, watches a new poll with work
        // queued behind it (`watch_poll`): an early round is for one poll's recheck.
        let fast = tick.next_sleep() == MIN_DELAY && early.is_none();
        let acted = retake(&shared, &mut notes, now, fast, &mut counts);
        tick.recheck_in = next_recheck(&shared, &notes, now);
        tick.after_round(acted, early.is_some(), now, &shared);
        if crate::runtime::trace::is_on() {
            crate::runtime::trace::sysmon_round(&shared);
        }
    }
}

/// When sysmon may sleep deeply: every P idle at two rounds in a row with no poll run in
/// between. Under load the Ps of a server go idle for a few tens of microseconds at a time,
/// hundreds of times a second, and a deep sleep taken in one of those gaps ends at once with
/// a futex wake from the M that takes a P (`wake_sysmon`) and a few 20 µs rounds: on a
/// 2-core machine each of those wake-ups may preempt an M that holds queued goroutines (or
/// the client). Waiting for one backed-off round (1 to 10 ms) before the deep sleep lets
/// only a runtime that is really idle sleep; one that is idle pays one more round first.
#[derive(Debug, Default)]
struct IdleStreak {
    /// The sum of the Ps' `polls` counters at a round that found every P idle (and sysmon
    /// backed off), until a round finds a P busy.
    polls_when_idle: Option<u64>,
}

impl IdleStreak {
    /// True if sysmon should sleep deeply now: `may_sleep` (backed off, no schedtrace), every
    /// P idle, and the same at the previous round with no poll run since.
    fn stayed_idle(&mut self, shared: &Shared, may_sleep: bool) -> bool {
        if !may_sleep || !shared.sched.all_processors_idle() {
            self.polls_when_idle = None;
            return false;
        }
        let polls = shared.sched.processors.iter().map(|processor| processor.polls()).fold(0u64, u64::wrapping_add);
        if self.polls_when_idle == Some(polls) {
            self.polls_when_idle = None;
            return true;
        }
        self.polls_when_idle = Some(polls);
        false
    }
}

/// sysmon's sleep schedule: 20 µs, doubling up to 10 ms after 50 rounds with nothing to do;
/// a nudge (work queued while backed off) buys a few 20 µs rounds, at most once a
/// millisecond, so a busy runtime that spawns constantly does not keep sysmon at 20 µs.
///
/// What resets the schedule to 50 rounds at 20 µs is a retaken syscall (as in Go: more are
/// likely). Marking a poll blocked or asking one to yield buys only `ROUNDS_AFTER_ACT` fast
/// rounds: under load such acts come from polls waiting briefly on a user's lock, and 50
/// rounds after each kept sysmon at 20 µs (thousands of wake-ups a second) for nothing. Waking
/// from a deep sleep buys `ROUNDS_PER_NUDGE` and keeps the backed-off delay.
#[derive(Debug)]
struct Tick {
    delay: Duration,
    idle_rounds: u32,
    fast_rounds: u32,
    armed: bool,
    last_nudge: Instant,
    /// When a poll found computing, with work queued behind it, is due for another look at
    /// its thread's state (`next_recheck`): the sleep is no longer than that.
    recheck_in: Option<Duration>,
}

/// 20 µs rounds a nudge buys: enough to see a poll twice and hand off its P.
const ROUNDS_PER_NUDGE: u32 = 3;
/// Nudges are honoured at most this often.
const NUDGE_PERIOD: Duration = Duration::from_millis(1);
/// 20 µs rounds after marking a poll blocked or preempting one.
const ROUNDS_AFTER_ACT: u32 = 5;
/// sysmon sleeps deeply (every P idle) only once its tick has backed off this far.
const DEEP_SLEEP_AFTER_DELAY: Duration = Duration::from_millis(1);

/// How strongly a round's acts reset sysmon's schedule (`Tick`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Acted {
    Nothing,
    /// Marked a poll blocked or asked one to yield.
    Poll,
    /// Retook a P from a syscall.
    Syscall,
}

impl Tick {
    fn new() -> Self {
        Self {
            delay: MIN_DELAY,
            idle_rounds: 0,
            fast_rounds: 0,
            armed: false,
            last_nudge: Instant::now(),
            recheck_in: None,
        }
    }

    fn next_sleep(&self) -> Duration {
        if self.fast_rounds > 0 {
            MIN_DELAY
        } else {
            self.delay
        }
    }

    fn nudged(&mut self, now: Instant) {
        self.armed = false;
        self.fast_rounds = ROUNDS_PER_NUDGE;
        self.last_nudge = now;
    }

    /// True once the tick has backed off far enough for a deep sleep.
    fn may_sleep_deeply(&self) -> bool {
        self.delay >= DEEP_SLEEP_AFTER_DELAY && self.fast_rounds == 0
    }

    /// Back from a deep sleep (which armed nudges, the tick being backed off): a few fast
    /// rounds, then the backed-off delay again. Nudges stay armed: work queued on a P in those
    /// first rounds buys more (disarming them here left a poll that blocked just after the
    /// first rounds to the backed-off tick, up to 10 ms).
    fn woke(&mut self) {
        self.armed = true;
        self.fast_rounds = ROUNDS_PER_NUDGE;
    }

    /// `early`: the round came before the tick, for a poll due for a look (`next_recheck`).
    /// Unless it acted, it leaves the schedule as it was: it neither uses up a fast round a
    /// nudge bought nor counts towards the back-off.
    fn after_round(&mut self, acted: Acted, early: bool, now: Instant, shared: &Shared) {
        if early && acted == Acted::Nothing {
            return;
        }
        self.fast_rounds = self.fast_rounds.saturating_sub(1);
        if acted == Acted::Syscall {
            self.idle_rounds = 0;
            self.delay = MIN_DELAY;
        } else if acted == Acted::Poll {
            self.idle_rounds = self.idle_rounds.min(IDLE_ROUNDS_BEFORE_BACKOFF - ROUNDS_AFTER_ACT);
            self.delay = MIN_DELAY;
        } else {
            self.idle_rounds += 1;
            if self.idle_rounds > IDLE_ROUNDS_BEFORE_BACKOFF {
                self.delay = (self.delay * 2).min(MAX_DELAY);
            }
        }
        let rearm = self.delay > MIN_DELAY && now.duration_since(self.last_nudge) >= NUDGE_PERIOD;
        if rearm != self.armed {
            self.armed = rearm;
            shared.sched.set_sysmon_backed_off(rearm);
        }
    }
}

fn print_trace(shared: &Shared) {
    let mut text = crate::trace::sched_line(shared);
    text.push('\n');
    if shared.trace.scheddetail {
        text.push_str(&crate::trace::detail_lines(shared));
    }
    eprint!("{text}");
}

/// Sleeps while every P is idle: until a P gets busy, or the next timer is due (then fires
/// it). Returns true if the runtime is gone.
fn deep_sleep(shared: Arc<Shared>) -> bool {
    if !shared.sched.sysmon_prepare_sleep() {
        return false;
    }
    // A paused clock has no real deadline: look again shortly (auto-advance may be waiting
    // for a blocking call or a woken main future).
    let wake_at = shared.timers.next_deadline().map(|deadline| {
        shared.timers.clock.real_deadline(deadline).unwrap_or_else(|| Instant::now() + PAUSED_CLOCK_RECHECK)
    });
    let weak = Arc::downgrade(&shared);
    drop(shared); // don't keep the runtime alive while asleep
    match wake_at {
        Some(wake_at) => thread::park_timeout(wake_at.saturating_duration_since(Instant::now())),
        None => thread::park(),
    }
    let Some(shared) = weak.upgrade() else { return true };
    shared.sched.wake_sysmon(); // clears the sleeping flag if a timeout woke us
    shared.sched.set_sysmon_backed_off(true); // `Tick::woke`: nudges stay armed
    shared.update_coarse_clock();
    shared.timers.run_all_due(shared.timers.now());
    shared.sched.is_shut_down()
}

/// One pass over the Ps. Returns what sysmon did (retook, preempted or marked blocked).
/// `fast`: a round at sysmon's 20 µs tick, not an early one (see `watch_poll`).
fn retake(shared: &Shared, notes: &mut [ProcessorNotes], now: Instant, fast: bool, counts: &mut Counts) -> Acted {
    let mut acted = Acted::Nothing;
    for (p, processor) in shared.sched.processors.iter().enumerate() {
        let note = &mut notes[p];
        match processor.status() {
            ProcessorStatus::Idle => {}
            ProcessorStatus::Syscall => {
                if watch_syscall(shared, p, note, now, counts) {
                    acted = Acted::Syscall;
                }
            }
            ProcessorStatus::Running => {
                if watch_poll(shared, p, note, now, fast, counts) {
                    acted = acted.max(Acted::Poll);
                }
                // Ending a time slice is housekeeping, as Go's preemptions are: it does not
                // keep sysmon at its fastest tick.
                watch_slice(shared, p, note, now);
                tune_global_interval(shared, p, note, now);
            }
        }
    }
    acted
}

fn watch_syscall(
    shared: &Shared,
    p: ProcessorId,
    note: &mut ProcessorNotes,
    now: Instant,
    counts: &mut Counts,
) -> bool {
    let tick = shared.sched.processors[p].syscall_tick();
    if tick != note.syscalltick {
        // First sighting of this call: only note it ("at least one sysmon tick").
        note.syscalltick = tick;
        note.syscall_seen_at = now;
        return false;
    }
    if !retake_is_wanted(shared, p, now.duration_since(note.syscall_seen_at)) {
        return false;
    }
    if !shared.sched.retake_syscall(p) {
        return false; // the M came back first
    }
    counts.retakes += 1;
    traced(shared, SysmonAction::HandOff, p);
    true
}

/// Watches the poll running on P `p`. `fast`: a round at sysmon's 20 µs tick; a poll first
/// seen then with goroutines queued behind it is watched on the spot (`outlasts`) until it
/// ends or has run `LOOK_AGAIN_AFTER` since that sighting, and in the second case its thread
/// is looked at at once, rather than at the next tick or after a sleep: a 20 µs sleep takes
/// about 40 µs on a 2-CPU VM and the shortest about 25 µs, while most polls end within the
/// watch, so it costs sysmon a few microseconds of spinning at most. While backed off, sysmon
/// does not do this: under load every round finds such a poll.
fn watch_poll(
    shared: &Shared,
    p: ProcessorId,
    note: &mut ProcessorNotes,
    now: Instant,
    fast: bool,
    counts: &mut Counts,
) -> bool {
    let processor = &shared.sched.processors[p];
    let polls = processor.polls();
    if polls % 2 == 0 {
        note.polls = polls;
        return false; // between polls: looking for work or parked
    }
    let age = if polls == note.polls {
        now.duration_since(note.polls_seen_at)
    } else {
        note.polls = polls;
        note.polls_seen_at = now;
        note.preempted = false;
        note.handed_off = false;
        // A poll is looked at once it has been seen running for `LOOK_AGAIN_AFTER` (at a
        // tick's round, a whole tick; for one watched now, as soon as the watch ends).
        note.next_state_check = LOOK_AGAIN_AFTER;
        note.recheck = false;
        crate::poll_watch::note_first_sighting(processor, polls, shared.coarse_now());
        if !fast || processor.queue.is_empty() {
            return false;
        }
        match outlasts(processor, polls, now, LOOK_AGAIN_AFTER) {
            Some(watched) => watched,
            None => return false, // it ended while watched: a poll like most
        }
    };
    crate::long_poll::check(shared, p, polls, age, &mut note.long_poll_warned);
    // Goroutines queued behind a poll that has run for a round (spawned by it, which woke
    // nobody, or readied meanwhile) get an idle P's M to take them, at every round while it
    // runs: a spinner can miss runnext (it steals it only in its last round) and park.
    shared.sched.offer_queued_work(p);
    let mut acted = false;
    if age >= PREEMPT_AFTER && !note.preempted {
        note.preempted = true;
        processor.request_preempt();
        counts.preempts += 1;
        acted = true;
        traced(shared, SysmonAction::Preempt, p);
    }
    if !note.handed_off && retake_is_wanted(shared, p, age) {
        let computing = age >= STUCK_COMPUTING_AFTER;
        let stuck = computing
            || (age >= note.next_state_check && {
                note.next_state_check = (age * 2).max(MIN_DELAY);
                counts.state_reads += 1;
                let blocked = crate::os::thread_is_blocked(processor.owner_thread());
                counts.state_runnable += u64::from(!blocked);
                note.recheck = !blocked;
                blocked
            });
        if stuck {
            note.handed_off = true;
            note.recheck = false;
            if shared.sched.mark_blocked(p) {
                if computing {
                    counts.blocked_computing += 1;
                } else {
                    counts.blocked_asleep += 1;
                }
                acted = true; // counted in `blocked_polls` by `mark_blocked`
                traced(shared, SysmonAction::StuckPollRetake, p);
            }
        }
    }
    acted
}

/// Spins while poll `polls` runs on `processor`, until `watch` has passed since `seen_at`.
/// Returns how long it has been seen running if it outlasted the watch, `None` if it ended.
fn outlasts<T: QueueItem>(processor: &Processor<T>, polls: u64, seen_at: Instant, watch: Duration) -> Option<Duration> {
    while processor.polls() == polls {
        let age = seen_at.elapsed();
        if age >= watch {
            return Some(age);
        }
        std::hint::spin_loop();
    }
    None
}

/// How soon a poll with goroutines queued behind it is due for a (next) read of its thread's
/// state: one first seen at the fast tick (`watch_poll`), or one whose thread last read as
/// runnable. Without this a poll descheduled by the OS at the moment
/// of the read (a 2-CPU machine under load) waited for the backed-off tick (up to 10 ms)
/// before its next look, though it had gone to sleep in the kernel right after. The reads
/// double in spacing (`next_state_check`), so a long computing poll costs few rounds.
fn next_recheck(shared: &Shared, notes: &[ProcessorNotes], now: Instant) -> Option<Duration> {
    let mut soonest: Option<Duration> = None;
    for (p, note) in notes.iter().enumerate() {
        if !note.recheck || note.handed_off || note.polls % 2 == 0 {
            continue;
        }
        let processor = &shared.sched.processors[p];
        if processor.polls() != note.polls || processor.queue.is_empty() {
            continue;
        }
        let due = (note.polls_seen_at + note.next_state_check).saturating_duration_since(now);
        soonest = Some(soonest.map_or(due, |soonest| soonest.min(due)));
    }
    soonest
}

/// Records what sysmon did in the execution trace, if it is on.
#[inline]
fn traced(shared: &Shared, what: SysmonAction, p: ProcessorId) {
    if crate::runtime::trace::is_on() {
        crate::runtime::trace::sysmon_acted(shared, what, p);
    }
}

/// Go's time slice: goroutines taken from runnext inherit the slice of the one that woke them
/// (Go's `inheritTime`), so a pair handing off through runnext would keep its P forever.
/// When a P's `slicetick` has not moved for 10 ms, end the slice: the next goroutine in runnext
/// waits its turn at the ring's tail.
fn watch_slice(shared: &Shared, p: ProcessorId, note: &mut ProcessorNotes, now: Instant) {
    let processor = &shared.sched.processors[p];
    let slicetick = processor.slicetick();
    if slicetick != note.slicetick {
        note.slicetick = slicetick;
        note.slice_seen_at = now;
        note.slice_ended = false;
        return;
    }
    if note.slice_ended || now.duration_since(note.slice_seen_at) < PREEMPT_AFTER {
        return;
    }
    note.slice_ended = true;
    processor.expire_slice();
}

/// Go's `retake` rule, for a P whose M is stuck in a poll or a syscall that has lasted a
/// sysmon round: hand it off if goroutines are queued on it, or timers are pending on it, or
/// no M spins and no P is idle (nobody would pick up what becomes runnable next: a timer
/// sysmon fires, a netpoll wake, a wake from a plain thread), or the block has lasted 10 ms.
fn retake_is_wanted(shared: &Shared, p: ProcessorId, age: Duration) -> bool {
    let sched = &shared.sched;
    !sched.processors[p].queue.is_empty()
        || !sched.global.is_empty()
        || sched.spinning_machines() + sched.idle_processors() == 0
        || age >= SYSCALL_RETAKE_AFTER
        || shared.timers.has_pending(p)
}

/// Sets how often P `p` looks at the global queue from its recent poll rate: every
/// `GLOBAL_CHECK_PERIOD` of polling, between 8 and 61 rounds (61 when polls are short, as in
/// Go). With long polls a fixed 61 rounds would leave outside spawns waiting for milliseconds.
fn tune_global_interval(shared: &Shared, p: ProcessorId, note: &mut ProcessorNotes, now: Instant) {
    let elapsed = now.duration_since(note.window_start);
    if elapsed < GLOBAL_TUNING_WINDOW {
        return;
    }
    let processor = &shared.sched.processors[p];
    let ticks = processor.schedtick();
    let rounds = ticks.wrapping_sub(note.window_ticks).max(1);
    note.window_ticks = ticks;
    note.window_start = now;
    let per_round = elapsed / rounds;
    let interval = (GLOBAL_CHECK_PERIOD.as_nanos() / per_round.as_nanos().max(1)) as u32;
    let interval = interval.clamp(8, GLOBAL_QUEUE_INTERVAL);
    processor.set_global_interval(interval);
    // The look at a watched P (`Scheduler::rescue_stalled`) comes on every this many global
    // rounds: about every `RESCUE_CHECK_PERIOD` of polling.
    let per_global_round = per_round.as_nanos().max(1) * u128::from(interval);
    processor.set_rescue_every((RESCUE_CHECK_PERIOD.as_nanos() / per_global_round).clamp(1, 4096) as u32);
}
