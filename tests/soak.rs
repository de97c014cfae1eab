//! A soak: a seeded random mix of everything a server does to a runtime — spawns, yields,
//! oneshot ping-pong, `WaitGroup`s, timers and timeouts, TCP echo on 127.0.0.1,
//! `spawn_blocking`, `gmp::syscall`, polls that block their thread without saying so, panics,
//! cancels, dropped `JoinHandle`s, and whole runtimes built and dropped — for `SOAK_SECONDS`
//! (default 3) at each of maxprocs 1, 2 and 4, one after the other.
//!
//! Invariants, checked as it runs and at the end of each phase:
//! - every goroutine spawned is accounted for exactly once: its future carries a [`Tracker`]
//!   whose drop files it as completed, panicked (dropped while unwinding) or cancelled
//!   (dropped unfinished: `cancel`, or runtime shutdown); after the runtime is dropped the
//!   three counts add up to the spawns, and what the spawners saw through their handles
//!   agrees with them;
//! - a watchdog thread aborts the run, printing `gmp::runtime::dump()`, if no goroutine
//!   finishes for 10 s;
//! - resident memory after the warm-up (the first third) stays within 10%: the median of the
//!   last window of samples against the median of the first steady window;
//! - no file descriptor leaks: `/proc/self/fd` counts the same before the runtime is built
//!   and after it is dropped.
//!
//! The seed is printed; `SOAK_SEED=<n>` replays a run's choices (timing still differs).
//! `SOAK_RSS_CHECK=0` turns the memory bound off (for runs under a sanitizer).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use futures::io::{AsyncReadExt, AsyncWriteExt};
use gmp::net::{TcpListener, TcpStream};
use gmp::sync::WaitGroup;

mod common;
use common::panic_message;

/// The text every deliberate panic carries; the panic hook keeps these off stderr.
const DELIBERATE: &str = "soak: deliberate panic";
/// No goroutine finishing for this long fails the run.
const STALL_LIMIT: Duration = Duration::from_secs(10);
/// Goroutines the driver starts per round before it settles their handles.
const OPS_PER_ROUND: usize = 48;

/// xorshift64*: tiny, seeded, good enough to choose what to do next.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }

    /// A fresh generator for a goroutine, so goroutines do not share one.
    fn fork(&mut self) -> Rng {
        Rng::new(self.next())
    }
}

/// How every goroutine of a phase ended, counted by the drops of their [`Tracker`]s, and what
/// their spawners saw.
#[derive(Default)]
struct Ledger {
    spawned: AtomicU64,
    completed: AtomicU64,
    panicked: AtomicU64,
    cancelled: AtomicU64,
    /// Handles that gave `Ok`, a panic, or cancelled (`cancel()` returning `None`, or an
    /// awaited handle reporting cancelled).
    seen_ok: AtomicU64,
    seen_panic: AtomicU64,
    seen_cancelled: AtomicU64,
    /// Bumped whenever a goroutine finishes; the watchdog watches it.
    progress: AtomicU64,
    connections: AtomicU64,
    faults: AtomicU64,
    runtimes: AtomicU64,
    /// What the driver awaits, for the watchdog's report.
    driver: std::sync::Mutex<String>,
}

impl Ledger {
    fn ended(&self) -> u64 {
        self.completed.load(SeqCst) + self.panicked.load(SeqCst) + self.cancelled.load(SeqCst)
    }
}

/// Carried by each goroutine's future; its drop files the goroutine in the ledger, once.
struct Tracker {
    ledger: Arc<Ledger>,
    finished: bool,
}

impl Tracker {
    fn new(ledger: &Arc<Ledger>) -> Self {
        ledger.spawned.fetch_add(1, SeqCst);
        Tracker { ledger: ledger.clone(), finished: false }
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        let counter = if self.finished {
            &self.ledger.completed
        } else if thread::panicking() {
            &self.ledger.panicked
        } else {
            &self.ledger.cancelled
        };
        counter.fetch_add(1, SeqCst);
        self.ledger.progress.fetch_add(1, SeqCst);
    }
}

/// `future` with a tracker: a goroutine's future whose end the ledger will see.
fn tracked<T>(ledger: &Arc<Ledger>, future: impl Future<Output = T>) -> impl Future<Output = T> {
    let tracker = Tracker::new(ledger);
    async move {
        let mut tracker = tracker;
        let output = future.await;
        tracker.finished = true;
        drop(tracker);
        output
    }
}

/// Spawns `future` as a tracked goroutine.
fn go<T: Send + 'static>(ledger: &Arc<Ledger>, future: impl Future<Output = T> + Send + 'static) -> gmp::JoinHandle<T> {
    gmp::spawn(tracked(ledger, future))
}

/// What the spawner expects of a handle.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Expect {
    Ok,
    Panic,
    /// Cancel it (at once, or after it may have finished).
    Cancel,
    /// Drop the handle: the goroutine runs on, detached.
    Detach,
}

/// Settles one handle as `expect` says and files what it saw.
async fn settle(ledger: &Ledger, handle: gmp::JoinHandle<()>, expect: Expect) {
    match expect {
        Expect::Ok | Expect::Panic => match handle.await {
            Ok(()) => {
                assert_eq!(expect, Expect::Ok, "a goroutine meant to panic returned");
                ledger.seen_ok.fetch_add(1, SeqCst);
            }
            Err(error) if error.is_panic() => {
                let message = panic_message(&*error.into_panic());
                assert!(expect == Expect::Panic && message == DELIBERATE, "unexpected panic: {message}");
                ledger.seen_panic.fetch_add(1, SeqCst);
            }
            Err(error) => panic!("a goroutine nobody cancelled was cancelled: {error:?}"),
        },
        Expect::Cancel => match handle.cancel().await {
            Some(()) => {
                ledger.seen_ok.fetch_add(1, SeqCst);
            }
            None => {
                ledger.seen_cancelled.fetch_add(1, SeqCst);
            }
        },
        Expect::Detach => drop(handle),
    }
}

/// Shared by every goroutine of a phase.
struct World {
    ledger: Arc<Ledger>,
    echo: std::net::SocketAddr,
}

/// One randomly chosen piece of work, run as a tracked goroutine; returns its handle and what
/// to expect of it.
fn start_op(world: &Arc<World>, rng: &mut Rng) -> (gmp::JoinHandle<()>, Expect) {
    let ledger = &world.ledger;
    let mut r = rng.fork();
    let kind = rng.below(100);
    match kind {
        // Spawn a small tree and wait for it.
        0..=11 => {
            let l = ledger.clone();
            let h = go(ledger, async move {
                let children = 1 + r.below(8);
                let handles: Vec<_> = (0..children)
                    .map(|i| {
                        go(&l, async move {
                            for _ in 0..i % 3 {
                                gmp::yield_now().await;
                            }
                            i
                        })
                    })
                    .collect();
                let mut sum = 0;
                for handle in handles {
                    sum += handle.await.unwrap();
                }
                assert_eq!(sum, children * (children - 1) / 2);
                l.seen_ok.fetch_add(children, SeqCst);
            });
            (h, Expect::Ok)
        }
        // Yield a while.
        12..=21 => {
            let h = go(ledger, async move {
                for _ in 0..r.below(50) {
                    gmp::yield_now().await;
                }
            });
            (h, Expect::Ok)
        }
        // Oneshot ping-pong: each round trip is a new goroutine and a new pair of channels.
        22..=31 => {
            let l = ledger.clone();
            let h = go(ledger, async move {
                for i in 0..1 + r.below(20) {
                    let (ping_tx, ping_rx) = oneshot::channel::<u64>();
                    let (pong_tx, pong_rx) = oneshot::channel::<u64>();
                    let partner = go(&l, async move {
                        let value = ping_rx.await.unwrap();
                        pong_tx.send(value + 1).unwrap();
                    });
                    ping_tx.send(i).unwrap();
                    assert_eq!(pong_rx.await.unwrap(), i + 1);
                    partner.await.unwrap();
                    l.seen_ok.fetch_add(1, SeqCst);
                }
            });
            (h, Expect::Ok)
        }
        // A WaitGroup over a few goroutines that yield or sleep.
        32..=39 => {
            let l = ledger.clone();
            let h = go(ledger, async move {
                let wg = WaitGroup::new();
                let done = Arc::new(AtomicUsize::new(0));
                let workers = 1 + r.below(10) as usize;
                for i in 0..workers {
                    wg.add(1);
                    let (wg, done) = (wg.clone(), done.clone());
                    let sleep_ms = r.below(3);
                    drop(go(&l, async move {
                        if i % 2 == 0 {
                            gmp::time::sleep(Duration::from_millis(sleep_ms)).await;
                        } else {
                            gmp::yield_now().await;
                        }
                        done.fetch_add(1, SeqCst);
                        wg.done();
                    }));
                }
                wg.wait().await;
                assert_eq!(done.load(SeqCst), workers, "WaitGroup released its waiter early");
            });
            (h, Expect::Ok)
        }
        // Timers: a sleep, a timeout that fires, a timeout that does not.
        40..=49 => {
            let h = go(ledger, async move {
                let nap = Duration::from_micros(r.below(3000));
                let started = Instant::now();
                gmp::time::sleep(nap).await;
                assert!(started.elapsed() >= nap, "a sleep woke early");
                let fired = gmp::time::timeout(Duration::from_millis(1), std::future::pending::<()>()).await;
                assert!(fired.is_err(), "a timeout over a pending future did not fire");
                let inner = gmp::time::timeout(Duration::from_secs(30), async { 5 }).await;
                assert_eq!(inner.ok(), Some(5));
            });
            (h, Expect::Ok)
        }
        // A TCP echo round trip.
        50..=59 => {
            let addr = world.echo;
            let h = go(ledger, async move {
                let len = 1 + r.below(8192) as usize;
                let data: Vec<u8> = (0..len).map(|i| (i as u64 ^ r.0) as u8).collect();
                let mut stream = TcpStream::connect(addr).await.expect("connect to the echo server");
                let (mut reader, mut writer) = (&stream, &stream);
                let write = async {
                    writer.write_all(&data).await.unwrap();
                };
                let mut back = vec![0u8; len];
                let read = async {
                    reader.read_exact(&mut back).await.unwrap();
                };
                futures::join!(write, read);
                assert!(back == data, "the echo came back different");
                stream.close().await.unwrap();
            });
            (h, Expect::Ok)
        }
        // spawn_blocking: compute or nap on the pool.
        60..=65 => {
            let h = go(ledger, async move {
                let n = r.below(1000);
                let nap = r.chance(2);
                let sum = gmp::spawn_blocking(move || {
                    if nap {
                        thread::sleep(Duration::from_micros(n));
                    }
                    (0..n).sum::<u64>()
                })
                .await
                .unwrap();
                assert_eq!(sum, n * n.saturating_sub(1) / 2);
            });
            (h, Expect::Ok)
        }
        // gmp::syscall around a short sleep.
        66..=71 => {
            let h = go(ledger, async move {
                let micros = r.below(1000);
                let out = gmp::syscall(|| {
                    thread::sleep(Duration::from_micros(micros));
                    micros
                });
                assert_eq!(out, micros);
            });
            (h, Expect::Ok)
        }
        // A poll that blocks its thread without telling anyone (sysmon's business).
        72..=75 => {
            ledger.faults.fetch_add(1, SeqCst);
            let h = go(ledger, async move {
                thread::sleep(Duration::from_micros(500 + r.below(2500)));
            });
            (h, Expect::Ok)
        }
        // A panic, at once or after an await.
        76..=83 => {
            ledger.faults.fetch_add(1, SeqCst);
            let h = go(ledger, async move {
                if r.chance(2) {
                    gmp::yield_now().await;
                }
                std::panic::panic_any(DELIBERATE);
            });
            (h, Expect::Panic)
        }
        // Cancel: a goroutine parked forever, one asleep, or one that may have finished.
        84..=91 => {
            ledger.faults.fetch_add(1, SeqCst);
            let h = match r.below(3) {
                0 => go(ledger, std::future::pending::<()>()),
                1 => go(ledger, gmp::time::sleep(Duration::from_secs(3600))),
                _ => go(ledger, async {}),
            };
            (h, Expect::Cancel)
        }
        // A detached goroutine: its handle is dropped at once.
        _ => {
            let h = go(ledger, async move {
                gmp::time::sleep(Duration::from_micros(r.below(2000))).await;
                gmp::yield_now().await;
            });
            (h, Expect::Detach)
        }
    }
}

/// A runtime built, used and dropped on a plain thread (a runtime cannot be dropped on one of
/// another runtime's threads), with goroutines left parked and queued at the drop.
fn build_and_drop_a_runtime(ledger: &Arc<Ledger>, mut rng: Rng) {
    let maxprocs = 1 + rng.below(3) as usize;
    let rt = gmp::Builder::new().maxprocs(maxprocs).thread_name("soak-inner").build().unwrap();
    let l = ledger.clone();
    let mut r = rng.fork();
    rt.block_on(async move {
        let handles: Vec<_> = (0..1 + r.below(100))
            .map(|i| {
                go(&l, async move {
                    gmp::yield_now().await;
                    i
                })
            })
            .collect();
        for (i, handle) in handles.into_iter().enumerate() {
            assert_eq!(handle.await.unwrap(), i as u64);
            l.seen_ok.fetch_add(1, SeqCst);
        }
        // Left behind for the drop: parked forever, asleep, queued.
        for _ in 0..r.below(20) {
            drop(go(&l, std::future::pending::<()>()));
            drop(go(&l, gmp::time::sleep(Duration::from_secs(3600))));
        }
    });
    for _ in 0..rng.below(20) {
        drop(rt.spawn(tracked(ledger, gmp::yield_now())));
    }
    drop(rt);
    ledger.runtimes.fetch_add(1, SeqCst);
    ledger.faults.fetch_add(1, SeqCst);
}

/// An echo server: one goroutine per connection, untracked (they are infrastructure, left to
/// the runtime's drop).
async fn echo_server(listener: TcpListener, ledger: Arc<Ledger>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => panic!("the echo server's accept failed: {error}"),
        };
        let ledger = ledger.clone();
        drop(gmp::spawn(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let n = match (&stream).read(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(error) => panic!("echo read: {error}"),
                };
                (&stream).write_all(&buf[..n]).await.expect("echo write");
            }
            ledger.connections.fetch_add(1, SeqCst);
        }));
    }
}

/// Resident memory in KiB (`VmRSS` of /proc/self/status).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS in /proc/self/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Open file descriptors (the read_dir's own descriptor is one of them, every time).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").count()
}

fn median(samples: &[u64]) -> u64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    sorted[sorted.len() / 2]
}

/// What one phase measured.
struct Figures {
    maxprocs: usize,
    goroutines: u64,
    connections: u64,
    faults: u64,
    runtimes: u64,
    steady_rss_kib: (u64, u64),
    peak_rss_kib: u64,
    fds: (usize, usize, usize),
}

/// Asks a thread of the runtime's blocking pool (which needs no P) for a dump, so a wedged
/// scheduler can still be shown. The thread leaves once `stop` is set, so that the runtime's
/// drop (which joins the pool) is not kept waiting.
struct Dumper {
    requests: mpsc::Sender<mpsc::Sender<String>>,
}

impl Dumper {
    fn start(rt: &gmp::Runtime, stop: Arc<AtomicBool>) -> Dumper {
        let (requests, inbox) = mpsc::channel::<mpsc::Sender<String>>();
        drop(rt.spawn_blocking(move || {
            while !stop.load(SeqCst) {
                match inbox.recv_timeout(Duration::from_millis(50)) {
                    Ok(reply) => drop(reply.send(format!("{:?}\n{}", gmp::runtime::stats(), gmp::runtime::dump()))),
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            }
        }));
        Dumper { requests }
    }

    fn dump(&self) -> String {
        let (reply, answer) = mpsc::channel();
        if self.requests.send(reply).is_err() {
            return "<the dumper is gone>".to_owned();
        }
        answer.recv_timeout(Duration::from_secs(5)).unwrap_or_else(|_| "<no dump within 5 s>".to_owned())
    }
}

/// Prints every thread's stack through gdb, if it is installed and may attach (a wedged
/// scheduler is easiest to read from where its threads sleep). gdb writes to a file, not a
/// pipe: it stops every thread of this process, the reader of a pipe too.
fn print_thread_stacks() {
    let path = std::env::temp_dir().join(format!("gmp-soak-stacks-{}.txt", std::process::id()));
    let status = std::fs::File::create(&path).and_then(|file| {
        std::process::Command::new("gdb")
            .args(["-p", &std::process::id().to_string(), "-batch", "-nx", "-ex", "thread apply all bt"])
            .stdin(std::process::Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .status()
    });
    match status {
        Ok(_) => eprintln!("{}", std::fs::read_to_string(&path).unwrap_or_default()),
        Err(error) => eprintln!("(no thread stacks: could not run gdb: {error})"),
    }
    let _ = std::fs::remove_file(&path);
}

/// Sets its flag when dropped, also while unwinding.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

/// Samples resident memory and open descriptors every `every` until `stop` is set.
fn start_sampler(every: Duration, stop: Arc<AtomicBool>) -> thread::JoinHandle<Vec<(Duration, u64, usize)>> {
    thread::spawn(move || {
        let started = Instant::now();
        let mut samples = Vec::new();
        while !stop.load(SeqCst) {
            samples.push((started.elapsed(), rss_kib(), open_fds()));
            thread::sleep(every);
        }
        samples
    })
}

/// A phase whose memory figures are not checked (the process's warm-up).
fn soak_unchecked(maxprocs: usize, duration: Duration, seed: u64) -> Figures {
    soak_phase(maxprocs, duration, seed, false)
}

fn soak(maxprocs: usize, duration: Duration, seed: u64) -> Figures {
    soak_phase(maxprocs, duration, seed, true)
}

fn soak_phase(maxprocs: usize, duration: Duration, seed: u64, check_memory: bool) -> Figures {
    let fds_before = open_fds();
    let ledger = Arc::new(Ledger::default());
    let rt = gmp::Builder::new().maxprocs(maxprocs).thread_name("soak").build().unwrap();
    // Dropped before `rt`, also on a failed assertion: lets the dumper and sampler go.
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_on_drop = SetOnDrop(stop.clone());
    let dumper = Dumper::start(&rt, stop.clone());
    let sampler = start_sampler(duration / 60, stop.clone());

    // The watchdog: a run with no goroutine finishing for STALL_LIMIT is wedged. It also
    // watches the runtime's drop.
    let (watchdog_stop, watchdog_inbox) = mpsc::channel::<()>();
    let watchdog = {
        let ledger = ledger.clone();
        thread::spawn(move || {
            let mut last = (ledger.progress.load(SeqCst), Instant::now());
            loop {
                match watchdog_inbox.recv_timeout(Duration::from_millis(250)) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                let now = ledger.progress.load(SeqCst);
                if now != last.0 {
                    last = (now, Instant::now());
                } else if last.1.elapsed() > STALL_LIMIT {
                    eprintln!(
                        "soak (maxprocs {maxprocs}, seed {seed}): no goroutine finished for {STALL_LIMIT:?}; \
                         {} spawned, {} ended; the driver (main future) awaits {}. Goroutines:\n{}",
                        ledger.spawned.load(SeqCst),
                        ledger.ended(),
                        ledger.driver.lock().unwrap(),
                        dumper.dump()
                    );
                    print_thread_stacks();
                    std::process::abort();
                }
            }
        })
    };

    let started = Instant::now();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let world = Arc::new(World { ledger: ledger.clone(), echo: listener.local_addr().unwrap() });
        drop(gmp::spawn(echo_server(listener, ledger.clone())));
        let mut rng = Rng::new(seed);
        let mut inner_runtimes: Vec<gmp::JoinHandle<()>> = Vec::new();
        while started.elapsed() < duration {
            let ops: Vec<_> = (0..OPS_PER_ROUND).map(|_| start_op(&world, &mut rng)).collect();
            if rng.chance(25) {
                let (ledger, rng) = (ledger.clone(), rng.fork());
                inner_runtimes.push(gmp::spawn_blocking(move || {
                    thread::spawn(move || build_and_drop_a_runtime(&ledger, rng)).join().unwrap();
                }));
            }
            for (handle, expect) in ops {
                *ledger.driver.lock().unwrap() = format!("goroutine {} ({expect:?})", handle.id());
                settle(&ledger, handle, expect).await;
            }
        }
        for inner in inner_runtimes {
            *ledger.driver.lock().unwrap() = format!("blocking call {} (a runtime built and dropped)", inner.id());
            inner.await.expect("a runtime built and dropped inside the soak failed");
        }
    });
    stop.store(true, SeqCst);
    let samples = sampler.join().unwrap();
    // The drop (every leftover goroutine cancelled, every thread joined) under the watchdog:
    // the cancelled goroutines' drops count as progress.
    drop(rt);
    let _ = watchdog_stop.send(());
    watchdog.join().unwrap();
    let fds_after = open_fds();

    // Every goroutine accounted for exactly once, and the spawners agree.
    let l = &ledger;
    let (spawned, completed, panicked, cancelled) =
        (l.spawned.load(SeqCst), l.completed.load(SeqCst), l.panicked.load(SeqCst), l.cancelled.load(SeqCst));
    assert_eq!(
        completed + panicked + cancelled,
        spawned,
        "maxprocs {maxprocs}: {spawned} spawned but {completed} completed + {panicked} panicked + {cancelled} cancelled"
    );
    assert!(l.seen_ok.load(SeqCst) <= completed, "handles saw more completions than happened");
    assert_eq!(l.seen_panic.load(SeqCst), panicked, "every panic is a deliberate one that a handle saw");
    assert!(l.seen_cancelled.load(SeqCst) <= cancelled, "handles saw more cancels than happened");

    // Memory after warm-up: the median of the last window against the first steady window.
    let steady: Vec<u64> = samples.iter().filter(|s| s.0 >= duration / 3).map(|s| s.1).collect();
    assert!(steady.len() >= 8, "only {} memory samples after the warm-up", steady.len());
    let window = steady.len() / 4;
    let (first, last) = (median(&steady[..window]), median(&steady[steady.len() - window..]));
    // Under a sanitizer, shadow memory and quarantines grow with the run: CI's sanitizer steps
    // set SOAK_RSS_CHECK=0 and only print the figures.
    let check_rss = check_memory && std::env::var("SOAK_RSS_CHECK").map_or(true, |v| v != "0");
    assert!(
        !check_rss || last * 10 <= first * 11,
        "maxprocs {maxprocs}: resident memory grew from {first} KiB to {last} KiB after the warm-up (over 10%)"
    );
    assert_eq!(fds_after, fds_before, "maxprocs {maxprocs}: file descriptors leaked");

    Figures {
        maxprocs,
        goroutines: spawned,
        connections: l.connections.load(SeqCst),
        faults: l.faults.load(SeqCst),
        runtimes: l.runtimes.load(SeqCst),
        steady_rss_kib: (first, last),
        peak_rss_kib: samples.iter().map(|s| s.1).max().unwrap_or(0),
        fds: (fds_before, samples.iter().map(|s| s.2).max().unwrap_or(0), fds_after),
    }
}

#[test]
fn a_seeded_random_mix_keeps_every_invariant_at_maxprocs_1_2_and_4() {
    let seconds: f64 = std::env::var("SOAK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let seed: u64 = std::env::var("SOAK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    // Deliberate panics stay off stderr; any other panic is printed as usual.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&DELIBERATE) {
            default_hook(info);
        }
    }));
    eprintln!("soak: {seconds} s per maxprocs, seed {seed} (SOAK_SEED={seed} to replay)");
    let duration = Duration::from_secs_f64(seconds);
    // A first, unchecked run warms up the process (allocator arenas, thread caches), so that
    // the memory bound of the first measured phase is about gmp rather than a cold process.
    let warm_up = duration.min(Duration::from_secs(2)) / 2;
    let warm = std::panic::catch_unwind(AssertUnwindSafe(|| soak_unchecked(4, warm_up, seed)));
    if let Err(payload) = warm {
        panic!("soak warm-up (seed {seed}): {}", panic_message(&*payload));
    }
    for maxprocs in [1, 2, 4] {
        let phase_seed = seed.wrapping_add(maxprocs as u64);
        let figures = std::panic::catch_unwind(AssertUnwindSafe(|| soak(maxprocs, duration, phase_seed)))
            .unwrap_or_else(|payload| {
                panic!("soak at maxprocs {maxprocs} (seed {phase_seed}): {}", panic_message(&*payload))
            });
        eprintln!(
            "soak maxprocs={}: {} goroutines, {} connections served, {} faults injected ({} runtimes built \
             and dropped), RSS steady {}->{} KiB peak {} KiB, fds before/peak/after {}/{}/{}",
            figures.maxprocs,
            figures.goroutines,
            figures.connections,
            figures.faults,
            figures.runtimes,
            figures.steady_rss_kib.0,
            figures.steady_rss_kib.1,
            figures.peak_rss_kib,
            figures.fds.0,
            figures.fds.1,
            figures.fds.2,
        );
    }
}
