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

/// Waits (bounded) until `flag` is set by a goroutine or a blocking call.
fn wait_for_flag(flag: &AtomicBool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !flag.load(Ordering::Acquire) {
        assert!(Instant::now() < deadline, "{what} never started");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn dropping_a_runtime_waits_at_most_its_drop_timeout_for_stuck_threads() {
    let rt = gmp::Builder::new().maxprocs(2).drop_timeout(Duration::from_millis(200)).build().unwrap();
    let release = Arc::new(AtomicBool::new(false));
    let (in_pool, in_poll) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    // A spawn_blocking call and a goroutine whose poll blocks its thread, both for up to a
    // minute unless released.
    let block_until_released = |started: Arc<AtomicBool>, release: Arc<AtomicBool>| {
        move || {
            started.store(true, Ordering::Release);
            let deadline = Instant::now() + Duration::from_secs(60);
            while !release.load(Ordering::Acquire) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(1));
            }
        }
    };
    drop(rt.spawn_blocking(block_until_released(in_pool.clone(), release.clone())));
    let stuck_poll = block_until_released(in_poll.clone(), release.clone());
    drop(rt.spawn(async move { stuck_poll() }));
    wait_for_flag(&in_pool, "the spawn_blocking call");
    wait_for_flag(&in_poll, "the blocking goroutine");

    let began = Instant::now();
    within(Duration::from_secs(50), "dropping a runtime with stuck threads", || drop(rt));
    let took = began.elapsed();
    release.store(true, Ordering::Release);
    assert!(
        took < Duration::from_secs(30),
        "a drop bounded to 200 ms waited {took:?}, as if for the blocking calls to end"
    );
}

#[test]
fn dropping_a_runtime_lets_a_short_blocking_call_finish() {
    let rt = gmp::Runtime::new().unwrap();
    let (started, finished) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    drop(rt.spawn_blocking({
        let (started, finished) = (started.clone(), finished.clone());
        move || {
            started.store(true, Ordering::Release);
            thread::sleep(Duration::from_millis(300));
            finished.store(true, Ordering::Release);
        }
    }));
    wait_for_flag(&started, "the spawn_blocking call");
    within(Duration::from_secs(50), "dropping the runtime", || drop(rt));
    assert!(
        finished.load(Ordering::Acquire),
        "the drop returned before a 300 ms blocking call (inside its 10 s bound) ended"
    );
}

/// Spawns `count` goroutines that yield forever and returns once each has run once.
fn spawn_forever_yielding(rt: &gmp::Runtime, count: usize) {
    let started = Arc::new(AtomicUsize::new(0));
    for _ in 0..count {
        let started = started.clone();
        rt.spawn(async move {
            started.fetch_add(1, Ordering::AcqRel);
            loop {
                gmp::yield_now().await;
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while started.load(Ordering::Acquire) < count {
        assert!(Instant::now() < deadline, "the yielding goroutines never all started");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn dropping_a_runtime_whose_goroutines_yield_forever_returns() {
    // Before the fix an M serving its local queue never read the shutdown flag, so the drop
    // waited forever for it.
    let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
    spawn_forever_yielding(&rt, 4);
    within(Duration::from_secs(10), "dropping a runtime with yielding goroutines", || drop(rt));
}

#[test]
fn dropping_a_runtime_with_two_goroutines_ping_ponging_returns() {
    let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
    let (ping_tx, mut ping_rx) = futures::channel::mpsc::unbounded::<()>();
    let (pong_tx, mut pong_rx) = futures::channel::mpsc::unbounded::<()>();
    let rounds = Arc::new(AtomicUsize::new(0));
    rt.spawn(async move {
        use futures::StreamExt;
        while ping_rx.next().await.is_some() {
            if pong_tx.unbounded_send(()).is_err() {
                return;
            }
        }
    });
    rt.spawn({
        let rounds = rounds.clone();
        async move {
            use futures::StreamExt;
            ping_tx.unbounded_send(()).unwrap();
            while pong_rx.next().await.is_some() {
                rounds.fetch_add(1, Ordering::Relaxed);
                if ping_tx.unbounded_send(()).is_err() {
                    return;
                }
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while rounds.load(Ordering::Relaxed) < 1000 {
        assert!(Instant::now() < deadline, "the ping-pong never got going");
        thread::sleep(Duration::from_millis(1));
    }
    within(Duration::from_secs(10), "dropping a runtime with a ping-pong", || drop(rt));
}

#[test]
fn dropping_a_runtime_with_a_thousand_yielding_goroutines_and_a_hundred_busy_connections_is_quick() {
    use futures::io::{AsyncReadExt, AsyncWriteExt};
    const CONNECTIONS: usize = 100;
    let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
    let round_trips = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let listener = gmp::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        gmp::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                gmp::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n @ 1..) = stream.read(&mut buf).await {
                        if stream.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        for _ in 0..CONNECTIONS {
            let round_trips = round_trips.clone();
            let mut stream = gmp::net::TcpStream::connect(addr).await.unwrap();
            gmp::spawn(async move {
                let mut buf = [0u8; 64];
                loop {
                    if stream.write_all(&[7u8; 64]).await.is_err() || stream.read_exact(&mut buf).await.is_err() {
                        return;
                    }
                    round_trips.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    spawn_forever_yielding(&rt, 1000);
    let deadline = Instant::now() + Duration::from_secs(30);
    while round_trips.load(Ordering::Relaxed) < 10 * CONNECTIONS {
        assert!(Instant::now() < deadline, "the connections never got busy");
        thread::sleep(Duration::from_millis(1));
    }
    let began = Instant::now();
    within(Duration::from_secs(60), "dropping a loaded runtime", || drop(rt));
    let took = began.elapsed();
    eprintln!("dropping a runtime with 1,000 yielding goroutines and {CONNECTIONS} busy connections took {took:?}");
    assert!(took < Duration::from_secs(10), "the drop took {took:?}");
}

#[test]
fn shutdown_timeout_inside_async_code_panics_without_aborting_the_process() {
    // Before the fix the refusal's panic dropped `self`, whose `Drop` panicked again: "panic
    // in a destructor during cleanup", and the process aborted.
    let outer = gmp::Runtime::new().unwrap();
    let inner = gmp::Builder::new().maxprocs(1).build().unwrap();
    let payload = within(Duration::from_secs(60), "shutdown_timeout inside block_on", || {
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            outer.block_on(async move { inner.shutdown_timeout(Duration::from_secs(1)) })
        }))
        .expect_err("shutdown_timeout inside block_on did not panic")
    });
    assert_refuses_drop_in_async_context(&panic_message(&*payload));
    within(Duration::from_secs(60), "dropping the outer runtime", || drop(outer));
}

#[test]
fn a_runtime_refused_inside_a_goroutine_still_drops_its_goroutines_once_its_threads_exit() {
    // The refused drop used to stop the scheduler without any sweep: the Ms exited, `Shared`
    // was freed, and a parked goroutine whose waker lived on (here: the sender's side of a
    // oneshot) was never dropped; waking it then ran the schedule function on freed memory
    // (AddressSanitizer reports a heap-use-after-free at the `send` below).
    let outer = gmp::Runtime::new().unwrap();
    let inner = gmp::Builder::new().maxprocs(2).build().unwrap();
    let ledger = DropLedger::new(2);
    let (tx, rx) = oneshot::channel::<()>();
    let parked = Arc::new(AtomicBool::new(false));
    drop(inner.spawn({
        let guard = ledger.guard(0);
        let parked = parked.clone();
        async move {
            let _guard = guard;
            parked.store(true, Ordering::Release);
            let _ = rx.await;
        }
    }));
    let inner_handle = inner.handle();
    let queued = inner_handle.spawn({
        let guard = ledger.guard(1);
        async move {
            let _guard = guard;
            futures::future::pending::<()>().await;
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !parked.load(Ordering::Acquire) {
        assert!(Instant::now() < deadline, "the inner goroutine never parked");
        thread::sleep(Duration::from_millis(1));
    }
    let error = within(Duration::from_secs(60), "the goroutine dropping a runtime", || {
        outer.block_on(async move { gmp::spawn(async move { drop(inner) }).await.unwrap_err() })
    });
    assert!(error.is_panic());
    // A spawn after the refusal is cancelled at once.
    let late = inner_handle.spawn(async { 1 });
    let late = within(Duration::from_secs(10), "a spawn after the refusal", || futures::executor::block_on(late));
    assert!(late.unwrap_err().is_cancelled());
    drop(inner_handle);
    // Once the inner runtime's threads have exited, both goroutines are gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    while ledger.0.iter().any(|count| count.load(Ordering::SeqCst) == 0) {
        assert!(Instant::now() < deadline, "the refused runtime's goroutines were never dropped");
        thread::sleep(Duration::from_millis(1));
    }
    ledger.assert_each_dropped_once("a refused drop");
    assert!(tx.send(()).is_err(), "the parked goroutine's receiver is still alive");
    let error =
        within(Duration::from_secs(10), "the queued goroutine's handle", || futures::executor::block_on(queued));
    assert!(error.unwrap_err().is_cancelled());
    drop(outer);
}

#[test]
fn shutdown_background_drops_every_leftover_goroutine() {
    let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
    let leftovers = leave_goroutines_behind(&rt, 500, 500);
    let began = Instant::now();
    within(Duration::from_secs(60), "shutdown_background", || rt.shutdown_background());
    eprintln!("shutdown_background returned after {:?}", began.elapsed());
    // Goroutines an M was still running are dropped when it lets go of the runtime: wait for
    // that (bounded) before checking.
    let deadline = Instant::now() + Duration::from_secs(10);
    while leftovers.ledger.0.iter().any(|count| count.load(Ordering::SeqCst) == 0) {
        assert!(Instant::now() < deadline, "shutdown_background left goroutines undropped");
        thread::sleep(Duration::from_millis(1));
    }
    leftovers.check_after_shutdown("shutdown_background");
}

#[test]
fn shutdown_background_may_be_called_from_async_code() {
    let outer = gmp::Runtime::new().unwrap();
    let inner = gmp::Builder::new().maxprocs(2).build().unwrap();
    spawn_forever_yielding(&inner, 8);
    let handle = inner.spawn(futures::future::pending::<()>());
    within(Duration::from_secs(60), "shutdown_background inside a goroutine", || {
        outer.block_on(async move { gmp::spawn(async move { inner.shutdown_background() }).await.unwrap() })
    });
    let error =
        within(Duration::from_secs(10), "the handle after shutdown_background", || futures::executor::block_on(handle));
    assert!(error.unwrap_err().is_cancelled());
}

/// A goroutine that parks where nothing can wake it (its handle dropped, its waker dropped by
/// `pending()`) is kept alive by the runtime, as Go keeps it: it stays listed, its future is
/// not dropped while the runtime runs, and the shutdown drops it once. (The registry's entry
/// holds no reference to a goroutine's task until it first parks; without the one it takes
/// then, the task would be closed right after that first poll.)
#[test]
fn a_goroutine_parked_where_nothing_can_wake_it_lives_until_shutdown() {
    let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
    let ledger = DropLedger::new(1);
    within(Duration::from_secs(60), "parking a goroutine nobody can wake", || {
        rt.block_on(async {
            let guard = ledger.guard(0);
            let handle = gmp::spawn(async move {
                let _guard = guard;
                futures::future::pending::<()>().await;
            });
            let id = handle.id();
            drop(handle);
            let waiting = || {
                gmp::runtime::goroutines()
                    .iter()
                    .any(|g| g.id == id && g.state == gmp::runtime::GoroutineState::Waiting)
            };
            wait_until("the goroutine is listed as waiting", waiting).await;
            // Plenty of scheduling (and a timer) later, it is still there.
            for _ in 0..200 {
                gmp::yield_now().await;
            }
            gmp::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(ledger.0[0].load(Ordering::SeqCst), 0, "the parked goroutine's future was dropped early");
            assert!(waiting(), "the parked goroutine is no longer listed:\n{}", gmp::runtime::dump());
        })
    });
    within(Duration::from_secs(60), "dropping the runtime", || drop(rt));
    ledger.assert_each_dropped_once("after shutdown");
}

/// `goroutines()`, `dump()` and `num_goroutine()` read every goroutine's header through the
/// registry while goroutines start, park, are aborted and exit on the other P: what they read
/// must be alive (run under AddressSanitizer in CI), and the count returns to where it was.
#[test]
fn listing_goroutines_while_thousands_start_park_and_exit_reads_only_live_ones() {
    let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
    within(Duration::from_secs(120), "listing while goroutines come and go", || {
        rt.block_on(async {
            let before = gmp::runtime::num_goroutine();
            let stop = Arc::new(AtomicBool::new(false));
            let lister = gmp::spawn({
                let stop = stop.clone();
                async move {
                    let mut listed = 0usize;
                    while !stop.load(Ordering::Acquire) {
                        listed += gmp::runtime::goroutines().len();
                        listed += gmp::runtime::dump().len().min(1);
                        listed += gmp::runtime::num_goroutine().min(1);
                        gmp::yield_now().await;
                    }
                    listed
                }
            });
            for round in 0..100 {
                let mut handles = Vec::new();
                for i in 0..100 {
                    handles.push(match i % 4 {
                        // Runs to completion in its first poll.
                        0 => gmp::spawn(async {}),
                        // Parks once, then exits.
                        1 => gmp::spawn(async {
                            let (tx, rx) = oneshot::channel::<()>();
                            gmp::spawn(async move { tx.send(()).unwrap() });
                            rx.await.unwrap();
                        }),
                        // Yields (queued again), then exits.
                        2 => gmp::spawn(gmp::yield_now()),
                        // Aborted, queued or parked.
                        _ => {
                            let handle = gmp::spawn(futures::future::pending::<()>());
                            if round % 2 == 0 {
                                gmp::yield_now().await;
                            }
                            handle.abort();
                            handle
                        }
                    });
                }
                for (i, handle) in handles.into_iter().enumerate() {
                    let outcome = handle.await;
                    assert_eq!(outcome.is_err(), i % 4 == 3, "goroutine {i} of round {round}: {outcome:?}");
                }
            }
            stop.store(true, Ordering::Release);
            assert!(lister.await.unwrap() > 0, "the lister never saw a goroutine");
            wait_until("the count is back where it was", || gmp::runtime::num_goroutine() == before).await;
        })
    });
}
