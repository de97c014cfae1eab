//! Spawning goroutines: from inside `block_on`, from plain threads through a `Handle`, nested
//! spawns, what a `JoinHandle` gives back (value, detach, cancel, `is_finished`), and the panic
//! for a spawn outside any runtime.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use futures::channel::oneshot;

mod common;
use common::{panic_message, within};

/// Yields until `condition` holds, panicking with `what` after a generous bound.
async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        gmp::yield_now().await;
    }
}

#[test]
fn a_million_goroutines_spawned_from_block_on_all_complete() {
    const GOROUTINES: usize = 1_000_000;
    let rt = gmp::Runtime::new().unwrap();
    let completed = Arc::new(AtomicUsize::new(0));
    let (all_done_tx, all_done_rx) = oneshot::channel::<()>();
    let all_done_tx = Arc::new(std::sync::Mutex::new(Some(all_done_tx)));

    let started = Instant::now();
    within(Duration::from_secs(120), "a million goroutines", || {
        rt.block_on(async {
            for _ in 0..GOROUTINES {
                let completed = completed.clone();
                let all_done_tx = all_done_tx.clone();
                gmp::spawn(async move {
                    if completed.fetch_add(1, Ordering::AcqRel) + 1 == GOROUTINES {
                        let tx = all_done_tx.lock().unwrap().take().unwrap();
                        tx.send(()).unwrap();
                    }
                });
            }
            all_done_rx.await.unwrap();
        })
    });
    eprintln!("1,000,000 spawns from block_on completed in {:?}", started.elapsed());
    assert_eq!(completed.load(Ordering::Acquire), GOROUTINES);
}

#[test]
fn forty_thousand_goroutines_spawned_from_four_plain_threads_through_a_handle_all_complete() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 10_000;
    let rt = gmp::Runtime::new().unwrap();
    let completed = Arc::new(AtomicUsize::new(0));

    let spawners: Vec<_> = (0..THREADS)
        .map(|_| {
            let handle = rt.handle().clone();
            let completed = completed.clone();
            thread::spawn(move || {
                for _ in 0..PER_THREAD {
                    let completed = completed.clone();
                    drop(handle.spawn(async move {
                        completed.fetch_add(1, Ordering::AcqRel);
                    }));
                }
            })
        })
        .collect();
    for spawner in spawners {
        spawner.join().unwrap();
    }

    // Nobody is inside block_on: the runtime's own threads must run all of them.
    let deadline = Instant::now() + Duration::from_secs(30);
    while completed.load(Ordering::Acquire) < THREADS * PER_THREAD {
        assert!(
            Instant::now() < deadline,
            "only {} of {} goroutines completed",
            completed.load(Ordering::Acquire),
            THREADS * PER_THREAD
        );
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(completed.load(Ordering::Acquire), THREADS * PER_THREAD);
}

#[test]
fn a_handle_taken_inside_a_goroutine_spawns_from_a_plain_thread() {
    let rt = gmp::Runtime::new().unwrap();
    let value = within(Duration::from_secs(30), "spawn through Handle::current", || {
        rt.block_on(async {
            let handle = gmp::spawn(async { gmp::Handle::current() }).await.unwrap();
            let join = thread::spawn(move || handle.spawn(async { 7 })).join().unwrap();
            join.await.unwrap()
        })
    });
    assert_eq!(value, 7);
}

#[test]
fn a_join_handle_returns_the_goroutines_value() {
    let rt = gmp::Runtime::new().unwrap();
    within(Duration::from_secs(30), "join handles", || {
        let inside = rt.block_on(async { gmp::spawn(async { 40 + 2 }).await.unwrap() });
        assert_eq!(inside, 42);

        let from_outside = rt.spawn(async { String::from("from outside") });
        assert_eq!(rt.block_on(from_outside).unwrap(), "from outside");

        let awaited_elsewhere = rt.spawn(async { vec![1, 2, 3] });
        assert_eq!(futures::executor::block_on(awaited_elsewhere).unwrap(), vec![1, 2, 3]);
    });
}

#[test]
fn dropping_a_join_handle_detaches_the_goroutine_which_still_runs_to_completion() {
    let rt = gmp::Runtime::new().unwrap();
    let value = within(Duration::from_secs(30), "a detached goroutine", || {
        rt.block_on(async {
            let (go_tx, go_rx) = oneshot::channel::<()>();
            let (done_tx, done_rx) = oneshot::channel::<u32>();
            let handle = gmp::spawn(async move {
                go_rx.await.unwrap();
                gmp::yield_now().await;
                done_tx.send(7).unwrap();
            });
            drop(handle);
            go_tx.send(()).unwrap();
            done_rx.await.expect("the detached goroutine was dropped instead of run")
        })
    });
    assert_eq!(value, 7);
}

#[test]
fn cancel_returns_none_for_a_pending_goroutine_and_some_for_a_finished_one() {
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    let rt = gmp::Runtime::new().unwrap();
    within(Duration::from_secs(30), "cancel", || {
        rt.block_on(async {
            let dropped = Arc::new(AtomicBool::new(false));
            let (_keep_tx, never_rx) = oneshot::channel::<()>();
            let guard = SetOnDrop(dropped.clone());
            let pending = gmp::spawn(async move {
                let _guard = guard;
                let _ = never_rx.await;
                1
            });
            assert_eq!(pending.cancel().await, None);
            assert!(dropped.load(Ordering::SeqCst), "cancel did not drop the pending future");

            let finished = gmp::spawn(async { 2 });
            wait_until("the goroutine finishes", || finished.is_finished()).await;
            assert_eq!(finished.cancel().await, Some(2));
        });
    });
}

#[test]
fn is_finished_turns_true_only_after_the_goroutine_completes() {
    let rt = gmp::Runtime::new().unwrap();
    within(Duration::from_secs(30), "is_finished", || {
        rt.block_on(async {
            let (go_tx, go_rx) = oneshot::channel::<()>();
            let handle = gmp::spawn(async move {
                go_rx.await.unwrap();
                "done"
            });
            for _ in 0..100 {
                gmp::yield_now().await;
                assert!(!handle.is_finished(), "finished before it was allowed to");
            }
            go_tx.send(()).unwrap();
            wait_until("the goroutine finishes", || handle.is_finished()).await;
            assert_eq!(handle.await.unwrap(), "done");
        });
    });
}

#[test]
fn nested_spawns_all_run_and_their_values_flow_back() {
    /// Spawns a binary tree of goroutines `depth` levels deep; each leaf returns 1.
    fn tree(depth: u32) -> Pin<Box<dyn Future<Output = u64> + Send>> {
        Box::pin(async move {
            if depth == 0 {
                return 1;
            }
            let left = gmp::spawn(tree(depth - 1));
            let right = gmp::spawn(tree(depth - 1));
            left.await.unwrap() + right.await.unwrap()
        })
    }

    let rt = gmp::Runtime::new().unwrap();
    let leaves = within(Duration::from_secs(60), "a tree of nested spawns", || rt.block_on(tree(10)));
    assert_eq!(leaves, 1024);

    // Detached grandchildren of a detached child still run.
    let ran = Arc::new(AtomicUsize::new(0));
    within(Duration::from_secs(60), "detached nested spawns", || {
        rt.block_on(async {
            for _ in 0..10 {
                let ran = ran.clone();
                drop(gmp::spawn(async move {
                    for _ in 0..10 {
                        let ran = ran.clone();
                        drop(gmp::spawn(async move {
                            for _ in 0..10 {
                                let ran = ran.clone();
                                drop(gmp::spawn(async move {
                                    ran.fetch_add(1, Ordering::AcqRel);
                                }));
                            }
                        }));
                    }
                }));
            }
            wait_until("1,000 grandchildren ran", || ran.load(Ordering::Acquire) == 1000).await;
        })
    });
}

#[test]
fn spawn_outside_a_runtime_panics_with_a_message_that_says_where_to_call_it() {
    let check = |payload: Box<dyn Any + Send>| {
        let message = panic_message(&*payload);
        assert!(message.contains("gmp::spawn"), "message does not name the call: {message:?}");
        assert!(
            message.contains("must be called from inside a gmp runtime"),
            "message does not say how to enter a runtime: {message:?}"
        );
    };

    let payload =
        std::panic::catch_unwind(|| gmp::spawn(async {})).expect_err("gmp::spawn outside a runtime did not panic");
    check(payload);

    // A runtime existing somewhere does not make a plain thread "inside" it.
    let rt = gmp::Runtime::new().unwrap();
    let payload = thread::spawn(|| std::panic::catch_unwind(|| gmp::spawn(async {})))
        .join()
        .unwrap()
        .expect_err("gmp::spawn on a plain thread did not panic while a runtime existed");
    check(payload);
    drop(rt);
}
