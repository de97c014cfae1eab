//! Waking `block_on`'s main future (M0's interrupt) leaves the scheduler's books straight and
//! costs no syscalls of other threads:
//!
//! - M0 interrupted while it looks for work (stealing, or lingering on its P) polls the main
//!   future holding its P and not counted as a spinning M (a stale spinner count stops
//!   `wake_if_idle` from waking idle Ps);
//! - a wake while another M is the one blocked in the netpoller leaves that M alone.
//!
//! The tests run one at a time (a lock): the second measures the CPU of the other threads.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
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
                // No goroutine exists, so no M but M0 is ever woken for work. Only on a loaded
                // machine, where the OS can hold a poll of the main future past sysmon's 10 ms
                // bound, may sysmon take M0's P and start a worker M for it; the samples from
                // then on say nothing about M0 and are not counted.
                let stats = gmp::runtime::stats();
                if stats.threads == 0 {
                    spinning += usize::from(stats.spinning_threads > 0);
                    without_p += usize::from(stats.idle_processors == stats.maxprocs);
                    polls += 1;
                }
                wakes.wait().await;
            }
            (spinning, without_p, polls)
        })
    });
    eprintln!("{polls} polls of the main future: {spinning} with a spinner counted, {without_p} without a P");
    assert!(polls > 0, "no poll of the main future was sampled before a worker thread started");
    assert_eq!(spinning, 0, "M0 polled its main future counted as spinning {spinning} times of {polls}");
    assert_eq!(without_p, 0, "M0 polled its main future without a P {without_p} times of {polls}");
}

/// CPU time (user + system, in clock ticks) of every thread of this process but the caller.
fn cpu_of_other_threads() -> Option<u64> {
    let me = std::fs::read_link("/proc/thread-self").ok()?;
    let me = me.file_name()?.to_str()?.to_owned();
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let task = task.ok()?;
        if task.file_name().to_str() == Some(me.as_str()) {
            continue;
        }
        // A thread may exit meanwhile: skip it.
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
        total += fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    }
    Some(total)
}

#[test]
fn waking_the_main_future_does_not_disturb_the_m_blocked_in_the_netpoller() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if cpu_of_other_threads().is_none() {
        eprintln!("SKIP: /proc/self/task/*/stat is not readable, so thread CPU cannot be measured");
        return;
    }
    const WINDOW: Duration = Duration::from_millis(500);
    let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
    let handle = rt.handle();
    let (wakes, ticks) = within(Duration::from_secs(60), "waking the main future", || {
        rt.block_on(async {
            // A goroutine waits on a socket, so an M with nothing to do blocks in the netpoller.
            let listener = gmp::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let acceptor = gmp::spawn(async move {
                let _ = listener.accept().await;
            });
            gmp::time::sleep(Duration::from_millis(10)).await;
            // Wake an M from outside (a spawn onto the global queue); with M0 busy below, that
            // M runs it and then is the one blocked in the netpoller.
            let spawned = std::thread::spawn(move || handle.spawn(async {})).join().unwrap();
            std::thread::sleep(Duration::from_millis(20));
            let before = cpu_of_other_threads().unwrap();
            // The main future wakes itself for the whole window: M0 never parks, so it is
            // never the M in the netpoller, and no wake needs to disturb that M.
            let mut wakes = 0u64;
            let began = Instant::now();
            while began.elapsed() < WINDOW {
                let mut yielded = false;
                poll_fn(|cx| {
                    if yielded {
                        return Poll::Ready(());
                    }
                    yielded = true;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                })
                .await;
                wakes += 1;
            }
            let ticks = cpu_of_other_threads().unwrap() - before;
            acceptor.abort();
            spawned.await.unwrap();
            (wakes, ticks)
        })
    });
    // Clock ticks are 10 ms on Linux (USER_HZ = 100).
    eprintln!("{wakes} wakes of the main future in {WINDOW:?}; the other threads used {ticks} clock ticks of CPU");
    // Before the fix every wake notified the netpoller: the M blocked there came out each
    // time (or never got back into its wait: `notified` was always set again), took the idle
    // P for its linger and went back. Measured on 2 shared cores: 18 ticks (180 ms) in the
    // 500 ms window before the fix, 0 after.
    assert!(ticks * 10 < WINDOW.as_millis() as u64 / 4, "the other threads used {ticks} clock ticks in {WINDOW:?}");
}
