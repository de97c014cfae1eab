//! `Handle::block_on` and `Handle::enter`: a plain thread, or a `spawn_blocking` call, drives
//! a future on a runtime or spawns onto it, as with tokio.

use std::time::Duration;

mod common;
use common::{runtime, within};

#[test]
fn handle_block_on_runs_a_future_on_a_plain_thread() {
    let rt = runtime(2);
    let handle = rt.handle();
    let value = within(Duration::from_secs(30), "Handle::block_on on a thread", || {
        std::thread::spawn(move || {
            handle.block_on(async {
                gmp::time::sleep(Duration::from_millis(1)).await;
                gmp::spawn(async { 20 }).await.unwrap() + 1
            })
        })
        .join()
        .unwrap()
    });
    assert_eq!(value, 21);
}

#[test]
fn handle_block_on_works_inside_a_blocking_call() {
    let rt = runtime(2);
    let value = within(Duration::from_secs(30), "Handle::block_on in spawn_blocking", || {
        rt.block_on(async {
            let handle = gmp::Handle::current();
            gmp::spawn_blocking(move || handle.block_on(async { gmp::spawn(async { 3 }).await.unwrap() * 2 }))
                .await
                .unwrap()
        })
    });
    assert_eq!(value, 6);
}

#[test]
fn handle_block_on_inside_a_goroutine_is_refused() {
    let rt = runtime(2);
    let error = within(Duration::from_secs(30), "Handle::block_on in a goroutine", || {
        rt.block_on(async {
            let handle = gmp::Handle::current();
            gmp::spawn(async move { handle.block_on(async {}) }).await.unwrap_err()
        })
    });
    assert!(error.is_panic());
    let message = error.to_string();
    assert!(message.contains("block_on"), "{message}");
}

#[test]
fn enter_lets_a_plain_thread_spawn_and_find_the_runtime() {
    let rt = runtime(2);
    let handle = rt.handle();
    let spawned = within(Duration::from_secs(30), "spawning under enter", || {
        std::thread::spawn(move || {
            assert!(gmp::Handle::try_current().is_err());
            let guard = handle.enter();
            assert!(gmp::Handle::try_current().is_ok());
            let spawned = gmp::spawn(async { 9 });
            drop(guard);
            assert!(gmp::Handle::try_current().is_err(), "the context outlived its guard");
            spawned
        })
        .join()
        .unwrap()
    });
    assert_eq!(rt.block_on(spawned).unwrap(), 9);
}

#[test]
fn block_on_works_while_the_thread_has_entered_the_runtime() {
    let rt = runtime(1);
    let _guard = rt.enter();
    let value = within(Duration::from_secs(30), "block_on under enter", || {
        rt.block_on(async { gmp::spawn(async { 4 }).await.unwrap() })
    });
    assert_eq!(value, 4);
    assert!(gmp::Handle::try_current().is_ok(), "block_on did not restore the entered context");
}

#[test]
fn handle_block_on_outlives_its_runtime_and_returns_when_its_future_is_woken() {
    let rt = runtime(2);
    let handle = rt.handle();
    let (tx, rx) = futures::channel::oneshot::channel::<u8>();
    let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
    let driver = std::thread::spawn(move || {
        handle.block_on(async move {
            started_tx.send(()).unwrap();
            rx.await.unwrap()
        })
    });
    started_rx.recv_timeout(Duration::from_secs(30)).expect("Handle::block_on never polled its future");
    within(Duration::from_secs(30), "dropping the runtime under a Handle::block_on", || drop(rt));
    std::thread::sleep(Duration::from_millis(20));
    tx.send(5).unwrap();
    let value =
        within(Duration::from_secs(30), "Handle::block_on after its runtime shut down", || driver.join().unwrap());
    assert_eq!(value, 5);
}
