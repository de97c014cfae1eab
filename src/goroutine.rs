//! G: a goroutine — an `async-task` task whose metadata holds a [`Goroutine`].
//!
//! # Design
//!
//! The task allocation holds, in order, async-task's header, the metadata, the (zero-sized)
//! schedule function and the future. A `Goroutine` is the G data of the metadata: what
//! `runtime::dump()` shows — the id, the state, the wait reason, when the state last changed
//! (in the runtime's coarse clock) and where the goroutine was spawned (interned, `site.rs`) —
//! plus its registry slot and abort flag, and a 16-bit word the kernel keeps its runtime in. Which runtime it belongs to is the kernel's side of the metadata
//! (`runtime/metadata.rs`, which wraps a `Goroutine` with the runtime pointer); this module
//! reaches it only through [`TaskMetadata`], for the clock and for leaving the registry.
//!
//! # Abort
//!
//! `JoinHandle::abort` sets the metadata's abort bit and wakes the goroutine through its
//! registry entry; the next poll then drops the future instead of polling it and completes the
//! task with no output, which the handle reports as cancelled. A poll already under way
//! finishes first (its wake reschedules the goroutine), as with tokio.
//!
//! # States (who moves a goroutine in and out)
//!
//! - `Runnable`: queued. Set by the schedule function (spawn or wake).
//! - `Running`: being polled. Set by [`GoroutineFuture`] at the start of each poll.
//! - `Waiting`: the last poll returned `Pending`. Set by [`GoroutineFuture`] after the poll,
//!   with the wait reason that a gmp leaf future (sleep, I/O, join, ...) recorded.
//! - `Syscall`: inside `gmp::syscall` (set and cleared by `syscall.rs`), or a `spawn_blocking`
//!   call whose closure runs (set by `runtime/shared.rs`, which runs the call).
//!
//! Which P polls a `Running` goroutine, and since when, is kept on the P (`poll_watch.rs`),
//! not here: this header is per goroutine and must stay small.
//!
//! The fields are relaxed atomics written only by whoever holds the goroutine at that moment
//! (the M polling it, or the waker queueing it); readers (dump) see a recent snapshot.
//!

use std::any::Any;
use std::cell::Cell;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::ptr;
use std::task::{Context, Poll};

mod site;

use crate::loom::{
    AtomicU32, AtomicU8,
    Ordering::{Acquire, Relaxed, Release},
};

/// A panic payload, as caught from a goroutine.
pub type Panic = Box<dyn Any + Send + 'static>;

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
    /// Inside `gmp::syscall`, holding its M but not a P; or a `spawn_blocking` call running
    /// on a blocking-pool thread.
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

/// G: the metadata of one goroutine, stored inside its task allocation (24 bytes on 64-bit
/// targets: with async-task's header, its future and output, a parked goroutine's task fits
/// a 96-byte malloc chunk).
#[derive(Debug)]
pub struct Goroutine {
    id: u64,
    /// The interned spawn site (`site.rs`), with `BLOCKING_CALL` set for a `spawn_blocking`
    /// call.
    site: u32,
    /// Where the registry keeps this goroutine (the registry's encoding, below `ABORTED`),
    /// with `ABORTED` set once `JoinHandle::abort` was called: the next poll drops the
    /// future instead.
    registry_slot: AtomicU32,
    /// Coarse runtime clock (ms) when `state` last changed.
    since: AtomicU32,
    /// The kernel's word: which runtime the goroutine belongs to (`runtime/metadata.rs`
    /// gives it meaning; this module only keeps it, in what would be padding).
    owner: u16,
    state: AtomicU8,
    wait_reason: AtomicU8,
}

/// The top bit of `Goroutine::site`: a `spawn_blocking` call.
const BLOCKING_CALL: u32 = 1 << 31;
/// The top bit of `Goroutine::registry_slot`: abort requested.
const ABORTED: u32 = 1 << 31;
/// The registry locations a goroutine can keep (below `ABORTED`).
pub(crate) const REGISTRY_SLOT_LIMIT: u32 = ABORTED;

impl Goroutine {
    pub(crate) fn new(id: u64, spawned_at: &'static Location<'static>, now: u32) -> Self {
        Self {
            id,
            site: site::intern(spawned_at),
            registry_slot: AtomicU32::new(ABORTED - 1),
            since: AtomicU32::new(now),
            owner: 0,
            state: AtomicU8::new(GoroutineState::Runnable as u8),
            wait_reason: AtomicU8::new(WaitReason::Unknown as u8),
        }
    }

    /// Marks the goroutine as a `spawn_blocking` call (before it is shared).
    pub(crate) fn set_blocking_call(&mut self) {
        self.site |= BLOCKING_CALL;
    }

    /// True for a `spawn_blocking` call's goroutine.
    pub(crate) fn is_blocking_call(&self) -> bool {
        self.site & BLOCKING_CALL != 0
    }

    /// Sets the kernel's word (before the goroutine is shared).
    pub(crate) fn set_owner(&mut self, owner: u16) {
        self.owner = owner;
    }

    /// The kernel's word.
    #[inline]
    pub(crate) fn owner(&self) -> u16 {
        self.owner
    }

    /// The goroutine's id, unique within its runtime (Go's `goid`).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Where `spawn` was called.
    pub fn spawned_at(&self) -> &'static Location<'static> {
        site::site(self.site & !BLOCKING_CALL)
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

    /// Moves to `state` (`Runnable` or `Running`) without stamping `since`, which keeps the
    /// clock off the poll path.
    #[inline]
    pub(crate) fn set_state(&self, state: GoroutineState) {
        debug_assert!(!matches!(state, GoroutineState::Waiting | GoroutineState::Syscall), "use set_state_since");
        self.state.store(state as u8, Relaxed);
    }

    /// Moves to `state` (`Waiting` or `Syscall`) and stamps `since` with `now`, the runtime's
    /// coarse clock: what `dump()` reports as how long it has waited.
    #[inline]
    pub(crate) fn set_state_since(&self, state: GoroutineState, now: u32) {
        self.state.store(state as u8, Relaxed);
        self.since.store(now, Relaxed);
    }

    pub(crate) fn set_wait_reason(&self, reason: WaitReason) {
        self.wait_reason.store(reason as u8, Relaxed);
    }

    /// Asks the goroutine to stop: its next poll drops its future instead of polling it.
    pub(crate) fn request_abort(&self) {
        self.registry_slot.fetch_or(ABORTED, Release);
    }

    fn abort_requested(&self) -> bool {
        self.registry_slot.load(Acquire) & ABORTED != 0
    }

    /// Where the registry keeps the goroutine (below `REGISTRY_SLOT_LIMIT`).
    pub(crate) fn registry_slot(&self) -> u32 {
        self.registry_slot.load(Relaxed) & !ABORTED
    }

    /// Records where the registry keeps the goroutine. Called once, as it registers, before
    /// its `JoinHandle` exists (so no abort can have been requested yet).
    pub(crate) fn set_registry_slot(&self, slot: u32) {
        debug_assert!(slot < REGISTRY_SLOT_LIMIT);
        self.registry_slot.store(slot, Relaxed);
    }
}

crate::loom::thread_local! {
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

/// What a goroutine's task produces: the future's output, the panic that ended it, or
/// nothing if it was aborted ([`JoinHandle::abort`](crate::JoinHandle::abort)). Dropping it
/// never unwinds: async-task drops the output of a detached goroutine under an
/// abort-on-panic guard, so an output whose destructor panics would take the process down.
pub(crate) struct Output<T> {
    value: Option<Result<T, Panic>>,
}

impl<T> Output<T> {
    /// The outcome: `Some(Ok)` the output, `Some(Err)` a panic, `None` aborted.
    pub(crate) fn into_result(mut self) -> Option<Result<T, Panic>> {
        self.value.take()
    }
}

impl<T> Drop for Output<T> {
    fn drop(&mut self) {
        if let Some(value) = self.value.take() {
            let _ = catch_unwind(AssertUnwindSafe(|| drop(value)));
        }
    }
}

/// What `GoroutineFuture` needs of a goroutine's task metadata beyond its G data. The kernel's
/// `runtime::metadata::Metadata` is the implementation; keeping it a trait keeps this module
/// below the runtime.
pub(crate) trait TaskMetadata: Sync {
    /// The G data.
    fn goroutine(&self) -> &Goroutine;
    /// The coarse clock (ms) of the goroutine's runtime, for `set_state_since`.
    fn coarse_now(&self) -> u32;
    /// The goroutine is about to park (its future returned `Pending`) and holds no reference
    /// for its registry entry yet: takes one through `waker` (the poll's own) if the entry
    /// needs one to keep the task alive. True if it took one.
    fn reference_for_entry(&self, waker: &std::task::Waker) -> bool;
    /// The goroutine's future has been dropped: it leaves its runtime's registry, giving back
    /// the reference it took when it first parked, if it did (`counted`).
    fn future_dropped(&self, counted: bool);
    /// The goroutine's future has completed (its value or panic is about to be handed to
    /// its handle): the execution trace records this poll now, if it follows it.
    fn completing(&self);
}

/// The future inside every goroutine's task: the user's future plus the bookkeeping that
/// `dump()`, abort and panic isolation need.
///
/// It drops the user's future itself, inside `catch_unwind`, as soon as it completes (and,
/// when the task is cancelled, in its own `Drop`): async-task drops a completed future
/// outside any catch, and a destructor that panicked there left the task running forever
/// with its handle unresolved.
pub(crate) struct GoroutineFuture<F, M: TaskMetadata> {
    future: ManuallyDrop<F>,
    /// The metadata, with two tag bits in its low address bits (the metadata holds a
    /// `Goroutine`, so it is 8-aligned; separate flags would cost a word per goroutine in
    /// padding): `FUTURE_DROPPED` and `REFERENCED`.
    goroutine: *const M,
}

/// A tag bit of `GoroutineFuture::goroutine`: `future` has been dropped.
const FUTURE_DROPPED: usize = 1;
/// A tag bit of `GoroutineFuture::goroutine`: the goroutine took a reference to its task
/// for its registry entry when it parked (`TaskMetadata::reference_for_entry`).
const REFERENCED: usize = 2;
const TAGS: usize = FUTURE_DROPPED | REFERENCED;
const _: () = assert!(std::mem::align_of::<Goroutine>() > TAGS, "the tag bits need an aligned pointer");

// SAFETY: the raw pointer is to the task's own `Sync` metadata; `F` decides the rest.
unsafe impl<F: Send, M: TaskMetadata> Send for GoroutineFuture<F, M> {}

impl<F, M: TaskMetadata> GoroutineFuture<F, M> {
    pub(crate) fn new(future: F, metadata: &M) -> Self {
        const { assert!(std::mem::align_of::<M>() > TAGS, "the tag bits need an aligned pointer") };
        Self { future: ManuallyDrop::new(future), goroutine: metadata }
    }

    /// The goroutine's metadata, without the tag bits.
    fn metadata(&self) -> *const M {
        // Byte offsets rather than `map_addr` (Rust 1.84, past our MSRV) keep the provenance.
        let tags = self.goroutine as usize & TAGS;
        self.goroutine.cast::<u8>().wrapping_sub(tags).cast()
    }

    fn tagged(&self, tag: usize) -> bool {
        self.goroutine as usize & tag != 0
    }

    /// Sets `tag` (not yet set).
    fn tag(&mut self, tag: usize) {
        debug_assert!(!self.tagged(tag));
        self.goroutine = self.goroutine.cast::<u8>().wrapping_add(tag).cast();
    }

    fn future_dropped(&self) -> bool {
        self.tagged(FUTURE_DROPPED)
    }

    /// The poll returned `Pending`: until it holds one, the goroutine's registry entry may
    /// need a reference to keep its task alive while it waits. (An entry that never needs one,
    /// a main goroutine's, asks again at each park: one relaxed load.)
    #[inline]
    fn parking(&mut self, metadata: &M, waker: &std::task::Waker) {
        if !self.tagged(REFERENCED) && metadata.reference_for_entry(waker) {
            self.tag(REFERENCED);
        }
    }

    /// Drops the user's future in place, once, catching a panic from its destructor.
    fn drop_future(&mut self) -> Result<(), Panic> {
        if self.future_dropped() {
            return Ok(());
        }
        self.tag(FUTURE_DROPPED);
        // SAFETY: `future` is dropped exactly once (the tag bit guards it) and never touched
        // afterwards; dropping a pinned value in place is what `Pin` allows.
        catch_unwind(AssertUnwindSafe(|| unsafe { ManuallyDrop::drop(&mut self.future) }))
    }
}

impl<F, M: TaskMetadata> Drop for GoroutineFuture<F, M> {
    fn drop(&mut self) {
        // Cancellation ends here with the future still alive; completion with it dropped.
        // A panic from the future's destructor is contained: the goroutine is cancelled
        // either way.
        let _ = self.drop_future();
        // SAFETY: the metadata lives in the same task allocation and is dropped after the
        // future.
        let metadata = unsafe { &*self.metadata() };
        // Only now does the goroutine leave the registry: until its future is gone, a
        // shutdown sweep must still be able to find it.
        metadata.future_dropped(self.tagged(REFERENCED));
    }
}

impl<F: Future, M: TaskMetadata> Future for GoroutineFuture<F, M> {
    type Output = Output<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is never moved out of (it is polled pinned and dropped in place),
        // so handing out `&mut Self` here does not unpin it.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: the metadata outlives the future (same allocation, dropped after it).
        let metadata = unsafe { &*this.metadata() };
        let g = metadata.goroutine();
        let goroutine: *const Goroutine = g;
        if this.future_dropped() {
            // async-task never polls a completed future; be safe anyway.
            return Poll::Pending;
        }
        if g.abort_requested() {
            let _ = this.drop_future();
            metadata.completing();
            return Poll::Ready(Output { value: None });
        }
        g.set_state(GoroutineState::Running);
        g.set_wait_reason(WaitReason::Unknown);
        let previous = CURRENT.with(|current| current.replace(goroutine));
        // SAFETY: `future` is pinned inside the task allocation along with `this`.
        let future = unsafe { Pin::new_unchecked(&mut *this.future) };
        let result = catch_unwind(AssertUnwindSafe(|| future.poll(cx)));
        let result = match result {
            Ok(Poll::Pending) => {
                CURRENT.with(|current| current.set(previous));
                this.parking(metadata, cx.waker());
                if g.state() == GoroutineState::Running {
                    g.set_state_since(GoroutineState::Waiting, metadata.coarse_now());
                }
                return Poll::Pending;
            }
            // Drop what the future still holds now, inside the catch (and as this goroutine,
            // so its destructors see the runtime as its poll did).
            Ok(Poll::Ready(output)) => match this.drop_future() {
                Ok(()) => Ok(output),
                Err(panic) => {
                    let _ = catch_unwind(AssertUnwindSafe(|| drop(output)));
                    Err(panic)
                }
            },
            Err(panic) => {
                let _ = this.drop_future();
                Err(panic)
            }
        };
        CURRENT.with(|current| current.set(previous));
        metadata.completing();
        Poll::Ready(Output { value: Some(result) })
    }
}
