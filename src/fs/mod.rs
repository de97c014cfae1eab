//! Files and directories: std::fs's functions and types, awaitable in goroutines.
//!
//! # Design
//!
//! Go runs file I/O as a plain blocking system call on the goroutine's own thread: page-cache
//! reads and `stat`s take microseconds, and if one blocks long (a slow disk, NFS) sysmon hands
//! the thread's P to another thread so the P's other goroutines keep running. gmp does the
//! same: every operation here is the std call run inside [`gmp::syscall`](crate::syscall) on the
//! thread that polls the goroutine. Nothing is sent to a thread pool (tokio::fs sends every
//! call to its blocking pool: a thread handoff and a wake-up each time), so a fast operation
//! costs about what std costs, and 2,000 goroutines reading files at once do not make 2,000
//! threads: the runtime's Ms are its threads, plus one more for each call that sysmon finds
//! still in the kernel a tick later with goroutines queued (on a heavily loaded machine a call
//! whose thread the OS descheduled counts too: +7 to +15 threads for 2,000 readers on 2 Ps at
//! a load average of 10-15, see `tests/fs.rs`).
//!
//! Each operation first spends a unit of the cooperative budget (so a goroutine looping over
//! files lets its P's other goroutines run), then runs to completion in one poll. The futures
//! borrow their arguments instead of copying paths to the heap.
//!
//! Errors are std's own `io::Error`s (`NotFound`, `PermissionDenied`, `InvalidData` for
//! non-UTF-8 text in [`read_to_string`], ...). Outside a gmp runtime the futures panic with a
//! message that says how to enter one, as every gmp I/O call does.
//!
//! # Examples
//!
//! ```
//! gmp::Runtime::new().unwrap().block_on(async {
//!     let dir = std::env::temp_dir().join(format!("gmp-fs-doc-{}", std::process::id()));
//!     gmp::fs::create_dir_all(&dir).await.unwrap();
//!     gmp::fs::write(dir.join("hello.txt"), "hello").await.unwrap();
//!     assert_eq!(gmp::fs::read_to_string(dir.join("hello.txt")).await.unwrap(), "hello");
//!     gmp::fs::remove_dir_all(&dir).await.unwrap();
//! });
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

mod file;
mod functions;
mod open_options;
mod read_dir;

pub use file::File;
#[cfg(unix)]
pub use functions::symlink;
pub use functions::{
    canonicalize, copy, create_dir, create_dir_all, hard_link, metadata, read, read_link, read_to_string, remove_dir,
    remove_dir_all, remove_file, rename, set_permissions, symlink_metadata, try_exists, write,
};
pub use open_options::OpenOptions;
pub use read_dir::{read_dir, DirEntry, ReadDir};

// The std types that the functions return, so that `gmp::fs` reads like `std::fs`.
pub use std::fs::{FileTimes, FileType, Metadata, Permissions};

/// Panics unless the calling thread serves a gmp runtime, naming `call`.
#[track_caller]
pub(crate) fn expect_runtime(call: &str) {
    if !crate::context::with_current(|context| context.is_some()) {
        crate::context::outside_runtime(call, crate::context::IN_A_GOROUTINE);
    }
}

/// Spends a unit of the coop budget, then runs `op` through the syscall path: the body of every
/// `poll_*` in this module. `Pending` (after waking the task) when the goroutine should yield.
/// A call that loses its P to sysmon and finds none on return spends the rest of the budget
/// (`gmp::syscall` does that), so the goroutine's next fs call yields instead of running on
/// without a P, as Go parks a goroutine at `exitsyscall`.
pub(crate) fn poll_syscall<R>(cx: &mut Context<'_>, call: &str, op: impl FnOnce() -> R) -> Poll<R> {
    expect_runtime(call);
    crate::loom::not_in_a_model(call);
    if crate::coop::poll_proceed(cx).is_pending() {
        return Poll::Pending;
    }
    Poll::Ready(crate::syscall(op))
}

/// A future that runs one blocking call through [`poll_syscall`] when first polled with
/// budget to spare.
pub(crate) struct Syscall<F> {
    call: &'static str,
    op: Option<F>,
}

// `op` is only ever moved out of the `Option`, never pinned: the future is `Unpin` whatever
// `F` is.
impl<F> Unpin for Syscall<F> {}

impl<R, F: FnOnce() -> R> Future for Syscall<F> {
    type Output = R;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        let this = &mut *self;
        let mut op = this.op.take();
        let poll = poll_syscall(cx, this.call, || (op.take().expect("gmp::fs future polled after it completed"))());
        this.op = op;
        poll
    }
}

/// `op` as a future that runs it on the goroutine's thread (see the module's design comment).
pub(crate) fn run<R, F: FnOnce() -> R>(call: &'static str, op: F) -> Syscall<F> {
    Syscall { call, op: Some(op) }
}
