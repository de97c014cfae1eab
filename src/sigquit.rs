//! SIGQUIT as in Go: print every goroutine of the runtimes built with
//! `Builder::dump_on_sigquit(true)` on stderr and exit the process with status 2.
//!
//! # Design
//!
//! **Which thread prints.** Go promises the dump even when every P is held by a goroutine
//! stuck in a loop or a blocking call, so the printer cannot be a goroutine (it would wait
//! for a P), nor a `gmp::signal` listener (its wake-up comes through the netpoller, which
//! only an M with work to look for polls). sysmon holds no P, but it sleeps in `park` for as
//! long as every P is idle, and unparking it is not async-signal-safe. So the printer is a
//! small thread of its own, `gmp-sigquit`, one per process, started by the first runtime
//! that asks for it and blocked in `read(2)` on a socket pair. The signal handler only writes
//! a byte to the other end (async-signal-safe); the thread wakes, takes the dump of every
//! such runtime still alive (the registry's shard locks are only held briefly by spawns and
//! exits, never across a poll), writes it to stderr with plain `write(2)`s (not through
//! `std::io::Stderr`'s lock, which a stuck goroutine might hold) and exits with status 2.
//!
//! **Whose signal it is.** The handler is the per-signal disposition of `signal.rs`: while a
//! `gmp::signal` listener for SIGQUIT is alive the program has taken the signal (as with
//! `signal.Notify` in Go) and nothing is dumped; when none is, the disposition calls
//! [`on_sigquit`] here instead of SIGQUIT's default action (a core dump, and no listing).

use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread;

use crate::runtime::shared::Shared;

/// The runtimes that asked for the dump (dropped ones are skipped and pruned).
static RUNTIMES: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());
/// The end of the socket pair the handler writes to, once the printer thread runs.
static WAKE: OnceLock<UnixStream> = OnceLock::new();
/// The outcome of starting the printer thread (once per process).
static STARTED: OnceLock<Result<(), String>> = OnceLock::new();

/// Makes SIGQUIT print `shared`'s goroutines (and those of the other runtimes that asked)
/// and exit with status 2.
pub(crate) fn enable(shared: &Arc<Shared>) -> io::Result<()> {
    if let Err(error) = STARTED.get_or_init(|| start().map_err(|error| error.to_string())) {
        return Err(io::Error::other(format!("gmp::Builder::dump_on_sigquit: {error}")));
    }
    let mut runtimes = RUNTIMES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    runtimes.retain(|runtime| runtime.strong_count() > 0);
    runtimes.push(Arc::downgrade(shared));
    Ok(())
}

fn start() -> io::Result<()> {
    let (mut reader, writer) = UnixStream::pair()?;
    // A full socket means a wake-up byte is already waiting: the handler must never block.
    writer.set_nonblocking(true)?;
    thread::Builder::new().name("gmp-sigquit".to_owned()).stack_size(256 * 1024).spawn(move || {
        let mut byte = [0u8; 1];
        loop {
            match reader.read(&mut byte) {
                Ok(0) => return,
                Ok(_) => dump_and_exit(),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            }
        }
    })?;
    let _ = WAKE.set(writer);
    crate::signal::set_unheard_action(libc::SIGQUIT, on_sigquit)
}

/// Inside the signal handler: wakes the printer thread. Async-signal-safe: an atomic load
/// (`OnceLock::get`) and one `write(2)` to a non-blocking socket.
fn on_sigquit() {
    if let Some(wake) = WAKE.get() {
        let _ = rustix::io::write(wake, &[1]);
    }
}

/// On the printer thread: every goroutine of every runtime that asked, then exit(2).
fn dump_and_exit() -> ! {
    let mut text = String::from("SIGQUIT: quit\n");
    let runtimes: Vec<Arc<Shared>> =
        RUNTIMES.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).iter().filter_map(Weak::upgrade).collect();
    for shared in &runtimes {
        text.push('\n');
        text.push_str(&crate::trace::dump(shared));
    }
    write_all_to_stderr(text.as_bytes());
    std::process::exit(2);
}

fn write_all_to_stderr(mut bytes: &[u8]) {
    // The raw descriptor, not `Stderr`'s lock (a stuck goroutine might hold it).
    let stderr = io::stderr();
    let fd = stderr.as_fd();
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(0) => return,
            Ok(written) => bytes = &bytes[written..],
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return,
        }
    }
}
