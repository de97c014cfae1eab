//! The scheduler's hooks into the rest of the runtime: starting threads, timers and the
//! netpoller. `sched.rs` is generic (loom models run it over mock items); this file is where
//! the real runtime plugs in.

use std::sync::Weak;
use std::time::Instant;

use crate::machine::as_batch_wake;
use crate::runtime::Shared;
use crate::sched::{Platform, Wakeup};

/// The scheduler's view of one runtime.
pub(crate) struct RuntimePlatform {
    pub(crate) shared: Weak<Shared>,
}

impl Platform for RuntimePlatform {
    fn start_machine(&self, wakeup: Wakeup) -> bool {
        self.shared.upgrade().is_some_and(|shared| shared.start_thread(wakeup))
    }

    fn run_timers(&self, processor: usize) {
        if let Some(shared) = self.shared.upgrade() {
            shared.timers.run_due(processor, Instant::now());
        }
    }

    fn poll_network_now(&self) -> bool {
        self.shared.upgrade().is_some_and(|shared| as_batch_wake(&shared, || shared.netpoll.poll_now()))
    }

    fn poll_network_eager(&self) -> bool {
        self.shared.upgrade().is_some_and(|shared| as_batch_wake(&shared, || shared.netpoll.poll_now_eager()))
    }

    fn block_in_network(&self, has_work: &dyn Fn() -> bool, before_waking: &dyn Fn()) -> bool {
        let Some(shared) = self.shared.upgrade() else { return false };
        let deadline = shared.timers.next_deadline();
        let Some(ready) = shared.netpoll.block_until_ready(deadline, has_work) else { return false };
        before_waking();
        as_batch_wake(&shared, || ready.wake());
        shared.timers.run_all_due(Instant::now());
        true
    }

    fn wake_network(&self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.netpoll.notify();
        }
    }
}
