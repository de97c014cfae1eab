//! tokio's multi-thread scheduler models (`racy_shutdown`, `pool_multi_spawn`,
//! `blocking_and_regular`, `complete_block_on_under_load`, `spawn_blocking_racing_shutdown`)
//! as far as gmp's loom harness reaches: the real `Scheduler` with mock goroutines and a
//! platform that cannot start threads, the Ms played by loom threads. A whole runtime (task
//! allocation, the registry, sysmon, the blocking pool) does not run under loom, so each
//! model keeps the scheduler half of the race; the comment on each says what it stands for.
//!
//! The books at the end of each: every item ran exactly once or is still queued for
//! shutdown's sweep (never both, never lost), every P back on the idle list, no M counted
//! spinning. At `LOOM_MAX_PREEMPTIONS=2` the five take about 11 s on a 2-core machine (the
//! two-spawner model 5.6 s of it).
#![cfg(loom)]

use gmp::loom_exports::{Machine, Scheduler};
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;
use loom_tests::{assert_exactly_once, Item, NoThreads};

fn scheduler(maxprocs: usize) -> Arc<Scheduler<Item>> {
    let sched = Arc::new(Scheduler::new(maxprocs, 0));
    sched.set_platform(Box::new(NoThreads::default()));
    sched
}

/// Everything still queued anywhere (what shutdown's sweep would drop), as ids.
fn left_queued(sched: &Scheduler<Item>) -> Vec<u32> {
    let mut ids: Vec<u32> = std::iter::from_fn(|| sched.global.pop()).map(|item| item.0).collect();
    for processor in sched.processors.iter() {
        ids.extend(loom_tests::drain(&processor.queue));
    }
    ids
}

#[track_caller]
fn assert_books_closed(sched: &Scheduler<Item>) {
    assert_eq!(sched.idle_processors(), sched.maxprocs, "a P was lost from the idle list");
    assert_eq!(sched.spinning_machines(), 0, "nmspinning leaked");
}

/// A worker M on P `processor` (or parked with none) that runs items until `next` says stop
/// (shutdown), counting them in `ran` and shutting the scheduler down when `ran` reaches
/// `total` (0: never).
fn worker(
    sched: &Arc<Scheduler<Item>>,
    processor: Option<usize>,
    ran: &Arc<AtomicUsize>,
    total: usize,
) -> thread::JoinHandle<Vec<u32>> {
    let (sched, ran) = (sched.clone(), ran.clone());
    thread::spawn(move || {
        let m = Machine::new(processor.map_or(7, |p| p as u32 + 1), None);
        if let Some(p) = processor {
            sched.resume(&m, p, false);
        }
        let mut seen = Vec::new();
        while let Some(item) = sched.next(&m) {
            seen.push(item.0);
            if ran.fetch_add(1, SeqCst) + 1 == total {
                sched.shutdown();
            }
        }
        sched.detach_machine(&m);
        seen
    })
}

/// racy_shutdown: a wake from outside any P (what a JoinHandle, a timer or I/O does for a
/// goroutine) racing the runtime's shutdown. The worker must leave, and the goroutine is run
/// or left for the sweep exactly once.
#[test]
fn a_wake_from_outside_racing_shutdown_is_run_or_left_for_the_sweep_exactly_once() {
    loom_tests::model(|| {
        let sched = scheduler(1);
        assert_eq!(sched.acquire_idle_processor(), Some(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let m = worker(&sched, Some(0), &ran, 0);
        let stopper = {
            let sched = sched.clone();
            thread::spawn(move || sched.shutdown())
        };
        sched.ready_global(Item(0));
        stopper.join().unwrap();
        let seen = m.join().unwrap();
        assert_exactly_once([seen, left_queued(&sched)].concat(), 0..1);
        assert_books_closed(&sched);
    });
}

/// pool_multi_spawn: two plain threads spawn at once (two global pushes) while the only
/// worker M runs out of work and parks; both run, once each, and the one who runs the last
/// shuts down.
#[test]
fn spawns_from_two_threads_at_once_all_run_exactly_once() {
    loom_tests::model(|| {
        const TOTAL: usize = 2;
        let sched = scheduler(1);
        assert_eq!(sched.acquire_idle_processor(), Some(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let m = worker(&sched, Some(0), &ran, TOTAL);
        let spawners: Vec<_> = (0..TOTAL as u32)
            .map(|id| {
                let sched = sched.clone();
                thread::spawn(move || sched.ready_global(Item(id)))
            })
            .collect();
        for spawner in spawners {
            spawner.join().unwrap();
        }
        let seen = m.join().unwrap();
        assert_exactly_once(seen, 0..TOTAL as u32);
        assert_books_closed(&sched);
    });
}

/// blocking_and_regular: the M holding the only P enters a syscall (a blocking call), a
/// goroutine becomes runnable meanwhile, and sysmon retakes the P and hands it (with the
/// work) to the parked M, racing the syscall's return. The goroutine runs exactly once,
/// whoever ends up with the P; the returning M without a P parks until shutdown.
#[test]
fn work_made_runnable_during_a_syscall_runs_once_whoever_wins_the_p() {
    loom_tests::model(|| {
        const TOTAL: usize = 1;
        let sched = scheduler(1);
        assert_eq!(sched.acquire_idle_processor(), Some(0));
        let ran = Arc::new(AtomicUsize::new(0));
        // The spare M, parked with no P.
        let parked = worker(&sched, None, &ran, TOTAL);

        // This thread's M enters the syscall: it forgets P0 and marks it.
        let m = Machine::new(1, None);
        sched.resume(&m, 0, false);
        assert!(sched.start_poll(&m, Some(1)).is_some());
        sched.enter_syscall(&m, 0);
        let sysmon = {
            let sched = sched.clone();
            thread::spawn(move || {
                sched.retake_syscall(0);
            })
        };
        // A wake during the syscall goes to the global queue (the M holds no P).
        sched.ready_global(Item(0));
        // The syscall returns: its own P if sysmon left it, else any idle P.
        sched.exit_syscall(&m, 0);
        let mut seen = Vec::new();
        while let Some(item) = sched.next(&m) {
            seen.push(item.0);
            if ran.fetch_add(1, SeqCst) + 1 == TOTAL {
                sched.shutdown();
            }
        }
        sched.detach_machine(&m);
        sysmon.join().unwrap();
        let parked_seen = parked.join().unwrap();
        assert_exactly_once([seen, parked_seen].concat(), 0..TOTAL as u32);
        assert!(sched.global.is_empty());
        assert_books_closed(&sched);
    });
}

/// complete_block_on_under_load: M0 holds the P and runs goroutines while another thread
/// spawns more; the main future is woken (M0's interrupt flag) in the middle. M0 must come
/// out of `next` for it (not run the queue dry first, not park through it), and when
/// block_on returns, M0 hands its P and any work left on it to the parked worker, which runs
/// the rest: every goroutine once.
#[test]
fn block_on_completes_under_load_and_leaves_its_work_to_a_worker() {
    loom_tests::model(|| {
        const TOTAL: usize = 2;
        let sched = scheduler(1);
        let ran = Arc::new(AtomicUsize::new(0));
        let parked = worker(&sched, None, &ran, TOTAL);

        let interrupt = std::sync::Arc::new(AtomicBool::new(false));
        let m0 = {
            let (sched, ran, interrupt) = (sched.clone(), ran.clone(), interrupt.clone());
            thread::spawn(move || {
                let m = Machine::new(1, Some(interrupt.clone()));
                // As block_on: a P if one is idle (the other thread's spawn may already have
                // woken the worker onto it), and the main future spawns a goroutine.
                match sched.acquire_idle_processor() {
                    Some(p) => {
                        sched.bind(&m, p);
                        sched.ready_local(p, Item(0), false);
                    }
                    None => sched.ready_global(Item(0)),
                }
                let mut seen = Vec::new();
                // block_on's loop: poll the main future when woken, else run goroutines.
                loop {
                    if interrupt.swap(false, SeqCst) {
                        break; // the main future is ready
                    }
                    if let Some(item) = sched.next(&m) {
                        seen.push(item.0);
                        if ran.fetch_add(1, SeqCst) + 1 == TOTAL {
                            sched.shutdown();
                        }
                    } else if sched.is_shut_down() {
                        break;
                    }
                }
                sched.detach_machine(&m);
                seen
            })
        };
        // Another thread spawns while M0 runs; then the main future's waker fires.
        sched.ready_global(Item(1));
        interrupt.store(true, SeqCst);
        m0.thread().unpark();

        let m0_seen = m0.join().unwrap();
        let parked_seen = parked.join().unwrap();
        assert_exactly_once([m0_seen, parked_seen].concat(), 0..TOTAL as u32);
        assert_books_closed(&sched);
    });
}

/// spawn_blocking_racing_shutdown: the blocking pool is not part of the scheduler, so what
/// the scheduler sees of a blocking call finishing is a wake of the goroutine awaiting it,
/// pushed from the pool's thread (no P) while the runtime shuts down, with a worker parked.
/// The parked worker must be let go, and the goroutine run or left for the sweep, once.
#[test]
fn a_blocking_call_finishing_as_the_runtime_shuts_down_wakes_its_awaiter_once() {
    loom_tests::model(|| {
        let sched = scheduler(1);
        let ran = Arc::new(AtomicUsize::new(0));
        let parked = worker(&sched, None, &ran, 0);
        let pool_thread = {
            let sched = sched.clone();
            thread::spawn(move || sched.ready_global(Item(0)))
        };
        sched.shutdown();
        pool_thread.join().unwrap();
        let seen = parked.join().unwrap();
        assert_exactly_once([seen, left_queued(&sched)].concat(), 0..1);
        assert_books_closed(&sched);
    });
}
