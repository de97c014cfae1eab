//! [`Semaphore`]: a counting semaphore with a FIFO queue of waiters (Go's `semacquire`), and
//! the core that [`Mutex`](super::Mutex), [`RwLock`](super::RwLock) and
//! [`OnceCell`](super::OnceCell) are built on.
//!
//! # Design
//!
//! One mutex guards the permit count, the `closed` flag and a [`WaiterQueue`] of goroutines
//! waiting for permits, each with the number it needs. Invariant (whenever the lock is free):
//! if a waiter is queued, the first one needs more permits than are available — so an
//! acquire takes permits at once only when nobody is queued (no barging: strict FIFO, which
//! is Go's starvation mode for mutexes made the only mode).
//!
//! **Hand-off.** Releasing permits grants them, under the lock, to the waiters at the head of
//! the queue whose needs they cover, in order, and wakes them after the lock is released. A
//! granted waiter owns its permits from that moment: nobody can take them in between, and no
//! wake-up is lost, because the grant and the "am I granted?" check happen under one lock.
//!
//! **Cancellation.** Only the waiter frees its slot. A future dropped after being granted
//! gives its permits back (granting them onwards); one dropped while queued leaves the queue,
//! and if it was first, the next waiters may now be served. **Close** wakes every waiter with
//! an error; acquires fail from then on, while permits already held stay valid.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::FusedFuture;

use crate::coop;
use crate::goroutine::{record_wait_reason, WaitReason};
use crate::loom::{Mutex, MutexGuard};
use crate::sync::waiter_queue::{WaiterQueue, WakeList};

/// A counting semaphore for goroutines: [`acquire`](Self::acquire) waits for a permit,
/// dropping the [`SemaphorePermit`] gives it back. Waiters are served first come, first served;
/// a goroutine parked here shows `semacquire` in `gmp::runtime::dump()`.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use gmp::sync::Semaphore;
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let limit = Arc::new(Semaphore::new(2)); // at most two at a time
///     let inside = Arc::new(AtomicUsize::new(0));
///     let mut handles = Vec::new();
///     for _ in 0..8 {
///         let (limit, inside) = (limit.clone(), inside.clone());
///         handles.push(gmp::spawn(async move {
///             let _permit = limit.acquire().await.unwrap();
///             assert!(inside.fetch_add(1, Ordering::SeqCst) < 2);
///             gmp::yield_now().await;
///             inside.fetch_sub(1, Ordering::SeqCst);
///         }));
///     }
///     for handle in handles {
///         handle.await.unwrap();
///     }
/// });
/// ```
pub struct Semaphore {
    state: Mutex<State>,
}

struct State {
    permits: usize,
    closed: bool,
    waiters: WaiterQueue<Waiter>,
}

/// A queued acquire: how many permits it needs, and whether they were granted (a waiter woken
/// without a grant was woken by `close`).
#[derive(Debug)]
struct Waiter {
    needed: usize,
    granted: bool,
}

/// [`Semaphore::acquire`] failed: the semaphore is closed.
///
/// # Examples
///
/// ```
/// gmp::Runtime::new().unwrap().block_on(async {
///     let semaphore = gmp::sync::Semaphore::new(0);
///     semaphore.close();
///     assert_eq!(semaphore.acquire().await.unwrap_err(), gmp::sync::AcquireError);
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcquireError;

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the semaphore is closed")
    }
}

impl std::error::Error for AcquireError {}

/// Why [`Semaphore::try_acquire`] got no permit.
///
/// # Examples
///
/// ```
/// use gmp::sync::{Semaphore, TryAcquireError};
///
/// let semaphore = Semaphore::new(0);
/// assert_eq!(semaphore.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
/// semaphore.close();
/// assert_eq!(semaphore.try_acquire().unwrap_err(), TryAcquireError::Closed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryAcquireError {
    /// Not enough permits available (or other goroutines are queued first).
    NoPermits,
    /// The semaphore is closed.
    Closed,
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoPermits => f.write_str("no permits available"),
            Self::Closed => f.write_str("the semaphore is closed"),
        }
    }
}

impl std::error::Error for TryAcquireError {}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Semaphore")
            .field("permits", &state.permits)
            .field("closed", &state.closed)
            .field("waiters", &state.waiters.len())
            .finish()
    }
}

impl Semaphore {
    /// The most permits a semaphore can hold.
    pub const MAX_PERMITS: usize = usize::MAX >> 3;

    /// A semaphore with `permits` permits.
    ///
    /// # Panics
    ///
    /// If `permits` exceeds [`MAX_PERMITS`](Self::MAX_PERMITS).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(gmp::sync::Semaphore::new(3).available_permits(), 3);
    /// ```
    #[track_caller]
    pub fn new(permits: usize) -> Self {
        assert!(permits <= Self::MAX_PERMITS, "Semaphore::new: {permits} permits exceed Semaphore::MAX_PERMITS");
        Self { state: Mutex::new(State { permits, closed: false, waiters: WaiterQueue::new() }) }
    }

    #[inline]
    fn lock(&self) -> MutexGuard<'_, State> {
        crate::loom::lock(&self.state)
    }

    /// Permits available right now (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// let semaphore = gmp::sync::Semaphore::new(2);
    /// let _permit = semaphore.try_acquire().unwrap();
    /// assert_eq!(semaphore.available_permits(), 1);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.lock().permits
    }

    /// Waits for one permit.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is closed, or closes while waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let semaphore = gmp::sync::Semaphore::new(1);
    ///     let permit = semaphore.acquire().await.unwrap();
    ///     assert_eq!(semaphore.available_permits(), 0);
    ///     drop(permit);
    ///     assert_eq!(semaphore.available_permits(), 1);
    /// });
    /// ```
    pub fn acquire(&self) -> Acquire<'_> {
        self.acquire_many(1)
    }

    /// Waits for `n` permits at once. Waiters are served in order, so a large request is not
    /// starved by small ones (and holds up the smaller requests behind it).
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is closed, or closes while waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let semaphore = gmp::sync::Semaphore::new(5);
    ///     let permits = semaphore.acquire_many(3).await.unwrap();
    ///     assert_eq!(permits.num_permits(), 3);
    ///     assert_eq!(semaphore.available_permits(), 2);
    /// });
    /// ```
    pub fn acquire_many(&self, n: usize) -> Acquire<'_> {
        Acquire { semaphore: self, op: AcquireOp::new(n, WaitReason::Semacquire) }
    }

    pub(crate) fn acquire_with_reason(&self, n: usize, reason: WaitReason) -> Acquire<'_> {
        Acquire { semaphore: self, op: AcquireOp::new(n, reason) }
    }

    /// Waits for one permit of a shared semaphore; the permit holds the `Arc`, so it may be
    /// moved into a spawned goroutine.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is closed, or closes while waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let semaphore = Arc::new(gmp::sync::Semaphore::new(1));
    ///     let permit = semaphore.clone().acquire_owned().await.unwrap();
    ///     gmp::spawn(async move { drop(permit) }).await.unwrap();
    ///     assert_eq!(semaphore.available_permits(), 1);
    /// });
    /// ```
    pub fn acquire_owned(self: std::sync::Arc<Self>) -> AcquireOwned {
        self.acquire_many_owned(1)
    }

    /// [`acquire_many`](Self::acquire_many) for a shared semaphore.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is closed, or closes while waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let semaphore = Arc::new(gmp::sync::Semaphore::new(4));
    ///     let permits = semaphore.clone().acquire_many_owned(4).await.unwrap();
    ///     assert_eq!(permits.num_permits(), 4);
    /// });
    /// ```
    pub fn acquire_many_owned(self: std::sync::Arc<Self>, n: usize) -> AcquireOwned {
        AcquireOwned { semaphore: self, op: AcquireOp::new(n, WaitReason::Semacquire) }
    }

    /// Takes one permit if one is available and nobody is queued.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::NoPermits`] or [`TryAcquireError::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// let semaphore = gmp::sync::Semaphore::new(1);
    /// let permit = semaphore.try_acquire().unwrap();
    /// assert!(semaphore.try_acquire().is_err());
    /// drop(permit);
    /// assert!(semaphore.try_acquire().is_ok());
    /// ```
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if they are available and nobody is queued.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::NoPermits`] or [`TryAcquireError::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// let semaphore = gmp::sync::Semaphore::new(3);
    /// assert!(semaphore.try_acquire_many(4).is_err());
    /// assert_eq!(semaphore.try_acquire_many(3).unwrap().num_permits(), 3);
    /// ```
    pub fn try_acquire_many(&self, n: usize) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_take(n)?;
        Ok(SemaphorePermit { semaphore: self, permits: n })
    }

    /// [`try_acquire`](Self::try_acquire) for a shared semaphore.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::NoPermits`] or [`TryAcquireError::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let semaphore = Arc::new(gmp::sync::Semaphore::new(1));
    /// let permit = semaphore.clone().try_acquire_owned().unwrap();
    /// assert_eq!(permit.num_permits(), 1);
    /// ```
    pub fn try_acquire_owned(self: std::sync::Arc<Self>) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_take(1)?;
        Ok(OwnedSemaphorePermit { semaphore: self, permits: 1 })
    }

    pub(crate) fn try_take(&self, n: usize) -> Result<(), TryAcquireError> {
        let mut state = self.lock();
        if state.closed {
            Err(TryAcquireError::Closed)
        } else if state.waiters.is_empty() && state.permits >= n {
            state.permits -= n;
            Ok(())
        } else {
            Err(TryAcquireError::NoPermits)
        }
    }

    /// Adds `n` permits, serving queued waiters first.
    ///
    /// # Panics
    ///
    /// If the total would exceed [`MAX_PERMITS`](Self::MAX_PERMITS).
    ///
    /// # Examples
    ///
    /// ```
    /// let semaphore = gmp::sync::Semaphore::new(0);
    /// semaphore.add_permits(2);
    /// assert_eq!(semaphore.available_permits(), 2);
    /// ```
    #[track_caller]
    pub fn add_permits(&self, n: usize) {
        self.release(n);
    }

    /// Gives back `n` permits and grants them to the waiters at the head of the queue.
    #[track_caller]
    pub(crate) fn release(&self, n: usize) {
        let mut state = self.lock();
        let total = state.permits.checked_add(n).filter(|&total| total <= Self::MAX_PERMITS);
        let Some(total) = total else {
            drop(state);
            panic!("Semaphore::add_permits: more than Semaphore::MAX_PERMITS permits");
        };
        state.permits = total;
        let wake = state.grant();
        drop(state);
        wake.wake_all();
    }

    /// Closes the semaphore: every queued acquire fails, and so does every later one. Permits
    /// already held stay valid (and may still be given back).
    ///
    /// # Examples
    ///
    /// ```
    /// let semaphore = gmp::sync::Semaphore::new(1);
    /// semaphore.close();
    /// assert!(semaphore.is_closed());
    /// assert!(semaphore.try_acquire().is_err());
    /// ```
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        let wakers = state.waiters.notify_all(|_| {});
        drop(state);
        wakers.into_iter().for_each(std::task::Waker::wake);
    }

    /// True once [`close`](Self::close) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!gmp::sync::Semaphore::new(1).is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Waiters queued (a snapshot).
    pub(crate) fn queued(&self) -> usize {
        self.lock().waiters.len()
    }
}

impl State {
    /// Grants permits to the head of the queue while they cover its needs (under the lock).
    fn grant(&mut self) -> WakeList {
        let mut wake = WakeList::default();
        while let Some(key) = self.waiters.front() {
            let needed = self.waiters.data(key).needed;
            if needed > self.permits {
                break;
            }
            self.permits -= needed;
            let (_, waker) = self.waiters.pop_front().expect("the front waiter is queued");
            self.waiters.data_mut(key).granted = true;
            wake.push(waker);
        }
        wake
    }
}

/// The state of one acquire, shared by the borrowed and the owned futures.
#[derive(Debug)]
pub(crate) struct AcquireOp {
    needed: usize,
    reason: WaitReason,
    key: Option<usize>,
    done: bool,
}

impl AcquireOp {
    pub(crate) fn new(needed: usize, reason: WaitReason) -> Self {
        Self { needed, reason, key: None, done: false }
    }

    pub(crate) fn poll(&mut self, semaphore: &Semaphore, cx: &mut Context<'_>) -> Poll<Result<(), AcquireError>> {
        if coop::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        let mut state = semaphore.lock();
        let result = match self.key {
            Some(key) if !state.waiters.is_notified(key) => {
                state.waiters.update_waker(key, cx.waker());
                drop(state);
                record_wait_reason(self.reason);
                return Poll::Pending;
            }
            Some(key) => {
                self.key = None;
                if state.waiters.remove(key).0.granted {
                    Ok(())
                } else {
                    Err(AcquireError) // woken by close
                }
            }
            None if state.closed => Err(AcquireError),
            None if state.waiters.is_empty() && state.permits >= self.needed => {
                state.permits -= self.needed;
                Ok(())
            }
            None => {
                self.key = Some(state.waiters.push(cx.waker(), Waiter { needed: self.needed, granted: false }));
                drop(state);
                record_wait_reason(self.reason);
                return Poll::Pending;
            }
        };
        self.done = true;
        Poll::Ready(result)
    }

    /// The acquire future is dropped before completing: leave the queue, or give back permits
    /// granted to it.
    pub(crate) fn cancel(&mut self, semaphore: &Semaphore) {
        let Some(key) = self.key.take() else { return };
        let mut state = semaphore.lock();
        let (waiter, _) = state.waiters.remove(key);
        if waiter.granted {
            state.permits += waiter.needed;
        }
        // Either way the head may have changed or permits grown: serve who can be served.
        let wake = state.grant();
        drop(state);
        wake.wake_all();
    }

    pub(crate) fn is_done(&self) -> bool {
        self.done
    }
}

/// The future of [`Semaphore::acquire`] and [`Semaphore::acquire_many`].
///
/// # Examples
///
/// ```
/// gmp::Runtime::new().unwrap().block_on(async {
///     let semaphore = gmp::sync::Semaphore::new(1);
///     let acquire: gmp::sync::Acquire<'_> = semaphore.acquire();
///     let _permit = acquire.await.unwrap();
/// });
/// ```
#[must_use = "futures do nothing unless you `.await` them"]
#[derive(Debug)]
pub struct Acquire<'a> {
    semaphore: &'a Semaphore,
    op: AcquireOp,
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<SemaphorePermit<'a>, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let semaphore = this.semaphore;
        this.op.poll(semaphore, cx).map_ok(|()| SemaphorePermit { semaphore, permits: this.op.needed })
    }
}

impl FusedFuture for Acquire<'_> {
    fn is_terminated(&self) -> bool {
        self.op.is_done()
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        self.op.cancel(self.semaphore);
    }
}

/// The future of [`Semaphore::acquire_owned`] and [`Semaphore::acquire_many_owned`].
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let semaphore = Arc::new(gmp::sync::Semaphore::new(1));
///     let acquire: gmp::sync::AcquireOwned = semaphore.acquire_owned();
///     let _permit = acquire.await.unwrap();
/// });
/// ```
#[must_use = "futures do nothing unless you `.await` them"]
#[derive(Debug)]
pub struct AcquireOwned {
    semaphore: std::sync::Arc<Semaphore>,
    op: AcquireOp,
}

impl Future for AcquireOwned {
    type Output = Result<OwnedSemaphorePermit, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let semaphore = &this.semaphore;
        this.op
            .poll(semaphore, cx)
            .map_ok(|()| OwnedSemaphorePermit { semaphore: semaphore.clone(), permits: this.op.needed })
    }
}

impl FusedFuture for AcquireOwned {
    fn is_terminated(&self) -> bool {
        self.op.is_done()
    }
}

impl Drop for AcquireOwned {
    fn drop(&mut self) {
        self.op.cancel(&self.semaphore);
    }
}

/// Permits borrowed from a [`Semaphore`]; dropping it gives them back.
///
/// # Examples
///
/// ```
/// let semaphore = gmp::sync::Semaphore::new(2);
/// let permit = semaphore.try_acquire_many(2).unwrap();
/// assert_eq!(permit.num_permits(), 2);
/// drop(permit);
/// assert_eq!(semaphore.available_permits(), 2);
/// ```
#[must_use = "the permits are given back as soon as this is dropped"]
#[derive(Debug)]
pub struct SemaphorePermit<'a> {
    semaphore: &'a Semaphore,
    permits: usize,
}

impl SemaphorePermit<'_> {
    /// How many permits this holds.
    ///
    /// # Examples
    ///
    /// ```
    /// let semaphore = gmp::sync::Semaphore::new(1);
    /// assert_eq!(semaphore.try_acquire().unwrap().num_permits(), 1);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// Keeps the permits out of the semaphore for good (it then has fewer).
    ///
    /// # Examples
    ///
    /// ```
    /// let semaphore = gmp::sync::Semaphore::new(1);
    /// semaphore.try_acquire().unwrap().forget();
    /// assert_eq!(semaphore.available_permits(), 0);
    /// ```
    pub fn forget(mut self) {
        self.permits = 0;
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if self.permits > 0 {
            self.semaphore.release(self.permits);
        }
    }
}

/// Permits of a shared [`Semaphore`], holding its `Arc`; dropping it gives them back.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
///
/// let semaphore = Arc::new(gmp::sync::Semaphore::new(1));
/// let permit: gmp::sync::OwnedSemaphorePermit = semaphore.clone().try_acquire_owned().unwrap();
/// drop(permit);
/// assert_eq!(semaphore.available_permits(), 1);
/// ```
#[must_use = "the permits are given back as soon as this is dropped"]
#[derive(Debug)]
pub struct OwnedSemaphorePermit {
    semaphore: std::sync::Arc<Semaphore>,
    permits: usize,
}

impl OwnedSemaphorePermit {
    /// How many permits this holds.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let semaphore = Arc::new(gmp::sync::Semaphore::new(1));
    /// assert_eq!(semaphore.try_acquire_owned().unwrap().num_permits(), 1);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// The semaphore these permits belong to.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let semaphore = Arc::new(gmp::sync::Semaphore::new(1));
    /// let permit = semaphore.clone().try_acquire_owned().unwrap();
    /// assert!(Arc::ptr_eq(permit.semaphore(), &semaphore));
    /// ```
    pub fn semaphore(&self) -> &std::sync::Arc<Semaphore> {
        &self.semaphore
    }

    /// Keeps the permits out of the semaphore for good.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let semaphore = Arc::new(gmp::sync::Semaphore::new(1));
    /// semaphore.clone().try_acquire_owned().unwrap().forget();
    /// assert_eq!(semaphore.available_permits(), 0);
    /// ```
    pub fn forget(mut self) {
        self.permits = 0;
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        if self.permits > 0 {
            self.semaphore.release(self.permits);
        }
    }
}
