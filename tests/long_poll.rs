//! The long-poll warning: a goroutine whose single poll holds its thread past the threshold
//! (`GMP_DEBUG=longpoll=<ms>`, 100 ms by default, 0 off) is named once on stderr, with its
//! spawn site and P, and told about `gmp::syscall` and `spawn_blocking`.
//!
//! Each case runs this test binary again as a child process (selected by an environment
//! variable) and reads the child's stderr.

use std::process::{Command, Output};
use std::time::Duration;

/// Selects the child's body: `once` (one 400 ms blocking poll) or `twice` (two, with an
/// await between them).
const CHILD_ENV: &str = "GMP_LONG_POLL_CHILD";

/// What the warning line says about the poll, whatever the goroutine.
const WARNING: &str = "has been in one poll on P";

/// The child: a goroutine sleeps its thread (an unmarked blocking call inside its poll) for
/// 400 ms, once or twice; prints its id and spawn site on stdout.
#[test]
fn long_poll_child() {
    let Some(mode) = std::env::var_os(CHILD_ENV) else { return };
    let polls = if mode == "twice" { 2 } else { 1 };
    let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
    let body = async move {
        let blocker = gmp::spawn(async move {
            for _ in 0..polls {
                std::thread::sleep(Duration::from_millis(400));
                gmp::yield_now().await;
            }
        });
        let record = gmp::runtime::goroutines().into_iter().find(|g| g.id == blocker.id()).expect("listed");
        println!("CHILD goroutine {} (spawned at {})", record.id, record.spawned_at);
        blocker.await.unwrap();
    };
    rt.block_on(rt.spawn(body)).unwrap();
}

fn run_child(mode: &str, gmp_debug: Option<&str>) -> (String, String) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args(["--exact", "long_poll_child", "--nocapture", "--test-threads=1"]).env(CHILD_ENV, mode);
    match gmp_debug {
        Some(value) => command.env("GMP_DEBUG", value),
        None => command.env_remove("GMP_DEBUG"),
    };
    let Output { status, stdout, stderr } = command.output().unwrap();
    let (stdout, stderr) =
        (String::from_utf8_lossy(&stdout).into_owned(), String::from_utf8_lossy(&stderr).into_owned());
    assert!(status.success(), "child failed:\n{stdout}\n{stderr}");
    (stdout, stderr)
}

/// "goroutine N (spawned at file:line:col)", as the child printed it.
fn named_goroutine(stdout: &str) -> String {
    let line = stdout
        .lines()
        .find_map(|l| Some(l.split_once("CHILD ")?.1))
        .unwrap_or_else(|| panic!("no CHILD line: {stdout}"));
    assert!(line.contains("long_poll.rs:"), "{line}");
    line.to_owned()
}

fn warnings(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(WARNING)).collect()
}

#[test]
fn a_goroutine_sleeping_its_thread_400_ms_is_named_once_with_its_spawn_site() {
    let (stdout, stderr) = run_child("once", None);
    let goroutine = named_goroutine(&stdout);
    let lines = warnings(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    let line = lines[0];
    assert!(line.starts_with(&format!("gmp: {goroutine} has been in one poll on P")), "{line}");
    assert!(line.contains("gmp::syscall") && line.contains("gmp::spawn_blocking"), "{line}");
}

#[test]
fn a_second_long_poll_of_the_same_goroutine_gets_its_own_line() {
    let (stdout, stderr) = run_child("twice", None);
    let goroutine = named_goroutine(&stdout);
    let lines = warnings(&stderr);
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(lines.iter().all(|line| line.starts_with(&format!("gmp: {goroutine} "))), "{stderr}");
}

#[test]
fn longpoll_0_turns_the_warning_off() {
    let (stdout, stderr) = run_child("once", Some("longpoll=0"));
    named_goroutine(&stdout);
    assert_eq!(warnings(&stderr), Vec::<&str>::new(), "{stderr}");
}

#[test]
fn a_threshold_above_the_poll_prints_nothing_and_a_bad_value_is_reported_and_ignored() {
    let (_, stderr) = run_child("once", Some("longpoll=5000"));
    assert_eq!(warnings(&stderr), Vec::<&str>::new(), "{stderr}");
    let (_, stderr) = run_child("once", Some("longpoll=soon"));
    assert!(stderr.contains("ignoring GMP_DEBUG setting \"longpoll=soon\""), "{stderr}");
    assert_eq!(warnings(&stderr).len(), 1, "the default threshold still applies: {stderr}");
}
