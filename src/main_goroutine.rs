//! What `#[gmp::main]` expands to: the body becomes the **main goroutine** (Go's
//! `runtime.main`), and when it returns the process exits, as a Go program does when `main`
//! returns, even if goroutines or blocking calls are still running.
//!
//! # Design
//!
//! A body whose future is `Send + 'static` (most are) is spawned as an ordinary goroutine, and
//! the calling thread (M0) runs goroutines while it waits, exactly as in `block_on`. Being an
//! ordinary goroutine, the body is never stranded behind a goroutine that blocks M0: sysmon
//! hands M0's P, the main goroutine included, to another M. When the body returns, the main
//! goroutine itself reports its output (`Termination`, as Rust's `main` would), flushes
//! stdout and stderr and calls `std::process::exit`, from whichever thread it runs on.
//!
//! A body that is not `Send` can only be polled on the thread that created it, so it runs as
//! `block_on`'s main future on M0 (see `runtime.rs`) and the process exits when it returns.
//!
//! The choice is made at compile time in the expansion, by autoref specialisation: the
//! expansion calls `(&Main::new(body)).run(runtime)`; `RunAsGoroutine` is implemented for
//! `Main<F>` when `F: Send + 'static` and is found first; `RunOnMainThread`, implemented for
//! `&Main<F>` for any future, is found otherwise.

use std::cell::Cell;
use std::future::Future;
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::process::{ExitCode, Termination};

use futures::FutureExt;

use crate::runtime::Runtime;

/// The body of a `#[gmp::main]` function, waiting to be run.
pub struct Main<F>(Cell<Option<F>>);

impl<F> std::fmt::Debug for Main<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Main")
    }
}

impl<F> Main<F> {
    /// Wraps the body.
    pub fn new(body: F) -> Self {
        Self(Cell::new(Some(body)))
    }

    fn take(&self) -> F {
        self.0.take().expect("gmp: a #[gmp::main] body runs once")
    }
}

/// A `Send` body: run it as the main goroutine.
pub trait RunAsGoroutine {
    /// What the body returns.
    type Output;
    /// Runs the body as the main goroutine; exits the process when it returns.
    fn run(&self, runtime: Runtime) -> Self::Output;
}

impl<F> RunAsGoroutine for Main<F>
where
    F: Future + Send + 'static,
    F::Output: Termination,
{
    type Output = F::Output;

    // The main goroutine's spawn site (in `dump()`) is the `#[gmp::main]` function.
    #[track_caller]
    fn run(&self, runtime: Runtime) -> F::Output {
        let body = self.take();
        let main = runtime.spawn(async move {
            match AssertUnwindSafe(body).catch_unwind().await {
                Ok(output) => exit_with(output),
                // The panic hook has printed the message; exit as Rust does after a panic in
                // `main`.
                Err(_) => exit_now(101),
            }
        });
        // The body is the listed main goroutine; the join below is not a second one.
        match runtime.block_on_unlisted(main) {
            Ok(()) => unreachable!("the main goroutine exits the process"),
            Err(error) => panic!("gmp: the main goroutine did not finish: {error}"),
        }
    }
}

/// A body that is not `Send`: run it on the calling thread as `block_on`'s main future.
pub trait RunOnMainThread {
    /// What the body returns.
    type Output;
    /// Runs the body on the calling thread; exits the process when it returns.
    fn run(&self, runtime: Runtime) -> Self::Output;
}

impl<F> RunOnMainThread for &Main<F>
where
    F: Future,
    F::Output: Termination,
{
    type Output = F::Output;

    #[track_caller]
    fn run(&self, runtime: Runtime) -> F::Output {
        let body = self.take();
        let output = runtime.block_on(async {
            let output = body.await;
            crate::runtime::trace::finish_before_exit(); // the runtime is not dropped
            output
        });
        exit_with(output)
    }
}

/// Reports `output` as Rust's `main` would (an `Err` is printed to stderr), then exits with
/// its exit code.
fn exit_with<T: Termination>(output: T) -> ! {
    let code = output.report();
    // `ExitCode` does not say its number; it compares equal to the one it was made from.
    let code = (0..=u8::MAX).find(|&n| ExitCode::from(n) == code).map_or(1, i32::from);
    exit_now(code)
}

fn exit_now(code: i32) -> ! {
    crate::runtime::trace::finish_before_exit();
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(code)
}
