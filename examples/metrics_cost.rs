//! What the scheduler's hot path costs, on fixed work: a fixed number of spawns, yields,
//! channel ping-pongs and chained spawns, so that `perf stat -e instructions:u` counts of two
//! builds compare like for like (the metrics hooks were measured this way; see
//! `src/metrics.rs`). Prints the wall and process CPU time of each part. Where hardware
//! counters are available, run it under `perf stat`:
//!
//! ```text
//! cargo build --release --example metrics_cost
//! perf stat -e instructions:u,cycles:u target/release/examples/metrics_cost 1
//! ```
//!
//! The argument is `maxprocs` (default 1: one thread, so the work, and its instruction
//! count, hardly vary from run to run).

use std::time::{Duration, Instant};

/// CPU time of the whole process so far (every thread).
fn cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to write to.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Prints the wall and CPU time since `start` for `part`.
fn report(part: &str, start: (Instant, Duration)) {
    println!("{part}: wall {:?} cpu {:?}", start.0.elapsed(), cpu_time() - start.1);
}

fn now() -> (Instant, Duration) {
    (Instant::now(), cpu_time())
}

fn main() {
    let maxprocs = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    let rt = gmp::Builder::new().maxprocs(maxprocs).build().expect("runtime");
    rt.block_on(async {
        let start = now();
        for _ in 0..20 {
            let handles: Vec<_> = (0..10_000).map(|i| gmp::spawn(async move { i })).collect();
            for handle in handles {
                handle.await.expect("spawned");
            }
        }
        report("spawn 200k", start);

        let start = now();
        let handles: Vec<_> = (0..200)
            .map(|_| {
                gmp::spawn(async {
                    for _ in 0..5_000 {
                        gmp::yield_now().await;
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.expect("yielder");
        }
        report("yield 1M", start);

        let start = now();
        let handles: Vec<_> = (0..1_000)
            .map(|_| {
                gmp::spawn(async {
                    let (ping_tx, ping_rx) = gmp::chan::bounded::<u32>(0);
                    let (pong_tx, pong_rx) = gmp::chan::bounded::<u32>(0);
                    let partner = gmp::spawn(async move {
                        while let Ok(n) = ping_rx.recv().await {
                            pong_tx.send(n).await.expect("pong");
                        }
                    });
                    for n in 0..200 {
                        ping_tx.send(n).await.expect("ping");
                        pong_rx.recv().await.expect("pong back");
                    }
                    drop(ping_tx);
                    partner.await.expect("partner");
                })
            })
            .collect();
        for handle in handles {
            handle.await.expect("pair");
        }
        report("ping-pong 200k", start);

        let start = now();
        for _ in 0..200 {
            fn chain(left: usize) -> gmp::JoinHandle<()> {
                gmp::spawn(async move {
                    if left > 0 {
                        chain(left - 1).await.expect("link");
                    }
                })
            }
            chain(1_000).await.expect("chain");
        }
        report("chained spawn 200k", start);
    });
}
