//! The cases of issue 12, "nothing stranded behind a blocked thread", written once for
//! `tests/stranding.rs` (which asserts Go's behaviour) and `examples/stranding.rs` (which prints
//! gmp's time for each). Each case is a few lines of ordinary user code.

#![allow(dead_code)] // the test and the example use different subsets

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt};

/// How long the blocking calls of the cases block their thread.
pub const BLOCK: Duration = Duration::from_secs(3);

fn runtime(maxprocs: usize) -> gmp::Runtime {
    gmp::Builder::new().maxprocs(maxprocs).build().expect("runtime")
}

/// Runs `body` as `#[gmp::main]` does, as the main goroutine, without exiting at the end.
fn as_main_goroutine<T: Send + 'static>(
    rt: &gmp::Runtime,
    body: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    rt.block_on(rt.spawn(body)).expect("the main goroutine")
}

/// The main goroutine does 50 TCP round trips with an echo goroutine while `blockers`
/// goroutines it spawned block their threads in `std::thread::sleep` (tokio#4730). Returns
/// the time of the round trips.
pub fn round_trips_beside_a_blocker(maxprocs: usize, blockers: usize) -> Duration {
    let rt = runtime(maxprocs);
    as_main_goroutine(&rt, round_trips(blockers))
}

/// The same with the round trips in `block_on`'s own future, which only the calling thread may
/// poll.
pub fn round_trips_in_block_on_beside_a_blocker(maxprocs: usize, blockers: usize) -> Duration {
    runtime(maxprocs).block_on(round_trips(blockers))
}

async fn round_trips(blockers: usize) -> Duration {
    {
        let listener = gmp::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        gmp::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut byte = [0u8; 1];
            while stream.read_exact(&mut byte).await.is_ok() {
                if stream.write_all(&byte).await.is_err() {
                    break;
                }
            }
        });
        for _ in 0..blockers {
            gmp::spawn(async { thread::sleep(BLOCK) });
        }
        let started = Instant::now();
        let mut stream = gmp::net::TcpStream::connect(address).await.expect("connect");
        let mut byte = [7u8; 1];
        for _ in 0..50 {
            stream.write_all(&byte).await.expect("write");
            stream.read_exact(&mut byte).await.expect("read");
        }
        started.elapsed()
    }
}

/// A goroutine parks on a 50 ms `gmp::time::sleep`; then another goroutine blocks its thread.
/// Returns how long the sleeper slept, as it measured it.
pub fn timer_beside_a_blocker(maxprocs: usize, blockers: usize) -> Duration {
    let rt = runtime(maxprocs);
    let (slept_tx, slept_rx) = mpsc::channel();
    rt.block_on(async {
        let parked = Arc::new(AtomicBool::new(false));
        let parked_in_sleeper = parked.clone();
        gmp::spawn(async move {
            let started = Instant::now();
            let sleep = gmp::time::sleep(Duration::from_millis(50));
            parked_in_sleeper.store(true, Ordering::Release);
            sleep.await;
            let _ = slept_tx.send(started.elapsed());
        });
        while !parked.load(Ordering::Acquire) {
            gmp::yield_now().await;
        }
        gmp::yield_now().await;
        for _ in 0..blockers {
            gmp::spawn(async { thread::sleep(BLOCK) });
        }
    });
    slept_rx.recv_timeout(BLOCK * 3).expect("the sleeper never woke")
}

/// How a case's goroutine blocks its thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocking {
    /// Inside `gmp::syscall`.
    Marked,
    /// A plain blocking call inside the future.
    Unmarked,
}

fn block_thread(how: Blocking) {
    match how {
        Blocking::Marked => gmp::syscall(|| thread::sleep(BLOCK)),
        Blocking::Unmarked => thread::sleep(BLOCK),
    }
}

/// A goroutine waits on a socket whose peer (a plain thread) answers 100 ms after accepting,
/// while another goroutine blocks its thread. Returns the time from connecting to the read.
pub fn socket_beside_a_blocker(maxprocs: usize, how: Blocking) -> Duration {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let peer = thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        thread::sleep(Duration::from_millis(100));
        stream.write_all(b"x").expect("write");
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
    });
    let rt = runtime(maxprocs);
    let (read_tx, read_rx) = mpsc::channel();
    rt.block_on(async {
        let parked = Arc::new(AtomicBool::new(false));
        let parked_in_reader = parked.clone();
        gmp::spawn(async move {
            let mut stream = gmp::net::TcpStream::connect(address).await.expect("connect");
            let connected = Instant::now();
            parked_in_reader.store(true, Ordering::Release);
            let mut byte = [0u8; 1];
            stream.read_exact(&mut byte).await.expect("read");
            let _ = read_tx.send(connected.elapsed());
        });
        while !parked.load(Ordering::Acquire) {
            gmp::yield_now().await;
        }
        gmp::yield_now().await;
        for _ in 0..maxprocs {
            gmp::spawn(async move { block_thread(how) });
        }
    });
    let read = read_rx.recv_timeout(BLOCK * 3).expect("the reader never read");
    drop(rt);
    peer.join().expect("peer");
    read
}

/// `count` goroutines each block their thread for `each` at once (unmarked). Returns the time
/// until all are done and the most threads the process had meanwhile.
pub fn simultaneous_blockers(maxprocs: usize, count: usize, each: Duration) -> (Duration, usize) {
    let rt = runtime(maxprocs);
    let sampling = Arc::new(AtomicBool::new(true));
    let peak = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (sampling, peak) = (sampling.clone(), peak.clone());
        thread::spawn(move || {
            while sampling.load(Ordering::Acquire) {
                peak.fetch_max(process_threads(), Ordering::AcqRel);
                thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let elapsed = rt.block_on(async {
        let started = Instant::now();
        let handles: Vec<_> = (0..count).map(|_| gmp::spawn(async move { thread::sleep(each) })).collect();
        for handle in handles {
            handle.await.expect("blocker");
        }
        started.elapsed()
    });
    sampling.store(false, Ordering::Release);
    sampler.join().expect("sampler");
    // The sampler and the calling thread are not the runtime's.
    (elapsed, peak.load(Ordering::Acquire).saturating_sub(2))
}

/// Threads of this process now (Linux; 0 elsewhere).
pub fn process_threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |tasks| tasks.count())
}

/// `num_goroutine()` inside `block_on` with nothing spawned.
pub fn goroutines_with_nothing_spawned(maxprocs: usize) -> usize {
    runtime(maxprocs).block_on(async { gmp::runtime::num_goroutine() })
}

/// What `goroutines()` and `dump()`, called by a goroutine, say of `block_on`'s main future
/// while it awaits that goroutine: (the main goroutine's state and wait reason, the dump).
pub fn main_goroutine_as_seen_by_another(
    maxprocs: usize,
) -> (Option<(gmp::runtime::GoroutineState, gmp::runtime::WaitReason)>, String) {
    runtime(maxprocs).block_on(async {
        let caller = std::panic::Location::caller();
        let seen = gmp::spawn(async move {
            gmp::time::sleep(Duration::from_millis(20)).await;
            let main = gmp::runtime::goroutines().into_iter().find(|g| g.spawned_at.line() == caller.line() - 1);
            (main.map(|g| (g.state, g.wait_reason)), gmp::runtime::dump())
        });
        seen.await.expect("observer")
    })
}

/// A goroutine woken by a plain `std::thread` while every P's goroutine blocks its thread.
/// Returns the time from the wake to the goroutine running.
pub fn outside_wake_while_every_p_blocks(maxprocs: usize) -> Duration {
    let rt = runtime(maxprocs);
    let (ran_tx, ran_rx) = mpsc::channel();
    let (wake_tx, wake_rx) = futures::channel::oneshot::channel::<Instant>();
    rt.block_on(async {
        let parked = Arc::new(AtomicBool::new(false));
        let parked_in_waiter = parked.clone();
        gmp::spawn(async move {
            parked_in_waiter.store(true, Ordering::Release);
            let woken_at = wake_rx.await.expect("waker");
            let _ = ran_tx.send(woken_at.elapsed());
        });
        while !parked.load(Ordering::Acquire) {
            gmp::yield_now().await;
        }
        gmp::yield_now().await;
        for _ in 0..maxprocs {
            gmp::spawn(async { thread::sleep(BLOCK) });
        }
        gmp::spawn(async move {
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(100));
                let _ = wake_tx.send(Instant::now());
            });
        });
    });
    ran_rx.recv_timeout(BLOCK * 3).expect("the woken goroutine never ran")
}

/// The environment variable that makes a process run `exit_child` instead of its tests.
pub const EXIT_CHILD_ENV: &str = "GMP_STRANDING_EXIT_CHILD";

/// The child side of the exit case: `#[gmp::main]` functions that start a 10 s blocking call,
/// print a line and return; `send_body` chooses one whose body is `Send` (the main goroutine)
/// or one that holds an `Rc` across an await (run on the calling thread).
pub fn exit_child(send_body: bool) {
    if send_body {
        exit_child_send();
    } else {
        exit_child_local();
    }
}

#[gmp::main]
async fn exit_child_send() {
    drop(gmp::spawn_blocking(|| thread::sleep(Duration::from_secs(10))));
    gmp::spawn(async { thread::sleep(Duration::from_secs(10)) });
    gmp::time::sleep(Duration::from_millis(20)).await;
    print!("main returned");
}

#[gmp::main(maxprocs = 1)]
async fn exit_child_local() {
    let not_send = std::rc::Rc::new("main returned");
    drop(gmp::spawn_blocking(|| thread::sleep(Duration::from_secs(10))));
    gmp::time::sleep(Duration::from_millis(20)).await;
    print!("{not_send}");
}

/// Runs `command` (a process that runs `exit_child`) and returns how long it took to exit and
/// what it printed.
pub fn time_exit(mut command: std::process::Command, send_body: bool) -> (Duration, String) {
    let started = Instant::now();
    let output = command.env(EXIT_CHILD_ENV, if send_body { "send" } else { "local" }).output().expect("child");
    assert!(output.status.success(), "child failed: {output:?}");
    (started.elapsed(), String::from_utf8_lossy(&output.stdout).into_owned())
}
