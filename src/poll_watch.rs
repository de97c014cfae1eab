//! Which goroutine each P is polling, and since when: what `goroutines()`, `dump()` and the
//! long-poll warning need to name a goroutine that blocks its thread inside a poll.
//!
//! # Design
//!
//! The facts live on the P, not on the goroutine (whose allocation must not grow):
//!
//! - At each poll start the M stores the goroutine's id in its P's `running` (one relaxed
//!   store, on the cache line where it already bumps `polls`).
//! - sysmon, which samples every busy P's `polls` each round for preemption anyway, stores in
//!   `poll_seen` the `polls` value it saw change and the coarse clock (ms) at that first
//!   sighting. The poll path never reads a clock.
//!
//! A reader pairs them: a P whose `polls` is odd (inside a poll) and whose `poll_seen` names
//! that same `polls` value has been polling `running` since `poll_seen`'s time, give or take
//! a sysmon round. A poll younger than one round shows as running on its P with no age yet.
//! All of it is a relaxed snapshot: a poll may end while it is read (then a goroutine that
//! has just parked may show its last P; the state read from the goroutine itself tells).

use std::time::Duration;

use crate::goroutine::GoroutineState;
use crate::processor::Processor;
use crate::registry::GoroutineRecord;
use crate::runtime::shared::Shared;

/// sysmon: the poll now running on `processor` (its `polls` is `polls`, odd) was first seen
/// at coarse time `now_ms`.
pub(crate) fn note_first_sighting<T: crate::runq::QueueItem>(processor: &Processor<T>, polls: u64, now_ms: u32) {
    processor.set_poll_seen(((polls as u32 as u64) << 32) | now_ms as u64);
}

/// One poll in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RunningPoll {
    pub(crate) processor: usize,
    pub(crate) goroutine: u64,
    /// Coarse time (ms) sysmon first saw it, if it has.
    pub(crate) since_ms: Option<u32>,
}

/// The polls running on the Ps now.
pub(crate) fn running_polls(shared: &Shared) -> Vec<RunningPoll> {
    let mut polls = Vec::new();
    for (index, processor) in shared.sched.processors.iter().enumerate() {
        let count = processor.polls();
        if count % 2 == 0 {
            continue;
        }
        let goroutine = processor.running();
        if goroutine == 0 {
            continue;
        }
        let seen = processor.poll_seen();
        let since_ms = (seen >> 32 == count & u32::MAX as u64).then_some(seen as u32);
        polls.push(RunningPoll { processor: index, goroutine, since_ms });
    }
    polls
}

/// Every live goroutine (the registry's records), with the P and poll age of those running.
pub(crate) fn goroutines(shared: &Shared) -> Vec<GoroutineRecord> {
    let mut records = shared.registry.records();
    let now = shared.update_coarse_clock();
    for poll in running_polls(shared) {
        let Ok(at) = records.binary_search_by_key(&poll.goroutine, |r| r.id) else { continue };
        let record = &mut records[at];
        if record.state != GoroutineState::Running {
            continue; // the poll ended while we looked
        }
        record.processor = Some(poll.processor);
        record.running_for = poll.since_ms.map(|since| Duration::from_millis(now.saturating_sub(since) as u64));
    }
    records
}
