//! What a tokio user expects of a goroutine's handle: `abort()` without awaiting, `cancel`
//! that cannot be half-called, `JoinError: Send + Sync` with the goroutine's id; and a panic
//! while a goroutine's future or output is dropped never hangs its handle or aborts the
//! process.

use std::error::Error;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

mod common;
use common::{runtime, within};

/// Counts drops of the futures that hold one.
#[derive(Clone)]
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        gmp::yield_now().await;
    }
}

#[test]
fn abort_cancels_a_parked_goroutine_without_being_awaited() {
    let rt = runtime(2);
    within(Duration::from_secs(30), "abort", || {
        rt.block_on(async {
            let drops = Arc::new(AtomicUsize::new(0));
            let counter = DropCounter(drops.clone());
            let handle = gmp::spawn(async move {
                let _counter = counter;
                std::future::pending::<()>().await;
            });
            gmp::yield_now().await;
            handle.abort();
            wait_until("the aborted goroutine's future is dropped", || drops.load(Ordering::SeqCst) == 1).await;
            let id = handle.id();
            let error = handle.await.unwrap_err();
            assert!(error.is_cancelled());
            assert_eq!(error.id(), id);
        })
    });
}

#[test]
fn abort_then_drop_of_the_handle_still_cancels() {
    let rt = runtime(2);
    within(Duration::from_secs(30), "abort then drop", || {
        rt.block_on(async {
            let baseline = gmp::runtime::num_goroutine();
            let drops = Arc::new(AtomicUsize::new(0));
            let counter = DropCounter(drops.clone());
            let handle = gmp::spawn(async move {
                let _counter = counter;
                std::future::pending::<()>().await;
            });
            handle.abort();
            drop(handle);
            wait_until("the aborted goroutine's future is dropped", || drops.load(Ordering::SeqCst) == 1).await;
            assert_eq!(gmp::runtime::num_goroutine(), baseline);
        })
    });
}

#[test]
fn cancel_without_await_still_cancels() {
    // `cancel` used to be an async fn: `handle.cancel();` built a future and dropped it,
    // which detached the goroutine and left it running.
    let rt = runtime(2);
    within(Duration::from_secs(30), "cancel without await", || {
        rt.block_on(async {
            let drops = Arc::new(AtomicUsize::new(0));
            let counter = DropCounter(drops.clone());
            let handle = gmp::spawn(async move {
                let _counter = counter;
                std::future::pending::<()>().await;
            });
            drop(handle.cancel());
            wait_until("the cancelled goroutine's future is dropped", || drops.load(Ordering::SeqCst) == 1).await;
        })
    });
}

#[test]
fn abort_of_a_finished_goroutine_keeps_its_output() {
    let rt = runtime(2);
    let value = within(Duration::from_secs(30), "abort after finish", || {
        rt.block_on(async {
            let handle = gmp::spawn(async { 7 });
            wait_until("the goroutine finishes", || handle.is_finished()).await;
            handle.abort();
            handle.await.unwrap()
        })
    });
    assert_eq!(value, 7);
}

#[test]
fn abort_of_a_running_goroutine_takes_effect_at_its_next_poll() {
    let rt = runtime(2);
    within(Duration::from_secs(30), "abort of a busy goroutine", || {
        rt.block_on(async {
            let polls = Arc::new(AtomicUsize::new(0));
            let handle = gmp::spawn({
                let polls = polls.clone();
                async move {
                    loop {
                        polls.fetch_add(1, Ordering::SeqCst);
                        gmp::yield_now().await;
                    }
                }
            });
            wait_until("the goroutine runs", || polls.load(Ordering::SeqCst) > 10).await;
            handle.abort();
            assert!(handle.await.unwrap_err().is_cancelled());
            let after = polls.load(Ordering::SeqCst);
            gmp::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(polls.load(Ordering::SeqCst), after, "the aborted goroutine kept running");
        })
    });
}

#[test]
fn abort_of_a_queued_blocking_call_keeps_it_from_running() {
    let rt = gmp::Builder::new().maxprocs(1).max_blocking_threads(1).build().unwrap();
    within(Duration::from_secs(30), "abort of a queued blocking call", || {
        rt.block_on(async {
            let release = Arc::new(AtomicBool::new(false));
            let busy = gmp::spawn_blocking({
                let release = release.clone();
                move || {
                    while !release.load(Ordering::Acquire) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            });
            let ran = Arc::new(AtomicBool::new(false));
            let queued = gmp::spawn_blocking({
                let ran = ran.clone();
                move || ran.store(true, Ordering::SeqCst)
            });
            queued.abort();
            release.store(true, Ordering::Release);
            busy.await.unwrap();
            assert!(queued.await.unwrap_err().is_cancelled());
            assert!(!ran.load(Ordering::SeqCst), "the aborted call ran");
        })
    });
}

fn assert_send_sync<T: Send + Sync + 'static>() {}

#[test]
fn join_error_is_send_and_sync_and_names_its_goroutine() {
    assert_send_sync::<gmp::JoinError>();
    assert_send_sync::<gmp::JoinHandle<u8>>();
    let rt = runtime(1);
    let (id, error) = within(Duration::from_secs(30), "a panicking goroutine", || {
        rt.block_on(async {
            let handle = gmp::spawn(async { panic!("boom") });
            let id = handle.id();
            (id, handle.await.unwrap_err())
        })
    });
    assert_eq!(error.id(), id);
    assert!(error.to_string().contains("boom"), "{error}");
    // Into the boxed error type that `?` and anyhow use.
    let boxed: Box<dyn Error + Send + Sync> = error.into();
    assert!(boxed.to_string().contains("panicked"));
    let shared = Arc::new(boxed);
    let text = std::thread::spawn(move || shared.to_string()).join().unwrap();
    assert!(text.contains("boom"));
}

/// A future that completes at once and panics when dropped afterwards.
struct PanicsWhenDropped(bool);

impl std::future::Future for PanicsWhenDropped {
    type Output = u32;
    fn poll(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> Poll<u32> {
        self.0 = true;
        Poll::Ready(5)
    }
}

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        if self.0 {
            panic!("dropping a completed future");
        }
    }
}

#[test]
fn a_future_that_panics_when_dropped_after_completing_resolves_its_handle_as_a_panic() {
    // async-task drops a completed future outside any catch: the panic left the task running
    // forever, its registry entry gone and its handle never resolving.
    let rt = runtime(2);
    within(Duration::from_secs(30), "a future panicking in its destructor", || {
        rt.block_on(async {
            let baseline = gmp::runtime::num_goroutine();
            let error = gmp::spawn(PanicsWhenDropped(false)).await.unwrap_err();
            assert!(error.is_panic());
            assert!(error.to_string().contains("dropping a completed future"), "{error}");
            assert_eq!(gmp::runtime::num_goroutine(), baseline);
            // The runtime is unharmed.
            assert_eq!(gmp::spawn(async { 1 }).await.unwrap(), 1);
        })
    });
}

/// An output whose destructor panics.
struct PanickyOutput;

impl Drop for PanickyOutput {
    fn drop(&mut self) {
        panic!("dropping an output");
    }
}

#[test]
fn a_detached_goroutine_whose_output_panics_when_dropped_does_not_abort_the_process() {
    // async-task drops a detached goroutine's output under an abort-on-panic guard.
    let rt = runtime(2);
    within(Duration::from_secs(30), "a detached goroutine with a panicky output", || {
        rt.block_on(async {
            let baseline = gmp::runtime::num_goroutine();
            let done = Arc::new(AtomicBool::new(false));
            drop(gmp::spawn({
                let done = done.clone();
                async move {
                    done.store(true, Ordering::SeqCst);
                    PanickyOutput
                }
            }));
            wait_until("the goroutine has run", || done.load(Ordering::SeqCst)).await;
            wait_until("the goroutine is gone", || gmp::runtime::num_goroutine() == baseline).await;
            assert_eq!(gmp::spawn(async { 2 }).await.unwrap(), 2);
        })
    });
}

/// Panics when dropped.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("dropping a cancelled future");
    }
}

#[test]
fn a_cancelled_goroutine_whose_future_panics_when_dropped_reports_cancelled() {
    let rt = runtime(2);
    within(Duration::from_secs(30), "cancelling a future that panics when dropped", || {
        rt.block_on(async {
            let baseline = gmp::runtime::num_goroutine();
            let handle = gmp::spawn(async {
                let _bomb = PanicsOnDrop;
                std::future::pending::<()>().await;
            });
            gmp::yield_now().await;
            assert_eq!(handle.cancel().await, None);
            wait_until("the goroutine is gone", || gmp::runtime::num_goroutine() == baseline).await;
        })
    });
}
