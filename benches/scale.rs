//! Scale curves: gmp beside tokio's multi-thread runtime (the same thread count), in one run.
//!
//! ```text
//! cargo bench --bench scale                  # every curve (a few minutes)
//! cargo bench --bench scale -- --quick       # smaller counts, fewer rounds (under a minute)
//! cargo bench --bench scale -- spawn         # one curve: spawn, parked or procs
//! ```
//!
//! - **spawn**: spawn N goroutines from inside the runtime and await every `JoinHandle`;
//!   nanoseconds per goroutine, N from 1,000 to 1,000,000 (flat is the goal). Rounds
//!   alternate gmp and tokio; the median of the rounds is reported.
//! - **parked**: bytes per parked goroutine including its `JoinHandle`: N goroutines that each
//!   await a future that never completes, the resident set's growth from just before the
//!   first spawn to once every goroutine has parked, divided by N. Each (executor, N) runs in
//!   a child process of this binary, so one measurement's freed memory cannot be reused by
//!   the next.
//! - **procs**: throughput with maxprocs (tokio: worker threads) 1, 2, 4, 8 and 16 on this
//!   machine, whatever its CPU count: 1,000 goroutines spawned from inside, each yielding 200
//!   times, then joined; goroutine polls per second (oversubscription must not collapse it).
//!
//! Every curve prints a markdown table and writes `target/bench-results/scale_<curve>.csv`,
//! which `scripts/plot_scale.py` turns into `docs/scale.png`. Every loop is bounded in count;
//! a child process that does not finish in 120 s is killed.

use std::future::Future;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const THREADS: usize = 2;
const PROCS: [usize; 5] = [1, 2, 4, 8, 16];
const PROCS_GOROUTINES: usize = 1_000;
const PROCS_YIELDS: usize = 200;
const CHILD_TIMEOUT: Duration = Duration::from_secs(120);

fn gmp_runtime(threads: usize) -> gmp::Runtime {
    gmp::Builder::new().maxprocs(threads).build().expect("gmp runtime")
}

fn tokio_runtime(threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build().expect("tokio runtime")
}

// ---------------------------------------------------------------------------------------------
// spawn + join

fn spawn_join_gmp(rt: &gmp::Runtime, n: usize) -> Duration {
    rt.block_on(async {
        let started = Instant::now();
        let handles: Vec<_> = (0..n).map(|_| gmp::spawn(async {})).collect();
        for handle in handles {
            handle.await.expect("goroutine");
        }
        started.elapsed()
    })
}

fn spawn_join_tokio(rt: &tokio::runtime::Runtime, n: usize) -> Duration {
    rt.block_on(async {
        let started = Instant::now();
        let handles: Vec<_> = (0..n).map(|_| tokio::spawn(async {})).collect();
        for handle in handles {
            handle.await.expect("task");
        }
        started.elapsed()
    })
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[samples.len() / 2]
}

fn spawn_curve(counts: &[usize], rounds: usize) -> String {
    let gmp = gmp_runtime(THREADS);
    let tokio = tokio_runtime(THREADS);
    let mut csv = String::from("goroutines,executor,ns_per_goroutine\n");
    println!("spawn + join, {THREADS} threads, median of {rounds} rounds (ns per goroutine)\n");
    println!("| goroutines | gmp | tokio | gmp ÷ tokio |");
    println!("|---|---|---|---|");
    for &n in counts {
        // Warm-up at this size (allocator, thread start).
        spawn_join_gmp(&gmp, n.min(100_000));
        spawn_join_tokio(&tokio, n.min(100_000));
        let (mut g, mut t) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            if round % 2 == 0 {
                g.push(spawn_join_gmp(&gmp, n).as_nanos() as f64 / n as f64);
                t.push(spawn_join_tokio(&tokio, n).as_nanos() as f64 / n as f64);
            } else {
                t.push(spawn_join_tokio(&tokio, n).as_nanos() as f64 / n as f64);
                g.push(spawn_join_gmp(&gmp, n).as_nanos() as f64 / n as f64);
            }
        }
        let (g, t) = (median(g), median(t));
        println!("| {n} | {g:.0} | {t:.0} | {:.2} |", g / t);
        csv.push_str(&format!("{n},gmp,{g:.1}\n{n},tokio,{t:.1}\n"));
    }
    println!();
    csv
}

// ---------------------------------------------------------------------------------------------
// bytes per parked goroutine (child processes)

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// In the child: parks `n` goroutines on `executor` and prints the bytes per goroutine.
fn parked_child(executor: &str, n: usize) {
    let started = Arc::new(AtomicUsize::new(0));
    let bytes = match executor {
        "gmp" => {
            let rt = gmp_runtime(THREADS);
            rt.block_on(async {
                let before = resident_bytes();
                let handles: Vec<_> = (0..n)
                    .map(|_| {
                        let started = started.clone();
                        gmp::spawn(async move {
                            started.fetch_add(1, Ordering::Relaxed);
                            std::future::pending::<()>().await;
                        })
                    })
                    .collect();
                wait_until_all_started(&started, n, gmp::yield_now).await;
                let bytes = resident_bytes().saturating_sub(before);
                std::mem::forget(handles); // the process exits next
                bytes
            })
        }
        "tokio" => {
            let rt = tokio_runtime(THREADS);
            rt.block_on(async {
                let before = resident_bytes();
                let handles: Vec<_> = (0..n)
                    .map(|_| {
                        let started = started.clone();
                        tokio::spawn(async move {
                            started.fetch_add(1, Ordering::Relaxed);
                            std::future::pending::<()>().await;
                        })
                    })
                    .collect();
                wait_until_all_started(&started, n, tokio::task::yield_now).await;
                let bytes = resident_bytes().saturating_sub(before);
                std::mem::forget(handles);
                bytes
            })
        }
        other => panic!("unknown executor {other}"),
    };
    println!("bytes_per_goroutine={:.1}", bytes as f64 / n as f64);
    // Exit without tearing down a million parked tasks.
    std::process::exit(0);
}

/// Yields until `started` reaches `n` (every goroutine has been polled and parked), for at
/// most 60 s.
async fn wait_until_all_started<Y: Future<Output = ()>>(started: &AtomicUsize, n: usize, yield_now: impl Fn() -> Y) {
    let limit = Instant::now() + Duration::from_secs(60);
    while started.load(Ordering::Relaxed) < n {
        assert!(Instant::now() < limit, "goroutines did not all start within 60 s");
        yield_now().await;
    }
}

/// Runs this binary as a child measuring one (executor, n), killed after `CHILD_TIMEOUT`.
fn parked_in_child(executor: &str, n: usize) -> f64 {
    let exe: PathBuf = std::env::current_exe().expect("current_exe");
    let mut child = Command::new(exe)
        .args(["--parked-child", executor, &n.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start child");
    let limit = Instant::now() + CHILD_TIMEOUT;
    loop {
        if child.try_wait().expect("wait child").is_some() {
            break;
        }
        if Instant::now() > limit {
            let _ = child.kill();
            panic!("parked child {executor} {n} took over {CHILD_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("child output");
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("bytes_per_goroutine="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("child {executor} {n} printed no figure: {text}"))
}

fn parked_curve(counts: &[usize], rounds: usize) -> String {
    let mut csv = String::from("goroutines,executor,bytes_per_goroutine\n");
    println!(
        "bytes per parked goroutine incl. its JoinHandle (RSS growth / N), {THREADS} threads, median of {rounds}\n"
    );
    println!("| goroutines | gmp | tokio | gmp ÷ tokio |");
    println!("|---|---|---|---|");
    for &n in counts {
        let (mut g, mut t) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            g.push(parked_in_child("gmp", n));
            t.push(parked_in_child("tokio", n));
        }
        let (g, t) = (median(g), median(t));
        println!("| {n} | {g:.0} | {t:.0} | {:.2} |", g / t);
        csv.push_str(&format!("{n},gmp,{g:.1}\n{n},tokio,{t:.1}\n"));
    }
    println!();
    csv
}

// ---------------------------------------------------------------------------------------------
// throughput against maxprocs

fn yielders_gmp(rt: &gmp::Runtime) -> Duration {
    rt.block_on(async {
        let started = Instant::now();
        let handles: Vec<_> = (0..PROCS_GOROUTINES)
            .map(|_| {
                gmp::spawn(async {
                    for _ in 0..PROCS_YIELDS {
                        gmp::yield_now().await;
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.expect("goroutine");
        }
        started.elapsed()
    })
}

fn yielders_tokio(rt: &tokio::runtime::Runtime) -> Duration {
    rt.block_on(async {
        let started = Instant::now();
        let handles: Vec<_> = (0..PROCS_GOROUTINES)
            .map(|_| {
                tokio::spawn(async {
                    for _ in 0..PROCS_YIELDS {
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.expect("task");
        }
        started.elapsed()
    })
}

fn procs_curve(rounds: usize) -> String {
    let polls = (PROCS_GOROUTINES * (PROCS_YIELDS + 1)) as f64;
    let mut csv = String::from("maxprocs,executor,million_polls_per_sec\n");
    println!(
        "throughput against maxprocs ({} CPUs here): {PROCS_GOROUTINES} goroutines x {PROCS_YIELDS} yields, \
         million polls/s, median of {rounds}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| maxprocs | gmp | tokio | gmp ÷ tokio (time) |");
    println!("|---|---|---|---|");
    for procs in PROCS {
        let gmp = gmp_runtime(procs);
        let tokio = tokio_runtime(procs);
        yielders_gmp(&gmp);
        yielders_tokio(&tokio);
        let (mut g, mut t) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            if round % 2 == 0 {
                g.push(yielders_gmp(&gmp).as_secs_f64());
                t.push(yielders_tokio(&tokio).as_secs_f64());
            } else {
                t.push(yielders_tokio(&tokio).as_secs_f64());
                g.push(yielders_gmp(&gmp).as_secs_f64());
            }
        }
        let (g, t) = (median(g), median(t));
        let (g_rate, t_rate) = (polls / g / 1e6, polls / t / 1e6);
        println!("| {procs} | {g_rate:.2} | {t_rate:.2} | {:.2} |", g / t);
        csv.push_str(&format!("{procs},gmp,{g_rate:.3}\n{procs},tokio,{t_rate:.3}\n"));
    }
    println!();
    csv
}

// ---------------------------------------------------------------------------------------------

fn write_csv(name: &str, csv: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-results");
    std::fs::create_dir_all(&dir).expect("target/bench-results");
    std::fs::write(dir.join(format!("scale_{name}.csv")), csv).expect("write csv");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if args.first().map(String::as_str) == Some("--parked-child") {
        let n = args.get(2).and_then(|n| n.parse().ok()).expect("--parked-child EXECUTOR N");
        parked_child(&args[1], n);
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let wanted: Vec<&str> = args.iter().map(String::as_str).filter(|a| !a.starts_with("--")).collect();
    let wants = |curve: &str| wanted.is_empty() || wanted.contains(&curve);
    let counts: &[usize] =
        if quick { &[1_000, 10_000, 100_000, 300_000] } else { &[1_000, 10_000, 100_000, 300_000, 1_000_000] };
    let rounds = if quick { 3 } else { 5 };
    if wants("spawn") {
        write_csv("spawn", &spawn_curve(counts, rounds));
    }
    if wants("parked") {
        write_csv("parked", &parked_curve(counts, if quick { 1 } else { 3 }));
    }
    if wants("procs") {
        write_csv("procs", &procs_curve(rounds));
    }
}
