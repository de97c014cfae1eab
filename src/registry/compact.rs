//! A task's waker in 8 bytes: the registry's entry for a goroutine.
//!
//! # Design
//!
//! A `Waker` is two words: its data pointer and its vtable. Every goroutine of one future type
//! shares a vtable (async-task makes one per task type), and a program has few of them, so the
//! vtable is interned as a 16-bit index into a process-wide table and packed above a 48-bit
//! data pointer (user-space addresses on the 64-bit targets gmp runs on fit; a waker whose
//! does not, or the 4,097th vtable, is refused and the registry keeps it whole). The entry
//! owns the waker it was made from: it is rebuilt from its raw parts to be cloned, woken or
//! dropped, which is what `Waker::from_raw` allows for a pair taken from a waker that was
//! forgotten.
//!
//! Interning is on the spawn path, so each thread remembers the last vtable it interned; the
//! table is read without a lock (an index is written once, before any entry names it).

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

/// A waker, owned, in one word.
pub(super) struct CompactWaker(NonZeroU64);

impl CompactWaker {
    /// Packs `waker`, or gives it back if it does not fit.
    pub(super) fn new(waker: Waker) -> Result<Self, Waker> {
        let data = waker.data().expose_provenance() as u64;
        if data >> DATA_BITS != 0 || data == 0 {
            return Err(waker);
        }
        let Some(vtable) = intern(waker.vtable()) else { return Err(waker) };
        let _owned = ManuallyDrop::new(waker); // now owned by the entry
        let packed = NonZeroU64::new(data | (vtable as u64) << DATA_BITS).expect("the data pointer is not null");
        Ok(Self(packed))
    }

    /// The waker's data pointer.
    pub(super) fn data(&self) -> *const () {
        std::ptr::with_exposed_provenance((self.0.get() & DATA_MASK) as usize)
    }

    /// The waker, borrowed (it must not be dropped).
    fn borrowed(&self) -> ManuallyDrop<Waker> {
        // Acquire pairs with the Release in `intern_slow`; the index was interned before this
        // entry was made.
        let vtable = VTABLES[(self.0.get() >> DATA_BITS) as usize].load(Ordering::Acquire);
        // SAFETY: the pair is the one of the waker this entry was made from (`new`), which it
        // owns; the vtable is `'static`. `ManuallyDrop` keeps the borrowed view from dropping
        // the entry's reference.
        ManuallyDrop::new(unsafe { Waker::from_raw(RawWaker::new(self.data(), &*vtable)) })
    }

    /// A clone of the waker.
    pub(super) fn to_waker(&self) -> Waker {
        Waker::clone(&self.borrowed())
    }
}

impl Drop for CompactWaker {
    fn drop(&mut self) {
        // The entry's reference: dropped once, here.
        drop(ManuallyDrop::into_inner(self.borrowed()));
    }
}

// SAFETY: a `Waker` is `Send`; this owns one.
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
    fn a_compact_waker_owns_one_reference_and_wakes() {
        assert_eq!(std::mem::size_of::<Option<CompactWaker>>(), 8);
        let counting = Arc::new(Counting(AtomicUsize::new(0)));
        let compact = CompactWaker::new(Waker::from(counting.clone())).unwrap_or_else(|_| panic!("fits"));
        assert_eq!(Arc::strong_count(&counting), 2, "the entry holds the waker's reference");
        assert_eq!(compact.data(), Arc::as_ptr(&counting).cast());
        compact.to_waker().wake();
        compact.to_waker().wake_by_ref();
        assert_eq!(counting.0.load(Ordering::SeqCst), 2);
        assert_eq!(Arc::strong_count(&counting), 2, "the clones were dropped, the entry's is kept");
        let again = CompactWaker::new(Waker::from(counting.clone())).unwrap_or_else(|_| panic!("fits"));
        assert_eq!(compact.0.get() >> DATA_BITS, again.0.get() >> DATA_BITS, "one vtable, one index");
        drop(compact);
        drop(again);
        assert_eq!(Arc::strong_count(&counting), 1, "dropping the entries dropped their references");
    }
}
