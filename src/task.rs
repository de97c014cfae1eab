//! What a goroutine's spawner holds: [`JoinHandle`] and [`JoinError`]; and [`yield_now`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::coop;
use crate::goroutine::{record_wait_reason, Goroutine, Panic, WaitReason};

/// An owned permission to await a goroutine's result.
///
/// Awaiting it gives `Ok(output)`, or a [`JoinError`] if the goroutine panicked or was
/// cancelled (by [`cancel`](JoinHandle::cancel) or by runtime shutdown). Dropping it
/// **detaches** the goroutine: it keeps running and its output is dropped.
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
    task: Option<async_task::FallibleTask<Result<T, Panic>, Goroutine>>,
    id: u64,
    /// What a goroutine awaiting this handle waits for: `Join`, or `Blocking` for a
    /// `spawn_blocking` call.
    wait_reason: WaitReason,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(task: async_task::Task<Result<T, Panic>, Goroutine>) -> Self {
        let id = task.metadata().id();
        Self { task: Some(task.fallible()), id, wait_reason: WaitReason::Join }
    }

    /// The handle of a `spawn_blocking` call: awaiting it records the "blocking" wait reason.
    pub(crate) fn for_blocking_call(task: async_task::Task<Result<T, Panic>, Goroutine>) -> Self {
        let mut handle = Self::new(task);
        handle.wait_reason = WaitReason::Blocking;
        handle
    }

    /// Cancels the goroutine: its future is dropped at its next scheduling point (at once if
    /// it is not running). Returns its output if it had already finished.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let handle = gmp::spawn(std::future::pending::<()>());
    ///     assert_eq!(handle.cancel().await, None);
    /// });
    /// ```
    pub async fn cancel(mut self) -> Option<T> {
        let task = self.task.take()?;
        match task.cancel().await {
            Some(Ok(output)) => Some(output),
            Some(Err(_)) | None => None,
        }
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
        self.task.as_ref().map_or(true, |task| task.is_finished())
    }

    /// The id of the goroutine (as in `runtime::dump()`).
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if coop::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        let Some(task) = self.task.as_mut() else {
            return Poll::Ready(Err(JoinError::Cancelled));
        };
        match Pin::new(task).poll(cx) {
            Poll::Pending => {
                record_wait_reason(self.wait_reason);
                Poll::Pending
            }
            Poll::Ready(result) => {
                self.task = None;
                Poll::Ready(match result {
                    Some(Ok(output)) => Ok(output),
                    Some(Err(panic)) => Err(JoinError::Panic(panic)),
                    None => Err(JoinError::Cancelled),
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

/// Why a goroutine produced no output.
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
pub enum JoinError {
    /// The goroutine panicked; the payload is kept.
    Panic(Panic),
    /// The goroutine was cancelled before it finished.
    Cancelled,
}

impl JoinError {
    /// True if the goroutine panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, Self::Panic(_))
    }

    /// True if the goroutine was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::Cancelled)
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
        match self {
            Self::Panic(panic) => Ok(panic),
            Self::Cancelled => Err(self),
        }
    }
}

fn panic_message(panic: &Panic) -> &str {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Panic(panic) => f.debug_tuple("Panic").field(&panic_message(panic)).finish(),
            Self::Cancelled => f.write_str("Cancelled"),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Panic(panic) => write!(f, "goroutine panicked: {}", panic_message(panic)),
            Self::Cancelled => f.write_str("goroutine was cancelled"),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(error: JoinError) -> Self {
        std::io::Error::other(error.to_string())
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
