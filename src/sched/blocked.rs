//! What sysmon needs of the scheduler: marking a stuck P blocked and standing a spare P in
//! for it, and sysmon's own sleep and wake-up (see `sysmon.rs`).
//!
//! Both halves of blocked marking live here: sysmon's `mark_blocked` and the return path
//! `leave_blocked`, which the end of every poll (`finish_poll`, `poll.rs`) takes when it sees
//! the mark. The loom models `blocked.rs` and `handoff.rs` call these same methods.

use super::*;

impl<T: QueueItem> Scheduler<T> {
    #[cold]
    pub(super) fn nudge_sysmon(&self) {
        if self.sysmon_backed_off.swap(false, Relaxed) {
            if let Some(thread) = self.sysmon.get() {
                thread.unpark();
            }
        }
    }

    /// sysmon: announces that its tick is now longer than the minimum (or not).
    pub fn set_sysmon_backed_off(&self, backed_off: bool) {
        self.sysmon_backed_off.store(backed_off, Relaxed);
    }

    /// sysmon: true if someone nudged it since it announced a back-off.
    pub fn sysmon_was_nudged(&self) -> bool {
        !self.sysmon_backed_off.load(Relaxed)
    }

    /// sysmon: the poll running on P `p` is stuck. Marks the P blocked (thieves then take
    /// its runnext at once) and puts a spare P to work so `maxprocs` Ps keep running
    /// goroutines. Returns false if the P was already marked.
    ///
    /// The P's `blocked_polls` counter moves before the mark is set, so whoever sees the P's
    /// queue come back through the global queue after `leave_blocked` also sees it counted
    /// (tests/metrics.rs tells a run with re-queued goroutines apart by it).
    ///
    /// Only sysmon sets the mark, and it counts the spare in `extra` *before* it sets the mark:
    /// an M that sees the mark at its poll boundary then always finds the spare counted and
    /// retires a P. (Marking first let an M clear the mark in between and keep its P while the
    /// spare ran too: `maxprocs + 1` Ps for good. loom-tests/tests/blocked.rs.)
    pub fn mark_blocked(&self, p: ProcessorId) -> bool {
        let processor = &self.processors[p];
        if processor.is_blocked_synced() {
            return false;
        }
        let spare = {
            let mut idle = lock(&*self.idle);
            if idle.spares.is_empty() {
                // More polls stuck at once than spares: add a chunk of Ps (bounded by the
                // thread limit, which bounds the stuck polls).
                if let Some(added) = self.processors.grow() {
                    idle.spares.extend(added.rev());
                }
            }
            idle.spares.pop()
        };
        processor.metrics.blocked_polls.add(1);
        if let Some(spare) = spare {
            self.extra.fetch_add(1, SeqCst);
            self.processors[spare].set_status(ProcessorStatus::Running);
            processor.set_blocked();
            self.nmspinning.fetch_add(1, SeqCst);
            self.start_machine(Some(spare), true);
        } else {
            // As many Ps as threads are allowed: an idle P (if any) can still steal the
            // blocked P's work.
            processor.set_blocked();
            self.wake_if_idle();
        }
        true
    }

    /// The M holding P `p` came back from a poll sysmon had marked blocked. If a spare
    /// stood in for it, this M retires its P (its queued work goes to the global queue) so
    /// the runtime is back to `maxprocs` running Ps; the M then parks in `next`.
    #[cold]
    pub fn leave_blocked(&self, m: &Machine, p: ProcessorId) {
        let processor = &self.processors[p];
        // The caller's look at the mark (`finish_poll`, on every poll) is relaxed. This re-read
        // acquires sysmon's store of it, so the spare sysmon counted in `extra` before marking
        // is seen below; without it the M could see the mark but not the spare, clear the mark
        // and keep its P beside the spare (loom-tests/tests/blocked.rs found it). Only the
        // owner clears the mark, so the re-read sees it set.
        if !processor.is_blocked_synced() {
            return;
        }
        processor.clear_blocked();
        let retire = self.extra.fetch_update(SeqCst, SeqCst, |extra| extra.checked_sub(1)).is_ok();
        if !retire {
            return;
        }
        if m.spinning.get() {
            self.stop_spinning(m);
        }
        m.processor.set(None);
        self.global.push_batch(processor.queue.drain());
        {
            let mut idle = lock(&*self.idle);
            processor.set_status(ProcessorStatus::Idle);
            idle.spares.push(p);
        }
        self.wake_if_idle();
    }

    /// Registers the sysmon thread, so that work appearing can wake it from a deep sleep.
    pub fn set_sysmon_thread(&self, thread: std::thread::Thread) {
        let _ = self.sysmon.set(thread);
    }

    /// True if no P is running, in a syscall or blocked: sysmon may sleep until work comes.
    pub fn all_processors_idle(&self) -> bool {
        self.npidle.load(SeqCst) == self.maxprocs + self.extra.load(SeqCst)
    }

    /// sysmon: announce a deep sleep; returns false (and cancels it) if a P got busy
    /// meanwhile. After true, sysmon parks until `wake_sysmon` unparks it.
    pub fn sysmon_prepare_sleep(&self) -> bool {
        self.sysmon_sleeping.store(true, SeqCst);
        fence(SeqCst);
        if self.all_processors_idle() && !self.shutdown.load(SeqCst) {
            return true;
        }
        self.sysmon_sleeping.store(false, SeqCst);
        false
    }

    /// Wakes sysmon if it sleeps (a P became busy).
    #[inline]
    pub fn wake_sysmon(&self) {
        fence(SeqCst);
        if self.sysmon_sleeping.load(Relaxed) && self.sysmon_sleeping.swap(false, SeqCst) {
            if let Some(thread) = self.sysmon.get() {
                thread.unpark();
            }
        }
    }
}
