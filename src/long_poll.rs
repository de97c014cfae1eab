//! The long-poll warning: sysmon names, once on stderr, a goroutine whose single poll has
//! held its thread past a threshold (`GMP_DEBUG=longpoll=<ms>`, 100 ms by default, 0 off).
//!
//! # Design
//!
//! sysmon already watches every busy P's poll for preemption and stuck-poll hand-offs
//! (`sysmon.rs`); each round it passes the age of the poll it sees to [`check`]. Past the
//! threshold, `check` reads which goroutine the P is polling (`poll_watch.rs`), looks up its
//! spawn site in the registry and prints one line. sysmon's note for the P remembers the
//! `polls` value it warned about, so one poll gets one line however long it lasts, and the
//! next long poll (a new `polls` value) gets its own. Nothing runs on the poll path.

use std::time::Duration;

use crate::runtime::shared::Shared;

/// sysmon, each round, for a P inside poll number `polls` that has run `age`: warns once per
/// poll past the threshold. `warned` is sysmon's note of the poll it last warned about.
pub(crate) fn check(shared: &Shared, index: usize, polls: u64, age: Duration, warned: &mut u64) {
    let Some(threshold) = shared.trace.longpoll.0 else { return };
    if age < threshold || *warned == polls {
        return;
    }
    *warned = polls;
    let goroutine = shared.sched.processors[index].running();
    // The registry says where it was spawned; a poll that just ended may have taken the
    // goroutine with it (then there is nothing left to warn about).
    let Some(record) = shared.registry.find(goroutine) else { return };
    eprintln!("{}", message(record.id, record.spawned_at, index, age));
}

fn message(id: u64, spawned_at: &std::panic::Location<'_>, processor: usize, age: Duration) -> String {
    format!(
        "gmp: goroutine {id} (spawned at {spawned_at}) has been in one poll on P{processor} for {} ms, blocking \
         its thread; run blocking calls inside gmp::syscall(|| ...) or move them to gmp::spawn_blocking \
         (GMP_DEBUG=longpoll=<ms> sets this threshold, longpoll=0 turns the warning off)",
        age.as_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warning_is_one_line_naming_goroutine_site_processor_and_the_remedies() {
        let site = std::panic::Location::caller();
        let line = message(7, site, 1, Duration::from_millis(104));
        assert!(!line.contains('\n'));
        for part in
            ["goroutine 7", &format!("spawned at {site}"), "P1", "104 ms", "gmp::syscall", "gmp::spawn_blocking"]
        {
            assert!(line.contains(part), "{line}");
        }
    }
}
