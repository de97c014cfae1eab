//! Building and shutting down runtimes leaks nothing: no file descriptor (each runtime has an
//! epoll fd and a socket pair) and no thread (sysmon, Ms, blocking-pool threads), whichever way
//! it is shut down. One test in this file, so no other test's threads or fds move the counts.

use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::within;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").count()
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").expect("/proc/self/task").count()
}

/// Waits (bounded) until the fd and thread counts are back to `fds` and `tasks`; threads the
/// background shutdown detached exit on their own a moment later.
fn assert_back_to(how: &str, fds: usize, tasks: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while (open_fds() > fds || threads() > tasks) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    assert!(open_fds() <= fds, "{how}: {} fds open, {fds} before", open_fds());
    assert!(threads() <= tasks, "{how}: {} threads, {tasks} before", threads());
}

/// One runtime that did some work: goroutines (some left parked), a blocking call, a timer
/// and a socket, so every kind of thread and fd a runtime makes was made.
fn busy_runtime() -> gmp::Runtime {
    let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
    rt.block_on(async {
        let listener = gmp::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        gmp::spawn(async move {
            let _ = listener.accept().await;
        });
        gmp::spawn(std::future::pending::<()>());
        gmp::spawn_blocking(|| 1).await.unwrap();
        gmp::time::sleep(Duration::from_micros(10)).await;
        gmp::yield_now().await;
    });
    rt
}

#[test]
fn a_thousand_runtimes_shut_down_every_way_leak_no_fd_and_no_thread() {
    const RUNTIMES: usize = 1000;
    // Warm up (std's lazily opened fds, the watchdog's first thread, ...).
    drop(busy_runtime());
    let (fds, tasks) = (open_fds(), threads());
    let began = Instant::now();
    within(Duration::from_secs(300), "1,000 runtimes dropped", || {
        for _ in 0..RUNTIMES {
            drop(busy_runtime());
        }
    });
    assert_back_to("drop", fds, tasks);
    within(Duration::from_secs(300), "1,000 runtimes shut down with a timeout", || {
        for _ in 0..RUNTIMES {
            busy_runtime().shutdown_timeout(Duration::from_secs(10));
        }
    });
    // Before the fix `shutdown_timeout` forgot the runtime: 3 fds per runtime stayed open.
    assert_back_to("shutdown_timeout", fds, tasks);
    within(Duration::from_secs(300), "1,000 runtimes shut down in the background", || {
        for _ in 0..RUNTIMES {
            busy_runtime().shutdown_background();
        }
    });
    assert_back_to("shutdown_background", fds, tasks);
    eprintln!("3 x {RUNTIMES} runtimes built, used and shut down in {:?}", began.elapsed());
}
