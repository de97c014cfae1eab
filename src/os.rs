//! The operating system, as the runtime asks it: the calling thread's OS id, whether another
//! thread sleeps in the kernel, the timer slack of a thread, and the CPUs the process may use.
//!
//! # Design
//!
//! Each helper is best effort: it answers from Linux's `/proc` and falls back to a neutral
//! answer elsewhere (thread id 0, "not blocked", slack unchanged), so callers never branch on
//! the platform. sysmon is their main user: it reads a P's owner thread state to tell a poll
//! blocked in a system call from one computing (keeping the `/proc` files open, see
//! [`thread_is_blocked`]), and lowers its own timer slack so its 20 µs
//! tick is not rounded up to 70 µs.

use std::thread;

/// The number of CPUs this process may use (1 if unknown); `gmp::runtime::num_cpu`.
pub(crate) fn cpu_count() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// Lowers the calling thread's timer slack to 1 µs (best effort; Linux). Linux rounds a
/// sleeping thread's wake-up up by its timer slack (50 µs by default), which would turn
/// sysmon's 20 µs tick into 70 µs.
///
/// With `prctl`, not a write to `/proc/<tid>/timerslack_ns`: that took a file descriptor for a
/// moment when sysmon starts, which a program that has used up its descriptors (tests/emfile.rs)
/// saw come free again behind its back.
pub(crate) fn reduce_timer_slack() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK reads one integer argument (the slack in ns) and changes only
    // the calling thread's timer slack; no memory is passed.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong);
    }
}

/// The calling thread's OS id (Linux: its tid), or 0 if unknown.
pub(crate) fn current_thread_id() -> u32 {
    std::fs::read_link("/proc/thread-self").ok().and_then(|path| path.file_name()?.to_str()?.parse().ok()).unwrap_or(0)
}

/// True if thread `thread_id` of this process sleeps in the kernel (state S or D): a poll
/// blocked in a system call rather than computing.
///
/// The calling thread keeps each thread's `stat` file open and re-reads it with `pread`: the
/// open and close (a walk of `/proc/self/task/<tid>`) were most of a read's cost, and sysmon
/// reads the same few threads (the Ms holding Ps) again and again. A file whose thread has
/// exited reads as an error; then it is opened again, in case the id now names a new thread.
pub(crate) fn thread_is_blocked(thread_id: u32) -> bool {
    if thread_id == 0 {
        return false;
    }
    let mut buffer = [0u8; 512];
    let Some(length) = STAT_FILES.with(|files| files.borrow_mut().read(thread_id, &mut buffer)) else {
        return false;
    };
    stat_says_blocked(&buffer[..length])
}

/// "tid (comm) S ...": the state follows the last ')' (a name may hold one too).
fn stat_says_blocked(stat: &[u8]) -> bool {
    let Some(close) = stat.iter().rposition(|&b| b == b')') else { return false };
    let state = stat[close + 1..].iter().find(|b| !b.is_ascii_whitespace());
    matches!(state, Some(b'S' | b'D'))
}

/// Open `stat` files of threads, oldest first.
struct StatFiles {
    files: Vec<(u32, std::fs::File)>,
}

/// Threads whose `stat` files stay open at once (the Ms holding Ps; more are reopened).
const OPEN_STAT_FILES: usize = 16;

thread_local! {
    static STAT_FILES: std::cell::RefCell<StatFiles> = const { std::cell::RefCell::new(StatFiles { files: Vec::new() }) };
}

impl StatFiles {
    /// Reads thread `thread_id`'s `stat` into `buffer`; the length read, or None.
    #[cfg(not(unix))]
    fn read(&mut self, _thread_id: u32, _buffer: &mut [u8]) -> Option<usize> {
        None
    }

    /// Reads thread `thread_id`'s `stat` into `buffer`; the length read, or None.
    #[cfg(unix)]
    fn read(&mut self, thread_id: u32, buffer: &mut [u8]) -> Option<usize> {
        use std::os::unix::fs::FileExt;
        if let Some(at) = self.files.iter().position(|(id, _)| *id == thread_id) {
            match self.files[at].1.read_at(buffer, 0) {
                Ok(length) if length > 0 => return Some(length),
                _ => {
                    self.files.remove(at); // the thread exited: maybe the id is reused
                }
            }
        }
        let file = std::fs::File::open(format!("/proc/self/task/{thread_id}/stat")).ok()?;
        let length = file.read_at(buffer, 0).ok().filter(|&length| length > 0)?;
        if self.files.len() == OPEN_STAT_FILES {
            self.files.remove(0);
        }
        self.files.push((thread_id, file));
        Some(length)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_sleeping_thread_reads_as_blocked_and_a_spinning_one_does_not() {
        let (tx, rx) = std::sync::mpsc::channel();
        let sleeper = thread::spawn(move || {
            tx.send(current_thread_id()).unwrap();
            thread::sleep(Duration::from_millis(300));
        });
        let id = rx.recv().unwrap();
        if id == 0 {
            return; // not Linux: the heuristic is off
        }
        thread::sleep(Duration::from_millis(50));
        assert!(thread_is_blocked(id));
        assert!(thread_is_blocked(id), "a second read, from the file kept open, agrees");
        sleeper.join().unwrap();
        assert!(!thread_is_blocked(current_thread_id()));
        // The sleeper has exited: its open file reads as an error, and it is not blocked.
        assert!(!thread_is_blocked(id));
    }
}
