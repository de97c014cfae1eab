//! gmp against tokio's multi-thread runtime and async-executor on the six scheduler workloads
//! of tokio's `benches/rt_multi_threaded.rs`, each run with 1, 2 and 4 threads.
//!
//! ```text
//! cargo bench --bench scheduler -- --interleaved               # the table BENCHMARKS.md quotes
//! cargo bench --bench scheduler -- --interleaved 31 ping_pong  # 31 rounds of one workload
//! cargo bench --bench scheduler -- --profile gmp ping_pong 2 500 # one contender, for perf
//! cargo bench --bench scheduler -- --quick --noplot            # criterion, a few minutes
//! cargo bench --bench scheduler -- --quick --noplot ping_pong  # criterion, one workload
//! ```
//!
//! Each workload is one criterion group (`spawn_many_local`, `spawn_many_remote_idle`,
//! `spawn_many_remote_busy`, `yield_many`, `ping_pong`, `chained_spawn`) with the bench ids
//! `gmp/N`, `tokio/N` and `async-executor/N`, N being the number of threads (gmp's `maxprocs`,
//! tokio's `worker_threads`, the number of threads running the async-executor). Every workload
//! is written once, generically, so the three executors run the very same code with the same
//! channels (`futures::channel::oneshot`, `std::sync::mpsc`); only spawn, yield and block_on
//! differ.
//!
//! Read the results as ratios within one run: `gmp/N ÷ tokio/N` (below 1 means gmp is faster)
//! for each group and N. Absolute times on a shared machine move by tens of percent between
//! runs; ratios from interleaved runs under the same load are what to quote. `--interleaved`
//! starts the contenders side by side and times one iteration of each in turn (rotating
//! the order), `ROUNDS` times (default 15), then prints the medians as a markdown table and
//! writes them to `target/bench-results/scheduler.csv`. Criterion (the default mode) runs one
//! contender's samples after another's and keeps each estimate in
//! `target/criterion/<group>/<executor>/<N>/new/estimates.json` (`scripts/sched_table.py`
//! prints them as the same table).
//!
//! In `spawn_many_remote_busy` the busy goroutines are started before each timed iteration
//! (the bench waits until each has run) and stopped after it, so they load only the contender
//! being measured.
//!
//! What each workload stresses:
//! - `spawn_many_local`: 10,000 spawns from inside `block_on`; an atomic countdown, and the last
//!   goroutine signals a std channel the bench thread waits on. Local spawn, overflow, stealing.
//! - `spawn_many_remote_idle`: 10,000 spawns from outside the runtime, then every handle awaited.
//!   The global queue and waking idle threads.
//! - `spawn_many_remote_busy`: the same while 8 goroutines loop on yield plus a 10 µs spin.
//!   Whether remote spawns get through past busy local work.
//! - `yield_many`: 200 goroutines, spawned from outside, each yielding 1,000 times.
//! - `ping_pong`: 1,000 goroutines spawned from `block_on`, each spawning a partner and
//!   exchanging a ping and a pong with it over two oneshot channels.
//! - `chained_spawn`: a chain of 1,000 goroutines, each spawning the next; the last one signals.
//!
//! At 1 thread a fourth contender, `floor`, runs the same workloads (all but
//! `spawn_many_remote_busy`) as async-task `Runnable`s on a `VecDeque` owned by the bench thread:
//! the cost of the tasks alone, with no scheduling of ours. The table's last columns and the
//! CSV's `floor` rows give it and `gmp ÷ floor`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion};
use futures::channel::oneshot;
use futures::FutureExt;

const THREAD_COUNTS: [usize; 3] = [1, 2, 4];
const SPAWNS: usize = 10_000;
const BUSY_GOROUTINES: usize = 8;
const BUSY_SPIN: Duration = Duration::from_micros(10);
const YIELDERS: usize = 200;
const YIELDS_EACH: usize = 1_000;
const PING_PONG_PAIRS: usize = 1_000;
const CHAIN_LENGTH: usize = 1_000;

// ---------------------------------------------------------------------------------------------
// The three executors behind one interface.

/// Spawns from inside the runtime (a goroutine or the `block_on` future) and yields.
/// `Copy + Send` so that a goroutine can carry it to spawn the next one.
trait Spawner: Copy + Send + Sync + 'static {
    /// Spawns `future` and detaches it.
    fn spawn<F: Future<Output = ()> + Send + 'static>(self, future: F);
    /// The executor's own yield.
    fn yield_now() -> impl Future<Output = ()> + Send;
}

/// An executor under test, started with a given number of threads.
trait Contender: Sized {
    const NAME: &'static str;
    type Spawner: Spawner;
    /// What a spawn from outside gives back to await.
    type Join: Send + 'static;

    fn start(threads: usize) -> Self;
    fn spawner(&self) -> Self::Spawner;
    /// Runs `future` to completion on the calling thread.
    fn block_on<F: Future>(&self, future: F) -> F::Output;
    /// Spawns from a thread outside the runtime.
    fn spawn_remote<F: Future<Output = ()> + Send + 'static>(&self, future: F) -> Self::Join;
    /// Spawns from a thread outside the runtime and detaches.
    fn spawn_remote_detached<F: Future<Output = ()> + Send + 'static>(&self, future: F);
    /// Waits for a goroutine spawned by `spawn_remote`.
    fn join(join: Self::Join) -> impl Future<Output = ()>;
    /// Called on the bench thread before it blocks on a std channel for work spawned from
    /// outside. The floor, whose only thread is the bench thread, runs its queue here; the
    /// real executors run on their own threads and do nothing.
    fn run_spawned(&self) {}
}

struct Gmp(gmp::Runtime);

#[derive(Clone, Copy)]
struct GmpSpawner;

impl Spawner for GmpSpawner {
    fn spawn<F: Future<Output = ()> + Send + 'static>(self, future: F) {
        drop(gmp::spawn(future));
    }
    fn yield_now() -> impl Future<Output = ()> + Send {
        gmp::yield_now()
    }
}

impl Contender for Gmp {
    const NAME: &'static str = "gmp";
    type Spawner = GmpSpawner;
    type Join = gmp::JoinHandle<()>;

    fn start(threads: usize) -> Self {
        Gmp(gmp::Builder::new().maxprocs(threads).build().expect("gmp runtime"))
    }
    fn spawner(&self) -> GmpSpawner {
        GmpSpawner
    }
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.0.block_on(future)
    }
    fn spawn_remote<F: Future<Output = ()> + Send + 'static>(&self, future: F) -> Self::Join {
        self.0.spawn(future)
    }
    fn spawn_remote_detached<F: Future<Output = ()> + Send + 'static>(&self, future: F) {
        drop(self.0.spawn(future));
    }
    async fn join(join: Self::Join) {
        join.await.expect("goroutine failed");
    }
}

struct Tokio(tokio::runtime::Runtime);

#[derive(Clone, Copy)]
struct TokioSpawner;

impl Spawner for TokioSpawner {
    fn spawn<F: Future<Output = ()> + Send + 'static>(self, future: F) {
        drop(tokio::spawn(future));
    }
    fn yield_now() -> impl Future<Output = ()> + Send {
        tokio::task::yield_now()
    }
}

impl Contender for Tokio {
    const NAME: &'static str = "tokio";
    type Spawner = TokioSpawner;
    type Join = tokio::task::JoinHandle<()>;

    fn start(threads: usize) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
            .expect("tokio runtime");
        Tokio(rt)
    }
    fn spawner(&self) -> TokioSpawner {
        TokioSpawner
    }
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.0.block_on(future)
    }
    fn spawn_remote<F: Future<Output = ()> + Send + 'static>(&self, future: F) -> Self::Join {
        self.0.spawn(future)
    }
    fn spawn_remote_detached<F: Future<Output = ()> + Send + 'static>(&self, future: F) {
        drop(self.0.spawn(future));
    }
    async fn join(join: Self::Join) {
        join.await.expect("task failed");
    }
}

/// An `async_executor::Executor` run by `threads` threads, each in
/// `futures::executor::block_on(executor.run(stop))`. `block_on` is plain
/// `futures::executor::block_on` on the calling thread, which (as in tokio) runs no tasks.
/// The executor is leaked so that spawning needs no reference count; one per bench function.
struct AsyncExecutor {
    executor: &'static async_executor::Executor<'static>,
    stop: Option<oneshot::Sender<()>>,
    threads: Vec<thread::JoinHandle<()>>,
}

#[derive(Clone, Copy)]
struct AsyncExecutorSpawner(&'static async_executor::Executor<'static>);

impl Spawner for AsyncExecutorSpawner {
    fn spawn<F: Future<Output = ()> + Send + 'static>(self, future: F) {
        self.0.spawn(future).detach();
    }
    fn yield_now() -> impl Future<Output = ()> + Send {
        YieldOnce(false)
    }
}

/// Returns `Pending` once after waking itself: the plain yield async-executor users write.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

impl Contender for AsyncExecutor {
    const NAME: &'static str = "async-executor";
    type Spawner = AsyncExecutorSpawner;
    type Join = async_executor::Task<()>;

    fn start(threads: usize) -> Self {
        let executor: &'static async_executor::Executor<'static> = Box::leak(Box::new(async_executor::Executor::new()));
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = stopped.shared();
        let threads = (0..threads)
            .map(|i| {
                let stopped = stopped.clone();
                thread::Builder::new()
                    .name(format!("async-executor-{i}"))
                    .spawn(move || {
                        let _ = futures::executor::block_on(executor.run(stopped));
                    })
                    .expect("async-executor thread")
            })
            .collect();
        AsyncExecutor { executor, stop: Some(stop), threads }
    }
    fn spawner(&self) -> AsyncExecutorSpawner {
        AsyncExecutorSpawner(self.executor)
    }
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        futures::executor::block_on(future)
    }
    fn spawn_remote<F: Future<Output = ()> + Send + 'static>(&self, future: F) -> Self::Join {
        self.executor.spawn(future)
    }
    fn spawn_remote_detached<F: Future<Output = ()> + Send + 'static>(&self, future: F) {
        self.executor.spawn(future).detach();
    }
    async fn join(join: Self::Join) {
        join.await;
    }
}

impl Drop for AsyncExecutor {
    fn drop(&mut self) {
        drop(self.stop.take());
        for thread in self.threads.drain(..) {
            thread.join().expect("async-executor thread panicked");
        }
    }
}

/// The one-thread floor: async-task `Runnable`s on a `VecDeque` owned by the bench thread and
/// run by the plainest loop, with no atomics, locks or wake-ups of its own (async-task's header
/// atomics remain). It runs every workload that one thread can run to completion, with 1
/// thread only, so that `gmp/1 ÷ floor` says how far gmp's scheduling is from the cost of the
/// tasks themselves. `spawn_remote` is a local push here: there is no other thread.
struct Floor;

#[derive(Clone, Copy)]
struct FloorSpawner;

thread_local! {
    /// The floor's run queue; only the bench thread ever spawns into it or runs it.
    static FLOOR_QUEUE: std::cell::RefCell<std::collections::VecDeque<async_task::Runnable>> =
        const { std::cell::RefCell::new(std::collections::VecDeque::new()) };
}

/// async-task's schedule function for the floor: a push onto the queue.
fn floor_schedule(runnable: async_task::Runnable) {
    FLOOR_QUEUE.with(|queue| queue.borrow_mut().push_back(runnable));
}

/// Spawns `future` onto the floor's queue.
fn floor_spawn<F: Future<Output = ()> + Send + 'static>(future: F) -> async_task::Task<()> {
    let (runnable, task) = async_task::spawn(future, floor_schedule);
    runnable.schedule();
    task
}

/// Runs the floor's queue until it is empty; returns whether it ran anything.
fn floor_run_queue() -> bool {
    let mut ran = false;
    while let Some(runnable) = FLOOR_QUEUE.with(|queue| queue.borrow_mut().pop_front()) {
        runnable.run();
        ran = true;
    }
    ran
}

impl Spawner for FloorSpawner {
    fn spawn<F: Future<Output = ()> + Send + 'static>(self, future: F) {
        floor_spawn(future).detach();
    }
    fn yield_now() -> impl Future<Output = ()> + Send {
        YieldOnce(false)
    }
}

impl Contender for Floor {
    const NAME: &'static str = "floor";
    type Spawner = FloorSpawner;
    type Join = async_task::Task<()>;

    fn start(_threads: usize) -> Self {
        Floor
    }
    fn spawner(&self) -> FloorSpawner {
        FloorSpawner
    }
    /// Polls `future`, then runs the queue dry, until `future` is ready; then runs the queue
    /// dry once more, so that what `future` spawned has run when `block_on` returns.
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                floor_run_queue();
                return output;
            }
            assert!(floor_run_queue(), "floor: block_on's future waits on nothing the queue can run");
        }
    }
    fn spawn_remote<F: Future<Output = ()> + Send + 'static>(&self, future: F) -> Self::Join {
        floor_spawn(future)
    }
    fn spawn_remote_detached<F: Future<Output = ()> + Send + 'static>(&self, future: F) {
        floor_spawn(future).detach();
    }
    async fn join(join: Self::Join) {
        join.await;
    }
    fn run_spawned(&self) {
        floor_run_queue();
    }
}

// ---------------------------------------------------------------------------------------------
// The workloads, each written once for every contender.

/// Counts down from `n`; whoever takes it to zero sends on the std channel.
struct Countdown {
    left: AtomicUsize,
    done: mpsc::SyncSender<()>,
}

impl Countdown {
    fn new(done: mpsc::SyncSender<()>) -> Arc<Self> {
        Arc::new(Countdown { left: AtomicUsize::new(0), done })
    }
    fn reset(&self, n: usize) {
        self.left.store(n, Ordering::Relaxed);
    }
    fn tick(&self) {
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.done.send(()).unwrap();
        }
    }
}

/// One iteration of a workload, timed: returns how long the measured part took (set-up that
/// is not part of the workload, such as starting the busy goroutines, is left out).
type Iteration = Box<dyn FnMut() -> Duration>;

/// Times `f`.
fn timed(f: impl FnOnce()) -> Duration {
    let started = Instant::now();
    f();
    started.elapsed()
}

fn spawn_many_local<C: Contender + 'static>(threads: usize) -> Iteration {
    let contender = C::start(threads);
    let spawner = contender.spawner();
    let (done_tx, done_rx) = mpsc::sync_channel(1);
    let countdown = Countdown::new(done_tx);
    Box::new(move || {
        timed(|| {
            countdown.reset(SPAWNS);
            contender.block_on(async {
                for _ in 0..SPAWNS {
                    let countdown = countdown.clone();
                    spawner.spawn(async move { countdown.tick() });
                }
            });
            done_rx.recv().unwrap();
        })
    })
}

/// Spawns `SPAWNS` empty goroutines from outside, then awaits every one of them.
fn spawn_remote_and_join_all<C: Contender>(contender: &C) {
    let joins: Vec<C::Join> = (0..SPAWNS).map(|_| contender.spawn_remote(async {})).collect();
    contender.block_on(async {
        for join in joins {
            C::join(join).await;
        }
    });
}

fn spawn_many_remote_idle<C: Contender + 'static>(threads: usize) -> Iteration {
    let contender = C::start(threads);
    Box::new(move || timed(|| spawn_remote_and_join_all(&contender)))
}

/// `BUSY_GOROUTINES` goroutines looping on a yield and a 10 µs spin until stopped.
struct Busy {
    stop: Arc<AtomicBool>,
    stopped: mpsc::Receiver<()>,
}

impl Busy {
    /// Starts the busy goroutines and returns once every one of them has run.
    fn start<C: Contender>(contender: &C) -> Busy {
        let stop = Arc::new(AtomicBool::new(false));
        let (stopped_tx, stopped) = mpsc::sync_channel(BUSY_GOROUTINES);
        let (running_tx, running) = mpsc::sync_channel(BUSY_GOROUTINES);
        for _ in 0..BUSY_GOROUTINES {
            let stop = stop.clone();
            let stopped_tx = stopped_tx.clone();
            let running_tx = running_tx.clone();
            contender.spawn_remote_detached(async move {
                running_tx.send(()).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    C::Spawner::yield_now().await;
                    let started = Instant::now();
                    while started.elapsed() < BUSY_SPIN {
                        std::hint::spin_loop();
                    }
                }
                stopped_tx.send(()).unwrap();
            });
        }
        for _ in 0..BUSY_GOROUTINES {
            running.recv().unwrap();
        }
        Busy { stop, stopped }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for _ in 0..BUSY_GOROUTINES {
            self.stopped.recv().unwrap();
        }
    }
}

/// The busy goroutines run only while an iteration is measured (started before the clock
/// starts, stopped after it stops), so a contender that is not being measured costs nothing.
fn spawn_many_remote_busy<C: Contender + 'static>(threads: usize) -> Iteration {
    let contender = C::start(threads);
    Box::new(move || {
        let busy = Busy::start(&contender);
        let elapsed = timed(|| spawn_remote_and_join_all(&contender));
        drop(busy);
        elapsed
    })
}

fn yield_many<C: Contender + 'static>(threads: usize) -> Iteration {
    let contender = C::start(threads);
    let (done_tx, done_rx) = mpsc::sync_channel(YIELDERS);
    Box::new(move || {
        timed(|| {
            for _ in 0..YIELDERS {
                let done_tx = done_tx.clone();
                contender.spawn_remote_detached(async move {
                    for _ in 0..YIELDS_EACH {
                        C::Spawner::yield_now().await;
                    }
                    done_tx.send(()).unwrap();
                });
            }
            contender.run_spawned();
            for _ in 0..YIELDERS {
                done_rx.recv().unwrap();
            }
        })
    })
}

fn ping_pong<C: Contender + 'static>(threads: usize) -> Iteration {
    let contender = C::start(threads);
    let spawner = contender.spawner();
    let (done_tx, done_rx) = mpsc::sync_channel(1);
    let countdown = Countdown::new(done_tx);
    Box::new(move || {
        timed(|| {
            countdown.reset(PING_PONG_PAIRS);
            contender.block_on(async {
                for _ in 0..PING_PONG_PAIRS {
                    let countdown = countdown.clone();
                    spawner.spawn(async move {
                        let (ping_tx, ping_rx) = oneshot::channel::<()>();
                        let (pong_tx, pong_rx) = oneshot::channel::<()>();
                        spawner.spawn(async move {
                            ping_rx.await.unwrap();
                            pong_tx.send(()).unwrap();
                        });
                        ping_tx.send(()).unwrap();
                        pong_rx.await.unwrap();
                        countdown.tick();
                    });
                }
            });
            done_rx.recv().unwrap();
        })
    })
}

/// One link of the chain: spawns the next link, or signals `done` at the end.
fn chain_link<S: Spawner>(spawner: S, left: usize, done: oneshot::Sender<()>) {
    if left == 0 {
        done.send(()).unwrap();
    } else {
        spawner.spawn(async move { chain_link(spawner, left - 1, done) });
    }
}

fn chained_spawn<C: Contender + 'static>(threads: usize) -> Iteration {
    let contender = C::start(threads);
    let spawner = contender.spawner();
    Box::new(move || {
        timed(|| {
            contender.block_on(async {
                let (done_tx, done_rx) = oneshot::channel();
                chain_link(spawner, CHAIN_LENGTH, done_tx);
                done_rx.await.unwrap();
            })
        })
    })
}

/// A workload: its name and how to set it up for each contender.
struct Workload {
    name: &'static str,
    /// `[gmp, tokio, async-executor]`, each given the thread count.
    setups: [fn(usize) -> Iteration; 3],
    /// The one-thread floor, run with 1 thread only; `None` where one thread cannot run the
    /// workload (the busy goroutines of `spawn_many_remote_busy` never yield the thread).
    floor: Option<fn(usize) -> Iteration>,
}

macro_rules! workload {
    ($name:ident) => {
        workload!($name, Some($name::<Floor>))
    };
    ($name:ident, $floor:expr) => {
        Workload {
            name: stringify!($name),
            setups: [$name::<Gmp>, $name::<Tokio>, $name::<AsyncExecutor>],
            floor: $floor,
        }
    };
}

fn workloads() -> [Workload; 6] {
    [
        workload!(spawn_many_local),
        workload!(spawn_many_remote_idle),
        workload!(spawn_many_remote_busy, None),
        workload!(yield_many),
        workload!(ping_pong),
        workload!(chained_spawn),
    ]
}

const CONTENDERS: [&str; 4] = [Gmp::NAME, Tokio::NAME, AsyncExecutor::NAME, Floor::NAME];

impl Workload {
    /// The set-ups to run with `threads` threads, in `CONTENDERS` order: the three executors,
    /// and the floor too at 1 thread.
    fn setups_for(&self, threads: usize) -> Vec<fn(usize) -> Iteration> {
        let floor = self.floor.filter(|_| threads == 1);
        self.setups.iter().copied().chain(floor).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Interleaved mode: `cargo bench --bench scheduler -- --interleaved [ROUNDS] [WORKLOAD...]`.

/// For each workload and thread count, starts all the contenders, then runs `rounds`
/// rounds of one iteration each, the contenders in a rotating order, and reports the medians
/// and the ratios of medians. Interleaving puts them under the same machine load, which on
/// a shared machine matters more than anything else; criterion (the default mode) runs one
/// contender's samples after the other's.
fn interleaved(rounds: usize, filter: &[String]) {
    let out_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-results");
    std::fs::create_dir_all(&out_dir).expect("target/bench-results");
    let mut csv = String::from("workload,threads,executor,median_ns,min_ns,max_ns,rounds\n");
    println!("| workload | threads | gmp | tokio | async-executor | gmp ÷ tokio | gmp ÷ async-executor | floor | gmp ÷ floor |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for workload in workloads() {
        if !filter.is_empty() && !filter.iter().any(|f| workload.name.contains(f.as_str())) {
            continue;
        }
        for threads in THREAD_COUNTS {
            let mut iterations: Vec<Iteration> =
                workload.setups_for(threads).iter().map(|setup| setup(threads)).collect();
            let n = iterations.len();
            for iteration in &mut iterations {
                iteration(); // warm-up: thread start, allocator caches
            }
            let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); n];
            for round in 0..rounds {
                for k in 0..n {
                    let which = (round + k) % n;
                    samples[which].push(iterations[which]());
                }
            }
            drop(iterations);
            let medians: Vec<f64> = samples
                .iter_mut()
                .map(|s| {
                    s.sort();
                    s[s.len() / 2].as_nanos() as f64
                })
                .collect();
            for (k, s) in samples.iter().enumerate() {
                csv.push_str(&format!(
                    "{},{threads},{},{:.0},{},{},{rounds}\n",
                    workload.name,
                    CONTENDERS[k],
                    medians[k],
                    s[0].as_nanos(),
                    s[s.len() - 1].as_nanos()
                ));
            }
            let (floor, floor_ratio) = match medians.get(3) {
                Some(&floor) => (format_ns(floor), format!("{:.2}", medians[0] / floor)),
                None => ("-".to_string(), "-".to_string()),
            };
            println!(
                "| {} | {threads} | {} | {} | {} | {:.2} | {:.2} | {floor} | {floor_ratio} |",
                workload.name,
                format_ns(medians[0]),
                format_ns(medians[1]),
                format_ns(medians[2]),
                medians[0] / medians[1],
                medians[0] / medians[2]
            );
        }
    }
    std::fs::write(out_dir.join("scheduler.csv"), csv).expect("write scheduler.csv");
}

fn format_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.0} µs", ns / 1e3)
    }
}

// ---------------------------------------------------------------------------------------------
// Criterion mode (the default): one group per workload, the three contenders side by side for
// each thread count.

fn criterion_groups(c: &mut Criterion) {
    for workload in workloads() {
        let mut group: BenchmarkGroup<'_, WallTime> = c.benchmark_group(workload.name);
        for threads in THREAD_COUNTS {
            for (k, setup) in workload.setups_for(threads).iter().enumerate() {
                let mut iteration = setup(threads);
                group.bench_function(BenchmarkId::new(CONTENDERS[k], threads), |b| {
                    b.iter_custom(|iters| (0..iters).map(|_| iteration()).sum())
                });
            }
        }
        group.finish();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if args.first().map(String::as_str) == Some("--profile") {
        // `--profile EXECUTOR WORKLOAD THREADS ITERATIONS`: one contender alone, for perf.
        let [_, executor, name, threads, iterations] = &args[..] else {
            panic!("usage: --profile EXECUTOR WORKLOAD THREADS ITERATIONS");
        };
        let k = CONTENDERS.iter().position(|c| c == executor).expect("executor: gmp, tokio, async-executor or floor");
        let workload = workloads().into_iter().find(|w| w.name == name.as_str()).expect("workload name");
        let threads = threads.parse().expect("threads");
        let setup =
            *workload.setups_for(threads).get(k).expect("the floor runs 1 thread, and not spawn_many_remote_busy");
        let mut iteration = setup(threads);
        let total: Duration = (0..iterations.parse::<usize>().expect("iterations")).map(|_| iteration()).sum();
        println!("{executor} {name}/{threads}: {total:?} in all");
        return;
    }
    if args.first().map(String::as_str) == Some("--interleaved") {
        let rounds = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(15);
        let skip = if args.get(1).is_some_and(|r| r.parse::<usize>().is_ok()) { 2 } else { 1 };
        interleaved(rounds, &args[skip..]);
        return;
    }
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    criterion_groups(&mut criterion);
    criterion.final_summary();
}
