//! The registry of live goroutines (Go's `allgs`).
//!
//! # Design
//!
//! Every goroutine is registered from spawn until its future is dropped (on completion or
//! cancellation). An entry is a waker of the goroutine packed in 8 bytes (`compact.rs`) that
//! holds no reference to the task: spawn and exit pay no reference-count RMWs for it. An
//! entry is put in its shard's slots under the shard's lock and removed, without the lock, by
//! its goroutine as the future is dropped, which async-task does before it frees the task;
//! readers (dump, the shutdown sweep, abort's wake) announce themselves before taking the lock,
//! and a goroutine that leaves while one is counted waits for the lock, so an entry a reader
//! sees names a live task (`slots.rs`). A goroutine
//! that parks takes one reference for its entry then (a goroutine nobody else can wake stays
//! alive until the shutdown sweep, as in Go), and gives it back when it leaves. Its metadata is found from
//! the waker's data pointer (the task header) at an offset that is the same for every task, learned
//! from the first one and checked against each goroutine's own pointer as it is registered; a
//! goroutine whose waker is not its task's (a `block_on`'s main goroutine) is kept with its
//! pointer in a second list. An entry is identified by its metadata pointer, which no other
//! live goroutine shares.
//!
//! The registry exists for three things: shutdown (wake every goroutine so its future is
//! dropped, however it is parked), `num_goroutine()`, and `dump()`.
//!
//! It is sharded to keep spawns on different Ps off each other's locks (`shard_lock.rs`, a shard
//! on cache lines of its own): a goroutine spawned on P `i` lives in shard `i`, and spawns
//! from threads without a P go to the shards above the Ps' (one shard in runs of 64, then the
//! next), so a P's shard lock is taken only by that P's M and stays in its cache. A goroutine
//! that finishes on its shard's P leaves under that lock, if it is free (one RMW, and its slot
//! is the next spawn's); elsewhere it leaves without the lock (`slots.rs`). The shard and slot
//! are stored in the goroutine's metadata, in 31 bits (`location`).
//!
//! # Shutdown race
//!
//! `close` marks every shard closed under its lock. A spawn that inserts after that finds the
//! shard closed and cancels its goroutine itself, so no goroutine escapes the shutdown sweep.
//! The sweep wakes the goroutines through clones of their wakers and leaves the entries in
//! place: each leaves when its future is dropped, so a goroutine that is polled again after
//! a sweep (an M that had not stopped yet parks it once more) is still found by the next.

use std::task::Waker;

mod compact;
mod shard_lock;
mod slots;

use compact::CompactWaker;
pub use shard_lock::{ShardGuard, ShardLock};
pub use slots::{EntrySlots, Reading, SlotsOwner};

/// The bytes of a task's registry entry (for the size test in `runtime/metadata.rs`).
#[cfg(test)]
pub(crate) const ENTRY_BYTES: usize = std::mem::size_of::<Option<CompactWaker>>();

use crate::goroutine::{Goroutine, GoroutineState, WaitReason, REGISTRY_SLOT_LIMIT};
use crate::loom::CachePadded;

/// A shard: its lock (on cache lines of its own, so the shards of two Ps never share one) and
/// its packed entries, which goroutines leave without the lock (`slots.rs`).
struct ShardCell {
    lock: CachePadded<ShardLock<Shard>>,
    slots: EntrySlots,
}

/// Takes a shard's lock.
#[inline]
fn lock(shard: &ShardCell) -> ShardGuard<'_, Shard> {
    shard.lock.0.lock()
}

/// Runs `read` on a shard as a reader that may turn its entries into wakers or read the
/// goroutines they name (`slots.rs`): counted in the shard's readers before taking the lock,
/// so a goroutine leaving meanwhile waits until the lock is released.
fn read<R>(shard: &ShardCell, read: impl FnOnce(&Shard, &Reading<'_>) -> R) -> R {
    let reading = shard.slots.begin_read();
    let guard = lock(shard);
    // The guard goes first (declared last), then the reading, also when `read` panics.
    read(&guard, &reading)
}

/// Spawns from one thread without a P that go to the same shard before it moves on.
const FOREIGN_RUN: u32 = 64;

crate::loom::thread_local! {
    /// The shard this thread registers P-less spawns in, and how many it has put there.
    static FOREIGN_SHARD: std::cell::Cell<(u32, u32)> = const { std::cell::Cell::new((u32::MAX, 0)) };
}

/// The shard for a spawn from a thread without a P, among shards `from..count`: a run of
/// `FOREIGN_RUN` spawns goes to one shard (its lock stays in this thread's cache), then the
/// next, so that spawns from several such threads spread over the shards' locks.
fn foreign_shard(from: usize, count: usize) -> usize {
    FOREIGN_SHARD.with(|state| {
        let (shard, used) = state.get();
        let shard = shard as usize;
        let (shard, used) = if !(from..count).contains(&shard) {
            (from, 0)
        } else if used >= FOREIGN_RUN {
            (if shard + 1 < count { shard + 1 } else { from }, 0)
        } else {
            (shard, used)
        };
        state.set((shard as u32, used + 1));
        shard
    })
}

/// A flag of a registry location: the goroutine is in its shard's `pointed` list (its waker
/// is not a task's, so its metadata cannot be found from it).
const POINTED: u32 = REGISTRY_SLOT_LIMIT >> 1;

/// A registry location (kept in 31 bits of the goroutine's header): `POINTED`, and below it
/// `slot << log2(shards) | shard` (the shard count is a power of two). A shard that has used
/// all its slot numbers below the limit sends new goroutines to the next shard.
fn location(shard: usize, shards: usize, slot: u32, pointed: bool) -> Option<u32> {
    let bits = shards.trailing_zeros();
    (slot < POINTED >> bits).then(|| (slot << bits | shard as u32) | if pointed { POINTED } else { 0 })
}

/// The shard, the slot and the list of a location.
fn decode(location: u32, shards: usize) -> (usize, u32, bool) {
    let index = location & !POINTED;
    ((index as usize) & (shards - 1), index >> shards.trailing_zeros(), location & POINTED != 0)
}

/// The offset from a task's waker data pointer (async-task's task header) to its metadata,
/// learned from the first task registered, or `usize::MAX` before that. The metadata lies at
/// one offset in every task header (async-task's `Header<M>` is generic only over the
/// metadata type), and every insert checks its own pointer against it, so a goroutine whose
/// waker does not fit (the main goroutine's, or a task laid out otherwise) is kept with its
/// pointer in the `pointed` list instead.
static METADATA_OFFSET: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(usize::MAX);

/// The metadata of the task whose waker is `waker`, registered as a compact entry.
fn goroutine_of(waker: &CompactWaker) -> *const Goroutine {
    let offset = METADATA_OFFSET.load(std::sync::atomic::Ordering::Relaxed);
    waker.data().cast::<u8>().wrapping_add(offset).cast()
}

/// An entry on its way into a shard.
enum Entry {
    Compact(CompactWaker),
    Pointed(Pointed),
}

/// A goroutine registered with its pointer (the main goroutine of a `block_on`).
struct Pointed {
    waker: Waker,
    goroutine: *const Goroutine,
}

// SAFETY: the metadata pointer targets `Sync` data kept alive by the entry's waker (a
// pointed entry holds a reference).
unsafe impl Send for Pointed {}

#[derive(Default)]
struct Shard {
    /// The lock holder's part of the packed entries (`slots.rs`): one packed waker per
    /// goroutine whose metadata lies at `METADATA_OFFSET` from its data pointer (8 bytes a
    /// goroutine, `compact.rs`; its task is alive while the entry is there, module docs).
    owner: SlotsOwner,
    /// The rest (rare: main goroutines), with their metadata pointers, left under the lock.
    pointed: Vec<Option<Pointed>>,
    pointed_free: Vec<u32>,
    closed: bool,
}

/// The entry a slot's value holds.
fn entry_of(bits: u64) -> CompactWaker {
    CompactWaker::from_bits(bits).expect("an entry is not 0")
}

impl Shard {
    /// The pointed entry at `slot` if it is `goroutine`'s.
    fn pointed_at(&self, slot: u32, goroutine: *const Goroutine) -> Option<&Pointed> {
        self.pointed.get(slot as usize)?.as_ref().filter(|p| std::ptr::eq(p.goroutine, goroutine))
    }

    /// Every registered goroutine (a reader's: `read`).
    fn goroutines<'a>(&'a self, slots: &'a Reading<'_>) -> impl Iterator<Item = *const Goroutine> + 'a {
        let compact = slots.entries(&self.owner).map(|bits| goroutine_of(&entry_of(bits)));
        compact.chain(self.pointed.iter().flatten().map(|p| p.goroutine))
    }

    /// A clone of every registered goroutine's waker (a reader's: `read`).
    fn wakers<'a>(&'a self, slots: &'a Reading<'_>) -> impl Iterator<Item = Waker> + 'a {
        // SAFETY: read as a reader under the shard's lock (`read`): a goroutine leaving waits
        // for the lock before its future is dropped (`slots.rs`), so the entry's task is alive.
        let compact = slots.entries(&self.owner).map(|bits| unsafe { entry_of(bits).to_waker() });
        compact.chain(self.pointed.iter().flatten().map(|p| p.waker.clone()))
    }

    /// A clone of the waker at `slot` if it is `goroutine`'s (a reader's: `read`).
    fn waker_at(&self, slots: &Reading<'_>, slot: u32, pointed: bool, goroutine: *const Goroutine) -> Option<Waker> {
        if pointed {
            return self.pointed_at(slot, goroutine).map(|p| p.waker.clone());
        }
        let entry = entry_of(slots.entry(&self.owner, slot)?);
        // SAFETY: as in `wakers`: a reader under the lock, the entry's task is alive.
        std::ptr::eq(goroutine_of(&entry), goroutine).then(|| unsafe { entry.to_waker() })
    }
}

/// Puts `value` in a free slot of `slots` (the pointed list) whose location (`shard` of
/// `shards`) fits, if any.
fn put<T>(
    slots: &mut Vec<Option<T>>,
    free: &mut Vec<u32>,
    value: T,
    (shard, shards, pointed): (usize, usize, bool),
) -> Result<u32, T> {
    if let Some(slot) = free.pop() {
        slots[slot as usize] = Some(value);
        return Ok(location(shard, shards, slot, pointed).expect("a freed slot's location fitted"));
    }
    let Some(at) = location(shard, shards, slots.len() as u32, pointed) else { return Err(value) };
    slots.push(Some(value));
    Ok(at)
}

/// What `dump()` reports about one goroutine.
#[derive(Debug, Clone)]
pub struct GoroutineRecord {
    /// The goroutine id.
    pub id: u64,
    /// Its state.
    pub state: GoroutineState,
    /// Why it waits (when waiting).
    pub wait_reason: WaitReason,
    /// Coarse runtime time (ms) when it entered its state (for `Waiting` and `Syscall`).
    pub since_ms: u32,
    /// Where it was spawned.
    pub spawned_at: &'static std::panic::Location<'static>,
    /// The P whose M is polling it (when `Running` on a worker thread or M0).
    pub processor: Option<usize>,
    /// How long its current poll has run, as sysmon saw it start (when `Running` for at least
    /// a sysmon round). A goroutine that blocks its thread inside a poll shows here.
    pub running_for: Option<std::time::Duration>,
    /// It is a [`spawn_blocking`](crate::spawn_blocking) call (shown in the `syscall` state
    /// while its closure runs on a blocking-pool thread).
    pub blocking_call: bool,
}

/// The set of live goroutines.
pub struct Registry {
    shards: Box<[ShardCell]>,
    /// The first shard that spawns from threads without a P go to. The shards below are the
    /// Ps' own (`for_processors`), filled only by their P's spawns, so a goroutine leaving on
    /// its shard's P finds the lock free, not taken by an outside spawner.
    foreign_from: usize,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("len", &self.len()).finish()
    }
}

impl Registry {
    /// A registry with at least `shards` shards (a power of two).
    pub fn new(shards: usize) -> Self {
        let shards = shards.max(1).next_power_of_two();
        let shard = || ShardCell { lock: CachePadded(ShardLock::new(Shard::default())), slots: EntrySlots::new() };
        Self { shards: (0..shards).map(|_| shard()).collect(), foreign_from: 0 }
    }

    /// The registry of a runtime with `processors` Ps: four shards a P (a power of two), the
    /// first `processors` the Ps' own, the rest for spawns from threads without a P.
    pub fn for_processors(processors: usize) -> Self {
        let mut registry = Self::new(processors.max(1) * 4);
        registry.foreign_from = processors.min(registry.shards.len() - 1);
        registry
    }

    /// Registers the goroutine of a task in the shard of P `processor` (if given). Returns
    /// false if the registry is closed (the runtime shut down); the caller must then cancel
    /// the goroutine. `data` is the task's raw pointer (its wakers' data pointer) and
    /// `task_type` names its task type (the same `TypeId` for every task of one type, and only
    /// for them); `waker` makes a real waker of it (called only when this thread meets the
    /// type for the first time, or when the entry cannot be packed). The packed entry holds no
    /// reference to the task (`compact.rs`): the goroutine must leave with
    /// [`remove`](Self::remove) before its future is gone, saying whether it took one for the
    /// entry when it parked ([`entry_needs_a_reference`](Self::entry_needs_a_reference)).
    pub fn insert_task(
        &self,
        goroutine: &Goroutine,
        data: *const (),
        task_type: std::any::TypeId,
        waker: impl Fn() -> Waker,
        processor: Option<usize>,
    ) -> bool {
        let offset = (goroutine as *const Goroutine as usize).wrapping_sub(data as usize);
        let learned = METADATA_OFFSET.load(std::sync::atomic::Ordering::Relaxed);
        let fits = learned == offset || (learned == usize::MAX && self.learn_offset(offset));
        // Packed outside the lock (it may intern the vtable). An entry that does not pack is
        // kept whole, with the pointer and a reference of its own.
        let entry = match fits.then(|| CompactWaker::for_task(data, task_type, &waker)).flatten() {
            Some(packed) => Entry::Compact(packed),
            None => Entry::Pointed(Pointed { waker: waker(), goroutine }),
        };
        self.insert(goroutine, entry, processor)
    }

    /// True if the goroutine registered at `location` must take a reference to its task for
    /// its entry when it parks: a packed entry holds none, and a parked goroutine nobody else
    /// can wake must stay alive (as in Go) until the shutdown sweep wakes it.
    pub fn entry_needs_a_reference(location: u32) -> bool {
        location & POINTED == 0
    }

    /// Takes `offset` as the tasks' metadata offset if none is known yet. Only a task's waker
    /// may teach it: `Shared::spawn` registers tasks through `insert_near`, the main goroutine
    /// through `insert_pointed`.
    #[cold]
    fn learn_offset(&self, offset: usize) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        match METADATA_OFFSET.compare_exchange(usize::MAX, offset, Relaxed, Relaxed) {
            Ok(_) => true,
            Err(learned) => learned == offset,
        }
    }

    /// Registers a goroutine whose waker is not its task's (the main goroutine of a
    /// `block_on`): kept with its pointer and the waker.
    pub fn insert_pointed(&self, goroutine: &Goroutine, waker: Waker, processor: Option<usize>) -> bool {
        self.insert(goroutine, Entry::Pointed(Pointed { waker, goroutine }), processor)
    }

    fn insert(&self, goroutine: &Goroutine, mut entry: Entry, processor: Option<usize>) -> bool {
        let count = self.shards.len();
        let first = processor.map_or_else(|| foreign_shard(self.foreign_from, count), |p| p & (count - 1));
        for step in 0..count {
            let shard_index = (first + step) & (count - 1);
            let cell = &self.shards[shard_index];
            let mut shard = lock(cell);
            if shard.closed {
                return false;
            }
            let shard = &mut *shard;
            let placed = match entry {
                Entry::Compact(packed) => {
                    let limit = POINTED >> count.trailing_zeros();
                    match cell.slots.claim(&mut shard.owner, limit) {
                        Some(slot) => {
                            debug_assert!(!cell.slots.holds_entry(&shard.owner, slot), "claimed a slot in use");
                            cell.slots.fill(&mut shard.owner, slot, packed.into_bits());
                            Ok(location(shard_index, count, slot, false).expect("a slot below the limit fits"))
                        }
                        None => Err(Entry::Compact(packed)),
                    }
                }
                Entry::Pointed(whole) => {
                    let at = (shard_index, count, true);
                    put(&mut shard.pointed, &mut shard.pointed_free, whole, at).map_err(Entry::Pointed)
                }
            };
            match placed {
                Ok(location) => {
                    goroutine.set_registry_slot(location);
                    return true;
                }
                // This shard has no slot number left: try the next.
                Err(back) => entry = back,
            }
        }
        panic!("gmp: too many live goroutines for the registry ({} shards)", count);
    }

    /// Unregisters `goroutine` from `location`; `counted`: it took a reference for a packed
    /// entry when it parked, which goes now. A no-op if it is no longer there. Called as its
    /// future is dropped, while its task is alive. `processor`: the P the calling M holds, if
    /// any (a leave on the shard's own P takes the shard lock, if free, instead of the RMWs
    /// of a lock-free leave).
    pub fn remove(&self, goroutine: &Goroutine, location: u32, counted: bool, processor: Option<usize>) {
        let (shard_index, slot, pointed) = decode(location, self.shards.len());
        let cell = &self.shards[shard_index];
        let ours = |bits| std::ptr::eq(goroutine_of(&entry_of(bits)), goroutine);
        if !pointed && processor.is_some_and(|p| p & (self.shards.len() - 1) == shard_index) {
            // On the P whose spawns fill this shard its lock is usually free and in this cache:
            // leaving under it frees the slot for the next spawn with one RMW (`slots.rs`).
            if let Some(mut shard) = cell.lock.0.try_lock() {
                let bits = cell.slots.clear_locked(&mut shard.owner, slot, ours);
                drop(shard);
                if let Some(bits) = bits {
                    // SAFETY: as below; the entry is out of the shard, and no reader can see it.
                    unsafe { entry_of(bits).release(counted) };
                }
                return;
            }
        }
        if pointed {
            let whole = {
                let mut shard = lock(cell);
                if shard.pointed_at(slot, goroutine).is_none() {
                    return;
                }
                shard.pointed_free.push(slot);
                shard.pointed[slot as usize].take()
            };
            drop(whole); // the reference goes outside the lock
            return;
        }
        // Without the lock (`slots.rs`): a reader counted meanwhile is waited out before the
        // future, and so the task, may go.
        let Some((bits, reader_seen)) = cell.slots.clear(slot, ours) else { return };
        if reader_seen {
            drop(lock(cell));
        }
        // SAFETY: the caller is the goroutine's future being dropped, inside its live task;
        // `counted` is its own record of the reference it took.
        unsafe { entry_of(bits).release(counted) };
    }

    /// Wakes `goroutine`, registered at `location`, if it still is (abort uses this: the
    /// registry holds a waker of every live goroutine).
    pub fn wake(&self, goroutine: &Goroutine, location: u32) {
        let (shard_index, slot, pointed) = decode(location, self.shards.len());
        let found = read(&self.shards[shard_index], |shard, slots| shard.waker_at(slots, slot, pointed, goroutine));
        let Some(waker) = found else { return };
        // Outside the lock: the wake may queue the goroutine, or drop it at shutdown.
        waker.wake();
    }

    /// Live goroutines.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|cell| {
                let left = cell.slots.left(); // before the lock (`EntrySlots::live`)
                let shard = lock(cell);
                cell.slots.live(&shard.owner, left) + shard.pointed.len() - shard.pointed_free.len()
            })
            .sum()
    }

    /// Closes every shard against new goroutines (later inserts return false).
    pub fn close(&self) {
        for shard in self.shards.iter() {
            lock(shard).closed = true;
        }
    }

    /// Clones of the wakers of every registered goroutine; waking them makes their futures
    /// reach the shutdown sweep. The entries stay until each future is dropped, so a sweep
    /// that races with a still-running M cannot lose a goroutine (a later sweep finds it).
    pub fn wakers(&self) -> Vec<Waker> {
        let mut wakers = Vec::new();
        for cell in self.shards.iter() {
            read(cell, |shard, slots| wakers.extend(shard.wakers(slots)));
        }
        wakers
    }

    /// A snapshot of every live goroutine (without the per-P facts `poll_watch` adds).
    pub fn records(&self) -> Vec<GoroutineRecord> {
        let mut records = Vec::new();
        for cell in self.shards.iter() {
            read(cell, |shard, slots| records.extend(shard.goroutines(slots).map(record)));
        }
        records.sort_by_key(|r| r.id);
        records
    }

    /// The record of goroutine `id`, if it is live (a scan: for rare callers, such as the
    /// long-poll warning).
    pub fn find(&self, id: u64) -> Option<GoroutineRecord> {
        self.shards.iter().find_map(|cell| {
            read(cell, |shard, slots| {
                // SAFETY: a reader under the lock: a registered goroutine's task (and
                // metadata) is alive.
                shard.goroutines(slots).find(|&g| unsafe { &*g }.id() == id).map(record)
            })
        })
    }
}

/// The record of a registered goroutine (read under its shard's lock, whose entry keeps it
/// alive).
fn record(g: *const Goroutine) -> GoroutineRecord {
    // SAFETY: read by a counted reader under the shard's lock (`read`), while the entry
    // exists: its task, and so the
    // metadata, is alive (module docs).
    let g = unsafe { &*g };
    let state = g.state();
    GoroutineRecord {
        id: g.id(),
        state,
        // A poll records its reason before it parks: only a parked goroutine's reason is
        // shown, so a record never says `Running` and `Blocking` at once.
        wait_reason: if state == GoroutineState::Waiting { g.wait_reason() } else { WaitReason::Unknown },
        since_ms: g.since(),
        spawned_at: g.spawned_at(),
        processor: None,
        running_for: None,
        blocking_call: g.is_blocking_call(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A location names its shard, slot and list, and a slot past what 30 bits can name with
    /// the shard is refused (the insert then tries the next shard).
    #[test]
    fn a_location_round_trips_and_refuses_slots_past_the_limit() {
        for shards in [1usize, 2, 8, 64, 1024] {
            for (shard, slot, pointed) in [(0, 0, false), (shards - 1, 12_345, true), (shards / 2, 7, false)] {
                let at = location(shard, shards, slot, pointed).expect("fits");
                assert!(at < REGISTRY_SLOT_LIMIT);
                assert_eq!(decode(at, shards), (shard, slot, pointed));
            }
            let last = (POINTED >> shards.trailing_zeros()) - 1;
            assert_eq!(decode(location(shards - 1, shards, last, true).unwrap(), shards), (shards - 1, last, true));
            assert_eq!(location(0, shards, last + 1, false), None);
        }
        assert_eq!(Registry::new(12).shards.len(), 16, "a power of two");
    }
}
