//! The lock of one registry shard: a test-and-set lock whose release is a plain store.
//!
//! # Design
//!
//! Every goroutine takes its shard's lock once, to register (it leaves without it, `slots.rs`,
//! unless a reader is counted), and the critical section is a handful of stores (a slot
//! claimed and filled). Usually nobody contends: spawns on P `i` go to shard `i`. `std`'s
//! mutex releases with an RMW, because it must learn whether a waiter went to sleep; this lock
//! never puts a waiter to sleep (it spins briefly, then yields its thread until the holder is
//! done), so its release is a `Release` store: one RMW per spawn, not two. The rare long
//! holders (`dump`, the shutdown sweep over a large shard) make others yield meanwhile, which
//! is no longer than they would have slept.
//!
//! Invariant: `value` is touched only through a [`ShardGuard`], and at most one guard of a
//! lock exists at a time (the `Acquire` CAS that makes one pairs with the `Release` store of
//! the guard before it, so each holder sees everything the previous one wrote).

use crate::loom::{AtomicBool, Ordering, UnsafeCell};

/// A value behind a test-and-set lock (module docs).
pub struct ShardLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to `value` to one thread at a time (module invariant), so
// sharing the lock shares `T` only as a `Mutex` would: `T: Send` is enough.
unsafe impl<T: Send> Sync for ShardLock<T> {}
// SAFETY: the lock owns its `T`.
unsafe impl<T: Send> Send for ShardLock<T> {}

impl<T> std::fmt::Debug for ShardLock<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardLock").field("locked", &self.locked.load(Ordering::Relaxed)).finish_non_exhaustive()
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for ShardGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl<T: Default> Default for ShardLock<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> ShardLock<T> {
    /// An unlocked lock holding `value`.
    pub fn new(value: T) -> Self {
        Self { locked: AtomicBool::new(false), value: UnsafeCell::new(value) }
    }

    /// Takes the lock if nobody holds it, without waiting.
    #[inline]
    pub fn try_lock(&self) -> Option<ShardGuard<'_, T>> {
        let taken = self.locked.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok();
        // Lazily: a guard made and dropped on failure would release the holder's lock.
        taken.then(|| ShardGuard { lock: self })
    }

    /// Takes the lock, waiting (spinning, then yielding the thread) while another holds it.
    #[inline]
    pub fn lock(&self) -> ShardGuard<'_, T> {
        if self.locked.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            self.lock_contended();
        }
        ShardGuard { lock: self }
    }

    #[cold]
    #[cfg(not(loom))]
    fn lock_contended(&self) {
        let mut spins = 0u32;
        loop {
            // Wait with plain loads until it looks free, so waiters do not bounce the line:
            // a few spins, then the thread's turn goes to someone else (the holder, if it was
            // preempted).
            while self.locked.load(Ordering::Relaxed) {
                spins += 1;
                if spins < 64 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            if self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                return;
            }
        }
    }

    /// Under loom: a strong CAS and a yield each turn. (A plain load may read a stale `true`
    /// for as long as loom likes, which would make the model infinite; an RMW reads the
    /// latest value.)
    #[cold]
    #[cfg(loom)]
    fn lock_contended(&self) {
        while self.locked.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            loom::thread::yield_now();
        }
    }
}

/// Access to a [`ShardLock`]'s value; dropping it releases the lock.
pub struct ShardGuard<'a, T> {
    lock: &'a ShardLock<T>,
}

impl<T> std::ops::Deref for ShardGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: this guard is the only one of its lock (module invariant), so no `&mut`
        // to the value exists elsewhere while this borrow of the guard lives.
        self.lock.value.with(|value| unsafe { &*value })
    }
}

impl<T> std::ops::DerefMut for ShardGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this borrow the only one through the guard.
        self.lock.value.with_mut(|value| unsafe { &mut *value })
    }
}

impl<T> Drop for ShardGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn threads_that_take_turns_lose_no_update() {
        const THREADS: usize = 4;
        const ROUNDS: usize = 20_000;
        let lock = Arc::new(ShardLock::new(0usize));
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let lock = lock.clone();
                std::thread::spawn(move || {
                    for _ in 0..ROUNDS {
                        *lock.lock() += 1;
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(*lock.lock(), THREADS * ROUNDS);
    }
}
