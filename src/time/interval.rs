//! [`Interval`]: ticks at a fixed period (Go's `time.Ticker`, tokio's `Interval`), and
//! [`MissedTickBehavior`]: what it does when the goroutine falls behind.

use std::future::poll_fn;
use std::task::{Context, Poll};
use std::time::{Duration, Instant as StdInstant};

use super::sleep::{far_future, Sleep};
use super::Instant;

/// What an [`Interval`] does when a tick is taken so late that the next one is already due
/// (the goroutine stalled, or was busy for more than a period).
///
/// Ticks are due on the grid `start + k·period`. Say the period is 10 ms, ticks are due at 10,
/// 20, 30, 40 ms…, and the goroutine only calls `tick()` for the tick due at 10 at 35 ms. Every
/// behaviour returns that tick at once (its instant is the 10 ms point); they differ in what
/// comes next:
///
/// | behaviour | the next ticks complete at | and return |
/// |---|---|---|
/// | [`Skip`](Self::Skip) (default, Go's `time.Ticker`) | 40, 50, … | 40, 50, … |
/// | [`Burst`](Self::Burst) (tokio's default) | 35, 35, then 40, 50, … | 20, 30, 40, 50, … |
/// | [`Delay`](Self::Delay) | 45, 55, … | 45, 55, … |
///
/// **The default differs from tokio's.** gmp keeps Go's ticker semantics, which drop the ticks
/// a slow receiver missed (`Skip`); tokio's `Interval` defaults to `Burst`. Code ported from
/// tokio that relies on catch-up ticks must ask for `Burst` with
/// [`Interval::set_missed_tick_behavior`].
///
/// A tick taken late but before the next one is due (at 15 ms in the example) changes nothing:
/// the next is due at 20 ms under every behaviour.
///
/// # Examples
///
/// ```
/// use gmp::time::{interval, Duration, MissedTickBehavior};
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let mut ticker = interval(Duration::from_millis(1));
///     assert_eq!(ticker.missed_tick_behavior(), MissedTickBehavior::Skip);
///     ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
///     ticker.tick().await;
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MissedTickBehavior {
    /// Catch up: the missed ticks complete at once, one per `tick()`, each returning its own
    /// point of the grid, until the interval is back on schedule (tokio's default).
    Burst,
    /// Start over: the next tick is due one period after the late one was taken; the grid
    /// moves.
    Delay,
    /// Drop the missed ticks: the next tick is due at the first point of the grid after now,
    /// so the interval never bursts and never drifts. Go's `time.Ticker` behaves this way, and
    /// so does gmp by default.
    #[default]
    Skip,
}

impl MissedTickBehavior {
    /// When the tick after `tick` is due, if `tick` was taken at `now`.
    fn next_tick(self, tick: StdInstant, now: StdInstant, period: Duration) -> StdInstant {
        let Some(next) = tick.checked_add(period) else {
            return far_future(now);
        };
        if next > now {
            return next; // on schedule
        }
        match self {
            Self::Burst => next,
            Self::Delay => now.checked_add(period).unwrap_or_else(|| far_future(now)),
            Self::Skip => {
                let period = period.as_nanos();
                let behind = now.duration_since(tick).as_nanos();
                let skip = (behind / period + 1) * period;
                u64::try_from(skip)
                    .ok()
                    .and_then(|skip| tick.checked_add(Duration::from_nanos(skip)))
                    .unwrap_or_else(|| far_future(now))
            }
        }
    }
}

/// Ticks every `period`, starting now: the first [`tick`](Interval::tick) completes at once.
///
/// **Missed ticks are dropped, as Go's `time.Ticker` drops them**
/// ([`MissedTickBehavior::Skip`]; tokio's default is `Burst`). Ticks are scheduled on the grid
/// `start + k·period`. If the goroutine is late, by less than a period or by many, its next
/// `tick()` completes at once (with the missed instant), and the tick after that waits for the
/// next grid point after now: it never fires a burst of catch-up ticks, and it never drifts
/// from the grid. [`Interval::set_missed_tick_behavior`] chooses otherwise.
///
/// Time is the runtime's clock, so a paused clock ([`pause`](super::pause)) drives intervals
/// too.
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

/// Ticks every `period`, the first tick at `start` (a [`gmp::time::Instant`](Instant) or a
/// `std::time::Instant`). Missed ticks are dropped, as in [`interval`].
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
pub fn interval_at(start: impl Into<Instant>, period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "gmp::time::interval: the period must be non-zero (use a loop with gmp::yield_now \
         to run as often as possible)"
    );
    Interval { sleep: Sleep::new(start.into().into_std()), period, missed_tick_behavior: MissedTickBehavior::default() }
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
    missed_tick_behavior: MissedTickBehavior,
}

impl Interval {
    /// Waits for the next tick and returns the instant it was scheduled for (never later than
    /// now; with the default behaviour, never earlier than the previous tick plus the period).
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
        let tick = self.sleep.std_deadline();
        let next = self.missed_tick_behavior.next_tick(tick, self.sleep.now(), self.period);
        self.sleep.reset_to(next);
        Poll::Ready(Instant::from_std(tick))
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
        self.reset_after(self.period);
    }

    /// Restarts the grid at now: the next tick completes at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::time::{interval, Duration, Instant};
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let mut ticker = interval(Duration::from_secs(3600));
    ///     ticker.tick().await;
    ///     ticker.reset_immediately();
    ///     assert!(ticker.tick().await <= Instant::now());
    /// });
    /// ```
    pub fn reset_immediately(&mut self) {
        self.reset_after(Duration::ZERO);
    }

    /// Restarts the grid so that the next tick is `after` from now.
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::time::{interval, Duration, Instant};
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let mut ticker = interval(Duration::from_secs(3600));
    ///     let before = Instant::now();
    ///     ticker.reset_after(Duration::from_millis(2));
    ///     assert!(ticker.tick().await >= before + Duration::from_millis(2));
    /// });
    /// ```
    pub fn reset_after(&mut self, after: Duration) {
        let now = self.sleep.now();
        self.sleep.reset_to(now.checked_add(after).unwrap_or_else(|| far_future(now)));
    }

    /// Restarts the grid so that the next tick is at `deadline` (a
    /// [`gmp::time::Instant`](Instant) or a `std::time::Instant`).
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::time::{interval, Duration, Instant};
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let mut ticker = interval(Duration::from_secs(3600));
    ///     let at = Instant::now() + Duration::from_millis(2);
    ///     ticker.reset_at(at);
    ///     assert_eq!(ticker.tick().await, at);
    /// });
    /// ```
    pub fn reset_at(&mut self, deadline: impl Into<Instant>) {
        self.sleep.reset_to(deadline.into().into_std());
    }

    /// What the interval does when it falls behind (see [`MissedTickBehavior`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::time::{interval, Duration, MissedTickBehavior};
    ///
    /// let ticker = interval(Duration::from_secs(1));
    /// assert_eq!(ticker.missed_tick_behavior(), MissedTickBehavior::Skip);
    /// ```
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed_tick_behavior
    }

    /// Chooses what the interval does when it falls behind; it applies from the next tick
    /// taken.
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::time::{interval, Duration, MissedTickBehavior};
    ///
    /// let mut ticker = interval(Duration::from_secs(1));
    /// ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    /// assert_eq!(ticker.missed_tick_behavior(), MissedTickBehavior::Delay);
    /// ```
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed_tick_behavior = behavior;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERIOD: Duration = Duration::from_millis(10);

    /// The ticks an interval returns, from a first tick due at `start + 10 ms` taken at
    /// `start + 35 ms`, with every later tick taken as soon as it is due.
    fn ticks_after_a_stall(behavior: MissedTickBehavior) -> Vec<(u64, u64)> {
        let start = StdInstant::now();
        let ms = |instant: StdInstant| instant.duration_since(start).as_millis() as u64;
        let mut tick = start + PERIOD;
        let mut now = start + Duration::from_millis(35);
        let mut taken = Vec::new();
        for _ in 0..5 {
            now = now.max(tick);
            taken.push((ms(tick), ms(now)));
            tick = behavior.next_tick(tick, now, PERIOD);
        }
        taken
    }

    #[test]
    fn each_behaviour_schedules_the_ticks_after_a_stall_as_documented() {
        use MissedTickBehavior::*;
        assert_eq!(ticks_after_a_stall(Skip), [(10, 35), (40, 40), (50, 50), (60, 60), (70, 70)]);
        assert_eq!(ticks_after_a_stall(Burst), [(10, 35), (20, 35), (30, 35), (40, 40), (50, 50)]);
        assert_eq!(ticks_after_a_stall(Delay), [(10, 35), (45, 45), (55, 55), (65, 65), (75, 75)]);
    }

    #[test]
    fn a_tick_taken_late_but_before_the_next_is_due_keeps_the_grid() {
        let start = StdInstant::now();
        for behavior in [MissedTickBehavior::Skip, MissedTickBehavior::Burst, MissedTickBehavior::Delay] {
            let next = behavior.next_tick(start, start + Duration::from_millis(5), PERIOD);
            assert_eq!(next, start + PERIOD, "{behavior:?}");
        }
    }
}
