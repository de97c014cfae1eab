//! The P handoff of `gmp::syscall` (`syscall.rs`, `sysmon.rs`) under loom: an M returning
//! from a syscall CASes its P from `Syscall` back to `Running` while sysmon CASes it from
//! `Syscall` to retake it. Exactly one side wins, and afterwards exactly one party owns the P:
//! the returning M, or (through sysmon's `hand_off_processor`) the idle list.
//!
//! The two sides below are the bodies of `syscall_on`'s return path and `retake_syscall`,
//! written against the scheduler's public pieces (those functions need a whole runtime).
#![cfg(loom)]

use gmp::loom_exports::{Machine, ProcessorStatus, Scheduler};
use loom::sync::Arc;
use loom::thread;
use loom_tests::{Item, NoThreads};

/// sysmon's retake (`retake_syscall`): take the P if its M is still in the call, and hand it
/// (with its queued work) to another M or the idle list.
fn sysmon_retake(sched: &Scheduler<Item>, index: usize) -> bool {
    let processor = &sched.processors[index];
    if !processor.transition(ProcessorStatus::Syscall, ProcessorStatus::Running) {
        return false; // the M came back first
    }
    processor.syscalltick.fetch_add(1, loom::sync::atomic::Ordering::Relaxed);
    sched.hand_off_processor(index);
    true
}

/// The returning M (`syscall_on` then `exit_slow`): its own P if sysmon left it, else any
/// idle P, else none. Returns true if it won its own P back.
fn exit_syscall(sched: &Scheduler<Item>, m: &Machine, index: usize) -> bool {
    if sched.processors[index].transition(ProcessorStatus::Syscall, ProcessorStatus::Running) {
        sched.bind(m, index);
        return true;
    }
    if let Some(other) = sched.acquire_idle_processor() {
        sched.bind(m, other);
    }
    false
}

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

        // `enter`: the M forgets its P and marks it in a syscall.
        m.set_processor(None);
        sched.processors[0].set_status(ProcessorStatus::Syscall);
        let sysmon = {
            let sched = sched.clone();
            thread::spawn(move || sysmon_retake(&sched, 0))
        };

        let m_won = exit_syscall(&sched, &m, 0);
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
