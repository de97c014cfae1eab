//! The `runnext` slot of a P (`runq.rs`) under loom: the owner swaps new items into it and
//! takes from it while a thief takes it on its last steal round. Each side takes with one
//! atomic swap, so exactly one of them gets a given item.
#![cfg(loom)]

use gmp::loom_exports::{GlobalQueue, LocalQueue};
use loom::sync::Arc;
use loom::thread;
use loom_tests::{assert_exactly_once, drain, Item};

/// Starts a thief that takes the victim's runnext once and returns what it got.
fn spawn_runnext_thief(victim: &Arc<LocalQueue<Item>>) -> thread::JoinHandle<Vec<u32>> {
    let victim = victim.clone();
    thread::spawn(move || victim.take_runnext().map(|item| item.0).into_iter().collect())
}

/// The owner makes a new item the next to run (moving the displaced one to its ring, as
/// `ready_local` does) and then runs runnext, while a thief takes runnext.
#[test]
fn owner_swap_against_a_thief_taking_runnext_hands_each_item_out_once() {
    loom_tests::model(|| {
        let queue = Arc::new(LocalQueue::new());
        let global = GlobalQueue::new();
        assert!(queue.swap_runnext(Item(0)).is_none());
        let thief = spawn_runnext_thief(&queue);

        if let Some(displaced) = queue.swap_runnext(Item(1)) {
            assert_eq!(displaced, Item(0), "only item 0 can be displaced");
            queue.push_back(displaced, &global);
        }
        let ran: Vec<u32> = queue.take_runnext().map(|item| item.0).into_iter().collect();

        let stolen = thief.join().unwrap();
        let left = drain(&queue);
        assert!(global.is_empty());
        assert!(stolen.len() <= 1);
        assert_exactly_once([ran, stolen, left].concat(), 0..2);
    });
}

/// Two thieves and the owner all reach for the same runnext item.
#[test]
fn the_owner_and_two_thieves_taking_runnext_get_it_once() {
    loom_tests::model(|| {
        let queue = Arc::new(LocalQueue::new());
        assert!(queue.swap_runnext(Item(0)).is_none());
        let first = spawn_runnext_thief(&queue);
        let second = spawn_runnext_thief(&queue);

        let ran: Vec<u32> = queue.take_runnext().map(|item| item.0).into_iter().collect();

        let first = first.join().unwrap();
        let second = second.join().unwrap();
        let left = drain(&queue);
        assert_exactly_once([ran, first, second, left].concat(), 0..1);
    });
}
