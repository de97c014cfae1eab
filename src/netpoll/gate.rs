//! The handshake around the netpoller's one event buffer: the M that blocks in the poller,
//! the Ms that poll it without blocking, and `notify`, which must break the blocked wait.
//!
//! - `blocked` says an M is blocked in (or about to enter) the wait; non-blocking pollers
//!   keep away meanwhile, and `notify` wakes the poller only then.
//! - `notified` records a notification nobody has consumed: the blocker sets `blocked`, then
//!   reads `notified`; `notify` sets `notified`, then reads `blocked` (both `SeqCst`, with a
//!   fence on the notify side), so one of them sees the other.
//! - the buffer's lock: whoever holds it is the one thread inside the poller's wait.
//!
//! The window this file closes: a non-blocking poller that read `blocked` clear may still
//! hold the buffer when an M sets `blocked` and passes its `notified` check. A `notify` then
//! sees `blocked` and writes its wake-up to the poller, and the non-blocking poll reads and
//! drains it; the blocker, once it gets the buffer, would sleep with a stale timeout (a late
//! timer, a stalled main future, a shutdown hanging in an endless wait). So the blocker reads
//! `notified` again after taking the buffer: from then on nobody else can drain a wake-up.
//! `loom-tests/tests/netpoll.rs` models the three parties.
//!
//! Generic over the buffer (the real one is `wait::EventBuffer`), so loom can run it.

use crate::loom::{fence, lock, AtomicBool, Mutex, Ordering::*};

/// How [`WaitGate::block`] went.
#[derive(Debug, PartialEq, Eq)]
pub enum GateOutcome<R> {
    /// Another M is the blocker; the caller must park some other way.
    Taken,
    /// `has_work` said not to block.
    Declined,
    /// A notification arrived before the wait began; nothing was waited for.
    Notified,
    /// The wait ran, with this result.
    Waited(R),
}

/// The blocker / non-blocking pollers / notify handshake (see the module docs).
#[derive(Debug)]
pub struct WaitGate<B> {
    blocked: AtomicBool,
    notified: AtomicBool,
    buffer: Mutex<B>,
}

impl<B> WaitGate<B> {
    /// A gate around `buffer`.
    pub fn new(buffer: B) -> Self {
        Self { blocked: AtomicBool::new(false), notified: AtomicBool::new(false), buffer: Mutex::new(buffer) }
    }

    /// True while an M is blocked in (or about to enter) the wait (a snapshot; `SeqCst` so
    /// that sysmon's handoff decision orders with the blocker's `SeqCst` store).
    pub fn is_blocked(&self) -> bool {
        self.blocked.load(SeqCst)
    }

    /// Runs `poll` on the buffer (a non-blocking look at the poller), unless an M is blocked
    /// there or another thread holds the buffer.
    pub fn try_poll<R>(&self, poll: impl FnOnce(&mut B) -> R) -> Option<R> {
        if self.blocked.load(Relaxed) {
            return None;
        }
        let mut buffer = match self.buffer.try_lock() {
            Ok(buffer) => buffer,
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        Some(poll(&mut buffer))
    }

    /// Becomes the blocker and runs `wait` (the blocking wait, and whatever must be done with
    /// the buffer afterwards), unless another M is the blocker, `has_work()` says not to (it is
    /// asked after this M has become the blocker, so anything announced by a `notify` before
    /// is seen by it or by the `notified` check), or a notification is pending.
    pub fn block<R>(&self, has_work: impl FnOnce() -> bool, wait: impl FnOnce(&mut B) -> R) -> GateOutcome<R> {
        if self.blocked.swap(true, SeqCst) {
            return GateOutcome::Taken;
        }
        // Pairs with the fence in `notify` (Dekker's pattern: each side publishes, fences,
        // then reads the other's flag). loom models `SeqCst` loads and stores as acquire and
        // release only, so without this fence it finds the notification lost; the C++ model
        // agrees that the fence belongs on both sides.
        fence(SeqCst);
        if has_work() {
            self.blocked.store(false, SeqCst);
            return GateOutcome::Declined;
        }
        if self.take_notification() {
            self.blocked.store(false, SeqCst);
            return GateOutcome::Notified;
        }
        let mut buffer = lock(&self.buffer);
        // A non-blocking poll may have held the buffer until now and drained a wake-up meant
        // for us (module docs): look again, now that nobody else can drain one.
        if self.take_notification() {
            drop(buffer);
            self.blocked.store(false, SeqCst);
            return GateOutcome::Notified;
        }
        let result = wait(&mut buffer);
        self.notified.store(false, Relaxed);
        self.blocked.store(false, SeqCst);
        GateOutcome::Waited(result)
    }

    /// Consumes a pending notification. A load and a store rather than a swap: a `notify`
    /// between the two is consumed too, which is harmless (the caller returns without waiting
    /// and re-checks everything), and loom 0.7 lets an RMW read this thread's own older store
    /// instead of the notifier's newer one (loom#254), which reported lost notifications that
    /// cannot happen.
    fn take_notification(&self) -> bool {
        if !self.notified.load(SeqCst) {
            return false;
        }
        self.notified.store(false, SeqCst);
        true
    }

    /// Records a notification and, if an M is blocked, calls `wake` to break its wait.
    pub fn notify(&self, wake: impl FnOnce()) {
        self.notified.store(true, SeqCst);
        // Pairs with `block`: it sets `blocked` then reads `notified`; we set `notified` then
        // read `blocked`. One of us sees the other.
        fence(SeqCst);
        if self.blocked.load(SeqCst) {
            wake();
        }
    }
}
