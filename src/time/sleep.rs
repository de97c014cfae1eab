//! [`Sleep`]: a future that completes at a deadline (Go's `time.Sleep`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant as StdInstant};

use super::timers::TimerKey;
use super::Instant;
use crate::console::TimerSpans;
use crate::context;
use crate::coop;
use crate::goroutine::{record_wait_reason, WaitReason};
use crate::runtime::shared::Shared;

/// Waits until `duration` has elapsed (Go's `time.Sleep`).
///
/// The goroutine parks without holding its M; the timer lives on the heap of the P it was
/// polled on. The sleep lasts at least `duration`: it never completes early. A zero duration
/// completes at the first poll (after spending one unit of the coop budget).
///
/// # Panics
///
/// The returned future panics when first polled outside a gmp runtime (even if the duration
/// is zero).
///
/// # Examples
///
/// ```
/// use gmp::time::{sleep, Duration, Instant};
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let start = Instant::now();
///     sleep(Duration::from_millis(10)).await;
///     assert!(start.elapsed() >= Duration::from_millis(10));
/// });
/// ```
#[cfg_attr(feature = "tracing", track_caller)]
pub fn sleep(duration: Duration) -> Sleep {
    Sleep::new(deadline_after(duration))
}

/// Waits until `deadline`. A deadline in the past completes at the first poll.
///
/// `deadline` is a [`gmp::time::Instant`](Instant) or a `std::time::Instant` (taken as a
/// point on the runtime's clock; the two differ only after [`pause`](super::pause)).
///
/// # Panics
///
/// The returned future panics when first polled outside a gmp runtime.
///
/// # Examples
///
/// ```
/// use gmp::time::{sleep_until, Duration, Instant};
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let deadline = Instant::now() + Duration::from_millis(5);
///     sleep_until(deadline).await;
///     assert!(Instant::now() >= deadline);
/// });
/// ```
#[cfg_attr(feature = "tracing", track_caller)]
pub fn sleep_until(deadline: impl Into<Instant>) -> Sleep {
    Sleep::new(deadline.into().into_std())
}

/// The future of [`sleep`] and [`sleep_until`].
///
/// It registers a timer on its first `Pending` poll and removes it when it completes or is
/// dropped, so dropping a `Sleep` early (a lost race in a select) releases its waker at once.
/// Polling it again with another waker replaces the registered waker without adding a timer,
/// and [`reset`](Self::reset) moves the timer, so one `Sleep` can serve a whole select loop.
/// `Sleep` is `Unpin`.
///
/// # Examples
///
/// ```
/// use gmp::time::{sleep, Duration};
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let mut sleep = sleep(Duration::from_secs(3600));
///     let deadline = sleep.deadline();
///     assert!(!sleep.is_elapsed());
///     sleep.reset(deadline - Duration::from_secs(3600));
///     (&mut sleep).await;
///     assert!(sleep.is_elapsed());
/// });
/// ```
#[must_use = "futures do nothing unless you `.await` them"]
pub struct Sleep {
    deadline: StdInstant,
    /// The runtime whose timers hold (or held) this sleep's timer; set at the first poll.
    runtime: Option<Arc<Shared>>,
    /// The pending timer, if registered.
    timer: Option<TimerKey>,
    /// The timer as tokio-console sees it (zero-sized without the `tracing` feature).
    console: TimerSpans,
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep").field("deadline", &self.deadline).field("registered", &self.timer.is_some()).finish()
    }
}

impl Sleep {
    #[cfg_attr(feature = "tracing", track_caller)]
    pub(crate) fn new(deadline: StdInstant) -> Self {
        let console = TimerSpans::new(|| deadline.saturating_duration_since(super::clock::now()));
        Self { deadline, runtime: None, timer: None, console }
    }

    /// Now, on the clock of the runtime this sleep registered with (before its first poll,
    /// of the calling thread's runtime).
    pub(crate) fn now(&self) -> StdInstant {
        match &self.runtime {
            Some(runtime) => runtime.timers.now(),
            None => super::clock::now(),
        }
    }

    pub(crate) fn std_deadline(&self) -> StdInstant {
        self.deadline
    }

    /// The instant at which this sleep completes.
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::time::{sleep_until, Duration, Instant};
    ///
    /// let deadline = Instant::now() + Duration::from_secs(1);
    /// assert_eq!(sleep_until(deadline).deadline(), deadline);
    /// ```
    pub fn deadline(&self) -> Instant {
        Instant::from_std(self.deadline)
    }

    /// True once the deadline has passed (whether or not the sleep was polled).
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::time::{sleep, Duration};
    ///
    /// assert!(sleep(Duration::ZERO).is_elapsed());
    /// assert!(!sleep(Duration::from_secs(60)).is_elapsed());
    /// ```
    pub fn is_elapsed(&self) -> bool {
        self.now() >= self.deadline
    }

    /// Moves the deadline to `deadline`, earlier or later, whether or not this sleep has
    /// completed (a completed sleep becomes pending again if `deadline` is in the future). A
    /// registered timer keeps its waker, so the goroutine is woken at the new deadline even if
    /// it does not poll the sleep again first.
    ///
    /// `Sleep` is `Unpin`, so this works on `&mut Sleep` and on a pinned sleep alike
    /// (`sleep.as_mut().reset(..)`). `deadline` may be a `std::time::Instant`, as in
    /// [`sleep_until`].
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::time::{sleep, Duration, Instant};
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let mut sleep = sleep(Duration::from_millis(1));
    ///     (&mut sleep).await;
    ///     let again = Instant::now() + Duration::from_millis(1);
    ///     sleep.reset(again);
    ///     (&mut sleep).await;
    ///     assert!(Instant::now() >= again);
    /// });
    /// ```
    pub fn reset(&mut self, deadline: impl Into<Instant>) {
        self.reset_to(deadline.into().into_std());
    }

    pub(crate) fn reset_to(&mut self, deadline: StdInstant) {
        self.deadline = deadline;
        self.console.reset(|| deadline.saturating_duration_since(self.now()));
        let (Some(runtime), Some(key)) = (&self.runtime, self.timer) else {
            return;
        };
        match runtime.timers.reset(key, deadline) {
            Some((key, earliest)) => {
                self.timer = Some(key);
                if earliest {
                    wake_for_earlier_deadline(runtime);
                }
            }
            // It fired: its goroutine was woken and registers anew when it polls.
            None => self.timer = None,
        }
    }

    /// Polls the sleep. `reason`: record `WaitReason::Sleep` when returning `Pending` (a
    /// `Timeout` keeps the reason its inner future recorded).
    pub(crate) fn poll_sleep(&mut self, cx: &mut Context<'_>, reason: bool) -> Poll<()> {
        // Moved out for the poll (a plain move; nothing at all without the feature).
        let console = std::mem::take(&mut self.console);
        let poll = console.poll(|| self.poll_deadline(cx, reason));
        self.console = console;
        poll
    }

    fn poll_deadline(&mut self, cx: &mut Context<'_>, reason: bool) -> Poll<()> {
        if self.runtime.is_none() {
            // First poll: read the clock through the thread's context, and take a reference to
            // the runtime only if a timer is needed (a shared count, so not for a sleep that is
            // already over).
            let now = context::with_current(|context| context.map(|c| c.shared.timers.now()));
            let now = now.unwrap_or_else(|| outside_runtime());
            if now >= self.deadline {
                return coop::poll_proceed(cx);
            }
        }
        let runtime = self.runtime.get_or_insert_with(current_runtime);
        loop {
            if runtime.timers.now() >= self.deadline {
                if coop::poll_proceed(cx).is_pending() {
                    return Poll::Pending;
                }
                if let Some(key) = self.timer.take() {
                    runtime.timers.cancel(key);
                }
                return Poll::Ready(());
            }
            match self.timer {
                Some(key) => {
                    if !runtime.timers.update_waker(key, cx.waker()) {
                        // It fired between our clock read and the lock: the deadline passed.
                        self.timer = None;
                        continue;
                    }
                }
                None => {
                    let queue = runtime.timers.queue_for(context::current_processor(runtime));
                    let (key, earliest) = runtime.timers.insert(queue, self.deadline, cx.waker().clone());
                    self.timer = Some(key);
                    if earliest {
                        wake_for_earlier_deadline(runtime);
                    }
                }
            }
            if reason {
                record_wait_reason(WaitReason::Sleep);
            }
            return Poll::Pending;
        }
    }

    fn cancel_timer(&mut self) {
        if let (Some(runtime), Some(key)) = (&self.runtime, self.timer.take()) {
            runtime.timers.cancel(key);
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().poll_sleep(cx, true)
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel_timer();
    }
}

/// `now + duration` on the calling thread's runtime clock, or a deadline about 30 years out
/// if that overflows (never reached).
pub(crate) fn deadline_after(duration: Duration) -> StdInstant {
    let now = super::clock::now();
    now.checked_add(duration).unwrap_or_else(|| far_future(now))
}

pub(crate) fn far_future(now: StdInstant) -> StdInstant {
    now + Duration::from_secs(86_400 * 365 * 30)
}

/// The runtime of the calling thread, for a timer's first registration.
fn current_runtime() -> Arc<Shared> {
    context::with_current(|context| context.map(|c| c.shared.clone())).unwrap_or_else(|| outside_runtime())
}

#[cold]
#[track_caller]
fn outside_runtime() -> ! {
    panic!(
        "gmp::time: a Sleep (from sleep, sleep_until, timeout or interval) was polled outside \
         a gmp runtime; timers need one. Await it inside Runtime::block_on, a goroutine \
         (gmp::spawn) or #[gmp::main]"
    )
}

/// A timer became the earliest of all: whoever sleeps until the previous earliest must
/// re-compute. Breaks the netpoller's wait (the M blocked there uses the nearest deadline
/// as its timeout) and wakes sysmon if it sleeps because every P is idle.
fn wake_for_earlier_deadline(runtime: &Shared) {
    runtime.netpoll.notify();
    runtime.sched.wake_sysmon();
}
