//! `gmp::sync::WaitGroup`, with Go's semantics: `wait` returns once every `add` has been
//! matched by a `done`, at once if the counter is zero; a negative counter panics with Go's
//! message; waiters are all released, may give up (drop) without harm, and show the
//! "sync.WaitGroup.Wait" wait reason.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;

use gmp::runtime::WaitReason;
use gmp::sync::WaitGroup;
use gmp::time::{sleep, Duration, Instant};

mod common;
use common::{counting_waker, poll_once, poll_once_past_yields, runtime, within};

#[test]
fn a_wait_group_over_1000_goroutines_waits_for_every_one_of_them() {
    let rt = runtime(4);
    let finished = Arc::new(AtomicUsize::new(0));
    within(Duration::from_secs(30), "a WaitGroup over 1,000 goroutines", || {
        rt.block_on(async {
            let wg = WaitGroup::new();
            for i in 0..1000u64 {
                wg.add(1);
                let (wg, finished) = (wg.clone(), finished.clone());
                gmp::spawn(async move {
                    sleep(Duration::from_millis(i % 20)).await;
                    finished.fetch_add(1, Ordering::SeqCst);
                    wg.done();
                });
            }
            wg.wait().await;
            assert_eq!(finished.load(Ordering::SeqCst), 1000);
            assert_eq!(wg.count(), 0);
        })
    });
}

#[test]
fn waiting_with_a_zero_counter_returns_at_once() {
    runtime(1).block_on(async {
        let wg = WaitGroup::new();
        let waker = counting_waker();
        assert_eq!(poll_once_past_yields(&mut wg.wait(), &waker).await, Poll::Ready(()));
        wg.add(2);
        wg.add(-2);
        assert_eq!(poll_once_past_yields(&mut wg.wait(), &waker).await, Poll::Ready(()));
    });
}

#[test]
fn a_negative_counter_panics_with_gos_message_and_leaves_the_group_usable() {
    let wg = WaitGroup::new();
    let payload = std::panic::catch_unwind(AssertUnwindSafe(|| wg.done())).unwrap_err();
    let message = payload.downcast_ref::<&str>().copied().unwrap_or_default();
    assert_eq!(message, "sync: negative WaitGroup counter");
    assert_eq!(wg.count(), 0);
    wg.add(1);
    assert!(std::panic::catch_unwind(AssertUnwindSafe(|| wg.add(-2))).is_err());
    assert_eq!(wg.count(), 1);
    wg.done();
    runtime(1).block_on(wg.wait());
}

#[test]
fn every_waiter_is_released_when_the_counter_reaches_zero() {
    let rt = runtime(3);
    within(Duration::from_secs(30), "many waiters", || {
        rt.block_on(async {
            let wg = WaitGroup::new();
            wg.add(1);
            let released = Arc::new(AtomicUsize::new(0));
            let waiters: Vec<_> = (0..100)
                .map(|_| {
                    let (wg, released) = (wg.clone(), released.clone());
                    gmp::spawn(async move {
                        wg.wait().await;
                        released.fetch_add(1, Ordering::SeqCst);
                    })
                })
                .collect();
            sleep(Duration::from_millis(20)).await;
            assert_eq!(released.load(Ordering::SeqCst), 0, "a waiter returned before done");
            wg.done();
            for waiter in waiters {
                waiter.await.unwrap();
            }
            assert_eq!(released.load(Ordering::SeqCst), 100);
        })
    });
}

#[test]
fn a_dropped_waiter_releases_its_waker_and_leaves_the_group_working() {
    runtime(1).block_on(async {
        let wg = WaitGroup::new();
        wg.add(1);
        let (counter, waker) = counting_waker();
        let mut wait = wg.wait();
        assert_eq!(poll_once(&mut wait, &waker), Poll::Pending);
        assert_eq!(Arc::strong_count(&counter), 3);
        drop(wait);
        assert_eq!(Arc::strong_count(&counter), 2);
        wg.done();
        assert_eq!(counter.0.load(Ordering::SeqCst), 0);
        wg.wait().await;
    });
}

#[test]
fn polling_a_waiter_again_with_new_wakers_keeps_only_the_latest() {
    runtime(1).block_on(async {
        let wg = WaitGroup::new();
        wg.add(1);
        let mut wait = wg.wait();
        let (first, waker) = counting_waker();
        assert_eq!(poll_once(&mut wait, &waker), Poll::Pending);
        drop(waker);
        let second = counting_waker();
        assert_eq!(poll_once(&mut wait, &second.1), Poll::Pending);
        assert_eq!(Arc::strong_count(&first), 1);
        wg.done();
        assert_eq!(second.0 .0.load(Ordering::SeqCst), 1);
        assert_eq!(first.0.load(Ordering::SeqCst), 0);
        assert_eq!(poll_once_past_yields(&mut wait, &second).await, Poll::Ready(()));
    });
}

#[test]
fn a_released_waiter_returns_even_if_the_group_is_reused_before_it_runs() {
    runtime(1).block_on(async {
        let wg = WaitGroup::new();
        wg.add(1);
        let waker = counting_waker();
        let mut wait = wg.wait();
        assert_eq!(poll_once(&mut wait, &waker.1), Poll::Pending);
        wg.done();
        wg.add(1); // reused at once, as Go allows after the release
        assert_eq!(poll_once_past_yields(&mut wait, &waker).await, Poll::Ready(()));
        assert_eq!(poll_once(&mut wg.wait(), &waker.1), Poll::Pending);
        wg.done();
    });
}

#[test]
fn done_racing_with_wait_never_loses_the_wake_up() {
    let rt = runtime(4);
    within(Duration::from_secs(60), "done racing with wait", || {
        rt.block_on(async {
            for round in 0..2000u32 {
                let wg = WaitGroup::new();
                wg.add(2);
                for _ in 0..2 {
                    let wg = wg.clone();
                    gmp::spawn(async move {
                        if round % 2 == 0 {
                            gmp::yield_now().await;
                        }
                        wg.done();
                    });
                }
                wg.wait().await;
                assert_eq!(wg.count(), 0);
            }
        })
    });
}

#[test]
fn a_waiting_goroutine_shows_the_wait_group_wait_reason() {
    let rt = runtime(2);
    within(Duration::from_secs(20), "the wait reason", || {
        rt.block_on(async {
            let wg = WaitGroup::new();
            wg.add(1);
            let waiter = {
                let wg = wg.clone();
                gmp::spawn(async move { wg.wait().await })
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let shown = gmp::runtime::goroutines().iter().any(|g| {
                    g.wait_reason == WaitReason::WaitGroupWait && g.wait_reason.as_str() == "sync.WaitGroup.Wait"
                });
                if shown {
                    break;
                }
                assert!(Instant::now() < deadline, "no goroutine showed sync.WaitGroup.Wait");
                sleep(Duration::from_millis(1)).await;
            }
            wg.done();
            waiter.await.unwrap();
        })
    });
}
