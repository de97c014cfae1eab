//! Small-file reads and stats: gmp::fs against tokio::fs and plain std::fs on 2 OS threads.
//!
//! ```text
//! cargo run --release --example fs_bench            # 64 tasks x 1000 rounds, best of 5
//! cargo run --release --example fs_bench -- 200     # fewer rounds
//! ```
//!
//! 64 concurrent tasks each read a 2 KiB file and stat it, `ROUNDS` times, over 64 files (all
//! in the page cache after the first round). gmp and tokio run with 2 worker threads; std runs
//! the same calls on 2 OS threads with no executor at all (the floor). Each contender runs 3
//! times, interleaved, and its best run counts; the most threads the process gained during
//! the best run is shown too (gmp: its Ms and sysmon; tokio: its workers and blocking pool).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TASKS: usize = 64;
const FILES: usize = 64;
const FILE_SIZE: usize = 2048;
const THREADS: usize = 2;
const RUNS: usize = 5;

fn main() {
    let rounds: usize = std::env::args().nth(1).map_or(1000, |n| n.parse().expect("ROUNDS must be a number"));
    let dir = std::env::temp_dir().join(format!("gmp-fs-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files: Arc<Vec<PathBuf>> = Arc::new(
        (0..FILES)
            .map(|i| {
                let path = dir.join(format!("file-{i}"));
                std::fs::write(&path, vec![i as u8; FILE_SIZE]).unwrap();
                path
            })
            .collect(),
    );
    let ops = TASKS * rounds * 2;
    println!(
        "{TASKS} tasks x {rounds} rounds of (read {FILE_SIZE} B + stat) = {ops} ops, {THREADS} threads, best of {RUNS}"
    );

    let contenders: [(&str, &dyn Fn() -> Duration); 4] = [
        ("gmp::fs", &|| run_gmp(&files, rounds)),
        ("gmp::syscall(std::fs)", &|| run_gmp_syscall(&files, rounds)),
        ("tokio::fs", &|| run_tokio(&files, rounds)),
        ("std::fs, 2 threads", &|| run_std(&files, rounds)),
    ];
    let mut best = [(Duration::MAX, 0usize); 4];
    for _ in 0..RUNS {
        for (slot, (_, run)) in best.iter_mut().zip(contenders.iter()) {
            let (elapsed, peak) = with_peak_threads(run);
            if elapsed < slot.0 {
                *slot = (elapsed, peak);
            }
        }
    }

    let rate = |elapsed: Duration| ops as f64 / elapsed.as_secs_f64();
    for ((name, _), (elapsed, peak)) in contenders.iter().zip(best) {
        println!("{name:<24} {:>10.0} ops/s  ({elapsed:>9.2?}, +{peak} threads)", rate(elapsed));
    }
    let (gmp, tokio, std) = (rate(best[0].0), rate(best[2].0), rate(best[3].0));
    println!("gmp::fs / tokio::fs = {:.1}x   gmp::fs / std::fs = {:.2}x", gmp / tokio, gmp / std);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `f`, sampling the process's thread count every 100 µs; returns its time and the most
/// threads it added to the process.
fn with_peak_threads(f: &dyn Fn() -> Duration) -> (Duration, usize) {
    let threads = || std::fs::read_dir("/proc/self/task").map_or(0, |tasks| tasks.count());
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(threads(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_micros(100));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(1));
    let before = threads(); // this thread and the sampler
    let elapsed = f();
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    (elapsed, peak.load(Ordering::Relaxed).saturating_sub(before))
}

fn check(bytes: &[u8], index: usize) {
    assert!(bytes.len() == FILE_SIZE && bytes[0] == index as u8, "file {index} read back wrong");
}

fn run_gmp(files: &Arc<Vec<PathBuf>>, rounds: usize) -> Duration {
    // A runtime per run (as for tokio), so its threads count only in its own peak.
    let rt = gmp::Builder::new().maxprocs(THREADS).build().unwrap();
    rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let files = files.clone();
                gmp::spawn(async move {
                    for round in 0..rounds {
                        let index = (task + round) % FILES;
                        check(&gmp::fs::read(&files[index]).await.unwrap(), index);
                        assert_eq!(gmp::fs::metadata(&files[index]).await.unwrap().len(), FILE_SIZE as u64);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        start.elapsed()
    })
}

fn run_gmp_syscall(files: &Arc<Vec<PathBuf>>, rounds: usize) -> Duration {
    // A runtime per run (as for tokio), so its threads count only in its own peak.
    let rt = gmp::Builder::new().maxprocs(THREADS).build().unwrap();
    rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let files = files.clone();
                gmp::spawn(async move {
                    for round in 0..rounds {
                        let index = (task + round) % FILES;
                        check(&gmp::syscall(|| std::fs::read(&files[index])).unwrap(), index);
                        let metadata = gmp::syscall(|| std::fs::metadata(&files[index])).unwrap();
                        assert_eq!(metadata.len(), FILE_SIZE as u64);
                        gmp::consume_budget().await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        start.elapsed()
    })
}

/// A runtime per run, shut down after it, so its blocking pool's threads (kept alive 10 s
/// after each call) do not count in the other contenders' thread peaks.
fn run_tokio(files: &Arc<Vec<PathBuf>>, rounds: usize) -> Duration {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(THREADS).enable_all().build().unwrap();
    let elapsed = rt.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..TASKS)
            .map(|task| {
                let files = files.clone();
                tokio::spawn(async move {
                    for round in 0..rounds {
                        let index = (task + round) % FILES;
                        check(&tokio::fs::read(&files[index]).await.unwrap(), index);
                        assert_eq!(tokio::fs::metadata(&files[index]).await.unwrap().len(), FILE_SIZE as u64);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        start.elapsed()
    });
    rt.shutdown_timeout(Duration::from_secs(10));
    elapsed
}

fn run_std(files: &Arc<Vec<PathBuf>>, rounds: usize) -> Duration {
    let start = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let files = files.clone();
            std::thread::spawn(move || {
                // This thread's share of the tasks, each run to completion in turn.
                for task in (thread..TASKS).step_by(THREADS) {
                    for round in 0..rounds {
                        let index = (task + round) % FILES;
                        check(&std::fs::read(&files[index]).unwrap(), index);
                        assert_eq!(std::fs::metadata(&files[index]).unwrap().len(), FILE_SIZE as u64);
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    start.elapsed()
}
