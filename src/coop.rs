//! The cooperative budget: how a goroutine that never waits is made to yield.
//!
//! Rust cannot preempt a running poll, so gmp preempts at its own await points. Each poll of a
//! goroutine gets a budget of [`BUDGET_PER_POLL`] operations. gmp's leaf futures (I/O, timers,
//! `JoinHandle`, `WaitGroup`, [`consume_budget`]) spend one unit each time they would complete;
//! when the budget is spent, or when sysmon has set the P's preempt flag because this poll ran
//! past 10 ms, they wake their own task and return `Pending` instead, so the goroutine goes to
//! the back of its P's queue and the others get a turn.
//!
//! The budget lives in a thread-local: only the M polling the goroutine touches it. Outside a
//! gmp poll the budget is unlimited.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::ptr;
use std::task::{Context, Poll};

use crate::goroutine::{record_wait_reason, WaitReason};
use crate::loom::{AtomicBool, Ordering::Relaxed};

/// Operations one poll may complete before gmp's futures make it yield (as in tokio).
pub const BUDGET_PER_POLL: u32 = 128;

const UNLIMITED: u32 = u32::MAX;

crate::loom::thread_local! {
    static BUDGET: Cell<u32> = const { Cell::new(UNLIMITED) };
    static PREEMPT: Cell<*const AtomicBool> = const { Cell::new(ptr::null()) };
}

/// Restores the previous budget when a poll ends.
pub(crate) struct BudgetGuard {
    budget: u32,
    preempt: *const AtomicBool,
}

impl Drop for BudgetGuard {
    fn drop(&mut self) {
        BUDGET.with(|b| b.set(self.budget));
        PREEMPT.with(|p| p.set(self.preempt));
    }
}

/// Gives the poll that is about to run a fresh budget, watching `preempt` (its P's flag).
/// The returned guard restores the enclosing budget.
pub(crate) fn start_poll(preempt: Option<&AtomicBool>) -> BudgetGuard {
    let preempt = preempt.map_or(ptr::null(), |p| p as *const AtomicBool);
    BudgetGuard { budget: BUDGET.with(|b| b.replace(BUDGET_PER_POLL)), preempt: PREEMPT.with(|p| p.replace(preempt)) }
}

/// Points the budget at another P's preempt flag (after a syscall moved the M).
pub(crate) fn set_preempt_flag(preempt: Option<&AtomicBool>) {
    PREEMPT.with(|p| p.set(preempt.map_or(ptr::null(), |p| p as *const AtomicBool)));
}

/// Spends the rest of the poll's budget, so that the goroutine yields at its next cooperative
/// point (after a syscall that lost its P: the goroutine must not run on without a P).
pub(crate) fn spend_all() {
    BUDGET.with(|b| {
        if b.get() != UNLIMITED {
            b.set(0);
        }
    });
}

/// Runs `f` with an unlimited budget (the budget is suspended across `gmp::syscall`).
pub(crate) fn unconstrained<R>(f: impl FnOnce() -> R) -> R {
    let saved = BUDGET.with(|b| b.replace(UNLIMITED));
    let result = f();
    BUDGET.with(|b| b.set(saved));
    result
}

fn preempt_requested() -> bool {
    PREEMPT.with(|p| {
        let flag = p.get();
        // SAFETY: PREEMPT points at a P's flag for the duration of a poll on that P, and Ps
        // live as long as the runtime, which outlives every poll it runs.
        !flag.is_null() && unsafe { (*flag).load(Relaxed) }
    })
}

/// Spends one unit of budget. Returns `Pending` (after waking the task) if the goroutine
/// should yield instead. gmp's leaf futures call this before completing.
#[inline]
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    let budget = BUDGET.with(|b| b.get());
    if budget == UNLIMITED {
        return Poll::Ready(());
    }
    if budget == 0 || preempt_requested() {
        record_wait_reason(WaitReason::Yield);
        cx.waker().wake_by_ref();
        return Poll::Pending;
    }
    BUDGET.with(|b| b.set(budget - 1));
    Poll::Ready(())
}

/// Budget left in the current poll, or `None` outside a gmp poll.
pub fn remaining_budget() -> Option<u32> {
    let budget = BUDGET.with(|b| b.get());
    (budget != UNLIMITED).then_some(budget)
}

/// Spends one unit of the coop budget, yielding if it is spent or sysmon asked this P to
/// yield. A CPU-heavy loop calls this to let other goroutines on its P run.
///
/// # Examples
///
/// ```
/// # gmp::Runtime::new().unwrap().block_on(async {
/// let mut sum = 0u64;
/// for i in 0..100_000u64 {
///     sum += i;
///     gmp::consume_budget().await;
/// }
/// assert_eq!(sum, 4_999_950_000);
/// # });
/// ```
pub fn consume_budget() -> ConsumeBudget {
    ConsumeBudget { done: false }
}

/// The future of [`consume_budget`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` them"]
pub struct ConsumeBudget {
    done: bool,
}

impl Future for ConsumeBudget {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.done {
            return Poll::Ready(());
        }
        match poll_proceed(cx) {
            Poll::Ready(()) => {
                self.done = true;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
