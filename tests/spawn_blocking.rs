//! `spawn_blocking`: calls run in parallel on a pool of threads, capped by
//! `max_blocking_threads` with the rest waiting in FIFO order; values and panics reach the
//! handle; gmp works inside the closure; shutdown cancels queued calls; idle threads exit after
//! the keep-alive; and the panic for a call outside any runtime.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Bound for waits on behaviour; generous so a loaded 2-core machine never flakes.
const PATIENCE: Duration = Duration::from_secs(20);

/// Runs `f`; if it is not done within `PATIENCE`, prints what was waited for and aborts the
/// test process, so a lost wakeup fails the run instead of hanging it.
fn within<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let what = what.to_owned();
    let watchdog = thread::spawn(move || {
        if let Err(RecvTimeoutError::Timeout) = done_rx.recv_timeout(PATIENCE * 2) {
            eprintln!("{what}: not done after {:?}; aborting the test process", PATIENCE * 2);
            std::process::abort();
        }
    });
    let out = f();
    drop(done_tx);
    let _ = watchdog.join();
    out
}

/// Blocks the calling thread until `condition` holds; false if `PATIENCE` runs out first.
fn block_until(mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while !condition() {
        if started.elapsed() > PATIENCE {
            return false;
        }
        thread::sleep(Duration::from_millis(1));
    }
    true
}

/// Counts calls running at once and remembers the most seen.
#[derive(Default)]
struct Concurrency {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Concurrency {
    fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        let result = f();
        self.now.fetch_sub(1, Ordering::SeqCst);
        result
    }

    fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

/// Counts its drops: captured by a closure, it tells whether the closure was dropped.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Runs `calls` blocking sleeps of `each` on `rt` at once; returns the elapsed time and the
/// most calls seen running together.
fn sleep_in_parallel(rt: &gmp::Runtime, calls: usize, each: Duration) -> (Duration, usize) {
    let concurrency = Arc::new(Concurrency::default());
    let started = Instant::now();
    rt.block_on(async {
        let handles: Vec<_> = (0..calls)
            .map(|_| {
                let concurrency = concurrency.clone();
                gmp::spawn_blocking(move || concurrency.run(|| thread::sleep(each)))
            })
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
    });
    (started.elapsed(), concurrency.max())
}

/// Names of this process's threads (Linux: `/proc/self/task/*/comm`, at most 15 bytes).
#[cfg(target_os = "linux")]
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect()
}

#[test]
fn sixty_four_blocking_sleeps_run_in_parallel() {
    let rt = gmp::Runtime::new().unwrap();
    let (elapsed, max) = within("64 blocking sleeps", || sleep_in_parallel(&rt, 64, Duration::from_millis(200)));
    assert!(elapsed < Duration::from_secs(5), "64 sleeps of 200 ms took {elapsed:?}");
    assert!(max >= 32, "only {max} blocking calls ever ran at once");
}

#[test]
fn with_two_blocking_threads_four_sleeps_take_two_rounds() {
    let rt = gmp::Builder::new().max_blocking_threads(2).build().unwrap();
    let (elapsed, max) =
        within("4 blocking sleeps on 2 threads", || sleep_in_parallel(&rt, 4, Duration::from_millis(200)));
    assert!(elapsed >= Duration::from_millis(400), "4 sleeps of 200 ms on 2 threads took only {elapsed:?}");
    assert!(max <= 2, "{max} blocking calls ran at once with max_blocking_threads(2)");
}

#[test]
fn blocking_calls_return_their_values() {
    let rt = gmp::Runtime::new().unwrap();
    let sum = within("100 blocking calls", || {
        rt.block_on(async {
            let handles: Vec<_> = (0..100u64).map(|i| gmp::spawn_blocking(move || i * i)).collect();
            let mut sum = 0;
            for handle in handles {
                sum += handle.await.unwrap();
            }
            sum
        })
    });
    assert_eq!(sum, (0..100u64).map(|i| i * i).sum::<u64>());
}

#[test]
fn a_panic_in_a_blocking_call_reaches_its_handle_and_the_pool_keeps_working() {
    // One thread: if the panic killed it, the next call would never run.
    let rt = gmp::Builder::new().max_blocking_threads(1).build().unwrap();
    within("a call after a panicking one", || {
        rt.block_on(async {
            let err = gmp::spawn_blocking(|| -> u32 { panic!("boom in a blocking call") }).await.unwrap_err();
            assert!(err.is_panic());
            assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "boom in a blocking call");
            assert_eq!(gmp::spawn_blocking(|| 7).await.unwrap(), 7);
        })
    });
}

#[test]
fn calls_beyond_the_cap_start_in_the_order_they_were_made() {
    let rt = gmp::Builder::new().max_blocking_threads(1).build().unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    within("20 queued calls", || {
        rt.block_on(async {
            // Hold the only thread until every call is queued behind it.
            let all_queued = Arc::new(AtomicBool::new(false));
            let release = all_queued.clone();
            let holder = gmp::spawn_blocking(move || block_until(|| release.load(Ordering::Acquire)));
            let handles: Vec<_> = (0..20)
                .map(|i| {
                    let order = order.clone();
                    gmp::spawn_blocking(move || order.lock().unwrap().push(i))
                })
                .collect();
            all_queued.store(true, Ordering::Release);
            assert!(holder.await.unwrap());
            for handle in handles {
                handle.await.unwrap();
            }
        })
    });
    assert_eq!(*order.lock().unwrap(), (0..20).collect::<Vec<_>>());
}

#[test]
fn gmp_spawn_and_handle_current_work_inside_a_blocking_call() {
    let rt = gmp::Runtime::new().unwrap();
    let (a, b) = within("goroutines spawned from a blocking call", || {
        rt.block_on(async {
            let (first, second) = gmp::spawn_blocking(|| {
                let first = gmp::spawn(async { 40 });
                let second = gmp::Handle::current().spawn(async { 2 });
                (first, second)
            })
            .await
            .unwrap();
            (first.await.unwrap(), second.await.unwrap())
        })
    });
    assert_eq!(a + b, 42);
}

#[test]
fn spawn_blocking_inside_a_blocking_call_works() {
    let rt = gmp::Builder::new().max_blocking_threads(1).build().unwrap();
    let value = within("a nested blocking call", || {
        rt.block_on(async {
            // With one thread the inner call waits for the outer one to return.
            let inner = gmp::spawn_blocking(|| gmp::spawn_blocking(|| 5)).await.unwrap();
            inner.await.unwrap()
        })
    });
    assert_eq!(value, 5);
}

#[test]
fn a_handle_spawns_blocking_calls_from_a_plain_thread() {
    let rt = gmp::Runtime::new().unwrap();
    let handle = rt.handle();
    let call = thread::spawn(move || handle.spawn_blocking(|| "from a plain thread")).join().unwrap();
    assert_eq!(within("a call from a plain thread", || rt.block_on(call)).unwrap(), "from a plain thread");
}

#[test]
#[should_panic(expected = "gmp::spawn_blocking must be called from inside a gmp runtime")]
fn spawn_blocking_outside_a_runtime_panics_with_what_to_do() {
    drop(gmp::spawn_blocking(|| ()));
}

#[test]
fn a_queued_call_cancelled_through_its_handle_never_runs() {
    let rt = gmp::Builder::new().max_blocking_threads(1).build().unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let drops = Arc::new(AtomicUsize::new(0));
    within("cancelling a queued call", || {
        rt.block_on(async {
            let release = Arc::new(AtomicBool::new(false));
            let release2 = release.clone();
            let holder = gmp::spawn_blocking(move || block_until(|| release2.load(Ordering::Acquire)));
            let guard = DropCounter(drops.clone());
            let ran2 = ran.clone();
            let queued = gmp::spawn_blocking(move || {
                let _guard = guard;
                ran2.store(true, Ordering::SeqCst);
            });
            // `cancel` returns once the call's closure is dropped, which happens when the call
            // reaches the front of the queue: run it beside the holder, noting its first poll
            // (which marks the call cancelled).
            let polled = Arc::new(AtomicBool::new(false));
            let polled2 = polled.clone();
            let cancel = gmp::spawn(async move {
                let mut cancel = std::pin::pin!(queued.cancel());
                let first = futures::poll!(cancel.as_mut());
                polled2.store(true, Ordering::Release);
                match first {
                    std::task::Poll::Ready(output) => output,
                    std::task::Poll::Pending => cancel.await,
                }
            });
            while !polled.load(Ordering::Acquire) {
                gmp::yield_now().await;
            }
            release.store(true, Ordering::Release);
            assert!(holder.await.unwrap());
            assert_eq!(cancel.await.unwrap(), None);
        })
    });
    assert!(!ran.load(Ordering::SeqCst), "a cancelled call ran");
    assert_eq!(drops.load(Ordering::SeqCst), 1, "the cancelled call's closure was not dropped once");
}

#[test]
fn shutdown_cancels_queued_blocking_calls_and_drops_their_closures() {
    const QUEUED: usize = 8;
    let rt = gmp::Builder::new().max_blocking_threads(1).build().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    let (running, queued) = rt.block_on(async {
        let started = Arc::new(AtomicBool::new(false));
        let started2 = started.clone();
        let drops2 = drops.clone();
        // Holds the only thread until shutdown has dropped every queued call.
        let running = gmp::spawn_blocking(move || {
            started2.store(true, Ordering::Release);
            block_until(|| drops2.load(Ordering::SeqCst) == QUEUED)
        });
        assert!(block_until(|| started.load(Ordering::Acquire)));
        let queued: Vec<_> = (0..QUEUED)
            .map(|_| {
                let guard = DropCounter(drops.clone());
                let ran = ran.clone();
                gmp::spawn_blocking(move || {
                    let _guard = guard;
                    ran.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        (running, queued)
    });
    within("shutdown with queued blocking calls", || drop(rt));
    assert_eq!(ran.load(Ordering::SeqCst), 0, "a queued call ran during shutdown");
    assert_eq!(drops.load(Ordering::SeqCst), QUEUED, "queued closures were not each dropped once");
    // The handles outlive their runtime; await them on another.
    let other = gmp::Runtime::new().unwrap();
    other.block_on(async {
        assert!(running.await.unwrap(), "the running call did not see the queued ones dropped");
        for handle in queued {
            assert!(handle.await.unwrap_err().is_cancelled());
        }
    });
}

#[test]
fn a_blocking_call_after_shutdown_through_a_handle_is_cancelled() {
    let rt = gmp::Runtime::new().unwrap();
    let handle = rt.handle();
    drop(rt);
    let drops = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(drops.clone());
    let call = handle.spawn_blocking(move || drop(guard));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    let other = gmp::Runtime::new().unwrap();
    assert!(other.block_on(call).unwrap_err().is_cancelled());
}

#[cfg(target_os = "linux")]
#[test]
fn idle_blocking_threads_exit_after_the_keep_alive() {
    // "gmpka-blocking" fits in the 15 bytes Linux keeps of a thread name.
    let rt = gmp::Builder::new().thread_name("gmpka").blocking_keep_alive(Duration::from_millis(100)).build().unwrap();
    let pool_threads = || thread_names().iter().filter(|name| *name == "gmpka-blocking").count();
    let seen = within("4 blocking calls", || {
        rt.block_on(async {
            let started = Arc::new(AtomicUsize::new(0));
            let release = Arc::new(AtomicBool::new(false));
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let (started, release) = (started.clone(), release.clone());
                    gmp::spawn_blocking(move || {
                        started.fetch_add(1, Ordering::SeqCst);
                        block_until(|| release.load(Ordering::Acquire))
                    })
                })
                .collect();
            // All four busy at once: four threads exist.
            assert!(block_until(|| started.load(Ordering::SeqCst) == 4));
            let seen = pool_threads();
            release.store(true, Ordering::Release);
            for handle in handles {
                assert!(handle.await.unwrap());
            }
            seen
        })
    });
    assert_eq!(seen, 4, "the pool did not start one named thread per concurrent call");
    assert!(block_until(|| pool_threads() == 0), "{} idle pool threads still alive", pool_threads());
    // The pool starts threads again after they left.
    let value = within("a call after the threads exited", || rt.block_on(async { gmp::spawn_blocking(|| 9).await }));
    assert_eq!(value.unwrap(), 9);
}
