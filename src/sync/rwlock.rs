//! [`RwLock`]: an async reader-writer lock, fair and write-preferring (Go's `sync.RWMutex`).
//!
//! # Design
//!
//! A [`Semaphore`] of [`MAX_READERS`] permits guards an `UnsafeCell`: a reader takes one
//! permit, a writer takes them all. The semaphore serves its queue in order and lets nobody
//! past a queued waiter, so once a writer waits, later readers queue behind it (write-
//! preferring, as Go's `RWMutex`: a waiting `Lock` blocks new `RLock`s) and a stream of readers
//! cannot starve it; when the writer unlocks, the readers queued behind it are all let in at
//! once, up to the next queued writer. Guards give their permits back on drop (also while
//! unwinding: poison-free). Goroutines parked here show `sync.RWMutex.RLock` or
//! `sync.RWMutex.Lock` in `gmp::runtime::dump()`.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::FusedFuture;

use crate::goroutine::WaitReason;
use crate::loom::UnsafeCell;
use crate::sync::mutex::TryLockError;
use crate::sync::semaphore::{AcquireOp, Semaphore};

/// How many readers may hold an [`RwLock`] at once.
pub const MAX_READERS: usize = 1 << 30;

/// An async reader-writer lock: many readers or one writer, guards held across `.await`s.
/// Fair: waiters are served in order, and a waiting writer holds back readers that come after
/// it. Poison-free.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use gmp::sync::RwLock;
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let config = Arc::new(RwLock::new(String::from("v1")));
///     let reader = {
///         let config = config.clone();
///         gmp::spawn(async move { config.read().await.len() })
///     };
///     *config.write().await = String::from("v2");
///     assert_eq!(reader.await.unwrap(), 2);
///     assert_eq!(*config.read().await, "v2");
/// });
/// ```
pub struct RwLock<T> {
    semaphore: Semaphore,
    value: UnsafeCell<T>,
}

// SAFETY: writers get exclusive access (`T: Send` moves it between threads), readers shared
// access from several threads at once (`T: Sync`).
unsafe impl<T: Send + Sync> Sync for RwLock<T> {}
// SAFETY: moving the lock moves the `T`.
unsafe impl<T: Send> Send for RwLock<T> {}

impl<T> RwLock<T> {
    /// An unlocked `RwLock` holding `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = gmp::sync::RwLock::new(1);
    /// assert_eq!(lock.into_inner(), 1);
    /// ```
    pub fn new(value: T) -> Self {
        Self { semaphore: Semaphore::new(MAX_READERS), value: UnsafeCell::new(value) }
    }

    /// The value, taking the lock apart.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(gmp::sync::RwLock::new("x").into_inner(), "x");
    /// ```
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }

    /// Waits for shared (read) access. A goroutine parked here shows `sync.RWMutex.RLock`.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let lock = gmp::sync::RwLock::new(5);
    ///     let (a, b) = (lock.read().await, lock.read().await); // readers share
    ///     assert_eq!(*a + *b, 10);
    /// });
    /// ```
    pub fn read(&self) -> Read<'_, T> {
        Read { lock: self, op: AcquireOp::new(1, WaitReason::RwMutexRLock) }
    }

    /// Waits for exclusive (write) access. A goroutine parked here shows `sync.RWMutex.Lock`.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let lock = gmp::sync::RwLock::new(vec![1]);
    ///     lock.write().await.push(2);
    ///     assert_eq!(*lock.read().await, [1, 2]);
    /// });
    /// ```
    pub fn write(&self) -> Write<'_, T> {
        Write { lock: self, op: AcquireOp::new(MAX_READERS, WaitReason::RwMutexLock) }
    }

    /// Takes read access if no writer holds or waits for the lock.
    ///
    /// # Errors
    ///
    /// [`TryLockError`] if a writer holds it or anyone is queued.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = gmp::sync::RwLock::new(1);
    /// let _read = lock.try_read().unwrap();
    /// assert!(lock.try_write().is_err());
    /// ```
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, TryLockError> {
        self.semaphore.try_take(1).map_err(|_| TryLockError)?;
        Ok(RwLockReadGuard { lock: self, _marker: PhantomData })
    }

    /// Takes write access if nobody holds or waits for the lock.
    ///
    /// # Errors
    ///
    /// [`TryLockError`] if anyone holds it or is queued.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = gmp::sync::RwLock::new(1);
    /// *lock.try_write().unwrap() = 2;
    /// assert_eq!(*lock.try_read().unwrap(), 2);
    /// ```
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, TryLockError> {
        self.semaphore.try_take(MAX_READERS).map_err(|_| TryLockError)?;
        Ok(RwLockWriteGuard { lock: self, _marker: PhantomData })
    }

    /// The value, through exclusive access (no locking needed).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut lock = gmp::sync::RwLock::new(0);
    /// *lock.get_mut() += 1;
    /// assert_eq!(lock.into_inner(), 1);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` means no guard exists.
        self.value.with_mut(|value| unsafe { &mut *value })
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Ok(guard) => d.field("value", &&*guard),
            Err(_) => d.field("value", &format_args!("<locked>")),
        };
        d.finish()
    }
}

macro_rules! lock_future {
    ($(#[$doc:meta])* $name:ident, $guard:ident) => {
        $(#[$doc])*
        #[must_use = "futures do nothing unless you `.await` them"]
        pub struct $name<'a, T> {
            lock: &'a RwLock<T>,
            op: AcquireOp,
        }

        impl<'a, T> Future for $name<'a, T> {
            type Output = $guard<'a, T>;

            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<$guard<'a, T>> {
                let this = self.get_mut();
                let lock = this.lock;
                match this.op.poll(&lock.semaphore, cx) {
                    Poll::Ready(Ok(())) => Poll::Ready($guard { lock, _marker: PhantomData }),
                    Poll::Ready(Err(_)) => unreachable!("an RwLock's semaphore is never closed"),
                    Poll::Pending => Poll::Pending,
                }
            }
        }

        impl<T> FusedFuture for $name<'_, T> {
            fn is_terminated(&self) -> bool {
                self.op.is_done()
            }
        }

        impl<T> Drop for $name<'_, T> {
            fn drop(&mut self) {
                self.op.cancel(&self.lock.semaphore);
            }
        }

        impl<T> fmt::Debug for $name<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).field("op", &self.op).finish()
            }
        }
    };
}

lock_future!(
    /// The future of [`RwLock::read`].
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let lock = gmp::sync::RwLock::new(1);
    ///     let read: gmp::sync::Read<'_, i32> = lock.read();
    ///     assert_eq!(*read.await, 1);
    /// });
    /// ```
    Read,
    RwLockReadGuard
);

lock_future!(
    /// The future of [`RwLock::write`].
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let lock = gmp::sync::RwLock::new(1);
    ///     let write: gmp::sync::Write<'_, i32> = lock.write();
    ///     *write.await = 2;
    /// });
    /// ```
    Write,
    RwLockWriteGuard
);

/// Shared access to an [`RwLock`]'s value; dropping it releases the read lock.
///
/// # Examples
///
/// ```
/// let lock = gmp::sync::RwLock::new(3);
/// let guard: gmp::sync::RwLockReadGuard<'_, i32> = lock.try_read().unwrap();
/// assert_eq!(*guard, 3);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T> {
    lock: &'a RwLock<T>,
    /// `Send`/`Sync` iff `T: Sync`, as `&T` would be.
    _marker: PhantomData<&'a T>,
}

impl<T> Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: a read permit excludes writers; readers only share `&T`.
        self.lock.value.with(|value| unsafe { &*value })
    }
}

impl<T> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.semaphore.release(1);
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to an [`RwLock`]'s value; dropping it releases the write lock.
///
/// # Examples
///
/// ```
/// let lock = gmp::sync::RwLock::new(3);
/// let mut guard: gmp::sync::RwLockWriteGuard<'_, i32> = lock.try_write().unwrap();
/// *guard = 4;
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T> {
    lock: &'a RwLock<T>,
    /// `Send` iff `T: Send`, `Sync` iff `T: Sync`, as `&mut T` would be.
    _marker: PhantomData<&'a mut T>,
}

impl<T> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the writer holds every permit: nobody else reaches the value.
        self.lock.value.with(|value| unsafe { &*value })
    }
}

impl<T> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only borrow through the guard.
        self.lock.value.with_mut(|value| unsafe { &mut *value })
    }
}

impl<T> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.semaphore.release(MAX_READERS);
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
