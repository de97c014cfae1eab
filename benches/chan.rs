//! Channels between goroutines: gmp::chan on gmp against tokio::sync::mpsc on tokio's
//! multi-thread runtime and async-channel on gmp, all with 2 threads, interleaved in one run.
//!
//! ```text
//! cargo bench --bench chan                 # 15 rounds, about 10 s
//! cargo bench --bench chan -- 5            # 5 rounds
//! ```
//!
//! Workloads (both ends are spawned tasks; the bench thread only waits in `block_on`):
//! - `mpsc`: 4 producers send 100,000 `u64`s each to 1 consumer through a 1,024-slot channel
//!   (400,000 messages).
//! - `ping_pong`: two tasks bounce a `u64` back and forth over two 1-slot channels, 10,000
//!   round trips (20,000 messages).
//!
//! Each round runs every contender once per workload, in rotating order, so they share the
//! machine's load alike; the table gives the median over the rounds and the ratio to
//! gmp::chan (above 1 means gmp::chan is faster). Quote ratios from one run; absolute times on
//! a shared machine are noise.

use std::future::Future;
use std::time::{Duration, Instant};

const THREADS: usize = 2;
const PRODUCERS: u64 = 4;
const PER_PRODUCER: u64 = 100_000;
const CAPACITY: usize = 1024;
const ROUND_TRIPS: u64 = 10_000;

/// One executor plus one channel implementation.
trait Contender {
    const NAME: &'static str;
    fn mpsc(&self) -> Duration;
    fn ping_pong(&self) -> Duration;
}

fn time<F: FnOnce()>(f: F) -> Duration {
    let started = Instant::now();
    f();
    started.elapsed()
}

// ---------------------------------------------------------------------------------------------

struct GmpChan(gmp::Runtime);

impl GmpChan {
    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.0.block_on(f)
    }
}

impl Contender for GmpChan {
    const NAME: &'static str = "gmp::chan on gmp";

    fn mpsc(&self) -> Duration {
        time(|| {
            self.block_on(async {
                let (tx, rx) = gmp::chan::bounded::<u64>(CAPACITY);
                for p in 0..PRODUCERS {
                    let tx = tx.clone();
                    gmp::spawn(async move {
                        for i in 0..PER_PRODUCER {
                            tx.send(p * PER_PRODUCER + i).await.unwrap();
                        }
                    });
                }
                drop(tx);
                let consumer = gmp::spawn(async move {
                    let mut sum = 0u64;
                    while let Ok(v) = rx.recv().await {
                        sum = sum.wrapping_add(v);
                    }
                    sum
                });
                check_sum(consumer.await.unwrap());
            })
        })
    }

    fn ping_pong(&self) -> Duration {
        time(|| {
            self.block_on(async {
                let (ping_tx, ping_rx) = gmp::chan::bounded::<u64>(1);
                let (pong_tx, pong_rx) = gmp::chan::bounded::<u64>(1);
                let ponger = gmp::spawn(async move {
                    while let Ok(v) = ping_rx.recv().await {
                        pong_tx.send(v + 1).await.unwrap();
                    }
                });
                let pinger = gmp::spawn(async move {
                    let mut v = 0;
                    for _ in 0..ROUND_TRIPS {
                        ping_tx.send(v).await.unwrap();
                        v = pong_rx.recv().await.unwrap();
                    }
                    v
                });
                assert_eq!(pinger.await.unwrap(), ROUND_TRIPS);
                ponger.await.unwrap();
            })
        })
    }
}

// ---------------------------------------------------------------------------------------------

struct AsyncChannelOnGmp(gmp::Runtime);

impl Contender for AsyncChannelOnGmp {
    const NAME: &'static str = "async-channel on gmp";

    fn mpsc(&self) -> Duration {
        time(|| {
            self.0.block_on(async {
                let (tx, rx) = async_channel::bounded::<u64>(CAPACITY);
                for p in 0..PRODUCERS {
                    let tx = tx.clone();
                    gmp::spawn(async move {
                        for i in 0..PER_PRODUCER {
                            tx.send(p * PER_PRODUCER + i).await.unwrap();
                        }
                    });
                }
                drop(tx);
                let consumer = gmp::spawn(async move {
                    let mut sum = 0u64;
                    while let Ok(v) = rx.recv().await {
                        sum = sum.wrapping_add(v);
                    }
                    sum
                });
                check_sum(consumer.await.unwrap());
            })
        })
    }

    fn ping_pong(&self) -> Duration {
        time(|| {
            self.0.block_on(async {
                let (ping_tx, ping_rx) = async_channel::bounded::<u64>(1);
                let (pong_tx, pong_rx) = async_channel::bounded::<u64>(1);
                let ponger = gmp::spawn(async move {
                    while let Ok(v) = ping_rx.recv().await {
                        pong_tx.send(v + 1).await.unwrap();
                    }
                });
                let pinger = gmp::spawn(async move {
                    let mut v = 0;
                    for _ in 0..ROUND_TRIPS {
                        ping_tx.send(v).await.unwrap();
                        v = pong_rx.recv().await.unwrap();
                    }
                    v
                });
                assert_eq!(pinger.await.unwrap(), ROUND_TRIPS);
                ponger.await.unwrap();
            })
        })
    }
}

// ---------------------------------------------------------------------------------------------

struct TokioMpsc(tokio::runtime::Runtime);

impl Contender for TokioMpsc {
    const NAME: &'static str = "tokio mpsc on tokio";

    fn mpsc(&self) -> Duration {
        time(|| {
            self.0.block_on(async {
                let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(CAPACITY);
                for p in 0..PRODUCERS {
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        for i in 0..PER_PRODUCER {
                            tx.send(p * PER_PRODUCER + i).await.unwrap();
                        }
                    });
                }
                drop(tx);
                let consumer = tokio::spawn(async move {
                    let mut sum = 0u64;
                    while let Some(v) = rx.recv().await {
                        sum = sum.wrapping_add(v);
                    }
                    sum
                });
                check_sum(consumer.await.unwrap());
            })
        })
    }

    fn ping_pong(&self) -> Duration {
        time(|| {
            self.0.block_on(async {
                let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
                let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1);
                let ponger = tokio::spawn(async move {
                    while let Some(v) = ping_rx.recv().await {
                        pong_tx.send(v + 1).await.unwrap();
                    }
                });
                let pinger = tokio::spawn(async move {
                    let mut v = 0;
                    for _ in 0..ROUND_TRIPS {
                        ping_tx.send(v).await.unwrap();
                        v = pong_rx.recv().await.unwrap();
                    }
                    v
                });
                assert_eq!(pinger.await.unwrap(), ROUND_TRIPS);
                ponger.await.unwrap();
            })
        })
    }
}

// ---------------------------------------------------------------------------------------------

fn check_sum(sum: u64) {
    let n = PRODUCERS * PER_PRODUCER;
    assert_eq!(sum, n * (n - 1) / 2, "messages lost or duplicated");
}

fn gmp_runtime() -> gmp::Runtime {
    gmp::Builder::new().maxprocs(THREADS).build().unwrap()
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

#[allow(clippy::needless_range_loop)] // contender and workload indices address `times` and `run`
fn main() {
    // `cargo bench` passes `--bench`; a bare number sets the rounds.
    let rounds: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(15);
    let gmp_chan = GmpChan(gmp_runtime());
    let async_channel = AsyncChannelOnGmp(gmp_runtime());
    let tokio =
        TokioMpsc(tokio::runtime::Builder::new_multi_thread().worker_threads(THREADS).enable_all().build().unwrap());

    // [contender][workload] -> times
    let mut times = vec![vec![Vec::new(); 2]; 3];
    let run = |c: usize, w: usize| match (c, w) {
        (0, 0) => gmp_chan.mpsc(),
        (0, _) => gmp_chan.ping_pong(),
        (1, 0) => tokio.mpsc(),
        (1, _) => tokio.ping_pong(),
        (_, 0) => async_channel.mpsc(),
        (_, _) => async_channel.ping_pong(),
    };
    // One warm-up round, not counted.
    for c in 0..3 {
        for w in 0..2 {
            run(c, w);
        }
    }
    for round in 0..rounds {
        for w in 0..2 {
            for k in 0..3 {
                let c = (round + k) % 3;
                let elapsed = run(c, w);
                times[c][w].push(elapsed);
            }
        }
    }

    let names = [GmpChan::NAME, TokioMpsc::NAME, AsyncChannelOnGmp::NAME];
    let workloads = [
        format!("mpsc ({PRODUCERS}x{PER_PRODUCER} -> 1, {CAPACITY} slots)"),
        format!("ping_pong ({} messages)", 2 * ROUND_TRIPS),
    ];
    println!("{THREADS} threads each, median of {rounds} interleaved rounds; ratio = time / gmp::chan's");
    println!();
    println!("| workload | {} | {} | {} |", names[0], names[1], names[2]);
    println!("|---|---|---|---|");
    for (w, workload) in workloads.iter().enumerate() {
        let medians: Vec<Duration> = (0..3).map(|c| median(&mut times[c][w])).collect();
        let cell = |c: usize| {
            let ms = medians[c].as_secs_f64() * 1e3;
            if c == 0 {
                format!("{ms:.2} ms")
            } else {
                format!("{ms:.2} ms ({:.2}x)", medians[c].as_secs_f64() / medians[0].as_secs_f64())
            }
        };
        println!("| {workload} | {} | {} | {} |", cell(0), cell(1), cell(2));
    }
}
