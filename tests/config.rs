//! Configuration: bad values are `InvalidInput` errors naming the field; `GMP_MAXPROCS` sets the
//! default number of processors (an invalid value is ignored with exactly one warning line);
//! `Builder::maxprocs` beats the environment; thread name and stack size reach worker threads.
//!
//! Anything that needs an environment variable runs in a child process: the parent re-runs this
//! test binary on one `child_*` test with the variable set, and checks its exit status and
//! output. The parent never touches its own environment. The `child_*` tests do nothing when run
//! directly (without `CHILD_MARKER` in the environment).

use std::io;
use std::process::{Command, Output};
use std::thread;
use std::time::Duration;

mod common;
use common::within;

/// Set (to the child test's name) in the environment of a child process.
const CHILD_MARKER: &str = "GMP_CONFIG_TEST_CHILD";

/// True when this process is the child started for the test `name`.
fn is_child(name: &str) -> bool {
    std::env::var(CHILD_MARKER).is_ok_and(|v| v == name)
}

/// Re-runs this test binary on the single test `name`, with `env` added to the environment.
fn run_child(name: &str, env: &[(&str, &str)]) -> Output {
    let exe = std::env::current_exe().expect("path of the test binary");
    let mut command = Command::new(exe);
    command.args(["--exact", name, "--nocapture", "--test-threads=1"]);
    command.env(CHILD_MARKER, name);
    command.env_remove("GMP_MAXPROCS");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = within(Duration::from_secs(120), &format!("child `{name}`"), || {
        command.output().expect("running the child test process")
    });
    assert!(
        output.status.success(),
        "child `{name}` with {env:?} failed ({}).\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(&format!("child {name} ran")), "child `{name}` did not run (wrong test name?):\n{stdout}");
    output
}

/// Lines of the child's stderr that mention `GMP_MAXPROCS`.
fn warning_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| line.contains("GMP_MAXPROCS"))
        .map(str::to_owned)
        .collect()
}

/// `runtime::maxprocs()` as seen from inside `rt`.
fn maxprocs_inside(rt: &gmp::Runtime) -> usize {
    rt.block_on(async { gmp::runtime::maxprocs() })
}

fn default_maxprocs() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

fn build_error(builder: gmp::Builder) -> io::Error {
    builder.build().expect_err("build() accepted an invalid configuration")
}

#[test]
fn maxprocs_zero_is_an_invalid_input_error_naming_maxprocs() {
    let error = build_error(gmp::Builder::new().maxprocs(0));
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("maxprocs"), "error does not name maxprocs: {error}");
}

#[test]
fn max_threads_zero_is_an_invalid_input_error_naming_max_threads() {
    let error = build_error(gmp::Builder::new().max_threads(0));
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("max_threads"), "error does not name max_threads: {error}");
}

#[test]
fn maxprocs_defaults_to_the_available_parallelism() {
    let output = run_child("child_reports_default_maxprocs", &[]);
    assert!(warning_lines(&output).is_empty(), "warned without GMP_MAXPROCS set");
}

#[test]
fn child_reports_default_maxprocs() {
    if !is_child("child_reports_default_maxprocs") {
        return;
    }
    let rt = gmp::Runtime::new().unwrap();
    assert_eq!(maxprocs_inside(&rt), default_maxprocs());
    println!("child child_reports_default_maxprocs ran");
}

#[test]
fn gmp_maxprocs_in_the_environment_sets_the_default_number_of_processors() {
    let output = run_child("child_expects_three_processors", &[("GMP_MAXPROCS", "3")]);
    assert!(warning_lines(&output).is_empty(), "warned about a valid GMP_MAXPROCS=3");
}

#[test]
fn child_expects_three_processors() {
    if !is_child("child_expects_three_processors") {
        return;
    }
    let rt = gmp::Runtime::new().unwrap();
    assert_eq!(maxprocs_inside(&rt), 3);
    let built = gmp::Builder::new().build().unwrap();
    assert_eq!(maxprocs_inside(&built), 3, "Builder::new() without maxprocs ignored the env");
    println!("child child_expects_three_processors ran");
}

#[test]
fn an_invalid_gmp_maxprocs_is_ignored_with_exactly_one_warning_line() {
    for invalid in ["abc", "0", "-2"] {
        let output = run_child("child_expects_default_processors", &[("GMP_MAXPROCS", invalid)]);
        let warnings = warning_lines(&output);
        assert_eq!(
            warnings.len(),
            1,
            "GMP_MAXPROCS={invalid:?} should give exactly one warning line naming GMP_MAXPROCS, \
             got {warnings:?}"
        );
    }
}

#[test]
fn an_empty_gmp_maxprocs_counts_as_unset_without_a_warning() {
    let output = run_child("child_expects_default_processors", &[("GMP_MAXPROCS", "")]);
    let warnings = warning_lines(&output);
    assert!(warnings.is_empty(), "GMP_MAXPROCS= should be treated as unset, got {warnings:?}");
}

#[test]
fn child_expects_default_processors() {
    if !is_child("child_expects_default_processors") {
        return;
    }
    let rt = gmp::Runtime::new().unwrap();
    assert_eq!(maxprocs_inside(&rt), default_maxprocs());
    println!("child child_expects_default_processors ran");
}

#[test]
fn builder_maxprocs_overrides_gmp_maxprocs() {
    let output = run_child("child_builds_with_two_processors", &[("GMP_MAXPROCS", "3")]);
    assert!(warning_lines(&output).is_empty(), "warned about a valid GMP_MAXPROCS=3");
}

#[test]
fn child_builds_with_two_processors() {
    if !is_child("child_builds_with_two_processors") {
        return;
    }
    let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
    assert_eq!(maxprocs_inside(&rt), 2);
    println!("child child_builds_with_two_processors ran");
}

#[test]
fn thread_name_is_given_to_worker_threads() {
    let rt = gmp::Builder::new().maxprocs(2).thread_name("gmp-cfg-worker").build().unwrap();
    // Spawned from outside while nobody is in block_on, so a worker thread (not M0) runs it.
    let handle = rt.spawn(async { thread::current().name().map(str::to_owned) });
    let name = within(Duration::from_secs(30), "the goroutine reporting its thread name", || {
        futures::executor::block_on(handle).unwrap()
    });
    assert_eq!(name.as_deref(), Some("gmp-cfg-worker"));
}

#[test]
fn thread_stack_size_is_given_to_worker_threads() {
    // Overflowing a stack kills the process, so the deep stack is used in a child.
    run_child("child_uses_a_deep_stack_on_a_worker", &[]);
}

#[test]
fn child_uses_a_deep_stack_on_a_worker() {
    if !is_child("child_uses_a_deep_stack_on_a_worker") {
        return;
    }
    /// Uses about `frames` MiB of stack: more than the 2 MiB a std thread gets by default.
    fn use_stack(frames: usize) -> u8 {
        let mut block = [0u8; 1 << 20];
        block[frames % block.len()] = frames as u8;
        let block = std::hint::black_box(block);
        if frames == 0 {
            block[0]
        } else {
            use_stack(frames - 1).wrapping_add(block[frames % block.len()])
        }
    }
    let rt = gmp::Builder::new().maxprocs(2).thread_stack_size(32 << 20).build().unwrap();
    let handle = rt.spawn(async { use_stack(4) });
    futures::executor::block_on(handle).unwrap();
    drop(rt);
    println!("child child_uses_a_deep_stack_on_a_worker ran");
}
