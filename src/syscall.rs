//! `gmp::syscall`: run a blocking call on the current M without stalling its P's queue
//! (Go's `entersyscall`/`exitsyscall`).
//!
//! # Design
//!
//! Entry is cheap and hands nothing off: the P's status becomes `Syscall`, the M forgets its P
//! (so wakes during the call go to the global queue) and the goroutine is marked `syscall`.
//! If the call is short, the M takes its P back on return with one CAS. If the call is slow,
//! sysmon retakes the P (a CAS from `Syscall`, racing the returning M's CAS: exactly one
//! wins) and hands it to another M, so the P's queued goroutines keep running.
//!
//! On return without its P, the M takes any idle P; if there is none, the goroutine's coop
//! budget is spent, so it yields at its next cooperative point (any gmp await) and goes to
//! the global queue, and the M then parks. (Go parks the goroutine at once; a stackless
//! goroutine can only stop at an await, so gmp lets the poll run to its next await.)
//!
//! The P's side of entry, return and sysmon's retake is the scheduler's
//! (`Scheduler::enter_syscall` / `exit_syscall` / `retake_syscall`, `sched/syscall.rs`, which
//! the loom models call); this file adds the goroutine's state, the coop budget, the paused
//! clock and the execution trace around them.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use crate::context::{self, Context};
use crate::coop;
use crate::goroutine::{self, GoroutineState};

/// Runs `f`, a blocking call, on the current thread, letting the runtime move this P's other
/// goroutines to another thread if `f` takes long (Go's syscall handling). Cheaper than
/// [`spawn_blocking`](crate::spawn_blocking) for calls that are usually short.
///
/// Outside a runtime it just calls `f`.
///
/// # Examples
///
/// ```
/// gmp::Runtime::new().unwrap().block_on(async {
///     let contents = gmp::syscall(|| std::fs::read_to_string("Cargo.toml"));
///     assert!(contents.unwrap().contains("[package]"));
/// });
/// ```
pub fn syscall<R>(f: impl FnOnce() -> R) -> R {
    let context = context::with_current(|context| context.map(|c| c as *const Context));
    match context {
        // SAFETY: the context outlives this call: it is installed for the whole time the
        // thread serves the runtime, which includes the goroutine poll we are inside.
        Some(context) => unsafe { syscall_on(&*context, f) },
        None => f(),
    }
}

fn syscall_on<R>(context: &Context, f: impl FnOnce() -> R) -> R {
    let sched = &context.shared.sched;
    let Some(p) = context.machine.processor() else {
        return f(); // no P to hand off (a blocking-pool thread, or already released)
    };
    // A paused clock must not skip ahead while the call runs (its P may be retaken).
    let counted = context.shared.timers.clock.syscall_started();
    let traced = crate::runtime::trace::syscall_started();
    goroutine::with_current(|g| {
        if let Some(g) = g {
            g.set_state_since(GoroutineState::Syscall, context.shared.coarse_now());
        }
    });
    coop::set_preempt_flag(None);
    sched.enter_syscall(&context.machine, p);
    let result = catch_unwind(AssertUnwindSafe(|| coop::unconstrained(f)));
    let retaken = !sched.exit_syscall(&context.machine, p);
    if retaken && context.machine.processor().is_none() {
        // No idle P either: the goroutine yields at its next cooperative point (to the global
        // queue, and the M parks), as Go's `exitsyscall` parks it.
        coop::spend_all();
    }
    if counted {
        context.shared.timers.clock.syscall_finished();
    }
    resume_poll(context);
    if let Some(started) = traced {
        crate::runtime::trace::syscall_finished(context, started, p, retaken);
    }
    match result {
        Ok(value) => value,
        Err(panic) => resume_unwind(panic),
    }
}

/// Back in the poll, on whatever P the M now holds.
fn resume_poll(context: &Context) {
    let goroutine = goroutine::with_current(|g| g.map(|g| g.id()));
    if let Some(processor) = context.shared.sched.start_poll(&context.machine, goroutine) {
        coop::set_preempt_flag(Some(processor.preempt_flag()));
    }
    goroutine::with_current(|g| {
        if let Some(g) = g {
            g.set_state(GoroutineState::Running);
        }
    });
}
