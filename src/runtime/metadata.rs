//! The task metadata of every goroutine: its G data ([`Goroutine`]) and the runtime it belongs
//! to, and the queue handle ([`Runnable`]) that carries them.
//!
//! # Design
//!
//! `goroutine.rs` knows only G data; pairing a goroutine with its runtime is the kernel's
//! business, so the metadata async-task stores in each task is this [`Metadata`]: a
//! `Goroutine` whose spare 16-bit word names the runtime's [`Shared`], as an index into
//! `RUNTIMES`, a process-wide table of uncounted pointers. The schedule functions (both in
//! `shared.rs`: a goroutine's and a blocking call's) find the runtime here, so they capture
//! nothing (a zero-sized schedule function costs no word in the task); `GoroutineFuture`
//! reaches the clock and the registry through [`TaskMetadata`]; `JoinHandle::abort` reaches
//! the registry. The metadata is 24 bytes on 64-bit targets (40 when it held a pointer).
//!
//! # Lifetime of the runtime pointer
//!
//! The table's pointer is dereferenced only here, in [`Metadata::runtime`] and
//! [`with_runtime`], and this is why it is valid there: every goroutine is closed before
//! `Shared` is freed, and `Shared` gives its index back only in its drop, after that. `Shared` lives as long as
//! the `Runtime`, any `Handle` or any thread serving it, and `Shared`'s own drop sweeps the
//! registry one last time (wake every registered goroutine, drop every queued one) before any
//! of its fields is dropped; a goroutine stays registered until its future is dropped, and
//! spawns after the registry closed are refused under its shard lock. A closed task never
//! calls its schedule function again. Code that reaches a goroutine from outside the
//! runtime's threads (`JoinHandle::abort`) checks that it is still open while holding
//! `RUNTIMES_IN_USE`, which `Shared`'s drop takes exclusively after its last sweep.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, Ordering::Relaxed};

use crate::goroutine::{Goroutine, TaskMetadata};
use crate::registry::Registry;
use crate::runq::QueueItem;
use crate::runtime::shared::Shared;

/// Held shared by code outside the runtime's threads that reaches a runtime through a
/// goroutine's uncounted pointer after checking that the goroutine is still open
/// (`JoinHandle::abort`); `Shared`'s drop takes it exclusively after its last sweep, so such
/// code finishes before the memory is freed.
pub(crate) static RUNTIMES_IN_USE: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// A goroutine's queue handle: an async-task `Runnable` carrying its [`Metadata`].
pub(crate) type Runnable = async_task::Runnable<Metadata>;

/// The runtimes that exist, by index: a goroutine names its runtime with a 16-bit index into
/// this table (kept in its `Goroutine`'s spare bytes) rather than a pointer, which keeps the
/// metadata at 24 bytes. An index is taken by `Shared::new` and given back by `Shared`'s drop,
/// after its last sweep, when no goroutine of it is open. 512 KiB of zeroed memory, of which
/// only the pages of indexes in use are touched.
static RUNTIMES: [AtomicPtr<Shared>; RUNTIME_LIMIT] = [const { AtomicPtr::new(std::ptr::null_mut()) }; RUNTIME_LIMIT];

/// How many runtimes may exist at once.
const RUNTIME_LIMIT: usize = 1 << 16;

/// The indexes of `RUNTIMES` given back, and the first never used.
static FREE_INDEXES: std::sync::Mutex<(Vec<u16>, usize)> = std::sync::Mutex::new((Vec::new(), 0));

/// A runtime's index in `RUNTIMES`, from `Shared::new` until `Shared`'s drop.
#[derive(Debug)]
pub(crate) struct RuntimeIndex(u16);

impl RuntimeIndex {
    /// Takes a free index, or fails if `RUNTIME_LIMIT` runtimes exist.
    pub(crate) fn take() -> std::io::Result<Self> {
        let mut free = FREE_INDEXES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(index) = free.0.pop() {
            return Ok(Self(index));
        }
        if free.1 == RUNTIME_LIMIT {
            return Err(std::io::Error::other(format!("gmp: {RUNTIME_LIMIT} runtimes exist at once")));
        }
        free.1 += 1;
        Ok(Self((free.1 - 1) as u16))
    }

    /// Points the index at `shared` (which holds it), before any goroutine of it exists.
    pub(crate) fn publish(&self, shared: &Shared) {
        RUNTIMES[self.0 as usize].store(shared as *const Shared as *mut Shared, Relaxed);
    }

    /// The index, for a goroutine's metadata.
    pub(crate) fn get(&self) -> u16 {
        self.0
    }

    /// Gives the index back: only from `Shared`'s drop, once no goroutine of it is open.
    pub(crate) fn release(&self) {
        RUNTIMES[self.0 as usize].store(std::ptr::null_mut(), Relaxed);
        FREE_INDEXES.lock().unwrap_or_else(|e| e.into_inner()).0.push(self.0);
    }
}

/// A goroutine's task metadata: its G data, which names its runtime (24 bytes on 64-bit
/// targets).
#[derive(Debug)]
pub(crate) struct Metadata {
    goroutine: Goroutine,
}

impl Metadata {
    pub(crate) fn new(mut goroutine: Goroutine, runtime: &Shared) -> Self {
        goroutine.set_owner(runtime.index.get());
        Self { goroutine }
    }

    /// The runtime this goroutine belongs to. Call only while the goroutine is open (from its
    /// poll, its schedule function, its future's drop, or after checking under
    /// `RUNTIMES_IN_USE`).
    #[inline]
    pub(crate) fn runtime(&self) -> &Shared {
        // SAFETY: `Shared` outlives every open goroutine and keeps its index until then
        // (module docs), and callers hold an open one.
        unsafe { &*runtime_pointer(&self.goroutine) }
    }
}

/// The runtime of `goroutine`, through the table. Relaxed is enough: the index was published
/// before the goroutine was made, which happens before any code holding the goroutine runs,
/// and it changes only once no goroutine of that runtime is open.
#[inline]
fn runtime_pointer(goroutine: &Goroutine) -> *const Shared {
    RUNTIMES[goroutine.owner() as usize].load(Relaxed)
}

/// Hands `runnable` to `f` along with its runtime, for a schedule function: `f` takes the
/// runnable by value, so the runtime cannot be borrowed from its metadata.
#[inline]
pub(crate) fn with_runtime<R>(runnable: Runnable, f: impl FnOnce(&Shared, Runnable) -> R) -> R {
    let shared = runtime_pointer(&runnable.metadata().goroutine);
    // SAFETY: `runnable` is an open goroutine, and `Shared` outlives every open goroutine
    // (module docs); `f` runs while the goroutine it was handed is still open (it may only
    // queue or drop it, and `Shared`'s last sweep waits for the thread doing so).
    f(unsafe { &*shared }, runnable)
}

impl std::ops::Deref for Metadata {
    type Target = Goroutine;

    #[inline]
    fn deref(&self) -> &Goroutine {
        &self.goroutine
    }
}

impl TaskMetadata for Metadata {
    #[inline]
    fn goroutine(&self) -> &Goroutine {
        &self.goroutine
    }

    #[inline]
    fn coarse_now(&self) -> u32 {
        self.runtime().coarse_now()
    }

    fn reference_for_entry(&self, waker: &std::task::Waker) -> bool {
        let needed = Registry::entry_needs_a_reference(self.goroutine.registry_slot());
        if needed {
            // The entry's reference, given back by `future_dropped`.
            std::mem::forget(waker.clone());
        }
        needed
    }

    fn future_dropped(&self, counted: bool) {
        let runtime = self.runtime();
        let processor = crate::context::current_processor(runtime);
        runtime.registry.remove(&self.goroutine, self.goroutine.registry_slot(), counted, processor);
    }

    #[inline]
    fn completing(&self) {
        crate::context::record_completing_poll(self.goroutine.id());
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// Pairing a goroutine with its runtime outside `Goroutine` costs no word: the runtime's
    /// index lives in the goroutine's spare bytes, and the metadata is 24 bytes (it was 40
    /// with the spawn site as a pointer, a 64-bit registry slot and the runtime as a pointer).
    #[test]
    fn the_metadata_is_no_larger_than_the_goroutine_with_its_pointer_was() {
        let size = std::mem::size_of::<Metadata>();
        eprintln!("size_of::<Goroutine>() = {}, size_of::<Metadata>() = {size}", std::mem::size_of::<Goroutine>());
        if cfg!(target_pointer_width = "64") {
            assert_eq!(size, 24);
        }
        assert_eq!(size, std::mem::size_of::<Goroutine>());
    }

    /// Where a parked goroutine's bytes go (run with `--nocapture` to see them): the task
    /// allocation (async-task's header with the metadata, then the future/output union), its
    /// registry entry and its `JoinHandle`.
    #[test]
    fn the_bytes_of_a_goroutine() {
        use std::mem::size_of;
        let rt = crate::Builder::new().maxprocs(1).build().unwrap();
        let started = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        // The parked future of `benches/scale.rs`: an `Arc` and a pending await.
        let future = async move {
            started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            std::future::pending::<()>().await;
        };
        let future_size = size_of_val(&future);
        let goroutine_future = size_of::<crate::goroutine::GoroutineFuture<[u8; 0], Metadata>>();
        // async-task's header: its state word, the awaiter (`Option<Waker>`), its vtable
        // pointer, the metadata, and the `propagate_panic` flag (its `std` feature).
        let header = (2 * size_of::<usize>() + size_of::<Option<std::task::Waker>>() + size_of::<Metadata>() + 1)
            .next_multiple_of(std::mem::align_of::<Metadata>());
        let output = size_of::<Result<crate::goroutine::Output<()>, crate::goroutine::Panic>>();
        let union = (future_size + goroutine_future).max(output);
        let task = header + union;
        // glibc malloc: an 8-byte chunk header, rounded up to 16.
        let chunk = (task + 8).next_multiple_of(16);
        let entry = crate::registry::ENTRY_BYTES;
        let handle = size_of::<crate::JoinHandle<()>>();
        eprintln!(
            "Goroutine {} B, Metadata {} B, async-task header {header} B, bench future {future_size} B \
             + GoroutineFuture {goroutine_future} B, output {output} B, task {task} B (malloc chunk {chunk} B), \
             registry entry {entry} B, JoinHandle {handle} B: {} B a parked goroutine",
            size_of::<Goroutine>(),
            size_of::<Metadata>(),
            chunk + entry + handle
        );
        if cfg!(target_pointer_width = "64") {
            assert_eq!(entry, 8, "a registry entry is one packed waker");
            assert_eq!(handle, 16, "a JoinHandle is its task and its metadata pointer");
        }
        // The estimate of the task's size is async-task's own: a spawned goroutine's waker
        // data pointer is its header, and the metadata lies within it.
        rt.block_on(async {
            let handle = crate::spawn(future);
            crate::yield_now().await;
            let records = crate::runtime::goroutines();
            assert!(records.iter().any(|r| r.id == handle.id()), "the parked goroutine is registered");
            handle.abort();
            assert!(handle.await.unwrap_err().is_cancelled());
        });
    }
}
