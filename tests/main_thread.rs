//! M0: `block_on` holds a processor on the calling thread, so with `maxprocs = 1` every goroutine
//! of the program runs on that thread, as a Go program with GOMAXPROCS=1 runs on one.
//!
//! Unless a poll gets stuck: when sysmon finds one (past 20 ms, which a loaded machine that
//! keeps a thread off the CPU can cause in any poll, such as the main future's while it spawns
//! 1,000 goroutines), a spare P on a worker thread stands in and M0's P retires, so goroutines
//! then run off the calling thread by design. Each check is therefore made on a run in which
//! sysmon marked no poll blocked (`stats().counters.blocked_polls` is counted before the mark
//! takes effect); another fresh runtime is tried otherwise.

use std::thread::{self, ThreadId};
use std::time::Duration;

use futures::channel::oneshot;

mod common;
use common::{in_a_run_with_no_stuck_poll, within};

/// Runs `scenario` with a fresh one-P runtime until a run in which no poll was marked stuck
/// (at most 10 runs), and returns what that run saw.
fn on_one_processor<T>(what: &str, scenario: impl Fn(&gmp::Runtime) -> T) -> T {
    in_a_run_with_no_stuck_poll(what, 10, || {
        let rt = gmp::Builder::new().maxprocs(1).build().unwrap();
        within(Duration::from_secs(30), what, || {
            let seen = scenario(&rt);
            (seen, rt.block_on(async { gmp::runtime::stats().counters.blocked_polls }))
        })
    })
}

#[test]
fn with_one_processor_every_goroutine_spawned_from_block_on_runs_on_the_calling_thread() {
    let caller = thread::current().id();
    let ran_on: Vec<ThreadId> = on_one_processor("goroutines on M0", |rt| {
        rt.block_on(async {
            let handles: Vec<_> = (0..1000)
                .map(|i| {
                    gmp::spawn(async move {
                        if i % 2 == 0 {
                            gmp::yield_now().await;
                        }
                        thread::current().id()
                    })
                })
                .collect();
            let mut ran_on = Vec::new();
            for handle in handles {
                ran_on.push(handle.await.unwrap());
            }
            ran_on
        })
    });
    assert_eq!(ran_on.len(), 1000);
    assert!(
        ran_on.iter().all(|id| *id == caller),
        "{} of 1000 goroutines ran off the calling thread",
        ran_on.iter().filter(|id| **id != caller).count()
    );
}

#[test]
fn with_one_processor_nested_goroutines_also_run_on_the_calling_thread() {
    let caller = thread::current().id();
    let ran_on = on_one_processor("nested goroutines on M0", |rt| {
        rt.block_on(async {
            gmp::spawn(async {
                let child = gmp::spawn(async {
                    let grandchild = gmp::spawn(async { thread::current().id() });
                    (thread::current().id(), grandchild.await.unwrap())
                });
                let (child, grandchild) = child.await.unwrap();
                [thread::current().id(), child, grandchild]
            })
            .await
            .unwrap()
        })
    });
    assert_eq!(ran_on, [caller; 3]);
}

#[test]
fn with_one_processor_a_goroutine_woken_from_a_plain_thread_runs_on_the_calling_thread() {
    let caller = thread::current().id();
    let ran_on = on_one_processor("a goroutine woken from outside", |rt| {
        rt.block_on(async {
            let (wake_tx, wake_rx) = oneshot::channel::<()>();
            let sleeper = gmp::spawn(async move {
                wake_rx.await.unwrap();
                thread::current().id()
            });
            let waker = thread::spawn(move || {
                thread::sleep(Duration::from_millis(50));
                wake_tx.send(()).unwrap();
            });
            let ran_on = sleeper.await.unwrap();
            waker.join().unwrap();
            ran_on
        })
    });
    assert_eq!(ran_on, caller);
}
