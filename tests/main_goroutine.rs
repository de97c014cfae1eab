//! `#[gmp::main]`'s body is the program's one main goroutine: `num_goroutine()` and `dump()`
//! count and list it once, as Go's `runtime.NumGoroutine` does (the join that M0 blocks on is
//! not a goroutine of its own).
//!
//! The case runs this test binary again as a child process whose `#[gmp::main]` function
//! prints what it sees on a `CHILD` line (a `#[gmp::main]` program exits the process).

use std::process::Command;
use std::time::Duration;

const CHILD_ENV: &str = "GMP_MAIN_GOROUTINE_CHILD";

#[test]
fn main_goroutine_child() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child_main();
    }
}

/// The main goroutine waits on one goroutine, which reports what the runtime lists.
#[gmp::main(maxprocs = 2)]
async fn child_main() {
    let observer = gmp::spawn(async {
        gmp::time::sleep(Duration::from_millis(20)).await;
        let ids: Vec<String> = gmp::runtime::goroutines().iter().map(|g| g.id.to_string()).collect();
        let dumped = gmp::runtime::dump().matches("goroutine ").count();
        println!("CHILD count={} ids={} dumped={dumped}", gmp::runtime::num_goroutine(), ids.join(","));
    });
    observer.await.unwrap();
}

#[test]
fn a_gmp_main_program_counts_and_lists_its_main_goroutine_once() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "main_goroutine_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "child failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    // The harness prints `test main_goroutine_child ... ` before the child's own line.
    let line = stdout.lines().find_map(|line| line.split_once("CHILD ")).map(|(_, seen)| seen);
    let seen = line.unwrap_or_else(|| panic!("no CHILD line: {stdout}"));
    // The main goroutine (id 1) and the observer (id 2): two, each listed once.
    assert_eq!(seen, "count=2 ids=1,2 dumped=2", "{stdout}");
}
