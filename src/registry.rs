//! The registry of live goroutines (Go's `allgs`).
//!
//! # Design
//!
//! Every goroutine is registered from spawn until its future is dropped (on completion or
//! cancellation). An entry is a waker of the goroutine, which keeps the task allocation (and so
//! the metadata) alive while the entry exists: 16 bytes a goroutine. Its metadata is found from
//! the waker's data pointer (the task header) at an offset that is the same for every task, learned
//! from the first one and checked against each goroutine's own pointer as it is registered; a
//! goroutine whose waker is not its task's (a `block_on`'s main goroutine) is kept with its
//! pointer in a second list. An entry is identified by its metadata pointer, which no other
//! live goroutine shares.
//!
//! The registry exists for three things: shutdown (wake every goroutine so its future is
//! dropped, however it is parked), `num_goroutine()`, and `dump()`.
//!
//! It is sharded to keep spawns on different Ps off each other's locks: a goroutine spawned on
//! P `i` lives in shard `i` (spawns from threads without a P go to one shard in runs of 64,
//! then the next), and since most goroutines finish
//! on the P that spawned them, a shard's lock mostly stays in one core's cache. The shard and
//! slot are stored in the goroutine's metadata.
//!
//! # Shutdown race
//!
//! `close` marks every shard closed under its lock. A spawn that inserts after that finds the
//! shard closed and cancels its goroutine itself, so no goroutine escapes the shutdown sweep.
//! The sweep wakes the goroutines through clones of their wakers and leaves the entries in
//! place: each leaves when its future is dropped, so a goroutine that is polled again after
//! a sweep (an M that had not stopped yet parks it once more) is still found by the next.

use std::task::Waker;

use crate::goroutine::{Goroutine, GoroutineState, WaitReason};
use crate::loom::{lock, Mutex};

/// Spawns from one thread without a P that go to the same shard before it moves on.
const FOREIGN_RUN: u32 = 64;

crate::loom::thread_local! {
    /// The shard this thread registers P-less spawns in, and how many it has put there.
    static FOREIGN_SHARD: std::cell::Cell<(u32, u32)> = const { std::cell::Cell::new((u32::MAX, 0)) };
}

/// The shard for a spawn from a thread without a P: a run of `FOREIGN_RUN` spawns goes to one
/// shard (its lock stays in this thread's cache), then the next shard, so the Ms removing
/// those goroutines as they finish mostly work on a shard the spawner has left.
fn foreign_shard(count: usize) -> usize {
    FOREIGN_SHARD.with(|state| {
        let (shard, used) = state.get();
        let (shard, used) = if shard as usize >= count || used >= FOREIGN_RUN {
            (((shard.wrapping_add(1)) as usize % count) as u32, 0)
        } else {
            (shard, used)
        };
        state.set((shard, used + 1));
        shard as usize
    })
}

/// The top bit of a slot number in a registry location: the goroutine is in the shard's
/// `pointed` list (its waker is not a task's, so its metadata cannot be found from it).
const POINTED: u32 = 1 << 31;

/// The offset from a task's waker data pointer (async-task's task header) to its metadata,
/// learned from the first task registered, or `usize::MAX` before that. The metadata lies at
/// one offset in every task header (async-task's `Header<M>` is generic only over the
/// metadata type), and every insert checks its own pointer against it, so a goroutine whose
/// waker does not fit (the main goroutine's, or a task laid out otherwise) is kept with its
/// pointer in the `pointed` list instead.
static METADATA_OFFSET: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(usize::MAX);

/// The offset of `goroutine` from `waker`'s data pointer.
fn offset_of(goroutine: *const Goroutine, waker: &Waker) -> usize {
    (goroutine as usize).wrapping_sub(waker.data() as usize)
}

/// The metadata of the task whose waker is `waker`, registered as a compact entry.
fn goroutine_of(waker: &Waker) -> *const Goroutine {
    let offset = METADATA_OFFSET.load(std::sync::atomic::Ordering::Relaxed);
    waker.data().cast::<u8>().wrapping_add(offset).cast()
}

/// A goroutine registered with its pointer (the main goroutine of a `block_on`).
struct Pointed {
    waker: Waker,
    goroutine: *const Goroutine,
}

// SAFETY: the metadata pointer targets `Sync` data kept alive by the entry's waker.
unsafe impl Send for Pointed {}

#[derive(Default)]
struct Shard {
    /// One waker per goroutine whose metadata lies at `METADATA_OFFSET` from its data pointer
    /// (16 bytes a goroutine: the waker keeps the task, and so the metadata, alive).
    slots: Vec<Option<Waker>>,
    free: Vec<u32>,
    /// The rest (rare: main goroutines), with their metadata pointers.
    pointed: Vec<Option<Pointed>>,
    pointed_free: Vec<u32>,
    len: usize,
    closed: bool,
}

impl Shard {
    /// Every registered goroutine, with its waker.
    fn entries(&self) -> impl Iterator<Item = (&Waker, *const Goroutine)> {
        let compact = self.slots.iter().flatten().map(|waker| (waker, goroutine_of(waker)));
        compact.chain(self.pointed.iter().flatten().map(|p| (&p.waker, p.goroutine)))
    }

    /// The waker at `slot` if it is `goroutine`'s.
    fn waker_at(&self, slot: u32, goroutine: *const Goroutine) -> Option<&Waker> {
        if slot & POINTED != 0 {
            match self.pointed.get((slot & !POINTED) as usize) {
                Some(Some(p)) if std::ptr::eq(p.goroutine, goroutine) => Some(&p.waker),
                _ => None,
            }
        } else {
            match self.slots.get(slot as usize) {
                Some(Some(waker)) if std::ptr::eq(goroutine_of(waker), goroutine) => Some(waker),
                _ => None,
            }
        }
    }
}

fn put<T>(slots: &mut Vec<Option<T>>, free: &mut Vec<u32>, value: T) -> u32 {
    match free.pop() {
        Some(slot) => {
            slots[slot as usize] = Some(value);
            slot
        }
        None => {
            slots.push(Some(value));
            (slots.len() - 1) as u32
        }
    }
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
    shards: Box<[Mutex<Shard>]>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("len", &self.len()).finish()
    }
}

impl Registry {
    /// A registry with `shards` shards.
    pub fn new(shards: usize) -> Self {
        Self { shards: (0..shards.max(1)).map(|_| Mutex::new(Shard::default())).collect() }
    }

    /// Registers a goroutine in the shard of P `processor` (if given). Returns false if the
    /// registry is closed (the runtime shut down); the caller must then cancel the goroutine.
    /// `waker` must keep `goroutine` alive; a task's own waker (`Runnable::waker`) is kept in
    /// 16 bytes, any other with the pointer too.
    pub fn insert_near(&self, goroutine: &Goroutine, waker: Waker, processor: Option<usize>) -> bool {
        let count = self.shards.len();
        let shard_index = processor.map_or_else(|| foreign_shard(count), |p| p % count);
        let goroutine: *const Goroutine = goroutine;
        let offset = offset_of(goroutine, &waker);
        let learned = METADATA_OFFSET.load(std::sync::atomic::Ordering::Relaxed);
        let compact = learned == offset || (learned == usize::MAX && self.learn_offset(offset));
        let mut shard = lock(&self.shards[shard_index]);
        if shard.closed {
            return false;
        }
        let shard = &mut *shard;
        let slot = if compact {
            put(&mut shard.slots, &mut shard.free, waker)
        } else {
            put(&mut shard.pointed, &mut shard.pointed_free, Pointed { waker, goroutine }) | POINTED
        };
        shard.len += 1;
        // SAFETY: the caller's `&Goroutine` is alive for this call.
        unsafe { &*goroutine }.set_registry_slot(((shard_index as u64) << 32) | slot as u64);
        true
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
    /// `block_on`): kept with its pointer.
    pub fn insert_pointed(&self, goroutine: &Goroutine, waker: Waker, processor: Option<usize>) -> bool {
        let count = self.shards.len();
        let shard_index = processor.map_or_else(|| foreign_shard(count), |p| p % count);
        let mut shard = lock(&self.shards[shard_index]);
        if shard.closed {
            return false;
        }
        let shard = &mut *shard;
        let entry = Pointed { waker, goroutine };
        let slot = put(&mut shard.pointed, &mut shard.pointed_free, entry) | POINTED;
        shard.len += 1;
        goroutine.set_registry_slot(((shard_index as u64) << 32) | slot as u64);
        true
    }

    /// Unregisters `goroutine` from `location`. A no-op if it is no longer there.
    pub fn remove(&self, goroutine: &Goroutine, location: u64) {
        let (shard_index, slot) = ((location >> 32) as usize, location as u32);
        let Some(shard) = self.shards.get(shard_index) else { return };
        let removed = {
            let mut shard = lock(shard);
            if shard.waker_at(slot, goroutine).is_none() {
                return;
            }
            let shard = &mut *shard;
            shard.len -= 1;
            if slot & POINTED != 0 {
                shard.pointed_free.push(slot & !POINTED);
                shard.pointed[(slot & !POINTED) as usize].take().map(|p| p.waker)
            } else {
                shard.free.push(slot);
                shard.slots[slot as usize].take()
            }
        };
        // Drop the waker outside the lock.
        drop(removed);
    }

    /// Wakes `goroutine`, registered at `location`, if it still is (abort uses this: the
    /// registry holds a waker of every live goroutine).
    pub fn wake(&self, goroutine: &Goroutine, location: u64) {
        let (shard_index, slot) = ((location >> 32) as usize, location as u32);
        let Some(shard) = self.shards.get(shard_index) else { return };
        let Some(waker) = lock(shard).waker_at(slot, goroutine).cloned() else { return };
        // Outside the lock: the wake may queue the goroutine, or drop it at shutdown.
        waker.wake();
    }

    /// Live goroutines.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len).sum()
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
        for shard in self.shards.iter() {
            wakers.extend(lock(shard).entries().map(|(waker, _)| waker.clone()));
        }
        wakers
    }

    /// A snapshot of every live goroutine (without the per-P facts `poll_watch` adds).
    pub fn records(&self) -> Vec<GoroutineRecord> {
        let mut records = Vec::new();
        for shard in self.shards.iter() {
            let shard = lock(shard);
            records.extend(shard.entries().map(|(_, g)| record(g)));
        }
        records.sort_by_key(|r| r.id);
        records
    }

    /// The record of goroutine `id`, if it is live (a scan: for rare callers, such as the
    /// long-poll warning).
    pub fn find(&self, id: u64) -> Option<GoroutineRecord> {
        self.shards.iter().find_map(|shard| {
            // SAFETY: a registered goroutine's waker keeps its metadata alive.
            lock(shard).entries().find(|&(_, g)| unsafe { &*g }.id() == id).map(|(_, g)| record(g))
        })
    }
}

/// The record of a registered goroutine (read under its shard's lock, whose entry keeps it
/// alive).
fn record(g: *const Goroutine) -> GoroutineRecord {
    // SAFETY: the entry's waker keeps the task, and so the metadata, alive.
    let g = unsafe { &*g };
    GoroutineRecord {
        id: g.id(),
        state: g.state(),
        wait_reason: g.wait_reason(),
        since_ms: g.since(),
        spawned_at: g.spawned_at(),
        processor: None,
        running_for: None,
        blocking_call: g.is_blocking_call(),
    }
}
