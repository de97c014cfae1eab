//! The shim's half of whole-runtime models (`crate::model`, under `--cfg loom` only): the
//! runtime's threads as loom threads, and the refusal of OS resources inside a model. It
//! names nothing of the runtime, so the shim stays at the bottom of the import graph.

std::thread_local! {
    /// Threads the runtimes of the current model run have started (for `ModelBuilder::check`'s
    /// "loom explored nothing" check: with no thread but the model's own, one run is all there
    /// is). A `std` thread-local: loom runs a whole model on the OS thread that called `check`.
    pub(crate) static THREADS_STARTED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The runtime's threads as loom threads.
pub(crate) mod thread {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::Arc;

    pub(crate) use loom::thread::{current, park, Thread};

    /// `std::thread::Builder` over loom threads (name and stack size are ignored).
    #[derive(Debug, Default)]
    pub(crate) struct Builder;

    impl Builder {
        pub(crate) fn new() -> Self {
            Builder
        }

        pub(crate) fn name(self, _name: String) -> Self {
            self
        }

        pub(crate) fn stack_size(self, _size: usize) -> Self {
            self
        }

        pub(crate) fn spawn<F, T>(self, f: F) -> std::io::Result<JoinHandle<T>>
        where
            F: FnOnce() -> T + Send + 'static,
            T: Send + 'static,
        {
            super::THREADS_STARTED.with(|started| started.set(started.get() + 1));
            let finished = Arc::new(AtomicBool::new(false));
            let flag = finished.clone();
            let inner = loom::thread::spawn(move || {
                let output = f();
                flag.store(true, SeqCst);
                output
            });
            Ok(JoinHandle { inner, finished })
        }
    }

    /// A loom thread's handle, with `is_finished`.
    #[derive(Debug)]
    pub(crate) struct JoinHandle<T> {
        inner: loom::thread::JoinHandle<T>,
        finished: Arc<AtomicBool>,
    }

    impl<T> JoinHandle<T> {
        pub(crate) fn join(self) -> std::thread::Result<T> {
            self.inner.join()
        }

        pub(crate) fn is_finished(&self) -> bool {
            self.finished.load(SeqCst)
        }
    }

    /// A model has no clock to sleep on: let the other threads run instead.
    pub(crate) fn sleep(_duration: std::time::Duration) {
        loom::thread::yield_now();
    }
}

/// Panics: `call` needs the OS (a socket, a pipe, a file, a signal), which a model cannot have.
#[track_caller]
pub(crate) fn not_in_a_model(call: &str) {
    panic!(
        "gmp::model: {call} is not available inside a model: loom cannot model sockets, pipes, files \
         or signals. Model the program's logic over gmp::chan or gmp::sync instead, and test the I/O \
         outside loom"
    );
}
