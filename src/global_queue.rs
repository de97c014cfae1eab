//! The global run queue (Go's `sched.runq`): goroutines made runnable from outside any P,
//! overflow from full local rings, and the work of Ps that give up their P.
//!
//! A lock-free unbounded MPMC queue (`concurrent-queue`). Pushes and pops are independent
//! CASes; a "batch" is a run of pushes or pops, not an atomic unit, which is all the scheduler
//! needs: every item is delivered exactly once and each producer's items keep their order.
//!
//! Beside the items the queue keeps one hint, whether it may hold work queued from outside
//! any P (`push_from_outside`) rather than only rings' overflow: raised by such a push,
//! lowered when a P finds the queue empty (`is_drained`). It decides where a yield goes
//! (`Scheduler::ready_local`). It is in no protocol (std's atomic, relaxed): read wrong, a
//! yielder waits in its ring instead of here or the other way round, and nothing is lost.

use crate::loom::CachePadded;
use crate::runq::{LocalQueue, Overflow, QueueItem, LOCAL_QUEUE_CAPACITY};
use concurrent_queue::ConcurrentQueue;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// Most goroutines one P takes from the global queue at once (Go: 128; 2 under loom).
pub const GLOBAL_BATCH_LIMIT: usize = crate::loom::real_or_model(128, 2);

/// Go's fair share of the global queue for one P, when `len` goroutines are queued and
/// `maxprocs` Ps run: `min(len / maxprocs + 1, GLOBAL_BATCH_LIMIT)`. Every batch taken from
/// the global queue is sized by this (callers may cap it further by the room in their ring).
#[inline]
pub fn fair_share(len: usize, maxprocs: usize) -> usize {
    (len / maxprocs.max(1) + 1).min(GLOBAL_BATCH_LIMIT)
}

/// What one take from the global queue moved: the item to run now (if the caller asked for
/// one) and how many items left the queue in all, counting it. The count is exact even when
/// thieves steal from the ring while the batch is pushed.
#[derive(Debug)]
pub struct Taken<T> {
    /// The item to run now; `None` if the caller did not ask for one or the queue was empty.
    pub first: Option<T>,
    /// Items that left the global queue, `first` included.
    pub count: usize,
}

/// The runtime-wide queue of runnable goroutines.
pub struct GlobalQueue<T> {
    queue: ConcurrentQueue<T>,
    /// The outside-work hint (module docs); on a line of its own, read at every yield.
    outside: CachePadded<AtomicBool>,
}

impl<T> std::fmt::Debug for GlobalQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalQueue").field("len", &self.len()).finish()
    }
}

impl<T> Default for GlobalQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> GlobalQueue<T> {
    /// An empty queue.
    pub fn new() -> Self {
        Self { queue: ConcurrentQueue::unbounded(), outside: CachePadded(AtomicBool::new(false)) }
    }

    /// Queued items (a snapshot).
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// True if nothing is queued (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// True if nothing is queued (a snapshot); then nothing queued from outside waits here
    /// either, and the outside-work hint is lowered.
    pub fn is_drained(&self) -> bool {
        let empty = self.queue.is_empty();
        if empty && self.outside.load(Relaxed) {
            self.outside.store(false, Relaxed);
        }
        empty
    }

    /// True if work queued from outside any P may wait here (the hint, module docs).
    pub fn may_hold_outside_work(&self) -> bool {
        self.outside.load(Relaxed)
    }

    /// Queues `item`, made runnable from outside any P, and raises the outside-work hint
    /// (stored only when it flips, so spawns from outside do not write its line each time).
    pub fn push_from_outside(&self, item: T) {
        if !self.outside.load(Relaxed) {
            self.outside.store(true, Relaxed);
        }
        Overflow::push(self, item);
    }

    /// Takes the oldest item.
    pub fn pop(&self) -> Option<T> {
        self.queue.pop().ok()
    }
}

impl<T: QueueItem> GlobalQueue<T> {
    /// Takes a batch for a P whose local queue is empty: its [`fair_share`], never more than
    /// half a ring: the first to run now (in the returned [`Taken`]), the rest put in `local`.
    /// `local` must be owned by the caller.
    pub fn pop_batch_into(&self, local: &LocalQueue<T>, maxprocs: usize) -> Taken<T> {
        self.take_into(local, true, |len| fair_share(len, maxprocs).min(LOCAL_QUEUE_CAPACITY / 2))
    }
}

impl<T: QueueItem> GlobalQueue<T> {
    /// Owner of `local`: takes up to `wanted(len)` items (capped at `GLOBAL_BATCH_LIMIT`) and
    /// pushes them to `local`'s tail in order — all but the first if `run_first`, which is
    /// then returned. `local` must have room for the batch.
    pub fn take_into(&self, local: &LocalQueue<T>, run_first: bool, wanted: impl FnOnce(usize) -> usize) -> Taken<T> {
        let wanted = wanted(self.len()).min(GLOBAL_BATCH_LIMIT);
        let mut taken = Taken { first: None, count: 0 };
        if run_first {
            match self.pop() {
                Some(item) => taken = Taken { first: Some(item), count: 1 },
                None => return taken,
            }
        }
        while taken.count < wanted {
            match self.pop() {
                Some(item) => local.push_back(item, self),
                None => break,
            }
            taken.count += 1;
        }
        taken
    }
}

impl<T> Overflow<T> for GlobalQueue<T> {
    fn push(&self, item: T) {
        if self.queue.push(item).is_err() {
            unreachable!("gmp's global queue is unbounded and never closed");
        }
    }

    fn push_batch(&self, items: impl Iterator<Item = T>) {
        for item in items {
            Overflow::push(self, item);
        }
    }
}
