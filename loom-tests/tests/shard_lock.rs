//! The registry shard's lock (`registry/shard_lock.rs`) under loom: a test-and-set lock whose
//! release is a plain `Release` store. Two threads update a shard's value under it, each
//! reading what is there first: no two guards ever overlap (loom's cell tracking reports a
//! concurrent access), and each holder sees the update of the one before it. (Two threads:
//! with three, two waiters yielding to each other in turn make loom's search endless, a
//! limit of loom's `yield_now`, not of the lock.)
#![cfg(loom)]

use gmp::loom_exports::ShardLock;
use loom::sync::Arc;
use loom::thread;

/// Appends `id` under the lock, after checking that what came before is whole.
fn append(lock: &ShardLock<Vec<u32>>, id: u32) {
    let mut shard = lock.lock();
    assert!(shard.len() <= 1 && shard.iter().all(|&other| other != id), "{shard:?}");
    shard.push(id);
}

#[test]
fn holders_take_turns_and_each_sees_the_update_before_it() {
    loom::model(|| {
        let lock = Arc::new(ShardLock::new(Vec::<u32>::new()));
        let other = {
            let lock = lock.clone();
            thread::spawn(move || append(&lock, 1))
        };
        append(&lock, 0);
        other.join().unwrap();
        let mut all = lock.lock().clone();
        all.sort();
        assert_eq!(all, [0, 1], "an update was lost");
    });
}
