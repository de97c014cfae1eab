//! The `#[gmp::main]` and `#[gmp::test]` attributes.
//!
//! Use them through the `gmp` crate, which re-exports them as `gmp::main` and `gmp::test`;
//! the expansion names `::gmp::Builder`, so this crate is of no use without `gmp`.
//!
//! ```ignore
//! #[gmp::main(maxprocs = 2)]
//! async fn main() {
//!     let answer = gmp::spawn(async { 6 * 7 }).await.unwrap();
//!     assert_eq!(answer, 42);
//! }
//! ```
//!
//! (The examples in this crate are `ignore`d because a proc-macro crate cannot depend on the
//! crate its expansion names; the same examples run as doctests in `gmp`.)

// How the attributes expand
// =========================
//
// Both attributes turn an `async fn` into an ordinary fn that builds a runtime and runs the
// body on the calling thread (M0, holding a P, as in DESIGN.md) until it completes:
//
//     #[gmp::main(maxprocs = 2)]            fn main() -> R {
//     async fn main() -> R { body }   ==>       ::gmp::Builder::new()
//                                                   .maxprocs(2)
//                                                   .build()
//                                                   .expect("gmp: failed to build the runtime")
//                                                   .block_on(async move { body })
//                                           }
//
// `#[gmp::main]` also calls `.dump_on_sigquit(true)` (Go's SIGQUIT: every goroutine on stderr,
// exit status 2); `#[gmp::test]` does not, and is otherwise the same with
// `#[::core::prelude::v1::test]` put in front (the full path,
// so that a user's own `test` item cannot shadow it). The function keeps its attributes,
// visibility, name and return type; only `async` goes. `block_on` returns the body's value,
// so `-> Result<..>` and `?` work as in a synchronous main, and `return` in the body returns
// from the `async move` block, which is the same thing. Arguments map one to one onto the
// `Builder` methods of the same name (`config.rs`). The builder call carries the location of
// the body's last statement (with the call site's hygiene), so a body whose value does not
// match the return type is reported there, not at the attribute.
//
// Errors are `compile_error!`s spanned at the offending token, and every error found is
// reported in one go. After them the macro still emits the function, expanded as far as it
// sensibly can be, so that the user does not also get "`main` function not found" or "`main`
// is not allowed to be `async`" (`entry.rs` has the cases).
//
// Files: `entry.rs` (the item: checks and expansion), `config.rs` (the arguments). Both work
// on `proc_macro2::TokenStream` so that their unit tests can run outside a compiler.

#![warn(missing_docs, rust_2018_idioms)]

use proc_macro::TokenStream;

mod config;
mod entry;

use entry::Kind;

/// Runs an `async fn main` on a new gmp runtime.
///
/// The function becomes a synchronous one that builds a runtime with `gmp::Builder` and
/// blocks on the body, returning its value; the function's attributes, visibility and return
/// type are kept. The calling thread runs the body while holding a P, so goroutines spawned
/// from it start on its local queue, and with `maxprocs = 1` the whole program runs on it.
///
/// As in Go, the program answers SIGQUIT (Ctrl-\\) by printing every goroutine on stderr
/// (`gmp::runtime::dump()`) and exiting with status 2 (`gmp::Builder::dump_on_sigquit`),
/// unless it listens for SIGQUIT itself with `gmp::signal::signal`.
///
/// # Arguments
///
/// Each is a `gmp::Builder` method of the same name, given a positive integer literal:
///
/// - `maxprocs = N`: the number of Ps (the default is the number of CPUs, or
///   `GMP_MAXPROCS`).
/// - `max_threads = N`: the cap on worker threads (Ms).
/// - `max_blocking_threads = N`: the cap on the `spawn_blocking` pool.
///
/// # Examples
///
/// (Marked `ignore` because this crate cannot depend on `gmp`; `gmp` runs them as doctests.)
///
/// ```ignore
/// #[gmp::main]
/// async fn main() {
///     let handle = gmp::spawn(async { 1 + 1 });
///     assert_eq!(handle.await.unwrap(), 2);
/// }
/// ```
///
/// With arguments, and a fallible main:
///
/// ```ignore
/// use std::error::Error;
///
/// #[gmp::main(maxprocs = 2, max_blocking_threads = 16)]
/// async fn main() -> Result<(), Box<dyn Error>> {
///     let listener = gmp::net::TcpListener::bind("127.0.0.1:0").await?;
///     println!("listening on {}", listener.local_addr()?);
///     Ok(())
/// }
/// ```
///
/// # Errors
///
/// A compile error, at the offending token, for a function that is not `async`, that takes
/// parameters or is generic, for an unknown argument, and for a value that is not an integer
/// literal of at least 1.
#[proc_macro_attribute]
pub fn main(attr: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(Kind::Main, attr.into(), item.into()).into()
}

/// Runs an `async fn` test on a new gmp runtime.
///
/// The function becomes a synchronous `#[test]` that builds a runtime with `gmp::Builder` and
/// blocks on the body. Each test gets its own runtime. Other attributes (`#[should_panic]`,
/// `#[ignore]`, …) and the return type are kept, so a test may return a `Result`. It takes
/// the same arguments as `#[gmp::main]`, and one more:
///
/// - `start_paused = true`: the body starts with the runtime's clock paused
///   (`gmp::time::pause()` is its first statement), so timers wait for virtual time, which
///   `gmp::time::advance` moves and which skips ahead whenever the runtime is idle: a test of
///   a ten-minute timeout runs in milliseconds.
///
/// # Examples
///
/// (Marked `ignore` because this crate cannot depend on `gmp`; `gmp` runs them as doctests.)
///
/// ```ignore
/// #[gmp::test]
/// async fn a_spawned_goroutine_runs() {
///     assert_eq!(gmp::spawn(async { 2 }).await.unwrap(), 2);
/// }
///
/// #[gmp::test(maxprocs = 1)]
/// #[should_panic(expected = "boom")]
/// async fn a_panic_fails_the_test() {
///     panic!("boom");
/// }
///
/// #[gmp::test(start_paused = true)]
/// async fn a_long_timeout_fires_at_once() {
///     let never = std::future::pending::<()>();
///     let limit = gmp::time::Duration::from_secs(600);
///     assert!(gmp::time::timeout(limit, never).await.is_err());
/// }
/// ```
///
/// # Errors
///
/// As for `#[gmp::main]`, and also for a function that carries a second test attribute
/// (`#[test]` or another crate's `#[..::test]`): `#[gmp::test]` adds `#[test]` itself.
#[proc_macro_attribute]
pub fn test(attr: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(Kind::Test, attr.into(), item.into()).into()
}
