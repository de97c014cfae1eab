//! [`Instant`]: a point on the clock of the runtime that reads it, so that code under a paused
//! clock ([`pause`](super::pause)) sees virtual time.

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::time::Duration;

/// A measurement of a monotonic clock, as `std::time::Instant`, read from the clock of the gmp
/// runtime running the calling thread.
///
/// While that runtime's clock runs normally, `Instant::now()` is `std::time::Instant::now()`.
/// After [`pause`](super::pause) it is the runtime's virtual time: frozen, moved only by
/// [`advance`](super::advance) or by the runtime skipping idle time; after
/// [`resume`](super::resume) it runs again at real speed from where it stood. Outside any
/// gmp runtime it is always real time. It plays the part of tokio's `tokio::time::Instant`.
///
/// Convert with [`from_std`](Self::from_std) / [`into_std`](Self::into_std) or `From`; the
/// gmp functions that take a deadline accept a `std::time::Instant` too (it is taken as is,
/// so under a paused clock prefer this type).
///
/// # Examples
///
/// ```
/// use gmp::time::{sleep, Duration, Instant};
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let start = Instant::now();
///     sleep(Duration::from_millis(2)).await;
///     assert!(start.elapsed() >= Duration::from_millis(2));
///     let std_start: std::time::Instant = start.into_std();
///     assert_eq!(Instant::from_std(std_start), start);
/// });
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(std::time::Instant);

impl Instant {
    /// Now, on the calling thread's runtime clock (real time outside a runtime).
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::time::Instant;
    ///
    /// let earlier = Instant::now();
    /// assert!(Instant::now() >= earlier);
    /// ```
    pub fn now() -> Instant {
        Instant(super::clock::now())
    }

    /// The same point as a `std::time::Instant`.
    ///
    /// # Examples
    ///
    /// ```
    /// let std_now = std::time::Instant::now();
    /// assert_eq!(gmp::time::Instant::from_std(std_now).into_std(), std_now);
    /// ```
    pub fn from_std(std: std::time::Instant) -> Instant {
        Instant(std)
    }

    /// This instant as a `std::time::Instant` (under a paused or resumed clock, a point of
    /// virtual time, which real clocks do not reach at the same moment).
    ///
    /// # Examples
    ///
    /// ```
    /// let now = gmp::time::Instant::now();
    /// let _std: std::time::Instant = now.into_std();
    /// ```
    pub fn into_std(self) -> std::time::Instant {
        self.0
    }

    /// The time from `earlier` to `self`, zero if `earlier` is later.
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::time::{Duration, Instant};
    ///
    /// let a = Instant::now();
    /// let b = a + Duration::from_secs(2);
    /// assert_eq!(b.duration_since(a), Duration::from_secs(2));
    /// assert_eq!(a.duration_since(b), Duration::ZERO);
    /// ```
    pub fn duration_since(&self, earlier: Instant) -> Duration {
        self.0.saturating_duration_since(earlier.0)
    }

    /// The time from `earlier` to `self`, or `None` if `earlier` is later.
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::time::{Duration, Instant};
    ///
    /// let a = Instant::now();
    /// let b = a + Duration::from_secs(1);
    /// assert_eq!(b.checked_duration_since(a), Some(Duration::from_secs(1)));
    /// assert_eq!(a.checked_duration_since(b), None);
    /// ```
    pub fn checked_duration_since(&self, earlier: Instant) -> Option<Duration> {
        self.0.checked_duration_since(earlier.0)
    }

    /// The time from `earlier` to `self`, zero if `earlier` is later.
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::time::{Duration, Instant};
    ///
    /// let a = Instant::now();
    /// assert_eq!(a.saturating_duration_since(a + Duration::from_secs(1)), Duration::ZERO);
    /// ```
    pub fn saturating_duration_since(&self, earlier: Instant) -> Duration {
        self.0.saturating_duration_since(earlier.0)
    }

    /// The time since `self`, on the calling thread's runtime clock (zero if `self` is later).
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::time::{Duration, Instant};
    ///
    /// let start = Instant::now();
    /// assert!(start.elapsed() < Duration::from_secs(3600));
    /// ```
    pub fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(*self)
    }

    /// `self + duration`, or `None` if that is not representable.
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::time::{Duration, Instant};
    ///
    /// assert!(Instant::now().checked_add(Duration::from_secs(1)).is_some());
    /// assert!(Instant::now().checked_add(Duration::MAX).is_none());
    /// ```
    pub fn checked_add(&self, duration: Duration) -> Option<Instant> {
        self.0.checked_add(duration).map(Instant)
    }

    /// `self - duration`, or `None` if that is not representable.
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::time::{Duration, Instant};
    ///
    /// assert!(Instant::now().checked_sub(Duration::MAX).is_none());
    /// ```
    pub fn checked_sub(&self, duration: Duration) -> Option<Instant> {
        self.0.checked_sub(duration).map(Instant)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<std::time::Instant> for Instant {
    fn from(std: std::time::Instant) -> Instant {
        Instant(std)
    }
}

impl From<Instant> for std::time::Instant {
    fn from(instant: Instant) -> std::time::Instant {
        instant.0
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// # Panics
    ///
    /// If the result is not representable (as `std::time::Instant`'s `+`).
    fn add(self, duration: Duration) -> Instant {
        Instant(self.0 + duration)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, duration: Duration) {
        self.0 += duration;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;

    /// # Panics
    ///
    /// If the result is not representable (as `std::time::Instant`'s `-`).
    fn sub(self, duration: Duration) -> Instant {
        Instant(self.0 - duration)
    }
}

impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, duration: Duration) {
        self.0 -= duration;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;

    /// The time from `earlier` to `self`, zero if `earlier` is later.
    fn sub(self, earlier: Instant) -> Duration {
        self.duration_since(earlier)
    }
}
