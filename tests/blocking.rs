//! A goroutine that blocks its thread must not stall the goroutines queued behind it: sysmon
//! hands them to another M (`sysmon.rs`), and `gmp::syscall` lets the P go (`syscall.rs`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bound for waits on behaviour; generous so a loaded 2-core machine never flakes.
const PATIENCE: Duration = Duration::from_secs(20);

fn one_p() -> gmp::Runtime {
    gmp::Builder::new().maxprocs(1).build().unwrap()
}

/// Blocks the calling thread (no await) until `flag` is set or `PATIENCE` runs out.
fn block_thread_until(flag: &AtomicBool) -> bool {
    let started = Instant::now();
    while !flag.load(Ordering::Acquire) {
        if started.elapsed() > PATIENCE {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

#[test]
fn a_goroutine_blocking_its_thread_does_not_stop_the_one_it_spawned() {
    let rt = one_p();
    let saw_it_run = rt.block_on(async {
        gmp::spawn(async {
            let ran = Arc::new(AtomicBool::new(false));
            let ran2 = ran.clone();
            gmp::spawn(async move { ran2.store(true, Ordering::Release) });
            block_thread_until(&ran)
        })
        .await
        .unwrap()
    });
    assert!(saw_it_run, "the spawned goroutine never ran while its P's goroutine blocked");
}

#[test]
fn a_goroutine_blocking_inside_syscall_does_not_stop_the_one_it_spawned() {
    let rt = one_p();
    let saw_it_run = rt.block_on(async {
        gmp::spawn(async {
            let ran = Arc::new(AtomicBool::new(false));
            let ran2 = ran.clone();
            gmp::spawn(async move { ran2.store(true, Ordering::Release) });
            gmp::syscall(|| block_thread_until(&ran))
        })
        .await
        .unwrap()
    });
    assert!(saw_it_run, "the spawned goroutine never ran during the syscall");
}

#[test]
fn after_a_stuck_poll_ends_ten_thousand_new_goroutines_complete() {
    let rt = one_p();
    let done = rt.block_on(async {
        let ran = Arc::new(AtomicBool::new(false));
        let ran2 = ran.clone();
        let stuck = gmp::spawn(async move {
            let ran3 = ran2.clone();
            gmp::spawn(async move { ran3.store(true, Ordering::Release) });
            block_thread_until(&ran2)
        });
        assert!(stuck.await.unwrap());
        let count = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..10_000)
            .map(|_| {
                let count = count.clone();
                gmp::spawn(async move {
                    count.fetch_add(1, Ordering::Relaxed);
                })
            })
            .collect();
        for handle in handles {
            handle.await.unwrap();
        }
        count.load(Ordering::Relaxed)
    });
    assert_eq!(done, 10_000);
}

#[test]
fn ten_thousand_short_syscalls_return_their_values() {
    let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
    let sum = rt.block_on(async {
        let handles: Vec<_> = (0..100u64)
            .map(|g| {
                gmp::spawn(async move {
                    let mut sum = 0u64;
                    for i in 0..100u64 {
                        sum += gmp::syscall(|| g * 100 + i);
                        if i % 10 == 0 {
                            gmp::yield_now().await;
                        }
                    }
                    sum
                })
            })
            .collect();
        let mut sum = 0;
        for handle in handles {
            sum += handle.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, (0..10_000u64).sum::<u64>());
}

#[test]
fn syscall_from_the_main_future_returns_its_value() {
    let rt = one_p();
    let value = rt.block_on(async { gmp::syscall(|| 42) });
    assert_eq!(value, 42);
}

#[test]
fn a_panic_inside_syscall_reaches_the_join_handle_and_the_p_comes_back() {
    let rt = one_p();
    rt.block_on(async {
        let err = gmp::spawn(async { gmp::syscall(|| panic!("in a syscall")) }).await.unwrap_err();
        assert!(err.is_panic());
        assert_eq!(gmp::spawn(async { 7 }).await.unwrap(), 7);
    });
}

#[test]
fn a_cpu_loop_calling_consume_budget_lets_another_goroutine_on_its_p_progress() {
    let rt = one_p();
    let other_ran = rt.block_on(async {
        let flag = Arc::new(AtomicBool::new(false));
        let flag2 = flag.clone();
        let looper = gmp::spawn(async move {
            let started = Instant::now();
            while !flag2.load(Ordering::Acquire) {
                if started.elapsed() > PATIENCE {
                    return false;
                }
                std::hint::black_box(0u64);
                gmp::consume_budget().await;
            }
            true
        });
        gmp::yield_now().await;
        let setter = gmp::spawn(async move { flag.store(true, Ordering::Release) });
        setter.await.unwrap();
        looper.await.unwrap()
    });
    assert!(other_ran, "the other goroutine never ran beside the CPU loop");
}

#[test]
fn a_main_future_blocking_its_thread_does_not_stop_the_goroutine_it_spawned() {
    let rt = one_p();
    let saw_it_run = rt.block_on(async {
        let ran = Arc::new(AtomicBool::new(false));
        let ran2 = ran.clone();
        let handle = gmp::spawn(async move { ran2.store(true, Ordering::Release) });
        let saw = block_thread_until(&ran);
        handle.await.unwrap();
        saw
    });
    assert!(saw_it_run, "the goroutine never ran while block_on's future blocked its thread");
}
