//! `runtime::num_goroutine()` counts live goroutines, parked ones included (Go's
//! `runtime.NumGoroutine`), and stops counting them once they finish, however they finish.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::channel::oneshot;

mod common;
use common::within;

/// Yields until `condition` holds, panicking with `what` after a generous bound.
async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        gmp::yield_now().await;
    }
}

#[test]
fn goroutines_parked_on_channels_are_counted_until_they_finish() {
    const PARKED: usize = 100;
    let rt = gmp::Runtime::new().unwrap();
    within(Duration::from_secs(60), "parked goroutines", || {
        rt.block_on(async {
            let baseline = gmp::runtime::num_goroutine();
            let parked_now = Arc::new(AtomicUsize::new(0));
            let mut senders = Vec::new();
            let mut handles = Vec::new();
            for _ in 0..PARKED {
                let (tx, rx) = oneshot::channel::<()>();
                senders.push(tx);
                let parked_now = parked_now.clone();
                handles.push(gmp::spawn(async move {
                    parked_now.fetch_add(1, Ordering::AcqRel);
                    rx.await.unwrap();
                }));
            }
            wait_until("every goroutine has parked", || parked_now.load(Ordering::Acquire) == PARKED).await;
            let while_parked = gmp::runtime::num_goroutine();
            assert!(
                while_parked >= baseline + PARKED,
                "{PARKED} parked goroutines counted as {} (baseline {baseline}, now {while_parked})",
                while_parked.saturating_sub(baseline)
            );

            for tx in senders {
                tx.send(()).unwrap();
            }
            for handle in handles {
                handle.await.unwrap();
            }
            wait_until("the count is back to the baseline", || gmp::runtime::num_goroutine() == baseline).await;
        })
    });
}

#[test]
fn detached_panicking_and_cancelled_goroutines_stop_being_counted() {
    let rt = gmp::Runtime::new().unwrap();
    within(Duration::from_secs(60), "goroutines ending in different ways", || {
        rt.block_on(async {
            let baseline = gmp::runtime::num_goroutine();
            let finished = Arc::new(AtomicUsize::new(0));
            for _ in 0..1000 {
                let finished = finished.clone();
                drop(gmp::spawn(async move {
                    gmp::yield_now().await;
                    finished.fetch_add(1, Ordering::AcqRel);
                }));
            }
            let panicked: Vec<_> = (0..100).map(|_| gmp::spawn(async { panic!("deliberate") })).collect();
            let (_keep_tx, never_rx) = oneshot::channel::<()>();
            let never_rx = futures::future::FutureExt::shared(never_rx);
            let cancelled: Vec<_> = (0..100)
                .map(|_| {
                    let never_rx = never_rx.clone();
                    gmp::spawn(async move {
                        let _ = never_rx.await;
                    })
                })
                .collect();

            wait_until("the detached goroutines finish", || finished.load(Ordering::Acquire) == 1000).await;
            for handle in panicked {
                assert!(handle.await.expect_err("a panic returned Ok").is_panic());
            }
            for handle in cancelled {
                assert_eq!(handle.cancel().await, None);
            }
            wait_until("the count is back to the baseline", || gmp::runtime::num_goroutine() == baseline).await;
        })
    });
}
