//! [`WaitGroup`]: wait for a collection of goroutines to finish (Go's `sync.WaitGroup`).
//!
//! # Design
//!
//! The counter is an `AtomicI64`; the waiters are a list of wakers under a mutex, with an
//! atomic count of them so that `add`/`done` can skip the lock.
//!
//! - **`add`/`done` fast path**: one `fetch_add`. Only the call that brings the counter to zero
//!   while goroutines wait takes the lock, and wakes them all.
//! - **`wait` fast path**: one load; a zero counter completes at once.
//! - **The race** between a last `done` and a new waiter is Dekker's: the waiter bumps
//!   `waiters` then reads `counter`; `done` changes `counter` then reads `waiters`. Both
//!   `SeqCst`, so at least one side sees the other: either the waiter sees zero and completes,
//!   or `done` sees the waiter and releases it.
//! - **Release** happens under the lock, only if the counter is still zero there (a new `add`
//!   may have raced in; the waiters then wait for the next zero). It bumps the list's
//!   `generation`, so a waiter that was registered before knows it was released even if the
//!   counter has gone up again since (Go's semantics: `Wait` returns once the counter it waited
//!   on reached zero).

use crate::loom::{Arc, AtomicI64, AtomicUsize, Mutex, Ordering::SeqCst};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::coop;
use crate::goroutine::{record_wait_reason, WaitReason};

/// Waits for a collection of goroutines to finish, as Go's `sync.WaitGroup`.
///
/// [`add`](Self::add) the number of goroutines to wait for, have each call
/// [`done`](Self::done) when it finishes, and [`wait`](Self::wait) until all have. Clones
/// share one counter, so each goroutine can take its own clone.
///
/// Unlike Go's, a `WaitGroup` may be reused at once and `add` may race with `wait`: a waiter
/// completes when it sees the counter at zero, or when the counter it was waiting on reached
/// zero.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use gmp::sync::WaitGroup;
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let wg = WaitGroup::new();
///     let finished = Arc::new(AtomicUsize::new(0));
///     for _ in 0..10 {
///         wg.add(1);
///         let (wg, finished) = (wg.clone(), finished.clone());
///         gmp::spawn(async move {
///             finished.fetch_add(1, Ordering::SeqCst);
///             wg.done();
///         });
///     }
///     wg.wait().await;
///     assert_eq!(finished.load(Ordering::SeqCst), 10);
/// });
/// ```
#[derive(Clone, Default)]
pub struct WaitGroup {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    counter: AtomicI64,
    /// Waiters in `list` (mirrors `list.registered` for the lock-free `add`).
    waiters: AtomicUsize,
    list: Mutex<WaiterList>,
}

#[derive(Default)]
struct WaiterList {
    /// Bumped by each release; a waiter registered in an older generation was released.
    generation: u64,
    wakers: Vec<Option<Waker>>,
    free: Vec<usize>,
    registered: usize,
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroup")
            .field("counter", &self.inner.counter.load(SeqCst))
            .field("waiters", &self.inner.waiters.load(SeqCst))
            .finish()
    }
}

impl WaitGroup {
    /// A wait group with a counter of zero.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     gmp::sync::WaitGroup::new().wait().await; // zero: returns at once
    /// });
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `delta`, which may be negative, to the counter. When the counter reaches zero,
    /// every goroutine blocked in [`wait`](Self::wait) is released.
    ///
    /// As in Go, call `add` with a positive delta before starting the goroutine (or other
    /// event) to wait for, not from inside it.
    ///
    /// # Panics
    ///
    /// If the counter goes negative: `sync: negative WaitGroup counter` (Go's message). The
    /// counter is left unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = gmp::sync::WaitGroup::new();
    /// wg.add(3);
    /// wg.add(-2);
    /// assert_eq!(wg.count(), 1);
    /// wg.done();
    /// assert_eq!(wg.count(), 0);
    /// ```
    #[track_caller]
    pub fn add(&self, delta: isize) {
        let delta = delta as i64;
        let counter = self.inner.counter.fetch_add(delta, SeqCst) + delta;
        if counter < 0 {
            // Undo, so the group stays usable; an add racing with us may have seen the
            // negative value and skipped the release, so ours may be the one to reach zero.
            if self.inner.counter.fetch_sub(delta, SeqCst) - delta == 0 && self.inner.waiters.load(SeqCst) != 0 {
                self.inner.release();
            }
            panic!("sync: negative WaitGroup counter");
        }
        if counter == 0 && delta != 0 && self.inner.waiters.load(SeqCst) != 0 {
            self.inner.release();
        }
    }

    /// Decrements the counter by one: `add(-1)`.
    ///
    /// # Panics
    ///
    /// If the counter goes negative: `sync: negative WaitGroup counter`.
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = gmp::sync::WaitGroup::new();
    /// wg.add(1);
    /// wg.done();
    /// assert_eq!(wg.count(), 0);
    /// ```
    #[track_caller]
    pub fn done(&self) {
        self.add(-1);
    }

    /// The current counter (a snapshot).
    ///
    /// # Examples
    ///
    /// ```
    /// let wg = gmp::sync::WaitGroup::new();
    /// wg.add(2);
    /// assert_eq!(wg.count(), 2);
    /// ```
    pub fn count(&self) -> usize {
        self.inner.counter.load(SeqCst).max(0) as usize
    }

    /// Waits until the counter is zero. Completes at once (after spending one unit of the coop
    /// budget) if it already is. A goroutine parked here shows the wait reason
    /// "sync.WaitGroup.Wait" in `gmp::runtime::dump()`.
    ///
    /// Dropping the future before it completes unregisters it.
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::sync::WaitGroup;
    /// use gmp::time::{sleep, Duration};
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let wg = WaitGroup::new();
    ///     wg.add(1);
    ///     let worker = wg.clone();
    ///     gmp::spawn(async move {
    ///         sleep(Duration::from_millis(5)).await;
    ///         worker.done();
    ///     });
    ///     wg.wait().await;
    ///     assert_eq!(wg.count(), 0);
    /// });
    /// ```
    pub fn wait(&self) -> Wait<'_> {
        Wait { group: &self.inner, registration: None }
    }
}

impl Inner {
    /// The counter reached zero with waiters registered: release them, if it still is zero.
    #[cold]
    fn release(&self) {
        let mut list = crate::loom::lock(&self.list);
        if self.counter.load(SeqCst) != 0 || list.registered == 0 {
            return; // an add raced in (the next zero releases them), or they left
        }
        list.generation += 1;
        list.registered = 0;
        list.free.clear();
        let wakers = std::mem::take(&mut list.wakers);
        self.waiters.store(0, SeqCst);
        drop(list);
        for waker in wakers.into_iter().flatten() {
            waker.wake();
        }
    }
}

/// The future of [`WaitGroup::wait`].
///
/// # Examples
///
/// ```
/// use gmp::sync::{Wait, WaitGroup};
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let wg = WaitGroup::new();
///     let wait: Wait<'_> = wg.wait();
///     wait.await;
/// });
/// ```
#[must_use = "futures do nothing unless you `.await` them"]
pub struct Wait<'a> {
    group: &'a Inner,
    /// `(generation, index)` in the waiter list, once registered.
    registration: Option<(u64, usize)>,
}

impl fmt::Debug for Wait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait").field("registered", &self.registration.is_some()).finish()
    }
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if !this.poll_released(cx) {
            record_wait_reason(WaitReason::WaitGroupWait);
            return Poll::Pending;
        }
        if coop::poll_proceed(cx).is_pending() {
            return Poll::Pending; // released; the next poll completes
        }
        this.unregister();
        Poll::Ready(())
    }
}

impl Wait<'_> {
    /// True if the counter is zero or this waiter was released; otherwise registers (or
    /// refreshes) `cx`'s waker and returns false.
    fn poll_released(&mut self, cx: &mut Context<'_>) -> bool {
        let group = self.group;
        if self.registration.is_none() && group.counter.load(SeqCst) == 0 {
            return true;
        }
        let mut list = crate::loom::lock(&group.list);
        match self.registration {
            Some((generation, _)) if generation != list.generation => return true,
            Some((_, index)) => {
                let slot = &mut list.wakers[index];
                if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *slot = Some(cx.waker().clone());
                }
            }
            None => {
                let index = match list.free.pop() {
                    Some(index) => {
                        list.wakers[index] = Some(cx.waker().clone());
                        index
                    }
                    None => {
                        list.wakers.push(Some(cx.waker().clone()));
                        list.wakers.len() - 1
                    }
                };
                list.registered += 1;
                group.waiters.fetch_add(1, SeqCst);
                self.registration = Some((list.generation, index));
            }
        }
        // Pairs with `add`: it changes the counter, then looks for waiters.
        group.counter.load(SeqCst) == 0
    }

    /// Leaves the waiter list, if still on it.
    fn unregister(&mut self) {
        let Some((generation, index)) = self.registration.take() else {
            return;
        };
        let mut list = crate::loom::lock(&self.group.list);
        if list.generation != generation {
            return; // released: the list was emptied
        }
        let waker = list.wakers[index].take();
        list.free.push(index);
        list.registered -= 1;
        self.group.waiters.fetch_sub(1, SeqCst);
        drop(list);
        drop(waker);
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        self.unregister();
    }
}
