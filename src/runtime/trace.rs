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
//! being recorded while the trace stops may be left out; nothing else is.
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

use std::cell::RefCell;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write as _};
use std::panic::Location;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::Shared;
use crate::goroutine::{Goroutine, Runnable};
use crate::machine::{self, Context};

/// Runtimes tracing now, process-wide: the one load every hook pays while tracing is off.
static TRACING_RUNTIMES: AtomicUsize = AtomicUsize::new(0);
/// Trace generations, unique in the process (0 means "no trace").
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// Events one thread keeps in one trace; past this they are counted and dropped.
const MAX_EVENTS_PER_THREAD: usize = 1 << 22;
/// How often (ns) an M samples the queue lengths, at most.
const M_SAMPLE_PERIOD_NS: u64 = 100_000;
/// How often (ns) sysmon samples the queue lengths, at most.
const SYSMON_SAMPLE_PERIOD_NS: u64 = 1_000_000;

/// True if some runtime in the process is tracing (one relaxed load; every hook checks this
/// before anything else).
#[inline(always)]
pub(crate) fn is_on() -> bool {
    TRACING_RUNTIMES.load(Relaxed) != 0
}

/// What [`stop`] wrote.
///
/// # Examples
///
/// ```
/// # let path = std::env::temp_dir().join(format!("gmp-trace-file-{}.json", std::process::id()));
/// gmp::Runtime::new().unwrap().block_on(async {
///     gmp::runtime::trace::start(&path).unwrap();
///     gmp::spawn(async {}).await.unwrap();
///     let written = gmp::runtime::trace::stop().unwrap();
///     assert_eq!(written.path, path);
/// });
/// # std::fs::remove_file(&path).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TraceFile {
    /// The file, as given to [`start`].
    pub path: PathBuf,
    /// Trace events written (metadata events excluded).
    pub events: usize,
    /// Events left out because a thread's buffer was full.
    pub dropped: u64,
}

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
    machine::with_current(|context| match context {
        Some(context) => f(&context.shared),
        None => panic!(
            "gmp::runtime::trace::{call} must be called from inside a gmp runtime: run the code \
             under Runtime::block_on or #[gmp::main]"
        ),
    })
}

/// One runtime's trace state (a field of `Shared`).
#[derive(Debug, Default)]
pub(crate) struct Tracer {
    /// The running trace's generation, 0 if none.
    generation: AtomicU64,
    session: Mutex<Option<Session>>,
}

#[derive(Debug)]
struct Session {
    generation: u64,
    path: PathBuf,
    file: File,
    epoch: Instant,
    buffers: Vec<Arc<ThreadBuffer>>,
    /// Worker tracks numbered so far (M0 and sysmon have their own names).
    workers: u32,
    /// A thread in `block_on` has registered as M0.
    main_registered: bool,
}

/// The events one thread recorded in one trace.
#[derive(Debug)]
struct ThreadBuffer {
    track: u32,
    name: String,
    events: Mutex<Events>,
}

#[derive(Debug, Default)]
struct Events {
    list: Vec<Event>,
    dropped: u64,
}

/// One recorded event; times are nanoseconds since the trace started.
#[derive(Debug, Clone, Copy)]
enum Event {
    Poll { start: u64, duration: u64, goroutine: u64, spawned_at: &'static Location<'static>, p: u32 },
    Syscall { start: u64, duration: u64, goroutine: u64, p: u32, retaken: bool },
    Steal { at: u64, from: u32, to: u32, goroutines: u32 },
    Sysmon { at: u64, what: SysmonAction, p: u32 },
    GlobalQueue { at: u64, length: u32 },
    LocalQueue { at: u64, p: u32, length: u32 },
}

impl Event {
    fn time(&self) -> u64 {
        match *self {
            Event::Poll { start, .. } | Event::Syscall { start, .. } => start,
            Event::Steal { at, .. }
            | Event::Sysmon { at, .. }
            | Event::GlobalQueue { at, .. }
            | Event::LocalQueue { at, .. } => at,
        }
    }
}

/// What sysmon did to a P.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SysmonAction {
    /// Retook the P of a long `gmp::syscall` and handed it off (Go's `retake` + `handoffp`).
    HandOff,
    /// Asked a poll past 10 ms to yield.
    Preempt,
    /// Marked a stuck poll's P blocked; a spare P takes its queue.
    StuckPollRetake,
}

impl SysmonAction {
    fn name(self) -> &'static str {
        match self {
            SysmonAction::HandOff => "handoff",
            SysmonAction::Preempt => "preempt",
            SysmonAction::StuckPollRetake => "stuck poll retake",
        }
    }
}

/// The calling thread's buffer in the trace it last recorded into.
struct Local {
    generation: u64,
    clock: Clock,
    buffer: Arc<ThreadBuffer>,
}

/// The trace's clock, as the calling thread sees it.
struct Clock {
    epoch: Instant,
    /// When (ns since the epoch) this thread last sampled the queue lengths.
    last_sample: Option<u64>,
}

crate::loom::thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// Which track a thread registers as.
#[derive(Clone, Copy)]
enum Role {
    Machine { main: bool },
    Sysmon,
}

impl Tracer {
    /// Starts a trace into `path` unless one runs.
    pub(crate) fn start(&self, path: &Path) -> io::Result<()> {
        let mut session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(running) = session.as_ref() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "gmp::runtime::trace::start: this runtime is already tracing into {}; call \
                     gmp::runtime::trace::stop() first",
                    running.path.display()
                ),
            ));
        }
        let file = File::create(path).map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("gmp::runtime::trace::start: cannot create {}: {error}", path.display()),
            )
        })?;
        let generation = NEXT_GENERATION.fetch_add(1, Relaxed);
        *session = Some(Session {
            generation,
            path: path.to_owned(),
            file,
            epoch: Instant::now(),
            buffers: Vec::new(),
            workers: 0,
            main_registered: false,
        });
        self.generation.store(generation, Relaxed);
        TRACING_RUNTIMES.fetch_add(1, Relaxed);
        Ok(())
    }

    /// `GMP_DEBUG=trace=<path>`, for a runtime being built: the first such runtime of the
    /// process traces into `path`, the n-th into `path` with `.n` before its extension
    /// (`trace.2.json`), so a program that builds several runtimes keeps every trace. A path
    /// that cannot be created is reported on stderr and the runtime runs untraced.
    pub(crate) fn start_from_env(&self, path: &Path) {
        static RUNTIMES_TRACED_FROM_ENV: AtomicUsize = AtomicUsize::new(0);
        let n = RUNTIMES_TRACED_FROM_ENV.fetch_add(1, Relaxed) + 1;
        let path = if n == 1 { path.to_owned() } else { numbered(path, n) };
        if n == 2 {
            eprintln!(
                "gmp: {}=trace: this process builds more than one runtime; the second traces into {} (and so on)",
                crate::trace::DEBUG_ENV,
                path.display()
            );
        }
        if let Err(error) = self.start(&path) {
            eprintln!("gmp: ignoring {}=trace: {error}", crate::trace::DEBUG_ENV);
        }
    }

    /// Stops the trace and writes its file.
    pub(crate) fn stop(&self) -> io::Result<TraceFile> {
        let session = {
            let mut session = self.session.lock().unwrap_or_else(|e| e.into_inner());
            let Some(taken) = session.take() else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "gmp::runtime::trace::stop: this runtime is not tracing (start a trace with \
                     gmp::runtime::trace::start or GMP_DEBUG=trace=<path>)",
                ));
            };
            self.generation.store(0, Relaxed);
            TRACING_RUNTIMES.fetch_sub(1, Relaxed);
            taken
        };
        let path = session.path.clone();
        session.write().map_err(|error| {
            io::Error::new(error.kind(), format!("gmp::runtime::trace::stop: cannot write {}: {error}", path.display()))
        })
    }

    /// At shutdown or process exit: writes a running trace, reporting the outcome on stderr
    /// (nobody else is there to see an error).
    pub(crate) fn finish(&self) {
        if self.generation.load(Relaxed) == 0 {
            return;
        }
        match self.stop() {
            Ok(written) if written.dropped > 0 => eprintln!(
                "gmp: trace written to {} ({} events; {} dropped: a thread's buffer was full)",
                written.path.display(),
                written.events,
                written.dropped
            ),
            Ok(_) => {}
            Err(error) => eprintln!("gmp: {error}"),
        }
    }

    /// Registers the calling thread's buffer in trace `generation`, if it still runs.
    #[cold]
    fn register(&self, generation: u64, role: Role) -> Option<Local> {
        let mut session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let session = session.as_mut().filter(|s| s.generation == generation)?;
        let (track, name) = match role {
            Role::Sysmon => (u32::MAX, "sysmon".to_owned()),
            Role::Machine { main: true } if !session.main_registered => {
                session.main_registered = true;
                (0, "M0 (block_on)".to_owned())
            }
            Role::Machine { main: true } => {
                // Another thread in `block_on` (`Handle::block_on`): a track of its own.
                session.workers += 1;
                (session.workers, format!("M{} (block_on)", session.workers))
            }
            Role::Machine { main: false } => {
                session.workers += 1;
                let thread = std::thread::current();
                let name = match thread.name() {
                    Some(name) => format!("M{} ({name})", session.workers),
                    None => format!("M{}", session.workers),
                };
                (session.workers, name)
            }
        };
        let buffer = Arc::new(ThreadBuffer { track, name, events: Mutex::new(Events::default()) });
        session.buffers.push(buffer.clone());
        Some(Local { generation, clock: Clock { epoch: session.epoch, last_sample: None }, buffer })
    }

    /// Runs `event` with the calling thread's clock and buffer in this runtime's trace, if
    /// one runs (registering the thread first if it is new to the trace).
    fn record(&self, role: Role, event: impl FnOnce(&mut Clock, &mut Vec<Event>)) {
        let generation = self.generation.load(Relaxed);
        if generation == 0 {
            return;
        }
        // `try_with`: a thread being torn down has no buffer any more; its event is dropped.
        let _ = LOCAL.try_with(|local| {
            let Ok(mut local) = local.try_borrow_mut() else { return };
            if local.as_ref().is_none_or(|l| l.generation != generation) {
                *local = self.register(generation, role);
            }
            let Some(Local { clock, buffer, .. }) = local.as_mut() else { return };
            let mut events = buffer.events.lock().unwrap_or_else(|e| e.into_inner());
            event(clock, &mut events.list);
            if events.list.len() > MAX_EVENTS_PER_THREAD {
                events.dropped += (events.list.len() - MAX_EVENTS_PER_THREAD) as u64;
                events.list.truncate(MAX_EVENTS_PER_THREAD);
            }
        });
    }
}

/// `trace.json` → `trace.<n>.json` (`trace` → `trace.<n>`).
fn numbered(path: &Path, n: usize) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match path.extension() {
        Some(extension) => format!("{stem}.{n}.{}", extension.to_string_lossy()),
        None => format!("{stem}.{n}"),
    };
    path.with_file_name(name)
}

fn nanos_since(epoch: Instant, at: Instant) -> u64 {
    at.saturating_duration_since(epoch).as_nanos() as u64
}

fn processor_number(p: Option<usize>) -> u32 {
    p.map_or(u32::MAX, |p| p as u32)
}

/// A `#[gmp::main]` program is about to exit (its runtime is never dropped): writes the trace
/// of the runtime the calling thread serves, if it is tracing.
pub(crate) fn finish_before_exit() {
    machine::with_current(|context| {
        if let Some(context) = context {
            context.shared.exec_trace.finish();
        }
    });
}

/// Runs `runnable` on `context` as [`Context::poll_goroutine`] does, recording the poll.
#[cold]
#[inline(never)]
pub(crate) fn run_traced(context: &Context, runnable: Runnable) {
    let goroutine = runnable.metadata();
    let (id, spawned_at) = (goroutine.id(), goroutine.spawned_at());
    let p = context.machine.processor();
    let started = Instant::now();
    context.poll_goroutine(runnable);
    polled(context, id, spawned_at, p, started);
}

/// Runs `poll`, a poll of `goroutine` (the main future of `block_on`), recording it if the
/// trace is on.
#[inline]
pub(crate) fn observe_poll<R>(context: &Context, goroutine: &Goroutine, poll: impl FnOnce() -> R) -> R {
    if !is_on() {
        return poll();
    }
    let p = context.machine.processor();
    let started = Instant::now();
    let result = poll();
    polled(context, goroutine.id(), goroutine.spawned_at(), p, started);
    result
}

fn polled(context: &Context, id: u64, spawned_at: &'static Location<'static>, p: Option<usize>, started: Instant) {
    let ended = Instant::now();
    let shared = &*context.shared;
    let main = context.machine.interrupt_flag().is_some();
    shared.exec_trace.record(Role::Machine { main }, |local, events| {
        let start = nanos_since(local.epoch, started);
        let end = nanos_since(local.epoch, ended);
        events.push(Event::Poll { start, duration: end - start, goroutine: id, spawned_at, p: processor_number(p) });
        if local.last_sample.is_none_or(|last| end >= last + M_SAMPLE_PERIOD_NS) {
            local.last_sample = Some(end);
            events.push(Event::GlobalQueue { at: end, length: shared.sched.global.len() as u32 });
            if let Some(p) = context.machine.processor() {
                let length = shared.sched.processors[p].queue.len() as u32;
                events.push(Event::LocalQueue { at: end, p: p as u32, length });
            }
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

/// The calling M's P `to` stole `goroutines` goroutines from P `from`.
#[cold]
pub(crate) fn stolen(from: usize, to: usize, goroutines: usize) {
    let now = Instant::now();
    machine::with_current(|context| {
        let Some(context) = context else { return };
        let main = context.machine.interrupt_flag().is_some();
        context.shared.exec_trace.record(Role::Machine { main }, |local, events| {
            events.push(Event::Steal {
                at: nanos_since(local.epoch, now),
                from: from as u32,
                to: to as u32,
                goroutines: goroutines as u32,
            });
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

impl Session {
    /// Writes every buffer's events, sorted by time, as a Chrome trace-event JSON object.
    fn write(self) -> io::Result<TraceFile> {
        let pid = std::process::id();
        let mut tracks = Vec::new();
        let mut events = Vec::new();
        let mut dropped = 0;
        for buffer in &self.buffers {
            let mut taken = buffer.events.lock().unwrap_or_else(|e| e.into_inner());
            dropped += taken.dropped;
            events.extend(std::mem::take(&mut taken.list).into_iter().map(|event| (buffer.track, event)));
            tracks.push((buffer.track, buffer.name.as_str()));
        }
        events.sort_by_key(|(track, event)| (event.time(), *track));
        let mut out = BufWriter::with_capacity(1 << 16, self.file);
        let mut line = String::new();
        out.write_all(b"{\"traceEvents\":[\n")?;
        let _ = write!(line, r#"{{"ph":"M","name":"process_name","pid":{pid},"args":{{"name":"gmp runtime"}}}}"#);
        for (track, name) in &tracks {
            line.push_str(",\n");
            let _ = write!(line, r#"{{"ph":"M","name":"thread_name","pid":{pid},"tid":{track},"args":{{"name":"#);
            json_string(&mut line, name);
            line.push_str("}},\n");
            let _ = write!(
                line,
                r#"{{"ph":"M","name":"thread_sort_index","pid":{pid},"tid":{track},"args":{{"sort_index":{track}}}}}"#
            );
        }
        out.write_all(line.as_bytes())?;
        for (track, event) in &events {
            line.clear();
            line.push_str(",\n");
            write_event(&mut line, pid, *track, event);
            out.write_all(line.as_bytes())?;
        }
        out.write_all(b"\n]}\n")?;
        out.flush()?;
        Ok(TraceFile { path: self.path, events: events.len(), dropped })
    }
}

/// Nanoseconds as the format's microseconds.
struct Micros(u64);

impl std::fmt::Display for Micros {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

fn write_event(out: &mut String, pid: u32, tid: u32, event: &Event) {
    let _ = match *event {
        Event::Poll { start, duration, goroutine, spawned_at, p } => {
            let _ = write!(
                out,
                r#"{{"ph":"X","name":"G{goroutine}","cat":"poll","pid":{pid},"tid":{tid},"ts":{},"dur":{},"args":{{"goroutine":{goroutine},"spawned_at":"#,
                Micros(start),
                Micros(duration)
            );
            out.push('"');
            json_string_body(out, spawned_at.file());
            write!(out, r#":{}","p":{}}}}}"#, spawned_at.line(), Signed(p))
        }
        Event::Syscall { start, duration, goroutine, p, retaken } => write!(
            out,
            r#"{{"ph":"X","name":"syscall","cat":"syscall","pid":{pid},"tid":{tid},"ts":{},"dur":{},"args":{{"goroutine":{goroutine},"p":{p},"p_retaken":{retaken}}}}}"#,
            Micros(start),
            Micros(duration)
        ),
        Event::Steal { at, from, to, goroutines } => write!(
            out,
            r#"{{"ph":"i","s":"t","name":"steal","cat":"sched","pid":{pid},"tid":{tid},"ts":{},"args":{{"from_p":{from},"to_p":{to},"goroutines":{goroutines}}}}}"#,
            Micros(at)
        ),
        Event::Sysmon { at, what, p } => write!(
            out,
            r#"{{"ph":"i","s":"t","name":"{}","cat":"sysmon","pid":{pid},"tid":{tid},"ts":{},"args":{{"p":{p}}}}}"#,
            what.name(),
            Micros(at)
        ),
        Event::GlobalQueue { at, length } => write!(
            out,
            r#"{{"ph":"C","name":"global runqueue","pid":{pid},"ts":{},"args":{{"goroutines":{length}}}}}"#,
            Micros(at)
        ),
        Event::LocalQueue { at, p, length } => write!(
            out,
            r#"{{"ph":"C","name":"P{p} runqueue","pid":{pid},"ts":{},"args":{{"goroutines":{length}}}}}"#,
            Micros(at)
        ),
    };
}

/// A P number, or -1 for "none".
struct Signed(u32);

impl std::fmt::Display for Signed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 == u32::MAX {
            f.write_str("-1")
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// Appends `text` as a JSON string.
fn json_string(out: &mut String, text: &str) {
    out.push('"');
    json_string_body(out, text);
    out.push('"');
}

/// Appends `text` escaped for the inside of a JSON string.
fn json_string_body(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_escape_quotes_backslashes_and_control_characters() {
        let mut out = String::new();
        json_string(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(out, r#""a\"b\\c\nd\u0001é""#);
    }

    #[test]
    fn later_runtimes_traced_from_gmp_debug_get_numbered_files() {
        assert_eq!(numbered(Path::new("/tmp/trace.json"), 2), Path::new("/tmp/trace.2.json"));
        assert_eq!(numbered(Path::new("out"), 3), Path::new("out.3"));
    }

    #[test]
    fn microseconds_keep_nanosecond_precision() {
        assert_eq!(Micros(1_234_567).to_string(), "1234.567");
        assert_eq!(Micros(5).to_string(), "0.005");
    }
}
