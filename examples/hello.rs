//! Many goroutines: spawn 100,000 of them, each adding to a counter, and wait for all.
//!
//! Run with `cargo run --release --example hello`.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

#[gmp::main]
async fn main() {
    let started = Instant::now();
    let total = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..100_000u64)
        .map(|i| {
            let total = total.clone();
            gmp::spawn(async move {
                total.fetch_add(i, Ordering::Relaxed);
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    println!(
        "hello from {} goroutines on {} Ps: sum {} in {:?}",
        100_000,
        gmp::runtime::maxprocs(),
        total.load(Ordering::Relaxed),
        started.elapsed()
    );
}
