//! A stuck poll's P (`sched/blocked.rs`, `sysmon.rs`) under loom: sysmon marks the P blocked
//! and puts a spare P to work while the M holding it reaches the end of its poll. Whichever
//! order they take, once the M has passed a poll boundary that sees the mark, the runtime is
//! back to `maxprocs` usable Ps, no P is marked, no M counts as spinning, and the goroutine
//! queued behind the poll is still queued exactly once.
//!
//! Both sides are the scheduler's own: `Scheduler::mark_blocked` (sysmon, `sched/blocked.rs`)
//! and `Scheduler::finish_poll` (the end of every poll, `sched/poll.rs`, which takes the return
//! path `leave_blocked` when it sees the mark).
//!
//! Calling the real poll boundary (a relaxed load of the mark) instead of a copy (which loaded
//! it with `Acquire`), this model found that the M could see the mark but not the spare
//! counted before it, clear the mark and keep its P beside the spare ("the M kept a P
//! although a spare stood in for it"); `leave_blocked` now re-reads the mark with `Acquire`.
//! Taking that re-read out again makes loom fail the same way (and marking before counting
//! the spare in `mark_blocked` fails `handoff.rs`'s spare-P model so).
#![cfg(loom)]

use gmp::loom_exports::{Machine, Scheduler};
use loom::sync::Arc;
use loom::thread;
use loom_tests::{Item, NoThreads};

#[test]
fn sysmon_marking_a_p_blocked_racing_its_poll_ending_leaves_maxprocs_usable_ps() {
    loom_tests::model(|| {
        let sched = Arc::new(Scheduler::new(1, 1));
        sched.set_platform(Box::new(NoThreads::default()));
        assert_eq!(sched.acquire_idle_processor(), Some(0));
        let m = Machine::new(1, None);
        sched.resume(&m, 0, false);
        // The goroutine the stuck poll strands: what the handoff is for.
        sched.ready_local(0, Item(7), false);
        // The poll that gets stuck.
        assert!(sched.start_poll(&m, Some(1)).is_some());

        // Both sides on spawned threads: with one of them on the model's main thread, loom
        // 0.7 explores a single interleaving here (loom#392).
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
        assert!(sysmon.join().unwrap(), "P0 was not marked, yet nobody else marks it");
        // The next poll boundary sees the mark if the first one ran before it was set.
        if sched.start_poll(&m, Some(2)).is_some() {
            sched.finish_poll(&m);
        }

        assert!(!sched.processors[0].is_blocked_synced(), "P0 is still marked blocked");
        assert_eq!(m.processor(), None, "the M kept a P although a spare stood in for it");
        assert!(sched.all_processors_idle(), "more Ps are usable than maxprocs + spares in use");
        assert_eq!(sched.idle_processors(), 1, "exactly maxprocs Ps must be usable again");
        assert_eq!(sched.spinning_machines(), 0);
        let queued: Vec<u32> = std::iter::from_fn(|| sched.global.pop())
            .chain(sched.processors.iter().flat_map(|p| loom_tests::drain(&p.queue).into_iter().map(Item)))
            .map(|item| item.0)
            .collect();
        assert_eq!(queued, vec![7], "the queued goroutine must survive exactly once");
    });
}
