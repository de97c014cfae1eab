//! [`Mutex`]: an async mutual-exclusion lock whose guard may be held across awaits (Go's
//! `sync.Mutex`).
//!
//! # Design
//!
//! A [`Semaphore`] with one permit guards an `UnsafeCell`. The permit is the lock: holding it
//! is the only way to reach the value, and the guard gives it back on drop — also while
//! unwinding, so a panic never poisons the mutex (as tokio's; unlike `std`'s).
//!
//! Under contention the semaphore's FIFO queue makes this Go's **starvation mode**, always:
//! the unlocker hands ownership straight to the first waiter (the permit is granted to it
//! under the semaphore's lock before it is woken), so a goroutine that arrives later cannot
//! barge in ahead of one that waits, and none waits forever. Go switches to this mode only
//! after a waiter has waited 1 ms, trading fairness for throughput before that; a queue of
//! async waiters costs no spinning thread, so gmp keeps the fair order throughout. A lock
//! future dropped after ownership was handed to it passes the lock on. A goroutine parked
//! here shows `sync.Mutex.Lock` in `gmp::runtime::dump()`.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::FusedFuture;

use crate::goroutine::WaitReason;
use crate::loom::UnsafeCell;
use crate::sync::semaphore::{AcquireOp, Semaphore, TryAcquireError};

/// An async mutex: [`lock`](Self::lock) waits for the lock and returns a guard that may be held
/// across `.await`s. Waiters get the lock in the order they asked for it. Poison-free: a panic
/// while the guard is held unlocks it.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use gmp::sync::Mutex;
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let counter = Arc::new(Mutex::new(0));
///     let mut handles = Vec::new();
///     for _ in 0..10 {
///         let counter = counter.clone();
///         handles.push(gmp::spawn(async move {
///             let mut guard = counter.lock().await;
///             let seen = *guard;
///             gmp::yield_now().await; // still holding the lock
///             *guard = seen + 1;
///         }));
///     }
///     for handle in handles {
///         handle.await.unwrap();
///     }
///     assert_eq!(*counter.lock().await, 10);
/// });
/// ```
pub struct Mutex<T> {
    semaphore: Semaphore,
    value: UnsafeCell<T>,
}

// SAFETY: the value is reached only through a guard, and one guard exists at a time (the
// semaphore's single permit), so sharing the mutex hands `T` from thread to thread but never
// shares it: `T: Send` suffices.
unsafe impl<T: Send> Sync for Mutex<T> {}
// SAFETY: moving the mutex moves the `T`.
unsafe impl<T: Send> Send for Mutex<T> {}

/// [`Mutex::try_lock`] found the mutex locked.
///
/// # Examples
///
/// ```
/// let mutex = gmp::sync::Mutex::new(());
/// let _guard = mutex.try_lock().unwrap();
/// assert_eq!(mutex.try_lock().unwrap_err(), gmp::sync::TryLockError);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TryLockError;

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the lock is held")
    }
}

impl std::error::Error for TryLockError {}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mutex = gmp::sync::Mutex::new(vec![1, 2]);
    /// assert_eq!(mutex.into_inner(), [1, 2]);
    /// ```
    pub fn new(value: T) -> Self {
        Self { semaphore: Semaphore::new(1), value: UnsafeCell::new(value) }
    }

    /// The value, taking the mutex apart.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(gmp::sync::Mutex::new(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T> Mutex<T> {
    /// Waits for the lock. A goroutine parked here shows `sync.Mutex.Lock` in the dump.
    ///
    /// Cancel-safe: dropping the future before it completes leaves the queue, or, if the lock
    /// had just been handed to it, passes the lock on.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let mutex = gmp::sync::Mutex::new(String::new());
    ///     mutex.lock().await.push_str("hello");
    ///     assert_eq!(*mutex.lock().await, "hello");
    /// });
    /// ```
    pub fn lock(&self) -> Lock<'_, T> {
        Lock { mutex: self, op: AcquireOp::new(1, WaitReason::MutexLock) }
    }

    /// Takes the lock if it is free and nobody waits for it.
    ///
    /// # Errors
    ///
    /// [`TryLockError`] if it is held (or others are queued for it).
    ///
    /// # Examples
    ///
    /// ```
    /// let mutex = gmp::sync::Mutex::new(1);
    /// *mutex.try_lock().unwrap() += 1;
    /// assert_eq!(*mutex.try_lock().unwrap(), 2);
    /// ```
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        match self.semaphore.try_take(1) {
            Ok(()) => Ok(MutexGuard { mutex: self, _not_send_unless: PhantomData }),
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => Err(TryLockError),
        }
    }

    /// The value, through exclusive access (no locking needed).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut mutex = gmp::sync::Mutex::new(1);
    /// *mutex.get_mut() = 2;
    /// assert_eq!(mutex.into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` means no guard exists.
        self.value.with_mut(|value| unsafe { &mut *value })
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(guard) => d.field("value", &&*guard),
            Err(_) => d.field("value", &format_args!("<locked>")),
        };
        d.field("waiters", &self.semaphore.queued()).finish()
    }
}

/// The future of [`Mutex::lock`].
///
/// # Examples
///
/// ```
/// gmp::Runtime::new().unwrap().block_on(async {
///     let mutex = gmp::sync::Mutex::new(0);
///     let lock: gmp::sync::Lock<'_, i32> = mutex.lock();
///     *lock.await += 1;
/// });
/// ```
#[must_use = "futures do nothing unless you `.await` them"]
pub struct Lock<'a, T> {
    mutex: &'a Mutex<T>,
    op: AcquireOp,
}

impl<'a, T> Future for Lock<'a, T> {
    type Output = MutexGuard<'a, T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<MutexGuard<'a, T>> {
        let this = self.get_mut();
        let mutex = this.mutex;
        match this.op.poll(&mutex.semaphore, cx) {
            Poll::Ready(Ok(())) => Poll::Ready(MutexGuard { mutex, _not_send_unless: PhantomData }),
            Poll::Ready(Err(_)) => unreachable!("a mutex's semaphore is never closed"),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> FusedFuture for Lock<'_, T> {
    fn is_terminated(&self) -> bool {
        self.op.is_done()
    }
}

impl<T> Drop for Lock<'_, T> {
    fn drop(&mut self) {
        self.op.cancel(&self.mutex.semaphore);
    }
}

impl<T> fmt::Debug for Lock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock").field("op", &self.op).finish()
    }
}

/// Exclusive access to a [`Mutex`]'s value; dropping it unlocks (handing the lock to the first
/// waiter, if any).
///
/// # Examples
///
/// ```
/// let mutex = gmp::sync::Mutex::new(5);
/// let guard: gmp::sync::MutexGuard<'_, i32> = mutex.try_lock().unwrap();
/// assert_eq!(*guard, 5);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T> {
    mutex: &'a Mutex<T>,
    /// `Send` iff `T: Send`, `Sync` iff `T: Send + Sync`, as `&mut T` would be.
    _not_send_unless: PhantomData<&'a mut T>,
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds the mutex's only permit, so nobody else reaches the value.
        self.mutex.value.with(|value| unsafe { &*value })
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only borrow through the guard.
        self.mutex.value.with_mut(|value| unsafe { &mut *value })
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.semaphore.release(1);
    }
}

impl<T: fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
