//! The execution trace (`gmp::runtime::trace`, `GMP_DEBUG=trace=<path>`): the file is Chrome
//! trace-event JSON with a poll event for every goroutine, one track per M, syscalls, steals
//! and sysmon's actions.

use std::collections::{BTreeSet, HashMap};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

const GOROUTINES: usize = 200;

fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gmp-exec-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn read_trace(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let json: Value = serde_json::from_str(&text).expect("the trace is valid JSON");
    json["traceEvents"].as_array().expect("a traceEvents array").clone()
}

/// 200 goroutines that yield, sleep and make a slow `gmp::syscall`; returns their ids.
async fn workload() -> Vec<u64> {
    let handles: Vec<_> = (0..GOROUTINES)
        .map(|i| {
            gmp::spawn(async move {
                for round in 0..3 {
                    gmp::yield_now().await;
                    gmp::time::sleep(Duration::from_millis(1)).await;
                    if (i + round) % 4 == 0 {
                        gmp::syscall(|| std::thread::sleep(Duration::from_millis(2)));
                    }
                }
            })
        })
        .collect();
    let ids = handles.iter().map(|h| h.id()).collect();
    for handle in handles {
        handle.await.unwrap();
    }
    ids
}

/// Checks the trace's shape and returns its events by phase.
fn check_trace(events: &[Value], ids: &[u64]) {
    let mut polled = BTreeSet::new();
    let mut poll_tracks = BTreeSet::new();
    let mut named_tracks = HashMap::new();
    let mut syscalls = 0;
    for event in events {
        let phase = event["ph"].as_str().expect("every event has a phase");
        match phase {
            "M" if event["name"] == "thread_name" => {
                named_tracks.insert(event["tid"].as_u64().unwrap(), event["args"]["name"].as_str().unwrap().to_owned());
            }
            "M" => {}
            "X" => {
                assert!(event["ts"].as_f64().unwrap() >= 0.0);
                assert!(event["dur"].as_f64().unwrap() >= 0.0);
                let name = event["name"].as_str().unwrap();
                if name.contains("syscall") {
                    syscalls += 1;
                    assert!(event["args"]["goroutine"].as_u64().unwrap() > 0);
                } else {
                    let goroutine = event["args"]["goroutine"].as_u64().expect("a poll names its goroutine");
                    assert_eq!(name, format!("G{goroutine}"));
                    let spawned_at = event["args"]["spawned_at"].as_str().unwrap();
                    assert!(spawned_at.contains(".rs:"), "spawned_at is file:line, got {spawned_at}");
                    polled.insert(goroutine);
                    poll_tracks.insert(event["tid"].as_u64().unwrap());
                }
            }
            "i" => assert!(event["ts"].as_f64().is_some() && event["tid"].as_u64().is_some()),
            "C" => assert!(event["args"]["goroutines"].as_u64().is_some()),
            other => panic!("unexpected phase {other:?} in {event}"),
        }
    }
    for id in ids {
        assert!(polled.contains(id), "no poll event for goroutine {id}");
    }
    assert!(poll_tracks.len() >= 2, "polls on {} track(s), want 2 or more", poll_tracks.len());
    for track in &poll_tracks {
        assert!(named_tracks.get(track).is_some_and(|name| name.starts_with('M')), "track {track} has no M name");
    }
    assert!(syscalls > 0, "no syscall events");
    let has = |phase: &str, name: &str| events.iter().any(|e| e["ph"] == phase && e["name"] == name);
    assert!(has("C", "global runqueue"), "no global queue counter");
    assert!(has("C", "P0 runqueue"), "no local queue counter");
}

#[test]
fn a_traced_program_has_every_goroutines_polls_on_two_tracks_and_its_syscalls() {
    let path = temp_path("api.json");
    let runtime = gmp::Builder::new().maxprocs(2).build().unwrap();
    let (ids, written) = runtime.block_on(async {
        gmp::runtime::trace::start(&path).unwrap();
        let ids = workload().await;
        (ids, gmp::runtime::trace::stop().unwrap())
    });
    drop(runtime);
    assert_eq!(written.path, path);
    assert_eq!(written.dropped, 0);
    let events = read_trace(&path);
    let counted = events.iter().filter(|e| e["ph"] != "M").count();
    assert_eq!(counted, written.events);
    check_trace(&events, &ids);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn sysmons_handoffs_preemptions_and_stuck_poll_retakes_show_as_instants() {
    let path = temp_path("sysmon.json");
    let runtime = gmp::Builder::new().maxprocs(2).build().unwrap();
    let (syscall, blocker) = runtime.block_on(async {
        gmp::runtime::trace::start(&path).unwrap();
        let busy: Vec<_> = (0..8)
            .map(|_| {
                gmp::spawn(async {
                    for _ in 0..100 {
                        gmp::time::sleep(Duration::from_micros(500)).await;
                    }
                })
            })
            .collect();
        // Past 10 ms sysmon always retakes a syscall's P, and preempts and retakes a poll. The
        // blocks last 250 ms so that sysmon sees each of them twice even when a loaded machine
        // keeps it off the CPU for tens of milliseconds (40 ms blocks once went unseen).
        let syscall = gmp::spawn(async { gmp::syscall(|| std::thread::sleep(Duration::from_millis(250))) });
        let blocker = gmp::spawn(async { std::thread::sleep(Duration::from_millis(250)) });
        let ids = (syscall.id(), blocker.id());
        syscall.await.unwrap();
        blocker.await.unwrap();
        for handle in busy {
            handle.await.unwrap();
        }
        gmp::runtime::trace::stop().unwrap();
        ids
    });
    drop(runtime);
    let events = read_trace(&path);
    let sysmon_track = events
        .iter()
        .find(|e| e["ph"] == "M" && e["name"] == "thread_name" && e["args"]["name"] == "sysmon")
        .expect("a sysmon track")["tid"]
        .clone();
    for name in ["handoff", "preempt", "stuck poll retake"] {
        assert!(
            events.iter().any(|e| e["ph"] == "i" && e["name"] == name && e["tid"] == sysmon_track),
            "no {name} instant on sysmon's track"
        );
    }
    let long = |goroutine: u64, name: &str| {
        events.iter().any(|e| {
            e["ph"] == "X"
                && e["name"] == name
                && e["args"]["goroutine"] == goroutine
                && e["dur"].as_f64().unwrap() >= 200_000.0
        })
    };
    assert!(long(syscall, "syscall"), "no 40 ms syscall event for G{syscall}");
    assert!(long(blocker, &format!("G{blocker}")), "no 40 ms poll event for G{blocker}");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_trace_can_stop_and_start_again_and_keeps_only_its_own_events() {
    let first = temp_path("first.json");
    let second = temp_path("second.json");
    // An M records a poll just after it ends, in the trace running then. One P, and each
    // goroutine awaited: the M that polls it holds the only P until it has recorded the poll,
    // and only then can this future run on to stop the trace. (With two Ps and a 10 ms sleep
    // instead, the other P could steal a goroutine, and its M, kept off the CPU by a loaded
    // machine between the poll and the record, could record it after the stop: missing from
    // the first trace, or in the second.)
    let runtime = gmp::Builder::new().maxprocs(1).build().unwrap();
    let (early, late) = runtime.block_on(async {
        gmp::runtime::trace::start(&first).unwrap();
        let early = gmp::spawn(async {});
        let early_id = early.id();
        early.await.unwrap();
        gmp::runtime::trace::stop().unwrap();
        gmp::runtime::trace::start(&second).unwrap();
        let late = gmp::spawn(async {});
        let late_id = late.id();
        late.await.unwrap();
        gmp::runtime::trace::stop().unwrap();
        (early_id, late_id)
    });
    drop(runtime);
    let goroutines = |path: &Path| -> BTreeSet<u64> {
        read_trace(path)
            .iter()
            .filter(|e| e["cat"] == "poll")
            .map(|e| e["args"]["goroutine"].as_u64().unwrap())
            .collect()
    };
    let (first_polled, second_polled) = (goroutines(&first), goroutines(&second));
    assert!(first_polled.contains(&early) && !first_polled.contains(&late));
    assert!(second_polled.contains(&late) && !second_polled.contains(&early));
}

#[test]
fn bad_trace_calls_give_clear_errors() {
    gmp::Runtime::new().unwrap().block_on(async {
        let error = gmp::runtime::trace::stop().unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
        assert!(error.to_string().contains("not tracing"), "{error}");

        let missing = temp_path("no-such-dir").join("trace.json");
        let error = gmp::runtime::trace::start(&missing).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::NotFound);
        assert!(error.to_string().contains(&*missing.to_string_lossy()), "{error}");

        let path = temp_path("twice.json");
        gmp::runtime::trace::start(&path).unwrap();
        let error = gmp::runtime::trace::start(temp_path("other.json")).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
        assert!(error.to_string().contains("already tracing"), "{error}");
        gmp::runtime::trace::stop().unwrap();
    });
}

#[test]
#[should_panic(expected = "gmp::runtime::trace::start must be called from inside a gmp runtime")]
fn starting_a_trace_outside_a_runtime_panics_with_directions() {
    let _ = gmp::runtime::trace::start(temp_path("outside.json"));
}

/// Set in the child processes of the `GMP_DEBUG` tests: how the child's runtime ends.
const CHILD_ENV: &str = "GMP_EXEC_TRACE_CHILD";

fn print_ids(ids: &[u64]) {
    println!("ids={}", ids.iter().map(u64::to_string).collect::<Vec<_>>().join(","));
}

/// A `#[gmp::main]` program (its body `Send`: the main goroutine) exits the process when it
/// returns; the runtime is never dropped.
#[gmp::main(maxprocs = 2)]
async fn main_goroutine_child() {
    print_ids(&workload().await);
}

/// The same with a body that is not `Send` (run as `block_on`'s main future on M0).
#[gmp::main(maxprocs = 2)]
async fn main_thread_child() {
    let not_send = std::rc::Rc::new(());
    print_ids(&workload().await);
    drop(not_send);
}

/// The child process of the `GMP_DEBUG` tests: GMP_DEBUG=trace=<path> is set.
#[test]
fn gmp_debug_child() {
    match std::env::var(CHILD_ENV).as_deref() {
        Ok("drop") => {
            let runtime = gmp::Builder::new().maxprocs(2).build().unwrap();
            let ids = runtime.block_on(workload());
            drop(runtime); // writes the trace
            print_ids(&ids);
        }
        Ok("main_goroutine") => main_goroutine_child(),
        Ok("main_thread") => main_thread_child(),
        _ => {}
    }
}

fn traced_child(ending: &str) {
    let path = temp_path(&format!("gmp_debug_{ending}.json"));
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "gmp_debug_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, ending)
        .env("GMP_DEBUG", format!("trace={}", path.display()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "child failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let ids: Vec<u64> = stdout
        .lines()
        .find_map(|line| line.split_once("ids=").map(|(_, ids)| ids.trim()))
        .expect("the child prints its goroutine ids")
        .split(',')
        .map(|id| id.parse().unwrap())
        .collect();
    assert_eq!(ids.len(), GOROUTINES);
    check_trace(&read_trace(&path), &ids);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn gmp_debug_trace_writes_the_file_when_the_runtime_is_dropped() {
    traced_child("drop");
}

#[test]
fn gmp_debug_trace_writes_the_file_when_a_gmp_main_program_exits() {
    traced_child("main_goroutine");
}

#[test]
fn gmp_debug_trace_writes_the_file_when_a_gmp_main_program_on_m0_exits() {
    traced_child("main_thread");
}

#[test]
fn a_goroutine_joined_before_the_trace_stops_has_its_last_poll_in_the_trace() {
    // The worker that polls `late` may be descheduled right after the poll; the poll must be in
    // the trace anyway, since the join (and then `stop`) came after it. The main goroutine blocks
    // its own thread first, so `late` runs on a worker, not on M0 just before the join.
    let path = temp_path("joined.json");
    let runtime = gmp::Builder::new().maxprocs(2).build().unwrap();
    let late = runtime.block_on(async {
        gmp::runtime::trace::start(&path).unwrap();
        let late = gmp::spawn(async { std::thread::sleep(Duration::from_millis(30)) });
        let id = late.id();
        std::thread::sleep(Duration::from_millis(100));
        late.await.unwrap();
        gmp::runtime::trace::stop().unwrap();
        id
    });
    drop(runtime);
    let events = read_trace(&path);
    assert!(
        events.iter().any(|e| e["ph"] == "X" && e["args"]["goroutine"] == late && e["name"] == format!("G{late}")),
        "no poll event for G{late}"
    );
    std::fs::remove_file(&path).unwrap();
}
