//! Parking and waking Ms: the idle lists, `wakep`, starting Ms, handing Ps over, shutdown.
//!
//! The protocol is described at the top of `sched.rs`; this file is its mechanics. The idle
//! lists change only under their mutex; `npidle` mirrors the length of the P list.

use super::*;

/// What a parked M was woken for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wakeup {
    /// Run this P.
    Processor {
        /// The P handed over.
        p: ProcessorId,
        /// The M was counted in `nmspinning` for it.
        spinning: bool,
    },
    /// The runtime is shutting down.
    Exit,
    /// The M's interrupt flag was raised (M0: the main future was woken).
    Interrupted,
}

/// How a parked M is woken: a handoff word and its thread.
#[derive(Debug)]
pub struct Parker {
    thread: Thread,
    handoff: AtomicUsize,
    spinning: AtomicBool,
}

impl Parker {
    pub(super) fn for_current_thread() -> Self {
        Self { thread: current_thread(), handoff: AtomicUsize::new(HANDOFF_NONE), spinning: AtomicBool::new(false) }
    }

    fn hand_off(&self, value: usize, spinning: bool) {
        self.spinning.store(spinning, Relaxed);
        self.handoff.store(value, Release);
        self.thread.unpark();
    }

    fn take_handoff(&self) -> Option<Wakeup> {
        let wakeup = match self.handoff.load(Acquire) {
            HANDOFF_NONE => return None,
            HANDOFF_EXIT => Wakeup::Exit,
            p => Wakeup::Processor { p, spinning: self.spinning.load(Relaxed) },
        };
        // A plain store, not a swap, is enough: only this M clears the word, and a waker
        // writes it once per stay on the idle list (it popped the M off the list under the
        // idle lock, after the M's last clear). It also keeps loom honest: loom 0.7 lets an
        // RMW read the M's own older store instead of a waker's newer one (loom#254), which
        // made the park models report deadlocks that cannot happen.
        self.handoff.store(HANDOFF_NONE, Relaxed);
        Some(wakeup)
    }
}

#[derive(Debug, Default)]
pub(super) struct IdleLists {
    pub(super) processors: Vec<ProcessorId>,
    pub(super) machines: Vec<Arc<Parker>>,
    /// Ps beyond `maxprocs`, unused until one stands in for a blocked P.
    pub(super) spares: Vec<ProcessorId>,
    /// `Some(spinning)` when the platform could not start an M for new work: the next M to
    /// park takes an idle P instead and looks again, as the M that was not started would have
    /// (as a spinner, if that one was to spin). See `machine_not_started`.
    pub(super) missed_wakeup: Option<bool>,
}

impl<T: QueueItem> Scheduler<T> {
    /// After publishing work: wake an idle P's M unless someone is already looking.
    #[inline]
    pub fn wake_if_idle(&self) {
        fence(SeqCst);
        if self.npidle.load(Relaxed) != 0 && self.nmspinning.load(Relaxed) == 0 {
            self.wakep();
        }
    }

    /// `wake_if_idle` for work published by a `SeqCst` swap into a P's runnext
    /// (`LocalQueue::swap_runnext`): the swap already orders the publication before the loads
    /// below, so no fence (on x86 the swap is an `xchg`, itself a full barrier; the fence was
    /// a second `mfence` on every spawn and wake). The other side is a spinner that stops:
    /// it decrements `nmspinning`, fences, then reads every runnext with an RMW
    /// (`LocalQueue::has_runnext_synced`). Either that RMW comes after our swap in runnext's
    /// modification order and sees the item, or it comes before, and our swap (an acquire)
    /// reads from it (or from a later RMW in its release sequence), so the spinner's
    /// decrement happens before our load of `nmspinning`. Either way no wake-up is lost:
    /// loom model `wake.rs`.
    #[inline]
    pub fn wake_if_idle_after_swap(&self) {
        if self.npidle.load(SeqCst) != 0 && self.nmspinning.load(SeqCst) == 0 {
            self.wakep();
        }
    }

    /// Go's `wakep`: start one spinning M on an idle P, if there is an idle P and no spinner.
    #[cold]
    pub fn wakep(&self) {
        if self.shutdown.load(Relaxed) || self.nmspinning.compare_exchange(0, 1, SeqCst, Relaxed).is_err() {
            return;
        }
        fence(SeqCst);
        if self.npidle.load(Relaxed) == 0 {
            self.nmspinning.fetch_sub(1, SeqCst);
            return;
        }
        self.start_machine(None, true);
    }

    /// Go's `startm`: runs P `p` (or any idle P) on a parked M, or a new one. If
    /// `spinning`, the caller already counted the M in `nmspinning`.
    pub fn start_machine(&self, p: Option<ProcessorId>, spinning: bool) {
        let mut idle = lock(&*self.idle);
        if self.shutdown.load(Acquire) {
            // Shutting down: no M may start (it would run goroutines the shutdown is
            // cancelling, and could start after the Ms were joined).
            drop(idle);
            if spinning {
                self.nmspinning.fetch_sub(1, SeqCst);
            }
            if let Some(p) = p {
                self.put_idle_processor(p);
            }
            return;
        }
        let p = match p.or_else(|| self.take_idle_processor(&mut idle)) {
            Some(p) => p,
            None => {
                drop(idle);
                if spinning {
                    self.nmspinning.fetch_sub(1, SeqCst);
                }
                return;
            }
        };
        let machine = idle.machines.pop();
        drop(idle);
        match machine {
            Some(parker) => parker.hand_off(p, spinning),
            None => {
                let started =
                    self.platform().is_some_and(|platform| platform.start_machine(Wakeup::Processor { p, spinning }));
                if !started {
                    self.machine_not_started(p, spinning);
                }
            }
        }
    }

    /// The platform could not start an M for P `p` (thread limit, or the OS refused).
    /// Go never gets here (`newm` succeeds or throws), and this is where a wakeup could be
    /// lost: the M that should run the new work may be between its last re-check and the
    /// idle-M list, and its re-check could not get the P this call was holding. So under the
    /// idle lock: hand the P to an M that parked meanwhile, or put it back and leave a note
    /// that the next M to park must take a P and look for work once more (see `park`).
    #[cold]
    pub(super) fn machine_not_started(&self, p: ProcessorId, spinning: bool) {
        let mut idle = lock(&*self.idle);
        if let Some(parker) = idle.machines.pop() {
            drop(idle);
            parker.hand_off(p, spinning);
            return;
        }
        // Uncount the spinner that never started; the M that takes the note counts itself.
        if spinning {
            self.nmspinning.fetch_sub(1, SeqCst);
        }
        self.processors[p].set_status(ProcessorStatus::Idle);
        idle.processors.push(p);
        self.npidle.fetch_add(1, SeqCst);
        idle.missed_wakeup = Some(spinning || idle.missed_wakeup.unwrap_or(false));
    }

    /// Go's `handoffp`: the calling M (or sysmon, having retaken it from a syscall) gives up
    /// P `p`. Another M takes it over if it is needed, in Go's order:
    ///
    /// - the P or the global queue has goroutines: an M to run them;
    /// - no M spins and no P is idle: a spinning M, so whatever turns up next is found;
    /// - nobody is blocked in the netpoller and this was the last running P, or the P has
    ///   timers pending: an M, which will block in the netpoller until I/O or the next timer;
    ///
    /// else the P goes on the idle list.
    pub fn hand_off_processor(&self, p: ProcessorId) {
        if !self.processors[p].queue.is_empty() || !self.global.is_empty() {
            self.start_machine(Some(p), false);
            return;
        }
        if self.nmspinning.load(SeqCst) + self.npidle.load(SeqCst) == 0
            && self.nmspinning.compare_exchange(0, 1, SeqCst, Relaxed).is_ok()
        {
            self.start_machine(Some(p), true);
            return;
        }
        if let Some(platform) = self.platform() {
            let usable = self.maxprocs + self.extra.load(SeqCst);
            let last_running = self.npidle.load(SeqCst) + 1 >= usable;
            if (last_running || platform.has_timers(p)) && !platform.network_is_polled() {
                self.start_machine(Some(p), false);
                return;
            }
        }
        self.put_idle_processor(p);
        // Work may have arrived between the check and the put.
        fence(SeqCst);
        if !self.global.is_empty() {
            self.wake_if_idle();
        }
    }

    /// An M that stops serving the scheduler (a worker exiting, M0 leaving `block_on`) gives
    /// up P `p`: to another M if it has work, else to the idle list. Unlike
    /// `hand_off_processor`, nothing is blocked here, so no M is started "just in case".
    pub(super) fn give_up_processor(&self, p: ProcessorId) {
        if !self.processors[p].queue.is_empty() || !self.global.is_empty() {
            self.start_machine(Some(p), false);
            return;
        }
        self.put_idle_processor(p);
        fence(SeqCst);
        if !self.global.is_empty() {
            self.wake_if_idle();
        }
    }

    pub(super) fn take_idle_processor(&self, idle: &mut IdleLists) -> Option<ProcessorId> {
        let p = idle.processors.pop()?;
        self.npidle.fetch_sub(1, SeqCst);
        self.processors[p].set_status(ProcessorStatus::Running);
        self.wake_sysmon();
        Some(p)
    }

    /// Takes an idle P for the calling M, if any.
    pub fn acquire_idle_processor(&self) -> Option<ProcessorId> {
        if self.npidle.load(Relaxed) == 0 {
            return None;
        }
        self.take_idle_processor(&mut lock(&*self.idle))
    }

    /// Puts P `p` on the idle list.
    pub fn put_idle_processor(&self, p: ProcessorId) {
        let mut idle = lock(&*self.idle);
        self.processors[p].set_status(ProcessorStatus::Idle);
        idle.processors.push(p);
        self.npidle.fetch_add(1, SeqCst);
    }

    /// Parks M `m`, which holds no P, until it is handed one, the runtime shuts down, or its
    /// interrupt flag is raised.
    pub(super) fn park(&self, m: &Machine) -> Wakeup {
        debug_assert!(m.processor().is_none());
        if let Some(wakeup) = self.park_in_network(m) {
            return wakeup;
        }
        {
            let mut idle = lock(&*self.idle);
            // A start that failed while this M was on its way here: be the M that was not
            // started. It must spin if that one was to: as a non-spinner it could be kept from
            // stealing by a spinner count that a concurrent `wakep` holds only for a moment.
            if let Some(spinning) = idle.missed_wakeup.take() {
                if let Some(p) = self.take_idle_processor(&mut idle) {
                    if spinning {
                        self.nmspinning.fetch_add(1, SeqCst);
                    }
                    return Wakeup::Processor { p, spinning };
                }
            }
            idle.machines.push(m.parker.clone());
        }
        // Worker Ms exit after a keep-alive without work; M0 stays (it belongs to block_on).
        let keep_alive_until = m.interrupt.is_none().then(|| std::time::Instant::now() + self.machine_keep_alive);
        loop {
            if let Some(wakeup) = m.parker.take_handoff() {
                return wakeup;
            }
            let leave = if self.shutdown.load(Acquire) {
                Some(Wakeup::Exit)
            } else if m.interrupted() {
                Some(Wakeup::Interrupted)
            } else if keep_alive_until.is_some_and(|until| std::time::Instant::now() >= until) {
                Some(Wakeup::Exit)
            } else {
                None
            };
            if let Some(reason) = leave {
                if self.leave_idle_list(m) {
                    return reason;
                }
                // A waker took this M off the list first, so its handoff is on the way. Look
                // once more before parking: taking the lock may have blocked this thread, and
                // loom 0.7 drops a pending unpark when a thread blocks on a lock (loom#249).
                if let Some(wakeup) = m.parker.take_handoff() {
                    return wakeup;
                }
            }
            match keep_alive_until {
                Some(until) => park_timeout(until.saturating_duration_since(std::time::Instant::now())),
                None => park(),
            }
        }
    }

    /// Offers the M to the netpoller: one M at a time may block there instead of parking.
    pub(super) fn park_in_network(&self, m: &Machine) -> Option<Wakeup> {
        // With every P busy, an M woken by the network could not run what it found, and would
        // only take CPU from the Ms that hold Ps; busy Ps poll the network themselves.
        if self.npidle.load(Relaxed) == 0 {
            return None;
        }
        let platform = self.platform()?;
        let has_work = || !self.global.is_empty() || self.shutdown.load(Acquire) || m.interrupted();
        let take_processor = || {
            if let Some(p) = self.acquire_idle_processor() {
                self.bind(m, p);
            }
        };
        if !platform.block_in_network(&has_work, &take_processor) {
            return None;
        }
        // Back from the network, holding a P if one was idle: the goroutines the wait readied
        // are on its queue. Without one they went to the global queue.
        let p = m.processor().or_else(|| self.acquire_idle_processor())?;
        Some(Wakeup::Processor { p, spinning: false })
    }

    /// Removes `m` from the idle list. False if a waker already took it (a handoff is
    /// coming, so keep waiting for it).
    pub(super) fn leave_idle_list(&self, m: &Machine) -> bool {
        let mut idle = lock(&*self.idle);
        match idle.machines.iter().position(|p| Arc::ptr_eq(p, &m.parker)) {
            Some(position) => {
                idle.machines.swap_remove(position);
                true
            }
            None => false,
        }
    }

    /// Stops the scheduler: every parked M is woken to exit, and running Ms exit at their next
    /// scheduling point.
    pub fn shutdown(&self) {
        {
            // Under the idle lock, so no `start_machine` that saw the flag clear is still
            // handing out a P when the Ms are woken to exit below.
            let _idle = lock(&*self.idle);
            self.shutdown.store(true, SeqCst);
        }
        self.sysmon_sleeping.store(false, SeqCst);
        if let Some(thread) = self.sysmon.get() {
            thread.unpark();
        }
        let machines = std::mem::take(&mut lock(&*self.idle).machines);
        for parker in machines {
            parker.hand_off(HANDOFF_EXIT, false);
        }
        if let Some(platform) = self.platform() {
            platform.wake_network();
        }
    }
}
