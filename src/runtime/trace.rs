//! The execution trace: what every M ran, and when, as Chrome trace-event JSON that Perfetto
//! (<https://ui.perfetto.dev>) and `chrome://tracing` open (Go's `runtime/trace`).
//!
//! Start it with `GMP_DEBUG=trace=<path>` (for the whole life of each runtime built while the
//! variable is set) or with [`start`] and [`stop`] from inside a runtime. The file shows:
//!
//! - one track per thread (`tid`, named by a `thread_name` metadata event): `M0` is the thread
//!   inside `block_on`, `M1`, `M2`… the worker threads in the order they first recorded
//!   something, and `sysmon`;
//! - each poll of a goroutine as a complete event (`"ph":"X"`, `ts` and `dur` in µs) named
//!   `G<id>`, with `args.goroutine` (the id), `args.spawned_at` (`file:line`) and `args.p`
//!   (the P it ran on);
//! - each [`gmp::syscall`](crate::syscall) as a complete event named `syscall`, nested in the
//!   poll that made it, with `args.p_retaken` saying whether sysmon handed the P off meanwhile;
//! - instant events (`"ph":"i"`): `steal` on the thief's track (`args.from_p`, `args.to_p`,
//!   `args.goroutines`), and on sysmon's track `handoff` (a syscall's P retaken and handed off,
//!   Go's `retake` + `handoffp`), `preempt` (a poll past 10 ms asked to yield) and
//!   `stuck poll retake` (a poll blocking its thread: a spare P takes over its queue);
//! - counter events (`"ph":"C"`): `global runqueue` and `P<n> runqueue`, sampled by each M at
//!   most every 100 µs of its polls and by sysmon at most every millisecond.
//!
//! # Examples
//!
//! ```
//! # let dir = std::env::temp_dir().join(format!("gmp-trace-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("trace.json");
//! gmp::Runtime::new().unwrap().block_on(async {
//!     gmp::runtime::trace::start(&path).unwrap();
//!     let handles: Vec<_> = (0..4).map(|_| gmp::spawn(gmp::yield_now())).collect();
//!     for handle in handles {
//!         handle.await.unwrap();
//!     }
//!     let written = gmp::runtime::trace::stop().unwrap();
//!     assert!(written.events > 4);
//! });
//! assert!(std::fs::read_to_string(&path).unwrap().contains("\"ph\":\"X\""));
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```
//!
//! # Design
//!
//! Off, the trace costs one relaxed load of a process-wide counter (`is_on`: how many
//! runtimes are tracing) at each hook: each poll, each `gmp::syscall`, each successful steal,
//! and sysmon's actions. On, events go to a buffer owned by the thread that records them (a
//! thread-local `Arc`, registered once per trace with its runtime's session, under the
//! session's lock; after that, recording takes only the thread's own buffer lock, which no
//! other thread touches until the trace stops). Each runtime has its own trace, identified by
//! a generation number unique in the process, so threads of two runtimes never mix their
//! events and a thread left holding the buffer of a finished trace registers afresh.
//!
//! [`stop`] (or the runtime's shutdown, or the exit of a `#[gmp::main]` program) ends the
//! trace: it clears the runtime's generation, takes every registered buffer, sorts the events
//! by time and writes the file, which [`start`] created (so a bad path fails at once). An event
//! being recorded while the trace stops may be left out; nothing else is. The last poll of a
//! goroutine is recorded as its future completes, before its handle sees the output, so a
//! goroutine joined before `stop` always has its last poll in the file, even if its M was
//! descheduled between the end of that poll and its record.
//!
//! # Overhead
//!
//! On: each poll costs two clock reads, a push of a 40-byte event onto the thread's buffer
//! (an uncontended lock) and, every 100 µs, a queue-length sample.
//! `cargo run --release --example trace -- --overhead` (200 goroutines × 1,000 yields,
//! `maxprocs` 2, traced and untraced runs interleaved in one process, medians of 15) measured
//! 156–321 ns added per poll on a 2-core machine with a load average of 12–17, where one
//! `Instant::now()` alone took ~55 ns: an empty yield loop runs 2.2–2.6× slower, and a poll
//! that does real work pays the same absolute cost. The buffers hold every event until the
//! trace stops (40 bytes a poll; at most 4 Mi events a thread, beyond which events are
//! counted as dropped and reported on stderr). Writing the file at `stop` took 0.3–0.6 s for
//! 2 × 10⁵ events.
//!
//! Off: one relaxed load of a static and a branch at each hook. Counted with callgrind on a
//! fixed workload at `maxprocs` 1 (600,000 polls), the whole program ran 0.8 % more
//! instructions (about 4 per poll) than before the trace existed; wall-clock figures are in
//! the README.
//!
//! # Where the pieces are
//!
//! The recorder — `Tracer` (one per runtime, a field of `Shared`), `is_on`, the events, the
//! threads' buffers and the file writer — is `runtime/trace/recorder.rs`, below the scheduler
//! and the kernel, which both use it. This file holds the public `start` and `stop` and the
//! hooks that read the runtime (`gmp::syscall`, sysmon, a steal through `Platform::stolen`);
//! the hooks of a goroutine's poll are `Context` methods (`context.rs`).

use std::io;
use std::path::Path;
use std::time::Instant;

use crate::context::{self, Context};
use crate::goroutine::Goroutine;
use crate::runtime::shared::Shared;
use crate::sched::Machine;

pub(crate) mod recorder;

pub use recorder::TraceFile;
pub(crate) use recorder::{is_on, SysmonAction, Tracer};
use recorder::{nanos_since, Event, Role, SYSMON_SAMPLE_PERIOD_NS};

/// Starts tracing the current runtime into `path` (created, or truncated, now). The file is
/// written when [`stop`] is called or the runtime shuts down.
///
/// # Errors
///
/// `InvalidInput` if this runtime is already tracing; the error of creating `path` (with the
/// path in its message) if that fails.
///
/// # Panics
///
/// Outside a gmp runtime.
///
/// # Examples
///
/// ```
/// gmp::Runtime::new().unwrap().block_on(async {
///     let error = gmp::runtime::trace::start("/nonexistent-dir/trace.json").unwrap_err();
///     assert!(error.to_string().contains("/nonexistent-dir/trace.json"));
/// });
/// ```
pub fn start(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    with_shared("start", |shared| shared.exec_trace.start(path))
}

/// Stops the current runtime's trace and writes its file.
///
/// # Errors
///
/// `InvalidInput` if this runtime is not tracing; the error of writing the file, if that fails.
///
/// # Panics
///
/// Outside a gmp runtime.
///
/// # Examples
///
/// ```
/// gmp::Runtime::new().unwrap().block_on(async {
///     let error = gmp::runtime::trace::stop().unwrap_err();
///     assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
/// });
/// ```
pub fn stop() -> io::Result<TraceFile> {
    with_shared("stop", |shared| shared.exec_trace.stop())
}

fn with_shared<R>(call: &str, f: impl FnOnce(&Shared) -> R) -> R {
    context::with_runtime(format_args!("gmp::runtime::trace::{call}"), "", |shared| f(shared))
}

/// A `#[gmp::main]` program is about to exit (its runtime is never dropped): writes the trace
/// of the runtime the calling thread serves, if it is tracing.
pub(crate) fn finish_before_exit() {
    context::with_current(|context| {
        if let Some(context) = context {
            context.shared.exec_trace.finish();
        }
    });
}

/// At the start of a `gmp::syscall`: the time, if the trace is on.
#[inline]
pub(crate) fn syscall_started() -> Option<Instant> {
    is_on().then(Instant::now)
}

/// At the end of a `gmp::syscall` that started at `started` on P `p`; `retaken`: sysmon
/// handed the P off meanwhile.
#[cold]
pub(crate) fn syscall_finished(context: &Context, started: Instant, p: usize, retaken: bool) {
    let ended = Instant::now();
    let goroutine = crate::goroutine::with_current(|g| g.map_or(0, Goroutine::id));
    let main = context.machine.interrupt_flag().is_some();
    context.shared.exec_trace.record(Role::Machine { main }, |local, events| {
        let start = nanos_since(local.epoch, started);
        let duration = nanos_since(local.epoch, ended) - start;
        events.push(Event::Syscall { start, duration, goroutine, p: p as u32, retaken });
    });
}

/// M `m` of `shared`'s runtime, on P `to`, stole `goroutines` goroutines from P `from` (the
/// scheduler's steal hook, through `Platform::stolen`).
#[cold]
pub(crate) fn stolen(shared: &Shared, m: &Machine, from: usize, to: usize, goroutines: usize) {
    let now = Instant::now();
    let main = m.interrupt_flag().is_some();
    shared.exec_trace.record(Role::Machine { main }, |local, events| {
        events.push(Event::Steal {
            at: nanos_since(local.epoch, now),
            from: from as u32,
            to: to as u32,
            goroutines: goroutines as u32,
        });
    });
}

/// sysmon did `what` to P `p`.
#[cold]
pub(crate) fn sysmon_acted(shared: &Shared, what: SysmonAction, p: usize) {
    let now = Instant::now();
    shared.exec_trace.record(Role::Sysmon, |local, events| {
        events.push(Event::Sysmon { at: nanos_since(local.epoch, now), what, p: p as u32 });
    });
}

/// sysmon's round: samples every P's queue length and the global queue's, at most once a
/// millisecond.
#[cold]
pub(crate) fn sysmon_round(shared: &Shared) {
    let now = Instant::now();
    shared.exec_trace.record(Role::Sysmon, |local, events| {
        let at = nanos_since(local.epoch, now);
        if local.last_sample.is_some_and(|last| at < last + SYSMON_SAMPLE_PERIOD_NS) {
            return;
        }
        local.last_sample = Some(at);
        let sched = &shared.sched;
        events.push(Event::GlobalQueue { at, length: sched.global.len() as u32 });
        for (p, processor) in sched.processors.iter().enumerate() {
            if processor.status() != crate::processor::ProcessorStatus::Idle || !processor.queue.is_empty() {
                events.push(Event::LocalQueue { at, p: p as u32, length: processor.queue.len() as u32 });
            }
        }
    });
}
