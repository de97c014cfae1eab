//! tokio-console watching a gmp program: the goroutines, their polls, wakers and timers.
//!
//! ```text
//! cargo run --features tracing --example console           # serves 127.0.0.1:6669, runs 60 s
//! cargo run --features tracing --example console -- 300    # runs 300 s
//! tokio-console                                            # in another terminal
//! ```
//!
//! console-subscriber serves the console's gRPC API on 127.0.0.1:6669 (or on
//! `TOKIO_CONSOLE_BIND`); `tokio-console` (`cargo install --locked tokio-console`) connects
//! there by default. The workload is a little of everything the console can show: a ticker
//! (an interval), a ping-pong pair over channels, a pool of workers fed by a channel, a
//! goroutine whose polls run long (the console warns about them), a `spawn_blocking` call now
//! and then, and short-lived goroutines that come and go. Every goroutine is listed with its
//! gmp id and the line that spawned it.
//!
//! The workspace's `.cargo/config.toml` sets `--cfg console_without_tokio_unstable`, which
//! console-subscriber needs when the runtime it watches is not tokio; in a project of your own,
//! set it there too (or build with `RUSTFLAGS="--cfg console_without_tokio_unstable"`).

#[cfg(not(any(tokio_unstable, console_without_tokio_unstable)))]
compile_error!("console-subscriber needs RUSTFLAGS=\"--cfg console_without_tokio_unstable\"");

use std::time::{Duration, Instant};

use gmp::chan;
use gmp::time::{interval, sleep};

/// The console's default address, which tokio-console connects to without arguments.
const CONSOLE_ADDRESS: ([u8; 4], u16) = ([127, 0, 0, 1], 6669);

fn main() {
    let seconds: u64 = match std::env::args().nth(1) {
        None => 60,
        Some(arg) => arg.parse().expect("the argument is how many seconds to run"),
    };
    // `with_default_env` lets TOKIO_CONSOLE_BIND and the other TOKIO_CONSOLE_* variables
    // override the address and retention set here.
    console_subscriber::ConsoleLayer::builder().server_addr(CONSOLE_ADDRESS).with_default_env().init();
    let (ip, port) = CONSOLE_ADDRESS;
    println!(
        "serving tokio-console on {}:{port} (unless TOKIO_CONSOLE_BIND says otherwise); \
         run `tokio-console` in another terminal. Exiting in {seconds} s.",
        std::net::Ipv4Addr::from(ip)
    );

    let runtime = gmp::Builder::new().maxprocs(2).build().unwrap();
    runtime.block_on(async move {
        let until = Instant::now() + Duration::from_secs(seconds);
        let running = move || Instant::now() < until;

        // A ticker: one interval, woken by its timer every 100 ms.
        let ticker = gmp::spawn(async move {
            let mut ticks = interval(Duration::from_millis(100));
            let mut count = 0u64;
            while running() {
                ticks.tick().await;
                count += 1;
            }
            count
        });

        // A ping-pong pair: each wakes the other through a rendezvous channel.
        let (ping_tx, ping_rx) = chan::bounded::<u64>(0);
        let (pong_tx, pong_rx) = chan::bounded::<u64>(0);
        let pinger = gmp::spawn(async move {
            let mut round = 0;
            while running() {
                if ping_tx.send(round).await.is_err() {
                    break;
                }
                round = pong_rx.recv().await.unwrap_or(round) + 1;
                sleep(Duration::from_millis(10)).await;
            }
            round
        });
        let ponger = gmp::spawn(async move {
            while let Ok(round) = ping_rx.recv().await {
                if pong_tx.send(round).await.is_err() {
                    break;
                }
            }
        });

        // A pool of workers fed through one channel, each job a short sleep plus some work.
        let (jobs_tx, jobs_rx) = chan::bounded::<u64>(64);
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let jobs = jobs_rx.clone();
                gmp::spawn(async move {
                    let mut done = 0u64;
                    while let Ok(job) = jobs.recv().await {
                        sleep(Duration::from_millis(1 + job % 7)).await;
                        done = done.wrapping_add(checksum(job, 2_000));
                    }
                    done
                })
            })
            .collect();
        drop(jobs_rx);
        let feeder = gmp::spawn(async move {
            let mut job = 0;
            while running() {
                if jobs_tx.send(job).await.is_err() {
                    break;
                }
                job += 1;
                if job % 32 == 0 {
                    sleep(Duration::from_millis(5)).await;
                }
            }
        });

        // A hog: its polls run about 30 ms each (the console flags long polls); it should be a
        // `gmp::syscall` or a `spawn_blocking` call, which is what the console helps to spot.
        let hog = gmp::spawn(async move {
            while running() {
                let start = Instant::now();
                while start.elapsed() < Duration::from_millis(30) {
                    std::hint::black_box(checksum(start.elapsed().as_nanos() as u64, 100));
                }
                gmp::yield_now().await;
                sleep(Duration::from_millis(200)).await;
            }
        });

        // Now and then a blocking call, and short-lived goroutines that finish at once.
        while running() {
            gmp::spawn_blocking(|| std::thread::sleep(Duration::from_millis(50))).await.unwrap();
            for n in 0..3 {
                gmp::spawn(async move { sleep(Duration::from_millis(20 * n)).await }).await.unwrap();
            }
            sleep(Duration::from_millis(500)).await;
        }

        let ticks = ticker.await.unwrap();
        let rounds = pinger.await.unwrap();
        ponger.await.unwrap();
        feeder.await.unwrap();
        let mut work = 0u64;
        for worker in workers {
            work = work.wrapping_add(worker.await.unwrap());
        }
        hog.await.unwrap();
        println!("done: {ticks} ticks, {rounds} ping-pong rounds, work checksum {work:x}");
    });
}

/// A little arithmetic that the optimiser cannot skip.
fn checksum(seed: u64, rounds: u32) -> u64 {
    let mut x = seed | 1;
    for _ in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}
