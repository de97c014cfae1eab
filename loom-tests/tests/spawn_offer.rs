//! A spawn that wakes nobody (`Scheduler::ready_spawned`) and sysmon's offer of the queue
//! behind a long poll (`Scheduler::offer_queued_work`), under loom.
//!
//! A spawn into an empty runnext does not look for idle Ps: the spawner's M runs the new
//! goroutine as soon as its poll ends. If the poll goes on, sysmon, seeing it run for a round,
//! looks at the P's queue with a plain load and, if it holds something, wakes an idle P's M
//! (`wake_if_idle`: fence, then `npidle`/`nmspinning`). The M on the other side stops spinning
//! (decrements `nmspinning`), fences, and re-checks every P's runnext with an RMW before it
//! parks. The claim: if sysmon saw the goroutine, either its wake-up sees no spinner and wakes
//! an M, or the spinner's re-check sees the goroutine. In the models the spawner holds its P
//! and never runs its own queue (its poll computes), so the goroutine runs only if the other
//! M takes it: a lost wake-up leaves that M parked forever and loom reports a deadlock.
//!
//! To see that the first model has teeth, make `offer_queued_work` skip its wake-up: loom
//! reports the deadlock where the worker parks with the goroutine still in runnext. (Calling
//! the fence-free `wake_if_idle_after_swap` there instead also passes under loom 0.7, whose
//! `SeqCst` loads are stronger than the hardware's; the fence is kept for the argument in
//! `offer_queued_work`'s comment.)
#![cfg(loom)]

use gmp::loom_exports::{Machine, Scheduler};
use loom::sync::Arc;
use loom::thread;
use loom_tests::{assert_exactly_once, Item};

/// sysmon's round that finds the spawned goroutine queued on P `p` and offers it. It starts
/// after the spawn (a sysmon that looked earlier finds nothing and looks again next round; a
/// loop here would only make loom spin), so it sees the goroutine: the race checked is
/// between its wake-up and the worker's parking.
fn spawn_sysmon(sched: &Arc<Scheduler<Item>>, p: usize) -> thread::JoinHandle<()> {
    let sched = sched.clone();
    thread::spawn(move || assert!(sched.offer_queued_work(p), "sysmon found nothing queued"))
}

/// The worker on P0 finds nothing, spins, gives P0 back and parks, while the M on P1 spawns
/// into its empty runnext (no wake-up) and computes, and sysmon offers P1's queue.
#[test]
fn a_spawn_that_woke_nobody_reaches_the_worker_about_to_park_through_sysmon() {
    loom_tests::model(|| {
        let sched = loom_tests::scheduler_with_ps_taken(2, 2);
        let worker = loom_tests::spawn_worker(&sched, 0, 1);

        let spawner = Machine::new(9, None);
        sched.resume(&spawner, 1, false);
        sched.ready_spawned(1, Item(0));
        let sysmon = spawn_sysmon(&sched, 1);

        let seen = worker.join().unwrap();
        sysmon.join().unwrap();
        sched.detach_machine(&spawner);
        assert_exactly_once(seen, 0..1);
        assert!(sched.processors[1].queue.is_empty());
        assert_eq!(sched.spinning_machines(), 0, "nmspinning leaked");
    });
}

/// A second spawn displaces the first into the ring, so it wakes an idle P itself: with no
/// sysmon at all, both goroutines still reach the worker (the ring one by stealing half,
/// runnext in its last round).
#[test]
fn a_spawn_that_displaces_one_wakes_the_worker_itself() {
    loom_tests::model(|| {
        let sched = loom_tests::scheduler_with_ps_taken(2, 2);
        let worker = loom_tests::spawn_worker(&sched, 0, 2);

        let spawner = Machine::new(9, None);
        sched.resume(&spawner, 1, false);
        sched.ready_spawned(1, Item(0));
        sched.ready_spawned(1, Item(1));

        let seen = worker.join().unwrap();
        sched.detach_machine(&spawner);
        assert_exactly_once(seen, 0..2);
        assert!(sched.processors[1].queue.is_empty());
        assert_eq!(sched.spinning_machines(), 0, "nmspinning leaked");
    });
}
