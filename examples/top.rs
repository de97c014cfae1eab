//! `top` for a gmp program: a live one-screen view of the scheduler — its Ps, their queues and
//! counters, and the poll-time and scheduling-latency histograms — redrawn every 500 ms
//! while a mixed workload runs (spawns from inside and outside the runtime, yields, sleeps,
//! channels, a TCP echo over 127.0.0.1 and a blocking call in `gmp::syscall`).
//!
//! ```text
//! cargo run --release --example top                          # 10 s, 2 Ps
//! cargo run --release --example top -- --seconds 30 --maxprocs 4
//! ```
//!
//! Everything shown comes from `gmp::runtime::stats()`; the rates are the difference between
//! two snapshots. It exits on its own after `--seconds` (default 10). When stdout is not a
//! terminal, frames are printed one after another instead of redrawn.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt};
use gmp::runtime::{Histogram, ProcessorCounters, Stats};

const REFRESH: Duration = Duration::from_millis(500);

struct Options {
    seconds: u64,
    maxprocs: usize,
}

fn options() -> Options {
    let mut options = Options { seconds: 10, maxprocs: 2 };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> u64 {
            match args.next().and_then(|v| v.parse().ok()) {
                Some(n) if n > 0 => n,
                _ => {
                    eprintln!("top: {name} takes a positive number");
                    std::process::exit(2);
                }
            }
        };
        match arg.as_str() {
            "--seconds" => options.seconds = number("--seconds"),
            "--maxprocs" => options.maxprocs = number("--maxprocs") as usize,
            "-h" | "--help" => {
                println!("usage: top [--seconds N (10)] [--maxprocs N (2)]");
                std::process::exit(0);
            }
            other => {
                eprintln!("top: unknown argument {other:?} (try --help)");
                std::process::exit(2);
            }
        }
    }
    options
}

fn main() {
    let options = options();
    let rt = gmp::Builder::new().maxprocs(options.maxprocs).build().expect("runtime");
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));

    // Spawns from a plain thread go through the global queue.
    let outside = {
        let (handle, stop, done) = (rt.handle().clone(), stop.clone(), done.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..20 {
                    let done = done.clone();
                    handle.spawn(async move {
                        done.fetch_add(1, Ordering::Relaxed);
                    });
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };

    rt.block_on(async {
        let workload = start_workload(stop.clone(), done.clone()).await;
        let deadline = Instant::now() + Duration::from_secs(options.seconds);
        let started = Instant::now();
        let terminal = std::io::stdout().is_terminal();
        let mut previous = (Instant::now(), gmp::runtime::stats());
        while Instant::now() < deadline {
            gmp::time::sleep(REFRESH).await;
            let now = (Instant::now(), gmp::runtime::stats());
            let frame =
                render(&now.1, &previous.1, now.0 - previous.0, started.elapsed(), done.load(Ordering::Relaxed));
            let mut out = std::io::stdout().lock();
            if terminal {
                // Clear the screen and go home, then draw.
                let _ = write!(out, "\x1b[2J\x1b[H{frame}");
            } else {
                let _ = writeln!(out, "{frame}");
            }
            let _ = out.flush();
            previous = now;
        }
        stop.store(true, Ordering::Relaxed);
        for handle in workload {
            handle.await.expect("workload goroutine");
        }
    });
    outside.join().expect("outside spawner");
    println!("top: done after {} s, {} small goroutines finished", options.seconds, done.load(Ordering::Relaxed));
}

/// Starts the workload's goroutines; each runs until `stop` is set.
async fn start_workload(stop: Arc<AtomicBool>, done: Arc<AtomicU64>) -> Vec<gmp::JoinHandle<()>> {
    let mut handles = Vec::new();
    let running = move || !stop.load(Ordering::Relaxed);
    let running = Arc::new(running);

    // Spawns from inside: bursts of short goroutines.
    let (go, count) = (running.clone(), done.clone());
    handles.push(gmp::spawn(async move {
        while go() {
            let burst: Vec<_> = (0..50)
                .map(|_| {
                    let count = count.clone();
                    gmp::spawn(async move {
                        count.fetch_add(1, Ordering::Relaxed);
                    })
                })
                .collect();
            for handle in burst {
                let _ = handle.await;
            }
            gmp::time::sleep(Duration::from_millis(1)).await;
        }
    }));

    // Yielders that compute a little between yields.
    for _ in 0..4 {
        let go = running.clone();
        handles.push(gmp::spawn(async move {
            while go() {
                let start = Instant::now();
                while start.elapsed() < Duration::from_micros(20) {
                    std::hint::spin_loop();
                }
                gmp::yield_now().await;
            }
        }));
    }

    // Sleepers with staggered periods.
    for i in 0..100u64 {
        let go = running.clone();
        handles.push(gmp::spawn(async move {
            while go() {
                gmp::time::sleep(Duration::from_millis(1 + i % 20)).await;
            }
        }));
    }

    // Channel ping-pong pairs.
    for _ in 0..8 {
        let (ping_tx, ping_rx) = gmp::chan::bounded::<u64>(0);
        let (pong_tx, pong_rx) = gmp::chan::bounded::<u64>(0);
        handles.push(gmp::spawn(async move {
            while let Ok(n) = ping_rx.recv().await {
                if pong_tx.send(n + 1).await.is_err() {
                    break;
                }
            }
        }));
        let go = running.clone();
        handles.push(gmp::spawn(async move {
            let mut n = 0;
            while go() {
                ping_tx.send(n).await.expect("ping");
                n = pong_rx.recv().await.expect("pong");
                if n % 64 == 0 {
                    gmp::time::sleep(Duration::from_micros(200)).await;
                }
            }
        }));
    }

    // A blocking call now and then, long enough for sysmon to hand the P off.
    let go = running.clone();
    handles.push(gmp::spawn(async move {
        while go() {
            gmp::syscall(|| std::thread::sleep(Duration::from_millis(15)));
            gmp::time::sleep(Duration::from_millis(50)).await;
        }
    }));

    // A TCP echo over loopback: the netpoller wakes both sides.
    let listener = gmp::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
    let address = listener.local_addr().expect("local address");
    handles.push(gmp::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        let mut buffer = [0u8; 64];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if stream.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
    }));
    let go = running.clone();
    handles.push(gmp::spawn(async move {
        let mut stream = gmp::net::TcpStream::connect(address).await.expect("connect");
        let mut buffer = [0u8; 64];
        while go() {
            stream.write_all(b"ping").await.expect("write");
            stream.read_exact(&mut buffer[..4]).await.expect("read");
            gmp::time::sleep(Duration::from_micros(500)).await;
        }
        // Dropping the stream ends the server's loop.
    }));
    handles
}

/// Per-second rate of a counter between two snapshots.
fn rate(now: u64, before: u64, elapsed: Duration) -> u64 {
    (now.saturating_sub(before) as f64 / elapsed.as_secs_f64().max(1e-9)) as u64
}

fn counters_of(stats: &Stats, index: usize) -> ProcessorCounters {
    stats.processors.iter().find(|p| p.index == index).map(|p| p.counters).unwrap_or_default()
}

fn render(stats: &Stats, before: &Stats, elapsed: Duration, uptime: Duration, done: u64) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "gmp top — up {:.1}s   maxprocs {}   goroutines {}   threads {}   idle Ps {}   spinning Ms {}   idle Ms {}",
        uptime.as_secs_f64(),
        stats.maxprocs,
        stats.goroutines,
        stats.threads,
        stats.idle_processors,
        stats.spinning_threads,
        stats.idle_threads,
    );
    let _ = writeln!(
        out,
        "global queue {}   timers {}   small goroutines done {}\n",
        stats.global_queue_length, stats.pending_timers, done
    );
    let _ = writeln!(
        out,
        "{:<4} {:<8} {:>5} {:>10} {:>8} {:>8} {:>8} {:>7} {:>7} {:>7} {:>8} {:>9} {:>9}",
        "P",
        "status",
        "queue",
        "polls/s",
        "steals",
        "stolen",
        "robbed",
        "handoff",
        "blocked",
        "preempt",
        "syscalls",
        "global",
        "netpoll"
    );
    for p in &stats.processors {
        let c = p.counters;
        let was = counters_of(before, p.index);
        let _ = writeln!(
            out,
            "{:<4} {:<8} {:>5} {:>10} {:>8} {:>8} {:>8} {:>7} {:>7} {:>7} {:>8} {:>9} {:>9}",
            format!("P{}", p.index),
            p.status,
            p.local_queue_length,
            rate(c.polls, was.polls, elapsed),
            c.steals,
            c.stolen_goroutines,
            c.stolen_from,
            c.handoffs,
            c.blocked_polls,
            c.preemptions,
            c.syscalls,
            c.global_queue_takes,
            c.netpoll_wakes,
        );
    }
    let t = stats.counters;
    let _ = writeln!(
        out,
        "{:<4} {:<8} {:>5} {:>10} {:>8} {:>8} {:>8} {:>7} {:>7} {:>7} {:>8} {:>9} {:>9}\n",
        "all",
        "",
        stats.global_queue_length + stats.local_queue_lengths.iter().sum::<usize>(),
        rate(t.polls, before.counters.polls, elapsed),
        t.steals,
        t.stolen_goroutines,
        t.stolen_from,
        t.handoffs,
        t.blocked_polls,
        t.preemptions,
        t.syscalls,
        t.global_queue_takes,
        t.netpoll_wakes,
    );
    let _ = writeln!(
        out,
        "steals: steals made, stolen: goroutines they took, robbed: steals from this P, handoff: P retaken\n\
         from a syscall, blocked: stuck polls, global: goroutines taken from the global queue,\n\
         netpoll: goroutines readied by I/O (counts since start; polls as a rate)\n"
    );
    histogram(&mut out, "poll time (sampled)", &stats.poll_time_histogram);
    histogram(&mut out, "scheduling latency, runnable -> running (sampled)", &stats.scheduling_latency_histogram);
    out
}

fn histogram(out: &mut String, title: &str, h: &Histogram) {
    use std::fmt::Write as _;
    let quantile = |q| h.quantile(q).map_or("-".to_owned(), short);
    let _ = writeln!(
        out,
        "{title}: {} samples, mean {}, p50 < {}, p99 < {}",
        h.count(),
        h.mean().map_or("-".to_owned(), short),
        quantile(0.5),
        quantile(0.99)
    );
    let widest = h.counts().iter().copied().max().unwrap_or(0).max(1);
    let used: Vec<usize> = (0..h.counts().len()).filter(|&i| h.counts()[i] > 0).collect();
    let (Some(&first), Some(&last)) = (used.first(), used.last()) else {
        let _ = writeln!(out, "  (no samples yet)\n");
        return;
    };
    for index in first..=last {
        let (low, high) = Histogram::bucket_range(index);
        let n = h.counts()[index];
        let bar = "#".repeat(((n as f64 / widest as f64) * 50.0).ceil() as usize);
        let high = if high == Duration::MAX { "inf".to_owned() } else { short(high) };
        let _ = writeln!(out, "  {:>8} .. {:<8} {:>9} {bar}", short(low), high, n);
    }
    out.push('\n');
}

/// A duration in the unit that suits it.
fn short(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos < 1_000 {
        format!("{nanos}ns")
    } else if nanos < 1_000_000 {
        format!("{:.1}us", nanos as f64 / 1e3)
    } else if nanos < 1_000_000_000 {
        format!("{:.1}ms", nanos as f64 / 1e6)
    } else {
        format!("{:.2}s", nanos as f64 / 1e9)
    }
}
