//! [`OnceCell`]: a value initialised once, by the first goroutine to ask, while the others wait
//! (Go's `sync.Once` holding its result).
//!
//! # Design
//!
//! An `UnsafeCell<MaybeUninit<T>>`, an `initialized` flag and a one-permit [`Semaphore`].
//! Reading is one `Acquire` load of the flag. To initialise, a goroutine takes the permit, looks
//! at the flag again, runs the initialiser, writes the value, sets the flag (`Release`) and then
//! **closes** the semaphore, which wakes every goroutine queued for the permit; they see the
//! flag and read the value. If the initialiser fails or its future is dropped, the permit goes
//! back and the next waiter in line tries. The value is written once, before the flag, and
//! never again while shared, so readers need no lock. Goroutines waiting here show
//! `sync.Mutex.Lock` (Go's `Once` waits on its mutex).

use std::fmt;
use std::future::Future;
use std::mem::MaybeUninit;

use crate::goroutine::WaitReason;
use crate::loom::{AtomicBool, Ordering, UnsafeCell};
use crate::sync::semaphore::{Semaphore, TryAcquireError};

/// A cell written once: [`get_or_init`](Self::get_or_init) runs an async initialiser in the
/// first goroutine that asks and makes the others wait for its result.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use gmp::sync::OnceCell;
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let cell = Arc::new(OnceCell::new());
///     let runs = Arc::new(AtomicUsize::new(0));
///     let mut handles = Vec::new();
///     for _ in 0..4 {
///         let (cell, runs) = (cell.clone(), runs.clone());
///         handles.push(gmp::spawn(async move {
///             *cell.get_or_init(|| async {
///                 runs.fetch_add(1, Ordering::SeqCst);
///                 gmp::yield_now().await;
///                 42
///             })
///             .await
///         }));
///     }
///     for handle in handles {
///         assert_eq!(handle.await.unwrap(), 42);
///     }
///     assert_eq!(runs.load(Ordering::SeqCst), 1);
/// });
/// ```
pub struct OnceCell<T> {
    value: UnsafeCell<MaybeUninit<T>>,
    initialized: AtomicBool,
    /// One permit: the right to initialise. Closed once the value is set.
    semaphore: Semaphore,
}

// SAFETY: the value is written once by the goroutine holding the permit, before `initialized`
// is published, and then only shared (`T: Sync`); it may be set from one thread and dropped or
// taken on another (`T: Send`).
unsafe impl<T: Send + Sync> Sync for OnceCell<T> {}
// SAFETY: moving the cell moves the `T`.
unsafe impl<T: Send> Send for OnceCell<T> {}

/// Why [`OnceCell::set`] did not store the value; it comes back.
///
/// # Examples
///
/// ```
/// use gmp::sync::{OnceCell, SetError};
///
/// let cell = OnceCell::new();
/// cell.set(1).unwrap();
/// assert_eq!(cell.set(2), Err(SetError::AlreadyInitialized(2)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetError<T> {
    /// The cell already holds a value.
    AlreadyInitialized(T),
    /// Another goroutine is initialising the cell right now.
    Initializing(T),
}

impl<T> fmt::Display for SetError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlreadyInitialized(_) => f.write_str("the cell is already initialized"),
            Self::Initializing(_) => f.write_str("the cell is being initialized"),
        }
    }
}

impl<T: fmt::Debug> std::error::Error for SetError<T> {}

impl<T> Default for OnceCell<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> OnceCell<T> {
    /// An empty cell.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(gmp::sync::OnceCell::<u8>::new().get().is_none());
    /// ```
    pub fn new() -> Self {
        Self {
            value: UnsafeCell::new(MaybeUninit::uninit()),
            initialized: AtomicBool::new(false),
            semaphore: Semaphore::new(1),
        }
    }

    /// A cell holding `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(gmp::sync::OnceCell::new_with(3).get(), Some(&3));
    /// ```
    pub fn new_with(value: T) -> Self {
        let cell = Self::new();
        cell.write(value);
        cell
    }

    /// The value, if the cell is initialised.
    ///
    /// # Examples
    ///
    /// ```
    /// let cell = gmp::sync::OnceCell::new();
    /// assert_eq!(cell.get(), None);
    /// cell.set("x").unwrap();
    /// assert_eq!(cell.get(), Some(&"x"));
    /// ```
    pub fn get(&self) -> Option<&T> {
        if self.initialized.load(Ordering::Acquire) {
            // SAFETY: `initialized` is set (Release) only after the value was written, and the
            // value is never written again while the cell is shared.
            Some(self.value.with(|value| unsafe { (*value).assume_init_ref() }))
        } else {
            None
        }
    }

    /// The value through exclusive access, if initialised.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut cell = gmp::sync::OnceCell::new_with(1);
    /// *cell.get_mut().unwrap() += 1;
    /// assert_eq!(cell.get(), Some(&2));
    /// ```
    pub fn get_mut(&mut self) -> Option<&mut T> {
        if self.initialized.load(Ordering::Acquire) {
            // SAFETY: initialised (see `get`), and `&mut self` excludes every other access.
            Some(self.value.with_mut(|value| unsafe { (*value).assume_init_mut() }))
        } else {
            None
        }
    }

    /// True if the cell holds a value.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(gmp::sync::OnceCell::new_with(()).initialized());
    /// ```
    pub fn initialized(&self) -> bool {
        self.initialized.load(Ordering::Acquire)
    }

    /// Stores `value` if the cell is empty and nobody is initialising it.
    ///
    /// # Errors
    ///
    /// [`SetError`] with the value, if the cell is initialised or being initialised.
    ///
    /// # Examples
    ///
    /// ```
    /// let cell = gmp::sync::OnceCell::new();
    /// assert!(cell.set(1).is_ok());
    /// assert!(cell.set(2).is_err());
    /// assert_eq!(cell.get(), Some(&1));
    /// ```
    pub fn set(&self, value: T) -> Result<(), SetError<T>> {
        match self.semaphore.try_take(1) {
            Ok(()) => {
                // We hold the permit, so the cell cannot have been set: setting closes the
                // semaphore, and a closed semaphore grants no permit.
                self.write(value);
                self.semaphore.close();
                Ok(())
            }
            Err(TryAcquireError::Closed) => Err(SetError::AlreadyInitialized(value)),
            Err(TryAcquireError::NoPermits) if self.initialized() => Err(SetError::AlreadyInitialized(value)),
            Err(TryAcquireError::NoPermits) => Err(SetError::Initializing(value)),
        }
    }

    /// The value, initialising it with `init` if the cell is empty. If several goroutines ask
    /// at once, one runs `init` and the others wait for it; if that goroutine's future is
    /// dropped before `init` finishes, the next waiter runs its own `init`.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let cell = gmp::sync::OnceCell::new();
    ///     assert_eq!(*cell.get_or_init(|| async { 1 }).await, 1);
    ///     assert_eq!(*cell.get_or_init(|| async { 2 }).await, 1); // already set
    /// });
    /// ```
    pub async fn get_or_init<F, Fut>(&self, init: F) -> &T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        match self.get_or_try_init(|| async { Ok::<T, std::convert::Infallible>(init().await) }).await {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// [`get_or_init`](Self::get_or_init) with an initialiser that may fail: an error is
    /// returned to this caller and leaves the cell empty for the next one to try.
    ///
    /// # Errors
    ///
    /// The initialiser's error.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let cell = gmp::sync::OnceCell::new();
    ///     assert_eq!(cell.get_or_try_init(|| async { Err("nope") }).await, Err("nope"));
    ///     assert_eq!(cell.get_or_try_init(|| async { Ok::<_, &str>(7) }).await, Ok(&7));
    /// });
    /// ```
    pub async fn get_or_try_init<E, F, Fut>(&self, init: F) -> Result<&T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some(value) = self.get() {
            return Ok(value);
        }
        let permit = match self.semaphore.acquire_with_reason(1, WaitReason::MutexLock).await {
            Ok(permit) => permit,
            // Closed: initialised by another goroutine while we waited.
            Err(_) => return Ok(self.get().expect("a OnceCell's semaphore closes only once it is set")),
        };
        if let Some(value) = self.get() {
            return Ok(value);
        }
        let value = init().await?; // on error (or if dropped here) the permit goes back
        self.write(value);
        permit.forget();
        self.semaphore.close();
        Ok(self.get().expect("just initialised"))
    }

    /// Takes the value out, leaving the cell empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut cell = gmp::sync::OnceCell::new_with(5);
    /// assert_eq!(cell.take(), Some(5));
    /// assert!(cell.get().is_none());
    /// ```
    pub fn take(&mut self) -> Option<T> {
        std::mem::take(self).into_inner()
    }

    /// The value, taking the cell apart.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(gmp::sync::OnceCell::new_with("v").into_inner(), Some("v"));
    /// ```
    pub fn into_inner(self) -> Option<T> {
        if !self.initialized.load(Ordering::Acquire) {
            return None;
        }
        self.initialized.store(false, Ordering::Relaxed);
        // SAFETY: initialised, and `initialized` is now false, so `Drop` will not drop it too.
        Some(self.value.with_mut(|value| unsafe { (*value).assume_init_read() }))
    }

    /// Writes the value and publishes it. Only the holder of the permit (or a fresh cell) calls
    /// this, once.
    fn write(&self, value: T) {
        // SAFETY: the caller holds the only permit (or the cell is not shared yet) and the cell
        // is empty, so nobody reads or writes the value meanwhile.
        self.value.with_mut(|slot| unsafe { (*slot).write(value) });
        self.initialized.store(true, Ordering::Release);
    }
}

impl<T> Drop for OnceCell<T> {
    fn drop(&mut self) {
        if self.initialized.load(Ordering::Acquire) {
            // SAFETY: initialised and about to go away; nobody else can reach it.
            self.value.with_mut(|value| unsafe { (*value).assume_init_drop() });
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnceCell").field("value", &self.get()).finish()
    }
}

impl<T: Clone> Clone for OnceCell<T> {
    fn clone(&self) -> Self {
        match self.get() {
            Some(value) => Self::new_with(value.clone()),
            None => Self::new(),
        }
    }
}
