//! The registry's slots (`registry/slots.rs`) under loom: goroutines leave without the shard
//! lock, and readers (dump, the shutdown sweep, abort's wake) announce themselves before they
//! take it.
//!
//! - `a_reader_never_uses_an_entry_whose_task_is_freed`: a goroutine leaves (and then "frees
//!   its task": writes the cell the entry stands for) while a reader looks at the entries and
//!   reads the task of each it sees. loom reports a race if the reader's read can overlap the
//!   free. (Skipping the clearer's wait for the lock when a reader is counted makes loom report
//!   it, and so does a relaxed push: the bugs injected once to show the model has teeth.)
//! - `freed_slots_come_back_once_and_none_is_lost`: two goroutines leave while the lock
//!   holder claims slots: a claimed slot never holds a live entry, no slot is handed out twice,
//!   and both freed slots come back. (A relaxed take of the stack fails it.)
//! - `leaves_with_and_without_the_lock_free_each_slot_once`: one goroutine leaves under the
//!   lock (on the shard's own P, `clear_locked`) while another leaves without it, then the P
//!   claims: no slot is handed out twice, the one freed under the lock comes back first, and
//!   the live count ends right. (Leaving under the lock without taking the entry off
//!   `filled` fails the count.)
//! - `a_reader_never_uses_an_entry_freed_under_the_lock`: the same leave while a reader
//!   reads: the reader never reads a freed task.
//! - `a_claim_keeps_the_readers_counted`: a claim while a reader reads and a goroutine
//!   leaves. (Taking the stack with a swap that also zeroes the reader count fails it.)
#![cfg(loom)]

use gmp::loom_exports::{EntrySlots, ShardLock, SlotsOwner};
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;

/// A shard as the registry has it: the lock (with the holder's part) and the slots.
struct Shard {
    lock: ShardLock<SlotsOwner>,
    slots: EntrySlots,
}

/// The entry of task `task` (entries are even and not 0).
fn entry(task: usize) -> u64 {
    (task as u64 + 1) << 4
}

fn task_of(entry: u64) -> usize {
    (entry >> 4) as usize - 1
}

/// A shard with `tasks` entries, in slots 0.. in order.
fn shard_with(tasks: usize) -> Shard {
    let shard = Shard { lock: ShardLock::new(SlotsOwner::default()), slots: EntrySlots::new() };
    {
        let mut owner = shard.lock.lock();
        for task in 0..tasks {
            let slot = shard.slots.claim(&mut owner, 16).unwrap();
            assert_eq!(slot as usize, task);
            shard.slots.fill(&mut owner, slot, entry(task));
        }
    }
    shard
}

/// The goroutine of `slot` leaves as the registry's `remove` does.
fn leave(shard: &Shard, slot: u32) -> bool {
    let Some((_, reader_seen)) = shard.slots.clear(slot, |value| value == entry(slot as usize)) else {
        return false;
    };
    if reader_seen {
        drop(shard.lock.lock());
    }
    true
}

/// A reader as the registry's `read`: counted, then the lock; reads the task of each entry.
fn read_tasks(shard: &Shard, task: &UnsafeCell<u32>) {
    let reading = shard.slots.begin_read();
    let owner = shard.lock.lock();
    // Task 0's entry, if still there (a spawner may have filled a freed slot with another).
    for _entry in reading.entries(&owner).filter(|&value| task_of(value) == 0) {
        // SAFETY: the model's claim under test: the task is not freed meanwhile.
        let seen = task.with(|value| unsafe { *value });
        assert_eq!(seen, 7, "a reader saw an entry whose task was freed");
    }
    drop(owner);
    drop(reading);
}

/// A goroutine leaving slot 0 and then freeing its task (`task`).
fn leave_and_free(shard: Arc<Shard>, task: Arc<UnsafeCell<u32>>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        assert!(leave(&shard, 0));
        task.with_mut(|value| unsafe { *value = 0 });
    })
}

#[test]
fn a_reader_never_uses_an_entry_whose_task_is_freed() {
    loom::model(|| {
        let shard = Arc::new(shard_with(1));
        let task = Arc::new(UnsafeCell::new(7u32));
        // The future is dropped and the task freed after `leave`: nobody may read it then.
        let leaver = leave_and_free(shard.clone(), task.clone());
        read_tasks(&shard, &task);
        leaver.join().unwrap();
        let owner = shard.lock.lock();
        assert_eq!(shard.slots.begin_read().entries(&owner).count(), 0, "the entry left");
        assert_eq!(shard.slots.live(&owner, shard.slots.left()), 0);
    });
}

#[test]
fn freed_slots_come_back_once_and_none_is_lost() {
    loom::model(|| {
        let shard = Arc::new(shard_with(3));
        let leavers: Vec<_> = [0u32, 1]
            .into_iter()
            .map(|slot| {
                let shard = shard.clone();
                thread::spawn(move || assert!(leave(&shard, slot)))
            })
            .collect();
        // The lock holder claims (and fills) a slot while the others leave.
        let first = {
            let mut owner = shard.lock.lock();
            let slot = shard.slots.claim(&mut owner, 16).unwrap();
            assert!(!shard.slots.holds_entry(&owner, slot), "claimed a slot that holds an entry");
            shard.slots.fill(&mut owner, slot, entry(10 + slot as usize));
            slot
        };
        for leaver in leavers {
            leaver.join().unwrap();
        }
        let mut owner = shard.lock.lock();
        let mut claimed = vec![first];
        while claimed.len() < 4 {
            let slot = shard.slots.claim(&mut owner, 16).unwrap();
            assert!(!shard.slots.holds_entry(&owner, slot), "claimed a slot that holds an entry");
            assert!(!claimed.contains(&slot), "slot {slot} handed out twice: {claimed:?}");
            claimed.push(slot);
        }
        claimed.sort();
        // Slots 0 and 1 came back; 3 and 4 are new only if 0 or 1 was not yet free at the first claim.
        assert!(claimed.contains(&0) && claimed.contains(&1), "a freed slot was lost: {claimed:?}");
        assert_eq!(shard.slots.live(&owner, shard.slots.left()), 1 + 1, "slot 2 and the first claim");
    });
}

/// A spawner claiming a slot (which takes the free stack with an RMW on the word that counts
/// readers) while a reader reads, then the same thread's goroutine leaving: the reader stays
/// counted through the claim, so the leaver still waits for it. (Taking the stack with a swap
/// that zeroes the whole word, reader count included, fails this model. Two threads: three
/// contending for the spin lock make loom's search endless, see shard_lock.rs.)
#[test]
fn a_claim_keeps_the_readers_counted() {
    loom::model(|| {
        let shard = Arc::new(shard_with(1));
        let task = Arc::new(UnsafeCell::new(7u32));
        let reader = {
            let (shard, task) = (shard.clone(), task.clone());
            thread::spawn(move || read_tasks(&shard, &task))
        };
        {
            let mut owner = shard.lock.lock();
            let slot = shard.slots.claim(&mut owner, 16).unwrap();
            shard.slots.fill(&mut owner, slot, entry(20 + slot as usize));
        }
        assert!(leave(&shard, 0));
        task.with_mut(|value| unsafe { *value = 0 });
        reader.join().unwrap();
    });
}

/// The goroutine of `slot` leaves under the lock, as the registry's `remove` does on the
/// shard's own P (`clear_locked`); false if the lock was taken by someone else.
fn leave_locked(shard: &Shard, slot: u32) -> Option<bool> {
    let mut owner = shard.lock.try_lock()?;
    Some(shard.slots.clear_locked(&mut owner, slot, |value| value == entry(slot as usize)).is_some())
}

#[test]
fn leaves_with_and_without_the_lock_free_each_slot_once() {
    loom::model(|| {
        let shard = Arc::new(shard_with(2));
        // Slot 0's goroutine leaves without the lock while slot 1's leaves under it (on the
        // shard's own P) and that P then spawns: claims a slot.
        let leaver = {
            let shard = shard.clone();
            thread::spawn(move || assert!(leave(&shard, 0)))
        };
        assert_eq!(leave_locked(&shard, 1), Some(true), "nobody else takes the lock here");
        let first = {
            let mut owner = shard.lock.lock();
            let slot = shard.slots.claim(&mut owner, 16).unwrap();
            assert!(!shard.slots.holds_entry(&owner, slot), "claimed a slot that holds an entry");
            shard.slots.fill(&mut owner, slot, entry(10 + slot as usize));
            slot
        };
        leaver.join().unwrap();
        let mut owner = shard.lock.lock();
        assert_eq!(shard.slots.live(&owner, shard.slots.left()), 1, "only the new entry is live");
        let second = shard.slots.claim(&mut owner, 16).unwrap();
        assert_ne!(first, second, "slot {first} handed out twice");
        // Slot 1 (on the chain) comes back first; slot 0 once its push is taken, else a new one.
        assert_eq!(first, 1, "the slot freed under the lock is reused first");
        assert!(second == 0 || second == 2, "claimed {second}");
    });
}

#[test]
fn a_reader_never_uses_an_entry_freed_under_the_lock() {
    loom::model(|| {
        let shard = Arc::new(shard_with(1));
        let task = Arc::new(UnsafeCell::new(7u32));
        let reader = {
            let (shard, task) = (shard.clone(), task.clone());
            thread::spawn(move || read_tasks(&shard, &task))
        };
        // Slot 0's goroutine leaves on the shard's own P, under the lock if the reader does
        // not hold it, then frees its task.
        if leave_locked(&shard, 0) != Some(true) {
            assert!(leave(&shard, 0));
        }
        task.with_mut(|value| unsafe { *value = 0 });
        reader.join().unwrap();
        let owner = shard.lock.lock();
        assert_eq!(shard.slots.live(&owner, shard.slots.left()), 0, "the entry left");
    });
}
