//! [`Interval`]: ticks at a fixed period (Go's `time.Ticker`).

use std::future::poll_fn;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::sleep::{far_future, Sleep};

/// Ticks every `period`, starting now: the first [`tick`](Interval::tick) completes at once.
///
/// **Missed ticks are dropped, as Go's `time.Ticker` drops them** (tokio calls this
/// `MissedTickBehavior::Skip`). Ticks are scheduled on the grid `start + k·period`. If the
/// goroutine is late, by less than a period or by many, its next `tick()` completes at once
/// (with the missed instant), and the tick after that waits for the next grid point after
/// now: it never fires a burst of catch-up ticks, and it never drifts from the grid.
///
/// # Panics
///
/// If `period` is zero: `gmp::time::interval: the period must be non-zero`. Ticking panics
/// outside a gmp runtime, as [`sleep`](super::sleep) does.
///
/// # Examples
///
/// ```
/// use gmp::time::{interval, Duration, Instant};
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let start = Instant::now();
///     let mut ticker = interval(Duration::from_millis(5));
///     ticker.tick().await; // at once
///     ticker.tick().await;
///     ticker.tick().await;
///     assert!(start.elapsed() >= Duration::from_millis(10));
/// });
/// ```
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// Ticks every `period`, the first tick at `start`. Missed ticks are dropped, as in
/// [`interval`].
///
/// # Panics
///
/// If `period` is zero.
///
/// # Examples
///
/// ```
/// use gmp::time::{interval_at, Duration, Instant};
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let period = Duration::from_millis(5);
///     let start = Instant::now() + period;
///     let mut ticker = interval_at(start, period);
///     assert_eq!(ticker.tick().await, start);
///     let second = ticker.tick().await;
///     // start + 5 ms, or a later point of the grid if this thread was descheduled meanwhile.
///     assert!(second > start && (second - start).as_nanos() % period.as_nanos() == 0);
/// });
/// ```
#[track_caller]
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "gmp::time::interval: the period must be non-zero (use a loop with gmp::yield_now \
         to run as often as possible)"
    );
    Interval { sleep: Sleep::new(start), period }
}

/// The ticker of [`interval`] and [`interval_at`].
///
/// # Examples
///
/// ```
/// use gmp::time::{interval, Duration, Interval};
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let mut ticker: Interval = interval(Duration::from_millis(1));
///     for _ in 0..3 {
///         ticker.tick().await;
///     }
///     assert_eq!(ticker.period(), Duration::from_millis(1));
/// });
/// ```
#[derive(Debug)]
pub struct Interval {
    /// Sleeps until the next tick.
    sleep: Sleep,
    period: Duration,
}

impl Interval {
    /// Waits for the next tick and returns the instant it was scheduled for (never later than
    /// now, never earlier than the previous tick plus the period).
    ///
    /// Cancel-safe: dropping the future before it completes loses no tick.
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::time::{interval, Duration};
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let period = Duration::from_millis(2);
    ///     let mut ticker = interval(period);
    ///     let first = ticker.tick().await;
    ///     let second = ticker.tick().await;
    ///     assert!(second >= first + period); // on the grid, possibly skipping missed ticks
    ///     assert_eq!((second - first).as_nanos() % period.as_nanos(), 0);
    /// });
    /// ```
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick: the poll form of [`tick`](Self::tick), for hand-written
    /// futures.
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::time::{interval, Duration};
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let mut ticker = interval(Duration::from_millis(1));
    ///     let first = std::future::poll_fn(|cx| ticker.poll_tick(cx)).await;
    ///     assert!(first.elapsed() < Duration::from_secs(60));
    /// });
    /// ```
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if self.sleep.poll_sleep(cx, true).is_pending() {
            return Poll::Pending;
        }
        let tick = self.sleep.deadline();
        let next = self.next_after(tick, Instant::now());
        self.sleep.reset(next);
        Poll::Ready(tick)
    }

    /// Restarts the grid: the next tick is one period from now.
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::time::{interval, Duration, Instant};
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let mut ticker = interval(Duration::from_millis(3));
    ///     ticker.tick().await;
    ///     let reset_at = Instant::now();
    ///     ticker.reset();
    ///     assert!(ticker.tick().await >= reset_at + Duration::from_millis(3));
    /// });
    /// ```
    pub fn reset(&mut self) {
        let now = Instant::now();
        self.sleep.reset(now.checked_add(self.period).unwrap_or_else(|| far_future(now)));
    }

    /// The period between ticks.
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::time::{interval, Duration};
    ///
    /// assert_eq!(interval(Duration::from_secs(2)).period(), Duration::from_secs(2));
    /// ```
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The first grid point after `tick` that is later than `now`: missed ticks are dropped.
    fn next_after(&self, tick: Instant, now: Instant) -> Instant {
        let Some(next) = tick.checked_add(self.period) else {
            return far_future(now);
        };
        if next > now {
            return next;
        }
        let period = self.period.as_nanos();
        let behind = now.duration_since(tick).as_nanos();
        let skip = (behind / period + 1) * period;
        u64::try_from(skip)
            .ok()
            .and_then(|skip| tick.checked_add(Duration::from_nanos(skip)))
            .unwrap_or_else(|| far_future(now))
    }
}
