//! The scheduler's hooks into the rest of the runtime: starting threads, timers, the
//! netpoller and the execution trace's steal event. `sched.rs` is generic (loom models run it
//! over mock items); this file is where the real runtime plugs in.

use std::sync::{Arc, Weak};

use crate::context::as_batch_wake;
use crate::runtime::shared::Shared;
use crate::sched::{Machine, Platform, Wakeup};

/// The scheduler's view of one runtime.
///
/// The platform is owned by the runtime's own scheduler (`Shared::sched`), and the scheduler
/// only calls it through a borrow of itself, so the runtime is alive for every call: the hooks
/// reach it through a plain pointer. (They used to upgrade a `Weak` on every call, a CAS on the
/// runtime's reference count — shared by every thread, and next to the scheduler's hottest
/// read-only fields — from every find-work pass.) Only starting a
/// thread needs an owned `Arc`, which the `Weak` gives.
pub(crate) struct RuntimePlatform {
    shared: *const Shared,
    owner: Weak<Shared>,
}

// SAFETY: `Shared` is `Send + Sync`; the pointer is only dereferenced while `Shared` is alive
// (see the type's docs).
unsafe impl Send for RuntimePlatform {}
// SAFETY: as above.
unsafe impl Sync for RuntimePlatform {}

impl RuntimePlatform {
    /// The hooks for `shared`, which must own them (through its scheduler).
    pub(crate) fn new(shared: &Arc<Shared>) -> Self {
        Self { shared: Arc::as_ptr(shared), owner: Arc::downgrade(shared) }
    }

    fn shared(&self) -> &Shared {
        // SAFETY: the scheduler that owns this platform lives inside `*self.shared` and calls
        // it only through a borrow of itself, so `*self.shared` outlives the call.
        unsafe { &*self.shared }
    }
}

impl Platform for RuntimePlatform {
    fn start_machine(&self, wakeup: Wakeup) -> bool {
        self.owner.upgrade().is_some_and(|shared| shared.start_thread(wakeup))
    }

    fn run_timers(&self, processor: usize) {
        self.shared().timers.run_due_now(processor);
    }

    fn poll_network_now(&self) -> bool {
        let shared = self.shared();
        as_batch_wake(shared, || shared.netpoll.poll_now())
    }

    fn block_in_network(&self, has_work: &dyn Fn() -> bool, before_waking: &dyn Fn()) -> bool {
        let shared = self.shared();
        // The nearest timer, as a real instant (none while the clock is paused: sysmon
        // advances a paused clock, waiting does not).
        let deadline = shared.timers.next_deadline().and_then(|deadline| shared.timers.clock.real_deadline(deadline));
        // M0 also declines to block if its main future was woken (it goes to poll it).
        let declined = || has_work() || crate::runtime::main_thread_in_network(true);
        let ready = shared.netpoll.block_until_ready(deadline, &declined);
        crate::runtime::main_thread_in_network(false);
        let Some(ready) = ready else { return false };
        before_waking();
        as_batch_wake(shared, || ready.wake());
        shared.timers.run_all_due(shared.timers.now());
        true
    }

    fn wake_network(&self) {
        self.shared().netpoll.notify();
    }

    fn network_is_polled(&self) -> bool {
        self.shared().netpoll.has_blocked_waiter()
    }

    fn has_timers(&self, processor: usize) -> bool {
        self.shared().timers.has_pending(processor)
    }

    fn stolen(&self, m: &Machine, from: usize, to: usize, goroutines: usize) {
        crate::runtime::trace::stolen(self.shared(), m, from, to, goroutines);
    }
}
