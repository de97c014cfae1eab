//! The park/wake protocol (`sched.rs`) under loom: a producer makes work runnable while the
//! worker M finds nothing, stops spinning, gives its P back and parks. No M may sleep with
//! work queued: either the producer sees the idle P (and no spinner) and hands the P to a
//! parked M through the idle-M list, or the worker's re-check after leaving the spinning
//! state sees the work. If a worker would sleep forever, loom reports a deadlock (the worker
//! parked, the main thread waiting to join it or to hear that everything ran).
//!
//! The platform cannot start threads ([`NoThreads`]), so every wakeup has to reach the Ms the
//! model started; a request for a new M is refused and its P must go back to the idle list.
//! At the end each model checks the books: nothing queued, every P idle, no M counted
//! spinning.
#![cfg(loom)]

use gmp::loom_exports::{Machine, Scheduler};
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::{Arc, Notify};
use loom::thread;
use loom_tests::{assert_exactly_once, assert_increasing, Item, NoThreads};

/// A scheduler with `maxprocs` Ps, every one taken off the idle list for the Ms the model
/// starts (P i for the i-th).
fn scheduler(maxprocs: usize) -> Arc<Scheduler<Item>> {
    loom_tests::scheduler_with_ps_taken(maxprocs, maxprocs)
}

/// Starts a worker M, on P `processor` or (with `None`) with no P, so that it parks at once.
/// It runs until shutdown, counting what it ran in `ran` and notifying `all_ran` when the
/// count reaches `total`.
fn spawn_worker_until_shutdown(
    sched: &Arc<Scheduler<Item>>,
    processor: Option<usize>,
    ran: &Arc<AtomicUsize>,
    all_ran: &Arc<Notify>,
    total: usize,
) -> thread::JoinHandle<Vec<u32>> {
    let (sched, ran, all_ran) = (sched.clone(), ran.clone(), all_ran.clone());
    thread::spawn(move || {
        let m = Machine::new(processor.map_or(7, |p| p as u32 + 1), None);
        if let Some(p) = processor {
            sched.resume(&m, p, false);
        }
        let mut seen = Vec::new();
        while let Some(item) = sched.next(&m) {
            seen.push(item.0);
            if ran.fetch_add(1, SeqCst) + 1 == total {
                all_ran.notify();
            }
        }
        sched.detach_machine(&m);
        seen
    })
}

/// After the model: nothing queued, every P back on the idle list, no M counted spinning.
#[track_caller]
fn assert_quiescent(sched: &Scheduler<Item>) {
    assert!(sched.global.is_empty(), "work left in the global queue");
    for processor in sched.processors.iter() {
        assert!(processor.queue.is_empty(), "work left on P{}", processor.id);
    }
    assert_eq!(sched.idle_processors(), sched.maxprocs, "a P was lost from the idle list");
    assert_eq!(sched.spinning_machines(), 0, "nmspinning leaked");
}

/// `ready_global` (a wake from outside any P) racing the only worker's decision to park.
#[test]
fn a_worker_about_to_park_does_not_sleep_through_a_global_push() {
    loom_tests::model(|| {
        let sched = scheduler(1);
        let worker = loom_tests::spawn_worker(&sched, 0, 1);

        sched.ready_global(Item(0));

        let seen = worker.join().unwrap();
        assert_exactly_once(seen, 0..1);
        assert_quiescent(&sched);
    });
}

/// Two global pushes: the first wake may hand the worker its P back, and the second push
/// must not be lost while the worker parks again after running the first.
#[test]
fn a_worker_parking_twice_does_not_sleep_through_either_global_push() {
    loom_tests::model(|| {
        let sched = scheduler(1);
        let worker = loom_tests::spawn_worker(&sched, 0, 2);

        sched.ready_global(Item(0));
        sched.ready_global(Item(1));

        let seen = worker.join().unwrap();
        assert_increasing(&seen, "the global queue");
        assert_exactly_once(seen, 0..2);
        assert_quiescent(&sched);
    });
}

/// `ready_local` from another M that holds P1 and keeps it (its goroutine is still running):
/// the worker on P0, deciding to park, must either see the item (stealing runnext on its last
/// round) or be woken for it, rather than park with P1's queue non-empty.
///
/// One item only. With a second `ready_local`, loom finds a window that Go's `wakep` has
/// too: the second `wakep` counts itself a spinner for a moment, finds no idle P and uncounts
/// itself; a worker that looked in that moment does not spin and parks, and the item waits on
/// P1 until P1's own M comes back for it (next model) or sysmon marks P1 blocked.
#[test]
fn a_worker_about_to_park_does_not_sleep_through_a_push_on_another_p() {
    loom_tests::model(|| {
        let sched = scheduler(2);
        let worker = loom_tests::spawn_worker(&sched, 0, 1);

        let producer = Machine::new(9, None);
        sched.resume(&producer, 1, false);
        sched.ready_local(1, Item(0), false);

        let seen = worker.join().unwrap();
        sched.detach_machine(&producer);
        assert_exactly_once(seen, 0..1);
        assert_quiescent(&sched);
    });
}

/// Two `ready_local`s on P1 while the worker on P0 decides to park; then P1's M comes back to
/// the scheduler too. Between them the two Ms run both items (the worker by stealing, P1's
/// M from its own queue), and whoever runs the last one shuts the scheduler down, which must
/// wake the other if it parked.
#[test]
fn a_burst_on_one_p_is_run_by_its_m_or_stolen_by_the_other() {
    loom_tests::model(|| {
        const TOTAL: usize = 2;
        let sched = scheduler(2);
        let ran = Arc::new(AtomicUsize::new(0));
        let run_until_all_ran = |sched: &Scheduler<Item>, m: &Machine, ran: &AtomicUsize| {
            let mut seen = Vec::new();
            while ran.load(SeqCst) < TOTAL {
                let Some(item) = sched.next(m) else { break };
                seen.push(item.0);
                if ran.fetch_add(1, SeqCst) + 1 == TOTAL {
                    sched.shutdown();
                }
            }
            sched.detach_machine(m);
            seen
        };
        let worker = {
            let (sched, ran) = (sched.clone(), ran.clone());
            thread::spawn(move || {
                let m = Machine::new(1, None);
                sched.resume(&m, 0, false);
                run_until_all_ran(&sched, &m, &ran)
            })
        };

        let producer = Machine::new(9, None);
        sched.resume(&producer, 1, false);
        sched.ready_local(1, Item(0), false);
        sched.ready_local(1, Item(1), false);
        let produced_ran = run_until_all_ran(&sched, &producer, &ran);

        let worker_ran = worker.join().unwrap();
        assert_exactly_once([produced_ran, worker_ran].concat(), 0..TOTAL as u32);
        assert_quiescent(&sched);
    });
}

/// Two Ps and two worker Ms: one M running on P0, the other M parked with no P (P1 idle),
/// and a producer outside any P. The wake must take an idle P and hand it to a parked M (or
/// the running M must find the work itself), with the spinning count (spinners fewer than
/// half the busy Ps) in between; shutdown must then wake whichever M is parked.
#[test]
fn a_push_reaches_one_of_two_workers_and_shutdown_wakes_both() {
    // Two Ms each running the whole find-work loop: 1.3 million interleavings at a bound of
    // 2, so this one stays at 1 (the one-worker models above cover the race at the full bound).
    loom_tests::model_with_preemptions_capped_at(1, || {
        const TOTAL: usize = 1;
        let sched = Arc::new(Scheduler::new(2, 0));
        sched.set_platform(Box::new(NoThreads::default()));
        assert_eq!(sched.acquire_idle_processor(), Some(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let all_ran = Arc::new(Notify::new());
        let running = spawn_worker_until_shutdown(&sched, Some(0), &ran, &all_ran, TOTAL);
        let parked = spawn_worker_until_shutdown(&sched, None, &ran, &all_ran, TOTAL);

        sched.ready_global(Item(0));
        // loom's `Notify` may wake spuriously.
        while ran.load(SeqCst) < TOTAL {
            all_ran.wait();
        }
        sched.shutdown();

        let running = running.join().unwrap();
        let parked = parked.join().unwrap();
        assert_exactly_once([running, parked].concat(), 0..TOTAL as u32);
        assert_quiescent(&sched);
    });
}

/// Shutdown racing a worker that has no work and is parking: it must wake and leave.
#[test]
fn shutdown_wakes_a_parking_worker() {
    loom_tests::model(|| {
        let sched = scheduler(1);
        let worker = {
            let sched = sched.clone();
            thread::spawn(move || {
                let m = Machine::new(1, None);
                sched.resume(&m, 0, false);
                let next = sched.next(&m).map(|item| item.0);
                sched.detach_machine(&m);
                next
            })
        };

        sched.shutdown();

        assert_eq!(worker.join().unwrap(), None);
        assert_quiescent(&sched);
    });
}
