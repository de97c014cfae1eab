//! A tour of gmp: what the GMP model buys you, measured on this machine.
//!
//! Run with `cargo run --release --example tour`.
//!
//! 1. A million goroutines, spawned and finished.
//! 2. The headline: a goroutine that blocks its thread (a blocking call inside a future) does
//!    not stall the goroutines queued behind it on its P — sysmon hands them to another M.
//!    Measured: the time from the block to the next queued goroutine running (p50/p90).
//! 3. `gmp::syscall`: a blocking call that usually returns fast costs little; if it is slow,
//!    sysmon retakes its P.
//! 4. An idle runtime costs (almost) no CPU.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

fn main() {
    a_million_goroutines();
    blocked_thread_handoff();
    syscall_cost();
    idle_cpu();
}

fn a_million_goroutines() {
    let rt = gmp::Runtime::new().expect("runtime");
    let started = Instant::now();
    let done = rt.block_on(async {
        let count = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..1_000_000)
            .map(|_| {
                let count = count.clone();
                gmp::spawn(async move {
                    count.fetch_add(1, Ordering::Relaxed);
                })
            })
            .collect();
        for handle in handles {
            handle.await.expect("goroutine");
        }
        count.load(Ordering::Relaxed)
    });
    println!("1. {done} goroutines spawned and joined in {:?} on {} Ps", started.elapsed(), gmp::runtime::num_cpu());
}

/// With one P, goroutine A spawns B (B lands in A's P's runnext) and then blocks its thread
/// for 5 ms without awaiting. B runs only if sysmon hands A's P's queue to another M.
fn blocked_thread_handoff() {
    let rt = gmp::Builder::new().maxprocs(1).build().expect("runtime");
    let mut latencies: Vec<Duration> = rt.block_on(async {
        let mut latencies = Vec::new();
        for _ in 0..200 {
            let latency = gmp::spawn(async {
                let (tx, rx) = mpsc::channel::<Instant>();
                gmp::spawn(async move {
                    let _ = tx.send(Instant::now());
                });
                let blocked_at = Instant::now();
                std::thread::sleep(Duration::from_millis(5)); // a blocking call, no await
                let ran_at = rx.recv_timeout(Duration::from_secs(10)).expect("B never ran");
                ran_at.saturating_duration_since(blocked_at)
            })
            .await
            .expect("goroutine");
            latencies.push(latency);
        }
        latencies
    });
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "2. a goroutine blocked its thread (maxprocs=1); the goroutine queued behind it ran after \
         p50 {:?}, p90 {:?}, max {:?} (Go 1.19: p50 79 µs, p90 180 µs)",
        p(0.5),
        p(0.9),
        p(1.0)
    );
}

fn syscall_cost() {
    let rt = gmp::Builder::new().maxprocs(1).build().expect("runtime");
    let per_call = rt.block_on(async {
        gmp::spawn(async {
            const CALLS: u32 = 1_000_000;
            let started = Instant::now();
            let mut sum = 0u64;
            for i in 0..CALLS {
                sum = sum.wrapping_add(gmp::syscall(|| std::hint::black_box(i as u64)));
            }
            std::hint::black_box(sum);
            started.elapsed() / CALLS
        })
        .await
        .expect("goroutine")
    });
    println!("3. a short gmp::syscall(|| x) costs {per_call:?} per call");
}

fn idle_cpu() {
    let rt = gmp::Builder::new().maxprocs(2).build().expect("runtime");
    rt.block_on(async {
        let handles: Vec<_> = (0..1000).map(|i| gmp::spawn(async move { i })).collect();
        for handle in handles {
            handle.await.expect("goroutine");
        }
    });
    // TOUR_IDLE_SECONDS=10 measures over 10 s.
    let seconds = std::env::var("TOUR_IDLE_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let before = process_cpu_time();
    std::thread::sleep(Duration::from_secs(seconds));
    let used = process_cpu_time().saturating_sub(before);
    println!("4. an idle runtime (2 Ps, sysmon included) used {used:?} of CPU in {seconds} s");
    drop(rt);
}

/// CPU time of this process's live threads, in nanoseconds (Linux `/proc/self/task/*/schedstat`).
fn process_cpu_time() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Duration::ZERO };
    let nanos: u64 = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}
