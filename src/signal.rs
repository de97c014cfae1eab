//! Unix signals as futures: [`ctrl_c`] and [`signal`] (Go's `os/signal`).
//!
//! # Design
//!
//! The signal handler itself comes from `signal-hook` (its registry crate keeps one process-
//! wide `sigaction` handler per signal and runs a list of actions from it; adding and removing
//! an action is safe against a handler running on another thread). gmp adds one action per
//! **listener** (a [`Signal`]), and that action does only async-signal-safe things: it bumps
//! the listener's `pending` counter and writes one byte to the listener's own non-blocking
//! socket pair (a self-pipe). A full socket is fine: a byte is already waiting.
//!
//! The read end of the pair is registered with the netpoller of the runtime that created the
//! listener, like any `gmp::io::Async`, so a goroutine awaiting [`Signal::recv`] parks as
//! "IO wait" and costs no thread. `recv` takes one delivery off `pending` at a time; only
//! when it is zero does it drain the socket and park, so every delivery counted between two
//! awaits is returned, none is lost or merged (the kernel itself merges a signal sent again
//! while it is still pending, before any handler ran; that cannot be undone).
//!
//! Why a pipe per listener and not one dispatcher that reads a shared pipe and broadcasts:
//! a process may run several gmp runtimes, and a dispatcher goroutine lives on one of them.
//! When that runtime shuts down, listeners on the others would stop hearing signals. With a
//! pipe per listener each listener depends only on its own runtime, and there is no
//! dispatcher to start, stop or find. The cost is two descriptors per listener and one write
//! per listener per delivery, which is nothing for the few listeners programs have.
//!
//! # The default action
//!
//! A handler once installed stays installed (uninstalling it races deliveries), so gmp also
//! adds, once per signal, a fallback action: when no listener for that signal is alive, it
//! does what the signal did before gmp took it over — the default action (SIGINT and SIGTERM
//! end the process, SIGCHLD does nothing) via `signal_hook::low_level::emulate_default_handler`,
//! or nothing if the signal was ignored (as SIGPIPE is in Rust programs, or SIGHUP under
//! `nohup`). So, as in Go after `signal.Stop`, a Ctrl-C after the last listener is gone stops
//! the program again. (tokio leaves the signal ignored for good instead.)

use std::collections::HashMap;
use std::fmt;
use std::future::poll_fn;
use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use futures::Stream;
use signal_hook::low_level::{emulate_default_handler, register, unregister};
use signal_hook::SigId;

use crate::io::Async;

/// A kind of Unix signal, by number.
///
/// # Examples
///
/// ```
/// use gmp::signal::SignalKind;
///
/// assert_eq!(SignalKind::interrupt().as_raw_value(), libc::SIGINT);
/// assert_eq!(SignalKind::from_raw(libc::SIGTERM), SignalKind::terminate());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SignalKind(i32);

impl SignalKind {
    /// The signal with number `signum` (for signals without a constructor here, such as
    /// realtime signals).
    pub const fn from_raw(signum: i32) -> SignalKind {
        SignalKind(signum)
    }

    /// The signal's number.
    pub const fn as_raw_value(&self) -> i32 {
        self.0
    }

    /// SIGINT: the terminal's interrupt key (Ctrl-C).
    pub const fn interrupt() -> SignalKind {
        SignalKind(libc::SIGINT)
    }

    /// SIGTERM: a polite request to terminate (what `kill` and service managers send).
    pub const fn terminate() -> SignalKind {
        SignalKind(libc::SIGTERM)
    }

    /// SIGHUP: the terminal hung up; daemons take it as "reload the configuration".
    pub const fn hangup() -> SignalKind {
        SignalKind(libc::SIGHUP)
    }

    /// SIGQUIT: the terminal's quit key (Ctrl-\).
    pub const fn quit() -> SignalKind {
        SignalKind(libc::SIGQUIT)
    }

    /// SIGUSR1, for the program's own use.
    pub const fn user_defined1() -> SignalKind {
        SignalKind(libc::SIGUSR1)
    }

    /// SIGUSR2, for the program's own use.
    pub const fn user_defined2() -> SignalKind {
        SignalKind(libc::SIGUSR2)
    }

    /// SIGCHLD: a child process exited or stopped.
    pub const fn child() -> SignalKind {
        SignalKind(libc::SIGCHLD)
    }

    /// SIGALRM: a timer set with `alarm(2)` expired.
    pub const fn alarm() -> SignalKind {
        SignalKind(libc::SIGALRM)
    }

    /// SIGPIPE: a write to a pipe or socket with no reader (Rust programs ignore it by default).
    pub const fn pipe() -> SignalKind {
        SignalKind(libc::SIGPIPE)
    }

    /// SIGWINCH: the terminal window changed size.
    pub const fn window_change() -> SignalKind {
        SignalKind(libc::SIGWINCH)
    }
}

impl From<i32> for SignalKind {
    fn from(signum: i32) -> SignalKind {
        SignalKind(signum)
    }
}

/// What a process-wide signal has besides its listeners: how many listeners are alive (the
/// fallback action reads it inside the handler).
struct Disposition {
    listeners: AtomicUsize,
    /// What the signal does when no listener is alive, instead of its previous disposition
    /// (set once; SIGQUIT's dump, `sigquit.rs`). Called inside the handler.
    unheard: OnceLock<fn()>,
}

/// The signals gmp has installed its handler for; one entry per signal, never removed.
fn dispositions() -> &'static Mutex<HashMap<i32, &'static Disposition>> {
    static DISPOSITIONS: OnceLock<Mutex<HashMap<i32, &'static Disposition>>> = OnceLock::new();
    DISPOSITIONS.get_or_init(Default::default)
}

/// The disposition of `signum`, installing gmp's fallback action on first use.
fn disposition(signum: i32) -> io::Result<&'static Disposition> {
    let mut table = dispositions().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(disposition) = table.get(&signum) {
        return Ok(disposition);
    }
    let was_default = previous_handler_is_default(signum)?;
    let disposition: &'static Disposition =
        Box::leak(Box::new(Disposition { listeners: AtomicUsize::new(0), unheard: OnceLock::new() }));
    let action = move || {
        if disposition.listeners.load(SeqCst) == 0 {
            if let Some(unheard) = disposition.unheard.get() {
                unheard();
            } else if was_default {
                let _ = emulate_default_handler(signum);
            }
        }
    };
    // SAFETY: the action is async-signal-safe: atomic loads (`OnceLock::get` is one), an
    // `unheard` action that must itself be async-signal-safe (`set_unheard_action`), and
    // `emulate_default_handler`, which signal-hook provides for use inside handlers
    // (sigaction, sigprocmask, raise).
    unsafe { register(signum, action) }?;
    table.insert(signum, disposition);
    Ok(disposition)
}

/// Whether `signum`'s handler is the default one (not ignored, not someone else's handler),
/// asked before gmp installs its own.
/// Makes signal `signum`, whenever no [`Signal`] listener for it is alive, call `action` (from
/// inside the signal handler) instead of doing what it did before gmp took it over. Set once
/// per signal; later calls change nothing. `action` must be async-signal-safe.
pub(crate) fn set_unheard_action(signum: i32, action: fn()) -> io::Result<()> {
    let _ = disposition(signum)?.unheard.set(action);
    Ok(())
}

fn previous_handler_is_default(signum: i32) -> io::Result<bool> {
    // SAFETY: `sigaction` with a null new action only reads the current one into `old`, a
    // zeroed `sigaction` struct we own (all-zero is a valid value for it).
    let handler = unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(signum, std::ptr::null(), &mut old) != 0 {
            return Err(io::Error::last_os_error());
        }
        old.sa_sigaction
    };
    Ok(handler == libc::SIG_DFL)
}

/// What the handler of one listener touches.
struct Delivery {
    /// Deliveries not yet returned by `recv`.
    pending: AtomicUsize,
    /// The write end of the listener's self-pipe (non-blocking).
    wake: UnixStream,
}

/// A stream of deliveries of one signal, from [`signal`]. Each delivery that arrives while the
/// listener is alive is returned once by [`recv`](Self::recv) (or by the [`Stream`] impl),
/// including those that arrive while no one is awaiting it.
///
/// Several listeners of the same signal each see every delivery. Dropping the last listener of
/// a signal gives the signal back its earlier behaviour (see the module's design notes).
///
/// # Examples
///
/// ```no_run
/// use gmp::signal::{signal, SignalKind};
///
/// #[gmp::main]
/// async fn main() -> std::io::Result<()> {
///     let mut hangups = signal(SignalKind::hangup())?;
///     while hangups.recv().await.is_some() {
///         println!("reloading the configuration");
///     }
///     Ok(())
/// }
/// ```
pub struct Signal {
    kind: SignalKind,
    id: SigId,
    delivery: Arc<Delivery>,
    reader: Async<UnixStream>,
    disposition: &'static Disposition,
}

/// Starts listening for `kind`: from now on each delivery of the signal to the process is
/// kept for the returned [`Signal`] instead of taking the signal's default action.
///
/// The listener's wake-ups go through the netpoller of the runtime this is called in; await
/// it in goroutines of that runtime.
///
/// # Errors
///
/// `InvalidInput` for the signals a process cannot or must not handle this way (SIGKILL,
/// SIGSTOP, SIGILL, SIGFPE, SIGSEGV) or a number that is not a signal; an OS error if the
/// self-pipe cannot be made (out of descriptors).
///
/// # Panics
///
/// Outside a gmp runtime.
///
/// # Examples
///
/// ```
/// use gmp::signal::{signal, SignalKind};
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let mut user1 = signal(SignalKind::user_defined1()).unwrap();
///     signal_hook::low_level::raise(libc::SIGUSR1).unwrap();
///     assert_eq!(user1.recv().await, Some(()));
///
///     let error = signal(SignalKind::from_raw(libc::SIGKILL)).unwrap_err();
///     assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
/// });
/// ```
#[track_caller]
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    crate::loom::not_in_a_model("gmp::signal::signal");
    let signum = kind.as_raw_value();
    if signum <= 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("gmp::signal::signal: {signum} is not a signal"),
        ));
    }
    if signal_hook::consts::FORBIDDEN.contains(&signum) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "gmp::signal::signal: signal {signum} cannot be listened for (SIGKILL, SIGSTOP, SIGILL, SIGFPE and \
                 SIGSEGV cannot be caught or must not be)"
            ),
        ));
    }
    crate::fs::expect_runtime("gmp::signal::signal");
    let (reader, wake) = UnixStream::pair()?;
    reader.set_nonblocking(true)?;
    wake.set_nonblocking(true)?;
    let reader = Async::new_nonblocking(reader, "gmp::signal::signal")?;
    let delivery = Arc::new(Delivery { pending: AtomicUsize::new(0), wake });
    let disposition = disposition(signum)?;

    // Counted before the action is added: a delivery in between is then neither counted nor
    // given the default action (which would end the process while it is setting up a listener).
    disposition.listeners.fetch_add(1, SeqCst);
    let handler_delivery = delivery.clone();
    let action = move || {
        handler_delivery.pending.fetch_add(1, SeqCst);
        let _ = rustix::io::write(&handler_delivery.wake, &[1]);
    };
    // SAFETY: the action is async-signal-safe: an atomic add and one `write(2)` to a
    // non-blocking socket (no allocation, no lock; a full socket just fails).
    match unsafe { register(signum, action) } {
        Ok(id) => Ok(Signal { kind, id, delivery, reader, disposition }),
        Err(error) => {
            disposition.listeners.fetch_sub(1, SeqCst);
            Err(error)
        }
    }
}

impl Signal {
    /// Waits for the next delivery: `Some(())`, or `None` if the listener's runtime has shut
    /// down. Deliveries that arrived since the last call are returned first, one per call.
    ///
    /// # Examples
    ///
    /// ```
    /// use gmp::signal::{signal, SignalKind};
    ///
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let mut user2 = signal(SignalKind::user_defined2()).unwrap();
    ///     signal_hook::low_level::raise(libc::SIGUSR2).unwrap();
    ///     signal_hook::low_level::raise(libc::SIGUSR2).unwrap();
    ///     assert_eq!(user2.recv().await, Some(()));
    ///     assert_eq!(user2.recv().await, Some(()));
    /// });
    /// ```
    pub async fn recv(&mut self) -> Option<()> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next delivery (see [`recv`](Self::recv)).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        loop {
            let pending = &self.delivery.pending;
            if pending.load(SeqCst) > 0 {
                if crate::coop::poll_proceed(cx).is_pending() {
                    return Poll::Pending;
                }
                if pending.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1)).is_ok() {
                    return Poll::Ready(Some(()));
                }
            }
            // Nothing counted: drain the wake-up bytes, and park once the socket is empty. The
            // handler counts before it writes, so a byte read here means a count is visible.
            let mut bytes = [0u8; 64];
            match self.reader.poll_read_ref(cx, |mut socket| socket.read(&mut bytes)) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(None),
                Poll::Ready(Ok(_)) => continue,
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// The signal this listener hears.
    pub fn kind(&self) -> SignalKind {
        self.kind
    }
}

impl Stream for Signal {
    type Item = ();

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        self.get_mut().poll_recv(cx)
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        // `unregister` waits out any handler still running our action, then drops it.
        unregister(self.id);
        self.disposition.listeners.fetch_sub(1, SeqCst);
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("kind", &self.kind)
            .field("pending", &self.delivery.pending.load(SeqCst))
            .finish()
    }
}

/// Waits for the next Ctrl-C (SIGINT) to the process: a future of `io::Result<()>`.
///
/// Called inside a gmp runtime, `ctrl_c()` starts listening at once, so a Ctrl-C that comes
/// after the call and before the first poll is not lost (and does not end the process).
/// Called outside one (`rt.block_on(gmp::signal::ctrl_c())`), it starts listening when first
/// polled. The listener is dropped when the future completes or is dropped, so a Ctrl-C after
/// that has its usual effect again (the process ends); a program that handles every Ctrl-C
/// keeps a [`signal`]`(SignalKind::interrupt())` listener instead.
///
/// # Errors
///
/// If the listener cannot be made (see [`signal`]), or its runtime shut down while waiting.
///
/// # Panics
///
/// Polled outside a gmp runtime.
///
/// # Examples
///
/// ```no_run
/// #[gmp::main]
/// async fn main() {
///     let shutdown = gmp::signal::ctrl_c(); // listening from here on
///     gmp::spawn(async { /* serve */ });
///     shutdown.await.unwrap();
///     println!("shutting down");
/// }
/// ```
pub fn ctrl_c() -> CtrlC {
    let in_runtime = crate::context::with_current(|context| context.is_some());
    CtrlC { listener: in_runtime.then(|| signal(SignalKind::interrupt())) }
}

/// The future of [`ctrl_c`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` them"]
pub struct CtrlC {
    /// The SIGINT listener, or the error making it; `None` until made.
    listener: Option<io::Result<Signal>>,
}

impl std::future::Future for CtrlC {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let listener = self.listener.get_or_insert_with(|| {
            crate::fs::expect_runtime("gmp::signal::ctrl_c");
            signal(SignalKind::interrupt())
        });
        let interrupt = match listener {
            Ok(interrupt) => interrupt,
            Err(error) => return Poll::Ready(Err(io::Error::new(error.kind(), error.to_string()))),
        };
        let delivered = match interrupt.poll_recv(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(delivered) => delivered,
        };
        self.listener = None;
        Poll::Ready(match delivered {
            Some(()) => Ok(()),
            None => Err(io::Error::other("gmp::signal::ctrl_c: the runtime shut down while waiting for Ctrl-C")),
        })
    }
}
