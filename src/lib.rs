//! gmp: an async executor that schedules futures the way Go's runtime schedules goroutines.
//!
//! A goroutine (G) is a spawned future; an M is an OS thread; a P is a logical processor an M
//! must hold to run goroutines. Each P has a 256-slot local queue and a `runnext` slot; idle
//! Ms steal half of another P's queue; a global queue takes overflow and outside spawns.
//!
//! # Examples
//!
//! ```
//! let rt = gmp::Runtime::new().unwrap();
//! let total = rt.block_on(async {
//!     let handles: Vec<_> = (1..=100u64).map(|i| gmp::spawn(async move { i })).collect();
//!     let mut total = 0;
//!     for handle in handles {
//!         total += handle.await.unwrap();
//!     }
//!     total
//! });
//! assert_eq!(total, 5050);
//! ```
//!
//! With the attribute macros:
//!
//! ```
//! #[gmp::main(maxprocs = 2)]
//! async fn main() {
//!     let answer = gmp::spawn(async { 42 }).await.unwrap();
//!     assert_eq!(answer, 42);
//! }
//! ```
//!
//! Misusing the attributes is a compile error that names the problem: a `#[gmp::main]` or
//! `#[gmp::test]` function must be `async`,
//!
//! ```compile_fail
//! #[gmp::main]
//! fn main() {}
//! ```
//!
//! take no parameters,
//!
//! ```compile_fail
//! #[gmp::test]
//! async fn takes_an_argument(x: u32) {}
//! ```
//!
//! and be given only known arguments with positive integer values:
//!
//! ```compile_fail
//! #[gmp::main(flavor = "current_thread")]
//! async fn main() {}
//! ```
//!
//! ```compile_fail
//! #[gmp::main(maxprocs = 0)]
//! async fn main() {}
//! ```
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![warn(clippy::undocumented_unsafe_blocks)]

#[allow(unused_extern_crates)]
extern crate self as gmp;

mod blocking;
pub mod chan;
mod console;

#[cfg(any(feature = "hyper", feature = "tokio-io"))]
pub mod compat;
mod context;
mod coop;
pub mod fs;
mod global_queue;
mod goroutine;
pub mod io;
mod long_poll;
mod loom;
#[doc(hidden)]
pub mod main_goroutine;
mod metrics;
pub mod net;
mod netpoll;
mod os;
mod platform;
mod poll_watch;
#[cfg(unix)]
pub mod process;
mod processor;
mod registry;
mod runq;
pub mod runtime;
mod sched;
#[cfg(unix)]
pub mod signal;
#[cfg(unix)]
mod sigquit;
pub mod sync;
mod syscall;
mod sysmon;
mod task;
pub mod time;
mod trace;

pub use coop::consume_budget;
pub use gmp_macros::{main, test};
pub use runtime::builder::Builder;
pub use runtime::{spawn, spawn_blocking, EnterGuard, Handle, NoRuntime, Runtime};
pub use syscall::syscall;
pub use task::{yield_now, Cancel, JoinError, JoinHandle, YieldNow};

loom::only_under_loom! {
    /// Whole programs under loom: `model`, `model_with` and `ModelBuilder`, built only under
    /// `RUSTFLAGS="--cfg loom"` (see the README's "Model-checking your program").
    mod model;
    pub use model::{model, model_with, ModelBuilder};
}

loom::only_under_loom! {
    /// What loom models need of gmp's internals; built only under `--cfg loom`.
    #[doc(hidden)]
    pub mod loom_exports {
        pub use crate::global_queue::{GlobalQueue, Taken, GLOBAL_BATCH_LIMIT};
        pub use crate::netpoll::gate::{GateOutcome, WaitGate};
        pub use crate::processor::{Processor, ProcessorStatus, GLOBAL_QUEUE_INTERVAL, RESCUE_EVERY};
        pub use crate::registry::{EntrySlots, ShardLock, SlotsOwner};
        pub use crate::runq::{LocalQueue, Overflow, QueueItem, LOCAL_QUEUE_CAPACITY};
        pub use crate::sched::{Machine, Platform, Scheduler, Wakeup};
    }
}
