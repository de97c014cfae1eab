//! The execution trace's recorder: the per-runtime [`Tracer`] (a field of `Shared`), the
//! process-wide `is_on` check every hook pays, the events and each thread's buffer, and the
//! writing of the Chrome trace-event file. It knows nothing of the runtime: the hooks that
//! read a `Context` or `Shared` (a poll, a `gmp::syscall`, sysmon's actions) are in
//! `runtime/trace.rs` and `context.rs` and hand it plain numbers, so the scheduler (`sched.rs`,
//! which checks `is_on` before a steal) and the kernel sit above it. Design and overhead:
//! `runtime/trace.rs`.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write as _};
use std::panic::Location;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Runtimes tracing now, process-wide: the one load every hook pays while tracing is off.
static TRACING_RUNTIMES: AtomicUsize = AtomicUsize::new(0);
/// Trace generations, unique in the process (0 means "no trace").
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// Events one thread keeps in one trace; past this they are counted and dropped.
const MAX_EVENTS_PER_THREAD: usize = 1 << 22;
/// How often (ns) an M samples the queue lengths, at most.
pub(crate) const M_SAMPLE_PERIOD_NS: u64 = 100_000;
/// How often (ns) sysmon samples the queue lengths, at most.
pub(crate) const SYSMON_SAMPLE_PERIOD_NS: u64 = 1_000_000;

/// True if some runtime in the process is tracing (one relaxed load; every hook checks this
/// before anything else).
#[inline(always)]
pub(crate) fn is_on() -> bool {
    TRACING_RUNTIMES.load(Relaxed) != 0
}

/// What [`stop`](super::stop) wrote.
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
    /// The file, as given to [`start`](super::start).
    pub path: PathBuf,
    /// Trace events written (metadata events excluded).
    pub events: usize,
    /// Events left out because a thread's buffer was full.
    pub dropped: u64,
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
pub(crate) enum Event {
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
pub(crate) struct Clock {
    pub(crate) epoch: Instant,
    /// When (ns since the epoch) this thread last sampled the queue lengths.
    pub(crate) last_sample: Option<u64>,
}

crate::loom::thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// Which track a thread registers as.
#[derive(Clone, Copy)]
pub(crate) enum Role {
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
                crate::runtime::config::DEBUG_ENV,
                path.display()
            );
        }
        if let Err(error) = self.start(&path) {
            eprintln!("gmp: ignoring {}=trace: {error}", crate::runtime::config::DEBUG_ENV);
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
    pub(crate) fn record(&self, role: Role, event: impl FnOnce(&mut Clock, &mut Vec<Event>)) {
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

pub(crate) fn nanos_since(epoch: Instant, at: Instant) -> u64 {
    at.saturating_duration_since(epoch).as_nanos() as u64
}

pub(crate) fn processor_number(p: Option<usize>) -> u32 {
    p.map_or(u32::MAX, |p| p as u32)
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
