//! The fence-free wake-up after a push into runnext (`Scheduler::wake_if_idle_after_swap`)
//! under loom.
//!
//! Every spawn and wake on a P puts the goroutine in its P's runnext with a `SeqCst` swap and
//! then checks `npidle`/`nmspinning` with no fence. The M on the other side stops spinning
//! (decrements `nmspinning`), fences, and re-checks every P's runnext with an RMW before it
//! parks. The claim: either the producer sees the idle P with no spinner and wakes an M, or
//! the parking M sees the item. These models keep the producer on its P, never running its
//! own runnext, so the only way the item runs is the other M stealing it: a lost wake-up
//! leaves that M parked forever and loom reports a deadlock.
//!
//! To see that the models have teeth, weaken either side and run them: a plain load instead
//! of the RMW in `LocalQueue::has_runnext_synced`, or `Release` instead of `SeqCst` on the
//! swap in `LocalQueue::swap_runnext`. loom then finds the interleaving where both sides miss
//! each other (BENCHMARKS.md records the run).
#![cfg(loom)]

use gmp::loom_exports::{Machine, Scheduler};
use loom::sync::Arc;
use loom::thread;
use loom_tests::{assert_exactly_once, Item, NoThreads};

/// A scheduler with `maxprocs` Ps on a platform that starts no threads; Ps `0..taken` are
/// taken off the idle list for the Ms the model starts.
fn scheduler(maxprocs: usize, taken: usize) -> Arc<Scheduler<Item>> {
    let sched = Arc::new(Scheduler::new(maxprocs, 0));
    sched.set_platform(Box::new(NoThreads::default()));
    for p in 0..taken {
        assert_eq!(sched.acquire_idle_processor(), Some(p));
    }
    sched
}

/// A worker M on P `processor` that runs `Scheduler::next` until it got `expected` items.
fn spawn_worker(sched: &Arc<Scheduler<Item>>, processor: usize, expected: usize) -> thread::JoinHandle<Vec<u32>> {
    let sched = sched.clone();
    thread::spawn(move || {
        let m = Machine::new(processor as u32 + 1, None);
        sched.resume(&m, processor, false);
        let mut seen = Vec::new();
        while seen.len() < expected {
            match sched.next(&m) {
                Some(item) => seen.push(item.0),
                None => panic!("next returned None without a shutdown, after {seen:?}"),
            }
        }
        sched.detach_machine(&m);
        seen
    })
}

/// The worker on P0 finds nothing, spins, gives P0 back and parks, while the M on P1 swaps an
/// item into P1's runnext and checks for idle Ps without a fence. The producer holds P1 until
/// the worker has run the item, so the worker must steal it, before parking or after being
/// woken for it.
#[test]
fn a_runnext_push_without_a_fence_reaches_the_worker_about_to_park() {
    loom_tests::model(|| {
        let sched = scheduler(2, 2);
        let worker = spawn_worker(&sched, 0, 1);

        let producer = Machine::new(9, None);
        sched.resume(&producer, 1, false);
        sched.ready_local(1, Item(0), false);

        let seen = worker.join().unwrap();
        sched.detach_machine(&producer);
        assert_exactly_once(seen, 0..1);
        assert!(sched.processors[1].queue.is_empty());
        assert_eq!(sched.spinning_machines(), 0, "nmspinning leaked");
    });
}

/// As above with a third P already idle (no M for it): the producer's wake-up finds an idle
/// P from the start, so the race is between its `wakep` (which cannot start a thread here and
/// leaves a note for the next M to park) and the worker's own re-check.
#[test]
fn a_runnext_push_with_an_idle_p_reaches_the_worker_about_to_park() {
    loom_tests::model_with_preemptions_capped_at(1, || {
        let sched = scheduler(3, 2);
        let worker = spawn_worker(&sched, 0, 1);

        let producer = Machine::new(9, None);
        sched.resume(&producer, 1, false);
        sched.ready_local(1, Item(0), false);

        let seen = worker.join().unwrap();
        sched.detach_machine(&producer);
        assert_exactly_once(seen, 0..1);
        assert!(sched.processors[1].queue.is_empty());
        assert_eq!(sched.spinning_machines(), 0, "nmspinning leaked");
    });
}
