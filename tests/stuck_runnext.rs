//! A goroutine that blocks its thread inside a poll must not strand the goroutines queued on its
//! processor. The hardest case is runnext: a goroutine spawned (or woken) by the stuck one sits in
//! the stuck processor's runnext slot, which tokio never lets another worker take (tokio#4941).
//! In gmp another M must get it out: by stealing runnext on the last steal round, or by sysmon
//! handing the stuck processor's queue to another M.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::within;

/// Blocks the current thread (no await, so the poll never returns) until `condition` holds or
/// about ten seconds pass. Returns whether the condition held.
fn block_thread_until(condition: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
    true
}

/// Goroutine A spawns `spawned` goroutines (the last lands in A's runnext, the others in A's
/// ring), then blocks its thread until all of them have run. Returns whether they all ran.
fn spawn_then_block(maxprocs: usize, spawned: usize) -> bool {
    let rt = gmp::Builder::new().maxprocs(maxprocs).build().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    within(Duration::from_secs(60), "the blocking goroutine A", || {
        rt.block_on(async {
            gmp::spawn(async move {
                for _ in 0..spawned {
                    let ran = ran.clone();
                    drop(gmp::spawn(async move {
                        ran.fetch_add(1, Ordering::AcqRel);
                    }));
                }
                block_thread_until(|| ran.load(Ordering::Acquire) == spawned)
            })
            .await
            .unwrap()
        })
    })
}

#[test]
fn with_two_processors_a_goroutine_in_the_runnext_of_a_blocked_processor_still_runs() {
    let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
    let b_ran = Arc::new(AtomicBool::new(false));
    let b_ran_in_time = within(Duration::from_secs(60), "goroutine A", || {
        rt.block_on(async {
            let b_ran = b_ran.clone();
            gmp::spawn(async move {
                // B lands in this processor's runnext...
                drop(gmp::spawn({
                    let b_ran = b_ran.clone();
                    async move { b_ran.store(true, Ordering::Release) }
                }));
                // ...and this poll never returns until B has run elsewhere.
                block_thread_until(|| b_ran.load(Ordering::Acquire))
            })
            .await
            .unwrap()
        })
    });
    assert!(b_ran_in_time, "B, stuck in the runnext of A's blocked processor, never ran");
}

#[test]
fn with_two_processors_goroutines_in_the_ring_of_a_blocked_processor_still_run() {
    assert!(spawn_then_block(2, 10), "goroutines queued behind a blocked poll (ring and runnext) did not all run");
}

#[test]
fn with_one_processor_sysmon_hands_a_blocked_processors_goroutines_to_another_thread() {
    // With a single P nobody can steal: only sysmon noticing the stuck poll (past 10 ms) and
    // handing the P's queue to another M gets these goroutines out. This is gmp's headline.
    assert!(spawn_then_block(1, 3), "with maxprocs = 1, goroutines queued behind a blocked poll never ran");
}

/// One try of the spawned-beside-a-computing-goroutine scenario on a fresh runtime: a goroutine
/// spawns another, then computes (no await, no lock that could sleep) until the spawned one
/// has run or ten seconds pass. Returns the thread the spawned one ran on, the spawner's
/// thread, and how many polls sysmon marked blocked meanwhile.
fn spawn_then_compute() -> (Option<thread::ThreadId>, thread::ThreadId, u64) {
    let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
    let (ran_on, spawner_thread) = within(Duration::from_secs(60), "the computing goroutine", || {
        rt.block_on(async {
            gmp::spawn(async {
                let ran_on = Arc::new(OnceLock::new());
                drop(gmp::spawn({
                    let ran_on = ran_on.clone();
                    async move { ran_on.set(thread::current().id()).unwrap() }
                }));
                let deadline = Instant::now() + Duration::from_secs(10);
                while ran_on.get().is_none() && Instant::now() < deadline {
                    std::hint::spin_loop();
                }
                (ran_on.get().copied(), thread::current().id())
            })
            .await
            .unwrap()
        })
    });
    let blocked = rt.block_on(async { gmp::runtime::stats() }).counters.blocked_polls;
    (ran_on, spawner_thread, blocked)
}

/// A spawn into an empty runnext wakes no other M (the spawner's M runs it next), so a
/// goroutine spawned by one that then computes without returning would wait for that poll.
/// sysmon offers the queue behind a poll it has seen running for a round to an idle P, and
/// the M it wakes takes the goroutine from runnext: it runs beside the spawner, on another
/// thread, before sysmon would call the computing poll stuck (20 ms; no P is marked blocked).
/// Whether the woken thread gets a core within those 20 ms is up to the OS on a loaded
/// machine, so the scenario gets five tries; without the offer every try ends in a handoff.
#[test]
fn with_two_processors_a_goroutine_spawned_by_a_computing_one_runs_beside_it() {
    let mut tries = Vec::new();
    for _ in 0..5 {
        let (ran_on, spawner_thread, blocked) = spawn_then_compute();
        let ran_on = ran_on.expect("the goroutine spawned by a computing goroutine never ran");
        assert_ne!(ran_on, spawner_thread, "it ran on the spawner's own thread, so not beside it");
        if blocked == 0 {
            return;
        }
        tries.push(blocked);
    }
    panic!("in every try the spawner's P was marked blocked (blocked polls per try: {tries:?}): the goroutine ran only through the stuck-poll handoff");
}
