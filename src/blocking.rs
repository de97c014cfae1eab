//! The `spawn_blocking` pool (stub: filled in by the blocking issue).

use std::time::Instant;

/// Threads for blocking calls.
#[derive(Debug)]
pub(crate) struct BlockingPool {}

impl BlockingPool {
    pub(crate) fn new(_config: &crate::builder::Config) -> Self {
        Self {}
    }

    /// Stops the pool: queued calls are cancelled, idle threads exit; waits for busy threads
    /// until `deadline` (forever if `None`).
    pub(crate) fn shutdown(&self, _deadline: Option<Instant>) {}
}
