//! The operating system, as the runtime asks it: the calling thread's OS id, whether another
//! thread sleeps in the kernel, the timer slack of a thread, and the CPUs the process may use.
//!
//! # Design
//!
//! Each helper is best effort: it answers from Linux's `/proc` and falls back to a neutral
//! answer elsewhere (thread id 0, "not blocked", slack unchanged), so callers never branch on
//! the platform. sysmon is their main user: it reads a P's owner thread state to tell a poll
//! blocked in a system call from one computing, and lowers its own timer slack so its 20 µs
//! tick is not rounded up to 70 µs.

use std::thread;

/// The number of CPUs this process may use (1 if unknown); `gmp::runtime::num_cpu`.
pub(crate) fn cpu_count() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// Lowers the calling thread's timer slack to 1 µs (best effort; Linux 4.6+). Linux rounds a
/// sleeping thread's wake-up up by its timer slack (50 µs by default), which would turn
/// sysmon's 20 µs tick into 70 µs.
pub(crate) fn reduce_timer_slack() {
    let thread_id = current_thread_id();
    if thread_id != 0 {
        let _ = std::fs::write(format!("/proc/{thread_id}/timerslack_ns"), "1000");
    }
}

/// The calling thread's OS id (Linux: its tid), or 0 if unknown.
pub(crate) fn current_thread_id() -> u32 {
    std::fs::read_link("/proc/thread-self").ok().and_then(|path| path.file_name()?.to_str()?.parse().ok()).unwrap_or(0)
}

/// True if thread `thread_id` of this process sleeps in the kernel (state S or D): a poll
/// blocked in a system call rather than computing.
pub(crate) fn thread_is_blocked(thread_id: u32) -> bool {
    if thread_id == 0 {
        return false;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/self/task/{thread_id}/stat")) else {
        return false;
    };
    // "tid (comm) S ...": the state follows the last ')'.
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
    matches!(state, Some('S' | 'D'))
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
        sleeper.join().unwrap();
        assert!(!thread_is_blocked(current_thread_id()));
    }
}
