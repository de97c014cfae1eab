//! G: a goroutine — an `async-task` task whose metadata is a [`Goroutine`].
//!
//! # Design
//!
//! The task allocation holds, in order, async-task's header, this metadata, the (zero-sized)
//! schedule function and the future. The metadata records what `runtime::dump()` shows: the
//! id, the state, the wait reason, when the state last changed (in the runtime's coarse clock)
//! and where the goroutine was spawned. It also points back at the runtime, so the schedule
//! function needs no captured state (a zero-sized schedule function saves an atomic per wake).
//!
//! # States (who moves a goroutine in and out)
//!
//! - `Runnable`: queued. Set by the schedule function (spawn or wake).
//! - `Running`: being polled. Set by [`GoroutineFuture`] at the start of each poll.
//! - `Waiting`: the last poll returned `Pending`. Set by [`GoroutineFuture`] after the poll,
//!   with the wait reason that a gmp leaf future (sleep, I/O, join, ...) recorded.
//! - `Syscall`: inside `gmp::syscall`. Set and cleared by `syscall.rs`.
//!
//! The fields are relaxed atomics written only by whoever holds the goroutine at that moment
//! (the M polling it, or the waker queueing it); readers (dump) see a recent snapshot.
//!
//! # Lifetime of the runtime pointer
//!
//! `runtime` points into the runtime's `Shared` without a reference count. This is sound
//! because every goroutine is closed before `Shared` is freed: `Shared` lives as long as the
//! `Runtime` or any `Handle`, and runtime shutdown cancels every goroutine in the registry
//! (spawns that race with shutdown are refused under the registry's shard lock). A closed
//! task never calls its schedule function again.

use std::any::Any;
use std::cell::Cell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::task::{Context, Poll};

use crate::loom::{AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use crate::runq::QueueItem;

/// A goroutine's queue handle: an async-task `Runnable` carrying [`Goroutine`] metadata.
pub type Runnable = async_task::Runnable<Goroutine>;

/// A panic payload, as caught from a goroutine.
pub type Panic = Box<dyn Any + Send + 'static>;

// SAFETY: `Runnable::into_raw`/`from_raw` round-trip, and the pointer is never null.
unsafe impl QueueItem for Runnable {
    #[inline]
    fn into_raw(self) -> NonNull<()> {
        Runnable::into_raw(self)
    }

    #[inline]
    unsafe fn from_raw(ptr: NonNull<()>) -> Self {
        // SAFETY: the caller passes a pointer made by `into_raw`, once.
        unsafe { Runnable::from_raw(ptr) }
    }
}

/// What a goroutine is doing, as `dump()` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum GoroutineState {
    /// Queued, waiting for a P.
    Runnable = 0,
    /// Being polled by an M.
    Running = 1,
    /// Parked until something wakes it.
    Waiting = 2,
    /// Inside `gmp::syscall`, holding its M but not a P.
    Syscall = 3,
}

impl GoroutineState {
    fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Runnable,
            1 => Self::Running,
            2 => Self::Waiting,
            _ => Self::Syscall,
        }
    }

    /// The name Go's traceback uses for this state.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Runnable => "runnable",
            Self::Running => "running",
            Self::Waiting => "waiting",
            Self::Syscall => "syscall",
        }
    }
}

/// Why a goroutine waits, in Go's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
#[non_exhaustive]
pub enum WaitReason {
    /// No reason recorded (a user future returned `Pending`).
    Unknown = 0,
    /// Waiting for a socket or other I/O source.
    IoWait = 1,
    /// In `gmp::time::sleep` or an interval.
    Sleep = 2,
    /// Receiving from a channel.
    ChanReceive = 3,
    /// Sending on a channel.
    ChanSend = 4,
    /// In a select over several futures.
    Select = 5,
    /// Acquiring a semaphore or lock.
    Semacquire = 6,
    /// In `WaitGroup::wait`.
    WaitGroupWait = 7,
    /// Awaiting another goroutine's `JoinHandle`.
    Join = 8,
    /// Yielded with `yield_now` (or forced to by the coop budget).
    Yield = 9,
    /// Waiting for a `spawn_blocking` call.
    Blocking = 10,
    /// Locking a `gmp::sync::Mutex` (or waiting for a `OnceCell` being initialised).
    MutexLock = 11,
    /// Taking a `gmp::sync::RwLock` for reading.
    RwMutexRLock = 12,
    /// Taking a `gmp::sync::RwLock` for writing.
    RwMutexLock = 13,
}

impl WaitReason {
    fn from_u8(value: u8) -> Self {
        match value {
            1 => Self::IoWait,
            2 => Self::Sleep,
            3 => Self::ChanReceive,
            4 => Self::ChanSend,
            5 => Self::Select,
            6 => Self::Semacquire,
            7 => Self::WaitGroupWait,
            8 => Self::Join,
            9 => Self::Yield,
            10 => Self::Blocking,
            11 => Self::MutexLock,
            12 => Self::RwMutexRLock,
            13 => Self::RwMutexLock,
            _ => Self::Unknown,
        }
    }

    /// The text Go prints for this reason ("IO wait", "sleep", ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "",
            Self::IoWait => "IO wait",
            Self::Sleep => "sleep",
            Self::ChanReceive => "chan receive",
            Self::ChanSend => "chan send",
            Self::Select => "select",
            Self::Semacquire => "semacquire",
            Self::WaitGroupWait => "sync.WaitGroup.Wait",
            Self::Join => "join",
            Self::Yield => "yield",
            Self::Blocking => "blocking",
            Self::MutexLock => "sync.Mutex.Lock",
            Self::RwMutexRLock => "sync.RWMutex.RLock",
            Self::RwMutexLock => "sync.RWMutex.Lock",
        }
    }
}

/// G: the metadata of one goroutine, stored inside its task allocation.
#[derive(Debug)]
pub struct Goroutine {
    id: u64,
    state: AtomicU8,
    wait_reason: AtomicU8,
    /// Coarse runtime clock (ms) when `state` last changed.
    since: AtomicU32,
    spawned_at: &'static Location<'static>,
    runtime: RuntimePointer,
    /// Where the registry keeps this goroutine: `(shard << 32) | slot`.
    registry_slot: AtomicU64,
}

/// An uncounted pointer to the runtime's shared state; see the module docs for why it stays
/// valid.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RuntimePointer(pub(crate) *const crate::runtime::Shared);

// SAFETY: `Shared` is `Sync` and outlives every open goroutine (module docs).
unsafe impl Send for RuntimePointer {}
// SAFETY: as above.
unsafe impl Sync for RuntimePointer {}

impl Goroutine {
    pub(crate) fn new(id: u64, spawned_at: &'static Location<'static>, runtime: RuntimePointer, now: u32) -> Self {
        Self {
            id,
            state: AtomicU8::new(GoroutineState::Runnable as u8),
            wait_reason: AtomicU8::new(WaitReason::Unknown as u8),
            since: AtomicU32::new(now),
            spawned_at,
            runtime,
            registry_slot: AtomicU64::new(u64::MAX),
        }
    }

    /// The goroutine's id, unique within its runtime (Go's `goid`).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Where `spawn` was called.
    pub fn spawned_at(&self) -> &'static Location<'static> {
        self.spawned_at
    }

    /// The current state (a snapshot).
    pub fn state(&self) -> GoroutineState {
        GoroutineState::from_u8(self.state.load(Relaxed))
    }

    /// The recorded wait reason (meaningful while `Waiting`).
    pub fn wait_reason(&self) -> WaitReason {
        WaitReason::from_u8(self.wait_reason.load(Relaxed))
    }

    /// The coarse runtime time (ms) at which the goroutine last started waiting.
    pub fn since(&self) -> u32 {
        self.since.load(Relaxed)
    }

    /// The runtime this goroutine belongs to.
    pub(crate) fn runtime(&self) -> &crate::runtime::Shared {
        // SAFETY: `Shared` outlives every goroutine that can still be scheduled (module docs).
        unsafe { &*self.runtime.0 }
    }

    /// Moves to `state`. Only entering `Waiting` or `Syscall` stamps `since` (what `dump()`
    /// reports as how long it has waited), which keeps the clock off the poll path.
    #[inline]
    pub(crate) fn set_state(&self, state: GoroutineState) {
        self.state.store(state as u8, Relaxed);
        if matches!(state, GoroutineState::Waiting | GoroutineState::Syscall) {
            self.since.store(self.runtime().coarse_now(), Relaxed);
        }
    }

    pub(crate) fn set_wait_reason(&self, reason: WaitReason) {
        self.wait_reason.store(reason as u8, Relaxed);
    }

    pub(crate) fn registry_slot(&self) -> u64 {
        self.registry_slot.load(Relaxed)
    }

    pub(crate) fn set_registry_slot(&self, slot: u64) {
        self.registry_slot.store(slot, Relaxed);
    }
}

thread_local! {
    /// The goroutine being polled on this thread, or null.
    static CURRENT: Cell<*const Goroutine> = const { Cell::new(ptr::null()) };
}

/// Records why the goroutine being polled on this thread is about to return `Pending`.
/// Does nothing outside a goroutine. gmp's leaf futures call this.
pub(crate) fn record_wait_reason(reason: WaitReason) {
    CURRENT.with(|current| {
        let g = current.get();
        if !g.is_null() {
            // SAFETY: CURRENT is set only for the duration of the goroutine's poll, while its
            // task (and so its metadata) is alive.
            unsafe { (*g).set_wait_reason(reason) };
        }
    });
}

/// Runs `f` with the goroutine being polled on this thread, if any.
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Goroutine>) -> R) -> R {
    CURRENT.with(|current| {
        let g = current.get();
        // SAFETY: as in `record_wait_reason`.
        f(unsafe { g.as_ref() })
    })
}

/// True while this thread is polling a goroutine.
pub(crate) fn in_goroutine() -> bool {
    CURRENT.with(|current| !current.get().is_null())
}

pin_project_lite::pin_project! {
    /// The future inside every goroutine's task: the user's future plus the bookkeeping that
    /// `dump()` and panic isolation need. Its output is the user's output or the panic.
    pub(crate) struct GoroutineFuture<F> {
        #[pin]
        future: F,
        goroutine: *const Goroutine,
    }

    impl<F> PinnedDrop for GoroutineFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            // Completion and cancellation both end here: the goroutine leaves the registry.
            let goroutine = this.goroutine;
            // SAFETY: the metadata lives in the same task allocation and is dropped after the
            // future.
            let g = unsafe { &*goroutine };
            g.runtime().registry.remove(g.id(), g.registry_slot());
        }
    }
}

// SAFETY: the raw pointer is to the task's own `Sync` metadata; `F` decides the rest.
unsafe impl<F: Send> Send for GoroutineFuture<F> {}

impl<F> GoroutineFuture<F> {
    pub(crate) fn new(future: F, goroutine: &Goroutine) -> Self {
        Self { future, goroutine }
    }
}

impl<F: Future> Future for GoroutineFuture<F> {
    type Output = Result<F::Output, Panic>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let goroutine = *this.goroutine;
        // SAFETY: the metadata outlives the future (same allocation, dropped after it).
        let g = unsafe { &*goroutine };
        g.set_state(GoroutineState::Running);
        g.set_wait_reason(WaitReason::Unknown);
        let previous = CURRENT.with(|current| current.replace(goroutine));
        let future = this.future;
        let result = catch_unwind(AssertUnwindSafe(|| future.poll(cx)));
        CURRENT.with(|current| current.set(previous));
        match result {
            Ok(Poll::Pending) => {
                if g.state() == GoroutineState::Running {
                    g.set_state(GoroutineState::Waiting);
                }
                Poll::Pending
            }
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}
