//! A registry shard's packed entries: slots that the shard's lock holder fills and that each
//! entry's goroutine clears without the lock.
//!
//! # Design
//!
//! A goroutine registers under its shard's lock and leaves as its future is dropped, usually on
//! another P than the one that spawned it (a thief ran it). Taking the lock to leave made the
//! spawner and the Ms finishing its goroutines contend for it on every goroutine: spawn-heavy
//! workloads on 2–4 Ms spent about a third of their time in the registry, nearly half of that
//! spinning. Here a goroutine leaves with no lock:
//!
//! - **Slots** are `AtomicU64`s in chunks that never move (chunk `k` holds `FIRST_CHUNK << k`
//!   slots, allocated by the lock holder as the shard grows, freed with it), so a slot's
//!   address is valid without the lock. A slot is 0 (never used), an entry (a packed waker:
//!   its low bit is 0, as a task pointer is aligned), or a link of the free list (low bit 1).
//! - **One word** (`freed`) holds the top of the shard's stack of freed slots (a Treiber
//!   stack that its one consumer, the lock holder, empties whole) and, in its high half, the
//!   count of readers. Every write to it is an RMW, so all of them are in one order (the
//!   word's modification order) and each acquiring one synchronises with every releasing one
//!   before it, with no `SeqCst` needed.
//! - **Leaving** (`clear`): the goroutine overwrites its own slot with a free-list link and
//!   pushes the slot with a CAS (`AcqRel`), which also reads the reader count. Only if a
//!   reader is counted does it take and release the shard lock, which waits out the reader.
//! - **Readers** (dump, the shutdown sweep, abort's wake: whoever turns an entry into a waker
//!   or reads the goroutine it names) add themselves to the count (`AcqRel`, `begin_read`)
//!   before they take the lock and take themselves off (`Release`, the returned `Reading`'s
//!   drop) after it. Entries are read only through a `Reading`. If the clearer's CAS comes first,
//!   the reader's increment reads what it wrote, so the reader sees the slot cleared. If the
//!   increment comes first, the clearer sees the reader and waits for the lock: either the
//!   reader holds it (and has finished with the entry when it lets go), or the clearer takes
//!   it first and the reader, locking after, sees the slot cleared. If the reader's decrement
//!   came first too, the clearer's CAS acquires it, and everything the reader did happens
//!   before the task is freed. So a reader never dereferences an entry whose task may be
//!   freed: the goroutine's future is dropped, and the task freed, only after `clear` returns.
//! - **Leaving on the shard's own P** (`clear_locked`): a goroutine that finishes on the P
//!   whose spawns fill its shard (a spawn then its run, the common case) takes the shard lock
//!   if it is free (it is that P's own, so it is in this cache and nobody waits on it), puts
//!   its slot on the lock holder's private chain and uncounts itself from `filled`: one RMW
//!   (the lock) instead of three (the push, the count in `left`, and the next claim's take of
//!   the stack). If the lock is held it leaves as above.
//! - **Claiming** (`claim`, lock holder only) takes a slot from its private chain of free
//!   slots; when that is empty it takes the whole `freed` stack at once (one RMW per batch),
//!   else it opens a new slot at the end. With one consumer the stack has no ABA: a slot on
//!   it can only come back after the consumer has taken it.
//! - **Counting** (`live`): the lock holder counts the entries it fills, and a leaver counts
//!   itself in `left`, beside `freed` on the cache line its CAS has just taken, so the count
//!   costs it no extra cache miss (one leaving under the lock takes itself off the holder's
//!   count instead); `num_goroutine()` and `stats()` take the difference.
//!
//! # Who may touch what
//!
//! `claim`, `fill` and `clear_locked` run under the shard lock, with the lock holder's
//! `SlotsOwner`; `clear` (or `clear_locked`) runs on the entry's goroutine, once, `clear`
//! without the lock; `Reading::entries` and `entry` run
//! under the lock, taken after `begin_read` and released before the `Reading` goes. loom-tests/tests/registry_slots.rs models the reader and free-list
//! protocols.

use crate::loom::{AtomicPtr, AtomicU64, CachePadded, Ordering};

/// Slots in the first chunk; each next chunk doubles.
const FIRST_CHUNK: usize = crate::loom::real_or_model(64, 2);
/// Chunks a shard may grow to: `FIRST_CHUNK << CHUNKS` slots, more than a location can name.
const CHUNKS: usize = 26;
/// The low bit of a slot: it is a link of the free list (or of the lock holder's chain).
const FREE: u64 = 1;
/// The low half of `freed`: the top slot's index plus one (0: empty).
const TOP_MASK: u64 = (1 << 32) - 1;
/// One reader in `freed`'s high half.
const READER: u64 = 1 << 32;

/// The chunk holding slot `slot`, and the slot's index in it.
fn chunk_of(slot: usize) -> (usize, usize) {
    let chunk = (usize::BITS - 1 - (slot / FIRST_CHUNK + 1).leading_zeros()) as usize;
    (chunk, slot - FIRST_CHUNK * ((1 << chunk) - 1))
}

/// A free-list link to slot `next_plus_one - 1` (0: the end of the list).
fn link(next_plus_one: u64) -> u64 {
    next_plus_one << 1 | FREE
}

/// True if a slot's value is an entry (not 0, not a link).
fn is_entry(value: u64) -> bool {
    value != 0 && value & FREE == 0
}

/// The part of a shard's slots only its lock holder touches (kept in the locked shard).
#[derive(Debug, Default)]
pub struct SlotsOwner {
    /// Slots opened so far (every slot below is in an allocated chunk).
    high: u32,
    /// The lock holder's chain of free slots taken from `freed` (index plus one; 0: empty).
    chain: u64,
    /// Entries filled so far, less those cleared under the lock (`live`).
    filled: u64,
}

/// A shard's slots (module docs).
pub struct EntrySlots {
    chunks: [AtomicPtr<AtomicU64>; CHUNKS],
    /// (readers that may dereference entries now << 32) | (top freed slot's index plus one),
    /// and beside it, on the same cache line, the entries that left (`live`).
    freed: CachePadded<FreedLine>,
}

/// The words every leaver writes, on one cache line.
struct FreedLine {
    word: AtomicU64,
    left: AtomicU64,
}

impl std::fmt::Debug for EntrySlots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntrySlots").finish_non_exhaustive()
    }
}

impl Default for EntrySlots {
    fn default() -> Self {
        Self::new()
    }
}

impl EntrySlots {
    /// No slots yet.
    pub fn new() -> Self {
        Self {
            chunks: std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut())),
            freed: CachePadded(FreedLine { word: AtomicU64::new(0), left: AtomicU64::new(0) }),
        }
    }

    /// Slot `slot`, if its chunk exists.
    fn cell(&self, slot: usize) -> Option<&AtomicU64> {
        let (chunk, index) = chunk_of(slot);
        let base = self.chunks.get(chunk)?.load(Ordering::Acquire);
        if base.is_null() {
            return None;
        }
        // SAFETY: a non-null chunk pointer was published (Release, `open_chunk`) after its
        // `FIRST_CHUNK << chunk` slots were initialised, and `index` is below that; chunks are
        // freed only when the slots are dropped, which needs `&mut self`.
        Some(unsafe { &*base.add(index) })
    }

    /// Lock holder: a free slot below `limit`, reusing a cleared one if any. None if every
    /// slot below `limit` is in use.
    pub fn claim(&self, owner: &mut SlotsOwner, limit: u32) -> Option<u32> {
        // Take the whole stack, leaving the readers. Acquire pairs with the clearers' pushes,
        // so their links are visible below. (A relaxed look first, to skip the RMW while
        // nothing is freed, measured no faster, could open new slots while freed ones waited,
        // and hid the concurrent claim from the loom model.)
        if owner.chain == 0 {
            owner.chain = self.freed.word.fetch_and(!TOP_MASK, Ordering::Acquire) & TOP_MASK;
        }
        if owner.chain != 0 {
            let slot = (owner.chain - 1) as u32;
            let cell = self.cell(slot as usize).expect("a freed slot's chunk exists");
            owner.chain = cell.load(Ordering::Relaxed) >> 1;
            return Some(slot);
        }
        if owner.high >= limit {
            return None;
        }
        let slot = owner.high;
        if self.cell(slot as usize).is_none() {
            self.open_chunk(chunk_of(slot as usize).0);
        }
        owner.high += 1;
        Some(slot)
    }

    /// Lock holder: allocates chunk `chunk`, zeroed.
    #[cold]
    fn open_chunk(&self, chunk: usize) {
        let slots: Box<[AtomicU64]> = (0..FIRST_CHUNK << chunk).map(|_| AtomicU64::new(0)).collect();
        let base = Box::into_raw(slots).cast::<AtomicU64>();
        self.chunks[chunk].store(base, Ordering::Release);
    }

    /// Lock holder: puts entry `value` (low bit 0, not 0) in `slot`, just claimed.
    pub fn fill(&self, owner: &mut SlotsOwner, slot: u32, value: u64) {
        debug_assert!(is_entry(value), "an entry's low bit is 0");
        owner.filled += 1;
        self.cell(slot as usize).expect("a claimed slot's chunk exists").store(value, Ordering::Release);
    }

    /// The entry's goroutine, leaving: if `slot` holds an entry that `ours` accepts, frees the
    /// slot and returns the entry; `Some((entry, true))` if a reader was counted meanwhile: the
    /// caller must then take and release the shard lock before the entry's task may be freed.
    pub fn clear(&self, slot: u32, ours: impl FnOnce(u64) -> bool) -> Option<(u64, bool)> {
        let cell = self.cell(slot as usize)?;
        let value = cell.load(Ordering::Relaxed);
        if !is_entry(value) || !ours(value) {
            return None;
        }
        let mut old = self.freed.word.load(Ordering::Relaxed);
        loop {
            // The first store clears the entry; the CAS publishes it (module docs).
            cell.store(link(old & TOP_MASK), Ordering::Relaxed);
            let new = (old & !TOP_MASK) | (slot as u64 + 1);
            match self.freed.word.compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => {
                    // Release: a count read by `live` (Acquire) shows the fill that preceded it.
                    self.freed.left.fetch_add(1, Ordering::Release);
                    return Some((value, old >> 32 != 0));
                }
                Err(now) => old = now,
            }
        }
    }

    /// Lock holder, as the entry's goroutine leaves on the shard's own P: frees `slot` if it
    /// holds an entry that `ours` accepts, onto the holder's chain (so the next claim takes it
    /// with no RMW), and returns the entry. No reader needs waiting out: readers read under
    /// the lock, so none is reading now and any later one sees the slot free.
    pub fn clear_locked(&self, owner: &mut SlotsOwner, slot: u32, ours: impl FnOnce(u64) -> bool) -> Option<u64> {
        if slot >= owner.high {
            return None;
        }
        let cell = self.cell(slot as usize)?;
        let value = cell.load(Ordering::Relaxed);
        if !is_entry(value) || !ours(value) {
            return None;
        }
        cell.store(link(owner.chain), Ordering::Relaxed);
        owner.chain = slot as u64 + 1;
        owner.filled -= 1;
        Some(value)
    }

    /// A reader announces itself, before it takes the shard lock; it reads entries through
    /// the `Reading`, and drops it after releasing the lock (module docs).
    pub fn begin_read(&self) -> Reading<'_> {
        self.freed.word.fetch_add(READER, Ordering::AcqRel);
        Reading { slots: self }
    }

    /// The slots opened so far, below `high`, chunk by chunk.
    fn opened(&self, high: u32) -> impl Iterator<Item = &AtomicU64> + '_ {
        let high = high as usize;
        (0..CHUNKS)
            .map_while(move |chunk| {
                let start = FIRST_CHUNK * ((1 << chunk) - 1);
                if start >= high {
                    return None;
                }
                let base = self.chunks[chunk].load(Ordering::Acquire);
                assert!(!base.is_null(), "an opened slot's chunk exists");
                let len = (FIRST_CHUNK << chunk).min(high - start);
                // SAFETY: as in `cell`: a published chunk of `FIRST_CHUNK << chunk` initialised
                // slots, freed only with `&mut self`; `len` is no more than that.
                Some(unsafe { std::slice::from_raw_parts(base, len) })
            })
            .flatten()
    }

    /// Under the lock: true if `slot` holds an entry (a check; it dereferences nothing).
    pub fn holds_entry(&self, owner: &SlotsOwner, slot: u32) -> bool {
        slot < owner.high && self.cell(slot as usize).is_some_and(|cell| is_entry(cell.load(Ordering::Relaxed)))
    }

    /// The entries that have left so far: read it before taking the lock for `live`.
    pub fn left(&self) -> u64 {
        self.freed.left.load(Ordering::Acquire)
    }

    /// Under the lock: how many entries the slots hold, given `left` read before the lock. A
    /// leave counted there followed its fill, which the lock then shows, so the difference
    /// is never negative; leaves after the read count as live, a snapshot's usual lag.
    pub fn live(&self, owner: &SlotsOwner, left: u64) -> usize {
        owner.filled.saturating_sub(left) as usize
    }
}

/// A counted reader of a shard's entries (`EntrySlots::begin_read`): while it lives, a
/// goroutine leaving the shard waits for the shard lock, so the entries read through it under
/// the lock name live tasks. Dropping it (after the lock is released, even by a panic)
/// uncounts the reader.
pub struct Reading<'a> {
    slots: &'a EntrySlots,
}

impl std::fmt::Debug for Reading<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reading").finish_non_exhaustive()
    }
}

impl Reading<'_> {
    /// Under the lock: every entry now in the slots.
    pub fn entries<'b>(&'b self, owner: &'b SlotsOwner) -> impl Iterator<Item = u64> + 'b {
        self.slots.opened(owner.high).map(|cell| cell.load(Ordering::Acquire)).filter(|&value| is_entry(value))
    }

    /// Under the lock: the entry in `slot`, if any.
    pub fn entry(&self, owner: &SlotsOwner, slot: u32) -> Option<u64> {
        if slot >= owner.high {
            return None;
        }
        let value = self.slots.cell(slot as usize)?.load(Ordering::Acquire);
        is_entry(value).then_some(value)
    }
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        self.slots.freed.word.fetch_sub(READER, Ordering::Release);
    }
}

impl Drop for EntrySlots {
    fn drop(&mut self) {
        for (chunk, pointer) in self.chunks.iter().enumerate() {
            let base = pointer.load(Ordering::Relaxed);
            if !base.is_null() {
                let slots = std::ptr::slice_from_raw_parts_mut(base, FIRST_CHUNK << chunk);
                // SAFETY: `open_chunk` made this pointer with `Box::into_raw` of a boxed slice
                // of exactly this length, and it is freed once, here (`&mut self`).
                drop(unsafe { Box::from_raw(slots) });
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn slots_map_to_chunks_that_double() {
        assert_eq!(chunk_of(0), (0, 0));
        assert_eq!(chunk_of(FIRST_CHUNK - 1), (0, FIRST_CHUNK - 1));
        assert_eq!(chunk_of(FIRST_CHUNK), (1, 0));
        assert_eq!(chunk_of(3 * FIRST_CHUNK - 1), (1, 2 * FIRST_CHUNK - 1));
        assert_eq!(chunk_of(3 * FIRST_CHUNK), (2, 0));
        const { assert!((FIRST_CHUNK as u64) << CHUNKS > 1 << 30, "more slots than a location names") };
        let last = ((FIRST_CHUNK as u64) << CHUNKS) - FIRST_CHUNK as u64 - 1;
        assert_eq!(chunk_of(last as usize).0, CHUNKS - 1);
    }

    /// Cleared slots come back, each once, before new ones are opened; the live count follows.
    #[test]
    fn cleared_slots_are_reused_once_and_counted() {
        let slots = EntrySlots::new();
        let mut owner = SlotsOwner::default();
        let claimed: Vec<u32> = (0..200).map(|_| slots.claim(&mut owner, u32::MAX).unwrap()).collect();
        assert_eq!(claimed, (0..200).collect::<Vec<_>>());
        for &slot in &claimed {
            slots.fill(&mut owner, slot, (slot as u64 + 1) << 4);
        }
        for slot in (10..200).step_by(3) {
            let (value, readers) = slots.clear(slot, |value| value == (slot as u64 + 1) << 4).unwrap();
            assert_eq!((value, readers), ((slot as u64 + 1) << 4, false));
            assert!(slots.clear(slot, |_| true).is_none(), "cleared once");
        }
        let cleared = (10..200).step_by(3).count();
        assert_eq!(slots.live(&owner, slots.left()), 200 - cleared);
        assert_eq!(slots.begin_read().entries(&owner).count(), 200 - cleared);
        let mut reused: Vec<u32> = (0..cleared).map(|_| slots.claim(&mut owner, u32::MAX).unwrap()).collect();
        reused.sort();
        assert_eq!(reused, (10..200).step_by(3).collect::<Vec<_>>());
        assert_eq!(slots.claim(&mut owner, u32::MAX), Some(200), "then a new slot");
        assert_eq!(slots.claim(&mut owner, 201), None, "none past the limit");
    }

    #[test]
    fn a_reader_makes_a_clearer_wait() {
        let slots = EntrySlots::new();
        let mut owner = SlotsOwner::default();
        let slot = slots.claim(&mut owner, 8).unwrap();
        slots.fill(&mut owner, slot, 0x40);
        let reading = slots.begin_read();
        assert_eq!(reading.entry(&owner, slot), Some(0x40));
        assert_eq!(slots.clear(slot, |_| true), Some((0x40, true)));
        drop(reading);
        assert_eq!(slots.begin_read().entry(&owner, slot), None);
        let other = slots.claim(&mut owner, 8).unwrap();
        slots.fill(&mut owner, other, 0x80);
        assert_eq!(slots.clear(other, |_| true), Some((0x80, false)), "no reader left counted");
    }
}
