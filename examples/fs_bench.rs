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
//! times, interleaved; its best wall time and its least CPU time (all threads of the process)
//! count, and the most threads the process gained while it ran is shown too (gmp: its Ms and
//! sysmon; tokio: its workers and blocking pool).

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
    // Per contender: the best wall time, the least CPU time, and the most threads added.
    let mut best = [(Duration::MAX, Duration::MAX, 0usize); 4];
    for _ in 0..RUNS {
        for (slot, (_, run)) in best.iter_mut().zip(contenders.iter()) {
            let (elapsed, cpu, threads) = measure(run);
            slot.0 = slot.0.min(elapsed);
            slot.1 = slot.1.min(cpu);
            slot.2 = slot.2.max(threads);
        }
    }

    let rate = |time: Duration| ops as f64 / time.as_secs_f64();
    println!("{:<24} {:>12} {:>16} {:>9}", "", "ops/s (wall)", "ops per CPU-s", "threads");
    for ((name, _), (elapsed, cpu, threads)) in contenders.iter().zip(best) {
        println!("{name:<24} {:>12.0} {:>16.0} {:>9}", rate(elapsed), rate(cpu), format!("+{threads}"));
    }
    let ratio = |a: usize, b: usize| rate(best[a].0) / rate(best[b].0);
    let cpu_ratio = |a: usize, b: usize| rate(best[a].1) / rate(best[b].1);
    println!(
        "gmp::fs / tokio::fs = {:.1}x wall, {:.1}x per CPU-s;   gmp::fs / std::fs = {:.2}x wall, {:.2}x per CPU-s",
        ratio(0, 2),
        cpu_ratio(0, 2),
        ratio(0, 3),
        cpu_ratio(0, 3)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `f`, sampling the process's thread count every millisecond; returns its wall time, the
/// CPU time the process used meanwhile (all threads: the runtime's, its pool's, the sampler's
/// few microseconds) and the most threads it added to the process.
fn measure(f: &dyn Fn() -> Duration) -> (Duration, Duration, usize) {
    let threads = || std::fs::read_dir("/proc/self/task").map_or(0, |tasks| tasks.count());
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(threads(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(1));
    let before = threads(); // this thread and the sampler
    let cpu_before = process_cpu_time();
    let elapsed = f();
    let cpu = process_cpu_time().saturating_sub(cpu_before);
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    (elapsed, cpu, peak.load(Ordering::Relaxed).saturating_sub(before))
}

/// CPU time used by all threads of the process so far. On a machine shared with other work
/// this is steadier than wall time: it counts what the calls cost, not how long others ran.
fn process_cpu_time() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
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
