//! Helpers shared by the integration tests (each test file includes this with `mod common;`).

#![allow(dead_code)] // each test file uses a different subset

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

/// A runtime with `maxprocs` Ps.
pub fn runtime(maxprocs: usize) -> gmp::Runtime {
    gmp::Builder::new().maxprocs(maxprocs).build().unwrap()
}

/// A waker that counts its wakes; its `Arc`'s strong count shows whether something holds it.
pub struct CountingWaker(pub AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A counting waker and the count it bumps.
pub fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
    (counter.clone(), Waker::from(counter))
}

/// Polls `future` once with `waker`.
pub fn poll_once<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}

/// Polls `future` once with `waker`; a `Pending` that woke the task at once is the coop budget
/// asking this poll to yield (sysmon asks that of a poll a loaded machine kept descheduled for
/// 10 ms), so it yields and polls again.
pub async fn poll_once_past_yields<F: Future + Unpin>(
    future: &mut F,
    (counter, waker): &(Arc<CountingWaker>, Waker),
) -> Poll<F::Output> {
    loop {
        let wakes = counter.0.load(Ordering::SeqCst);
        match poll_once(future, waker) {
            Poll::Pending if counter.0.load(Ordering::SeqCst) > wakes => gmp::yield_now().await,
            poll => return poll,
        }
    }
}

/// Runs `f`; if it is not done within `limit`, prints what was waited for and aborts the test
/// process, so a lost wakeup fails the run instead of hanging it.
pub fn within<T>(limit: Duration, what: &str, f: impl FnOnce() -> T) -> T {
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let what = what.to_owned();
    let watchdog = thread::spawn(move || {
        if let Err(RecvTimeoutError::Timeout) = done_rx.recv_timeout(limit) {
            eprintln!("{what}: not done after {limit:?}; aborting the test process");
            std::process::abort();
        }
    });
    let out = f();
    drop(done_tx);
    let _ = watchdog.join();
    out
}

/// The text of a panic payload (`&str` or `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

/// A watchdog for async test bodies (where [`within`] cannot wrap the code): if it is not
/// dropped within `limit`, it prints what was waited for and aborts the test process.
pub struct Watchdog(Option<std::sync::mpsc::Sender<()>>, Option<thread::JoinHandle<()>>);

impl Watchdog {
    pub fn new(limit: Duration, what: &str) -> Watchdog {
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let what = what.to_owned();
        let watcher = thread::spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = done_rx.recv_timeout(limit) {
                eprintln!("{what}: not done after {limit:?}; aborting the test process");
                std::process::abort();
            }
        });
        Watchdog(Some(done_tx), Some(watcher))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.0.take());
        if let Some(watcher) = self.1.take() {
            let _ = watcher.join();
        }
    }
}

/// Builds an example with the profile this test was built with and returns its path.
pub fn example(name: &str) -> std::path::PathBuf {
    // A test binary is target/<profile dir>/deps/<test>-<hash>; cargo builds examples into
    // target/<profile dir>/examples (a no-op when `cargo test` has built them already).
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_owned();
    let mut build = std::process::Command::new(env!("CARGO"));
    build
        .args(["build", "--quiet", "--example", name, "--manifest-path"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .env("CARGO_TARGET_DIR", profile_dir.parent().unwrap());
    match profile_dir.file_name().unwrap().to_str().unwrap() {
        "debug" => {}
        "release" => {
            build.arg("--release");
        }
        other => {
            build.args(["--profile", other]);
        }
    }
    let status = build.status().unwrap();
    assert!(status.success(), "cargo build --example {name}: {status}");
    profile_dir.join("examples").join(name)
}

/// Repeats `run` (each run on a fresh runtime, at most `runs` times) until a run in which
/// sysmon marked no poll blocked, and returns what that run saw. `run` returns its result
/// and that run's `stats().counters.blocked_polls`.
///
/// A loaded machine can keep a thread off the CPU for 20 ms in the middle of any poll; sysmon
/// then marks the poll stuck, a spare P stands in and the stuck P's queue goes back to the
/// global queue, by design. A check that holds only when nothing was handed off (every
/// goroutine on M0, an exact count of global takes) is made on a run without that.
pub fn in_a_run_with_no_stuck_poll<T>(what: &str, runs: usize, mut run: impl FnMut() -> (T, u64)) -> T {
    for _ in 0..runs {
        let (seen, blocked_polls) = run();
        if blocked_polls == 0 {
            return seen;
        }
    }
    panic!("{what}: sysmon marked a poll stuck in each of {runs} runs");
}
