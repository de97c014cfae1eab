//! What it costs to make the main future a goroutine, on the two scheduler workloads that run
//! through `block_on` (`chained_spawn` and `ping_pong` of `benches/scheduler.rs`), three ways:
//!
//! - `block_on`: the main future is polled on the calling thread (M0), which runs goroutines
//!   while it waits (gmp's `Runtime::block_on`);
//! - `main goroutine`: the body is spawned as an ordinary goroutine and the calling thread runs
//!   goroutines while it waits for it (what `#[gmp::main]` does with a `Send` body);
//! - `locked M0`: the calling thread only waits for the main future and runs no goroutine
//!   (Go's `LockOSThread` for the main goroutine; emulated by waiting from outside the runtime).
//!
//! tokio's multi-thread runtime runs the same code for reference. Run with
//! `cargo run --release --example main_goroutine_cost [threads] [iterations]`; it prints the
//! median of each and its ratio to tokio's.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::channel::oneshot;

const CHAIN_LENGTH: usize = 1_000;
const PING_PONG_PAIRS: usize = 1_000;

trait Spawn: Copy + Send + 'static {
    fn spawn<F: Future<Output = ()> + Send + 'static>(self, future: F);
}

#[derive(Clone, Copy)]
struct Gmp;

impl Spawn for Gmp {
    fn spawn<F: Future<Output = ()> + Send + 'static>(self, future: F) {
        drop(gmp::spawn(future));
    }
}

#[derive(Clone, Copy)]
struct Tokio;

impl Spawn for Tokio {
    fn spawn<F: Future<Output = ()> + Send + 'static>(self, future: F) {
        drop(tokio::spawn(future));
    }
}

fn chain_link<S: Spawn>(spawner: S, left: usize, done: oneshot::Sender<()>) {
    if left == 0 {
        let _ = done.send(());
    } else {
        spawner.spawn(async move { chain_link(spawner, left - 1, done) });
    }
}

async fn chained_spawn<S: Spawn>(spawner: S) {
    let (done_tx, done_rx) = oneshot::channel();
    chain_link(spawner, CHAIN_LENGTH, done_tx);
    done_rx.await.unwrap();
}

/// 1,000 pairs exchanging a ping and a pong; returns when every pair is done.
async fn ping_pong<S: Spawn>(spawner: S) {
    let left = Arc::new(AtomicUsize::new(PING_PONG_PAIRS));
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let done_tx = Arc::new(std::sync::Mutex::new(Some(done_tx)));
    for _ in 0..PING_PONG_PAIRS {
        let (left, done_tx) = (left.clone(), done_tx.clone());
        spawner.spawn(async move {
            let (ping_tx, ping_rx) = oneshot::channel::<()>();
            let (pong_tx, pong_rx) = oneshot::channel::<()>();
            spawner.spawn(async move {
                ping_rx.await.unwrap();
                pong_tx.send(()).unwrap();
            });
            ping_tx.send(()).unwrap();
            pong_rx.await.unwrap();
            if left.fetch_sub(1, Ordering::AcqRel) == 1 {
                let _ = done_tx.lock().unwrap().take().unwrap().send(());
            }
        });
    }
    done_rx.await.unwrap();
}

fn measure(iterations: usize, mut run: impl FnMut()) -> Duration {
    for _ in 0..iterations / 10 + 1 {
        run(); // warm up
    }
    let mut samples: Vec<Duration> = (0..iterations)
        .map(|_| {
            let started = Instant::now();
            run();
            started.elapsed()
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

fn compare<W: Future<Output = ()> + Send + 'static>(
    name: &str,
    iterations: usize,
    gmp_rt: &gmp::Runtime,
    tokio_rt: &tokio::runtime::Runtime,
    gmp_work: impl Fn() -> W,
    tokio_work: impl Fn() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
) {
    let tokio = measure(iterations, || tokio_rt.block_on(tokio_work()));
    let block_on = measure(iterations, || gmp_rt.block_on(gmp_work()));
    let main_goroutine = measure(iterations, || gmp_rt.block_on(gmp_rt.spawn(gmp_work())).unwrap());
    let locked = measure(iterations, || futures::executor::block_on(gmp_rt.spawn(gmp_work())).unwrap());
    let ratio = |d: Duration| d.as_secs_f64() / tokio.as_secs_f64();
    println!("{name}, median of {iterations}: tokio {tokio:?}");
    println!("  gmp block_on        {block_on:?} ({:.3} of tokio)", ratio(block_on));
    println!("  gmp main goroutine  {main_goroutine:?} ({:.3} of tokio)", ratio(main_goroutine));
    println!("  gmp locked M0       {locked:?} ({:.3} of tokio)", ratio(locked));
}

fn main() {
    let mut args = std::env::args().skip(1);
    let threads: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(2);
    let iterations: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(2000);
    let gmp_rt = gmp::Builder::new().maxprocs(threads).build().expect("gmp");
    let tokio_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).build().expect("tokio");
    println!("{threads} threads");
    compare("chained_spawn", iterations, &gmp_rt, &tokio_rt, || chained_spawn(Gmp), || Box::pin(chained_spawn(Tokio)));
    compare("ping_pong", iterations / 4, &gmp_rt, &tokio_rt, || ping_pong(Gmp), || Box::pin(ping_pong(Tokio)));
}
