//! Both halves of the syscall protocol (Go's `entersyscall` / `exitsyscall` / `retake`):
//! the M that enters and leaves `gmp::syscall` (`src/syscall.rs`) and sysmon retaking the P
//! meanwhile (`src/sysmon.rs`). The loom models (`loom-tests/tests/syscall.rs`, `handoff.rs`,
//! `runtime_races.rs`) call these same methods.
//!
//! # Design
//!
//! Entry hands nothing off: the P leaves the poll (`polls` even, so sysmon sees a syscall and
//! not a stuck poll), `syscalltick` moves (sysmon tells calls apart by it), the M forgets the
//! P (wakes during the call go to the global queue) and the P's status becomes `Syscall`.
//!
//! Return and retake race on one CAS from `Syscall` to `Running`; exactly one side wins.
//! The returning M that wins binds its P again; one that loses takes any idle P, or none.
//! sysmon, if it wins, bumps `syscalltick` (the next sighting is a new call) and hands the P
//! to another M or the idle list (`hand_off_processor`, `idle.rs`).
//!
//! # Who may touch what
//!
//! Only the P's M enters; while the status is `Syscall` the P has no owner, and only the CAS
//! winner may touch it afterwards.

use super::*;

impl<T: QueueItem> Scheduler<T> {
    /// M `m`, holding P `p` inside a poll, enters a blocking call: the P leaves the poll and
    /// becomes retakable by sysmon. `m` holds no P afterwards.
    pub fn enter_syscall(&self, m: &Machine, p: ProcessorId) {
        let processor = &self.processors[p];
        processor.metrics.syscalls.add(1);
        processor.metrics.forget_poll();
        // The P leaves the poll (sysmon must see a syscall, not a stuck poll).
        processor.poll_finished();
        processor.syscall_started();
        m.set_processor(None);
        processor.set_status(ProcessorStatus::Syscall);
        self.wake_sysmon();
    }

    /// M `m` returns from the blocking call it entered holding P `p`: it takes `p` back if
    /// sysmon did not retake it (one CAS), else any idle P, else none. Returns true if it got
    /// `p` back; `m.processor()` says which P it holds otherwise.
    #[inline]
    pub fn exit_syscall(&self, m: &Machine, p: ProcessorId) -> bool {
        if self.processors[p].transition(ProcessorStatus::Syscall, ProcessorStatus::Running) {
            self.bind(m, p);
            return true;
        }
        self.exit_syscall_retaken(m);
        false
    }

    /// sysmon took our P: take any idle one.
    #[cold]
    fn exit_syscall_retaken(&self, m: &Machine) {
        if let Some(other_p) = self.acquire_idle_processor() {
            self.bind(m, other_p);
        }
    }

    /// sysmon: retakes P `p`, whose M is in a blocking call, if the M has not come back yet,
    /// and hands it (with its queued goroutines) to another M or the idle list. Returns false
    /// if the M won the P back first. Whether a retake is wanted is sysmon's rule
    /// (`retake_is_wanted` in `sysmon.rs`).
    pub fn retake_syscall(&self, p: ProcessorId) -> bool {
        let processor = &self.processors[p];
        if !processor.transition(ProcessorStatus::Syscall, ProcessorStatus::Running) {
            return false; // the M came back first
        }
        processor.syscall_retaken();
        processor.metrics.handoffs.add(1);
        self.hand_off_processor(p);
        true
    }
}
