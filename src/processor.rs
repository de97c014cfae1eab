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
//! - `preempt`, set by sysmon when one poll has run too long; gmp's cooperative points read it.
//!
//! # Who may touch what
//!
//! The M holding the P (its owner) is the only writer of `schedtick`, `polls`,
//! `slicetick` and the ring's tail; they are atomics only so sysmon and `stats()` may read
//! them. Anyone may read `status`; it changes under the scheduler's idle lock or, for the
//! syscall/blocked states, by CAS between the owner and sysmon.

use crate::loom::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering::*};
use crate::runq::{LocalQueue, QueueItem};

/// Rounds between looks at the global queue when polls are short (Go: 61).
pub const GLOBAL_QUEUE_INTERVAL: u32 = 61;

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
    pub index: usize,
    /// The local ring and runnext.
    pub queue: LocalQueue<T>,
    status: AtomicU8,
    /// Scheduling rounds run on this P (owner writes).
    pub schedtick: AtomicU32,
    /// Rounds left before the next look at the global queue (owner only).
    pub global_check_in: AtomicU32,
    /// Rounds between looks at the global queue; set by sysmon from the P's poll rate.
    pub global_interval: AtomicU32,
    /// Bumped before and after each poll: odd while a poll is running (owner writes).
    pub polls: AtomicU64,
    /// Bumped when a goroutine starts a new time slice: one taken from anywhere but runnext
    /// (owner writes). A goroutine taken from runnext inherits the slice (Go's `inheritTime`).
    pub slicetick: AtomicU32,
    /// Set by sysmon when `slicetick` has not moved for 10 ms: goroutines handing off through
    /// runnext have used up their slice, and the next one waits its turn at the ring's tail.
    pub slice_expired: AtomicBool,
    /// Set by sysmon when a poll ran too long: cooperative points then yield.
    pub preempt: AtomicBool,
    /// Set by sysmon when the poll running here is stuck; thieves then take runnext at once.
    pub blocked: AtomicBool,
    /// Bumped by each syscall entry and retake, so sysmon can tell calls apart.
    pub syscalltick: AtomicU32,
    /// OS thread id of the M holding this P (0 = unknown); sysmon reads its state.
    pub owner_thread: AtomicU32,
    /// The goroutine the current (or last) poll on this P runs (owner writes at poll start;
    /// 0 = none yet). Read by `dump()` and the long-poll warning (`poll_watch.rs`).
    pub running: AtomicU64,
    /// sysmon's first sighting of the current poll: `(polls as u32) << 32 | coarse ms`
    /// (sysmon writes; see `poll_watch.rs`).
    pub poll_seen: AtomicU64,
    /// Event counters and histograms for `stats()` (see `metrics.rs`).
    pub(crate) metrics: crate::metrics::ProcessorMetrics,
}

impl<T: QueueItem> std::fmt::Debug for Processor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processor")
            .field("index", &self.index)
            .field("status", &self.status())
            .field("runqsize", &self.queue.len())
            .finish()
    }
}

impl<T: QueueItem> Processor<T> {
    /// An idle P with an empty queue.
    pub fn new(index: usize) -> Self {
        Self {
            index,
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

    /// Owner: the next scheduling round. Returns true when this round should look at the
    /// global queue first.
    #[inline]
    pub fn tick(&self) -> bool {
        self.schedtick.store(self.schedtick.load(Relaxed).wrapping_add(1), Relaxed);
        let left = self.global_check_in.load(Relaxed);
        if left > 1 {
            self.global_check_in.store(left - 1, Relaxed);
            return false;
        }
        self.global_check_in.store(self.global_interval.load(Relaxed), Relaxed);
        true
    }
}

/// Ps per chunk allocated beyond the first ones.
#[cfg(not(loom))]
const CHUNK: usize = 32;
/// Under loom, small chunks keep the models' loops over all Ps short.
#[cfg(loom)]
const CHUNK: usize = 2;

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
        (0..self.len()).map(move |index| &self[index])
    }

    /// Allocates the next chunk of Ps and returns their indices, or `None` at the limit.
    /// Callers serialise (the scheduler's idle lock).
    #[cold]
    pub fn grow(&self) -> Option<std::ops::Range<usize>> {
        let start = self.len.load(Relaxed);
        let chunk = (start - self.first.len()) / CHUNK;
        let cell = self.chunks.get(chunk)?;
        cell.get_or_init(|| (start..start + CHUNK).map(Processor::new).collect());
        self.len.store(start + CHUNK, Release);
        Some(start..start + CHUNK)
    }

    #[cold]
    #[inline(never)]
    fn added(&self, index: usize) -> &Processor<T> {
        let offset = index - self.first.len();
        match self.chunks.get(offset / CHUNK).and_then(|chunk| chunk.get()) {
            Some(chunk) => &chunk[offset % CHUNK],
            None => panic!("gmp: P {index} does not exist ({} allocated)", self.len()),
        }
    }
}

impl<T: QueueItem> std::ops::Index<usize> for Processors<T> {
    type Output = Processor<T>;

    #[inline]
    fn index(&self, index: usize) -> &Processor<T> {
        match self.first.get(index) {
            Some(processor) => processor,
            None => self.added(index),
        }
    }
}

impl<T: QueueItem> std::fmt::Debug for Processors<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}
