//! Memory per parked goroutine: gmp against tokio's multi-thread runtime, same workload.
//!
//! Run with `cargo run --release --example parked_memory`. Spawns 200,000 tasks that each wait
//! on a oneshot channel, and divides the growth of the resident set by the count. Go starts
//! each goroutine with a 2 KiB stack (plus its `g`), for comparison.

use futures::channel::oneshot;

const TASKS: usize = 200_000;

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn gmp_bytes_per_task() -> usize {
    let rt = gmp::Builder::new().maxprocs(2).build().expect("runtime");
    rt.block_on(async {
        let before = resident_bytes();
        let mut senders = Vec::with_capacity(TASKS);
        let mut handles = Vec::with_capacity(TASKS);
        for _ in 0..TASKS {
            let (tx, rx) = oneshot::channel::<()>();
            senders.push(tx);
            handles.push(gmp::spawn(async move {
                let _ = rx.await;
            }));
        }
        while gmp::runtime::goroutines().iter().any(|g| g.state != gmp::runtime::GoroutineState::Waiting) {
            gmp::yield_now().await;
        }
        let per_task = (resident_bytes() - before) / TASKS;
        drop(senders);
        for handle in handles {
            handle.await.expect("goroutine");
        }
        per_task
    })
}

fn tokio_bytes_per_task() -> usize {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let before = resident_bytes();
        let mut senders = Vec::with_capacity(TASKS);
        let mut handles = Vec::with_capacity(TASKS);
        for _ in 0..TASKS {
            let (tx, rx) = oneshot::channel::<()>();
            senders.push(tx);
            handles.push(tokio::spawn(async move {
                let _ = rx.await;
            }));
        }
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let per_task = (resident_bytes() - before) / TASKS;
        drop(senders);
        for handle in handles {
            handle.await.expect("task");
        }
        per_task
    })
}

fn main() {
    // Each executor is measured in a fresh process, so neither reuses pages the other freed.
    // Each measurement includes the oneshot channel, the sender kept in a Vec and the handle.
    match std::env::args().nth(1).as_deref() {
        Some("gmp") => println!("{}", gmp_bytes_per_task()),
        Some("tokio") => println!("{}", tokio_bytes_per_task()),
        _ => {
            let measure = |which: &str| -> usize {
                let exe = std::env::current_exe().expect("current_exe");
                let output = std::process::Command::new(exe).arg(which).output().expect("child");
                String::from_utf8_lossy(&output.stdout).trim().parse().expect("a byte count")
            };
            let (gmp, tokio) = (measure("gmp"), measure("tokio"));
            println!(
                "memory per parked task (task + oneshot + handle), {TASKS} tasks: gmp {gmp} B, tokio {tokio} B, ratio {:.2}",
                gmp as f64 / tokio as f64
            );
        }
    }
}
