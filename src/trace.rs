//! Introspection: `runtime::stats()`, `runtime::dump()` and Go-style scheduler traces
//! (`GMP_DEBUG=schedtrace=1000[,scheddetail=1]`), printed by sysmon. `GMP_DEBUG=trace=<path>` is
//! parsed in `runtime/config.rs`; the execution trace itself is `runtime/trace.rs`.

use std::fmt::Write as _;

use crate::metrics::{Histogram, ProcessorCounters, ProcessorStats};
use crate::processor::ProcessorStatus;
use crate::registry::GoroutineRecord;
use crate::runtime::shared::Shared;

/// A snapshot of the scheduler's counters.
///
/// # Examples
///
/// ```
/// gmp::Runtime::new().unwrap().block_on(async {
///     let stats = gmp::runtime::stats();
///     assert_eq!(stats.local_queue_lengths.len(), stats.maxprocs);
///     assert_eq!(stats.goroutines, 1); // the main goroutine
/// });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Ps that run goroutines at once.
    pub maxprocs: usize,
    /// Live goroutines (as `num_goroutine()`).
    pub goroutines: usize,
    /// Threads the runtime has started and that are alive now: every worker thread (M),
    /// whatever it does (running goroutines, spinning, parked idle, inside `gmp::syscall`,
    /// stuck in a blocking poll), plus the `spawn_blocking` pool's threads. Not counted: the
    /// thread that called `block_on` (M0, the caller's own) and sysmon.
    pub threads: usize,
    /// Of `threads`, those of the `spawn_blocking` pool (busy or idle).
    pub blocking_threads: usize,
    /// Ps on the idle list.
    pub idle_processors: usize,
    /// Ms looking for work to steal.
    pub spinning_threads: usize,
    /// Ms parked on the idle list.
    pub idle_threads: usize,
    /// Goroutines in the global queue.
    pub global_queue_length: usize,
    /// Goroutines in each P's local queue (runnext included), P0 first; spare Ps that are not
    /// in use are left out.
    pub local_queue_lengths: Vec<usize>,
    /// Scheduling rounds run on each P.
    pub schedticks: Vec<u32>,
    /// Timers (sleeps, timeouts, intervals) waiting to fire (Go's `timerslen`, summed).
    pub pending_timers: usize,
    /// Event counters summed over every P (spares included), plus the netpoll wakes of
    /// threads holding no P. See [`ProcessorCounters`](crate::runtime::ProcessorCounters).
    pub counters: crate::metrics::ProcessorCounters,
    /// The same Ps as `local_queue_lengths`, each with its counters and histograms.
    pub processors: Vec<crate::metrics::ProcessorStats>,
    /// Sampled poll durations, merged over every P.
    pub poll_time_histogram: crate::metrics::Histogram,
    /// Sampled scheduling latencies (a goroutine made runnable until it starts running),
    /// merged over every P.
    pub scheduling_latency_histogram: crate::metrics::Histogram,
}

pub(crate) fn stats(shared: &Shared) -> Stats {
    let sched = &shared.sched;
    let shown = shown_processors(shared);
    let blocking_threads = shared.blocking.thread_count();

    let metrics = collect(shared, &shown);
    Stats {
        maxprocs: sched.maxprocs,
        goroutines: shared.registry.len(),
        threads: shared.thread_count() + blocking_threads,
        blocking_threads,
        idle_processors: sched.idle_processors(),
        spinning_threads: sched.spinning_machines(),
        idle_threads: sched.idle_machines(),
        global_queue_length: sched.global.len(),
        local_queue_lengths: shown.iter().map(|&p| sched.processors[p].queue.len()).collect(),
        schedticks: shown.iter().map(|&p| sched.processors[p].schedtick()).collect(),
        pending_timers: shared.timers.len(),
        counters: metrics.counters,
        processors: metrics.processors,
        poll_time_histogram: metrics.poll_time_histogram,
        scheduling_latency_histogram: metrics.scheduling_latency_histogram,
    }
}

/// The first `maxprocs` Ps, plus any spare that is in use.
fn shown_processors(shared: &Shared) -> Vec<usize> {
    let sched = &shared.sched;
    (0..sched.processors.len())
        .filter(|&p| p < sched.maxprocs || sched.processors[p].status() != ProcessorStatus::Idle)
        .collect()
}

/// The `SCHED` line of a schedtrace.
pub(crate) fn sched_line(shared: &Shared) -> String {
    let stats = stats(shared);
    let queues: Vec<String> = stats.local_queue_lengths.iter().map(usize::to_string).collect();
    format!(
        "SCHED {}ms: maxprocs={} idleprocs={} threads={} spinningthreads={} idlethreads={} runqueue={} [{}]",
        shared.started_at().elapsed().as_millis(),
        stats.maxprocs,
        stats.idle_processors,
        stats.threads + 1,
        stats.spinning_threads,
        stats.idle_threads,
        stats.global_queue_length,
        queues.join(" ")
    )
}

/// The per-P and per-goroutine lines of `scheddetail=1`.
pub(crate) fn detail_lines(shared: &Shared) -> String {
    let mut out = String::new();
    for p in shown_processors(shared) {
        let processor = &shared.sched.processors[p];
        let _ = writeln!(
            out,
            "  P{p}: status={:?} schedtick={} syscalltick={} runqsize={} blocked={}",
            processor.status(),
            processor.schedtick(),
            processor.syscall_tick(),
            processor.queue.len(),
            processor.is_blocked(),
        );
    }
    for record in crate::poll_watch::goroutines(shared) {
        let _ = writeln!(out, "  G{}: status={}", record.id, status_text(&record));
    }
    out
}

fn status_text(record: &GoroutineRecord) -> String {
    let reason = record.wait_reason.as_str();
    if reason.is_empty() || record.state != crate::goroutine::GoroutineState::Waiting {
        record.state.as_str().to_owned()
    } else {
        format!("{}({reason})", record.state.as_str())
    }
}

/// Every goroutine, Go-traceback style: `goroutine 7 [IO wait, 3 minutes]:` and where it was
/// spawned. A goroutine in a poll says on which P and, once sysmon has seen the poll, how
/// long it has run (`[running, P1, 1502 ms in one poll]`); a `spawn_blocking` call says so
/// (`[syscall, spawn_blocking]`).
pub(crate) fn dump(shared: &Shared) -> String {
    let now = shared.update_coarse_clock();
    let mut out = String::new();
    for record in crate::poll_watch::goroutines(shared) {
        let _ = writeln!(out, "goroutine {} [{}]:", record.id, dump_status(&record, now));
        let _ = writeln!(out, "\tspawned at {}\n", record.spawned_at);
    }
    out
}

/// What goes between the brackets of a dump line.
fn dump_status(record: &GoroutineRecord, now_ms: u32) -> String {
    use crate::goroutine::GoroutineState::{Runnable, Running, Syscall, Waiting};
    let mut status = match (record.state, record.wait_reason.as_str()) {
        (Waiting, "") => "waiting".to_owned(),
        (Waiting, reason) => reason.to_owned(),
        (state, _) => state.as_str().to_owned(),
    };
    match record.state {
        Running => {
            if let Some(p) = record.processor {
                let _ = write!(status, ", P{p}");
            }
            if let Some(running_for) = record.running_for {
                let _ = write!(status, ", {} ms in one poll", running_for.as_millis());
            }
        }
        Syscall if record.blocking_call => status.push_str(", spawn_blocking"),
        Syscall | Waiting | Runnable => {}
    }
    // As Go: how long it has waited, in whole minutes, from one minute on.
    let waited = now_ms.saturating_sub(record.since_ms) / 60_000;
    if waited > 0 && matches!(record.state, Waiting | Syscall) {
        let _ = write!(status, ", {waited} minutes");
    }
    status
}

/// What `stats()` shows of the metrics.
struct Collected {
    counters: ProcessorCounters,
    processors: Vec<ProcessorStats>,
    poll_time_histogram: Histogram,
    scheduling_latency_histogram: Histogram,
}

/// Reads every P's metrics; lists those in `shown`, sums over all.
fn collect(shared: &Shared, shown: &[usize]) -> Collected {
    let processors = &shared.sched.processors;
    let mut collected = Collected {
        counters: ProcessorCounters::default(),
        processors: Vec::with_capacity(shown.len()),
        poll_time_histogram: Histogram::default(),
        scheduling_latency_histogram: Histogram::default(),
    };
    for (index, processor) in processors.iter().enumerate() {
        let metrics = &processor.metrics;
        let counters = metrics.counters(processor.polls());
        let poll_time = metrics.poll_time_histogram();
        let latency = metrics.scheduling_latency_histogram();
        collected.counters += counters;
        collected.poll_time_histogram.merge(&poll_time);
        collected.scheduling_latency_histogram.merge(&latency);
        if shown.contains(&index) {
            collected.processors.push(ProcessorStats {
                index,
                status: match processor.status() {
                    ProcessorStatus::Idle => "idle",
                    ProcessorStatus::Running => "running",
                    ProcessorStatus::Syscall => "syscall",
                },
                local_queue_length: processor.queue.len(),
                counters,
                poll_time_histogram: poll_time,
                scheduling_latency_histogram: latency,
            });
        }
    }
    collected.counters.netpoll_wakes += shared.netpoll.wakes_without_processor();
    collected
}
