//! `Handle`, a cloneable reference to a runtime for spawning and `block_on` from any thread,
//! and `EnterGuard`, which makes a plain thread count as inside the runtime while it lives.
//!
//! A `Handle` keeps the runtime's `Shared` alive but owns none of its threads: dropping the
//! last handle shuts nothing down (the `Runtime` does that).

use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::sync::Arc;

use super::block_on;
use crate::context::{self, Context};
use crate::runtime::shared::Shared;
use crate::sched::Machine;
use crate::task::JoinHandle;

/// A cheap, cloneable reference to a runtime, for spawning from any thread.
///
/// # Examples
///
/// ```
/// let rt = gmp::Runtime::new().unwrap();
/// let handle = rt.handle();
/// let from_thread = std::thread::spawn(move || handle.spawn(async { 7 })).join().unwrap();
/// assert_eq!(rt.block_on(from_thread).unwrap(), 7);
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(super) shared: Arc<Shared>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").field("maxprocs", &self.shared.config.maxprocs).finish()
    }
}

/// The error of [`Handle::try_current`]: the calling thread is not inside a gmp runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoRuntime;

impl std::fmt::Display for NoRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("this thread is not running inside a gmp runtime")
    }
}

impl std::error::Error for NoRuntime {}

impl Handle {
    /// The handle of the runtime running the calling thread.
    ///
    /// # Panics
    ///
    /// Outside a runtime; use [`try_current`](Self::try_current) to check.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let handle = gmp::Handle::current();
    ///     handle.spawn(async {}).await.unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn current() -> Handle {
        Self::try_current().unwrap_or_else(|_| {
            context::outside_runtime("gmp::Handle::current", ", or pass a Handle (Runtime::handle) to this thread")
        })
    }

    /// The handle of the runtime running the calling thread, or an error outside one.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(gmp::Handle::try_current().is_err());
    /// ```
    pub fn try_current() -> Result<Handle, NoRuntime> {
        context::with_current(|context| context.map(|c| Handle { shared: c.shared.clone() }).ok_or(NoRuntime))
    }

    /// Spawns a goroutine on this handle's runtime.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shared.spawn(future, Location::caller())
    }

    /// Runs `f` on this handle's runtime's blocking pool; see
    /// [`spawn_blocking`](crate::spawn_blocking) for the details. Works from any thread.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = gmp::Runtime::new().unwrap();
    /// let handle = rt.handle();
    /// let call = std::thread::spawn(move || handle.spawn_blocking(|| 6 * 7)).join().unwrap();
    /// assert_eq!(rt.block_on(call).unwrap(), 42);
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.shared().spawn_blocking(f, Location::caller())
    }

    /// Runs `future` to completion on the calling thread, as [`Runtime::block_on`](super::Runtime::block_on) does, on
    /// this handle's runtime: from a plain thread, or from inside a `spawn_blocking` call, a
    /// thread can drive a future that uses the runtime's timers, I/O and goroutines.
    ///
    /// If the runtime shuts down meanwhile, its goroutines are cancelled and its timers and
    /// I/O stop making progress; the future is still polled whenever its waker fires.
    ///
    /// # Panics
    ///
    /// Inside a goroutine (other than a `spawn_blocking` call) or another `block_on`: that
    /// would block one of a runtime's threads.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = gmp::Runtime::new().unwrap();
    /// let handle = rt.handle();
    /// let sum = rt.block_on(async move {
    ///     gmp::spawn_blocking(move || handle.block_on(async { gmp::spawn(async { 40 }).await.unwrap() + 2 }))
    ///         .await
    ///         .unwrap()
    /// });
    /// assert_eq!(sum, 42);
    /// ```
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        block_on(&self.shared, future)
    }

    /// Enters the runtime's context on this thread until the returned guard drops: meanwhile
    /// [`gmp::spawn`](crate::spawn), [`Handle::current`], and creating gmp I/O types and
    /// timers work here as they do inside the runtime (spawns go to its global queue). The
    /// thread does not run goroutines.
    ///
    /// Guards of nested `enter` calls must be dropped in the reverse order.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = gmp::Runtime::new().unwrap();
    /// let handle = rt.handle();
    /// let from_thread = std::thread::spawn(move || {
    ///     let _guard = handle.enter();
    ///     gmp::spawn(async { 7 })
    /// })
    /// .join()
    /// .unwrap();
    /// assert_eq!(rt.block_on(from_thread).unwrap(), 7);
    /// ```
    pub fn enter(&self) -> EnterGuard<'_> {
        EnterGuard::new(&self.shared)
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

/// The runtime context a thread entered with [`Handle::enter`] or [`Runtime::enter`](super::Runtime::enter); dropping
/// it leaves (restoring the context the thread had before, if any).
///
/// # Examples
///
/// ```
/// let rt = gmp::Runtime::new().unwrap();
/// assert!(gmp::Handle::try_current().is_err());
/// {
///     let _guard = rt.enter();
///     assert!(gmp::Handle::try_current().is_ok());
/// }
/// assert!(gmp::Handle::try_current().is_err());
/// ```
#[must_use = "the context is left as soon as the guard is dropped"]
pub struct EnterGuard<'a> {
    // Declared first so it drops first: it uninstalls `context` before `context` is freed.
    _entered: context::ContextGuard,
    _context: Box<Context>,
    _runtime: PhantomData<&'a Handle>,
}

impl EnterGuard<'_> {
    pub(super) fn new(shared: &Arc<Shared>) -> Self {
        let seed = shared.next_seed();
        // Boxed, so the context stays where `enter` installed it when the guard moves.
        let context = Box::new(Context::new(shared.clone(), Machine::new(seed, None)));
        let entered = context.enter();
        EnterGuard { _entered: entered, _context: context, _runtime: PhantomData }
    }
}

impl std::fmt::Debug for EnterGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnterGuard").finish_non_exhaustive()
    }
}
