//! Timers (stub: filled in by the netpoll/timers issue).

use std::time::Instant;

/// Every P's timers.
#[derive(Debug)]
pub(crate) struct Timers {}

impl Timers {
    pub(crate) fn new(_processors: usize) -> Self {
        Self {}
    }

    /// Owner of P `processor`: fires its timers due at `now`.
    pub(crate) fn run_due(&self, _processor: usize, _now: Instant) {}

    /// Any thread: fires every P's timers due at `now`.
    pub(crate) fn run_all_due(&self, _now: Instant) {}

    /// The earliest pending deadline over all Ps.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        None
    }
}
