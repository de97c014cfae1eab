//! [`Timeout`]: a future with a deadline.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::sleep::{deadline_after, Sleep};
use super::Instant;
use crate::coop;

/// Runs `future` for at most `duration`: `Ok(output)` if it completes first, else
/// `Err(Elapsed)` and the future is dropped (cancelled) with the `Timeout`.
///
/// The inner future is polled first, so a future that is ready in time wins even if the
/// deadline has passed when the `Timeout` is polled. A future that uses up the coop budget on
/// every poll still times out: the deadline is checked without spending budget then.
///
/// # Panics
///
/// The returned future panics when first polled outside a gmp runtime, unless `future` is
/// ready at once.
///
/// # Examples
///
/// ```
/// use gmp::time::{sleep, timeout, Duration};
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     assert_eq!(timeout(Duration::from_secs(5), async { 7 }).await, Ok(7));
///     let slow = sleep(Duration::from_secs(3600));
///     assert!(timeout(Duration::from_millis(10), slow).await.is_err());
/// });
/// ```
#[cfg_attr(feature = "tracing", track_caller)]
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout { future, sleep: Sleep::new(deadline_after(duration)) }
}

/// Runs `future` until `deadline`: as [`timeout`], with an instant instead of a duration
/// (a [`gmp::time::Instant`](Instant) or a `std::time::Instant`, as in
/// [`sleep_until`](super::sleep_until)).
///
/// # Examples
///
/// ```
/// use gmp::time::{timeout_at, Duration, Instant};
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let deadline = Instant::now() + Duration::from_millis(10);
///     let never = std::future::pending::<()>();
///     assert!(timeout_at(deadline, never).await.is_err());
///     assert!(Instant::now() >= deadline);
/// });
/// ```
#[cfg_attr(feature = "tracing", track_caller)]
pub fn timeout_at<F: Future>(deadline: impl Into<Instant>, future: F) -> Timeout<F> {
    Timeout { future, sleep: Sleep::new(deadline.into().into_std()) }
}

pin_project_lite::pin_project! {
    /// The future of [`timeout`] and [`timeout_at`]: `Result<F::Output, Elapsed>`.
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::time::{timeout, Duration, Timeout};
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let limited: Timeout<_> = timeout(Duration::from_secs(1), async { "fast" });
    ///     assert_eq!(limited.await.unwrap(), "fast");
    /// });
    /// ```
    #[derive(Debug)]
    #[must_use = "futures do nothing unless you `.await` them"]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        sleep: Sleep,
    }
}

impl<F> Timeout<F> {
    /// The deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::time::{timeout_at, Duration, Instant};
    ///
    /// let deadline = Instant::now() + Duration::from_secs(1);
    /// assert_eq!(timeout_at(deadline, async {}).deadline(), deadline);
    /// ```
    pub fn deadline(&self) -> Instant {
        self.sleep.deadline()
    }

    /// The inner future.
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::time::{timeout, Duration};
    ///
    /// let limited = timeout(Duration::from_secs(1), std::future::ready(3));
    /// let _inner: &std::future::Ready<i32> = limited.get_ref();
    /// ```
    pub fn get_ref(&self) -> &F {
        &self.future
    }

    /// The inner future, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::time::{timeout, Duration};
    ///
    /// let mut limited = timeout(Duration::from_secs(1), std::future::ready(3));
    /// let _inner: &mut std::future::Ready<i32> = limited.get_mut();
    /// ```
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.future
    }

    /// Takes the inner future back, dropping the deadline.
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::time::{timeout, Duration};
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let limited = timeout(Duration::from_millis(1), async { 5 });
    ///     assert_eq!(limited.into_inner().await, 5);
    /// });
    /// ```
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let budget_before = coop::remaining_budget();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        // If the inner future spent the last of the budget, the deadline must still be able
        // to fire, or a busy inner future would never time out (tokio does the same).
        let spent_by_future = budget_before.is_some_and(|b| b > 0) && coop::remaining_budget() == Some(0);
        let elapsed = if spent_by_future {
            coop::unconstrained(|| this.sleep.poll_sleep(cx, false))
        } else {
            this.sleep.poll_sleep(cx, false)
        };
        elapsed.map(|()| Err(Elapsed(())))
    }
}

/// The error of a [`Timeout`] whose deadline passed first.
///
/// Converts into an `io::Error` of kind `TimedOut`.
///
/// # Examples
///
/// ```
/// use gmp::time::{timeout, Duration};
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let err = timeout(Duration::ZERO, std::future::pending::<()>()).await.unwrap_err();
///     assert_eq!(err.to_string(), "deadline has elapsed");
///     let io: std::io::Error = err.into();
///     assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl Error for Elapsed {}

impl From<Elapsed> for io::Error {
    fn from(elapsed: Elapsed) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, elapsed)
    }
}
