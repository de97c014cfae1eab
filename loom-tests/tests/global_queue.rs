//! The global queue's batch take (`global_queue.rs`, Go's `globrunqget`) under loom: a P with
//! an empty ring takes a batch (at most 2 under loom) into its ring while other threads keep
//! pushing. Every item comes out exactly once, and each producer's items come out in the
//! order it pushed them.
#![cfg(loom)]

use gmp::loom_exports::{GlobalQueue, LocalQueue, Overflow, GLOBAL_BATCH_LIMIT};
use loom::sync::Arc;
use loom::thread;
use loom_tests::{assert_exactly_once, assert_increasing, pop_all, Item};

/// Starts a producer pushing `ids` one by one.
fn spawn_producer(global: &Arc<GlobalQueue<Item>>, ids: std::ops::Range<u32>) -> thread::JoinHandle<()> {
    let global = global.clone();
    thread::spawn(move || {
        for id in ids {
            Overflow::push(&*global, Item(id));
        }
    })
}

/// One batch take: the item to run now, then what went to the ring, oldest first.
fn take_batch(global: &GlobalQueue<Item>, local: &LocalQueue<Item>, maxprocs: usize) -> Vec<u32> {
    let taken = global.pop_batch_into(local, maxprocs);
    let Some(first) = taken.first else {
        assert_eq!(taken.count, 0, "an empty take counts nothing");
        assert!(local.is_empty(), "an empty take must leave the ring alone");
        return Vec::new();
    };
    let mut batch = vec![first.0];
    batch.extend(pop_all(local));
    assert_eq!(taken.count, batch.len(), "the count is what left the queue: {batch:?}");
    assert!(batch.len() <= GLOBAL_BATCH_LIMIT, "a batch is at most {GLOBAL_BATCH_LIMIT}: {batch:?}");
    batch
}

#[test]
fn batches_are_two_under_loom() {
    assert_eq!(GLOBAL_BATCH_LIMIT, 2);
}

/// The consumer takes two batches while the producer pushes: a batch may see the queue
/// empty, hold one item, or be cut short by the limit, and whatever it leaves stays queued.
#[test]
fn a_batch_take_against_concurrent_pushes_delivers_each_item_once_in_push_order() {
    loom_tests::model(|| {
        let global = Arc::new(GlobalQueue::new());
        // Spawn before touching the queue: filling it first from the main thread makes loom
        // 0.7 explore a single interleaving (loom#392).
        let producer = spawn_producer(&global, 0..3);

        let local = LocalQueue::new();
        let mut taken = take_batch(&global, &local, 1);
        taken.extend(take_batch(&global, &local, 1));

        producer.join().unwrap();
        taken.extend(std::iter::from_fn(|| global.pop()).map(|item| item.0));
        assert_increasing(&taken, "one producer's items");
        assert_exactly_once(taken, 0..3);
    });
}

#[test]
fn a_batch_take_against_two_producers_keeps_each_producers_order() {
    loom_tests::model(|| {
        let global = Arc::new(GlobalQueue::new());
        let first = spawn_producer(&global, 0..2);
        let second = spawn_producer(&global, 10..12);

        let local = LocalQueue::new();
        let mut taken = take_batch(&global, &local, 2);

        first.join().unwrap();
        second.join().unwrap();
        taken.extend(take_batch(&global, &local, 2));
        taken.extend(std::iter::from_fn(|| global.pop()).map(|item| item.0));
        let (low, high): (Vec<u32>, Vec<u32>) = taken.iter().partition(|&&id| id < 10);
        assert_increasing(&low, "the first producer's items");
        assert_increasing(&high, "the second producer's items");
        assert_exactly_once(taken, [0, 1, 10, 11]);
    });
}
