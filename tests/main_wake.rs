//! Waking `block_on`'s main future (M0's interrupt) leaves the scheduler's books straight and
//! costs no syscalls of other threads:
//!
//! - M0 interrupted while it looks for work (stealing, or lingering on its P) polls the main
//!   future holding its P and not counted as a spinning M (a stale spinner count stops
//!   `wake_if_idle` from waking idle Ps);
//! - a wake while another M is the one blocked in the netpoller does not break that M's wait.
//!
//! The tests run one at a time (a lock): the second counts the process's write syscalls.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

mod common;
use common::within;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A thread that wakes the main future each time it has returned `Pending`, after a delay
/// that sweeps 0–40 µs, so the wake lands at every point of M0's search for work.
struct Waker_ {
    waker: Arc<Mutex<Option<Waker>>>,
    pending: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Waker_ {
    fn start() -> Self {
        let waker: Arc<Mutex<Option<Waker>>> = Arc::default();
        let pending = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let (waker, pending, stop) = (waker.clone(), pending.clone(), stop.clone());
            move || {
                let mut round = 0u64;
                while !stop.load(Ordering::Acquire) {
                    if !pending.swap(false, Ordering::AcqRel) {
                        std::hint::spin_loop();
                        continue;
                    }
                    round += 1;
                    let delay = Duration::from_nanos((round * 7919) % 40_000);
                    let began = Instant::now();
                    while began.elapsed() < delay {
                        std::hint::spin_loop();
                    }
                    if let Some(waker) = waker.lock().unwrap().take() {
                        waker.wake();
                    }
                }
            }
        });
        Self { waker, pending, stop, thread: Some(thread) }
    }

    /// Parks the main future until the thread wakes it.
    async fn wait(&self) {
        let mut armed = false;
        poll_fn(|cx| {
            if armed {
                return Poll::Ready(());
            }
            armed = true;
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            self.pending.store(true, Ordering::Release);
            Poll::Pending
        })
        .await
    }
}

impl Drop for Waker_ {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(waker) = self.waker.lock().unwrap().take() {
            waker.wake();
        }
        let _ = self.thread.take().unwrap().join();
    }
}

#[test]
fn an_interrupted_m0_polls_the_main_future_holding_its_p_and_not_spinning() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
    let (spinning, without_p, polls) = within(Duration::from_secs(60), "waking the main future", || {
        rt.block_on(async {
            let wakes = Waker_::start();
            let (mut spinning, mut without_p, mut polls) = (0, 0, 0);
            let began = Instant::now();
            while polls < 20_000 && began.elapsed() < Duration::from_secs(3) {
                // Nothing else runs: no goroutine exists, so no M but M0 was ever woken.
                let stats = gmp::runtime::stats();
                spinning += usize::from(stats.spinning_threads > 0);
                without_p += usize::from(stats.idle_processors == stats.maxprocs);
                polls += 1;
                wakes.wait().await;
            }
            (spinning, without_p, polls)
        })
    });
    eprintln!("{polls} polls of the main future: {spinning} with a spinner counted, {without_p} without a P");
    assert_eq!(spinning, 0, "M0 polled its main future counted as spinning {spinning} times of {polls}");
    assert_eq!(without_p, 0, "M0 polled its main future without a P {without_p} times of {polls}");
}

/// Write syscalls made by this process so far (Linux task I/O accounting).
fn write_syscalls() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines().find_map(|line| line.strip_prefix("syscw: ")).and_then(|n| n.trim().parse().ok())
}

#[test]
fn waking_the_main_future_does_not_break_another_ms_netpoll_wait() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if write_syscalls().is_none() {
        eprintln!("SKIP: /proc/self/io is not available, so write syscalls cannot be counted");
        return;
    }
    const WAKES: usize = 2_000;
    let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
    let writes = within(Duration::from_secs(60), "waking the main future", || {
        rt.block_on(async {
            // M1 ends up blocked in the netpoller (a timer is pending), while M0 stays busy
            // with a goroutine that yields and never parks.
            let sleeper = gmp::spawn(gmp::time::sleep(Duration::from_secs(60)));
            let stop = Arc::new(AtomicBool::new(false));
            let yields = Arc::new(AtomicUsize::new(0));
            let yielder = gmp::spawn({
                let (stop, yields) = (stop.clone(), yields.clone());
                async move {
                    while !stop.load(Ordering::Relaxed) {
                        yields.fetch_add(1, Ordering::Relaxed);
                        gmp::yield_now().await;
                    }
                }
            });
            gmp::time::sleep(Duration::from_millis(50)).await;
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let waker: Arc<Mutex<Option<Waker>>> = Arc::default();
            let thread = std::thread::spawn({
                let waker = waker.clone();
                move || {
                    for () in rx {
                        loop {
                            if let Some(waker) = waker.lock().unwrap().take() {
                                waker.wake();
                                break;
                            }
                            std::thread::yield_now();
                        }
                    }
                }
            });
            let before = write_syscalls().unwrap();
            for _ in 0..WAKES {
                let mut armed = false;
                poll_fn(|cx| {
                    if armed {
                        return Poll::Ready(());
                    }
                    armed = true;
                    *waker.lock().unwrap() = Some(cx.waker().clone());
                    tx.send(()).unwrap();
                    Poll::Pending
                })
                .await;
            }
            let writes = write_syscalls().unwrap() - before;
            drop(tx);
            thread.join().unwrap();
            stop.store(true, Ordering::Relaxed);
            yielder.await.unwrap();
            sleeper.abort();
            writes
        })
    });
    eprintln!("{WAKES} wakes of the main future made {writes} write syscalls");
    // Before the fix every wake wrote to the netpoller's socket pair to break M1's wait.
    assert!(writes < (WAKES / 10) as u64, "{WAKES} wakes of the main future made {writes} write syscalls");
}
