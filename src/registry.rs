//! The registry of live goroutines (Go's `allgs`).
//!
//! # Design
//!
//! Every goroutine is registered from spawn until its future is dropped (on completion or
//! cancellation). An entry holds a waker of the goroutine and a pointer to its metadata; the
//! waker keeps the task allocation (and so the metadata) alive while the entry exists.
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

/// The top bit of `Entry::id`: the goroutine is a `spawn_blocking` call (ids count up from 1
/// and never reach it). Kept in the registry entry, not the goroutine's allocation.
const BLOCKING_CALL: u64 = 1 << 63;

/// One registered goroutine.
struct Entry {
    /// The goroutine id, with `BLOCKING_CALL` set for a blocking call.
    id: u64,
    waker: Waker,
    goroutine: *const Goroutine,
}

// SAFETY: the metadata pointer targets `Sync` data kept alive by the entry's waker.
unsafe impl Send for Entry {}

#[derive(Default)]
struct Shard {
    slots: Vec<Option<Entry>>,
    free: Vec<u32>,
    len: usize,
    closed: bool,
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
    pub fn insert_near(&self, goroutine: &Goroutine, waker: Waker, processor: Option<usize>) -> bool {
        self.insert_entry(Entry { id: goroutine.id(), waker, goroutine }, processor)
    }

    /// Registers the goroutine of a `spawn_blocking` call.
    pub fn insert_blocking_call(&self, goroutine: &Goroutine, waker: Waker) -> bool {
        self.insert_entry(Entry { id: goroutine.id() | BLOCKING_CALL, waker, goroutine }, None)
    }

    fn insert_entry(&self, entry: Entry, processor: Option<usize>) -> bool {
        // SAFETY: the caller's `&Goroutine` is alive for this call.
        let goroutine = unsafe { &*entry.goroutine };
        let count = self.shards.len();
        let shard_index = processor.map_or_else(|| foreign_shard(count), |p| p % count);
        let mut shard = lock(&self.shards[shard_index]);
        if shard.closed {
            return false;
        }
        let slot = match shard.free.pop() {
            Some(slot) => {
                shard.slots[slot as usize] = Some(entry);
                slot
            }
            None => {
                shard.slots.push(Some(entry));
                (shard.slots.len() - 1) as u32
            }
        };
        shard.len += 1;
        goroutine.set_registry_slot(((shard_index as u64) << 32) | slot as u64);
        true
    }

    /// Unregisters goroutine `id` from `slot`. A no-op if it is no longer there.
    pub fn remove(&self, id: u64, location: u64) {
        let (shard_index, slot) = ((location >> 32) as usize, location as u32);
        let Some(shard) = self.shards.get(shard_index) else { return };
        let removed = {
            let mut shard = lock(shard);
            match shard.slots.get_mut(slot as usize) {
                Some(entry @ Some(_)) if entry.as_ref().is_some_and(|e| e.id & !BLOCKING_CALL == id) => {
                    let removed = entry.take();
                    shard.free.push(slot);
                    shard.len -= 1;
                    removed
                }
                _ => None,
            }
        };
        // Drop the waker outside the lock.
        drop(removed);
    }

    /// Wakes goroutine `id` registered at `location`, if it still is (abort uses this: the
    /// registry holds a waker of every live goroutine).
    pub fn wake(&self, id: u64, location: u64) {
        let (shard_index, slot) = ((location >> 32) as usize, location as u32);
        let Some(shard) = self.shards.get(shard_index) else { return };
        let waker = match lock(shard).slots.get(slot as usize) {
            Some(Some(entry)) if entry.id & !BLOCKING_CALL == id => entry.waker.clone(),
            _ => return,
        };
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
            wakers.extend(lock(shard).slots.iter().flatten().map(|entry| entry.waker.clone()));
        }
        wakers
    }

    /// A snapshot of every live goroutine (without the per-P facts `poll_watch` adds).
    pub fn records(&self) -> Vec<GoroutineRecord> {
        let mut records = Vec::new();
        for shard in self.shards.iter() {
            let shard = lock(shard);
            records.extend(shard.slots.iter().flatten().map(Entry::record));
        }
        records.sort_by_key(|r| r.id);
        records
    }

    /// The record of goroutine `id`, if it is live (a scan: for rare callers, such as the
    /// long-poll warning).
    pub fn find(&self, id: u64) -> Option<GoroutineRecord> {
        self.shards.iter().find_map(|shard| {
            lock(shard).slots.iter().flatten().find(|entry| entry.id & !BLOCKING_CALL == id).map(Entry::record)
        })
    }
}

impl Entry {
    fn record(&self) -> GoroutineRecord {
        // SAFETY: the entry's waker keeps the task, and so the metadata, alive.
        let g = unsafe { &*self.goroutine };
        GoroutineRecord {
            id: g.id(),
            state: g.state(),
            wait_reason: g.wait_reason(),
            since_ms: g.since(),
            spawned_at: g.spawned_at(),
            processor: None,
            running_for: None,
            blocking_call: self.id & BLOCKING_CALL != 0,
        }
    }
}
