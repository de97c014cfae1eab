//! The runtime's timers: one min-heap of deadlines per P (Go's per-P timer heaps, since 1.14).
//!
//! # Design
//!
//! Each P has a [`TimerQueue`]: a `Mutex` around a binary min-heap of deadlines plus a slab of
//! wakers, and an atomic copy of the heap's earliest deadline. A `Sleep` registers on the queue
//! of the P its goroutine is polled on (or, from a thread without a P, on one extra shared
//! queue), so Ps never contend for one lock; a `Sleep` polled, reset or dropped on another P
//! locks the queue it registered on, which is rare.
//!
//! - **Heap entry** `(deadline, slot, generation)`, 16 bytes; **slot** `(waker, generation,
//!   next free slot)`, 24 bytes. No allocation per timer: slots are reused through a free list.
//! - **Lazy deletion.** Dropping a `Sleep` frees its slot at once (the waker, and so the task,
//!   is released) and bumps the slot's generation; its heap entry goes stale and is discarded
//!   when it reaches the top. Stale entries are counted, and when they outnumber the live ones
//!   the heap is rebuilt without them, so resetting or dropping timers in a loop cannot grow it.
//! - **Re-polled with a new waker**: the slot's waker is replaced in place; nothing is pushed.
//! - **`earliest`**: after every change, under the lock, the heap's top is made live (stale
//!   entries popped) and its deadline stored in `earliest`. "Anything due?" is then one atomic
//!   load and a compare, cheap enough for the top of every `find_runnable` pass.
//!
//! Deadlines are nanoseconds since the `Timers` were created (`u64::MAX` = none). A timer fires
//! only when `deadline <= now`, and `Sleep` checks `now >= deadline` again before it
//! completes, so nothing ever completes early. "Now" is always [`Timers::now`], the runtime's
//! [`Clock`] (real time unless a test paused it, see `clock.rs`).
//!
//! # Who fires timers
//!
//! - the owner of a P, at the top of each `find_runnable` pass (`run_due_now`, which reads the
//!   clock only if some queue has a timer): its own queue, then
//!   any other queue whose `earliest` is due (with `try_lock`, so it never waits for another
//!   P's lock) — the timers of an idle P get fired by whichever M looks for work first, as Go's
//!   `stealWork` does;
//! - the M blocked in the netpoller, whose timeout is [`Timers::next_deadline`], when it wakes
//!   (`run_all_due`);
//! - sysmon, every 10 ms while some P runs, and at the next deadline while all are idle.
//!
//! Firing is `waker.wake()` outside the lock, in batches, so a waker never runs under a timer
//! lock and a million due timers never hold one for long.
//!
//! # How a new, earlier deadline reaches a sleeping M
//!
//! When a registration becomes the earliest deadline of all queues, the caller (`Sleep`) breaks
//! the netpoller's wait (`Netpoller::notify`), so the M blocked there re-computes its timeout,
//! and wakes sysmon if it sleeps because every P is idle, so it re-computes its sleep. The
//! `earliest` words are `SeqCst`, so either the sleeper's `next_deadline` sees the new deadline
//! or the registering side sees it is asleep.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Mutex, TryLockError};
use std::task::Waker;
use std::time::{Duration, Instant};

use super::clock::Clock;
use crate::loom::lock;

/// `earliest` of a queue with no timer.
const NO_TIMER: u64 = u64::MAX;
/// End of the free-slot list.
const NO_SLOT: u32 = u32::MAX;
/// Timers fired per lock hold.
const FIRE_BATCH: usize = 64;
/// Stale entries tolerated before a rebuild is considered.
const MIN_STALE_TO_REBUILD: usize = 1024;

/// Every P's timers (plus one queue for threads that hold no P).
#[derive(Debug)]
pub(crate) struct Timers {
    /// The clock every deadline is measured on.
    pub(crate) clock: Clock,
    base: Instant,
    processors: usize,
    queues: Box<[TimerQueue]>,
}

/// Names one registered timer: which queue, which slot, which use of that slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerKey {
    queue: u32,
    slot: u32,
    generation: u32,
}

/// One P's timers. Aligned so that two Ps' queues never share a cache line.
#[derive(Debug)]
#[repr(align(128))]
struct TimerQueue {
    /// The heap's earliest live deadline, or `NO_TIMER`; written under the lock.
    earliest: AtomicU64,
    heap: Mutex<TimerHeap>,
}

#[derive(Debug, Default)]
struct TimerHeap {
    entries: BinaryHeap<Entry>,
    slots: Vec<Slot>,
    free: Option<u32>,
    /// Entries in `entries` whose slot has moved on (cancelled, reset or fired).
    stale: usize,
}

#[derive(Debug)]
struct Slot {
    /// `Some` while the slot is in use.
    waker: Option<Waker>,
    /// Bumped whenever the slot's current entry stops counting (freed or reset).
    generation: u32,
    next_free: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    when: u64,
    slot: u32,
    generation: u32,
}

impl Ord for Entry {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest deadline first.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other.when.cmp(&self.when).then_with(|| other.slot.cmp(&self.slot))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Timers {
    /// Timers for a runtime with `processors` Ps (`maxprocs`). Spare Ps share the queues of
    /// the first ones (`p % processors`).
    pub(crate) fn new(processors: usize) -> Self {
        let processors = processors.max(1);
        let queues = (0..=processors)
            .map(|_| TimerQueue { earliest: AtomicU64::new(NO_TIMER), heap: Mutex::new(TimerHeap::default()) })
            .collect();
        Self { clock: Clock::new(), base: Instant::now(), processors, queues }
    }

    /// Now, on the runtime's clock: what every "is it due?" compares with.
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The queue a timer registered by P `processor` (or by a thread without a P) goes on.
    pub(crate) fn queue_for(&self, processor: Option<usize>) -> usize {
        processor.map_or(self.processors, |p| p % self.processors)
    }

    /// Registers a timer for `deadline` on queue `queue`. Returns its key, and true if it is
    /// now the earliest deadline of all queues (the caller must wake whoever sleeps until the
    /// previous one).
    pub(crate) fn insert(&self, queue: usize, deadline: Instant, waker: Waker) -> (TimerKey, bool) {
        let when = self.nanos(deadline);
        let timer_queue = &self.queues[queue];
        let mut heap = lock(&timer_queue.heap);
        let slot = heap.allocate(waker);
        let key = TimerKey { queue: queue as u32, slot, generation: heap.slots[slot as usize].generation };
        heap.push(when, key);
        let earlier = timer_queue.publish(&heap);
        drop(heap);
        (key, earlier && self.is_earliest(queue, when))
    }

    /// Makes `waker` the one to wake when `key` fires (a no-op if it would wake the same
    /// task). Returns false if `key` is no longer pending (it fired).
    pub(crate) fn update_waker(&self, key: TimerKey, waker: &Waker) -> bool {
        let mut heap = lock(&self.queues[key.queue as usize].heap);
        match heap.slot_mut(key) {
            Some(slot) => {
                if !slot.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                    slot.waker = Some(waker.clone());
                }
                true
            }
            None => false,
        }
    }

    /// Moves pending timer `key` to `deadline`, keeping its waker. Returns the new key and
    /// whether it is now the earliest deadline of all queues, or `None` if `key` had fired.
    pub(crate) fn reset(&self, key: TimerKey, deadline: Instant) -> Option<(TimerKey, bool)> {
        let when = self.nanos(deadline);
        let queue = &self.queues[key.queue as usize];
        let mut heap = lock(&queue.heap);
        let slot = heap.slot_mut(key)?;
        slot.generation = slot.generation.wrapping_add(1);
        let key = TimerKey { generation: slot.generation, ..key };
        heap.stale += 1;
        heap.push(when, key);
        heap.tidy();
        let earlier = queue.publish(&heap);
        drop(heap);
        Some((key, earlier && self.is_earliest(key.queue as usize, when)))
    }

    /// Removes timer `key` if it is still pending, dropping its waker.
    pub(crate) fn cancel(&self, key: TimerKey) {
        let queue = &self.queues[key.queue as usize];
        let mut heap = lock(&queue.heap);
        if heap.slot_mut(key).is_none() {
            return; // fired (or already cancelled)
        }
        let waker = heap.release(key.slot);
        heap.stale += 1;
        heap.tidy();
        let _ = queue.publish(&heap);
        drop(heap);
        drop(waker); // may drop a task: outside the lock
    }

    /// `run_due` at the clock's now, read only if some queue has a timer at all: the top of
    /// every find-work pass and every 61st schedule calls this, and in a runtime without
    /// pending timers it is then `maxprocs + 1` loads of `earliest` words that rarely change,
    /// with no clock read.
    #[inline]
    pub(crate) fn run_due_now(&self, processor: usize) {
        if self.queues.iter().all(|queue| queue.earliest.load(SeqCst) == NO_TIMER) {
            return;
        }
        self.run_due(processor, self.now());
    }

    /// Owner of P `processor`: fires its timers due at `now`, then those of any other queue
    /// that are due and whose lock is free (the timers of idle Ps).
    pub(crate) fn run_due(&self, processor: usize, now: Instant) {
        let now = self.nanos(now);
        let own = processor % self.processors;
        self.run_queue(own, now, true);
        for queue in (0..self.queues.len()).filter(|&q| q != own) {
            self.run_queue(queue, now, false);
        }
    }

    /// Any thread: fires every queue's timers due at `now`.
    pub(crate) fn run_all_due(&self, now: Instant) {
        let now = self.nanos(now);
        for queue in 0..self.queues.len() {
            self.run_queue(queue, now, true);
        }
    }

    /// Any thread: takes every queue's timers due at `now` into `fired`, earliest deadline
    /// first across all queues (for `advance`, which wakes them in that order).
    pub(crate) fn take_due_in_order(&self, now: Instant, fired: &mut Vec<Waker>) {
        let now = self.nanos(now);
        loop {
            let earliest = self.queues.iter().enumerate().map(|(q, queue)| (queue.earliest.load(SeqCst), q)).min();
            let Some((when, queue)) = earliest.filter(|&(when, _)| when <= now) else {
                return;
            };
            let timer_queue = &self.queues[queue];
            let mut heap = lock(&timer_queue.heap);
            heap.pop_due_at(when, fired);
            let _ = timer_queue.publish(&heap);
        }
    }

    /// The earliest pending deadline over all queues.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let earliest = self.queues.iter().map(|q| q.earliest.load(SeqCst)).min()?;
        if earliest == NO_TIMER {
            return None;
        }
        self.base.checked_add(Duration::from_nanos(earliest))
    }

    /// True if timers are pending on the queue of P `processor` (a snapshot).
    pub(crate) fn has_pending(&self, processor: usize) -> bool {
        self.queues[self.queue_for(Some(processor))].earliest.load(SeqCst) != NO_TIMER
    }

    /// Pending timers over all queues (a snapshot; stale entries not counted).
    pub(crate) fn len(&self) -> usize {
        self.queues.iter().map(|q| lock(&q.heap).live()).sum()
    }

    /// Fires queue `queue`'s timers due at `now`, `FIRE_BATCH` per lock hold. With
    /// `wait_for_lock` false, leaves the queue alone if someone else holds its lock.
    fn run_queue(&self, queue: usize, now: u64, wait_for_lock: bool) {
        let timer_queue = &self.queues[queue];
        if timer_queue.earliest.load(SeqCst) > now {
            return;
        }
        let mut fired: Vec<Waker> = Vec::new();
        loop {
            let mut heap = if wait_for_lock {
                lock(&timer_queue.heap)
            } else {
                match timer_queue.heap.try_lock() {
                    Ok(heap) => heap,
                    Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                    Err(TryLockError::WouldBlock) => return,
                }
            };
            heap.pop_due(now, &mut fired);
            let _ = timer_queue.publish(&heap);
            drop(heap);
            let more = fired.len() == FIRE_BATCH;
            for waker in fired.drain(..) {
                // A foreign waker may panic; it must not take the M (or sysmon) down.
                let _ = catch_unwind(AssertUnwindSafe(|| waker.wake()));
            }
            if !more {
                return;
            }
        }
    }

    /// True if no queue other than `queue` has a deadline earlier than `when`.
    fn is_earliest(&self, queue: usize, when: u64) -> bool {
        self.queues.iter().enumerate().all(|(q, other)| q == queue || other.earliest.load(SeqCst) >= when)
    }

    fn nanos(&self, instant: Instant) -> u64 {
        let nanos = instant.saturating_duration_since(self.base).as_nanos();
        nanos.min(u128::from(NO_TIMER - 1)) as u64
    }
}

impl TimerQueue {
    /// Stores the heap's earliest deadline (after `tidy`, the top is live). Under the lock.
    /// Returns true if it moved earlier.
    fn publish(&self, heap: &TimerHeap) -> bool {
        let earliest = heap.entries.peek().map_or(NO_TIMER, |top| top.when);
        let previous = self.earliest.load(SeqCst);
        if previous != earliest {
            self.earliest.store(earliest, SeqCst);
        }
        earliest < previous
    }
}

impl TimerHeap {
    fn live(&self) -> usize {
        self.entries.len() - self.stale
    }

    /// Takes a free slot for `waker`.
    fn allocate(&mut self, waker: Waker) -> u32 {
        match self.free {
            Some(index) => {
                let slot = &mut self.slots[index as usize];
                self.free = (slot.next_free != NO_SLOT).then_some(slot.next_free);
                slot.waker = Some(waker);
                index
            }
            None => {
                let index = u32::try_from(self.slots.len()).expect("gmp: more than 4 billion timers on one P");
                self.slots.push(Slot { waker: Some(waker), generation: 0, next_free: NO_SLOT });
                index
            }
        }
    }

    /// Frees slot `index`: its entry goes stale, its waker is returned.
    fn release(&mut self, index: u32) -> Option<Waker> {
        let next_free = self.free.unwrap_or(NO_SLOT);
        let slot = &mut self.slots[index as usize];
        slot.generation = slot.generation.wrapping_add(1);
        slot.next_free = next_free;
        self.free = Some(index);
        slot.waker.take()
    }

    /// The slot of pending timer `key`, if it is still pending.
    fn slot_mut(&mut self, key: TimerKey) -> Option<&mut Slot> {
        self.slots.get_mut(key.slot as usize).filter(|slot| slot.generation == key.generation && slot.waker.is_some())
    }

    fn is_live(&self, entry: &Entry) -> bool {
        self.slots[entry.slot as usize].generation == entry.generation
    }

    fn push(&mut self, when: u64, key: TimerKey) {
        self.entries.push(Entry { when, slot: key.slot, generation: key.generation });
    }

    /// Pops due entries into `fired` (at most `FIRE_BATCH` in all), freeing their slots.
    fn pop_due(&mut self, now: u64, fired: &mut Vec<Waker>) {
        while fired.len() < FIRE_BATCH {
            let Some(&top) = self.entries.peek() else {
                break;
            };
            if top.when > now {
                break;
            }
            self.entries.pop();
            if self.is_live(&top) {
                fired.extend(self.release(top.slot));
            } else {
                self.stale -= 1;
            }
        }
        self.tidy();
    }

    /// Pops every entry due at exactly `when` (or earlier) into `fired`, freeing their slots.
    fn pop_due_at(&mut self, when: u64, fired: &mut Vec<Waker>) {
        while let Some(&top) = self.entries.peek() {
            if top.when > when {
                break;
            }
            self.entries.pop();
            if self.is_live(&top) {
                fired.extend(self.release(top.slot));
            } else {
                self.stale -= 1;
            }
        }
        self.tidy();
    }

    /// Restores the invariants: the top entry is live, and stale entries are a minority.
    fn tidy(&mut self) {
        while let Some(top) = self.entries.peek() {
            if self.is_live(top) {
                break;
            }
            self.entries.pop();
            self.stale -= 1;
        }
        if self.stale >= MIN_STALE_TO_REBUILD && self.stale > self.live() {
            self.rebuild();
        }
        if self.entries.is_empty() && self.entries.capacity() > 4 * MIN_STALE_TO_REBUILD {
            self.entries.shrink_to(MIN_STALE_TO_REBUILD);
        }
    }

    #[cold]
    fn rebuild(&mut self) {
        let slots = &self.slots;
        self.entries.retain(|entry| slots[entry.slot as usize].generation == entry.generation);
        self.stale = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting_waker() -> (Arc<CountingWaker>, Waker) {
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        (counter.clone(), Waker::from(counter))
    }

    #[test]
    fn timers_fire_in_deadline_order_and_only_when_due() {
        let timers = Timers::new(2);
        let start = Instant::now();
        let (counter, waker) = counting_waker();
        for ms in [30u64, 10, 20] {
            timers.insert(0, start + Duration::from_millis(ms), waker.clone());
        }
        assert_eq!(timers.next_deadline(), Some(start + Duration::from_millis(10)));
        timers.run_due(0, start + Duration::from_millis(9));
        assert_eq!(counter.0.load(Ordering::SeqCst), 0);
        timers.run_due(0, start + Duration::from_millis(20));
        assert_eq!(counter.0.load(Ordering::SeqCst), 2);
        assert_eq!(timers.next_deadline(), Some(start + Duration::from_millis(30)));
        timers.run_all_due(start + Duration::from_millis(30));
        assert_eq!(counter.0.load(Ordering::SeqCst), 3);
        assert_eq!(timers.next_deadline(), None);
    }

    #[test]
    fn due_timers_are_taken_in_deadline_order_across_queues() {
        let timers = Timers::new(3);
        let start = Instant::now();
        let order = Arc::new(Mutex::new(Vec::new()));
        struct Recorder(u64, Arc<Mutex<Vec<u64>>>);
        impl Wake for Recorder {
            fn wake(self: Arc<Self>) {
                self.1.lock().unwrap().push(self.0);
            }
        }
        for (queue, ms) in [(0, 40u64), (1, 10), (2, 30), (3, 20), (0, 5), (1, 50), (2, 25)] {
            let waker = Waker::from(Arc::new(Recorder(ms, order.clone())));
            timers.insert(queue, start + Duration::from_millis(ms), waker);
        }
        let mut fired = Vec::new();
        timers.take_due_in_order(start + Duration::from_millis(40), &mut fired);
        fired.into_iter().for_each(Waker::wake);
        assert_eq!(*order.lock().unwrap(), [5, 10, 20, 25, 30, 40]);
        assert_eq!(timers.next_deadline(), Some(start + Duration::from_millis(50)));
        assert_eq!(timers.len(), 1);
    }

    #[test]
    fn a_cancelled_timer_releases_its_waker_and_never_fires() {
        let timers = Timers::new(1);
        let start = Instant::now();
        let (counter, waker) = counting_waker();
        let (key, earliest) = timers.insert(0, start + Duration::from_millis(5), waker);
        assert!(earliest);
        assert_eq!(Arc::strong_count(&counter), 2);
        timers.cancel(key);
        assert_eq!(Arc::strong_count(&counter), 1);
        assert_eq!(timers.next_deadline(), None);
        timers.run_all_due(start + Duration::from_secs(1));
        assert_eq!(counter.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn resetting_a_timer_many_times_does_not_grow_the_heap() {
        let timers = Timers::new(1);
        let start = Instant::now();
        let (_counter, waker) = counting_waker();
        let (mut key, _) = timers.insert(0, start + Duration::from_secs(10), waker.clone());
        let (_other, _) = timers.insert(0, start + Duration::from_secs(1), waker.clone());
        for i in 0..100_000u64 {
            key = timers.reset(key, start + Duration::from_secs(20) + Duration::from_nanos(i)).unwrap().0;
            assert!(timers.update_waker(key, &waker));
        }
        let heap = lock(&timers.queues[0].heap);
        assert_eq!(heap.live(), 2);
        assert!(heap.entries.len() <= 2 * MIN_STALE_TO_REBUILD + 2, "{}", heap.entries.len());
        assert_eq!(heap.slots.len(), 2);
    }

    #[test]
    fn an_earlier_timer_on_another_queue_is_reported_as_the_new_earliest() {
        let timers = Timers::new(2);
        let start = Instant::now();
        let (_counter, waker) = counting_waker();
        assert!(timers.insert(0, start + Duration::from_millis(50), waker.clone()).1);
        assert!(!timers.insert(1, start + Duration::from_millis(60), waker.clone()).1);
        assert!(timers.insert(2, start + Duration::from_millis(40), waker.clone()).1);
        assert!(!timers.insert(0, start + Duration::from_millis(45), waker).1);
    }

    #[test]
    fn a_fired_key_is_not_pending_even_after_its_slot_is_reused() {
        let timers = Timers::new(1);
        let start = Instant::now();
        let (_counter, waker) = counting_waker();
        let (old, _) = timers.insert(0, start, waker.clone());
        timers.run_due(0, start);
        let (new, _) = timers.insert(0, start + Duration::from_secs(1), waker.clone());
        assert_eq!(old.slot, new.slot);
        assert!(!timers.update_waker(old, &waker));
        assert!(timers.reset(old, start).is_none());
        timers.cancel(old);
        assert!(timers.update_waker(new, &waker));
    }
}
