//! Synchronization for goroutines: [`WaitGroup`] (Go's `sync.WaitGroup`).
//!
//! # Examples
//!
//! ```
//! use gmp::sync::WaitGroup;
//!
//! gmp::Runtime::new().unwrap().block_on(async {
//!     let wg = WaitGroup::new();
//!     for _ in 0..4 {
//!         wg.add(1);
//!         let wg = wg.clone();
//!         gmp::spawn(async move { wg.done() });
//!     }
//!     wg.wait().await;
//! });
//! ```

mod wait_group;

pub use wait_group::{Wait, WaitGroup};
