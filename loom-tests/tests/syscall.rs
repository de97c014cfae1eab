//! The P handoff of `gmp::syscall` (`syscall.rs`, `sysmon.rs`) under loom: an M returning
//! from a syscall CASes its P from `Syscall` back to `Running` while sysmon CASes it from
//! `Syscall` to retake it. Exactly one side wins, and afterwards exactly one party owns the P:
//! the returning M, or (through sysmon's `hand_off_processor`) the idle list.
//!
//! Both sides are the scheduler's own: `Scheduler::enter_syscall` / `exit_syscall` (what
//! `gmp::syscall` calls around the blocking call) and `Scheduler::retake_syscall` (what sysmon
//! calls once its retake rule says so), in `src/sched/syscall.rs`.
//!
//! Teeth: with `exit_syscall`'s CAS replaced by a plain store of `Running`, loom finds the
//! interleaving where both sides win ("exactly one side must win the P") at once.
#![cfg(loom)]

use gmp::loom_exports::{Machine, ProcessorStatus, Scheduler};
use loom::sync::Arc;
use loom::thread;
use loom_tests::{Item, NoThreads};

#[test]
fn syscall_exit_racing_sysmon_retake_leaves_one_owner() {
    loom_tests::model(|| {
        let sched = Arc::new(Scheduler::new(1, 0));
        sched.set_platform(Box::new(NoThreads::default()));
        assert_eq!(sched.acquire_idle_processor(), Some(0));
        let m = Machine::new(1, None);
        sched.resume(&m, 0, false);
        // A goroutine queued behind the syscall: what sysmon's retake is for.
        sched.ready_local(0, Item(0), true);

        // Inside a poll, the M enters the syscall: it forgets its P and marks it `Syscall`.
        assert!(sched.start_poll(&m, Some(1)).is_some());
        sched.enter_syscall(&m, 0);
        assert_eq!(m.processor(), None);
        let sysmon = {
            let sched = sched.clone();
            thread::spawn(move || sched.retake_syscall(0))
        };

        let m_won = sched.exit_syscall(&m, 0);
        let sysmon_won = sysmon.join().unwrap();

        assert!(m_won != sysmon_won, "exactly one side must win the P (M: {m_won}, sysmon: {sysmon_won})");
        let status = sched.processors[0].status();
        match m.processor() {
            Some(0) => {
                assert_eq!(status, ProcessorStatus::Running);
                assert_eq!(sched.idle_processors(), 0, "the M holds P0 while it is on the idle list");
            }
            None => {
                assert!(sysmon_won, "the M lost its P although sysmon did not take it");
                assert_eq!(status, ProcessorStatus::Idle);
                assert_eq!(sched.idle_processors(), 1, "P0 is owned by nobody");
            }
            Some(other) => panic!("the M holds P{other}, which does not exist"),
        }
        assert_eq!(sched.spinning_machines(), 0);
        // Whoever owns P0 owns its queued goroutine, which is still there.
        assert_eq!(sched.processors[0].queue.len(), 1);
        m.set_processor(None);
    });
}
