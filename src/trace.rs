//! Introspection: `runtime::stats()`, `runtime::dump()` and Go-style scheduler traces
//! (`GMP_DEBUG=schedtrace=1000[,scheddetail=1]`), printed by sysmon. `GMP_DEBUG=trace=<path>` is
//! parsed here too; the execution trace itself is `runtime/trace.rs`.

use std::fmt::Write as _;
use std::time::Duration;

use crate::processor::ProcessorStatus;
use crate::registry::GoroutineRecord;
use crate::runtime::Shared;

/// The environment variable that turns on scheduler traces.
pub const DEBUG_ENV: &str = "GMP_DEBUG";

/// What `GMP_DEBUG` asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TraceConfig {
    /// Print a `SCHED` line this often.
    pub(crate) schedtrace: Option<Duration>,
    /// Also print a line per P and per goroutine.
    pub(crate) scheddetail: bool,
    /// The long-poll warning's threshold (`longpoll=<ms>`, 0 off; `long_poll.rs`).
    pub(crate) longpoll: crate::long_poll::LongPoll,
    /// Write an execution trace here (`runtime/trace.rs`).
    pub(crate) exec_trace: Option<std::path::PathBuf>,
}

impl TraceConfig {
    /// Reads `GMP_DEBUG` (`schedtrace=<ms>`, `scheddetail=1`, `longpoll=<ms>`, `trace=<path>`,
    /// comma-separated). Unknown or
    /// malformed settings are reported once on stderr and ignored.
    pub(crate) fn from_env() -> Self {
        std::env::var(DEBUG_ENV).map(|value| Self::parse(&value)).unwrap_or_default()
    }

    fn parse(value: &str) -> Self {
        let mut config = Self::default();
        for setting in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match setting.split_once('=') {
                Some(("schedtrace", ms)) => match ms.parse::<u64>() {
                    Ok(ms) if ms > 0 => config.schedtrace = Some(Duration::from_millis(ms)),
                    _ => eprintln!("gmp: ignoring {DEBUG_ENV} setting {setting:?}: schedtrace takes milliseconds > 0"),
                },
                Some(("scheddetail", flag)) => config.scheddetail = flag == "1",
                Some(("longpoll", ms)) => match crate::long_poll::LongPoll::parse(ms) {
                    Some(longpoll) => config.longpoll = longpoll,
                    None => eprintln!(
                        "gmp: ignoring {DEBUG_ENV} setting {setting:?}: longpoll takes milliseconds (0 turns it off)"
                    ),
                },
                Some(("trace", path)) if !path.is_empty() => config.exec_trace = Some(path.into()),
                _ => eprintln!(
                    "gmp: ignoring unknown {DEBUG_ENV} setting {setting:?} (known: schedtrace=<ms>, scheddetail=1, \
                     longpoll=<ms>, trace=<path>)"
                ),
            }
        }
        config
    }
}

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

    let metrics = crate::metrics::collect(shared, &shown);
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
    let now = shared.coarse_now_fresh();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmp_debug_settings_parse_as_go_spells_them() {
        let config = TraceConfig::parse("schedtrace=1000,scheddetail=1");
        assert_eq!(config.schedtrace, Some(Duration::from_millis(1000)));
        assert!(config.scheddetail);
        assert_eq!(TraceConfig::parse("schedtrace=abc"), TraceConfig::default());
        assert_eq!(TraceConfig::parse(""), TraceConfig::default());
        let config = TraceConfig::parse("schedtrace=500,trace=/tmp/gmp trace.json");
        assert_eq!(config.exec_trace, Some("/tmp/gmp trace.json".into()));
        assert_eq!(config.schedtrace, Some(Duration::from_millis(500)));
        assert_eq!(TraceConfig::parse("trace="), TraceConfig::default());
    }

    #[test]
    fn longpoll_sets_the_warning_threshold_and_zero_turns_it_off() {
        use crate::long_poll::{LongPoll, DEFAULT_THRESHOLD};
        assert_eq!(TraceConfig::default().longpoll, LongPoll(Some(DEFAULT_THRESHOLD)));
        assert_eq!(TraceConfig::parse("longpoll=250").longpoll, LongPoll(Some(Duration::from_millis(250))));
        assert_eq!(TraceConfig::parse("schedtrace=5,longpoll=0").longpoll, LongPoll(None));
        assert_eq!(TraceConfig::parse("longpoll=soon"), TraceConfig::default());
    }
}
