//! Timers: [`sleep`], [`sleep_until`], [`timeout`], [`interval`] (Go's `time.Sleep`,
//! `context.WithTimeout`, `time.Ticker`).
//!
//! A sleeping goroutine holds no M: its timer sits on the timer heap of the P it was polled
//! on (Go's per-P timers), and the M that fires it makes the goroutine runnable on its own P.
//! Timers never fire early. A pending timer costs a few dozen bytes and no allocation of its
//! own, so a million sleeping goroutines are an ordinary load. How timers are stored and who
//! fires them is described in `timers.rs`.
//!
//! Every future here spends one unit of the coop budget when it completes, and a goroutine
//! parked in one shows the wait reason "sleep" in `gmp::runtime::dump()`.
//!
//! Time is read from the clock of the runtime running the calling thread, through this
//! module's [`Instant`] (tokio's `tokio::time::Instant`). Tests can [`pause`] that clock and
//! move it by hand with [`advance`], or let it skip to the next timer whenever the runtime is
//! idle, so that a test of a ten-minute timeout runs in milliseconds;
//! `#[gmp::test(start_paused = true)]` starts a test that way. The clock is per runtime.
//!
//! [`Interval`] drops missed ticks as Go's `time.Ticker` does ([`MissedTickBehavior::Skip`]);
//! tokio's default is `Burst`. Both, and `Delay`, are available.
//!
//! # Examples
//!
//! ```
//! use gmp::time::{interval, sleep, timeout, Duration, Instant};
//!
//! gmp::Runtime::new().unwrap().block_on(async {
//!     let start = Instant::now();
//!     sleep(Duration::from_millis(5)).await;
//!     assert!(start.elapsed() >= Duration::from_millis(5));
//!
//!     let slow = sleep(Duration::from_secs(3600));
//!     assert!(timeout(Duration::from_millis(5), slow).await.is_err());
//!
//!     let mut ticker = interval(Duration::from_millis(1));
//!     for _ in 0..3 {
//!         ticker.tick().await;
//!     }
//! });
//! ```

mod auto_advance;
mod clock;
mod instant;
mod interval;
mod sleep;
mod timeout;
mod timers;

pub use clock::{advance, pause, resume};
pub use instant::Instant;
pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use sleep::{sleep, sleep_until, Sleep};
pub use std::time::Duration;
pub use timeout::{timeout, timeout_at, Elapsed, Timeout};

pub(crate) use auto_advance::{AutoAdvance, Round as AutoAdvanceRound};
pub(crate) use clock::MainFutureWatch;
pub(crate) use timers::Timers;
