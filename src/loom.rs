//! The one place that chooses between `std` and `loom` primitives.
//!
//! Every other module imports its atomics, cells, locks and threads from here and never
//! mentions `cfg(loom)` itself. Under `RUSTFLAGS="--cfg loom"` the lock-free pieces of the
//! scheduler (the local ring, runnext, the global queue, the park/wake protocol) run on loom's
//! model-checked primitives; otherwise they run on `std`'s. Capacities shrink under loom so the
//! state space stays small (see [`LOCAL_QUEUE_CAPACITY`](crate::runq)).

#[cfg(loom)]
pub(crate) use loom::{
    cell::UnsafeCell,
    sync::{
        atomic::{fence, AtomicBool, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering},
        Arc, Condvar, Mutex, MutexGuard,
    },
};

#[cfg(loom)]
pub(crate) use loom::thread::{current as current_thread, park, Thread};

#[cfg(not(loom))]
pub(crate) use std::thread::{current as current_thread, park, park_timeout, Thread};

/// Under loom a timed park is a park: timeouts are upper bounds the models do without.
#[cfg(loom)]
pub(crate) fn park_timeout(_limit: std::time::Duration) {
    loom::thread::park();
}

#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{fence, AtomicBool, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering},
    Arc, Condvar, Mutex, MutexGuard,
};

/// `std`'s `UnsafeCell` with loom's closure-based accessors, so the same code compiles under
/// both: loom tracks every access made through `with`/`with_mut`.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }

    pub(crate) fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

/// `real`, or `model` under loom: capacities and batch sizes shrink so a model's state space
/// stays small (`LOCAL_QUEUE_CAPACITY`, `GLOBAL_BATCH_LIMIT`).
pub(crate) const fn real_or_model(real: usize, model: usize) -> usize {
    if cfg!(loom) {
        model
    } else {
        real
    }
}

/// Items compiled only under `--cfg loom` (what the loom models need of gmp's internals), so
/// that no other module spells the cfg.
macro_rules! only_under_loom {
    ($($item:item)*) => {
        $(
            #[cfg(loom)]
            $item
        )*
    };
}
pub(crate) use only_under_loom;

/// Locks a mutex, ignoring poisoning: gmp never leaves its own state half-updated across a
/// panic (goroutine code never runs while a scheduler lock is held), so a poisoned lock only
/// means some unrelated thread panicked while holding it.
///
/// Takes the shim's [`Mutex`] and, under loom, `std`'s too: the runtime's glue keeps plain
/// `std` locks for thread handles (never model-checked), and a loom build must still compile it.
pub(crate) fn lock<L: Lock + ?Sized>(mutex: &L) -> L::Guard<'_> {
    mutex.lock_ignoring_poison()
}

/// A mutex that [`lock`] can take.
pub(crate) trait Lock {
    type Guard<'a>
    where
        Self: 'a;
    fn lock_ignoring_poison(&self) -> Self::Guard<'_>;
}

impl<T> Lock for Mutex<T> {
    type Guard<'a>
        = MutexGuard<'a, T>
    where
        T: 'a;
    fn lock_ignoring_poison(&self) -> MutexGuard<'_, T> {
        match self.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

#[cfg(loom)]
impl<T> Lock for std::sync::Mutex<T> {
    type Guard<'a>
        = std::sync::MutexGuard<'a, T>
    where
        T: 'a;
    fn lock_ignoring_poison(&self) -> std::sync::MutexGuard<'_, T> {
        match self.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// Waits briefly (about 3 µs, Go's back-off before stealing a running P's runnext) or until
/// `done` says the wait is moot. Under loom it only yields, since loom has no clock.
pub(crate) fn brief_backoff(done: impl Fn() -> bool) {
    #[cfg(not(loom))]
    {
        let until = std::time::Instant::now() + std::time::Duration::from_micros(3);
        while std::time::Instant::now() < until {
            if done() {
                return;
            }
            std::hint::spin_loop();
        }
    }
    #[cfg(loom)]
    {
        let _ = done();
        loom::thread::yield_now();
    }
}

/// Pads and aligns a value to 128 bytes (two cache lines, as adjacent-line prefetch pairs
/// them), so that a word written often never shares a line with unrelated ones.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

// ---------------------------------------------------------------------------------------------
// Whole-runtime models (issue 20): what a `Runtime` needs so that a user's program runs inside
// `loom::model` (see `gmp::model`, `model.rs`). Without `--cfg loom` every item below is
// `std`'s own, an `#[inline(always)]` no-op, or a macro that compiles only the real branch, so
// the normal build pays nothing.
// ---------------------------------------------------------------------------------------------

/// `thread_local!` whose keys are per *model* thread under loom (loom runs every model thread
/// on one OS thread, so a `std` thread-local would be shared by all of them).
#[cfg(not(loom))]
pub(crate) use std::thread_local;

/// `loom::thread_local!`, also for `const { ... }` initialisers (which its `expr` matcher
/// refuses in edition 2021).
#[cfg(loom)]
macro_rules! model_thread_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = const { $init:expr }; $($rest:tt)*) => {
        loom::thread_local!($(#[$attr])* $vis static $name: $t = $init);
        $crate::loom::thread_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty = $init:expr; $($rest:tt)*) => {
        loom::thread_local!($(#[$attr])* $vis static $name: $t = $init);
        $crate::loom::thread_local!($($rest)*);
    };
}

#[cfg(loom)]
pub(crate) use model_thread_local as thread_local;

/// The runtime's threads (Ms, the blocking pool, M0's park): `std::thread`, or loom threads
/// with the few extras the runtime uses (`Builder`, `JoinHandle::is_finished`, `sleep`).
#[cfg(not(loom))]
pub(crate) mod thread {
    pub(crate) use std::thread::{current, park, sleep, Builder, JoinHandle, Thread};
}

#[cfg(loom)]
pub(crate) use model_thread::{not_in_a_model, thread, THREADS_STARTED};

#[cfg(loom)]
mod model_thread;

/// Refuses OS resources (sockets, pipes, files, signals) inside a model: loom cannot model the
/// OS, so under loom `call` panics with a message saying so. Without loom it does nothing.
#[cfg(not(loom))]
#[inline(always)]
pub(crate) fn not_in_a_model(_call: &str) {}

/// `$real` in a normal build, `$model` under `--cfg loom`; the other is not compiled. How a
/// module above the shim picks a whole-runtime model's stand-in (`crate::model`, which names
/// the runtime and so cannot live down here) without spelling the cfg itself.
macro_rules! real_or_model_expr {
    ($real:expr, $model:expr $(,)?) => {{
        #[cfg(not(loom))]
        let chosen = $real;
        #[cfg(loom)]
        let chosen = $model;
        chosen
    }};
}
pub(crate) use real_or_model_expr;
