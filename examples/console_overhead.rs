//! What the `tracing` feature costs: four scheduler workloads on gmp and, in the same process
//! as a yardstick, on tokio's multi-thread runtime with the same number of threads (2).
//!
//! ```text
//! cargo run --release --example console_overhead                              # feature off
//! cargo run --release --features tracing --example console_overhead           # on, no subscriber
//! cargo run --release --features tracing --example console_overhead -- console   # on, console-subscriber
//! ```
//!
//! The feature changes gmp's build, so the three modes are three processes; compare them
//! through the `gmp/tokio` ratio each prints (tokio is built without `tokio_unstable` and emits
//! nothing, so it runs the same in every mode and absorbs the machine's load). With `console`,
//! console-subscriber is installed as the global subscriber with its server on a free
//! 127.0.0.1 port (and a retention of 1 s), as a user watching the program with tokio-console
//! would have it. Built with `RUSTFLAGS="--cfg tokio_unstable"`, tokio emits its own console
//! spans too, and the `console` mode compares the two runtimes both instrumented:
//!
//! ```text
//! RUSTFLAGS="--cfg tokio_unstable" CARGO_TARGET_DIR=target/tokio-unstable \
//!     cargo run --release --features tracing --example console_overhead -- console
//! ```
//!
//! Workloads: `spawn_many` (10,000 spawns from the main future, each handle awaited),
//! `yield_many` (200 goroutines yielding 1,000 times each), `ping_pong` (1,000 pairs
//! exchanging a ping and a pong over oneshot channels), `sleep_register` (200 goroutines each
//! creating, polling once and dropping 100 one-hour sleeps: timer registration and removal).
//! Each is run 15 times per runtime, interleaved; the medians are printed.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

const THREADS: usize = 2;
const RUNS: usize = 15;

fn main() {
    let console = std::env::args().nth(1).as_deref() == Some("console");
    let mode = if console {
        install_console();
        "feature on, console-subscriber installed"
    } else if cfg!(feature = "tracing") {
        "feature on, no subscriber"
    } else {
        "feature off"
    };
    println!("mode: {mode}; {THREADS} threads, median of {RUNS} runs");
    let gmp = gmp::Builder::new().maxprocs(THREADS).build().unwrap();
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(THREADS).enable_all().build().unwrap();
    println!("{:<16} {:>12} {:>12} {:>10}", "workload", "gmp", "tokio", "gmp/tokio");
    compare("spawn_many", &gmp, &tokio, spawn_many_gmp, spawn_many_tokio);
    compare("yield_many", &gmp, &tokio, yield_many_gmp, yield_many_tokio);
    compare("ping_pong", &gmp, &tokio, ping_pong_gmp, ping_pong_tokio);
    compare("sleep_register", &gmp, &tokio, sleep_register_gmp, sleep_register_tokio);
}

#[cfg(any(tokio_unstable, console_without_tokio_unstable))]
fn install_console() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // A short retention: console-subscriber keeps ~50 KB of histograms per task, and finished
    // tasks for an hour by default, which for the 150,000 goroutines of a run is gigabytes.
    console_subscriber::ConsoleLayer::builder()
        .server_addr(([127, 0, 0, 1], port))
        .retention(Duration::from_secs(1))
        .init();
}

#[cfg(not(any(tokio_unstable, console_without_tokio_unstable)))]
fn install_console() {
    panic!("console-subscriber needs RUSTFLAGS=\"--cfg console_without_tokio_unstable\"");
}

fn compare<G, T, GF, TF>(name: &str, gmp: &gmp::Runtime, tokio: &tokio::runtime::Runtime, on_gmp: G, on_tokio: T)
where
    G: Fn() -> GF,
    GF: Future<Output = ()>,
    T: Fn() -> TF,
    TF: Future<Output = ()>,
{
    let mut gmp_times = Vec::new();
    let mut tokio_times = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        gmp.block_on(on_gmp());
        gmp_times.push(start.elapsed());
        let start = Instant::now();
        tokio.block_on(on_tokio());
        tokio_times.push(start.elapsed());
    }
    let (g, t) = (median(gmp_times), median(tokio_times));
    println!("{name:<16} {:>12?} {:>12?} {:>10.2}", g, t, g.as_secs_f64() / t.as_secs_f64());
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

async fn spawn_many_gmp() {
    let handles: Vec<_> = (0..10_000u64).map(|i| gmp::spawn(async move { std::hint::black_box(i) })).collect();
    for handle in handles {
        handle.await.unwrap();
    }
}

async fn spawn_many_tokio() {
    let handles: Vec<_> = (0..10_000u64).map(|i| tokio::spawn(async move { std::hint::black_box(i) })).collect();
    for handle in handles {
        handle.await.unwrap();
    }
}

async fn yield_many_gmp() {
    let handles: Vec<_> = (0..200)
        .map(|_| {
            gmp::spawn(async {
                for _ in 0..1_000 {
                    gmp::yield_now().await;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
}

async fn yield_many_tokio() {
    let handles: Vec<_> = (0..200)
        .map(|_| {
            tokio::spawn(async {
                for _ in 0..1_000 {
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
}

async fn ping_pong_gmp() {
    let handles: Vec<_> = (0..1_000)
        .map(|_| {
            gmp::spawn(async {
                let (ping_tx, ping_rx) = futures::channel::oneshot::channel::<()>();
                let (pong_tx, pong_rx) = futures::channel::oneshot::channel::<()>();
                let partner = gmp::spawn(async move {
                    ping_rx.await.unwrap();
                    pong_tx.send(()).unwrap();
                });
                ping_tx.send(()).unwrap();
                pong_rx.await.unwrap();
                partner.await.unwrap();
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
}

async fn ping_pong_tokio() {
    let handles: Vec<_> = (0..1_000)
        .map(|_| {
            tokio::spawn(async {
                let (ping_tx, ping_rx) = futures::channel::oneshot::channel::<()>();
                let (pong_tx, pong_rx) = futures::channel::oneshot::channel::<()>();
                let partner = tokio::spawn(async move {
                    ping_rx.await.unwrap();
                    pong_tx.send(()).unwrap();
                });
                ping_tx.send(()).unwrap();
                pong_rx.await.unwrap();
                partner.await.unwrap();
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
}

/// Polls `future` once and drops it.
async fn poll_once<F: Future>(future: F) {
    let mut future = pin!(future);
    std::future::poll_fn(|cx| {
        let _ = future.as_mut().poll(cx);
        Poll::Ready(())
    })
    .await
}

async fn sleep_register_gmp() {
    let handles: Vec<_> = (0..200)
        .map(|_| {
            gmp::spawn(async {
                for _ in 0..100 {
                    poll_once(gmp::time::sleep(Duration::from_secs(3600))).await;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
}

async fn sleep_register_tokio() {
    let handles: Vec<_> = (0..200)
        .map(|_| {
            tokio::spawn(async {
                for _ in 0..100 {
                    poll_once(tokio::time::sleep(Duration::from_secs(3600))).await;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
}
