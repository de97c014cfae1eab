//! Helpers shared by the integration tests (each test file includes this with `mod common;`).

#![allow(dead_code)] // each test file uses a different subset

use std::any::Any;
use std::sync::mpsc::RecvTimeoutError;
use std::thread;
use std::time::Duration;

/// Runs `f`; if it is not done within `limit`, prints what was waited for and aborts the test
/// process, so a lost wakeup fails the run instead of hanging it.
pub fn within<T>(limit: Duration, what: &str, f: impl FnOnce() -> T) -> T {
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let what = what.to_owned();
    let watchdog = thread::spawn(move || {
        if let Err(RecvTimeoutError::Timeout) = done_rx.recv_timeout(limit) {
            eprintln!("{what}: not done after {limit:?}; aborting the test process");
            std::process::abort();
        }
    });
    let out = f();
    drop(done_tx);
    let _ = watchdog.join();
    out
}

/// The text of a panic payload (`&str` or `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}
