//! P: a logical processor. An M must hold a P to run goroutines.
//!
//! # Design
//!
//! There are `maxprocs` Ps that run goroutines at any one time (plus spare Ps that stand in
//! for a P whose M is stuck inside a poll, added in chunks as more polls are stuck at once;
//! see `sysmon.rs` and [`Processors`]). A P owns:
//!
//! - its local run queue and `runnext` slot ([`LocalQueue`]);
//! - `schedtick`, the count of scheduling rounds, and `global_check_in`, a countdown of rounds
//!   to the next look at the global queue (61 rounds, as in Go, or fewer when sysmon sees
//!   long polls: it sets `global_interval` so the look comes about every 200 µs);
//! - `polls`, bumped before and after each poll (odd = inside a poll), which sysmon samples to
//!   tell a stuck poll from an idle or busy P without a clock read on the hot path;
//! - `preempt`, set by sysmon when one poll has run too long; gmp's cooperative points read it;
//! - `watched`/`watched_polls`: the other P its owner keeps an eye on for a stall, and that P's
//!   `polls` when the watch began, looked at every `rescue_every` global-queue rounds (set by
//!   sysmon, about every 200 µs; `Scheduler::rescue_stalled`).
//!
//! # Who may touch what
//!
//! The M holding the P (its owner) is the only writer of `schedtick`, `polls`, `slicetick`,
//! `watched`, `watched_polls`, `rescue_check_in` and the ring's tail; they are atomics only so
//! sysmon and `stats()` may read them. sysmon writes `global_interval` and `rescue_every`. The
//! atomics are private: each is read and written through a named operation whose
//! doc says who calls it (owner, sysmon, or anyone for a snapshot), with its ordering fixed
//! there. Anyone may read `status`; it changes under the scheduler's idle lock or, for the
//! syscall/blocked states, by CAS between the owner and sysmon.

use crate::loom::{real_or_model, AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering::*};
use crate::runq::{LocalQueue, QueueItem};

/// A P's index in the scheduler's `allp` ([`Processors`]): the one name for "which P" in the
/// scheduler, sysmon and `gmp::syscall` (variables holding one are called `p`; a `processor`
/// is a `&Processor`, as in `let processor = &sched.processors[p]`).
pub type ProcessorId = usize;

/// Rounds between looks at the global queue when polls are short (Go: 61).
pub const GLOBAL_QUEUE_INTERVAL: u32 = 61;

/// Global-queue rounds between a P's looks at the P it watches for a stall, until sysmon
/// has measured its poll rate (about 1,000 polls: a look reads a cache line the watched P's
/// owner writes on every poll, which on every 61st poll of 40 ns cost `yield_many` 10-15%).
pub const RESCUE_EVERY: u32 = 16;

/// What a P is doing. Moves under the scheduler's rules:
/// - `Idle` → `Running`: an M takes it from the idle list (under the idle lock).
/// - `Running` → `Idle`: its M puts it on the idle list (under the idle lock).
/// - `Running` → `Syscall`: its M enters `gmp::syscall` (owner only).
/// - `Syscall` → `Running`: the M returns and wins the CAS; `Syscall` → `Idle`: sysmon wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ProcessorStatus {
    /// On the idle list, held by no M.
    Idle = 0,
    /// Held by an M that runs goroutines.
    Running = 1,
    /// Its M is inside `gmp::syscall`; sysmon may retake it.
    Syscall = 2,
}

impl ProcessorStatus {
    fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Idle,
            1 => Self::Running,
            _ => Self::Syscall,
        }
    }
}

/// P: a logical processor with its own run queue.
///
/// Aligned to 128 bytes (two cache lines, as adjacent-line prefetch pairs them) so that the
/// counters one P's owner bumps on every poll never share a line with another P's.
#[repr(align(128))]
pub struct Processor<T: QueueItem> {
    /// Position in the scheduler's `allp`.
    pub id: ProcessorId,
    /// The local ring and runnext.
    pub queue: LocalQueue<T>,
    status: AtomicU8,
    /// Scheduling rounds run on this P (owner writes).
    schedtick: AtomicU32,
    /// Rounds left before the next look at the global queue (owner only).
    global_check_in: AtomicU32,
    /// Rounds between looks at the global queue; set by sysmon from the P's poll rate.
    global_interval: AtomicU32,
    /// Bumped before and after each poll: odd while a poll is running (owner writes).
    polls: AtomicU64,
    /// Bumped when a goroutine starts a new time slice: one taken from anywhere but runnext
    /// (owner writes). A goroutine taken from runnext inherits the slice (Go's `inheritTime`).
    slicetick: AtomicU32,
    /// Set by sysmon when `slicetick` has not moved for 10 ms: goroutines handing off through
    /// runnext have used up their slice, and the next one waits its turn at the ring's tail.
    slice_expired: AtomicBool,
    /// Set by sysmon when a poll ran too long: cooperative points then yield.
    preempt: AtomicBool,
    /// Set by sysmon when the poll running here is stuck; thieves then take runnext at once.
    blocked: AtomicBool,
    /// Bumped by each syscall entry and retake, so sysmon can tell calls apart.
    syscalltick: AtomicU32,
    /// OS thread id of the M holding this P (0 = unknown); sysmon reads its state.
    owner_thread: AtomicU32,
    /// The goroutine the current (or last) poll on this P runs (owner writes at poll start;
    /// 0 = none yet). Read by `dump()` and the long-poll warning (`poll_watch.rs`).
    running: AtomicU64,
    /// sysmon's first sighting of the current poll: `(polls as u32) << 32 | coarse ms`
    /// (sysmon writes; see `poll_watch.rs`).
    poll_seen: AtomicU64,
    /// The other P this P's owner watches for a stall, and that P's `polls` when the watch
    /// began (owner only; `Scheduler::rescue_stalled`).
    watched: AtomicUsize,
    watched_polls: AtomicU64,
    /// Global-queue rounds between two looks at the watched P, set by sysmon from the P's poll
    /// rate so the looks come about every 200 µs (`RESCUE_EVERY` until it has measured).
    rescue_every: AtomicU32,
    /// Global-queue rounds left before the next look at the watched P (owner only).
    rescue_check_in: AtomicU32,
    /// Event counters and histograms for `stats()` (see `metrics.rs`).
    pub(crate) metrics: crate::metrics::ProcessorMetrics,
}

impl<T: QueueItem> std::fmt::Debug for Processor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processor")
            .field("id", &self.id)
            .field("status", &self.status())
            .field("runqsize", &self.queue.len())
            .finish()
    }
}

impl<T: QueueItem> Processor<T> {
    /// An idle P with an empty queue.
    pub fn new(id: ProcessorId) -> Self {
        Self {
            id,
            queue: LocalQueue::new(),
            status: AtomicU8::new(ProcessorStatus::Idle as u8),
            schedtick: AtomicU32::new(0),
            global_check_in: AtomicU32::new(GLOBAL_QUEUE_INTERVAL),
            global_interval: AtomicU32::new(GLOBAL_QUEUE_INTERVAL),
            polls: AtomicU64::new(0),
            slicetick: AtomicU32::new(0),
            slice_expired: AtomicBool::new(false),
            preempt: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            syscalltick: AtomicU32::new(0),
            owner_thread: AtomicU32::new(0),
            running: AtomicU64::new(0),
            poll_seen: AtomicU64::new(u64::MAX),
            watched: AtomicUsize::new(id),
            watched_polls: AtomicU64::new(u64::MAX),
            rescue_every: AtomicU32::new(RESCUE_EVERY),
            rescue_check_in: AtomicU32::new(RESCUE_EVERY),
            metrics: crate::metrics::ProcessorMetrics::default(),
        }
    }

    /// The current status (a snapshot).
    pub fn status(&self) -> ProcessorStatus {
        ProcessorStatus::from_u8(self.status.load(Acquire))
    }

    /// Sets the status; for transitions made under the idle lock or by the owner.
    pub fn set_status(&self, status: ProcessorStatus) {
        self.status.store(status as u8, Release);
    }

    /// Moves the status from `from` to `to` if it still is `from`: the syscall-return and
    /// retake race, where exactly one side must win.
    pub fn transition(&self, from: ProcessorStatus, to: ProcessorStatus) -> bool {
        self.status.compare_exchange(from as u8, to as u8, AcqRel, Acquire).is_ok()
    }

    /// Scheduling rounds run so far (a snapshot, for sysmon and the scheduler trace).
    #[inline]
    pub fn schedtick(&self) -> u32 {
        self.schedtick.load(Relaxed)
    }

    /// sysmon: look at the global queue every `interval` rounds from now on.
    pub fn set_global_interval(&self, interval: u32) {
        self.global_interval.store(interval, Relaxed);
    }

    /// The poll counter (a snapshot): odd while a poll runs.
    #[inline]
    pub fn polls(&self) -> u64 {
        self.polls.load(Relaxed)
    }

    /// As [`polls`](Self::polls), a `SeqCst` load: ordered with the reader's other `SeqCst`
    /// operations (the paused clock's auto-advance).
    pub fn polls_synced(&self) -> u64 {
        self.polls.load(SeqCst)
    }

    /// The time-slice counter (a snapshot, for sysmon).
    pub fn slicetick(&self) -> u32 {
        self.slicetick.load(Relaxed)
    }

    /// True if sysmon ended the current time slice (owner).
    #[inline(always)]
    pub fn slice_expired(&self) -> bool {
        self.slice_expired.load(Relaxed)
    }

    /// Owner: the expired slice was dealt with.
    #[inline]
    pub fn clear_slice_expired(&self) {
        self.slice_expired.store(false, Relaxed);
    }

    /// sysmon: the slice has lasted 10 ms; the next goroutine in runnext waits its turn.
    pub fn expire_slice(&self) {
        self.slice_expired.store(true, Relaxed);
    }

    /// True if sysmon asked the running poll to yield.
    #[inline]
    pub fn preempt_requested(&self) -> bool {
        self.preempt.load(Relaxed)
    }

    /// sysmon: asks the running poll to yield at its next cooperative point.
    pub fn request_preempt(&self) {
        self.preempt.store(true, Relaxed);
    }

    /// The flag a poll's cooperative points read (`coop.rs`).
    #[inline]
    pub fn preempt_flag(&self) -> &AtomicBool {
        &self.preempt
    }

    /// True if sysmon marked the poll here stuck (a relaxed snapshot: thieves' hint, and the
    /// owner's check at its poll boundary).
    #[inline(always)]
    pub fn is_blocked(&self) -> bool {
        self.blocked.load(Relaxed)
    }

    /// As [`is_blocked`](Self::is_blocked), an `Acquire` load: ordered after the owner's
    /// [`clear_blocked`](Self::clear_blocked).
    pub fn is_blocked_synced(&self) -> bool {
        self.blocked.load(Acquire)
    }

    /// sysmon: marks the poll here stuck (`Scheduler::mark_blocked`).
    pub fn set_blocked(&self) {
        self.blocked.store(true, SeqCst);
    }

    /// Owner: back from the poll that was marked stuck (`Scheduler::leave_blocked`).
    pub fn clear_blocked(&self) {
        self.blocked.store(false, Release);
    }

    /// Syscall entries and retakes so far (a snapshot): sysmon tells calls apart by it.
    pub fn syscall_tick(&self) -> u32 {
        self.syscalltick.load(Relaxed)
    }

    /// Owner: enters a syscall (`Scheduler::enter_syscall`).
    pub fn syscall_started(&self) {
        self.syscalltick.fetch_add(1, Relaxed);
    }

    /// sysmon: retook the P from a syscall (`Scheduler::retake_syscall`).
    pub fn syscall_retaken(&self) {
        self.syscalltick.fetch_add(1, Relaxed);
    }

    /// The OS thread id of the M holding this P (0 = unknown).
    pub fn owner_thread(&self) -> u32 {
        self.owner_thread.load(Relaxed)
    }

    /// An M with OS thread id `thread_id` now holds this P.
    #[inline]
    pub fn set_owner_thread(&self, thread_id: u32) {
        self.owner_thread.store(thread_id, Relaxed);
    }

    /// The goroutine the current (or last) poll runs (0 = none yet).
    pub fn running(&self) -> u64 {
        self.running.load(Relaxed)
    }

    /// sysmon's first sighting of the current poll (see `poll_watch.rs`).
    pub fn poll_seen(&self) -> u64 {
        self.poll_seen.load(Relaxed)
    }

    /// sysmon: records its first sighting of the current poll (see `poll_watch.rs`).
    pub fn set_poll_seen(&self, seen: u64) {
        self.poll_seen.store(seen, Relaxed);
    }

    /// Owner: notes a poll of goroutine `goroutine` starting (makes `polls` odd).
    #[inline]
    pub fn poll_started_by(&self, goroutine: u64) {
        self.running.store(goroutine, Relaxed);
        self.poll_started();
    }

    /// Owner: notes a poll starting (makes `polls` odd).
    #[inline]
    pub fn poll_started(&self) {
        self.polls.store(self.polls.load(Relaxed).wrapping_add(1), Relaxed);
    }

    /// Owner: notes a poll ending (makes `polls` even) and clears any preempt request.
    #[inline]
    pub fn poll_finished(&self) {
        self.polls.store(self.polls.load(Relaxed).wrapping_add(1), Relaxed);
        if self.preempt.load(Relaxed) {
            self.preempt.store(false, Relaxed);
        }
    }

    /// Owner: a goroutine starts a new time slice.
    #[inline]
    pub fn new_slice(&self) {
        self.slicetick.store(self.slicetick.load(Relaxed).wrapping_add(1), Relaxed);
    }

    /// sysmon: the owner looks at the watched P every `rounds` global-queue rounds.
    pub fn set_rescue_every(&self, rounds: u32) {
        self.rescue_every.store(rounds.max(1), Relaxed);
    }

    /// Owner, on a global-queue round: true when this round should look at the watched P.
    #[inline]
    pub fn rescue_round(&self) -> bool {
        count_down(&self.rescue_check_in, &self.rescue_every)
    }

    /// Owner: the P it watches for a stall, and that P's `polls` when the watch began.
    #[inline]
    pub fn watch(&self) -> (ProcessorId, u64) {
        (self.watched.load(Relaxed), self.watched_polls.load(Relaxed))
    }

    /// Owner: from now on watches P `p`, whose `polls` read `polls`.
    #[inline]
    pub fn set_watch(&self, p: ProcessorId, polls: u64) {
        self.watched.store(p, Relaxed);
        self.watched_polls.store(polls, Relaxed);
    }

    /// Owner: the next scheduling round. Returns true when this round should look at the
    /// global queue first.
    #[inline]
    pub fn tick(&self) -> bool {
        self.schedtick.store(self.schedtick.load(Relaxed).wrapping_add(1), Relaxed);
        count_down(&self.global_check_in, &self.global_interval)
    }
}

/// Owner: one round off the countdown `left`; true (and the countdown set to `interval` again)
/// when it runs out.
#[inline(always)]
fn count_down(left: &AtomicU32, interval: &AtomicU32) -> bool {
    let rounds = left.load(Relaxed);
    if rounds > 1 {
        left.store(rounds - 1, Relaxed);
        return false;
    }
    left.store(interval.load(Relaxed), Relaxed);
    true
}

/// Ps per chunk allocated beyond the first ones (2 under loom: small chunks keep the models'
/// loops over all Ps short).
const CHUNK: usize = real_or_model(32, 2);

/// A chunk of Ps added beyond the first ones, allocated when first needed.
type Chunk<T> = std::sync::OnceLock<Box<[Processor<T>]>>;

/// Go's `allp`: the `maxprocs` Ps, the spares that stand in for Ps whose M is stuck in a poll,
/// and room to add more spares as more polls get stuck at once (up to one per thread the
/// runtime may start), in chunks allocated on demand. Indexing the first Ps costs what a
/// bounds check does; Ps added later are one pointer further away.
///
/// Ps are never freed or moved once allocated, so a `&Processor` lives as long as this.
pub struct Processors<T: QueueItem> {
    first: Box<[Processor<T>]>,
    chunks: Box<[Chunk<T>]>,
    /// Ps allocated so far (`first` plus whole chunks).
    len: AtomicUsize,
}

impl<T: QueueItem> Processors<T> {
    /// `first` Ps now; room for `limit` in all.
    pub fn new(first: usize, limit: usize) -> Self {
        let chunks = limit.saturating_sub(first).div_ceil(CHUNK);
        Self {
            first: (0..first).map(Processor::new).collect(),
            chunks: (0..chunks).map(|_| std::sync::OnceLock::new()).collect(),
            len: AtomicUsize::new(first),
        }
    }

    /// Ps allocated so far.
    #[inline]
    pub fn len(&self) -> usize {
        self.len.load(Acquire)
    }

    /// Every P allocated so far, in index order.
    pub fn iter(&self) -> impl Iterator<Item = &Processor<T>> + '_ {
        (0..self.len()).map(move |p| &self[p])
    }

    /// Allocates the next chunk of Ps and returns their indices, or `None` at the limit.
    /// Callers serialise (the scheduler's idle lock).
    #[cold]
    pub fn grow(&self) -> Option<std::ops::Range<ProcessorId>> {
        let start = self.len.load(Relaxed);
        let chunk = (start - self.first.len()) / CHUNK;
        let cell = self.chunks.get(chunk)?;
        cell.get_or_init(|| (start..start + CHUNK).map(Processor::new).collect());
        self.len.store(start + CHUNK, Release);
        Some(start..start + CHUNK)
    }

    #[cold]
    #[inline(never)]
    fn added(&self, p: ProcessorId) -> &Processor<T> {
        let offset = p - self.first.len();
        match self.chunks.get(offset / CHUNK).and_then(|chunk| chunk.get()) {
            Some(chunk) => &chunk[offset % CHUNK],
            None => panic!("gmp: P {p} does not exist ({} allocated)", self.len()),
        }
    }
}

impl<T: QueueItem> std::ops::Index<ProcessorId> for Processors<T> {
    type Output = Processor<T>;

    #[inline]
    fn index(&self, p: ProcessorId) -> &Processor<T> {
        match self.first.get(p) {
            Some(processor) => processor,
            None => self.added(p),
        }
    }
}

impl<T: QueueItem> std::fmt::Debug for Processors<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}
