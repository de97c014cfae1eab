//! What else a program can use inside `gmp::model`: timers on the model's virtual clock,
//! `spawn_blocking` and `gmp::syscall` as loom threads, cancellation, and a clear refusal of
//! sockets.
#![cfg(loom)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

/// A sleep ends when the runtime has nothing else to do and the virtual clock reaches it; a
/// timeout shorter than the sleep fires first.
#[test]
fn sleep_and_timeout_keep_their_meaning_on_the_virtual_clock() {
    gmp::model(|| {
        let rt = gmp::Builder::new().maxprocs(1).build().unwrap();
        rt.block_on(async {
            let start = gmp::time::Instant::now();
            let sleeper = gmp::spawn(async { gmp::time::sleep(Duration::from_secs(60)).await });
            let timed_out = gmp::time::timeout(Duration::from_secs(1), gmp::time::sleep(Duration::from_secs(60))).await;
            assert!(timed_out.is_err(), "a 1 s timeout on a 60 s sleep must fire");
            sleeper.await.unwrap();
            let waited = start.elapsed();
            assert!(waited >= Duration::from_secs(60) && waited < Duration::from_secs(61), "{waited:?}");
        });
    });
}

/// `spawn_blocking` runs its closure on a loom thread, raced against the goroutines.
#[test]
fn spawn_blocking_runs_on_a_loom_thread() {
    gmp::model(|| {
        let rt = gmp::Builder::new().maxprocs(1).build().unwrap();
        let (tx, rx) = gmp::chan::bounded::<u32>(1);
        let answer = rt.block_on(async move {
            let call = gmp::spawn_blocking(move || 6 * 7);
            let goroutine = gmp::spawn(async move { tx.send(1).await.unwrap() });
            let answer = call.await.unwrap();
            goroutine.await.unwrap();
            answer + rx.recv().await.unwrap()
        });
        assert_eq!(answer, 43);
    });
}

/// `gmp::syscall` on a P that the model's stand-in for sysmon may retake meanwhile.
#[test]
fn a_syscall_returns_whether_or_not_its_processor_was_retaken() {
    gmp::model(|| {
        let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
        let total = rt.block_on(async {
            let other = gmp::spawn(async { gmp::syscall(|| 2) });
            let mine = gmp::syscall(|| 1);
            mine + other.await.unwrap()
        });
        assert_eq!(total, 3);
    });
}

/// Aborting a goroutine that waits forever cancels it: its handle says so, and the model
/// does not report a deadlock.
#[test]
fn an_aborted_goroutine_is_cancelled() {
    gmp::model(|| {
        let rt = gmp::Builder::new().maxprocs(1).build().unwrap();
        rt.block_on(async {
            let (tx, rx) = gmp::chan::bounded::<()>(1);
            let waiter = gmp::spawn(async move { rx.recv().await });
            gmp::yield_now().await; // let it block on the channel
            waiter.abort();
            assert!(waiter.await.unwrap_err().is_cancelled());
            drop(tx);
        });
    });
}

/// A socket or a file inside a model panics with a message that says why.
#[test]
fn a_socket_or_a_file_inside_a_model_panics_clearly() {
    let refusal = |program: fn()| {
        let panic = catch_unwind(AssertUnwindSafe(|| gmp::model(program))).expect_err("the OS must be refused");
        panic.downcast::<String>().map(|m| *m).unwrap_or_default()
    };
    let socket = refusal(|| {
        let rt = gmp::Builder::new().maxprocs(1).build().unwrap();
        rt.block_on(async {
            let _ = gmp::net::TcpListener::bind("127.0.0.1:0").await;
        });
    });
    assert!(socket.contains("is not available inside a model"), "{socket}");
    let file = refusal(|| {
        let rt = gmp::Builder::new().maxprocs(1).build().unwrap();
        rt.block_on(async {
            let _ = gmp::fs::read("Cargo.toml").await;
        });
    });
    assert!(file.contains("gmp::fs") && file.contains("is not available inside a model"), "{file}");
}

/// A goroutine left blocked forever when the main future returns is not a deadlock (Go does
/// not report it either): the runtime's drop cancels it.
#[test]
fn a_goroutine_left_blocked_when_main_returns_is_not_a_deadlock() {
    gmp::model(|| {
        let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
        let (tx, rx) = gmp::chan::bounded::<()>(1);
        #[allow(clippy::async_yields_async)] // the handle is awaited after the runtime is gone
        let leaked = rt.block_on(async move {
            let leaked = gmp::spawn(async move { rx.recv().await });
            gmp::yield_now().await;
            leaked
        });
        drop(rt);
        assert!(rt_cancelled(leaked));
        drop(tx);
    });
}

/// True if `handle`, of a goroutine whose runtime is gone, reports it cancelled.
fn rt_cancelled<T: Send + 'static>(handle: gmp::JoinHandle<T>) -> bool {
    let rt = gmp::Builder::new().maxprocs(1).build().unwrap();
    rt.block_on(handle).is_err()
}

/// `WaitGroup`, `RwLock`, `Semaphore` and `OnceCell` inside one model on two Ps: a goroutine
/// initialises the cell once, takes a permit and writes under the lock; the main future does
/// the same; `wait` returns once both are done.
#[test]
fn wait_group_rwlock_semaphore_and_once_cell_work_inside_a_model() {
    use std::sync::Arc;

    use gmp::sync::{OnceCell, RwLock, Semaphore, WaitGroup};

    gmp::model(|| {
        let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
        let (sum, inits) = rt.block_on(async {
            let group = WaitGroup::new();
            let lock = Arc::new(RwLock::new(0u32));
            let permits = Arc::new(Semaphore::new(1));
            let cell = Arc::new(OnceCell::new());
            let inits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let work = {
                let (lock, permits, cell, inits) = (lock.clone(), permits.clone(), cell.clone(), inits.clone());
                move |add: u32| async move {
                    let base = *cell
                        .get_or_init(|| async {
                            inits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            10u32
                        })
                        .await;
                    let _permit = permits.acquire().await.unwrap();
                    *lock.write().await += base + add;
                }
            };
            group.add(1);
            let done = group.clone();
            let other = work.clone();
            gmp::spawn(async move {
                other(1).await;
                done.done();
            });
            work(2).await;
            group.wait().await;
            let sum = *lock.read().await;
            (sum, inits.load(std::sync::atomic::Ordering::SeqCst))
        });
        assert_eq!(sum, 23);
        assert_eq!(inits, 1, "the cell was initialised more than once");
    });
}
