//! The README's "Model-checking your program" cases: whole gmp programs (a `Runtime`, its
//! goroutines, `gmp::sync` and `gmp::chan`) run under `gmp::model`, which runs them in every
//! interleaving loom can tell apart. Two pass, two must fail, with the right message.
#![cfg(loom)]

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use gmp::sync::Mutex;

/// Runs `model` (which must fail) and returns its panic message.
fn failure_of(model: impl FnOnce()) -> String {
    let panic = catch_unwind(AssertUnwindSafe(model)).expect_err("the model must fail");
    match panic.downcast::<String>() {
        Ok(message) => *message,
        Err(panic) => panic.downcast::<&str>().map(|message| message.to_string()).unwrap_or_default(),
    }
}

/// A program that adds one to a counter twice, concurrently: once in a goroutine and once in
/// the main future, on two Ps, with `add` (how one addition is done). Returns the total.
fn counter_after_two_adds<F, A>(add: F) -> u32
where
    F: Fn(Arc<Mutex<u32>>) -> A,
    A: Future<Output = ()> + Send + 'static,
{
    let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
    rt.block_on(async {
        let counter = Arc::new(Mutex::new(0u32));
        let other = gmp::spawn(add(counter.clone()));
        add(counter.clone()).await;
        other.await.unwrap();
        let total = *counter.lock().await;
        total
    })
}

/// A goroutine and the main future add one each to a counter behind a `gmp::sync::Mutex`,
/// on two Ps: every interleaving ends with 2.
#[test]
fn a_counter_behind_a_mutex_passes() {
    gmp::model(|| {
        let total = counter_after_two_adds(|counter| async move {
            let mut value = counter.lock().await;
            let read = *value;
            gmp::yield_now().await; // holding the lock: nobody else gets in
            *value = read + 1;
        });
        assert_eq!(total, 2, "an update was lost");
    });
}

/// The same counter without holding the lock across the update: read, `yield_now`, write.
/// Some interleaving runs both reads before either write, and the model catches it.
#[test]
fn a_lost_update_is_caught() {
    let message = failure_of(|| {
        gmp::model(|| {
            let total = counter_after_two_adds(|counter| async move {
                let read = *counter.lock().await;
                gmp::yield_now().await; // the lock is released here: a race
                *counter.lock().await = read + 1;
            });
            assert_eq!(total, 2, "an update was lost");
        });
    });
    assert!(message.contains("an update was lost"), "unexpected failure: {message}");
}

/// Two goroutines take two Mutexes in opposite orders, on two Ps. In the interleaving where
/// each holds its first, both wait forever: the model reports a deadlock with gmp's `dump()`, which says
/// that both goroutines wait on a Mutex.
#[test]
fn a_deadlock_between_two_mutexes_is_caught_with_both_wait_reasons() {
    let message = failure_of(|| {
        gmp::model(|| {
            let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
            rt.block_on(async {
                let a = Arc::new(Mutex::new(()));
                let b = Arc::new(Mutex::new(()));
                let first = {
                    let (a, b) = (a.clone(), b.clone());
                    gmp::spawn(async move {
                        let _a = a.lock().await;
                        gmp::yield_now().await;
                        let _b = b.lock().await;
                    })
                };
                let second = gmp::spawn(async move {
                    let _b = b.lock().await;
                    gmp::yield_now().await;
                    let _a = a.lock().await;
                });
                first.await.unwrap();
                second.await.unwrap();
            });
        });
    });
    assert!(message.contains("gmp::model: deadlock"), "not a deadlock report: {message}");
    assert_eq!(message.matches("[sync.Mutex.Lock").count(), 2, "both goroutines wait on a Mutex: {message}");
}

/// A ball goes back and forth between two goroutines over two channels, on two Ps.
#[test]
fn a_channel_ping_pong_passes_with_two_processors() {
    gmp::model(|| {
        let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
        let ball = rt.block_on(async {
            let (to_pong, from_ping) = gmp::chan::bounded::<u32>(1);
            let (to_ping, from_pong) = gmp::chan::bounded::<u32>(1);
            let pong = gmp::spawn(async move {
                while let Ok(ball) = from_ping.recv().await {
                    if to_ping.send(ball + 1).await.is_err() {
                        break;
                    }
                }
            });
            let mut ball = 0;
            for _ in 0..2 {
                to_pong.send(ball).await.unwrap();
                ball = from_pong.recv().await.unwrap();
            }
            drop(to_pong);
            pong.await.unwrap();
            ball
        });
        assert_eq!(ball, 2);
    });
}
