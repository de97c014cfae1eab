//! Memory per pending sleep: the resident set before and after 1,000,000 goroutines each
//! sleeping 10 s, then every sleep fires. Run with `cargo run --release --example sleep_memory`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gmp::time::sleep;

const SLEEPERS: usize = 1_000_000;

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn main() {
    let rt = gmp::Runtime::new().expect("runtime");
    rt.block_on(sleep(Duration::from_millis(10)));
    let fired = Arc::new(AtomicUsize::new(0));
    let sleeping = Arc::new(AtomicUsize::new(0));
    let before = resident_bytes();
    let started = Instant::now();
    rt.block_on(async {
        for _ in 0..SLEEPERS {
            let (fired, sleeping) = (fired.clone(), sleeping.clone());
            gmp::spawn(async move {
                sleeping.fetch_add(1, Ordering::Relaxed);
                sleep(Duration::from_secs(10)).await;
                fired.fetch_add(1, Ordering::Relaxed);
            });
        }
        while sleeping.load(Ordering::Relaxed) < SLEEPERS {
            sleep(Duration::from_millis(20)).await;
        }
        sleep(Duration::from_millis(100)).await;
    });
    let after = resident_bytes();
    println!(
        "{SLEEPERS} pending sleeps: RSS {} MiB -> {} MiB, {} bytes per sleeping goroutine (spawned and parked in {:?})",
        before >> 20,
        after >> 20,
        after.saturating_sub(before) / SLEEPERS,
        started.elapsed()
    );
    rt.block_on(async {
        while fired.load(Ordering::Relaxed) < SLEEPERS {
            sleep(Duration::from_millis(50)).await;
        }
    });
    println!("all {SLEEPERS} sleeps fired after {:?}", started.elapsed());
}
