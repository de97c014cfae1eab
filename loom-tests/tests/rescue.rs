//! A busy M taking in the queue of a P whose poll stands still (`Scheduler::rescue_stalled`),
//! under loom. The M of P0 is inside a poll with goroutines queued behind it (ring and
//! runnext); P1's M is busy with its own. On P1's global-queue rounds it watches P0, and if
//! P0's poll has not ended between two of them it steals from P0 as a thief does. Meanwhile
//! P0's M ends its poll, readies one more goroutine and drains its own queue. Every goroutine
//! must come out exactly once, whoever wins.
//!
//! Bugs injected once to show the model has teeth: `take_from_stalled` stealing into the
//! victim's own ring (`steal_half_counted(&victim.queue)`, a one-word slip) failed it with
//! `every item must come out exactly once`, `left: [1, 2, 2, 3, 10, 11]` (goroutine 2 run
//! twice, 4 lost: the thief's batch write landed on the slot P0's M pushed 4 into); with the
//! rescue call removed, the model failed its coverage check (`loom explored only 1
//! interleaving(s)`: the Ms no longer touch each other's state). Taking P0's ring with the
//! owner's `pop` instead of a steal passed: `pop` claims by a CAS on `head`, as a steal does.
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use gmp::loom_exports::{Machine, Scheduler, GLOBAL_QUEUE_INTERVAL, RESCUE_EVERY};
use loom::sync::Arc;
use loom::thread;
use loom_tests::{assert_exactly_once, ids, pop_all, Item, NoThreads};

/// The round of P1's first look at the watched P: its first global-queue round comes after
/// `GLOBAL_QUEUE_INTERVAL` rounds, its first look after `RESCUE_EVERY` global-queue rounds
/// (one per round from then on, with the intervals set to 1).
const FIRST_LOOK: u32 = GLOBAL_QUEUE_INTERVAL + RESCUE_EVERY - 1;

/// Executions in which P1's M ran one of P0's goroutines, and in which it did not: the model
/// must reach both outcomes, or it did not check the rescue.
static RESCUED: AtomicUsize = AtomicUsize::new(0);
static NOT_RESCUED: AtomicUsize = AtomicUsize::new(0);

#[test]
fn a_stalled_ps_queue_taken_in_by_a_busy_p_comes_out_exactly_once() {
    loom_tests::model(|| {
        let sched = Arc::new(Scheduler::new(2, 0));
        sched.set_platform(Box::new(NoThreads::default()));
        let in_poll = Machine::new(1, None);
        let busy = Machine::new(2, None);
        sched.resume(&in_poll, sched.acquire_idle_processor().unwrap(), false);
        sched.resume(&busy, sched.acquire_idle_processor().unwrap(), false);
        let (p0, p1) = (in_poll.processor().unwrap(), busy.processor().unwrap());

        // P0's M starts a poll; goroutines 1 and 2 wait in its ring, 3 in its runnext.
        assert!(sched.start_poll(&in_poll, Some(100)).is_some());
        sched.ready_local_in_order(p0, Item(1));
        sched.ready_local_in_order(p0, Item(2));
        sched.ready_local(p0, Item(3), false);
        // P1 runs its first rounds alone, so the next one looks at the watched P; from then
        // on every round does.
        sched.processors[p1].set_global_interval(1);
        sched.processors[p1].set_rescue_every(1);
        for round in 0..FIRST_LOOK - 1 {
            sched.ready_local_in_order(p1, Item(1000 + round));
            assert_eq!(sched.next(&busy).map(|item| item.0), Some(1000 + round));
        }
        sched.ready_local_in_order(p1, Item(10));
        sched.ready_local_in_order(p1, Item(11));

        let busy_m = {
            let sched = sched.clone();
            thread::spawn(move || {
                // The first look starts watching P0; the next takes from it if P0's poll stood
                // still in between.
                let ran = ids((0..2).map(|_| sched.next(&busy).expect("P1 has work of its own")));
                (ran, pop_all(&sched.processors[busy.processor().unwrap()].queue))
            })
        };
        // P0's M: its poll ends, it readies one more goroutine and runs its queue.
        sched.finish_poll(&in_poll);
        sched.ready_local_in_order(p0, Item(4));
        let mut seen = ids(sched.processors[p0].queue.take_runnext());
        seen.extend(pop_all(&sched.processors[p0].queue));

        let (ran, left) = busy_m.join().unwrap();
        let outcome = if ran.iter().any(|&id| id < 10) { &RESCUED } else { &NOT_RESCUED };
        outcome.fetch_add(1, Relaxed);
        seen.extend(ran);
        seen.extend(left);
        assert_exactly_once(seen, [1, 2, 3, 4, 10, 11]);
    });
    let (rescued, not_rescued) = (RESCUED.load(Relaxed), NOT_RESCUED.load(Relaxed));
    assert!(rescued > 0 && not_rescued > 0, "rescued in {rescued} executions, not in {not_rescued}");
}
