//! M0: `block_on` runs the main future on the calling thread (Go's `runtime.main` on M0).
//!
//! # Design
//!
//! The calling thread installs a machine context and takes a P, then alternates between
//! polling the main future (when its waker has raised M0's interrupt flag) and running
//! goroutines like any M. The main future is registered as the main goroutine, so it counts in
//! `num_goroutine` and shows in `dump`. Its waker unparks M0 and, only while M0 itself is the
//! M blocked in the netpoller (`in_network`), breaks that wait. `must_not_block` is the one
//! check for "this thread may not wait for a runtime": inside `block_on`, polling a goroutine
//! while holding a P, or being one of the runtime's own threads.

use crate::loom::thread::{self, Thread};
use std::cell::Cell;
use std::future::Future;
use std::panic::Location;
use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::task::{Context as TaskContext, Poll, Wake, Waker};

use crate::console;
use crate::context::{self, Context};
use crate::goroutine::{self, Goroutine, GoroutineFuture};
use crate::runtime::metadata::Metadata;
use crate::runtime::shared::Shared;
use crate::sched::Machine;

crate::loom::thread_local! {
    /// True while this thread is inside `block_on` (M0).
    static IN_BLOCK_ON: Cell<bool> = const { Cell::new(false) };
}

/// Marks the thread as inside `block_on` until dropped.
struct InBlockOn(bool);

impl InBlockOn {
    fn enter() -> Self {
        Self(IN_BLOCK_ON.with(|flag| flag.replace(true)))
    }
}

impl Drop for InBlockOn {
    fn drop(&mut self) {
        IN_BLOCK_ON.with(|flag| flag.set(self.0));
    }
}

/// True if this thread must not block waiting for a runtime: it is inside `block_on`, or it
/// is polling a goroutine while holding a P (that would stall the P's queue; a
/// `spawn_blocking` call, or a goroutine inside `gmp::syscall`, holds none), or it is one of
/// the threads of `runtime` (waiting for that runtime's threads would wait for itself).
pub(super) fn must_not_block(runtime: Option<&Arc<Shared>>) -> bool {
    IN_BLOCK_ON.with(Cell::get)
        || context::with_current(|context| {
            context.is_some_and(|context| {
                (goroutine::in_goroutine() && context.machine.processor().is_some())
                    || runtime.is_some_and(|runtime| Arc::ptr_eq(runtime, &context.shared))
            })
        })
}

/// Runs `future` to completion on the calling thread as M0 of `shared` (see
/// [`Runtime::block_on`](super::Runtime::block_on)).
#[track_caller]
pub(super) fn block_on<F: Future>(shared: &Arc<Shared>, future: F) -> F::Output {
    run_on_m0(shared, future, Listing::AsMainGoroutine)
}

/// Whether `block_on`'s future is a goroutine of its own in `num_goroutine` and `dump`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Listing {
    /// It is the program's main goroutine (`Runtime::block_on`).
    AsMainGoroutine,
    /// It only joins a goroutine that is listed already (`#[gmp::main]`'s `Send` body, which
    /// runs as an ordinary goroutine): listing the join too would count main twice.
    Unlisted,
}

/// `block_on`, with the listing of its future chosen by the caller.
#[track_caller]
pub(crate) fn run_on_m0<F: Future>(shared: &Arc<Shared>, future: F, listing: Listing) -> F::Output {
    assert!(
        !must_not_block(None),
        "gmp: block_on was called from inside a gmp runtime (a goroutine or another \
         block_on); that would block one of its threads. Await the future instead, or call \
         block_on from a plain thread or a spawn_blocking call"
    );
    let _in_block_on = InBlockOn::enter();
    let signal = Arc::new(MainSignal {
        woken: Arc::new(AtomicBoolShim::new(true)),
        thread: thread::current(),
        shared: Arc::downgrade(shared),
        in_network: std::sync::atomic::AtomicBool::new(false),
    });
    let _signal_guard = MainSignalGuard::install(&signal);
    let seed = shared.next_seed();
    let machine = Machine::new(seed, Some(signal.woken.clone()));
    machine.set_thread_id(crate::os::current_thread_id());
    let context = Context::new(shared.clone(), machine);
    // The main future's flag is on the paused clock's watch list (for auto-advance) while M0
    // serves the runtime; declared before the guard, so it is dropped after it.
    let _main_future = crate::time::MainFutureWatch::new(shared, &signal.woken);
    let _guard = context.enter();
    let _leave = LeaveOnDrop(&context);
    if let Some(index) = shared.sched.acquire_idle_processor() {
        shared.sched.bind(&context.machine, index);
    }
    let waker = Waker::from(signal.clone());
    let mut task_context = TaskContext::from_waker(&waker);
    // The main future is the main goroutine: registered (it counts in `num_goroutine` and
    // shows in `dump` with its wait reason) for as long as `future` below lives, which
    // the metadata, declared first, outlives. An unlisted future is never registered; its
    // `GoroutineFuture` then finds no entry to remove when it is dropped, and it takes no
    // goroutine id: it is id 0, like Go's g0, the scheduler's own.
    let listed = listing == Listing::AsMainGoroutine;
    let id = if listed { context.next_goroutine_id() } else { 0 };
    let main = Metadata::new(Goroutine::new(id, Location::caller(), shared.coarse_now()), shared);
    if listed {
        shared.registry.insert_pointed(&main, waker.clone(), context.machine.processor());
    }
    let mut future = pin!(GoroutineFuture::new(console::instrument(future, console::Kind::Main, &main), &main));
    loop {
        if signal.woken.swap(false, Ordering::AcqRel) {
            let poll = || context.polling(id, || future.as_mut().poll(&mut task_context));
            if let Poll::Ready(output) = context.observe_poll(&main, poll) {
                match output.into_result() {
                    Some(Ok(output)) => return output,
                    Some(Err(panic)) => std::panic::resume_unwind(panic),
                    None => unreachable!("the main goroutine cannot be aborted"),
                }
            }
        }
        if let Some(runnable) = shared.sched.next(&context.machine) {
            context.run(runnable);
        } else if shared.sched.is_shut_down() && !signal.woken.load(Ordering::Acquire) {
            // The runtime was shut down under a `Handle::block_on`: there is nothing to run
            // any more, so sleep until the main future is woken (its waker unparks us).
            thread::park();
        }
    }
}

/// Leaves `block_on`: M0 stops spinning and hands its P on.
struct LeaveOnDrop<'a>(&'a Context);

impl Drop for LeaveOnDrop<'_> {
    fn drop(&mut self) {
        self.0.shared.sched.detach_machine(&self.0.machine);
    }
}

type AtomicBoolShim = crate::loom::AtomicBool;

/// The waker of `block_on`'s main future: raises M0's interrupt flag and unparks it.
struct MainSignal {
    woken: Arc<AtomicBoolShim>,
    thread: Thread,
    shared: Weak<Shared>,
    /// M0 is the M blocked in the netpoller (set around its wait there), so a wake must
    /// break that wait; otherwise the unpark is enough.
    in_network: std::sync::atomic::AtomicBool,
}

crate::loom::thread_local! {
    /// On M0, its main future's signal (for the netpoller to say when M0 waits there).
    static MAIN_SIGNAL: Cell<*const MainSignal> = const { Cell::new(std::ptr::null()) };
}

/// Called by the netpoller around the blocked wait of the calling thread: if it is M0,
/// records that its main future's waker must break the wait. Entering returns true if the
/// main future was woken meanwhile (the caller then does not block).
pub(crate) fn main_thread_in_network(entering: bool) -> bool {
    MAIN_SIGNAL.with(|signal| {
        // SAFETY: `block_on` sets the pointer for as long as its `Arc<MainSignal>` lives on
        // its stack, and resets it before that is dropped.
        let Some(signal) = (unsafe { signal.get().as_ref() }) else { return false };
        signal.in_network.store(entering, Ordering::SeqCst);
        // Pairs with the fence in `wake_by_ref`: either the waker sees `in_network`, or we
        // see `woken`.
        crate::loom::fence(Ordering::SeqCst);
        entering && signal.woken.load(Ordering::SeqCst)
    })
}

/// Installs a main signal for this thread until dropped.
struct MainSignalGuard(*const MainSignal);

impl MainSignalGuard {
    fn install(signal: &Arc<MainSignal>) -> Self {
        Self(MAIN_SIGNAL.with(|current| current.replace(Arc::as_ptr(signal))))
    }
}

impl Drop for MainSignalGuard {
    fn drop(&mut self) {
        MAIN_SIGNAL.with(|current| current.set(self.0));
    }
}

impl Wake for MainSignal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.woken.swap(true, Ordering::SeqCst) {
            self.thread.unpark();
            // Only if M0 is the M blocked in the netpoller does its wait need breaking; a wake
            // while another M waits there used to cost a write, a spurious return of that M's
            // wait and a P taken and given back, every time.
            crate::loom::fence(Ordering::SeqCst);
            if self.in_network.load(Ordering::SeqCst) {
                if let Some(shared) = self.shared.upgrade() {
                    shared.sched.wake_network_for_interrupt();
                }
            }
        }
    }
}
