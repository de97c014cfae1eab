//! The validated configuration a runtime runs with, as [`Builder`](crate::Builder) checked it.
//!
//! Its own file so that the kernel (`shared.rs`), which keeps a `Config`, does not depend on
//! the builder, which builds a `Runtime` above it.

use std::time::Duration;

/// The validated configuration a runtime runs with.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) maxprocs: usize,
    pub(crate) max_threads: usize,
    pub(crate) max_blocking_threads: usize,
    pub(crate) blocking_keep_alive: Duration,
    pub(crate) thread_name: String,
    pub(crate) thread_stack_size: Option<usize>,
    pub(crate) dump_on_sigquit: bool,
    pub(crate) drop_timeout: Duration,
}
