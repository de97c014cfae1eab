//! Synchronization for goroutines: [`WaitGroup`] (Go's `sync.WaitGroup`), [`Mutex`] and
//! [`RwLock`] (Go's `sync.Mutex` and `sync.RWMutex`, with guards held across awaits),
//! [`Semaphore`] and [`OnceCell`].
//!
//! The locks are poison-free and fair: waiters are served in the order they came, and an
//! unlock hands the lock straight to the first of them (Go's starvation mode). A goroutine
//! parked on one shows `sync.Mutex.Lock`, `sync.RWMutex.RLock`, `sync.RWMutex.Lock` or
//! `semacquire` in `gmp::runtime::dump()`.
//!
//! # Examples
//!
//! ```
//! use gmp::sync::WaitGroup;
//!
//! gmp::Runtime::new().unwrap().block_on(async {
//!     let wg = WaitGroup::new();
//!     for _ in 0..4 {
//!         wg.add(1);
//!         let wg = wg.clone();
//!         gmp::spawn(async move { wg.done() });
//!     }
//!     wg.wait().await;
//! });
//! ```

mod mutex;
mod once_cell;
mod rwlock;
mod semaphore;
mod wait_group;
pub(crate) mod waiter_queue;

pub use mutex::{Lock, Mutex, MutexGuard, TryLockError};
pub use once_cell::{OnceCell, SetError};
pub use rwlock::{Read, RwLock, RwLockReadGuard, RwLockWriteGuard, Write, MAX_READERS};
pub use semaphore::{
    Acquire, AcquireError, AcquireOwned, OwnedSemaphorePermit, Semaphore, SemaphorePermit, TryAcquireError,
};
pub use wait_group::{Wait, WaitGroup};
