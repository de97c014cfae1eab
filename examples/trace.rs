//! An execution trace of a small fan-out program, to open in Perfetto (ui.perfetto.dev) or
//! chrome://tracing.
//!
//! ```text
//! cargo run --release --example trace                  # writes target/trace.json
//! cargo run --release --example trace -- out.json      # or there
//! cargo run --release --example trace -- --overhead    # what tracing costs per poll
//! ```
//!
//! The program, on 2 Ps: a producer sends 400 jobs over a bounded channel to 8 workers; each
//! job computes for ~50 µs, every 10th also makes a 1 ms `gmp::syscall` (a disk read, say) and
//! every 25th sleeps 2 ms; results go back to the collector over another channel. Halfway, one
//! goroutine blocks its thread for 15 ms with `std::thread::sleep` inside a poll, the mistake a
//! trace makes visible: its poll is a 15 ms box, sysmon's `preempt` and `stuck poll retake`
//! instants follow, and the other goroutines move to another M.
//!
//! `--overhead` runs a yield-heavy workload (200 goroutines × 1,000 yields, ~2 × 10⁵ polls)
//! untraced and traced, alternately, 15 times each, and prints the medians.

use std::time::{Duration, Instant};

const WORKERS: usize = 8;
const JOBS: u64 = 400;

fn main() -> std::io::Result<()> {
    let argument = std::env::args().nth(1);
    if argument.as_deref() == Some("--overhead") {
        return overhead();
    }
    let path = argument.unwrap_or_else(|| "target/trace.json".to_owned());
    let runtime = gmp::Builder::new().maxprocs(2).build()?;
    let written = runtime.block_on(async {
        gmp::runtime::trace::start(&path)?;
        let total = fan_out().await;
        println!("fan-out: {JOBS} jobs, checksum {total}");
        gmp::runtime::trace::stop()
    })?;
    println!("wrote {} trace events to {}; open it in https://ui.perfetto.dev", written.events, written.path.display());
    Ok(())
}

/// A job's computation: ~50 µs of arithmetic.
fn compute(job: u64) -> u64 {
    let until = Instant::now() + Duration::from_micros(50);
    let mut x = job;
    while Instant::now() < until {
        for _ in 0..100 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        }
    }
    x >> 48
}

async fn fan_out() -> u64 {
    let (jobs, inbox) = gmp::chan::bounded::<u64>(16);
    let (results, outbox) = gmp::chan::unbounded::<u64>();
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (inbox, results) = (inbox.clone(), results.clone());
            gmp::spawn(async move {
                while let Ok(job) = inbox.recv().await {
                    let mut value = compute(job);
                    if job % 10 == 0 {
                        value += gmp::syscall(|| {
                            std::thread::sleep(Duration::from_millis(1));
                            1
                        });
                    }
                    if job % 25 == 0 {
                        gmp::time::sleep(Duration::from_millis(2)).await;
                    }
                    let _ = results.send(value).await;
                }
            })
        })
        .collect();
    drop((inbox, results));
    let producer = gmp::spawn(async move {
        let mut blocker = None;
        for job in 0..JOBS {
            if job == JOBS / 2 {
                // The mistake a trace shows: a blocking call inside a poll holds its thread.
                blocker = Some(gmp::spawn(async { std::thread::sleep(Duration::from_millis(15)) }));
            }
            if jobs.send(job).await.is_err() {
                break;
            }
        }
        blocker
    });
    let mut total = 0u64;
    while let Ok(value) = outbox.recv().await {
        total = total.wrapping_add(value);
    }
    if let Some(blocker) = producer.await.unwrap() {
        blocker.await.unwrap();
    }
    for worker in workers {
        worker.await.unwrap();
    }
    total
}

/// 200 goroutines × 1,000 yields; returns the elapsed time.
async fn yield_many() -> Duration {
    let started = Instant::now();
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
    started.elapsed()
}

fn overhead() -> std::io::Result<()> {
    let path = std::env::temp_dir().join(format!("gmp-trace-overhead-{}.json", std::process::id()));
    let runtime = gmp::Builder::new().maxprocs(2).build()?;
    let (mut off, mut on, mut writes, mut events) = (Vec::new(), Vec::new(), Vec::new(), 0);
    runtime.block_on(async {
        yield_many().await; // warm up
        for _ in 0..15 {
            off.push(yield_many().await);
            gmp::runtime::trace::start(&path)?;
            on.push(yield_many().await);
            let writing = Instant::now();
            events = gmp::runtime::trace::stop()?.events;
            writes.push(writing.elapsed());
        }
        Ok::<_, std::io::Error>(())
    })?;
    std::fs::remove_file(&path)?;
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    let (off, on, write) = (median(&mut off), median(&mut on), median(&mut writes));
    let polls = 200.0 * 1_001.0;
    println!("yield_many, maxprocs 2, median of 15 interleaved runs:");
    println!("  tracing off: {off:?} ({:.0} ns a poll)", off.as_nanos() as f64 / polls);
    println!(
        "  tracing on:  {on:?} ({:.0} ns a poll); on/off = {:.2}",
        on.as_nanos() as f64 / polls,
        on.as_secs_f64() / off.as_secs_f64()
    );
    println!("  added per poll: {:.0} ns", (on.as_nanos() as f64 - off.as_nanos() as f64) / polls);
    println!("  writing the file at stop: {write:?} for {events} events");
    Ok(())
}
