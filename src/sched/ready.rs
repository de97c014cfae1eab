//! Making goroutines runnable: into a P's runnext or ring, or the global queue, and when that
//! wakes an idle P (the wake-up protocol itself is described at the top of `sched.rs`).
//!
//! `ready_local`, `ready_spawned` and `ready_local_in_order` run on the M holding P `p`;
//! `ready_global` on any thread; `offer_queued_work` on sysmon.

use super::*;

impl<T: QueueItem> Scheduler<T> {
    /// Makes `item` runnable on P `p`, which the calling M holds. A yield goes to the global
    /// queue's tail while that may hold work from outside, else to the ring's tail (behind a
    /// fair batch of the global queue, if that holds overflow); anything else to runnext (the
    /// displaced item goes to the tail).
    #[inline(always)]
    pub fn ready_local(&self, p: ProcessorId, item: T, yielded: bool) {
        let metrics = &self.processors[p].metrics;
        let queue = &self.processors[p].queue;
        if yielded {
            if self.processors[p].preempt_requested() {
                // Preempted by sysmon after 10 ms (a coop point yielded): to the end of the
                // global queue, as in Go, behind everything else waiting.
                metrics.preemptions.add(1);
                self.preempted(item);
                return;
            }
            if !self.global.is_drained() {
                if self.global.may_hold_outside_work() {
                    self.yielded_behind_global(p, item);
                    return;
                }
                // Only the overflow of rings waits globally: the yielder waits behind its ring
                // and a fair batch of that taken in ahead of it, instead of a round trip
                // through the shared queue at every yield.
                self.take_global_batch(&self.processors[p]);
            }
            let position = queue.push_back_or_overflow_one(item, &self.global);
            metrics.readied_in_ring(position, queue);
            return;
        }
        self.push_runnext(p, item);
        self.wake_if_idle_after_swap();
    }

    /// Makes `item`, a goroutine just spawned by a poll on P `p` (held by the calling M),
    /// runnable in runnext, as [`ready_local`](Self::ready_local) does, but wakes an idle P
    /// only if the spawn displaced a goroutine into the ring. A spawn into an empty runnext
    /// is what the spawner's M runs next, as soon as the spawner's poll ends (a chain of
    /// spawns, a spawn then an await): a wake for it cost the spawner a futex call and the
    /// woken M a search that found nothing. If the spawner's poll goes on instead, sysmon
    /// offers the P's queue to an idle P after one of its rounds
    /// ([`offer_queued_work`](Self::offer_queued_work)), and the spinner it wakes takes
    /// runnext. Goroutines woken (not spawned) keep Go's wake at once: a consumer woken by a
    /// producer that goes on producing runs beside it.
    #[inline]
    pub fn ready_spawned(&self, p: ProcessorId, item: T) {
        if self.push_runnext(p, item) {
            self.wake_if_idle_after_swap();
        }
    }

    /// Puts `item` in P `p`'s runnext (the caller holds `p`), the goroutine it displaces at
    /// the ring's tail. True if one was displaced. Nudges a backed-off sysmon: queued work is
    /// what a stuck poll would strand.
    #[inline(always)]
    fn push_runnext(&self, p: ProcessorId, item: T) -> bool {
        let processor = &self.processors[p];
        let queue = &processor.queue;
        let (key, previous) = queue.swap_runnext_keyed(item);
        let displaced = previous.map(|(previous, key)| (key, queue.push_back_at(previous, &self.global)));
        processor.metrics.readied_in_runnext(key, displaced, queue);
        if self.sysmon_backed_off.load(Relaxed) {
            self.nudge_sysmon();
        }
        displaced.is_some()
    }

    /// sysmon's offer of the queue behind a poll that has run for one of its rounds: if P
    /// `p` has goroutines queued (a spawn that woke nobody, `ready_spawned`, or yields), an
    /// idle P's M is woken to spin, and takes them as a thief (runnext in its last round).
    /// Returns whether it found goroutines queued (and so made the offer).
    ///
    /// The look at the queue is a plain load: if it sees the goroutine, then either the
    /// wake-up below sees no spinner (the fence orders it after the spinner's decrement), or
    /// the spinner's re-check, after its own fence, sees the goroutine (loom model
    /// `spawn_offer.rs`).
    pub fn offer_queued_work(&self, p: ProcessorId) -> bool {
        let queued = !self.processors[p].queue.is_empty();
        if queued {
            self.wake_if_idle();
        }
        queued
    }

    /// Makes `item` runnable on P `p` (held by the calling M) at the ring's tail, in
    /// order with others made runnable in the same batch. Wakes no one: the batch's caller
    /// offers the batch to idle Ps once it is queued.
    pub fn ready_local_in_order(&self, p: ProcessorId, item: T) {
        let processor = &self.processors[p];
        let position = processor.queue.push_back_at(item, &self.global);
        processor.metrics.readied_in_ring(position, &processor.queue);
    }

    /// A yield while goroutines wait globally (outside spawns, preempted goroutines) is a
    /// turn for everyone, as Go's `Gosched`: the yielder goes to the global queue's tail,
    /// behind all of them, and the P takes a fair batch from its head. Queued in the ring
    /// instead, a yielder would come round again after at most a ring's worth of the global
    /// work, so a P kept busy by goroutines that yield took in outside spawns a few hundred
    /// per round of the busy ones (`spawn_many_remote_busy`). Like any yield it wakes no
    /// one: the yielder is not lost, since this P, which is running, reaches the global
    /// queue again once its ring is empty (or on its next 61st tick). Only while the global
    /// queue may hold work from outside: 1,000 yielders on 2 Ps keep it non-empty with their
    /// rings' overflow alone, and a push and a pop on the shared queue at every yield ran them
    /// at 5 M polls/s against 31 M with the ring rule (`cargo bench --bench scale -- procs`).
    #[cold]
    fn yielded_behind_global(&self, p: ProcessorId, item: T) {
        self.global.push(item);
        self.take_global_batch(&self.processors[p]);
    }

    #[cold]
    fn preempted(&self, item: T) {
        self.global.push(item);
        self.wake_if_idle();
    }

    /// Makes `item` runnable from outside any P: global queue, then wake an idle P.
    pub fn ready_global(&self, item: T) {
        self.global.push_from_outside(item);
        self.wake_if_idle();
    }
}
