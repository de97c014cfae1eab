//! What a runtime is configured with: the validated [`Config`] that
//! [`Builder`](crate::Builder) checked, and [`TraceConfig`], what `GMP_DEBUG` asked for.
//!
//! Their own file so that the kernel (`shared.rs`), which keeps both, depends neither on the
//! builder, which builds a `Runtime` above it, nor on the introspection (`trace.rs`,
//! `long_poll.rs`) that reads them.

use std::time::Duration;

/// The validated configuration a runtime runs with.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) maxprocs: usize,
    pub(crate) max_threads: usize,
    pub(crate) max_blocking_threads: usize,
    pub(crate) blocking_keep_alive: Duration,
    pub(crate) thread_name: String,
    pub(crate) thread_stack_size: Option<usize>,
    pub(crate) dump_on_sigquit: bool,
    pub(crate) drop_timeout: Duration,
}

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
    pub(crate) longpoll: LongPoll,
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
                Some(("longpoll", ms)) => match LongPoll::parse(ms) {
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

/// The threshold when `GMP_DEBUG` does not set one.
pub(crate) const DEFAULT_THRESHOLD: Duration = Duration::from_millis(100);

/// The warning's threshold; `None` turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LongPoll(pub(crate) Option<Duration>);

impl Default for LongPoll {
    fn default() -> Self {
        Self(Some(DEFAULT_THRESHOLD))
    }
}

impl LongPoll {
    /// Parses the value of `longpoll=<ms>`: milliseconds, 0 for off.
    pub(crate) fn parse(ms: &str) -> Option<Self> {
        let ms = ms.parse::<u64>().ok()?;
        Some(Self((ms > 0).then(|| Duration::from_millis(ms))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longpoll_values_parse_as_milliseconds_and_zero_is_off() {
        assert_eq!(LongPoll::parse("250"), Some(LongPoll(Some(Duration::from_millis(250)))));
        assert_eq!(LongPoll::parse("0"), Some(LongPoll(None)));
        assert_eq!(LongPoll::parse("abc"), None);
        assert_eq!(LongPoll::parse("-5"), None);
        assert_eq!(LongPoll::default(), LongPoll(Some(DEFAULT_THRESHOLD)));
    }

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
        assert_eq!(TraceConfig::default().longpoll, LongPoll(Some(DEFAULT_THRESHOLD)));
        assert_eq!(TraceConfig::parse("longpoll=250").longpoll, LongPoll(Some(Duration::from_millis(250))));
        assert_eq!(TraceConfig::parse("schedtrace=5,longpoll=0").longpoll, LongPoll(None));
        assert_eq!(TraceConfig::parse("longpoll=soon"), TraceConfig::default());
    }
}
