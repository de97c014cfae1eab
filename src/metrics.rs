//! Scheduler metrics: per-P event counters and two log2 histograms (poll duration and
//! scheduling latency), read by [`runtime::stats()`](crate::runtime::stats).
//!
//! # Design
//!
//! Each P carries one [`ProcessorMetrics`]. Its counters are bumped where the event happens,
//! and almost all of them only by the P's owner (the M holding it): a relaxed load and a
//! relaxed store of a word on the P's own cache lines, never a read-modify-write, so counting
//! costs the hot path no cross-core traffic. A P changes owner only through the idle lock or a
//! CAS on its status, which orders one owner's stores before the next owner's loads. The three
//! counters bumped from elsewhere — `stolen_from` (by the thief), `handoffs` and
//! `blocked_polls` (by sysmon) — count rare events and use `fetch_add`. `stats()` reads
//! everything with relaxed loads: a snapshot of counters that only grow, not a consistent cut.
//!
//! `polls` is not a counter of its own: it is derived from the P's `polls` word, which the
//! poll loop already bumps before and after every poll for sysmon.
//!
//! Histograms ([`Histogram`]) have [`HISTOGRAM_BUCKETS`] log2 buckets of nanoseconds: bucket 0
//! holds `[0, 128 ns)`, bucket `i` holds `[2^(i+6), 2^(i+7)) ns`, the last one everything from
//! about 8.6 s up. Each P records into its own histogram (owner only, as the counters);
//! `stats()` lists them per P and merges them. A histogram's `count` is stored with `Release`
//! after its bucket, and read with `Acquire` before the buckets, so a snapshot never shows
//! more samples counted than bucketed; once the P is quiet the two are equal.
//!
//! Neither histogram times every event: the poll loop does not read the clock (sysmon spots
//! long polls by sampling counters), and two clock reads per poll would cost a fast poll
//! several percent. Both are sampled, as Go samples its scheduling latency:
//!
//! - **scheduling latency** (runnable → running): every [`LATENCY_SAMPLE_INTERVAL`]th goroutine
//!   made runnable on a P's local queue is stamped. The goroutine header stays as it is: the P
//!   keeps one sample slot saying *where* the stamped goroutine waits — in `runnext` (by its
//!   raw pointer) or at a ring position (positions only grow, so a ring sample can never be
//!   mistaken for a later goroutine). When the owner takes that goroutine (runnext, or the ring
//!   at that position) it records `now - stamp`. A goroutine moved out of runnext to the ring
//!   keeps its stamp at its new position. If the goroutine leaves another way (a thief steals
//!   it, it overflows to the global queue), the owner notices when it next looks — runnext
//!   holding someone else, or the ring's head past the position — and drops the sample. Only
//!   the P's owner touches the slot. Goroutines made runnable through the global queue (spawns
//!   and wakes from outside any P) are not sampled.
//! - **poll duration**: the poll of a goroutine whose latency was just recorded is timed,
//!   from that same clock reading to the end of the poll (one more reading). The poll loop
//!   itself only checks one word of its P at the end of each poll. A poll that enters
//!   `gmp::syscall` is not timed (`forget_poll`: its M may come back on another P), so a stamp
//!   is never ended by another goroutine's poll. So the polls timed are those of goroutines
//!   readied on a P; polls of goroutines taken from the global queue or stolen, and of
//!   `block_on`'s main future, are not.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering::*};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::runq::{LocalQueue, QueueItem};

/// Buckets in every [`Histogram`].
pub const HISTOGRAM_BUCKETS: usize = 28;
/// Bucket 0 holds durations below `2^FIRST_BUCKET_SHIFT` ns (128 ns).
const FIRST_BUCKET_SHIFT: u32 = 7;
/// One goroutine in this many made runnable on a P is stamped for the scheduling-latency
/// histogram (when the P's sample slot is free).
pub const LATENCY_SAMPLE_INTERVAL: u32 = 256;

/// Nanoseconds since a process-wide epoch, never 0 (0 means "not sampled").
fn now_nanos() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    (epoch.elapsed().as_nanos() as u64).max(1)
}

/// A counter only the P's owner writes: plain load + store, no RMW.
#[derive(Debug, Default)]
pub(crate) struct OwnerCounter(AtomicU64);

impl OwnerCounter {
    /// Owner only.
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// A counter of a rare event that threads other than the owner record.
#[derive(Debug, Default)]
pub(crate) struct SharedCounter(AtomicU64);

impl SharedCounter {
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// The bucket of a duration of `nanos` ns.
fn bucket_of(nanos: u64) -> usize {
    let index = (u64::BITS - (nanos >> FIRST_BUCKET_SHIFT).leading_zeros()) as usize;
    index.min(HISTOGRAM_BUCKETS - 1)
}

/// A histogram one P's owner records into.
#[derive(Debug)]
pub(crate) struct LocalHistogram {
    buckets: [AtomicU64; HISTOGRAM_BUCKETS],
    sum: AtomicU64,
    count: AtomicU64,
}

impl Default for LocalHistogram {
    fn default() -> Self {
        Self { buckets: std::array::from_fn(|_| AtomicU64::new(0)), sum: AtomicU64::new(0), count: AtomicU64::new(0) }
    }
}

impl LocalHistogram {
    /// Owner only: records one duration.
    fn record(&self, nanos: u64) {
        let bucket = &self.buckets[bucket_of(nanos)];
        bucket.store(bucket.load(Relaxed) + 1, Relaxed);
        self.sum.store(self.sum.load(Relaxed).wrapping_add(nanos), Relaxed);
        // After the bucket: a reader that sees this count sees the bucket too.
        self.count.store(self.count.load(Relaxed) + 1, Release);
    }

    /// Owner only: records the time since `start` (from `now_nanos`).
    fn record_since(&self, start: u64) {
        self.record(now_nanos().saturating_sub(start));
    }

    fn snapshot(&self) -> Histogram {
        let count = self.count.load(Acquire);
        Histogram {
            counts: self.buckets.iter().map(|b| b.load(Relaxed)).collect(),
            count,
            sum: Duration::from_nanos(self.sum.load(Relaxed)),
        }
    }
}

/// Where the P's latency sample waits.
const NO_SAMPLE: u8 = 0;
const IN_RUNNEXT: u8 = 1;
const IN_RING: u8 = 2;

/// The counters and histograms of one P. See the module comment for who writes what.
#[derive(Debug, Default)]
pub(crate) struct ProcessorMetrics {
    // The words the owner touches on every ready and take come first.
    readies: AtomicU32,
    sample_kind: AtomicU8,
    /// The sampled goroutine's runnext key (raw pointer) or ring position.
    sample_key: AtomicUsize,
    sample_since: AtomicU64,
    /// When the poll about to run (or running) started, if it is timed; else 0.
    poll_started_at: AtomicU64,
    pub(crate) steals: OwnerCounter,
    pub(crate) stolen_goroutines: OwnerCounter,
    pub(crate) stolen_from: SharedCounter,
    pub(crate) rescues: OwnerCounter,
    pub(crate) handoffs: SharedCounter,
    pub(crate) blocked_polls: SharedCounter,
    pub(crate) preemptions: OwnerCounter,
    pub(crate) syscalls: OwnerCounter,
    pub(crate) global_queue_takes: OwnerCounter,
    pub(crate) netpoll_wakes: OwnerCounter,
    poll_time: LocalHistogram,
    scheduling_latency: LocalHistogram,
}

impl ProcessorMetrics {
    /// Owner: a poll on this P ended; records its duration if it was timed.
    #[inline]
    pub(crate) fn poll_finished(&self) {
        let start = self.poll_started_at.load(Relaxed);
        if start != 0 {
            self.poll_timed(start);
        }
    }

    #[cold]
    fn poll_timed(&self, start: u64) {
        self.poll_time.record_since(start);
        self.poll_started_at.store(0, Relaxed);
    }

    /// Owner: the M leaves this P in the middle of a poll (`gmp::syscall`); the poll's end
    /// will not be seen here.
    pub(crate) fn forget_poll(&self) {
        self.poll_started_at.store(0, Relaxed);
    }

    /// Owner: the sampled goroutine (stamped at `since`) is about to run.
    fn sample_runs(&self) {
        let now = now_nanos();
        self.scheduling_latency.record(now.saturating_sub(self.sample_since.load(Relaxed)));
        self.poll_started_at.store(now, Relaxed);
    }

    /// Owner: this P stole `goroutines` goroutines in one steal.
    pub(crate) fn stole(&self, goroutines: usize) {
        self.steals.add(1);
        self.stolen_goroutines.add(goroutines as u64);
    }

    /// Owner: true for every `LATENCY_SAMPLE_INTERVAL`th goroutine made runnable here.
    #[inline]
    fn ready_is_sampled(&self) -> bool {
        let readies = self.readies.load(Relaxed).wrapping_add(1);
        self.readies.store(readies, Relaxed);
        readies % LATENCY_SAMPLE_INTERVAL == 0
    }

    /// Owner: the goroutine with key `key` was put in runnext (by `swap_runnext_keyed`);
    /// `displaced` is the key of the goroutine it pushed out and where that one went (its
    /// ring position, or `None` for the global queue).
    #[inline]
    pub(crate) fn readied_in_runnext<T: QueueItem>(
        &self,
        key: usize,
        displaced: Option<(usize, Option<u32>)>,
        queue: &LocalQueue<T>,
    ) {
        if self.sample_kind.load(Relaxed) == IN_RUNNEXT {
            self.runnext_replaced(displaced);
        }
        if self.ready_is_sampled() {
            self.take_sample(IN_RUNNEXT, key, queue);
        }
    }

    /// A goroutine took runnext while the sampled one was there (or had been taken from it).
    #[cold]
    fn runnext_replaced(&self, displaced: Option<(usize, Option<u32>)>) {
        match displaced {
            Some((key, position)) if key == self.sample_key.load(Relaxed) => self.follow_to_ring(position),
            // runnext holds another goroutine now, so the sampled one has left it (stolen).
            _ => self.sample_kind.store(NO_SAMPLE, Relaxed),
        }
    }

    /// The sampled goroutine moved from runnext to ring position `position` (`None`: the
    /// global queue).
    fn follow_to_ring(&self, position: Option<u32>) {
        match position {
            Some(position) => {
                self.sample_key.store(position as usize, Relaxed);
                self.sample_kind.store(IN_RING, Relaxed);
            }
            None => self.sample_kind.store(NO_SAMPLE, Relaxed),
        }
    }

    /// Owner: a goroutine was queued at the ring's tail, at `position` (`None`: it overflowed
    /// to the global queue).
    #[inline]
    pub(crate) fn readied_in_ring<T: QueueItem>(&self, position: Option<u32>, queue: &LocalQueue<T>) {
        if self.ready_is_sampled() {
            if let Some(position) = position {
                self.take_sample(IN_RING, position as usize, queue);
            }
        }
    }

    /// Owner: the goroutine with key `key` left runnext for the ring's tail at `position`
    /// (`None`: the global queue) other than by a ready (a time slice ran out).
    #[cold]
    pub(crate) fn displaced_from_runnext(&self, key: usize, position: Option<u32>) {
        if self.sample_kind.load(Relaxed) == IN_RUNNEXT && self.sample_key.load(Relaxed) == key {
            self.follow_to_ring(position);
        }
    }

    /// Owner: it took the goroutine with key `key` from runnext to run it.
    #[inline]
    pub(crate) fn took_from_runnext(&self, key: usize) {
        if self.sample_kind.load(Relaxed) == IN_RUNNEXT {
            self.runnext_sample_ends(key);
        }
    }

    #[cold]
    fn runnext_sample_ends(&self, key: usize) {
        if self.sample_key.load(Relaxed) == key {
            self.sample_runs();
        }
        // Either way the sampled goroutine is no longer in runnext.
        self.sample_kind.store(NO_SAMPLE, Relaxed);
    }

    /// Owner: it took the goroutine at ring position `position` to run it.
    #[inline]
    pub(crate) fn took_from_ring(&self, position: u32) {
        // Positions before the sampled one are the common case while a sample waits.
        if self.sample_kind.load(Relaxed) == IN_RING
            && position.wrapping_sub(self.sample_key.load(Relaxed) as u32) as i32 >= 0
        {
            self.ring_sample_passed(position);
        }
    }

    /// Taken now, or it left the ring earlier (stolen or overflowed).
    #[cold]
    fn ring_sample_passed(&self, position: u32) {
        if position == self.sample_key.load(Relaxed) as u32 {
            self.sample_runs();
        }
        self.sample_kind.store(NO_SAMPLE, Relaxed);
    }

    /// Owner: stamps the goroutine at `key` unless the slot holds a sample still waiting.
    #[cold]
    fn take_sample<T: QueueItem>(&self, kind: u8, key: usize, queue: &LocalQueue<T>) {
        let waiting = match self.sample_kind.load(Relaxed) {
            IN_RUNNEXT => queue.runnext_key() == self.sample_key.load(Relaxed),
            IN_RING => (queue.head_position().wrapping_sub(self.sample_key.load(Relaxed) as u32) as i32) <= 0,
            _ => false,
        };
        if waiting {
            return;
        }
        self.sample_since.store(now_nanos(), Relaxed);
        self.sample_key.store(key, Relaxed);
        self.sample_kind.store(kind, Relaxed);
    }

    /// The counters, with `polls` from the P's poll word (bumped twice per poll).
    pub(crate) fn counters(&self, poll_word: u64) -> ProcessorCounters {
        ProcessorCounters {
            polls: poll_word / 2,
            steals: self.steals.get(),
            stolen_goroutines: self.stolen_goroutines.get(),
            stolen_from: self.stolen_from.get(),
            rescues: self.rescues.get(),
            handoffs: self.handoffs.get(),
            blocked_polls: self.blocked_polls.get(),
            preemptions: self.preemptions.get(),
            syscalls: self.syscalls.get(),
            global_queue_takes: self.global_queue_takes.get(),
            netpoll_wakes: self.netpoll_wakes.get(),
        }
    }

    pub(crate) fn poll_time_histogram(&self) -> Histogram {
        self.poll_time.snapshot()
    }

    pub(crate) fn scheduling_latency_histogram(&self) -> Histogram {
        self.scheduling_latency.snapshot()
    }
}

/// Event counters of one P, or summed over all Ps (in [`Stats::counters`]).
///
/// Each counts from the runtime's start and only grows.
///
/// [`Stats::counters`]: crate::runtime::Stats::counters
///
/// # Examples
///
/// ```
/// gmp::Runtime::new().unwrap().block_on(async {
///     for _ in 0..10 {
///         gmp::spawn(async {}).await.unwrap();
///     }
///     let counters = gmp::runtime::stats().counters;
///     assert!(counters.polls >= 10);
///     println!("{} polls, {} steals", counters.polls, counters.steals);
/// });
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessorCounters {
    /// Goroutine polls run on the P (the main future's included; tokio's
    /// `worker_poll_count`). A poll that calls `gmp::syscall` counts once before the call
    /// and once after it, on whichever P its M holds then.
    pub polls: u64,
    /// Steals this P made: each time its M, out of work, took goroutines from another P's
    /// queue (tokio's `worker_steal_operations`).
    pub steals: u64,
    /// Goroutines this P took in those steals (tokio's `worker_steal_count`).
    pub stolen_goroutines: u64,
    /// Steals other Ps made from this P's queue.
    pub stolen_from: u64,
    /// Of this P's `steals`, those its M made while it had work of its own: on a look at the
    /// global queue, from a P whose M had not finished a poll since its previous look while
    /// goroutines waited there (an M descheduled by the OS, or a long poll). Go and tokio
    /// leave such goroutines waiting for their M.
    pub rescues: u64,
    /// Times sysmon retook this P from a `gmp::syscall` that outlasted its tick and handed
    /// it to another M (Go's `retake` → `handoffp`).
    pub handoffs: u64,
    /// Times sysmon found a poll on this P stuck (blocking its thread) and put a spare P to
    /// work in its place.
    pub blocked_polls: u64,
    /// Goroutines that yielded at a cooperative point because sysmon asked this P to preempt
    /// a poll running past 10 ms (they go to the global queue, as in Go).
    pub preemptions: u64,
    /// Calls to `gmp::syscall` entered on this P (Go's `entersyscall`).
    pub syscalls: u64,
    /// Goroutines this P took from the global queue (spawns and wakes from outside any P,
    /// overflow, work of Ps given up).
    pub global_queue_takes: u64,
    /// Goroutines the netpoller readied (I/O became ready) while this P's M polled it. In
    /// [`Stats::counters`] this also includes those sysmon's backstop poll readied.
    ///
    /// [`Stats::counters`]: crate::runtime::Stats::counters
    pub netpoll_wakes: u64,
}

impl std::ops::AddAssign for ProcessorCounters {
    fn add_assign(&mut self, other: Self) {
        self.polls += other.polls;
        self.steals += other.steals;
        self.stolen_goroutines += other.stolen_goroutines;
        self.stolen_from += other.stolen_from;
        self.rescues += other.rescues;
        self.handoffs += other.handoffs;
        self.blocked_polls += other.blocked_polls;
        self.preemptions += other.preemptions;
        self.syscalls += other.syscalls;
        self.global_queue_takes += other.global_queue_takes;
        self.netpoll_wakes += other.netpoll_wakes;
    }
}

/// One P in [`Stats::processors`](crate::runtime::Stats::processors).
///
/// # Examples
///
/// ```
/// gmp::Builder::new().maxprocs(2).build().unwrap().block_on(async {
///     let stats = gmp::runtime::stats();
///     assert_eq!(stats.processors.len(), 2);
///     for p in &stats.processors {
///         println!("P{} {} queue={} polls={}", p.index, p.status, p.local_queue_length, p.counters.polls);
///     }
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessorStats {
    /// The P's index (P0 first; spare Ps standing in for blocked ones come after `maxprocs`).
    pub index: usize,
    /// `"idle"`, `"running"` or `"syscall"`.
    pub status: &'static str,
    /// Goroutines in its local queue, runnext included.
    pub local_queue_length: usize,
    /// Its event counters.
    pub counters: ProcessorCounters,
    /// Sampled poll durations on this P.
    pub poll_time_histogram: Histogram,
    /// Sampled scheduling latencies (runnable → running) on this P.
    pub scheduling_latency_histogram: Histogram,
}

/// A histogram of durations with log2 buckets ([`HISTOGRAM_BUCKETS`] of them): bucket 0
/// holds `[0, 128 ns)`, bucket `i` holds `[2^(i+6), 2^(i+7))` ns, the last one is open-ended.
///
/// # Examples
///
/// ```
/// gmp::Runtime::new().unwrap().block_on(async {
///     for _ in 0..1000 {
///         gmp::yield_now().await;
///     }
///     let polls = gmp::runtime::stats().poll_time_histogram;
///     let bucketed: u64 = polls.counts().iter().sum();
///     assert!(bucketed >= polls.count());
///     for (i, &n) in polls.counts().iter().enumerate().filter(|(_, &n)| n > 0) {
///         let (low, high) = gmp::runtime::Histogram::bucket_range(i);
///         println!("{low:?}..{high:?}: {n}");
///     }
///     if let Some(p99) = polls.quantile(0.99) {
///         println!("p99 poll under {p99:?}");
///     }
/// });
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum: Duration,
}

impl Histogram {
    /// Samples in each bucket.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Samples recorded (equal to the sum of [`counts`](Self::counts) once the Ps are quiet;
    /// a snapshot taken while they record may show a few more bucketed than counted).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The sum of the samples' durations.
    pub fn sum(&self) -> Duration {
        self.sum
    }

    /// The mean sample, if there is any.
    pub fn mean(&self) -> Option<Duration> {
        (self.count > 0).then(|| self.sum / self.count.min(u32::MAX as u64) as u32)
    }

    /// The bounds of bucket `index`: from the first (inclusive) to the second (exclusive;
    /// `Duration::MAX` for the last bucket).
    ///
    /// # Panics
    ///
    /// If `index >= HISTOGRAM_BUCKETS`.
    pub fn bucket_range(index: usize) -> (Duration, Duration) {
        assert!(index < HISTOGRAM_BUCKETS, "gmp: histogram bucket {index} out of range (0..{HISTOGRAM_BUCKETS})");
        let low = if index == 0 { 0 } else { 1u64 << (index as u32 - 1 + FIRST_BUCKET_SHIFT) };
        let high = if index + 1 == HISTOGRAM_BUCKETS {
            Duration::MAX
        } else {
            Duration::from_nanos(1u64 << (index as u32 + FIRST_BUCKET_SHIFT))
        };
        (Duration::from_nanos(low), high)
    }

    /// An upper bound for quantile `q` (0.0..=1.0): the upper bound of the bucket holding it
    /// (`Duration::MAX` if that is the last bucket). `None` if the histogram is empty.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total: u64 = self.counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(Self::bucket_range(index).1);
            }
        }
        Some(Duration::MAX)
    }

    /// Adds `other`'s samples to this one.
    pub(crate) fn merge(&mut self, other: &Histogram) {
        if self.counts.is_empty() {
            self.counts = vec![0; HISTOGRAM_BUCKETS];
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.count += other.count;
        self.sum += other.sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_duration_lands_in_the_bucket_whose_range_holds_it() {
        for nanos in [0, 1, 127, 128, 255, 256, 1_000, 1 << 20, (1 << 33) - 1, 1 << 33, u64::MAX] {
            let (low, high) = Histogram::bucket_range(bucket_of(nanos));
            let d = Duration::from_nanos(nanos);
            assert!(low <= d && d < high, "{nanos} ns in bucket {} = {low:?}..{high:?}", bucket_of(nanos));
        }
    }

    #[test]
    fn quantiles_come_from_bucket_bounds() {
        let h = LocalHistogram::default();
        for _ in 0..99 {
            h.record(100);
        }
        h.record(5_000);
        let snapshot = h.snapshot();
        assert_eq!(snapshot.count(), 100);
        assert_eq!(snapshot.quantile(0.5), Some(Duration::from_nanos(128)));
        assert_eq!(snapshot.quantile(1.0), Some(Duration::from_nanos(8192)));
        assert_eq!(snapshot.sum(), Duration::from_nanos(99 * 100 + 5_000));
    }
}
