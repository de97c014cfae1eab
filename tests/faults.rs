//! Faults injected on purpose: a panic in a goroutine's `Drop` during shutdown, wakers that
//! panic when the runtime's own threads call them (timers, the netpoller), a future that wakes
//! itself from its own `Drop`, spawns racing the runtime's shutdown (from goroutines and from
//! plain threads), a storm of 10,000 connect/close pairs, `max_threads` reached while
//! goroutines block, and `block_on` called inside a goroutine. In each case: a clear error
//! where one is due, nothing lost, nothing hung, and the runtime keeps working.
//!
//! (Running out of descriptors under load is in `emfile.rs`, which needs a child process.)

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, Once};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use futures::io::AsyncReadExt;
use gmp::net::{TcpListener, TcpStream, UnixStream};

mod common;
use common::{panic_message, within};

const DELIBERATE: &str = "faults: deliberate panic";

/// Keeps deliberate panics off stderr (tests of this file run in parallel, so once for all).
fn quiet_deliberate_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&DELIBERATE) {
                default_hook(info);
            }
        }));
    });
}

/// Counts its drops, and panics in the drop if `panic` is set.
struct DropProbe {
    drops: Arc<AtomicUsize>,
    panic: bool,
}

impl Drop for DropProbe {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
        if self.panic {
            std::panic::panic_any(DELIBERATE);
        }
    }
}

/// A runtime with a small pool, so spawns from plain threads go through its global queue.
fn runtime(maxprocs: usize) -> gmp::Runtime {
    gmp::Builder::new().maxprocs(maxprocs).build().unwrap()
}

/// `count` goroutines that each finish after a yield; returns how many did.
async fn run_goroutines(count: usize) -> usize {
    let done = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..count)
        .map(|_| {
            let done = done.clone();
            gmp::spawn(async move {
                gmp::yield_now().await;
                done.fetch_add(1, SeqCst);
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    done.load(SeqCst)
}

#[test]
fn a_panic_in_a_goroutines_drop_during_shutdown_drops_every_other_goroutine_and_returns() {
    quiet_deliberate_panics();
    for maxprocs in [1, 4] {
        let rt = runtime(maxprocs);
        let drops = Arc::new(AtomicUsize::new(0));
        let panicking_drops = Arc::new(AtomicUsize::new(0));
        const EACH: usize = 500;
        let handles = within(Duration::from_secs(60), "setting up", || {
            rt.block_on(async {
                let mut handles = Vec::new();
                for i in 0..EACH {
                    // Parked forever, some holding a probe that panics when dropped.
                    let probe = DropProbe { drops: drops.clone(), panic: false };
                    let bomb = DropProbe { drops: panicking_drops.clone(), panic: true };
                    let parked = gmp::spawn(async move {
                        let _probe = probe;
                        let _bomb = bomb;
                        std::future::pending::<()>().await;
                    });
                    // Still queued at shutdown: never polled.
                    let probe = DropProbe { drops: drops.clone(), panic: false };
                    let queued = gmp::spawn(async move {
                        let _probe = probe;
                    });
                    if i % 10 == 0 {
                        handles.push(parked);
                        handles.push(queued);
                    }
                }
                gmp::yield_now().await;
                handles
            })
        });
        within(Duration::from_secs(60), "dropping a runtime whose goroutines panic in drop", || drop(rt));
        assert_eq!(panicking_drops.load(SeqCst), EACH, "maxprocs {maxprocs}: a panicking drop was skipped");
        // The probe of a parked goroutine is dropped before its bomb (fields drop in order)
        // only when the bomb does not panic first; either way every probe must be dropped.
        assert_eq!(drops.load(SeqCst), 2 * EACH, "maxprocs {maxprocs}: a goroutine was never dropped");
        within(Duration::from_secs(30), "handles after the shutdown", || {
            for handle in handles {
                // A queued goroutine may have run to completion before the drop.
                if let Err(error) = futures::executor::block_on(handle) {
                    assert!(error.is_cancelled() || error.is_panic(), "{error:?}");
                }
            }
        });
    }
}

#[test]
fn a_panic_in_a_goroutines_drop_on_cancel_is_contained() {
    quiet_deliberate_panics();
    let rt = runtime(2);
    let drops = Arc::new(AtomicUsize::new(0));
    within(Duration::from_secs(60), "cancelling goroutines whose drops panic", || {
        rt.block_on(async {
            for _ in 0..200 {
                let bomb = DropProbe { drops: drops.clone(), panic: true };
                let handle = gmp::spawn(async move {
                    let _bomb = bomb;
                    std::future::pending::<()>().await;
                });
                gmp::yield_now().await;
                assert_eq!(handle.cancel().await, None);
            }
            assert_eq!(run_goroutines(1000).await, 1000, "the runtime stopped running goroutines");
        })
    });
    assert_eq!(drops.load(SeqCst), 200);
}

/// A waker that panics every time it is woken.
struct PanickingWaker(AtomicUsize);

impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
        std::panic::panic_any(DELIBERATE);
    }
}

/// After wakers panicked inside the runtime: goroutines run, timers fire, I/O wakes, and
/// sysmon (which must be alive) still gets goroutines out from behind a blocked poll.
fn assert_runtime_still_works(rt: &gmp::Runtime, what: &str) {
    within(Duration::from_secs(60), what, || {
        rt.block_on(async {
            assert_eq!(run_goroutines(1000).await, 1000, "{what}: goroutines stopped running");
            let started = Instant::now();
            gmp::time::sleep(Duration::from_millis(20)).await;
            assert!(started.elapsed() >= Duration::from_millis(20));
            let (a, mut b) = UnixStream::pair().unwrap();
            let reader = gmp::spawn(async move {
                let mut buf = [0u8; 2];
                b.read_exact(&mut buf).await.unwrap();
                buf
            });
            gmp::time::sleep(Duration::from_millis(5)).await;
            futures::io::AsyncWriteExt::write_all(&mut &a, b"ok").await.unwrap();
            assert_eq!(&reader.await.unwrap(), b"ok", "{what}: I/O stopped waking goroutines");
        })
    });
    // A goroutine blocking its thread while another waits behind it on its P: only sysmon's
    // handoff gets the second one out.
    let ran = within(Duration::from_secs(60), "a handoff after the panics", || {
        rt.block_on(async {
            gmp::spawn(async {
                let ran = Arc::new(AtomicBool::new(false));
                let ran2 = ran.clone();
                drop(gmp::spawn(async move { ran2.store(true, SeqCst) }));
                let deadline = Instant::now() + Duration::from_secs(20);
                while !ran.load(SeqCst) && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(1));
                }
                ran.load(SeqCst)
            })
            .await
            .unwrap()
        })
    });
    assert!(ran, "{what}: a goroutine stuck behind a blocked poll never ran (is sysmon alive?)");
}

/// A sleep of `duration` polled once with `waker`, so its timer holds that waker. A sleep
/// whose first poll came only after its deadline (a loaded machine kept this thread off the
/// CPU for the millisecond between making and polling it) completes there, registering
/// nothing: another is made until one is pending.
fn pending_sleep(duration: Duration, waker: &Waker) -> Pin<Box<gmp::time::Sleep>> {
    for _ in 0..100 {
        let made = Instant::now();
        let mut sleep = Box::pin(gmp::time::sleep(duration));
        if sleep.as_mut().poll(&mut Context::from_waker(waker)).is_pending() {
            return sleep;
        }
        assert!(made.elapsed() >= duration, "a {duration:?} sleep completed at its first poll, before its deadline");
    }
    panic!("100 sleeps of {duration:?} were all over by their first poll");
}

#[test]
fn timer_wakers_that_panic_when_the_timer_fires_do_not_take_down_the_runtime() {
    quiet_deliberate_panics();
    let rt = runtime(1);
    let waker = Arc::new(PanickingWaker(AtomicUsize::new(0)));
    // Sleeps polled with the panicking waker, kept alive (outside any goroutine) until they
    // have fired: whichever runtime thread fires a timer calls that waker.
    let sleeps: Arc<Mutex<Vec<Pin<Box<gmp::time::Sleep>>>>> = Arc::default();
    rt.block_on({
        let (waker, sleeps) = (waker.clone(), sleeps.clone());
        async move {
            let waker = Waker::from(waker);
            for i in 0..20 {
                sleeps.lock().unwrap().push(pending_sleep(Duration::from_millis(1 + i), &waker));
            }
        }
    });
    // Fire them while the runtime is idle (sysmon or a parked M's netpoll wait fires them)...
    let deadline = Instant::now() + Duration::from_secs(30);
    while waker.0.load(SeqCst) < 20 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    // ...and while it is busy (the P's owner fires them between polls).
    rt.block_on({
        let (waker, sleeps) = (waker.clone(), sleeps.clone());
        async move {
            let waker = Waker::from(waker);
            for i in 0..20 {
                sleeps.lock().unwrap().push(pending_sleep(Duration::from_millis(1 + i % 3), &waker));
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline && gmp::runtime::stats().pending_timers > 0 {
                gmp::yield_now().await;
            }
        }
    });
    let woken = waker.0.load(SeqCst);
    assert!(woken >= 20, "only {woken} of 40 panicking timer wakers were called");
    assert_runtime_still_works(&rt, "after timer wakers panicked");
    drop(sleeps);
}

#[test]
fn io_wakers_that_panic_when_readiness_arrives_do_not_take_down_the_runtime() {
    quiet_deliberate_panics();
    let rt = runtime(2);
    let waker = Arc::new(PanickingWaker(AtomicUsize::new(0)));
    let mut pairs = Vec::new();
    rt.block_on(async {
        let waker = Waker::from(waker.clone());
        for _ in 0..20 {
            let (a, b) = UnixStream::pair().unwrap();
            {
                let mut buf = [0u8; 1];
                let mut reader = &b;
                let mut read = reader.read(&mut buf);
                assert!(Pin::new(&mut read).poll(&mut Context::from_waker(&waker)).is_pending());
            }
            pairs.push((a, b));
        }
    });
    // Readiness arrives while the runtime is idle (an M blocked in the netpoller, or sysmon's
    // backstop poll, delivers it) and while it is busy.
    for (a, _) in &pairs[..10] {
        std::io::Write::write_all(&mut &*std_stream(a), b"x").unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while waker.0.load(SeqCst) < 10 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    rt.block_on(async {
        for (a, _) in &pairs[10..] {
            futures::io::AsyncWriteExt::write_all(&mut &*a, b"x").await.unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while waker.0.load(SeqCst) < 20 && Instant::now() < deadline {
            gmp::yield_now().await;
        }
    });
    let woken = waker.0.load(SeqCst);
    assert_eq!(woken, 20, "only {woken} of 20 panicking I/O wakers were called");
    assert_runtime_still_works(&rt, "after I/O wakers panicked");
    drop(pairs);
}

/// A borrowed std view of a gmp stream, for writing from a plain thread.
fn std_stream(stream: &UnixStream) -> std::mem::ManuallyDrop<std::os::unix::net::UnixStream> {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: the fd stays open while `stream` lives, and ManuallyDrop never closes it.
    std::mem::ManuallyDrop::new(unsafe { std::os::unix::net::UnixStream::from_raw_fd(stream.as_raw_fd()) })
}

/// Pending forever; wakes its own goroutine from its drop.
struct WakesItselfOnDrop {
    waker: Option<Waker>,
    drops: Arc<AtomicUsize>,
}

impl Future for WakesItselfOnDrop {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for WakesItselfOnDrop {
    fn drop(&mut self) {
        self.drops.fetch_add(1, SeqCst);
        if let Some(waker) = self.waker.take() {
            waker.wake_by_ref();
            waker.wake();
        }
    }
}

#[test]
fn a_future_that_wakes_itself_from_its_own_drop_is_dropped_once_on_cancel_and_at_shutdown() {
    let rt = runtime(2);
    let drops = Arc::new(AtomicUsize::new(0));
    const EACH: usize = 300;
    within(Duration::from_secs(60), "cancelling self-waking futures", || {
        rt.block_on(async {
            for _ in 0..EACH {
                let handle = gmp::spawn(WakesItselfOnDrop { waker: None, drops: drops.clone() });
                gmp::yield_now().await;
                assert_eq!(handle.cancel().await, None);
            }
            // Goroutines that finish by dropping such a future inside their own poll.
            for _ in 0..EACH {
                let drops = drops.clone();
                gmp::spawn(async move {
                    let mut inner = WakesItselfOnDrop { waker: None, drops };
                    let _ = futures::poll!(&mut inner);
                    drop(inner);
                    gmp::yield_now().await;
                })
                .await
                .unwrap();
            }
            for _ in 0..EACH {
                drop(gmp::spawn(WakesItselfOnDrop { waker: None, drops: drops.clone() }));
            }
            gmp::yield_now().await;
        })
    });
    within(Duration::from_secs(60), "dropping the runtime", || drop(rt));
    assert_eq!(drops.load(SeqCst), 3 * EACH, "a self-waking future was dropped too often or never");
}

/// Counts the drops of the futures it is built into, and whether they ran to the end.
#[derive(Default)]
struct SpawnLedger {
    made: AtomicUsize,
    dropped: AtomicUsize,
    finished: AtomicUsize,
}

impl SpawnLedger {
    fn future(self: &Arc<Self>) -> impl Future<Output = ()> + Send + 'static {
        self.made.fetch_add(1, SeqCst);
        let ledger = self.clone();
        let guard = LedgerGuard(self.clone());
        async move {
            let _guard = guard;
            gmp::yield_now().await;
            ledger.finished.fetch_add(1, SeqCst);
        }
    }
}

struct LedgerGuard(Arc<SpawnLedger>);

impl Drop for LedgerGuard {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, SeqCst);
    }
}

/// Spawns in a loop until the runtime refuses, then spawns from its own drop too.
struct SpawnsOnDrop {
    ledger: Arc<SpawnLedger>,
    handle: gmp::Handle,
}

impl Drop for SpawnsOnDrop {
    fn drop(&mut self) {
        for _ in 0..10 {
            drop(self.handle.spawn(self.ledger.future()));
        }
    }
}

#[test]
fn spawns_racing_shutdown_from_goroutines_and_plain_threads_are_run_or_dropped_exactly_once() {
    for round in 0..5 {
        let rt = runtime(1 + round % 3);
        let ledger = Arc::new(SpawnLedger::default());
        let handle = rt.handle();
        // Goroutines that keep spawning, and whose futures spawn when dropped at shutdown.
        // They nap between spawns: a P whose queue never empties keeps its M from seeing the
        // shutdown (see dropping_a_runtime_whose_goroutines_yield_forever_returns).
        rt.block_on(async {
            for _ in 0..8 {
                let (ledger, handle) = (ledger.clone(), handle.clone());
                drop(gmp::spawn(async move {
                    let _spawns_on_drop = SpawnsOnDrop { ledger: ledger.clone(), handle };
                    loop {
                        drop(gmp::spawn(ledger.future()));
                        gmp::time::sleep(Duration::from_micros(200)).await;
                    }
                }));
            }
            gmp::yield_now().await;
        });
        // Plain threads spawning through handles while the runtime is dropped.
        let stop = Arc::new(AtomicBool::new(false));
        let results: Vec<_> = (0..3)
            .map(|_| {
                let (ledger, handle, stop) = (ledger.clone(), handle.clone(), stop.clone());
                thread::spawn(move || {
                    let mut handles = Vec::new();
                    while !stop.load(SeqCst) || handles.len() < 10 {
                        handles.push(handle.spawn(ledger.future()));
                        if handles.len() > 20_000 {
                            break;
                        }
                    }
                    // After the drop: a spawn is refused at once, as cancelled.
                    handles.push(handle.spawn(ledger.future()));
                    handles
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(20));
        drop(handle);
        within(Duration::from_secs(60), "dropping a runtime while spawns race it", || drop(rt));
        stop.store(true, SeqCst);
        let mut awaited = 0;
        within(Duration::from_secs(60), "handles of spawns that raced the shutdown", || {
            for spawner in results {
                for handle in spawner.join().unwrap() {
                    match futures::executor::block_on(handle) {
                        Ok(()) => {}
                        Err(error) => assert!(error.is_cancelled(), "{error:?}"),
                    }
                    awaited += 1;
                }
            }
        });
        let (made, dropped, finished) =
            (ledger.made.load(SeqCst), ledger.dropped.load(SeqCst), ledger.finished.load(SeqCst));
        assert_eq!(dropped, made, "round {round}: {made} futures spawned but {dropped} dropped");
        assert!(finished <= made);
        eprintln!("round {round}: {made} spawns raced the shutdown ({finished} ran, {awaited} awaited from threads)");
    }
}

#[test]
fn ten_thousand_connect_and_close_pairs_are_all_accepted_and_leak_nothing() {
    const CONNECTIONS: usize = 10_000;
    const WAVE: usize = 100;
    let fds_before = std::fs::read_dir("/proc/self/fd").unwrap().count();
    let rt = runtime(2);
    let accepted = within(Duration::from_secs(120), "the connect/close storm", || {
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let accepted = Arc::new(AtomicUsize::new(0));
            let server = gmp::spawn({
                let accepted = accepted.clone();
                async move {
                    while accepted.load(SeqCst) < CONNECTIONS {
                        let (stream, _) = listener.accept().await.expect("accept during the storm");
                        accepted.fetch_add(1, SeqCst);
                        drop(stream);
                    }
                }
            });
            for _ in 0..CONNECTIONS / WAVE {
                let wave: Vec<_> = (0..WAVE)
                    .map(|_| {
                        gmp::spawn(async move {
                            let stream = TcpStream::connect(addr).await.expect("connect during the storm");
                            drop(stream);
                        })
                    })
                    .collect();
                for client in wave {
                    client.await.unwrap();
                }
            }
            server.await.unwrap();
            accepted.load(SeqCst)
        })
    });
    assert_eq!(accepted, CONNECTIONS);
    drop(rt);
    // Descriptors other tests open meanwhile come and go; ours must all be closed.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut fds_after = std::fs::read_dir("/proc/self/fd").unwrap().count();
    while fds_after > fds_before + 20 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
        fds_after = std::fs::read_dir("/proc/self/fd").unwrap().count();
    }
    assert!(fds_after <= fds_before + 20, "{fds_before} descriptors before the storm, {fds_after} after");
}

#[test]
fn with_max_threads_reached_while_goroutines_block_the_work_waits_and_none_is_lost() {
    const MAX_THREADS: usize = 3;
    let rt = gmp::Builder::new().maxprocs(2).max_threads(MAX_THREADS).build().unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let most_threads = Arc::new(AtomicUsize::new(0));
    let (finished, blocked_for) = within(Duration::from_secs(120), "work behind blocked threads", || {
        rt.block_on(async {
            let started = Instant::now();
            // More blockers than threads: some block in a poll, some inside syscall.
            let blockers: Vec<_> = (0..2 * MAX_THREADS)
                .map(|i| {
                    gmp::spawn(async move {
                        if i % 2 == 0 {
                            thread::sleep(Duration::from_millis(200));
                        } else {
                            gmp::syscall(|| thread::sleep(Duration::from_millis(200)));
                        }
                    })
                })
                .collect();
            let workers: Vec<_> = (0..2000)
                .map(|_| {
                    let (done, most_threads) = (done.clone(), most_threads.clone());
                    gmp::spawn(async move {
                        most_threads.fetch_max(gmp::runtime::stats().threads, SeqCst);
                        gmp::yield_now().await;
                        done.fetch_add(1, SeqCst);
                    })
                })
                .collect();
            for handle in blockers.into_iter().chain(workers) {
                handle.await.unwrap();
            }
            (done.load(SeqCst), started.elapsed())
        })
    });
    assert_eq!(finished, 2000, "work was lost behind the blocked threads");
    let most = most_threads.load(SeqCst);
    eprintln!("2000 goroutines done behind {} blockers in {blocked_for:?}; at most {most} threads", 2 * MAX_THREADS);
    assert!(most <= MAX_THREADS, "{most} worker threads with max_threads = {MAX_THREADS}");
}

#[test]
fn block_on_inside_a_goroutine_is_a_clear_panic_not_a_hang() {
    quiet_deliberate_panics();
    let rt = runtime(2);
    let other = Arc::new(runtime(1));
    within(Duration::from_secs(60), "block_on inside a goroutine", || {
        rt.block_on(async {
            // A goroutine of this runtime calls another runtime's block_on.
            let nested_other = {
                let other = other.clone();
                gmp::spawn(async move { other.block_on(async { 1 }) })
            };
            let error = nested_other.await.expect_err("block_on inside a goroutine returned");
            let message = panic_message(&*error.into_panic());
            assert!(message.contains("block_on") && message.contains("inside"), "unclear message: {message}");
            assert_eq!(run_goroutines(100).await, 100, "the runtime stopped after the refused block_on");
        })
    });
    // The main future may not block_on either (it is M0's poll).
    let error =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(async { other.block_on(async {}) })))
            .expect_err("block_on inside block_on returned");
    let message = panic_message(&*error);
    assert!(message.contains("block_on"), "unclear message: {message}");
    // Both runtimes still work after the refusals.
    assert_eq!(within(Duration::from_secs(60), "after", || rt.block_on(run_goroutines(100))), 100);
    assert_eq!(within(Duration::from_secs(60), "after", || other.block_on(run_goroutines(100))), 100);
}

#[test]
fn dropping_a_runtime_whose_goroutines_yield_forever_returns() {
    for maxprocs in [1, 2] {
        let rt = runtime(maxprocs);
        let running = Arc::new(AtomicUsize::new(0));
        rt.block_on(async {
            for _ in 0..4 {
                let running = running.clone();
                drop(gmp::spawn(async move {
                    running.fetch_add(1, SeqCst);
                    loop {
                        gmp::yield_now().await;
                    }
                }));
            }
            while running.load(SeqCst) < 4 {
                gmp::yield_now().await;
            }
        });
        within(Duration::from_secs(30), "dropping a runtime busy with yielding goroutines", || drop(rt));
    }
}
