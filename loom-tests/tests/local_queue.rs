//! The local ring of a P (`runq.rs`) under loom: the owner pushes and pops while thieves steal
//! half of it, and a full ring overflows half of itself to the global queue. Every model
//! checks that each item comes out exactly once and that each queue hands items out oldest
//! first. Under loom the ring has 4 slots (so half is 2).
#![cfg(loom)]

use gmp::loom_exports::{GlobalQueue, LocalQueue, LOCAL_QUEUE_CAPACITY};
use loom::sync::Arc;
use loom::thread;
use loom_tests::{assert_contiguous_in, assert_exactly_once, assert_increasing, ids, pop_all, stolen_batch, Item};

/// Starts a thief that steals once from `victim` into a ring of its own and returns the
/// batch it got, oldest first.
fn spawn_thief(victim: &Arc<LocalQueue<Item>>) -> thread::JoinHandle<Vec<u32>> {
    let victim = victim.clone();
    thread::spawn(move || {
        let own = LocalQueue::new();
        let stolen = victim.steal_half_counted(&own);
        let count = stolen.as_ref().map_or(0, |(_, count)| *count);
        let batch = stolen_batch(&own, stolen.map(|(item, _)| item));
        assert_eq!(batch.len(), count, "the steal's count is what it took: {batch:?}");
        batch
    })
}

/// Everything the global queue holds, oldest first.
fn global_contents(global: &GlobalQueue<Item>) -> Vec<u32> {
    ids(std::iter::from_fn(|| global.pop()))
}

/// The FIFO checks shared by the ring models, given every id `pushed` (in push order) and
/// those that went to the global queue: each consumer saw the victim's items oldest first,
/// each steal took one contiguous run of the ring, and whatever is left in the ring is newer
/// than everything taken from it (all consumers take from the head).
#[track_caller]
fn assert_fifo(pushed: std::ops::Range<u32>, overflowed: &[u32], popped: &[u32], stolen: &[&[u32]], left: &[u32]) {
    let ring_order: Vec<u32> = pushed.filter(|id| !overflowed.contains(id)).collect();
    assert_increasing(popped, "the owner's pops");
    for batch in stolen {
        assert_contiguous_in(batch, &ring_order, "a stolen batch");
    }
    assert_increasing(left, "the items left in the ring");
    if let Some(oldest_left) = left.first() {
        let taken = popped.iter().chain(stolen.iter().flat_map(|batch| batch.iter()));
        for id in taken {
            assert!(id < oldest_left, "item {id} was taken before older item {oldest_left}");
        }
    }
}

#[test]
fn the_ring_is_four_slots_under_loom() {
    assert_eq!(LOCAL_QUEUE_CAPACITY, 4);
}

#[test]
fn owner_push_and_pop_against_one_thief_loses_and_duplicates_nothing() {
    loom_tests::model(|| {
        let victim = Arc::new(LocalQueue::new());
        let global = GlobalQueue::new();
        let thief = spawn_thief(&victim);

        let mut popped = Vec::new();
        victim.push_back(Item(0), &global);
        victim.push_back(Item(1), &global);
        popped.extend(victim.pop().map(|item| item.0));
        victim.push_back(Item(2), &global);
        victim.push_back(Item(3), &global);
        popped.extend(victim.pop().map(|item| item.0));

        let stolen = thief.join().unwrap();
        let left = pop_all(&victim);
        let overflowed = global_contents(&global);
        assert!(overflowed.is_empty(), "four pushes never overflow a four-slot ring: {overflowed:?}");
        assert_fifo(0..4, &[], &popped, &[&stolen], &left);
        assert_exactly_once([popped, stolen, left].concat(), 0..4);
    });
}

#[test]
fn owner_push_and_pop_against_two_thieves_loses_and_duplicates_nothing() {
    loom_tests::model(|| {
        let victim = Arc::new(LocalQueue::new());
        let global = GlobalQueue::new();
        victim.push_back(Item(0), &global);
        victim.push_back(Item(1), &global);
        let first_thief = spawn_thief(&victim);
        let second_thief = spawn_thief(&victim);

        let mut popped = Vec::new();
        victim.push_back(Item(2), &global);
        popped.extend(victim.pop().map(|item| item.0));
        victim.push_back(Item(3), &global);

        let first = first_thief.join().unwrap();
        let second = second_thief.join().unwrap();
        let left = pop_all(&victim);
        assert!(global_contents(&global).is_empty());
        assert_fifo(0..4, &[], &popped, &[&first, &second], &left);
        assert_exactly_once([popped, first, second, left].concat(), 0..4);
    });
}

/// Two thieves against an owner that keeps pushing until its ring wraps around: the slots a
/// thief is still copying out must not be reused before that thief hands them back, and a
/// second thief must not claim while the first is copying (its release would hand back the
/// second thief's slots too early).
#[test]
fn two_thieves_against_an_owner_wrapping_the_ring() {
    loom_tests::model(|| {
        let victim = Arc::new(LocalQueue::new());
        let global = GlobalQueue::new();
        for id in 0..3 {
            victim.push_back(Item(id), &global);
        }
        let first_thief = spawn_thief(&victim);
        let second_thief = spawn_thief(&victim);

        for id in 3..7 {
            victim.push_back(Item(id), &global);
        }

        let first = first_thief.join().unwrap();
        let second = second_thief.join().unwrap();
        let left = pop_all(&victim);
        let overflowed = global_contents(&global);
        assert_increasing(&overflowed, "the overflow");
        assert_fifo(0..7, &overflowed, &[], &[&first, &second], &left);
        assert_exactly_once([first, second, left, overflowed].concat(), 0..7);
    });
}

/// The thief copies its claimed half out while the owner keeps pushing into the slots after
/// it and popping from the head: the owner must not overwrite a slot the thief still reads
/// (its room is measured from `steal`, not `real`), and a push that finds the ring full while
/// a steal is in flight goes to the global queue alone.
#[test]
fn steal_half_while_the_owner_pushes_and_pops() {
    loom_tests::model(|| {
        let victim = Arc::new(LocalQueue::new());
        let global = GlobalQueue::new();
        for id in 0..3 {
            victim.push_back(Item(id), &global);
        }
        let thief = spawn_thief(&victim);

        let mut popped = Vec::new();
        victim.push_back(Item(3), &global);
        popped.extend(victim.pop().map(|item| item.0));
        victim.push_back(Item(4), &global);
        popped.extend(victim.pop().map(|item| item.0));

        let stolen = thief.join().unwrap();
        let left = pop_all(&victim);
        let overflowed = global_contents(&global);
        assert!(overflowed.iter().all(|&id| id == 4), "only the last push can overflow: {overflowed:?}");
        assert_fifo(0..5, &overflowed, &popped, &[&stolen], &left);
        assert_exactly_once([popped, stolen, left, overflowed].concat(), 0..5);
    });
}

/// A full ring moves its older half plus the new item to the global queue with one CAS on
/// `head`, racing a thief that wants the same half.
#[test]
fn overflow_of_half_the_ring_to_the_global_queue_while_a_thief_steals() {
    loom_tests::model(|| {
        let victim = Arc::new(LocalQueue::new());
        let global = GlobalQueue::new();
        for id in 0..4 {
            victim.push_back(Item(id), &global);
        }
        let thief = spawn_thief(&victim);

        victim.push_back(Item(4), &global);
        victim.push_back(Item(5), &global);
        let popped: Vec<u32> = victim.pop().map(|item| item.0).into_iter().collect();

        let stolen = thief.join().unwrap();
        let left = pop_all(&victim);
        let overflowed = global_contents(&global);
        // One producer: the global queue holds the victim's items in the order it sent them.
        // An overflow batch is a run of the oldest items followed by the new one.
        assert_increasing(&overflowed, "the overflow");
        assert_fifo(0..6, &overflowed, &popped, &[&stolen], &left);
        assert_exactly_once([popped, stolen, left, overflowed].concat(), 0..6);
    });
}

/// A yield into a full ring (`push_back_or_overflow_one`) while a thief steals: the yielder
/// goes alone to the global queue when the ring is full, or into the ring once the thief has
/// freed slots; the ring keeps its own items either way, and nothing is lost or duplicated.
#[test]
fn a_yield_into_a_full_ring_overflows_only_itself_while_a_thief_steals() {
    loom_tests::model(|| {
        let victim = Arc::new(LocalQueue::new());
        let global = GlobalQueue::new();
        // The thief starts first, so that it can steal at any point of the filling (with the
        // ring filled before it starts, loom 0.7 explores only a handful of interleavings).
        let thief = spawn_thief(&victim);
        for id in 0..4 {
            victim.push_back(Item(id), &global);
        }

        let position = victim.push_back_or_overflow_one(Item(4), &global);
        let popped: Vec<u32> = victim.pop().map(|item| item.0).into_iter().collect();

        let stolen = thief.join().unwrap();
        let left = pop_all(&victim);
        let overflowed = global_contents(&global);
        assert!(overflowed.len() <= 1, "only the yielder may leave the ring: {overflowed:?}");
        assert_eq!(position.is_none(), overflowed == [4], "the position says where the yielder went");
        assert_fifo(0..5, &overflowed, &popped, &[&stolen], &left);
        assert_exactly_once([popped, stolen, left, overflowed].concat(), 0..5);
    });
}

/// A thief steals from a victim into its own ring while a second thief steals from that ring
/// (tokio's `chained_steal`): the first thief's `tail` publication must make the slots it
/// copied visible to the second.
#[test]
fn a_thief_can_be_robbed_while_it_steals() {
    loom_tests::model(|| {
        let victim = Arc::new(LocalQueue::new());
        let middle = Arc::new(LocalQueue::new());
        let global = GlobalQueue::new();
        for id in 0..4 {
            victim.push_back(Item(id), &global);
        }

        let first_thief = {
            let victim = victim.clone();
            let middle = middle.clone();
            thread::spawn(move || {
                // `middle` is this thread's own ring: it steals into it, then runs from it.
                let handed = victim.steal_half_counted(&middle).map(|(item, _)| item);
                let mut ran: Vec<u32> = handed.map(|item| item.0).into_iter().collect();
                ran.extend(middle.pop().map(|item| item.0));
                ran
            })
        };
        let second_thief = spawn_thief(&middle);

        let popped: Vec<u32> = victim.pop().map(|item| item.0).into_iter().collect();
        let ran = first_thief.join().unwrap();
        let second = second_thief.join().unwrap();
        let left_middle = pop_all(&middle);
        let left = pop_all(&victim);
        assert_contiguous_in(&second, &(0..4).collect::<Vec<_>>(), "the second thief's batch");
        assert_increasing(&left, "the victim's ring");
        assert_exactly_once([popped, ran, second, left_middle, left].concat(), 0..4);
        assert!(global.is_empty());
    });
}

/// The single-threaded shape of an overflow, pinned on the loom build (4 slots): the two
/// oldest items and the new one go to the global queue, in that order.
#[test]
fn a_full_ring_overflows_its_older_half_then_the_new_item() {
    loom::model(|| {
        let queue = LocalQueue::new();
        let global = GlobalQueue::new();
        for id in 0..5 {
            queue.push_back(Item(id), &global);
        }
        assert_eq!(global_contents(&global), vec![0, 1, 4]);
        assert_eq!(pop_all(&queue), vec![2, 3]);
    });
}
