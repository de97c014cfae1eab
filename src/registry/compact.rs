//! A task's waker in 8 bytes: the registry's entry for a goroutine.
//!
//! # Design
//!
//! A `Waker` is two words: its data pointer and its vtable. Every goroutine of one future type
//! shares a vtable (async-task makes one per task type), and a program has few of them, so the
//! vtable is interned as a 16-bit index into a process-wide table and packed above a 48-bit
//! data pointer (user-space addresses on the 64-bit targets gmp runs on fit; a waker whose
//! does not, or the 4,097th vtable, is refused and the registry keeps it whole). The entry
//! is made from a task's raw pointer and its task type's vtable, and holds **no reference**
//! of its own (a waker clone and its drop are two atomic RMWs on the task's state, a quarter
//! of a goroutine's registry cost). That is sound because the goroutine removes its entry
//! when its future is dropped, waiting out any reader of its shard (`slots.rs`), and
//! async-task drops a task's future before it frees the task: an entry a reader sees always
//! names a live task, which is all that cloning it (`to_waker`) needs. A goroutine that parks takes a
//! reference for its entry then (`GoroutineFuture`), which keeps a goroutine that nobody
//! else can wake alive, as Go keeps it; the entry's owner says at removal whether it did.
//!
//! A task type's vtable is learned once per thread from one real waker of that type (async-task
//! makes one vtable per task type: every waker of a type has the same functions), keyed by
//! the type's `TypeId`.
//!
//! Interning is on the spawn path, so each thread remembers the last vtable it interned; the
//! table is read without a lock (an index is written once, before any entry names it).

use std::any::TypeId;
use std::mem::ManuallyDrop;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Mutex;
use std::task::{RawWaker, RawWakerVTable, Waker};

/// How many vtables can be interned.
const VTABLE_LIMIT: usize = 1 << 12;
/// The bits of an entry that hold the data pointer.
const DATA_BITS: u32 = 48;
const DATA_MASK: u64 = (1 << DATA_BITS) - 1;

/// The interned vtables, by index (null: not yet used).
static VTABLES: [AtomicPtr<RawWakerVTable>; VTABLE_LIMIT] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; VTABLE_LIMIT];
/// How many vtables are interned; held while interning one.
static INTERNED: Mutex<usize> = Mutex::new(0);

crate::loom::thread_local! {
    /// The last vtable this thread interned, and its index.
    static LAST: std::cell::Cell<(usize, u16)> = const { std::cell::Cell::new((0, 0)) };
}

/// The index of `vtable`, interning it if it is new; `None` if the table is full.
fn intern(vtable: &'static RawWakerVTable) -> Option<u16> {
    let address = vtable as *const RawWakerVTable as usize;
    let (last, index) = LAST.with(std::cell::Cell::get);
    if last == address {
        return Some(index);
    }
    let index = intern_slow(vtable)?;
    LAST.with(|cell| cell.set((address, index)));
    Some(index)
}

#[cold]
fn intern_slow(vtable: &'static RawWakerVTable) -> Option<u16> {
    let mut interned = INTERNED.lock().unwrap_or_else(|e| e.into_inner());
    let wanted = vtable as *const RawWakerVTable as *mut RawWakerVTable;
    if let Some(index) = (0..*interned).find(|&i| VTABLES[i].load(Ordering::Relaxed) == wanted) {
        return Some(index as u16);
    }
    if *interned == VTABLE_LIMIT {
        return None;
    }
    VTABLES[*interned].store(wanted, Ordering::Release);
    *interned += 1;
    Some((*interned - 1) as u16)
}

crate::loom::thread_local! {
    /// The last task type this thread packed an entry for, and its vtable's index.
    static LAST_TASK_TYPE: std::cell::Cell<Option<(TypeId, u16)>> = const { std::cell::Cell::new(None) };
}

/// The interned index of the waker vtable of the task type `key` names, learned from
/// `waker()` (one real waker of a task of that type) the first time this thread sees `key`;
/// `None` if the table is full.
fn task_vtable(key: TypeId, waker: impl FnOnce() -> Waker) -> Option<u16> {
    if let Some((last, index)) = LAST_TASK_TYPE.with(std::cell::Cell::get) {
        if last == key {
            return Some(index);
        }
    }
    let index = intern(waker().vtable())?;
    LAST_TASK_TYPE.with(|cell| cell.set(Some((key, index))));
    Some(index)
}

/// A task's waker in one word, holding no reference (module docs).
pub(super) struct CompactWaker(NonZeroU64);

impl CompactWaker {
    /// The entry of the task at `data` (its waker's data pointer), of the task type that
    /// `task_type` names (one `TypeId` for every task of one type, and only for them); `waker`
    /// makes one real waker of it, called only the first time this thread sees the type.
    /// `None` if the pointer or the vtable does not fit.
    pub(super) fn for_task(data: *const (), task_type: TypeId, waker: impl FnOnce() -> Waker) -> Option<Self> {
        let data = data.expose_provenance() as u64;
        // An odd pointer would read as a free slot (`slots.rs`); a task's never is.
        if data >> DATA_BITS != 0 || data == 0 || data & 1 != 0 {
            return None;
        }
        let vtable = task_vtable(task_type, waker)?;
        Some(Self(NonZeroU64::new(data | (vtable as u64) << DATA_BITS).expect("the data pointer is not null")))
    }

    /// The entry as a slot's value (not 0, low bit 0: `for_task` refuses odd pointers).
    pub(super) fn into_bits(self) -> u64 {
        self.0.get()
    }

    /// The entry a slot's value holds (`into_bits`). It holds no reference, so making one is
    /// safe; using it as a waker is what needs the task alive.
    pub(super) fn from_bits(bits: u64) -> Option<Self> {
        NonZeroU64::new(bits).map(Self)
    }

    /// The waker's data pointer.
    pub(super) fn data(&self) -> *const () {
        std::ptr::with_exposed_provenance((self.0.get() & DATA_MASK) as usize)
    }

    /// The waker, borrowed (it must not be dropped: the entry holds no reference).
    ///
    /// # Safety
    /// The task must be alive: the caller reads the entry as a reader of its shard, or is the
    /// entry's goroutine leaving (`slots.rs`: the entry goes before the task's future is
    /// dropped, and so before the task is freed).
    unsafe fn borrowed(&self) -> ManuallyDrop<Waker> {
        // Acquire pairs with the Release in `intern_slow`; the index was interned before this
        // entry was made.
        let vtable = VTABLES[(self.0.get() >> DATA_BITS) as usize].load(Ordering::Acquire);
        // SAFETY: the data pointer is a live task's (the caller's contract) and the vtable is
        // the one of every waker of that task's type (`for_task`); it is `'static`.
        // `ManuallyDrop` keeps the view from dropping a reference it does not hold.
        ManuallyDrop::new(unsafe { Waker::from_raw(RawWaker::new(self.data(), &*vtable)) })
    }

    /// A clone of the waker (one new reference to the task).
    ///
    /// # Safety
    /// As for `borrowed`: the task is alive.
    pub(super) unsafe fn to_waker(&self) -> Waker {
        // SAFETY: the caller's contract.
        Waker::clone(unsafe { &self.borrowed() })
    }

    /// Gives up the entry, dropping the reference its goroutine took for it when it parked
    /// (`counted`), if it did.
    ///
    /// # Safety
    /// As for `borrowed`; `counted` must be true exactly when such a reference was taken.
    pub(super) unsafe fn release(self, counted: bool) {
        if counted {
            // SAFETY: the caller's contract; the reference the goroutine took is dropped once.
            drop(ManuallyDrop::into_inner(unsafe { self.borrowed() }));
        }
    }
}

// SAFETY: it names a task whose wakers are `Send`, and holds nothing itself.
unsafe impl Send for CompactWaker {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::task::Wake;

    struct Counting(AtomicUsize);

    impl Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_compact_waker_holds_no_reference_until_told_and_wakes() {
        assert_eq!(std::mem::size_of::<Option<CompactWaker>>(), 8);
        let counting = Arc::new(Counting(AtomicUsize::new(0)));
        let data = Arc::as_ptr(&counting).cast::<()>();
        let mut learned = 0;
        let mut pack = || {
            CompactWaker::for_task(data, TypeId::of::<Counting>(), || {
                learned += 1;
                Waker::from(counting.clone())
            })
            .expect("fits")
        };
        let compact = pack();
        let again = pack();
        assert_eq!(learned, 1, "one real waker per thread and task type");
        assert_eq!(Arc::strong_count(&counting), 1, "the entries hold no reference");
        assert_eq!(compact.data(), data);
        assert_eq!(compact.0.get() >> DATA_BITS, again.0.get() >> DATA_BITS, "one vtable, one index");
        // SAFETY: `counting` is alive for the whole test.
        unsafe {
            compact.to_waker().wake();
            compact.to_waker().wake_by_ref();
        }
        assert_eq!(counting.0.load(Ordering::SeqCst), 2);
        assert_eq!(Arc::strong_count(&counting), 1, "the clones were dropped");
        // A goroutine that parks takes a reference for its entry; the release drops it.
        std::mem::forget(Waker::from(counting.clone()));
        assert_eq!(Arc::strong_count(&counting), 2);
        // SAFETY: `counting` is alive; `compact`'s release drops the one reference forgotten
        // above, `again` took none.
        unsafe {
            compact.release(true);
            again.release(false);
        }
        assert_eq!(Arc::strong_count(&counting), 1, "the counted release dropped its reference");
    }
}
