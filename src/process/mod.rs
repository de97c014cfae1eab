//! Child processes: std's `Command` and `Child`, with the waiting done on the netpoller.
//!
//! # Design
//!
//! Starting a child is std's `Command::spawn` (a `fork`/`exec` or `posix_spawn`, which
//! returns once the program runs or failed to start) inside [`gmp::syscall`](crate::syscall).
//! Everything that waits goes through the netpoller, so waiting costs no thread:
//!
//! - the parent's ends of piped stdin, stdout and stderr are made non-blocking and wrapped in
//!   `gmp::io::Async`: [`ChildStdin`] is a futures-io `AsyncWrite`, [`ChildStdout`] and
//!   [`ChildStderr`] are `AsyncRead`s;
//! - [`Child::wait`] opens a **pidfd** for the child (Linux 5.3+) and registers it with the
//!   netpoller: it becomes readable when the child exits, and `waitpid(WNOHANG)` then reaps it.
//!   Where the kernel has no pidfd (or a sandbox forbids it), it waits for **SIGCHLD**
//!   through [`gmp::signal`](crate::signal) instead and tries `waitpid(WNOHANG)` for its own
//!   child after each delivery (the listener is made before the first try, so an exit between
//!   the try and the park is not missed). Each SIGCHLD wakes every waiting `Child` of the
//!   process (each then tries its own `waitpid`), which suits tens of children; kernels since
//!   5.3 take the pidfd path.
//!
//! So a program awaiting 200 children has 200 parked goroutines and 200 pidfds, not 200
//! threads blocked in `waitpid`. Nothing reaps a child whose `Child` is dropped unwaited (as
//! with std, it stays a zombie until the program exits).

mod child;
mod command;
mod stdio;
mod wait;

pub use child::Child;
pub use command::Command;
pub use stdio::{ChildStderr, ChildStdin, ChildStdout};

// The std types that the API returns or takes, so that `gmp::process` reads like `std::process`.
pub use std::process::{ExitStatus, Output, Stdio};
