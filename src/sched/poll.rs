//! The poll boundary: what the scheduler does at the start and end of every goroutine poll
//! (the per-thread context's `polling` and `gmp::syscall` call it; so do the loom models).
//!
//! # Design
//!
//! A poll start makes the P's `polls` odd and names the goroutine (sysmon samples both to tell
//! a stuck poll from a busy P without a clock read here); a poll end makes `polls` even, records
//! the poll's time if it was timed, and is where an M learns that sysmon marked its P blocked
//! while it polled: then it takes the return path, `leave_blocked` (`blocked.rs`). Both ends
//! are on the hot path: two relaxed stores, and one relaxed load of the mark, per poll.
//!
//! # Who may touch what
//!
//! Only the M holding the P calls these.

use super::*;

impl<T: QueueItem> Scheduler<T> {
    /// M `m` starts a poll of goroutine `goroutine` (`None`: an unnamed one, as after a
    /// syscall) on the P it holds, if any; returns that P (its `preempt` flag is the poll's
    /// cooperative-preemption flag).
    #[inline(always)]
    pub fn start_poll(&self, m: &Machine, goroutine: Option<u64>) -> Option<&Processor<T>> {
        let processor = &self.processors[m.processor()?];
        match goroutine {
            Some(goroutine) => processor.poll_started_by(goroutine),
            None => processor.poll_started(),
        }
        Some(processor)
    }

    /// M `m` ends a poll on the P it holds now (`gmp::syscall` may have moved it to another P
    /// during the poll, or left it without one). If sysmon marked that P blocked meanwhile,
    /// the M retires a P (`leave_blocked`).
    #[inline(always)]
    pub fn finish_poll(&self, m: &Machine) {
        if let Some(p) = m.processor() {
            let processor = &self.processors[p];
            processor.poll_finished();
            processor.metrics.poll_finished();
            if processor.is_blocked() {
                self.leave_blocked(m, p);
            }
        }
    }
}
