//! The local run queue of a P: a fixed ring of goroutines plus the `runnext` slot.
//!
//! # Design
//!
//! Each P owns one `LocalQueue`. The ring holds [`LOCAL_QUEUE_CAPACITY`] items (256; 4 under
//! loom). It is single-producer, multi-consumer:
//!
//! - only the **owner** (the M holding the P) pushes, and it does so with a plain slot write
//!   followed by a `Release` store of `tail`;
//! - the owner pops and **thieves** steal from the head, both by CAS on `head`.
//!
//! `head` packs two 32-bit positions into one `AtomicU64`: `real` (the next item to take) and
//! `steal` (the first item a thief is still copying out). When no steal is in progress the two
//! are equal. A thief first claims a range by advancing `real` (leaving `steal` behind), copies
//! the claimed slots into its own ring, then sets `steal = real` to hand the slots back. While
//! `steal != real`:
//!
//! - the owner never overwrites slots at or after `steal` (its capacity check measures from
//!   `steal`), so a thief never reads a slot the owner is rewriting;
//! - a second thief backs off (one steal per victim at a time);
//! - the owner may still pop (it advances `real` only).
//!
//! Positions are `u32` and wrap; all arithmetic is `wrapping_*`. The ABA case (the owner
//! pushing and popping 2^32 items between a thief's load and CAS) is not a practical concern.
//!
//! `runnext` is an `AtomicPtr` slot for the goroutine to run next (Go's `runnext`). The owner
//! swaps into it; the owner and thieves take from it with a swap, so exactly one side gets a
//! given item.
//!
//! When the ring is full, `push_back` moves the oldest half of it plus the new item to the
//! global queue in one batch (Go's `runqputslow`), by one CAS on `head` that claims the half.
//!
//! # Who may touch what
//!
//! - `tail` and the slots in `[tail, steal + CAP)`: the owner only.
//! - `head`: anyone, by CAS.
//! - the slots in `[steal, real)`: the thief that claimed them.
//! - `runnext`: anyone, by swap; only the owner puts.

use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ptr::{self, NonNull};

use crate::loom::{AtomicPtr, AtomicU32, AtomicU64, Ordering::*, UnsafeCell};

/// Slots in a P's ring: 256, as in Go and tokio; 4 under loom to keep the model small.
pub const LOCAL_QUEUE_CAPACITY: usize = crate::loom::real_or_model(256, 4);

const MASK: usize = LOCAL_QUEUE_CAPACITY - 1;
const HALF: u32 = (LOCAL_QUEUE_CAPACITY / 2) as u32;

/// An item that can live in a run queue: it must convert to and from a raw pointer so that
/// `runnext` can hold it in an `AtomicPtr`.
///
/// # Safety
///
/// `from_raw(into_raw(x))` must give back `x`, and a pointer from `into_raw` must be valid to
/// send to another thread (the item is `Send`).
pub unsafe trait QueueItem: Send + Sized {
    /// Gives up ownership of the item as a non-null pointer.
    fn into_raw(self) -> NonNull<()>;
    /// Takes back ownership of an item made by `into_raw`.
    ///
    /// # Safety
    ///
    /// `ptr` must come from `into_raw` and be converted back at most once.
    unsafe fn from_raw(ptr: NonNull<()>) -> Self;
}

// SAFETY: `Box::into_raw`/`from_raw` round-trip and never give null.
unsafe impl<T: Send> QueueItem for Box<T> {
    fn into_raw(self) -> NonNull<()> {
        // SAFETY: `Box::into_raw` never returns null.
        unsafe { NonNull::new_unchecked(Box::into_raw(self).cast()) }
    }

    unsafe fn from_raw(ptr: NonNull<()>) -> Self {
        // SAFETY: the caller passes a pointer made by `into_raw` above, once.
        unsafe { Box::from_raw(ptr.as_ptr().cast()) }
    }
}

/// Where a full ring sends its overflow: the global queue.
pub trait Overflow<T> {
    /// Takes one item.
    fn push(&self, item: T);
    /// Takes a batch of items, oldest first.
    fn push_batch(&self, items: impl Iterator<Item = T>);
}

/// A P's ring plus its `runnext` slot. See the module docs for the protocol.
///
/// Aligned to 128 bytes so that the words thieves touch (`head`, `tail`, `runnext`) sit apart
/// from the owner's per-poll counters next to it in `Processor`.
#[repr(align(128))]
pub struct LocalQueue<T: QueueItem> {
    /// `(steal << 32) | real`.
    head: AtomicU64,
    /// One past the newest item. Written only by the owner.
    tail: AtomicU32,
    /// The goroutine to run next, or null.
    runnext: AtomicPtr<()>,
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    _owns: PhantomData<T>,
}

// SAFETY: items are `Send`; the slots are accessed under the head/tail protocol above, which
// gives each slot one accessor at a time, and runnext is an atomic swap.
unsafe impl<T: QueueItem> Send for LocalQueue<T> {}
// SAFETY: as above; every shared access goes through atomics that order the slot accesses.
unsafe impl<T: QueueItem> Sync for LocalQueue<T> {}

fn pack(steal: u32, real: u32) -> u64 {
    ((steal as u64) << 32) | real as u64
}

fn unpack(head: u64) -> (u32, u32) {
    ((head >> 32) as u32, head as u32)
}

impl<T: QueueItem> Default for LocalQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: QueueItem> LocalQueue<T> {
    /// An empty queue.
    pub fn new() -> Self {
        let slots = (0..LOCAL_QUEUE_CAPACITY).map(|_| UnsafeCell::new(MaybeUninit::uninit())).collect();
        Self {
            head: AtomicU64::new(0),
            tail: AtomicU32::new(0),
            runnext: AtomicPtr::new(ptr::null_mut()),
            slots,
            _owns: PhantomData,
        }
    }

    /// Items in the ring plus runnext. Exact for the owner, a snapshot for anyone else.
    pub fn len(&self) -> usize {
        let (_, real) = unpack(self.head.load(Acquire));
        let tail = self.tail.load(Acquire);
        let ring = tail.wrapping_sub(real) as usize;
        ring + usize::from(!self.runnext.load(Acquire).is_null())
    }

    /// True if the ring and runnext are both empty (a snapshot for non-owners).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if runnext holds an item (a snapshot).
    pub fn has_runnext(&self) -> bool {
        !self.runnext.load(Acquire).is_null()
    }

    /// True if the ring holds items (a snapshot; runnext not counted).
    pub fn has_ring_items(&self) -> bool {
        let (_, real) = unpack(self.head.load(Acquire));
        self.tail.load(Acquire) != real
    }

    /// As `has_runnext`, read with an RMW (a CAS of null for null, which changes nothing):
    /// for a spinner about to park. The RMW is what orders its check against an owner's
    /// `swap_runnext` that did not fence (see `Scheduler::wake_if_idle_after_swap`).
    pub fn has_runnext_synced(&self) -> bool {
        self.runnext.compare_exchange(ptr::null_mut(), ptr::null_mut(), SeqCst, SeqCst).is_err()
    }

    /// Owner only: puts `item` at the tail of the ring; if the ring is full, moves its older
    /// half plus `item` to `overflow` in one batch.
    #[inline]
    pub fn push_back(&self, item: T, overflow: &impl Overflow<T>) {
        self.push_back_at(item, overflow);
    }

    /// As [`push_back`](Self::push_back); returns the ring position `item` landed at, or
    /// `None` if it went to `overflow` (the scheduling-latency sampler tracks it by position).
    pub fn push_back_at(&self, mut item: T, overflow: &impl Overflow<T>) -> Option<u32> {
        // Only the owner stores `tail`, so a relaxed load sees its own latest store.
        let tail = self.tail.load(Relaxed);
        loop {
            let (steal, real) = unpack(self.head.load(Acquire));
            item = match self.push_if_room(tail, steal, item) {
                Ok(position) => return Some(position),
                Err(item) => item,
            };
            if steal != real {
                // A thief is copying out and will free slots soon; don't wait for it.
                overflow.push(item);
                return None;
            }
            match self.push_overflow(item, real, tail, overflow) {
                Ok(()) => return None,
                // Someone took items meanwhile, so there is room now: retry.
                Err(back) => item = back,
            }
        }
    }

    /// Owner only: as [`push_back_at`](Self::push_back_at), except that a full ring sends
    /// only `item` to `overflow` and keeps its own items. For a yield: the yielder queues
    /// behind everyone (Go's `Gosched` queues globally), and the ring is not halved into the
    /// global queue only to be refilled from it a few polls later.
    pub fn push_back_or_overflow_one(&self, item: T, overflow: &impl Overflow<T>) -> Option<u32> {
        // Only the owner stores `tail`, so a relaxed load sees its own latest store.
        let tail = self.tail.load(Relaxed);
        let (steal, _) = unpack(self.head.load(Acquire));
        match self.push_if_room(tail, steal, item) {
            Ok(position) => Some(position),
            Err(item) => {
                overflow.push(item);
                None
            }
        }
    }

    /// Owner only: writes `item` at `tail` and publishes it if the ring has room, counting
    /// the slots from `steal` on (a thief may still be copying out of those); else gives
    /// `item` back. The one fast path of both pushes.
    #[inline(always)]
    fn push_if_room(&self, tail: u32, steal: u32, item: T) -> Result<u32, T> {
        if tail.wrapping_sub(steal) >= LOCAL_QUEUE_CAPACITY as u32 {
            return Err(item);
        }
        self.write_slot(tail, item);
        self.tail.store(tail.wrapping_add(1), Release);
        Ok(tail)
    }

    /// Owner only: moves `HALF` items from the head plus `item` to `overflow`. Fails (giving
    /// `item` back) if a thief or the owner moved `head` since it was read.
    #[cold]
    fn push_overflow(&self, item: T, real: u32, tail: u32, overflow: &impl Overflow<T>) -> Result<(), T> {
        debug_assert_eq!(tail.wrapping_sub(real), LOCAL_QUEUE_CAPACITY as u32);
        let claimed = real.wrapping_add(HALF);
        if self.head.compare_exchange(pack(real, real), pack(claimed, claimed), AcqRel, Acquire).is_err() {
            return Err(item);
        }
        // The CAS gave the owner slots [real, claimed): no thief can claim them any more.
        let batch = (0..HALF).map(|i| self.read_slot(real.wrapping_add(i)));
        overflow.push_batch(batch.chain(std::iter::once(item)));
        Ok(())
    }

    /// Owner only: takes the oldest item of the ring (not runnext).
    #[inline]
    pub fn pop(&self) -> Option<T> {
        self.pop_at().map(|(item, _)| item)
    }

    /// Owner only: as [`pop`](Self::pop), with the ring position the item was taken from.
    #[inline]
    pub fn pop_at(&self) -> Option<(T, u32)> {
        let mut head = self.head.load(Acquire);
        loop {
            let (steal, real) = unpack(head);
            if real == self.tail.load(Relaxed) {
                return None;
            }
            let next_real = real.wrapping_add(1);
            // With no steal in progress, `steal` moves with `real`.
            let next = if steal == real { pack(next_real, next_real) } else { pack(steal, next_real) };
            match self.head.compare_exchange_weak(head, next, AcqRel, Acquire) {
                Ok(_) => return Some((self.read_slot(real), real)),
                Err(actual) => head = actual,
            }
        }
    }

    /// Owner only: makes `item` the next to run; returns the item it displaced, which the
    /// caller puts at the tail.
    #[inline]
    #[cfg_attr(not(test), allow(dead_code))] // the loom models use it; the scheduler uses the keyed form
    pub fn swap_runnext(&self, item: T) -> Option<T> {
        self.swap_runnext_keyed(item).1.map(|(previous, _)| previous)
    }

    /// Owner only: as [`swap_runnext`](Self::swap_runnext), with the keys (raw pointers, as
    /// addresses) of `item` and of the displaced item: who sits in runnext, for the
    /// scheduling-latency sampler.
    #[inline]
    pub fn swap_runnext_keyed(&self, item: T) -> (usize, Option<(T, usize)>) {
        let raw = item.into_raw().as_ptr();
        // SeqCst (the same `xchg` as AcqRel on x86): the wake-up check after it does not fence.
        let previous = self.runnext.swap(raw, SeqCst);
        // SAFETY: a non-null runnext came from `into_raw`, and the swap made us its only owner.
        (raw as usize, NonNull::new(previous).map(|ptr| (unsafe { T::from_raw(ptr) }, ptr.as_ptr() as usize)))
    }

    /// Owner or thief: takes the runnext item, if any.
    #[inline]
    pub fn take_runnext(&self) -> Option<T> {
        self.take_runnext_keyed().map(|(item, _)| item)
    }

    /// As [`take_runnext`](Self::take_runnext), with the item's key (see
    /// [`swap_runnext_keyed`](Self::swap_runnext_keyed)).
    #[inline]
    pub fn take_runnext_keyed(&self) -> Option<(T, usize)> {
        if self.runnext.load(Relaxed).is_null() {
            return None;
        }
        let taken = self.runnext.swap(ptr::null_mut(), AcqRel);
        // SAFETY: as in `swap_runnext`: the swap made us the only owner of the pointer.
        NonNull::new(taken).map(|ptr| (unsafe { T::from_raw(ptr) }, ptr.as_ptr() as usize))
    }

    /// The key of the item in runnext (0 if none; a snapshot).
    pub fn runnext_key(&self) -> usize {
        self.runnext.load(Relaxed) as usize
    }

    /// The ring position of the next item to take (a snapshot; anyone may read it).
    pub fn head_position(&self) -> u32 {
        unpack(self.head.load(Acquire)).1
    }

    /// Thief: moves half of this queue's ring (rounded up) into `dst`, the thief's own queue,
    /// and returns one of the stolen items to run now, with how many items it took (that one
    /// included: exact, whatever other thieves do to `dst` meanwhile). `dst` must be owned by
    /// the caller. Returns `None` if there was nothing to steal, another thief is busy here,
    /// or `dst` has no room for half a ring.
    pub fn steal_half_counted(&self, dst: &LocalQueue<T>) -> Option<(T, usize)> {
        let dst_tail = dst.tail.load(Relaxed);
        let (dst_steal, _) = unpack(dst.head.load(Acquire));
        if dst_tail.wrapping_sub(dst_steal) > HALF {
            return None;
        }
        let stolen = self.claim_and_copy_half(dst, dst_tail);
        if stolen == 0 {
            return None;
        }
        let kept = stolen - 1;
        let last = dst.read_slot(dst_tail.wrapping_add(kept));
        if kept > 0 {
            dst.tail.store(dst_tail.wrapping_add(kept), Release);
        }
        Some((last, stolen as usize))
    }

    /// Claims `ceil(n/2)` items of this ring, copies them to `dst` from `dst_tail` on, then
    /// releases the claim. Returns how many were copied.
    fn claim_and_copy_half(&self, dst: &LocalQueue<T>, dst_tail: u32) -> u32 {
        let mut head = self.head.load(Acquire);
        let (first, count) = loop {
            let (steal, real) = unpack(head);
            if steal != real {
                return 0; // another thief is copying out of this ring
            }
            let available = self.tail.load(Acquire).wrapping_sub(real);
            let count = available - available / 2;
            if count == 0 {
                return 0;
            }
            let claimed = pack(steal, real.wrapping_add(count));
            match self.head.compare_exchange_weak(head, claimed, AcqRel, Acquire) {
                Ok(_) => break (real, count),
                Err(actual) => head = actual,
            }
        };
        for i in 0..count {
            let item = self.read_slot(first.wrapping_add(i));
            dst.write_slot(dst_tail.wrapping_add(i), item);
        }
        self.release_steal(pack(first, first.wrapping_add(count)));
        count
    }

    /// Ends a steal: sets `steal = real`, whatever the owner popped meanwhile.
    fn release_steal(&self, mut head: u64) {
        loop {
            let (_, real) = unpack(head);
            match self.head.compare_exchange_weak(head, pack(real, real), AcqRel, Acquire) {
                Ok(_) => return,
                Err(actual) => head = actual,
            }
        }
    }

    /// Owner only: takes every item, runnext first. For shutdown and for handing a P's work
    /// to the global queue.
    pub fn drain(&self) -> impl Iterator<Item = T> + '_ {
        self.take_runnext().into_iter().chain(std::iter::from_fn(move || self.pop()))
    }

    fn write_slot(&self, position: u32, item: T) {
        self.slots[position as usize & MASK].with_mut(|slot| {
            // SAFETY: the caller owns this slot under the module protocol: the owner writes at
            // `tail` (never reached by thieves), a thief writes into its own ring past its tail.
            unsafe { slot.write(MaybeUninit::new(item)) }
        });
    }

    fn read_slot(&self, position: u32) -> T {
        self.slots[position as usize & MASK].with(|slot| {
            // SAFETY: the caller claimed this slot (by a CAS on `head`, or as the owner of a
            // position below `tail` that no one else can claim), and it was written before
            // `tail` was published past it, so it holds an initialised item read exactly once.
            unsafe { slot.read().assume_init() }
        })
    }
}

impl<T: QueueItem> Drop for LocalQueue<T> {
    fn drop(&mut self) {
        // We own the queue outright here; drop whatever is left.
        for item in self.drain() {
            drop(item);
        }
    }
}

impl<T: QueueItem> std::fmt::Debug for LocalQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalQueue").field("len", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[derive(Default)]
    struct VecSink(RefCell<Vec<u32>>);

    impl Overflow<Box<u32>> for VecSink {
        fn push(&self, item: Box<u32>) {
            self.0.borrow_mut().push(*item);
        }
        fn push_batch(&self, items: impl Iterator<Item = Box<u32>>) {
            self.0.borrow_mut().extend(items.map(|b| *b));
        }
    }

    #[test]
    fn pop_returns_items_in_push_order() {
        let queue = LocalQueue::new();
        let sink = VecSink::default();
        for i in 0..10 {
            queue.push_back(Box::new(i), &sink);
        }
        let popped: Vec<u32> = std::iter::from_fn(|| queue.pop()).map(|b| *b).collect();
        assert_eq!(popped, (0..10).collect::<Vec<_>>());
        assert!(sink.0.borrow().is_empty());
    }

    #[test]
    fn a_full_ring_moves_its_older_half_and_the_new_item_to_the_overflow() {
        let queue = LocalQueue::new();
        let sink = VecSink::default();
        let cap = LOCAL_QUEUE_CAPACITY as u32;
        for i in 0..=cap {
            queue.push_back(Box::new(i), &sink);
        }
        let overflowed = sink.0.borrow().clone();
        let mut expected: Vec<u32> = (0..cap / 2).collect();
        expected.push(cap);
        assert_eq!(overflowed, expected);
        let rest: Vec<u32> = std::iter::from_fn(|| queue.pop()).map(|b| *b).collect();
        assert_eq!(rest, (cap / 2..cap).collect::<Vec<_>>());
    }

    #[test]
    fn a_yield_into_a_full_ring_sends_only_itself_to_the_overflow() {
        let queue = LocalQueue::new();
        let sink = VecSink::default();
        let cap = LOCAL_QUEUE_CAPACITY as u32;
        for i in 0..cap {
            assert_eq!(queue.push_back_or_overflow_one(Box::new(i), &sink), Some(i));
        }
        assert_eq!(queue.push_back_or_overflow_one(Box::new(cap), &sink), None);
        assert_eq!(*sink.0.borrow(), [cap]);
        let ring: Vec<u32> = std::iter::from_fn(|| queue.pop()).map(|b| *b).collect();
        assert_eq!(ring, (0..cap).collect::<Vec<_>>());
    }

    #[test]
    fn steal_takes_the_older_half_rounded_up() {
        let victim = LocalQueue::new();
        let thief = LocalQueue::new();
        let sink = VecSink::default();
        for i in 0..5 {
            victim.push_back(Box::new(i), &sink);
        }
        let (first, stolen) = victim.steal_half_counted(&thief).unwrap();
        assert_eq!(*first, 2);
        assert_eq!(stolen, 3, "the returned item and the two kept");
        let kept: Vec<u32> = std::iter::from_fn(|| thief.pop()).map(|b| *b).collect();
        assert_eq!(kept, vec![0, 1]);
        let left: Vec<u32> = std::iter::from_fn(|| victim.pop()).map(|b| *b).collect();
        assert_eq!(left, vec![3, 4]);
    }

    #[test]
    fn runnext_swap_returns_the_displaced_item() {
        let queue: LocalQueue<Box<u32>> = LocalQueue::new();
        assert!(queue.swap_runnext(Box::new(1)).is_none());
        assert_eq!(*queue.swap_runnext(Box::new(2)).unwrap(), 1);
        assert_eq!(queue.len(), 1);
        assert_eq!(*queue.take_runnext().unwrap(), 2);
        assert!(queue.take_runnext().is_none());
    }

    #[test]
    fn dropping_a_queue_drops_its_items() {
        struct Held(#[allow(dead_code)] std::sync::Arc<()>);
        struct DiscardSink;
        impl Overflow<Box<Held>> for DiscardSink {
            fn push(&self, _: Box<Held>) {}
            fn push_batch(&self, _: impl Iterator<Item = Box<Held>>) {}
        }
        let counter = std::sync::Arc::new(());
        let queue: LocalQueue<Box<Held>> = LocalQueue::new();
        for _ in 0..3 {
            queue.push_back(Box::new(Held(counter.clone())), &DiscardSink);
        }
        queue.swap_runnext(Box::new(Held(counter.clone())));
        assert_eq!(std::sync::Arc::strong_count(&counter), 5);
        drop(queue);
        assert_eq!(std::sync::Arc::strong_count(&counter), 1);
    }

    #[test]
    fn wrapping_positions_keep_fifo_order() {
        let queue = LocalQueue::new();
        let sink = VecSink::default();
        for round in 0..(3 * LOCAL_QUEUE_CAPACITY as u32) {
            queue.push_back(Box::new(round), &sink);
            assert_eq!(*queue.pop().unwrap(), round);
        }
        assert!(sink.0.borrow().is_empty());
    }

    // The two tests below run real threads. They are small so that Miri (which runs the ring
    // and runnext tests in CI and checks every access for data races) gets through them in
    // seconds; loom-tests/ checks the same races exhaustively on a 4-slot ring.

    /// An overflow sink two threads can share.
    #[derive(Default)]
    struct SharedSink(std::sync::Mutex<Vec<u32>>);

    impl Overflow<Box<u32>> for SharedSink {
        fn push(&self, item: Box<u32>) {
            self.0.lock().unwrap().push(*item);
        }
        fn push_batch(&self, items: impl Iterator<Item = Box<u32>>) {
            self.0.lock().unwrap().extend(items.map(|b| *b));
        }
    }

    #[test]
    fn a_thief_stealing_while_the_owner_pushes_and_pops_takes_each_item_once() {
        const ITEMS: u32 = 64;
        let victim: LocalQueue<Box<u32>> = LocalQueue::new();
        let sink = SharedSink::default();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let (owner_got, thief_got) = std::thread::scope(|scope| {
            let thief = scope.spawn(|| {
                let own = LocalQueue::new();
                let mut got = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Acquire) {
                    if let Some((item, _)) = victim.steal_half_counted(&own) {
                        let mut batch: Vec<u32> = std::iter::from_fn(|| own.pop()).map(|b| *b).collect();
                        batch.push(*item);
                        assert!(batch.windows(2).all(|w| w[0] < w[1]), "a stolen batch out of order: {batch:?}");
                        got.extend(batch);
                    }
                    std::thread::yield_now();
                }
                got
            });
            let mut got = Vec::new();
            for id in 0..ITEMS {
                victim.push_back(Box::new(id), &sink);
                if id % 3 == 0 {
                    got.extend(victim.pop().map(|b| *b));
                }
            }
            got.extend(std::iter::from_fn(|| victim.pop()).map(|b| *b));
            stop.store(true, std::sync::atomic::Ordering::Release);
            (got, thief.join().unwrap())
        });
        assert!(owner_got.windows(2).all(|w| w[0] < w[1]), "the owner's pops out of order");
        let mut all = [owner_got, thief_got, sink.0.into_inner().unwrap()].concat();
        all.sort_unstable();
        assert_eq!(all, (0..ITEMS).collect::<Vec<_>>(), "every item exactly once");
    }

    #[test]
    fn runnext_raced_by_a_thief_hands_each_item_out_once() {
        const ITEMS: u32 = 32;
        let queue: LocalQueue<Box<u32>> = LocalQueue::new();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let (owner_got, thief_got) = std::thread::scope(|scope| {
            let thief = scope.spawn(|| {
                let mut got = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Acquire) {
                    got.extend(queue.take_runnext().map(|b| *b));
                    std::thread::yield_now();
                }
                got
            });
            let mut got = Vec::new();
            for id in 0..ITEMS {
                // As `ready_local` does: the displaced item would go to the ring; keep it.
                got.extend(queue.swap_runnext(Box::new(id)).map(|b| *b));
                if id % 4 == 0 {
                    got.extend(queue.take_runnext().map(|b| *b));
                }
            }
            got.extend(queue.take_runnext().map(|b| *b));
            stop.store(true, std::sync::atomic::Ordering::Release);
            (got, thief.join().unwrap())
        });
        let mut all = [owner_got, thief_got].concat();
        all.sort_unstable();
        assert_eq!(all, (0..ITEMS).collect::<Vec<_>>(), "every item exactly once");
    }
}
