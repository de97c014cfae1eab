//! The netpoller's handshake (`src/netpoll/gate.rs`) under loom: one M blocks in the poller
//! while another polls it without blocking and a third thread notifies. The notification must
//! never be lost: the blocker either sees it before waiting or is woken by it.
//!
//! The poller is a mock: a pending wake-up byte, which `notify` writes, a blocking wait takes
//! (sleeping until there is one), and a non-blocking poll drains if it is there — as the real
//! socket-pair notifier is drained by whichever `epoll_wait` sees its event. A lost
//! notification leaves the blocker asleep for good, which loom reports as a deadlock.
//!
//! This model found the lost wake-up of the original code: a non-blocking poll holding the
//! buffer drained the byte written for a blocker that had already passed its `notified` check.
#![cfg(loom)]

use gmp::loom_exports::{GateOutcome, WaitGate};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

/// The mock poller: is a wake-up byte pending?
struct MockPoller {
    byte: Mutex<bool>,
    readable: Condvar,
}

impl MockPoller {
    fn new() -> Self {
        Self { byte: Mutex::new(false), readable: Condvar::new() }
    }

    /// `notify`'s write of the wake-up byte.
    fn write(&self) {
        *self.byte.lock().unwrap() = true;
        self.readable.notify_all();
    }

    /// A wait without timeout: sleeps until a byte is pending, then drains it.
    fn wait_forever(&self) {
        let mut byte = self.byte.lock().unwrap();
        while !*byte {
            byte = self.readable.wait(byte).unwrap();
        }
        *byte = false;
    }

    /// A zero-timeout wait: drains a pending byte, if any.
    fn poll_now(&self) {
        *self.byte.lock().unwrap() = false;
    }
}

#[test]
fn a_notify_racing_a_non_blocking_poll_always_ends_the_blocked_wait() {
    loom_tests::model(|| {
        let poller = Arc::new(MockPoller::new());
        let gate = Arc::new(WaitGate::new(()));
        let polling = thread::spawn({
            let (poller, gate) = (poller.clone(), gate.clone());
            move || {
                gate.try_poll(|_| poller.poll_now());
            }
        });
        let notifying = thread::spawn({
            let (poller, gate) = (poller.clone(), gate.clone());
            move || gate.notify(|| poller.write())
        });
        let outcome = gate.block(|| false, |_| poller.wait_forever());
        assert!(matches!(outcome, GateOutcome::Notified | GateOutcome::Waited(())), "{outcome:?}");
        polling.join().unwrap();
        notifying.join().unwrap();
    });
}
