//! The netpoller (stub: filled in by the netpoll issue).

use std::io;
use std::time::Instant;

/// The runtime's one `polling::Poller` and the goroutines waiting on it.
#[derive(Debug)]
pub(crate) struct Netpoller {}

impl Netpoller {
    pub(crate) fn new() -> io::Result<Self> {
        Ok(Self {})
    }

    /// Polls without blocking, if goroutines wait on I/O and nobody polled recently.
    /// Returns true if it made any goroutine runnable.
    pub(crate) fn poll_now(&self) -> bool {
        false
    }

    /// Blocks in the poller until I/O is ready, `deadline` passes, or `notify` is called.
    /// Only one M may block at a time: returns false at once (without blocking) if another M
    /// is already blocked here, or if `has_work()` is already true.
    pub(crate) fn block_until(&self, _deadline: Option<Instant>, _has_work: &dyn Fn() -> bool) -> bool {
        false
    }

    /// Breaks a blocked `block_until`.
    pub(crate) fn notify(&self) {}
}
