//! The rescue: a busy P takes the queue of a P whose poll stands still (its M descheduled by
//! the OS in the middle of a poll, or running a long one), on its global-queue rounds.
//!
//! Only a P's owner M runs this, for its own P; the victim's queue is taken with the
//! thieves' operations (`steal_half_counted`, `take_runnext`), so the victim's owner and
//! other thieves race it as they race any thief (loom model `loom-tests/tests/rescue.rs`).
//! The watch (`watched`, `watched_polls`) is the rescuing P's own state.

use super::*;

impl<T: QueueItem> Scheduler<T> {
    /// On a busy P's global-queue round (every `rescue_every`th, about every 200 µs): if the
    /// P it watches has not moved on to another poll since the previous look, its queue is
    /// taken in half as a thief takes it (its runnext if the ring is empty), then the next P
    /// is watched. Such a P's M is descheduled by the OS in the middle of a poll or runs a
    /// long one; its goroutines would otherwise wait for it, or until this M runs dry, which
    /// under load it does not. Two M threads and a client on 2 CPUs: 10-40 times a second a P
    /// with goroutines queued stood still for over a millisecond, its thread runnable. A P is
    /// taken from only after standing still for a whole look-to-look period; one whose polls
    /// keep ending is never taken from here. A P marked blocked is sysmon's (it hands the
    /// queue to a spare P).
    #[cold]
    pub(super) fn rescue_stalled(&self, p: ProcessorId) -> Option<T> {
        // At least 2: rescues are on only with maxprocs > 1, and Ps are never removed.
        let count = self.processors.len();
        let processor = &self.processors[p];
        let (watched, seen) = processor.watch();
        let rescued = (watched != p)
            .then(|| &self.processors[watched])
            .filter(|victim| {
                victim.polls() == seen && victim.status() == ProcessorStatus::Running && !victim.is_blocked()
            })
            .and_then(|victim| self.take_from_stalled(p, victim));
        // Idle Ps (the spares, mostly) are skipped, so a busy P comes round every few rounds.
        let next = (1..=count)
            .map(|offset| (watched + offset) % count)
            .find(|&next| next != p && self.processors[next].status() != ProcessorStatus::Idle)
            .unwrap_or(p);
        processor.set_watch(next, self.processors[next].polls());
        rescued
    }

    /// Half of stalled `victim`'s ring, else its runnext, for P `p` (its owner): counted as a
    /// steal and a rescue.
    fn take_from_stalled(&self, p: ProcessorId, victim: &Processor<T>) -> Option<T> {
        let own = &self.processors[p];
        let (item, goroutines) = victim
            .queue
            .steal_half_counted(&own.queue)
            .or_else(|| victim.queue.take_runnext().map(|item| (item, 1)))?;
        self.stole(p, victim, goroutines);
        own.metrics.rescues.add(1);
        Some(item)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A goroutine stand-in: its id, boxed (`Box<T>` is a `QueueItem`).
    type Id = Box<u32>;

    /// Two Ps: P0's M has started a poll and has goroutines 1..=4 queued behind it; P1's M
    /// has goroutines 100..200 and, after its first 61 rounds, looks at the global queue (and,
    /// after its first `RESCUE_EVERY` of those, the watched P) every round.
    fn one_p_in_a_poll_one_busy() -> (Scheduler<Id>, Machine, Machine) {
        let sched = Scheduler::new(2, 0);
        let in_poll = Machine::new(1, None);
        let busy = Machine::new(2, None);
        sched.bind(&in_poll, sched.acquire_idle_processor().unwrap());
        sched.bind(&busy, sched.acquire_idle_processor().unwrap());
        assert!(sched.start_poll(&in_poll, Some(100)).is_some());
        let (p0, p1) = (in_poll.processor().unwrap(), busy.processor().unwrap());
        for id in 1..=4 {
            sched.ready_local_in_order(p0, Box::new(id));
        }
        for id in OWN {
            sched.ready_local_in_order(p1, Box::new(id));
        }
        sched.processors[p1].set_global_interval(1);
        sched.processors[p1].set_rescue_every(1);
        (sched, in_poll, busy)
    }

    const OWN: std::ops::Range<u32> = 100..200;

    fn ids(items: impl IntoIterator<Item = Id>) -> Vec<u32> {
        let mut ids: Vec<u32> = items.into_iter().map(|id| *id).collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn a_busy_p_takes_the_queue_of_a_p_whose_poll_does_not_end() {
        let (sched, in_poll, busy) = one_p_in_a_poll_one_busy();
        let p0 = in_poll.processor().unwrap();
        let ran: Vec<Id> = (0..104).map(|_| sched.next(&busy).expect("work is queued")).collect();
        assert_eq!(ids(ran), (1..=4).chain(OWN).collect::<Vec<_>>(), "every goroutine once");
        assert!(sched.processors[p0].queue.is_empty(), "P0's queue was taken in");
        let counters = sched.processors[busy.processor().unwrap()].metrics.counters(0);
        // Half of the ring, then half of the rest...: all of it before P1 ran out of its own.
        assert!(counters.rescues >= 2, "taken in halves: {counters:?}");
        assert_eq!(counters.rescues, counters.steals, "no steal of an M out of work: {counters:?}");
    }

    #[test]
    fn a_p_whose_polls_keep_ending_is_not_taken_from() {
        let (sched, in_poll, busy) = one_p_in_a_poll_one_busy();
        let p0 = in_poll.processor().unwrap();
        let mut ran = Vec::new();
        for _ in OWN {
            ran.push(sched.next(&busy).expect("work is queued"));
            // P0's M ends its poll and starts the next one between any two rounds of P1.
            sched.finish_poll(&in_poll);
            assert!(sched.start_poll(&in_poll, Some(100)).is_some());
        }
        assert_eq!(ids(ran), OWN.collect::<Vec<_>>());
        assert_eq!(sched.processors[p0].queue.len(), 4);
        assert_eq!(sched.processors[busy.processor().unwrap()].metrics.counters(0).rescues, 0);
    }

    #[test]
    fn a_p_marked_blocked_is_left_to_sysmon() {
        let (sched, in_poll, busy) = one_p_in_a_poll_one_busy();
        let p0 = in_poll.processor().unwrap();
        assert!(sched.mark_blocked(p0));
        let ran: Vec<Id> = OWN.map(|_| sched.next(&busy).expect("work is queued")).collect();
        assert_eq!(ids(ran), OWN.collect::<Vec<_>>());
        assert_eq!(sched.processors[busy.processor().unwrap()].metrics.counters(0).rescues, 0);
    }
}
