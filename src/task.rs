//! What a goroutine's spawner holds: [`JoinHandle`] and [`JoinError`]; and [`yield_now`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::coop;
use crate::goroutine::{record_wait_reason, Output, Panic, WaitReason};
use crate::runtime::metadata::Metadata;

/// An owned permission to await a goroutine's result.
///
/// Awaiting it gives `Ok(output)`, or a [`JoinError`] if the goroutine panicked or was
/// cancelled (by [`abort`](JoinHandle::abort), [`cancel`](JoinHandle::cancel) or runtime
/// shutdown). Dropping it **detaches** the goroutine: it keeps running and its output is
/// dropped.
///
/// # Examples
///
/// ```
/// let rt = gmp::Runtime::new().unwrap();
/// let answer = rt.block_on(async {
///     let handle = gmp::spawn(async { 6 * 7 });
///     handle.await.unwrap()
/// });
/// assert_eq!(answer, 42);
/// ```
pub struct JoinHandle<T> {
    /// Held until the handle drops, also after the output was taken (so `goroutine` stays
    /// valid for `id()`); `None` only once dropped.
    task: Option<async_task::FallibleTask<Output<T>, Metadata>>,
    /// The goroutine's metadata, inside the task allocation that `task` keeps alive, with
    /// its lowest address bit (`TAKEN`) set once the output (or error) was handed out:
    /// polling again then gives a cancelled error. Two words in all, a handle.
    goroutine: MetadataPointer,
}

/// The tag bit of `JoinHandle::goroutine`.
const TAKEN: usize = 1;
const _: () = assert!(std::mem::align_of::<Metadata>() > TAKEN, "the tag bit needs an aligned pointer");

impl<T> JoinHandle<T> {
    pub(crate) fn new(task: async_task::Task<Output<T>, Metadata>) -> Self {
        let goroutine = MetadataPointer(task.metadata());
        Self { task: Some(task.fallible()), goroutine }
    }

    /// The goroutine's metadata (valid while the handle holds its task).
    fn metadata(&self) -> *const Metadata {
        // Byte offsets rather than `map_addr` keep the provenance.
        let tag = self.goroutine.0 as usize & TAKEN;
        self.goroutine.0.cast::<u8>().wrapping_sub(tag).cast()
    }

    fn taken(&self) -> bool {
        self.goroutine.0 as usize & TAKEN != 0
    }

    fn set_taken(&mut self) {
        if !self.taken() {
            self.goroutine.0 = self.goroutine.0.cast::<u8>().wrapping_add(TAKEN).cast();
        }
    }

    /// Cancels the goroutine without waiting (tokio's `JoinHandle::abort`): its future is
    /// dropped at its next poll, which comes at once if it is parked (a poll already running
    /// finishes first). Awaiting the handle afterwards gives a cancelled [`JoinError`], or the
    /// output if the goroutine finished before it saw the abort. Aborting a finished goroutine
    /// does nothing. A `spawn_blocking` call is cancelled only if it has not started.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let handle = gmp::spawn(std::future::pending::<()>());
    ///     handle.abort();
    ///     assert!(handle.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn abort(&self) {
        let Some(task) = self.task.as_ref() else { return };
        // The goroutine reaches its runtime through an uncounted pointer, valid while the
        // goroutine is open. Held shared, this keeps a runtime whose last sweep is closing it
        // from being freed until we are done (see `Shared`'s drop).
        let _alive = crate::runtime::metadata::RUNTIMES_IN_USE.read().unwrap_or_else(|e| e.into_inner());
        if task.is_finished() {
            return; // completed or closed: its runtime may be gone
        }
        // SAFETY: `task` (still held) keeps the task allocation, and so its metadata, alive.
        let g = unsafe { &*self.metadata() };
        g.request_abort();
        g.runtime().registry.wake(g, g.registry_slot());
    }

    /// Cancels the goroutine, as [`abort`](Self::abort) does, and waits until its future has
    /// been dropped. Resolves to its output if it had already finished, else `None`.
    ///
    /// The cancellation starts when `cancel` is called, even if the returned future is never
    /// awaited.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let handle = gmp::spawn(std::future::pending::<()>());
    ///     assert_eq!(handle.cancel().await, None);
    /// });
    /// ```
    #[must_use = "`cancel` returns a future that waits for the goroutine to be dropped; `.await` it, or call `abort()` to cancel without waiting"]
    pub fn cancel(self) -> Cancel<T> {
        self.abort();
        Cancel { handle: self }
    }

    /// True if the goroutine has finished (returned, panicked or was cancelled).
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let handle = gmp::spawn(async {});
    ///     while !handle.is_finished() {
    ///         gmp::yield_now().await;
    ///     }
    /// });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(|task| task.is_finished())
    }

    /// The id of the goroutine (as in `runtime::dump()` and [`JoinError::id`]).
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let handle = gmp::spawn(async { panic!("boom") });
    ///     let id = handle.id();
    ///     assert_eq!(handle.await.unwrap_err().id(), id);
    /// });
    /// ```
    pub fn id(&self) -> u64 {
        // SAFETY: the handle holds its task until it drops, which keeps the task allocation,
        // and so the metadata, alive.
        unsafe { &*self.metadata() }.id()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if coop::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        let id = self.id();
        // SAFETY: as in `id`.
        let blocking_call = unsafe { &*self.metadata() }.is_blocking_call();
        let this = &mut *self;
        let taken = this.taken();
        let Some(task) = this.task.as_mut().filter(|_| !taken) else {
            return Poll::Ready(Err(JoinError::cancelled(id)));
        };
        match Pin::new(task).poll(cx) {
            Poll::Pending => {
                // What a goroutine awaiting this handle waits for.
                record_wait_reason(if blocking_call { WaitReason::Blocking } else { WaitReason::Join });
                Poll::Pending
            }
            Poll::Ready(output) => {
                this.set_taken();
                Poll::Ready(match output.and_then(Output::into_result) {
                    Some(Ok(output)) => Ok(output),
                    Some(Err(panic)) => Err(JoinError { id, repr: Repr::Panic(PanicPayload(panic)) }),
                    None => Err(JoinError::cancelled(id)),
                })
            }
        }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.detach();
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("id", &self.id()).field("finished", &self.is_finished()).finish()
    }
}

/// A pointer to a goroutine's metadata, valid while the handle holds its task.
struct MetadataPointer(*const Metadata);

// SAFETY: `Metadata` is `Sync` (relaxed atomics, immutable fields and a pointer to `Sync`
// data), and the pointer is only dereferenced while the handle's task keeps it alive.
unsafe impl Send for MetadataPointer {}
// SAFETY: as above.
unsafe impl Sync for MetadataPointer {}

/// The future of [`JoinHandle::cancel`].
#[must_use = "futures do nothing unless you `.await` them"]
#[derive(Debug)]
pub struct Cancel<T> {
    handle: JoinHandle<T>,
}

impl<T> Future for Cancel<T> {
    type Output = Option<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        Pin::new(&mut self.handle).poll(cx).map(Result::ok)
    }
}

/// Why a goroutine produced no output. It is `Send + Sync`, so it converts into
/// `Box<dyn Error + Send + Sync>` (and `anyhow::Error`).
///
/// # Examples
///
/// ```
/// gmp::Runtime::new().unwrap().block_on(async {
///     let err = gmp::spawn(async { panic!("boom") }).await.unwrap_err();
///     assert!(err.is_panic());
///     assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "boom");
/// });
/// ```
pub struct JoinError {
    id: u64,
    repr: Repr,
}

enum Repr {
    Panic(PanicPayload),
    Cancelled,
}

/// A panic payload held so that `JoinError` is `Sync` though the payload need not be.
struct PanicPayload(Panic);

// SAFETY: through a shared reference the payload is only asked for its type (`type_id` reads
// the vtable, not the value) and then read as a `&str` or `&String`, which are `Sync`; the
// payload itself is handed out only by value (`into_panic`), which needs only `Send`.
unsafe impl Sync for PanicPayload {}

impl PanicPayload {
    /// The panic message, if the payload is a string.
    fn message(&self) -> Option<&str> {
        if let Some(s) = self.0.downcast_ref::<&'static str>() {
            Some(s)
        } else {
            self.0.downcast_ref::<String>().map(String::as_str)
        }
    }
}

impl JoinError {
    fn cancelled(id: u64) -> Self {
        Self { id, repr: Repr::Cancelled }
    }

    /// True if the goroutine panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// True if the goroutine was cancelled (by [`JoinHandle::abort`], [`JoinHandle::cancel`]
    /// or runtime shutdown).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The id of the goroutine that failed (as [`JoinHandle::id`]).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The panic payload.
    ///
    /// # Panics
    ///
    /// If the goroutine was cancelled rather than panicking (check [`is_panic`] first, or use
    /// [`try_into_panic`](Self::try_into_panic)).
    ///
    /// [`is_panic`]: Self::is_panic
    pub fn into_panic(self) -> Panic {
        self.try_into_panic()
            .unwrap_or_else(|_| panic!("JoinError::into_panic called on a cancelled goroutine's error"))
    }

    /// The panic payload, or the error back if it was a cancellation.
    pub fn try_into_panic(self) -> Result<Panic, JoinError> {
        match self.repr {
            Repr::Panic(PanicPayload(panic)) => Ok(panic),
            Repr::Cancelled => Err(self),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Panic(panic) => f
                .debug_struct("JoinError::Panic")
                .field("id", &self.id)
                .field("message", &panic.message().unwrap_or("non-string panic payload"))
                .finish(),
            Repr::Cancelled => f.debug_struct("JoinError::Cancelled").field("id", &self.id).finish(),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Panic(panic) => match panic.message() {
                Some(message) => write!(f, "goroutine {} panicked: {message}", self.id),
                None => write!(f, "goroutine {} panicked", self.id),
            },
            Repr::Cancelled => write!(f, "goroutine {} was cancelled", self.id),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(error: JoinError) -> Self {
        std::io::Error::other(error)
    }
}

/// Yields: the current goroutine goes to the back of its P's queue and others run first
/// (Go's `runtime.Gosched`, but the goroutine stays on its P).
///
/// # Examples
///
/// ```
/// gmp::Runtime::new().unwrap().block_on(async {
///     for _ in 0..3 {
///         gmp::yield_now().await;
///     }
/// });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future of [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` them"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        record_wait_reason(WaitReason::Yield);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
