//! M: the scheduling state of one worker thread (Go's `m`), as the scheduler sees it.
//!
//! # Design
//!
//! A `Machine` is owned by its thread (the per-thread context in `machine.rs` holds it) and
//! is plain `Cell`s: which P it holds, whether it counts as spinning, its steal-victim RNG, its
//! OS thread id. Other threads reach an M only through its `Parker` (see `idle.rs`), or,
//! for M0, through its interrupt flag.
//!
//! # Who may touch what
//!
//! Only the owning thread reads or writes the cells; the scheduler (`sched.rs`, `blocked.rs`,
//! `syscall.rs`) changes them on that thread's behalf.

use std::cell::Cell;

use super::Parker;
use crate::loom::{Arc, AtomicBool, Ordering::Acquire};
use crate::processor::ProcessorId;

/// M: the scheduling state of one worker thread. Owned by that thread.
#[derive(Debug)]
pub struct Machine {
    pub(super) processor: Cell<Option<ProcessorId>>,
    pub(super) spinning: Cell<bool>,
    rng: Cell<u32>,
    pub(super) parker: Arc<Parker>,
    // std's `Arc`, not the shim's: M0's waker (runtime.rs, plain std code) owns the flag too,
    // and a `--cfg loom` build must still compile it. The flag itself is the shim's atomic.
    pub(super) interrupt: Option<std::sync::Arc<AtomicBool>>,
    pub(super) thread_id: Cell<u32>,
}

impl Machine {
    /// A new M for the current thread. `interrupt`, when set, makes `find_runnable` return
    /// `None` (M0 uses it for "the main future was woken").
    pub fn new(seed: u32, interrupt: Option<std::sync::Arc<AtomicBool>>) -> Self {
        Self {
            processor: Cell::new(None),
            spinning: Cell::new(false),
            rng: Cell::new(seed | 1),
            parker: Arc::new(Parker::for_current_thread()),
            interrupt,
            thread_id: Cell::new(0),
        }
    }

    /// Records the OS thread id of this M, which sysmon uses to tell a poll blocked in the
    /// kernel from one computing (0 = unknown).
    pub fn set_thread_id(&self, thread_id: u32) {
        self.thread_id.set(thread_id);
    }

    /// The P this M holds, if any.
    #[inline]
    pub fn processor(&self) -> Option<ProcessorId> {
        self.processor.get()
    }

    /// Records that this M now holds (or no longer holds) a P.
    pub fn set_processor(&self, p: Option<ProcessorId>) {
        self.processor.set(p);
    }

    /// The flag that interrupts this M (M0's "main future woken"), if it has one.
    pub fn interrupt_flag(&self) -> Option<&std::sync::Arc<AtomicBool>> {
        self.interrupt.as_ref()
    }

    pub(super) fn interrupted(&self) -> bool {
        self.interrupt.as_ref().is_some_and(|flag| flag.load(Acquire))
    }

    pub(super) fn random(&self) -> u32 {
        // xorshift32: cheap, owner-only, good enough to pick steal victims.
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng.set(x);
        x
    }
}
