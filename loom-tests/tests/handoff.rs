//! The handoff protocols of issue 12 under loom: sysmon's retake of a P whose M is blocked in a
//! syscall (Go's `retake`/`handoffp`, `sched/idle.rs`), the spare Ps added when more polls are
//! stuck than there are spares (`sched/blocked.rs`), and a worker M that exits after its
//! keep-alive while a producer wants it (`Scheduler::park`). In each, work made runnable while
//! threads are blocked must reach an M: a parked M never sleeps with work it should run (loom
//! reports a deadlock), and the books balance afterwards.
//!
//! The models call the scheduler's own protocol: `Scheduler::enter_syscall` and
//! `retake_syscall` (`sched/syscall.rs`), `mark_blocked` and the poll boundary
//! `start_poll` / `finish_poll` (`sched/blocked.rs`, `sched/poll.rs`).
#![cfg(loom)]

use std::time::Duration;

use gmp::loom_exports::{Machine, Scheduler};
use loom::sync::atomic::Ordering::SeqCst;
use loom::sync::Arc;
use loom::thread;
use loom_tests::{Item, NoThreads};

/// A worker M that starts without a P (so it parks at once) and runs until it has seen one
/// item; returns it.
fn spawn_parked_worker(sched: &Arc<Scheduler<Item>>) -> thread::JoinHandle<u32> {
    let sched = sched.clone();
    thread::spawn(move || {
        let m = Machine::new(2, None);
        let item = sched.next(&m).expect("next returned None without a shutdown");
        sched.detach_machine(&m);
        item.0
    })
}

#[test]
fn work_from_outside_reaches_a_parked_m_while_the_only_p_is_retaken_from_a_syscall() {
    // maxprocs 1: P0's M is blocked in a syscall for good; one worker M is parked; sysmon
    // retakes P0 (nobody spins and no P is idle, so Go's handoffp starts a spinning M on it)
    // while a plain thread makes a goroutine runnable. The parked M must run it.
    loom_tests::model(|| {
        let sched = Arc::new(Scheduler::new(1, 0));
        sched.set_platform(Box::new(NoThreads::default()));
        assert_eq!(sched.acquire_idle_processor(), Some(0));
        let blocked = Machine::new(1, None);
        sched.resume(&blocked, 0, false);
        assert!(sched.start_poll(&blocked, Some(1)).is_some());
        sched.enter_syscall(&blocked, 0);

        let worker = spawn_parked_worker(&sched);
        let sysmon = {
            let sched = sched.clone();
            thread::spawn(move || assert!(sched.retake_syscall(0), "the blocked M never returns"))
        };
        let producer = {
            let sched = sched.clone();
            thread::spawn(move || sched.ready_global(Item(1)))
        };
        producer.join().unwrap();
        sysmon.join().unwrap();
        assert_eq!(worker.join().unwrap(), 1);

        assert!(sched.global.is_empty());
        assert_eq!(sched.spinning_machines(), 0, "an M is still counted spinning");
        assert_eq!(sched.idle_processors(), 1, "P0 must be back on the idle list");
    });
}

#[test]
fn a_spare_p_added_for_a_stuck_poll_is_retired_when_the_poll_ends() {
    // No spare P at the start: marking P0 blocked must add one (a chunk of Ps) and stand it in;
    // when the stuck poll ends its M retires a P, so maxprocs Ps are usable again.
    loom_tests::model(|| {
        let sched = Arc::new(Scheduler::with_spare_limit(1, 0, 2));
        sched.set_platform(Box::new(NoThreads::default()));
        assert_eq!(sched.processors.len(), 1);
        assert_eq!(sched.acquire_idle_processor(), Some(0));
        let m = Machine::new(1, None);
        sched.resume(&m, 0, false);
        sched.ready_local(0, Item(7), false);
        assert!(sched.start_poll(&m, Some(1)).is_some());

        let sysmon = {
            let sched = sched.clone();
            thread::spawn(move || sched.mark_blocked(0))
        };
        let worker = {
            let sched = sched.clone();
            thread::spawn(move || {
                sched.finish_poll(&m);
                m
            })
        };
        let m = worker.join().unwrap();
        assert!(sysmon.join().unwrap());
        if sched.start_poll(&m, Some(2)).is_some() {
            sched.finish_poll(&m);
        }

        assert!(sched.processors.len() > 1, "no spare P was added");
        assert!(!sched.processors[0].is_blocked_synced(), "P0 is still marked blocked");
        assert_eq!(m.processor(), None, "the M kept a P although a spare stood in for it");
        assert!(sched.all_processors_idle(), "more Ps are usable than maxprocs");
        assert_eq!(sched.idle_processors(), 1, "exactly maxprocs Ps must be usable again");
        assert_eq!(sched.spinning_machines(), 0);
        let queued: Vec<u32> = std::iter::from_fn(|| sched.global.pop())
            .chain(sched.processors.iter().flat_map(|p| loom_tests::drain(&p.queue).into_iter().map(Item)))
            .map(|item| item.0)
            .collect();
        assert_eq!(queued, vec![7], "the queued goroutine must survive exactly once");
    });
}

#[test]
fn a_worker_m_leaving_after_its_keep_alive_never_takes_a_p_with_it() {
    // A worker M parks with a keep-alive of zero, so it tries to exit at once, while a producer
    // makes a goroutine runnable and wakes an M for it. Either the worker takes the P it was
    // handed (and runs the goroutine), or it left the idle list first and the scheduler asked
    // the platform for a new M; never is the P handed to an M that is gone.
    loom_tests::model(|| {
        let platform = NoThreads::default();
        let requests = platform.requests.clone();
        let sched: Arc<Scheduler<Item>> = Arc::new(Scheduler::new(1, 0).with_machine_keep_alive(Duration::ZERO));
        sched.set_platform(Box::new(platform));

        let worker = {
            let sched = sched.clone();
            thread::spawn(move || {
                let m = Machine::new(2, None);
                let ran = sched.next(&m).map(|item| item.0);
                sched.detach_machine(&m);
                ran
            })
        };
        let producer = {
            let sched = sched.clone();
            thread::spawn(move || sched.ready_global(Item(1)))
        };
        producer.join().unwrap();
        match worker.join().unwrap() {
            Some(ran) => assert_eq!(ran, 1),
            None => {
                assert_eq!(sched.global.pop(), Some(Item(1)), "the goroutine was lost");
                assert!(requests.load(SeqCst) > 0, "the worker left and nobody asked for a new M");
            }
        }
        assert_eq!(sched.spinning_machines(), 0, "an M is still counted spinning");
        assert_eq!(sched.idle_processors(), 1, "P0 must be back on the idle list");
    });
}
