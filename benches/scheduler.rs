//! gmp against tokio's multi-thread runtime and async-executor on the six scheduler workloads
//! of tokio's `benches/rt_multi_threaded.rs`, each run with 2 and 4 threads.
//!
//! ```text
//! cargo bench --bench scheduler -- --quick --noplot            # everything, a few minutes
//! cargo bench --bench scheduler -- --quick --noplot ping_pong  # one workload
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
//! runs; ratios from interleaved runs under the same load are what to quote. Criterion keeps
//! each estimate in `target/criterion/<group>/<executor>/<N>/new/estimates.json` (the median
//! is `median.point_estimate`, in ns).
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

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion};
use futures::channel::oneshot;
use futures::FutureExt;

const THREAD_COUNTS: [usize; 2] = [2, 4];
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

fn spawn_many_local<C: Contender>(group: &mut BenchmarkGroup<'_, WallTime>, threads: usize) {
    let contender = C::start(threads);
    let spawner = contender.spawner();
    let (done_tx, done_rx) = mpsc::sync_channel(1);
    let countdown = Countdown::new(done_tx);
    group.bench_function(BenchmarkId::new(C::NAME, threads), |b| {
        b.iter(|| {
            countdown.reset(SPAWNS);
            contender.block_on(async {
                for _ in 0..SPAWNS {
                    let countdown = countdown.clone();
                    spawner.spawn(async move { countdown.tick() });
                }
            });
            done_rx.recv().unwrap();
        })
    });
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

fn spawn_many_remote_idle<C: Contender>(group: &mut BenchmarkGroup<'_, WallTime>, threads: usize) {
    let contender = C::start(threads);
    group.bench_function(BenchmarkId::new(C::NAME, threads), |b| b.iter(|| spawn_remote_and_join_all(&contender)));
}

fn spawn_many_remote_busy<C: Contender>(group: &mut BenchmarkGroup<'_, WallTime>, threads: usize) {
    let contender = C::start(threads);
    let stop = Arc::new(AtomicBool::new(false));
    let (stopped_tx, stopped_rx) = mpsc::sync_channel(BUSY_GOROUTINES);
    for _ in 0..BUSY_GOROUTINES {
        let stop = stop.clone();
        let stopped_tx = stopped_tx.clone();
        contender.spawn_remote_detached(async move {
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
    group.bench_function(BenchmarkId::new(C::NAME, threads), |b| b.iter(|| spawn_remote_and_join_all(&contender)));
    stop.store(true, Ordering::Relaxed);
    for _ in 0..BUSY_GOROUTINES {
        stopped_rx.recv().unwrap();
    }
}

fn yield_many<C: Contender>(group: &mut BenchmarkGroup<'_, WallTime>, threads: usize) {
    let contender = C::start(threads);
    let (done_tx, done_rx) = mpsc::sync_channel(YIELDERS);
    group.bench_function(BenchmarkId::new(C::NAME, threads), |b| {
        b.iter(|| {
            for _ in 0..YIELDERS {
                let done_tx = done_tx.clone();
                contender.spawn_remote_detached(async move {
                    for _ in 0..YIELDS_EACH {
                        C::Spawner::yield_now().await;
                    }
                    done_tx.send(()).unwrap();
                });
            }
            for _ in 0..YIELDERS {
                done_rx.recv().unwrap();
            }
        })
    });
}

fn ping_pong<C: Contender>(group: &mut BenchmarkGroup<'_, WallTime>, threads: usize) {
    let contender = C::start(threads);
    let spawner = contender.spawner();
    let (done_tx, done_rx) = mpsc::sync_channel(1);
    let countdown = Countdown::new(done_tx);
    group.bench_function(BenchmarkId::new(C::NAME, threads), |b| {
        b.iter(|| {
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
    });
}

/// One link of the chain: spawns the next link, or signals `done` at the end.
fn chain_link<S: Spawner>(spawner: S, left: usize, done: oneshot::Sender<()>) {
    if left == 0 {
        done.send(()).unwrap();
    } else {
        spawner.spawn(async move { chain_link(spawner, left - 1, done) });
    }
}

fn chained_spawn<C: Contender>(group: &mut BenchmarkGroup<'_, WallTime>, threads: usize) {
    let contender = C::start(threads);
    let spawner = contender.spawner();
    group.bench_function(BenchmarkId::new(C::NAME, threads), |b| {
        b.iter(|| {
            contender.block_on(async {
                let (done_tx, done_rx) = oneshot::channel();
                chain_link(spawner, CHAIN_LENGTH, done_tx);
                done_rx.await.unwrap();
            })
        })
    });
}

// ---------------------------------------------------------------------------------------------
// Groups: one per workload, the three contenders side by side for each thread count.

/// Defines `$group`, which runs `$workload` for every contender and thread count in one
/// criterion group named after the workload.
macro_rules! workload_group {
    ($group:ident, $workload:ident) => {
        fn $group(c: &mut Criterion) {
            let mut group = c.benchmark_group(stringify!($workload));
            for threads in THREAD_COUNTS {
                $workload::<Gmp>(&mut group, threads);
                $workload::<Tokio>(&mut group, threads);
                $workload::<AsyncExecutor>(&mut group, threads);
            }
            group.finish();
        }
    };
}

workload_group!(group_spawn_many_local, spawn_many_local);
workload_group!(group_spawn_many_remote_idle, spawn_many_remote_idle);
workload_group!(group_spawn_many_remote_busy, spawn_many_remote_busy);
workload_group!(group_yield_many, yield_many);
workload_group!(group_ping_pong, ping_pong);
workload_group!(group_chained_spawn, chained_spawn);

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets =
        group_spawn_many_local,
        group_spawn_many_remote_idle,
        group_spawn_many_remote_busy,
        group_yield_many,
        group_ping_pong,
        group_chained_spawn
}
criterion_main!(benches);
