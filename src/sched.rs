//! The scheduler: how Ms find goroutines, and how idle Ms are parked and woken.
//!
//! # Finding work (`find_runnable`)
//!
//! An M holding a P looks, in order: every 61st tick one goroutine from the global queue (so a
//! busy P cannot starve it), and about every 200 µs of those, half the queue of another P that
//! has not finished a poll since the previous look (its M descheduled by the OS or in a long
//! poll; not with more Ps than CPUs) → its P's runnext (which inherits the running time
//! slice, until sysmon ends a slice that has lasted 10 ms) → its ring → a batch from the global
//! queue → the network, without blocking → half the ring of a random other P (4 rounds over all
//! Ps; a running P's runnext only in the last round, after a ~3 µs back-off) → it gives up its
//! P and parks.
//!
//! # Worker parking and unparking (after Go's `proc.go`)
//!
//! We want enough running Ms to use the available Ps, but not so many that they burn CPU
//! looking for work that isn't there. Making a goroutine runnable (`ready_*`) wakes an idle P's
//! M only if there is an idle P and no M is **spinning** (looking for work to steal); a spawn
//! into an empty runnext wakes nobody at all, since its own M runs it next, and sysmon offers
//! it to an idle P if the spawner's poll goes on for a round (`ready_spawned`). A spinning
//! M that finds work stops spinning and wakes the next one (`wakep`), so a burst of work fans
//! out one M at a time. An M may spin only while spinners are fewer than half the busy Ps.
//!
//! The race to get right: a producer makes work runnable while the last spinner decides there
//! is none and parks. Both sides publish, then fence, then look:
//!
//! - producer: push the goroutine; `fence(SeqCst)`; read `npidle` and `nmspinning`;
//! - spinner: decrement `nmspinning`; `fence(SeqCst)`; re-check every queue.
//!
//! A push into runnext (every spawn and wake on a P) is a `SeqCst` swap and skips the fence;
//! the spinner reads runnext with an RMW instead, which orders the two sides without it
//! (`wake_if_idle_after_swap`).
//!
//! Either the producer sees no spinner (and wakes one), or the spinner sees the work. The same
//! holds for an M that puts its P on the idle list: it bumps `npidle` under the idle lock,
//! fences, then re-checks the global queue.
//!
//! # Who may touch what
//!
//! `idle` (the lists of idle Ps and parked Ms) changes only under its mutex; `npidle` mirrors the
//! length of the P list for lock-free readers. `nmspinning` is changed by Ms entering or leaving
//! the spinning state and by `wakep` (which counts the M it wakes as spinning). A `Machine`
//! belongs to its thread; its `Parker` is shared with whoever wakes it.
//!
//! # Files
//!
//! This file: finding work and giving a P up. `sched/ready.rs`: making goroutines runnable
//! (runnext, ring, global queue) and sysmon's offer of queued work. `sched/rescue.rs`: taking
//! the queue of a P whose poll stands still. `sched/machine.rs`: the M. `sched/idle.rs`: the
//! idle lists, `wakep`, starting Ms, handing Ps over, shutdown. `sched/poll.rs`: the poll
//! boundary. `sched/syscall.rs`: both halves of `gmp::syscall`'s protocol (enter / exit /
//! sysmon's retake). `sched/blocked.rs`: both halves of blocked marking (sysmon's mark, the
//! M's return path) and sysmon's sleep. Every protocol between Ms and sysmon is a `Scheduler`
//! method here, so the loom models (`loom-tests/tests/`) run the code that runs.

use std::sync::OnceLock;

use crate::global_queue::{self, GlobalQueue};
use crate::loom::{
    brief_backoff, current_thread, fence, lock, park, park_timeout, Arc, AtomicBool, AtomicUsize, CachePadded, Mutex,
    Ordering::*, Thread,
};
use crate::processor::{Processor, ProcessorId, ProcessorStatus, Processors};
use crate::runq::{Overflow, QueueItem, LOCAL_QUEUE_CAPACITY};

mod blocked;
mod idle;
mod machine;
mod poll;
mod ready;
mod rescue;
mod syscall;

use idle::IdleLists;
pub use idle::{Parker, Wakeup};
pub use machine::Machine;

/// Steal rounds over all Ps before giving up (Go: 4).
const STEAL_ROUNDS: usize = 4;
/// How long a worker M stays parked without being handed a P before its thread exits (the Ms
/// started for a burst of blocked polls go away when the burst is over).
pub const MACHINE_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(10);

const HANDOFF_NONE: usize = usize::MAX;
const HANDOFF_EXIT: usize = usize::MAX - 1;

/// Hooks the runtime plugs into the generic scheduler: starting threads, the netpoller,
/// timers and the execution trace's steal event. Loom models use a mock.
pub trait Platform: Send + Sync {
    /// Starts a new M that begins with `wakeup`. Returns false if no thread could be started
    /// (limit reached or the OS refused); the scheduler then returns the P to the idle list.
    fn start_machine(&self, wakeup: Wakeup) -> bool;
    /// Runs due timers of P `p` (waking their goroutines). Called by its owner.
    fn run_timers(&self, _p: ProcessorId) {}
    /// Polls the network without blocking if goroutines wait on it and nobody polled
    /// recently; returns true if it made any goroutine runnable.
    fn poll_network_now(&self) -> bool {
        false
    }
    /// Called by an M about to park without a P: it may block in the netpoller instead (only
    /// one M at a time). `has_work` ends the wait early; `before_waking` runs once the wait is
    /// over and before the goroutines it readied are woken (the M takes an idle P there, so
    /// they land on its queue and run on this M, as in Go). Returns true if it blocked there,
    /// false if the M should park normally.
    fn block_in_network(&self, _has_work: &dyn Fn() -> bool, _before_waking: &dyn Fn()) -> bool {
        false
    }
    /// Breaks a blocked netpoll wait so an M can come out and run new work.
    fn wake_network(&self) {}
    /// True if an M is blocked in the netpoller now (it will see I/O and the next timer).
    /// The default (for models without a network) says yes, so no M is started for it.
    fn network_is_polled(&self) -> bool {
        true
    }
    /// True if timers are pending on P `p`'s queue.
    fn has_timers(&self, _p: ProcessorId) -> bool {
        false
    }
    /// The execution trace's steal event: M `m`, on P `to`, stole `goroutines` goroutines
    /// from P `from`. Called only while some runtime in the process is tracing.
    fn stolen(&self, _m: &Machine, _from: ProcessorId, _to: ProcessorId, _goroutines: usize) {}
}

/// The scheduler state shared by all Ms: the Ps, the global queue, the idle lists.
pub struct Scheduler<T: QueueItem> {
    /// All Ps (Go's `allp`): `maxprocs`, then spares, added in chunks as polls get stuck.
    pub processors: Processors<T>,
    /// How many Ps run goroutines at once.
    pub maxprocs: usize,
    /// The global run queue.
    pub global: GlobalQueue<T>,
    idle: CachePadded<Mutex<IdleLists>>,
    npidle: CachePadded<AtomicUsize>,
    nmspinning: CachePadded<AtomicUsize>,
    /// Spare Ps currently standing in for blocked ones.
    extra: AtomicUsize,
    /// How long a parked worker M waits for a P before its thread exits.
    machine_keep_alive: std::time::Duration,
    /// Whether busy Ps take in the queues of stalled ones (`rescue_stalled`): not with more
    /// Ps than CPUs, where the OS deschedules Ms as a matter of course.
    rescues: bool,
    shutdown: AtomicBool,
    platform: OnceLock<Box<dyn Platform>>,
    // sysmon is always a real OS thread with a clock (never a loom thread), so std's `Thread`
    // even under `--cfg loom`.
    sysmon: OnceLock<std::thread::Thread>,
    sysmon_sleeping: CachePadded<AtomicBool>,
    /// Set while sysmon's tick is longer than its minimum; a spawn or wake onto a P then
    /// nudges it back to the fast tick (work queued behind a poll is when a stuck poll hurts).
    sysmon_backed_off: AtomicBool,
}

impl<T: QueueItem> std::fmt::Debug for Scheduler<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("maxprocs", &self.maxprocs)
            .field("npidle", &self.idle_processors())
            .field("nmspinning", &self.spinning_machines())
            .finish()
    }
}

impl<T: QueueItem> Scheduler<T> {
    /// A scheduler with `maxprocs` Ps, all idle, and `spares` spare Ps for blocked polls.
    #[cfg_attr(not(loom), allow(dead_code))] // the loom models build theirs with it
    pub fn new(maxprocs: usize, spares: usize) -> Self {
        Self::with_spare_limit(maxprocs, spares, spares)
    }

    /// As `new`, with room to add spare Ps up to `spare_limit` in all when more polls are stuck
    /// at once than there are spares (one per thread the runtime may start is enough).
    pub fn with_spare_limit(maxprocs: usize, spares: usize, spare_limit: usize) -> Self {
        assert!(maxprocs > 0, "maxprocs must be at least 1");
        let total = maxprocs + spares;
        let processors = Processors::new(total, maxprocs + spare_limit.max(spares));
        // Pop order hands out P0 first.
        let idle = IdleLists {
            processors: (0..maxprocs).rev().collect(),
            machines: Vec::new(),
            spares: (maxprocs..total).rev().collect(),
            missed_wakeup: None,
        };
        Self {
            processors,
            maxprocs,
            global: GlobalQueue::new(),
            idle: CachePadded(Mutex::new(idle)),
            npidle: CachePadded(AtomicUsize::new(maxprocs)),
            nmspinning: CachePadded(AtomicUsize::new(0)),
            extra: AtomicUsize::new(0),
            machine_keep_alive: MACHINE_KEEP_ALIVE,
            rescues: maxprocs > 1,
            shutdown: AtomicBool::new(false),
            platform: OnceLock::new(),
            sysmon: OnceLock::new(),
            sysmon_sleeping: CachePadded(AtomicBool::new(false)),
            sysmon_backed_off: AtomicBool::new(false),
        }
    }

    /// Sets how long a parked worker M waits for a P before its thread exits
    /// (`MACHINE_KEEP_ALIVE` by default).
    #[cfg_attr(not(loom), allow(dead_code))] // the loom models shorten it
    pub fn with_machine_keep_alive(mut self, keep_alive: std::time::Duration) -> Self {
        self.machine_keep_alive = keep_alive;
        self
    }

    /// Turns off the rescue of stalled Ps' queues (`rescue_stalled`). The runtime does when it
    /// has more Ps than CPUs: there Ms are descheduled all the time, and taking their queues
    /// moved goroutines back and forth for nothing (`cargo bench --bench scale -- procs`,
    /// maxprocs 4-16 on 2 CPUs: 10-20% slower than without).
    pub fn without_rescues(mut self) -> Self {
        self.rescues = false;
        self
    }

    /// Installs the runtime's hooks. Must be called once, before any M starts.
    pub fn set_platform(&self, platform: Box<dyn Platform>) {
        if self.platform.set(platform).is_err() {
            panic!("gmp: the scheduler's platform was set twice");
        }
    }

    fn platform(&self) -> Option<&dyn Platform> {
        self.platform.get().map(|p| &**p)
    }

    /// Ps on the idle list (a snapshot).
    pub fn idle_processors(&self) -> usize {
        self.npidle.load(Relaxed)
    }

    /// Ms looking for work to steal (a snapshot).
    pub fn spinning_machines(&self) -> usize {
        self.nmspinning.load(Relaxed)
    }

    /// Ms parked on the idle list.
    pub fn idle_machines(&self) -> usize {
        lock(&*self.idle).machines.len()
    }

    /// True once `shutdown` was called.
    pub fn is_shut_down(&self) -> bool {
        self.shutdown.load(Acquire)
    }

    // ----- finding work -----

    /// The next goroutine for M `m` to run, parking it when there is none. Returns `None`
    /// when the runtime shuts down or `m`'s interrupt flag is raised.
    pub fn next(&self, m: &Machine) -> Option<T> {
        if let Some(p) = m.processor() {
            if let Some(item) = self.next_local(p) {
                return Some(item);
            }
        }
        let Some(item) = self.find_runnable(m) else {
            // M0's interrupt can end the search of an M that a `wakep` woke as a spinner. It
            // goes on to poll its main future and run its queue: counted as spinning there, it
            // would keep `wakep` from waking idle Ps, and if it then lost its P (a retaken
            // syscall) it would park still counted, so no idle P would ever be woken again.
            // The work a `wakep` woke it for is left to another M (none is woken when there is
            // no work, so an idle runtime stays quiet while M0 serves its main future).
            if m.spinning.get() {
                self.stop_spinning(m);
                if self.has_visible_work(true) {
                    self.wake_if_idle();
                }
            }
            return None;
        };
        if let Some(p) = m.processor() {
            self.processors[p].new_slice();
        }
        if m.spinning.get() {
            self.stop_spinning(m);
            // We found work while spinning: there may be more, so wake another spinner.
            self.wake_if_idle();
        }
        Some(item)
    }

    /// The fast path: global every 61st tick, then runnext, then the ring.
    #[inline]
    fn next_local(&self, p: ProcessorId) -> Option<T> {
        let processor = &self.processors[p];
        if processor.tick() {
            // A P whose queue never empties (goroutines that yield, or wake each other) never
            // reaches `find_runnable`, which is where shutdown is noticed: look here too, so
            // its M exits within a global-queue interval of polls.
            if self.shutdown.load(Relaxed) {
                return None;
            }
            // Go checks timers on every schedule; gmp does it on the same rounds as the
            // global queue, so a P whose queue never empties still fires its timers on time.
            if let Some(platform) = self.platform() {
                platform.run_timers(p);
                // As tokio's event interval: busy Ps look at the network too (rate-limited
                // inside), so readiness is found by an M holding a P rather than by an extra
                // thread that would compete with the busy ones for the CPU.
                platform.poll_network_now();
            }
            if !self.global.is_empty() {
                if let Some(item) = self.global_fair_share(processor) {
                    return Some(item);
                }
            }
            if self.rescues && processor.rescue_round() {
                if let Some(item) = self.rescue_stalled(p) {
                    return Some(item);
                }
            }
            // Yields never wake anyone, so a P with a long queue of yielding goroutines could
            // keep them to itself while other Ps sleep: now and then, offer its work.
            if processor.queue.len() > 1 {
                self.wake_if_idle();
            }
        }
        self.local_get(processor)
    }

    /// The every-61st-tick look at the global queue. Go takes one goroutine here; gmp takes
    /// a fair batch into the ring's free half, so outside spawns keep pace with a P that is
    /// busy with goroutines that yield to each other.
    #[cold]
    fn global_fair_share(&self, processor: &Processor<T>) -> Option<T> {
        let taken = self.global.take_into(&processor.queue, true, |len| self.fair_share(processor, len) + 1);
        processor.metrics.global_queue_takes.add(taken.count as u64);
        taken.first
    }

    /// Owner of `processor`: moves a fair share of the global queue to its ring's tail (one
    /// lock hold).
    #[cold]
    fn take_global_batch(&self, processor: &Processor<T>) {
        let taken = self.global.take_into(&processor.queue, false, |len| self.fair_share(processor, len));
        processor.metrics.global_queue_takes.add(taken.count as u64);
    }

    /// The global queue's [`fair_share`](crate::global_queue::fair_share), never more than
    /// half the ring's free room.
    fn fair_share(&self, processor: &Processor<T>, len: usize) -> usize {
        let free = LOCAL_QUEUE_CAPACITY.saturating_sub(processor.queue.len()) / 2;
        global_queue::fair_share(len, self.maxprocs).min(free)
    }

    /// Owner of `processor`, whose queue is empty: a batch from the global queue (see
    /// `GlobalQueue::pop_batch_into`), counted.
    fn take_global_batch_when_empty(&self, processor: &Processor<T>) -> Option<T> {
        if self.global.is_drained() {
            return None;
        }
        let taken = self.global.pop_batch_into(&processor.queue, self.maxprocs);
        processor.metrics.global_queue_takes.add(taken.count as u64);
        taken.first
    }

    /// runnext, then the ring. A goroutine from runnext inherits the running time slice (Go's
    /// `inheritTime`), so goroutines handing off through runnext share one slice; once sysmon
    /// has seen a slice last 10 ms it sets `slice_expired`, and the next one waits its turn at
    /// the ring's tail.
    #[inline(always)]
    fn local_get(&self, processor: &Processor<T>) -> Option<T> {
        if !processor.slice_expired() {
            if let Some((item, key)) = processor.queue.take_runnext_keyed() {
                processor.metrics.took_from_runnext(key);
                return Some(item);
            }
        } else {
            processor.clear_slice_expired();
            if let Some((item, key)) = processor.queue.take_runnext_keyed() {
                processor.metrics.displaced_from_runnext(key, processor.queue.push_back_at(item, &self.global));
            }
        }
        let (item, position) = processor.queue.pop_at()?;
        processor.metrics.took_from_ring(position);
        processor.new_slice();
        Some(item)
    }

    fn find_runnable(&self, m: &Machine) -> Option<T> {
        loop {
            if self.shutdown.load(Acquire) {
                self.release_for_exit(m);
                return None;
            }
            if m.interrupted() {
                // M0 polls its main future holding a P if one is free (it may have just given
                // its P up when the interrupt came).
                if m.processor().is_none() {
                    if let Some(p) = self.acquire_idle_processor() {
                        self.bind(m, p);
                    }
                }
                return None;
            }
            let Some(p) = m.processor() else {
                match self.park(m) {
                    Wakeup::Processor { p, spinning } => {
                        self.resume(m, p, spinning);
                        continue;
                    }
                    Wakeup::Exit => return None,
                    Wakeup::Interrupted => {
                        // M0 polls its main future holding a P if one is free, so that what
                        // the main future spawns stays on this thread's queue.
                        if let Some(p) = self.acquire_idle_processor() {
                            self.bind(m, p);
                        }
                        return None;
                    }
                }
            };
            if let Some(item) = self.find_with_processor(m, p) {
                return Some(item);
            }
            if m.interrupted() {
                return None; // keep the P for M0's main future
            }
            self.release_processor(m, p);
        }
    }

    /// One pass over every source of work while holding P `p`.
    fn find_with_processor(&self, m: &Machine, p: ProcessorId) -> Option<T> {
        let processor = &self.processors[p];
        if let Some(platform) = self.platform() {
            platform.run_timers(p);
        }
        if let Some(item) = self.local_get(processor) {
            return Some(item);
        }
        if let Some(item) = self.take_global_batch_when_empty(processor) {
            return Some(item);
        }
        if let Some(platform) = self.platform() {
            if platform.poll_network_now() {
                if let Some(item) = self.local_get(processor) {
                    return Some(item);
                }
            }
        }
        if m.spinning.get() || self.may_start_spinning() {
            if !m.spinning.get() {
                m.spinning.set(true);
                self.nmspinning.fetch_add(1, SeqCst);
            }
            if let Some(item) = self.steal_work(m, p) {
                return Some(item);
            }
        }
        None
    }

    /// Spinners must stay fewer than half the busy Ps.
    fn may_start_spinning(&self) -> bool {
        let usable = self.maxprocs + self.extra.load(Relaxed);
        let busy = usable.saturating_sub(self.npidle.load(Relaxed));
        2 * self.nmspinning.load(Relaxed) < busy
    }

    fn stop_spinning(&self, m: &Machine) {
        m.spinning.set(false);
        let previous = self.nmspinning.fetch_sub(1, SeqCst);
        debug_assert!(previous > 0, "nmspinning went negative");
    }

    /// Steals half of a random victim's ring, up to `STEAL_ROUNDS` passes over all Ps.
    fn steal_work(&self, m: &Machine, p: ProcessorId) -> Option<T> {
        let count = self.processors.len();
        let own = &self.processors[p].queue;
        for round in 0..STEAL_ROUNDS {
            let last_round = round + 1 == STEAL_ROUNDS;
            let start = m.random() as usize % count;
            for offset in 0..count {
                let victim_p = (start + offset) % count;
                if victim_p == p {
                    continue;
                }
                let victim = &self.processors[victim_p];
                if victim.status() == ProcessorStatus::Idle {
                    continue;
                }
                // The count comes from the steal itself: measured on `own` afterwards, it
                // would miss what another thief took from `own` meanwhile.
                if let Some((item, stolen)) = victim.queue.steal_half_counted(own) {
                    if crate::runtime::trace::recorder::is_on() {
                        if let Some(platform) = self.platform() {
                            platform.stolen(m, victim_p, p, stolen);
                        }
                    }
                    self.stole(p, victim, stolen);
                    return Some(item);
                }
                if last_round || victim.is_blocked() {
                    if let Some(item) = self.steal_runnext(victim) {
                        self.stole(p, victim, 1);
                        return Some(item);
                    }
                }
            }
            if self.shutdown.load(Relaxed) || m.interrupted() {
                return None;
            }
        }
        None
    }

    /// Counts a steal of `goroutines` by P `p` (its owner) from `victim`.
    fn stole(&self, p: ProcessorId, victim: &Processor<T>, goroutines: usize) {
        self.processors[p].metrics.stole(goroutines);
        victim.metrics.stolen_from.add(1);
    }

    /// Takes a victim's runnext. A P that is running a goroutine normally takes its runnext
    /// itself within a few hundred nanoseconds, so wait ~3 µs first, unless sysmon marked it
    /// blocked.
    fn steal_runnext(&self, victim: &Processor<T>) -> Option<T> {
        if !victim.queue.has_runnext() {
            return None;
        }
        if !victim.is_blocked() && victim.status() == ProcessorStatus::Running {
            brief_backoff(|| !victim.queue.has_runnext());
        }
        victim.queue.take_runnext()
    }

    /// Puts the M's P on the idle list and re-checks for work that raced with it. Leaves the
    /// M holding a P again if there is work it may run.
    fn release_processor(&self, m: &Machine, p: ProcessorId) {
        {
            let mut idle = lock(&*self.idle);
            if !self.global.is_empty() {
                return; // keep the P; the next pass takes the work
            }
            self.processors[p].set_status(ProcessorStatus::Idle);
            idle.processors.push(p);
            self.npidle.fetch_add(1, SeqCst);
            m.processor.set(None);
        }
        let was_spinning = m.spinning.get();
        if was_spinning {
            self.stop_spinning(m);
        }
        // Pairs with the fence in `wake_if_idle`: either the producer saw our idle P or
        // our spinner count drop, or we see its work here.
        fence(SeqCst);
        if self.has_visible_work(was_spinning) {
            if let Some(p) = self.acquire_idle_processor() {
                self.bind(m, p);
                if was_spinning {
                    m.spinning.set(true);
                    self.nmspinning.fetch_add(1, SeqCst);
                }
            }
        }
    }

    /// The global queue, and (for a former spinner) every P's local queue. runnext is read
    /// with an RMW: the producer that swapped an item in does not fence (see
    /// `wake_if_idle_after_swap`).
    fn has_visible_work(&self, check_local_queues: bool) -> bool {
        !self.global.is_empty()
            || (check_local_queues
                && self.processors.iter().any(|p| p.queue.has_ring_items() || p.queue.has_runnext_synced()))
    }

    /// Starts M `m` on P `p`, as handed over by `start_machine`.
    pub fn resume(&self, m: &Machine, p: ProcessorId, spinning: bool) {
        self.bind(m, p);
        m.spinning.set(spinning);
    }

    /// M `m` now holds P `p` (taken from the idle list or handed over).
    pub fn bind(&self, m: &Machine, p: ProcessorId) {
        m.processor.set(Some(p));
        self.processors[p].set_owner_thread(m.thread_id.get());
    }

    /// M `m` stops serving the scheduler (a worker exiting, or M0 leaving `block_on`): it
    /// stops spinning and hands its P, with any work on it, to another M.
    pub fn detach_machine(&self, m: &Machine) {
        if m.spinning.get() {
            self.stop_spinning(m);
        }
        if let Some(p) = m.processor.take() {
            if self.shutdown.load(Acquire) {
                self.put_idle_processor(p);
            } else {
                self.give_up_processor(p);
            }
        }
    }

    fn release_for_exit(&self, m: &Machine) {
        if m.spinning.get() {
            self.stop_spinning(m);
        }
        if let Some(p) = m.processor.take() {
            self.put_idle_processor(p);
        }
    }

    /// M0's main future was woken: if M0 is blocked in the netpoller, break the wait so it
    /// sees its interrupt flag.
    pub fn wake_network_for_interrupt(&self) {
        if let Some(platform) = self.platform() {
            platform.wake_network();
        }
    }
}
