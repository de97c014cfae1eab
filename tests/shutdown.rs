//! Shutdown: dropping a `Runtime` (or `shutdown_timeout`) drops every unfinished goroutine's
//! future exactly once before it returns, whether the goroutine was still queued, parked on a
//! channel, or parked with nobody holding its waker; handles of those goroutines report
//! cancelled; and dropping a runtime from inside async code is refused with a clear panic.

use std::panic::AssertUnwindSafe;
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

/// Counts, per goroutine, how many times its future was dropped.
struct DropLedger(Vec<AtomicUsize>);

impl DropLedger {
    fn new(goroutines: usize) -> Arc<Self> {
        Arc::new(DropLedger((0..goroutines).map(|_| AtomicUsize::new(0)).collect()))
    }

    fn guard(self: &Arc<Self>, id: usize) -> DropGuard {
        DropGuard { ledger: self.clone(), id }
    }

    /// Asserts that every goroutine's future was dropped exactly once.
    fn assert_each_dropped_once(&self, when: &str) {
        let counts: Vec<usize> = self.0.iter().map(|c| c.load(Ordering::SeqCst)).collect();
        let never = counts.iter().filter(|&&c| c == 0).count();
        let twice = counts.iter().filter(|&&c| c > 1).count();
        assert!(
            never == 0 && twice == 0,
            "{when}: of {} futures, {never} were never dropped and {twice} were dropped more \
             than once",
            counts.len()
        );
    }
}

/// Captured by a goroutine's future; records the drop of that future in the ledger.
struct DropGuard {
    ledger: Arc<DropLedger>,
    id: usize,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.ledger.0[self.id].fetch_add(1, Ordering::SeqCst);
    }
}

/// Goroutines left behind at shutdown, with what the test keeps of them.
struct Leftovers {
    ledger: Arc<DropLedger>,
    /// Senders of the channels the parked goroutines wait on; never used to send.
    senders: Vec<oneshot::Sender<()>>,
    /// Some of the goroutines' handles (the others were dropped, detaching their goroutines).
    handles: Vec<gmp::JoinHandle<()>>,
    /// How many of the "queued" goroutines got polled before shutdown anyway.
    queued_polled: Arc<AtomicUsize>,
}

/// On `rt`, parks `parked` goroutines on oneshot receivers (and waits until they have parked),
/// then spawns `queued` goroutines from block_on and returns without yielding, so those are
/// still sitting in the queues. A queued goroutine that does get polled parks forever with its
/// waker dropped (`pending()`), so the runtime is the only one who can still reach it.
fn leave_goroutines_behind(rt: &gmp::Runtime, parked: usize, queued: usize) -> Leftovers {
    let ledger = DropLedger::new(parked + queued);
    let queued_polled = Arc::new(AtomicUsize::new(0));
    let (senders, handles) = within(Duration::from_secs(60), "setting up goroutines", || {
        rt.block_on(async {
            let mut senders = Vec::new();
            let mut handles = Vec::new();
            let parked_now = Arc::new(AtomicUsize::new(0));
            for id in 0..parked {
                let (tx, rx) = oneshot::channel::<()>();
                senders.push(tx);
                let guard = ledger.guard(id);
                let parked_now = parked_now.clone();
                let handle = gmp::spawn(async move {
                    let _guard = guard;
                    parked_now.fetch_add(1, Ordering::AcqRel);
                    let _ = rx.await;
                });
                if id % 10 == 0 {
                    handles.push(handle);
                }
            }
            wait_until("every parked goroutine has parked", || parked_now.load(Ordering::Acquire) == parked).await;
            for id in parked..parked + queued {
                let guard = ledger.guard(id);
                let queued_polled = queued_polled.clone();
                let handle = gmp::spawn(async move {
                    let _guard = guard;
                    queued_polled.fetch_add(1, Ordering::AcqRel);
                    futures::future::pending::<()>().await;
                });
                if id % 10 == 0 {
                    handles.push(handle);
                }
            }
            (senders, handles)
        })
    });
    Leftovers { ledger, senders, handles, queued_polled }
}

impl Leftovers {
    /// Checks what must hold once the runtime is gone.
    fn check_after_shutdown(self, how: &str) {
        self.ledger.assert_each_dropped_once(how);
        eprintln!(
            "{how}: {} of the queued goroutines had been polled before shutdown",
            self.queued_polled.load(Ordering::SeqCst)
        );
        let still_listening = self.senders.iter().filter(|tx| !tx.is_canceled()).count();
        assert_eq!(still_listening, 0, "{how}: parked goroutines' receivers are still alive");
        within(Duration::from_secs(30), "awaiting handles after shutdown", || {
            for handle in self.handles {
                let error =
                    futures::executor::block_on(handle).expect_err("a goroutine dropped at shutdown reported success");
                assert!(error.is_cancelled(), "{how}: JoinError is not cancelled");
                assert!(!error.is_panic());
            }
        });
    }
}

#[test]
fn dropping_the_runtime_drops_every_queued_and_parked_goroutine_exactly_once() {
    let rt = gmp::Builder::new().maxprocs(1).build().unwrap();
    let leftovers = leave_goroutines_behind(&rt, 1000, 1000);
    within(Duration::from_secs(60), "dropping the runtime", || drop(rt));
    leftovers.check_after_shutdown("drop with maxprocs = 1");
}

#[test]
fn dropping_a_multi_processor_runtime_drops_every_leftover_goroutine_exactly_once() {
    let rt = gmp::Builder::new().maxprocs(4).build().unwrap();
    let leftovers = leave_goroutines_behind(&rt, 1000, 5000);
    within(Duration::from_secs(60), "dropping the runtime", || drop(rt));
    leftovers.check_after_shutdown("drop with maxprocs = 4");
}

#[test]
fn a_join_handle_of_a_goroutine_dropped_at_shutdown_reports_cancelled() {
    let rt = gmp::Runtime::new().unwrap();
    let (_keep_tx, rx) = oneshot::channel::<()>();
    let handle = rt.spawn(async move {
        let _ = rx.await;
        1
    });
    within(Duration::from_secs(60), "dropping the runtime", || drop(rt));
    let error = within(Duration::from_secs(30), "awaiting the handle", || {
        futures::executor::block_on(handle).expect_err("a dropped goroutine reported success")
    });
    assert!(error.is_cancelled());
    assert!(!error.is_panic());
}

fn assert_refuses_drop_in_async_context(message: &str) {
    let lower = message.to_lowercase();
    assert!(
        lower.contains("drop") && lower.contains("runtime"),
        "the panic does not say that dropping a runtime is the problem: {message:?}"
    );
    assert!(
        lower.contains("goroutine") || lower.contains("async"),
        "the panic does not say where the drop happened (a goroutine / async context): \
         {message:?}"
    );
}

#[test]
fn dropping_a_runtime_inside_a_goroutine_panics_with_a_clear_message() {
    let outer = gmp::Runtime::new().unwrap();
    let inner = gmp::Builder::new().maxprocs(1).build().unwrap();
    let error = within(Duration::from_secs(60), "the goroutine dropping a runtime", || {
        outer.block_on(async move {
            gmp::spawn(async move { drop(inner) })
                .await
                .expect_err("dropping a runtime inside a goroutine did not panic")
        })
    });
    assert!(error.is_panic());
    assert_refuses_drop_in_async_context(&panic_message(&*error.into_panic()));

    // The outer runtime is unharmed.
    let value = within(Duration::from_secs(30), "work after the refused drop", || {
        outer.block_on(async { gmp::spawn(async { 5 }).await.unwrap() })
    });
    assert_eq!(value, 5);
}

#[test]
fn dropping_a_runtime_inside_block_on_panics_with_a_clear_message() {
    let outer = gmp::Runtime::new().unwrap();
    let inner = gmp::Builder::new().maxprocs(1).build().unwrap();
    let payload = within(Duration::from_secs(60), "block_on dropping a runtime", || {
        std::panic::catch_unwind(AssertUnwindSafe(|| outer.block_on(async move { drop(inner) })))
            .expect_err("dropping a runtime inside block_on did not panic")
    });
    assert_refuses_drop_in_async_context(&panic_message(&*payload));
    within(Duration::from_secs(60), "dropping the outer runtime", || drop(outer));
}

#[test]
fn shutdown_timeout_drops_every_leftover_goroutine_and_returns() {
    let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
    let leftovers = leave_goroutines_behind(&rt, 500, 500);
    within(Duration::from_secs(60), "shutdown_timeout", || rt.shutdown_timeout(Duration::from_secs(10)));
    leftovers.check_after_shutdown("shutdown_timeout");
}

#[test]
fn shutdown_timeout_returns_even_while_a_poll_blocks_its_thread() {
    let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
    let started = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let stuck = rt.spawn({
        let started = started.clone();
        let release = release.clone();
        async move {
            started.store(true, Ordering::Release);
            // A poll that does not return for a minute unless released.
            let deadline = Instant::now() + Duration::from_secs(60);
            while !release.load(Ordering::Acquire) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(1));
            }
        }
    });
    drop(stuck);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !started.load(Ordering::Acquire) {
        assert!(Instant::now() < deadline, "the blocking goroutine never started");
        thread::sleep(Duration::from_millis(1));
    }

    let began = Instant::now();
    within(Duration::from_secs(50), "shutdown_timeout with a stuck poll", || {
        rt.shutdown_timeout(Duration::from_millis(200))
    });
    let took = began.elapsed();
    release.store(true, Ordering::Release);
    assert!(took < Duration::from_secs(30), "shutdown_timeout(200ms) waited {took:?}, as if for the stuck poll to end");
}
