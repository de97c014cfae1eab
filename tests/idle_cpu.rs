//! An idle runtime burns no CPU: no spinning Ms, no sysmon ticking away, whether the runtime is
//! simply unused or the calling thread sits in `block_on` with goroutines parked.
//!
//! This file holds a single test so that it runs in a process of its own: the CPU time read
//! from /proc/self/stat is the whole process's.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use futures::channel::oneshot;

mod common;
use common::within;

const IDLE: Duration = Duration::from_secs(2);
/// The idle CPU budget must stay under 50 ms: 5 clock ticks of 100 Hz
/// (`sysconf(_SC_CLK_TCK)` is 100 on Linux).
const BUDGET_TICKS: u64 = 5;

/// This process's user + system CPU time so far, in clock ticks.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The command name (field 2) may contain spaces; count fields after its closing ')'.
    let after_name = &stat[stat.rfind(')').expect("comm in /proc/self/stat") + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of proc(5); the first field after ')' is field 3.
    let utime: u64 = fields[14 - 3].parse().unwrap();
    let stime: u64 = fields[15 - 3].parse().unwrap();
    utime + stime
}

/// Some work that wakes every M: local and remote spawns, yields, cross-thread wakes.
fn warm_up(rt: &gmp::Runtime) {
    let done = Arc::new(AtomicUsize::new(0));
    let remote: Vec<_> = (0..1000)
        .map(|_| {
            rt.spawn(async {
                gmp::yield_now().await;
            })
        })
        .collect();
    rt.block_on(async {
        for handle in remote {
            handle.await.unwrap();
        }
        let handles: Vec<_> = (0..10_000)
            .map(|_| {
                let done = done.clone();
                gmp::spawn(async move {
                    for _ in 0..10 {
                        gmp::yield_now().await;
                    }
                    done.fetch_add(1, Ordering::AcqRel);
                })
            })
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
    });
    assert_eq!(done.load(Ordering::Acquire), 10_000);
}

#[test]
fn an_idle_runtime_uses_no_cpu() {
    let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
    within(Duration::from_secs(60), "warm-up", || warm_up(&rt));

    // Idle with nobody in block_on.
    let before = cpu_ticks();
    thread::sleep(IDLE);
    let unused = cpu_ticks() - before;

    // Idle with the calling thread in block_on, waiting with 100 goroutines parked.
    within(Duration::from_secs(60), "second warm-up", || warm_up(&rt));
    let (wake_tx, wake_rx) = oneshot::channel::<()>();
    let waker = thread::spawn(move || {
        thread::sleep(IDLE);
        wake_tx.send(()).unwrap();
    });
    let before = cpu_ticks();
    within(Duration::from_secs(60), "block_on waiting idle", || {
        rt.block_on(async {
            let (_keep, parked_rx) = oneshot::channel::<()>();
            let parked_rx = futures::future::FutureExt::shared(parked_rx);
            let parked: Vec<_> = (0..100)
                .map(|_| {
                    let parked_rx = parked_rx.clone();
                    gmp::spawn(async move {
                        let _ = parked_rx.await;
                    })
                })
                .collect();
            wake_rx.await.unwrap();
            for handle in parked {
                assert_eq!(handle.cancel().await, None);
            }
        })
    });
    let waiting = cpu_ticks() - before;
    waker.join().unwrap();

    eprintln!("CPU over {IDLE:?} idle: {} ms unused, {} ms waiting in block_on", unused * 10, waiting * 10);
    assert!(unused < BUDGET_TICKS, "an unused runtime burned {} ms of CPU in {IDLE:?}", unused * 10);
    assert!(waiting < BUDGET_TICKS, "a runtime waiting in block_on burned {} ms of CPU in {IDLE:?}", waiting * 10);
}
