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

use gmp::loom_exports::Machine;
use loom_tests::{assert_exactly_once, Item};

/// The worker on P0 finds nothing, spins, gives P0 back and parks, while the M on P1 swaps an
/// item into P1's runnext and checks for idle Ps without a fence. The producer holds P1 until
/// the worker has run the item, so the worker must steal it, before parking or after being
/// woken for it.
#[test]
fn a_runnext_push_without_a_fence_reaches_the_worker_about_to_park() {
    loom_tests::model(|| {
        let sched = loom_tests::scheduler_with_ps_taken(2, 2);
        let worker = loom_tests::spawn_worker(&sched, 0, 1);

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
        let sched = loom_tests::scheduler_with_ps_taken(3, 2);
        let worker = loom_tests::spawn_worker(&sched, 0, 1);

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
