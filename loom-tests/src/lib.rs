//! loom model checks of gmp's lock-free scheduler code: the local ring, `runnext`, the global
//! queue's batch take, the park/wake protocol and the netpoller's blocker/notify handshake;
//! and (`user_programs.rs`, `user_runtime.rs`) whole user programs run under `gmp::model`.
//!
//! The models live in `tests/` and compile only under `--cfg loom` (without it this crate
//! and its tests are empty, so `cargo test --workspace` skips them):
//!
//! ```text
//! RUSTFLAGS="--cfg loom -C debug-assertions" LOOM_MAX_PREEMPTIONS=2 LOOM_MAX_BRANCHES=10000 \
//!     CARGO_TARGET_DIR=target/loom cargo test -p loom-tests --release
//! ```
//!
//! CI runs `LOOM_MAX_PREEMPTIONS=2` (about 3 s of models on a 2-core machine, plus the build);
//! use 3 locally for a deeper search (about 15 s; 4 takes about 2 minutes). A separate target
//! directory keeps the loom build from evicting the normal one: `--cfg loom` changes the flags
//! of every crate in the graph.
//!
//! loom 0.7 has known gaps that shaped these models: it can stop exploring after one execution
//! (loom#392; [`model`] checks for that), an RMW can read a value older than the latest store
//! (loom#254) and a pending unpark is lost when the thread then blocks on a lock (loom#249);
//! `sched.rs` avoids the last two patterns, which would otherwise show up as false deadlocks.
//!
//! This file holds what the models share: a mock goroutine ([`Item`], an id with no
//! allocation, so a duplicated item shows up as a repeated id rather than a double free), a
//! mock [`Platform`] that cannot start threads, and helpers that collect what a queue holds.
#![cfg(loom)]

use std::ptr::NonNull;

use gmp::loom_exports::{LocalQueue, Machine, Platform, QueueItem, Scheduler, Wakeup};
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;

/// Runs `f` under `loom::model` (every interleaving within `LOOM_MAX_PREEMPTIONS`) and checks
/// that loom actually found more than one: loom 0.7 can stop exploring after a single
/// execution in some shapes of test (loom#392, e.g. when the main thread fills a
/// `concurrent-queue` before spawning), which would make a model pass without checking
/// anything. Use it for every model with more than one thread.
pub fn model<F>(f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    // Through `loom::model` rather than a `Builder`, so that `LOOM_LOG` traces still print.
    count_executions(loom::model, f);
}

/// [`model`] with the preemption bound capped at `cap` (or lower, if `LOOM_MAX_PREEMPTIONS`
/// says so), for models whose state space explodes past it: two worker Ms running the whole
/// find-work loop take 1.3 million interleavings (over 3 minutes) at a bound of 2, and 15
/// thousand (2 s) at 1.
pub fn model_with_preemptions_capped_at<F>(cap: usize, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(builder.preemption_bound.map_or(cap, |bound| bound.min(cap)));
    count_executions(|f| builder.check(f), f);
}

/// Runs `f` through `run` (a loom model), asserting that loom ran it more than once.
fn count_executions<F, R>(run: R, f: F)
where
    F: Fn() + Sync + Send + 'static,
    R: FnOnce(Box<dyn Fn() + Sync + Send + 'static>),
{
    use std::sync::atomic::{AtomicUsize as Counter, Ordering::Relaxed};
    let executions = std::sync::Arc::new(Counter::new(0));
    let counter = executions.clone();
    run(Box::new(move || {
        counter.fetch_add(1, Relaxed);
        f();
    }));
    let executions = executions.load(Relaxed);
    assert!(executions > 1, "loom explored only {executions} interleaving(s); the model checks nothing (loom#392)");
}

/// A mock goroutine: just an id. It is not `Clone`, so the only way a model can see the same
/// id twice is the queue handing one item out twice.
#[derive(Debug, PartialEq, Eq)]
pub struct Item(pub u32);

// SAFETY: the pointer is the id plus one, an integer that is never dereferenced; `from_raw`
// subtracts the one again, so the round trip gives back the same id.
unsafe impl QueueItem for Item {
    fn into_raw(self) -> NonNull<()> {
        NonNull::new((self.0 as usize + 1) as *mut ()).expect("id + 1 is never zero")
    }

    unsafe fn from_raw(ptr: NonNull<()>) -> Self {
        Item((ptr.as_ptr() as usize - 1) as u32)
    }
}

/// Ids of `items`, in order.
pub fn ids(items: impl IntoIterator<Item = Item>) -> Vec<u32> {
    items.into_iter().map(|item| item.0).collect()
}

/// Owner only: empties `queue` (runnext first, then the ring) and returns the ids in the
/// order they came out.
pub fn drain(queue: &LocalQueue<Item>) -> Vec<u32> {
    ids(queue.drain())
}

/// Owner only: empties the ring of `queue` (not runnext) in FIFO order.
pub fn pop_all(queue: &LocalQueue<Item>) -> Vec<u32> {
    ids(std::iter::from_fn(|| queue.pop()))
}

/// Asserts that `seen` holds every id of `expected` exactly once: nothing lost, nothing
/// duplicated.
#[track_caller]
pub fn assert_exactly_once(mut seen: Vec<u32>, expected: impl IntoIterator<Item = u32>) {
    seen.sort_unstable();
    let mut expected: Vec<u32> = expected.into_iter().collect();
    expected.sort_unstable();
    assert_eq!(seen, expected, "every item must come out exactly once");
}

/// Asserts that `ids` is strictly increasing: the items left one queue in FIFO order.
#[track_caller]
pub fn assert_increasing(ids: &[u32], what: &str) {
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{what} out of FIFO order: {ids:?}");
}

/// Asserts that a stolen batch is one contiguous run of `ring_order`, the ids in the order
/// they entered the victim's ring (every id pushed, minus those a push sent straight to the
/// global queue): a thief claims a contiguous range of the ring, oldest first.
#[track_caller]
pub fn assert_contiguous_in(batch: &[u32], ring_order: &[u32], what: &str) {
    let Some(first) = batch.first() else { return };
    let start = ring_order.iter().position(|id| id == first);
    let run = start.and_then(|start| ring_order.get(start..start + batch.len()));
    assert_eq!(run, Some(batch), "{what} is not one contiguous run of the ring {ring_order:?}");
}

/// What a thief got from one `steal_half_counted`, oldest first: the items it kept in its own
/// ring, then the one it was handed to run now (the newest of the batch).
pub fn stolen_batch(thief_queue: &LocalQueue<Item>, handed: Option<Item>) -> Vec<u32> {
    let Some(handed) = handed else {
        assert!(thief_queue.is_empty(), "a failed steal must leave the thief's ring alone");
        return Vec::new();
    };
    let mut batch = pop_all(thief_queue);
    batch.push(handed.0);
    batch
}

/// A platform that cannot start threads (as when `max_threads` is reached): `start_machine`
/// records the request and says no, so the scheduler must put the P back and every wakeup
/// has to reach the Ms the model started itself, through the idle-M list.
#[derive(Debug, Default, Clone)]
pub struct NoThreads {
    /// How many times the scheduler asked for a new M.
    pub requests: Arc<AtomicUsize>,
}

impl Platform for NoThreads {
    fn start_machine(&self, _wakeup: Wakeup) -> bool {
        self.requests.fetch_add(1, SeqCst);
        false
    }
}

/// A scheduler with `maxprocs` Ps on a platform that starts no threads; Ps `0..taken` are
/// taken off the idle list for the Ms the model starts (P i for the i-th).
pub fn scheduler_with_ps_taken(maxprocs: usize, taken: usize) -> Arc<Scheduler<Item>> {
    let sched = Arc::new(Scheduler::new(maxprocs, 0));
    sched.set_platform(Box::new(NoThreads::default()));
    for p in 0..taken {
        assert_eq!(sched.acquire_idle_processor(), Some(p));
    }
    sched
}

/// Starts a worker M on P `processor`. It runs `Scheduler::next` until it has seen
/// `expected` items, then leaves the scheduler as a worker thread does, and returns the ids
/// in the order it ran them.
pub fn spawn_worker(
    sched: &Arc<Scheduler<Item>>,
    processor: usize,
    expected: usize,
) -> loom::thread::JoinHandle<Vec<u32>> {
    let sched = sched.clone();
    loom::thread::spawn(move || {
        let m = Machine::new(processor as u32 + 1, None);
        sched.resume(&m, processor, false);
        let mut seen = Vec::new();
        while seen.len() < expected {
            match sched.next(&m) {
                Some(item) => seen.push(item.0),
                None => panic!("next returned None without a shutdown, after {seen:?}"),
            }
        }
        sched.detach_machine(&m);
        seen
    })
}
