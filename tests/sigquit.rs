//! SIGQUIT as in Go: a `#[gmp::main]` program that receives SIGQUIT prints every goroutine
//! (id, state or wait reason, spawn site) on stderr and exits with status 2, even while its
//! goroutines block their threads; a program listening for SIGQUIT itself keeps the signal.
//!
//! Each case runs this test binary again as a child process whose `#[gmp::main]` function
//! prints a `CHILD` line when ready; the test then sends SIGQUIT and reads the child's stderr.

#![cfg(unix)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Selects the child's body: `stuck` or `listening`.
const CHILD_ENV: &str = "GMP_SIGQUIT_CHILD";
/// How long the test waits for the child at each step.
const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn sigquit_child() {
    match std::env::var(CHILD_ENV).as_deref() {
        Ok("stuck") => stuck_main(),
        Ok("listening") => listening_main(),
        _ => {}
    }
}

/// Two goroutines sleep their threads (each holds its P for good) and one sleeps on a timer.
/// Ready once the first stuck one is in its poll and the sleeper parked (as the test expects
/// to see them).
#[gmp::main(maxprocs = 1)]
async fn stuck_main() {
    let started = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stuck: Vec<_> = (0..2)
        .map(|_| {
            let started = started.clone();
            gmp::spawn(async move {
                started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                std::thread::sleep(LIMIT * 2)
            })
        })
        .collect();
    let sleeper = gmp::spawn(gmp::time::sleep(LIMIT * 2));
    let sleeping = || {
        gmp::runtime::goroutines()
            .iter()
            .any(|g| g.id == sleeper.id() && g.wait_reason == gmp::runtime::WaitReason::Sleep)
    };
    let waiting = Instant::now();
    while started.load(std::sync::atomic::Ordering::SeqCst) == 0 || !sleeping() {
        assert!(waiting.elapsed() < LIMIT, "the stuck goroutines never started or the sleeper never parked");
        gmp::time::sleep(Duration::from_millis(1)).await;
    }
    let records = gmp::runtime::goroutines();
    let site = |id: u64| records.iter().find(|g| g.id == id).expect("listed").spawned_at.to_string();
    println!("CHILD stuck {} {} sleeper {} {}", stuck[0].id(), site(stuck[0].id()), sleeper.id(), site(sleeper.id()));
    for handle in stuck {
        handle.await.unwrap();
    }
}

/// Listens for SIGQUIT itself: the signal is the program's, no dump.
#[gmp::main(maxprocs = 1)]
async fn listening_main() {
    let mut quit = gmp::signal::signal(gmp::signal::SignalKind::quit()).unwrap();
    println!("CHILD listening");
    quit.recv().await;
    println!("heard SIGQUIT");
}

fn spawn_child(mode: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "sigquit_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, mode)
        .env_remove("GMP_DEBUG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Reads the child's stdout until its `CHILD` line (bounded), returns the words after it and
/// the rest of stdout (read on a thread).
fn wait_ready(child: &mut Child) -> (Vec<String>, std::thread::JoinHandle<String>) {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let rest = std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some((_, words)) = line.split_once("CHILD ") {
                let _ = tx.send(words.split_whitespace().map(str::to_owned).collect::<Vec<_>>());
                break;
            }
            line.clear();
        }
        let mut rest = String::new();
        let _ = reader.read_to_string(&mut rest);
        rest
    });
    match rx.recv_timeout(LIMIT) {
        Ok(words) => (words, rest),
        Err(_) => {
            let _ = child.kill();
            panic!("the child never became ready");
        }
    }
}

fn send_sigquit(child: &Child) {
    // SAFETY: `kill` with a live child's pid and a valid signal number.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGQUIT) }, 0);
}

/// Waits (bounded) for the child to exit; returns its status and stderr.
fn wait_exit(mut child: Child) -> (ExitStatus, String) {
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("the child did not exit after SIGQUIT:\n{}", reader.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (status, reader.join().unwrap())
}

#[test]
fn sigquit_prints_every_goroutine_with_its_spawn_site_and_exits_2() {
    let mut child = spawn_child("stuck");
    let (words, _) = wait_ready(&mut child);
    let [_, stuck, stuck_site, _, sleeper, sleeper_site] = words.as_slice() else { panic!("{words:?}") };
    // The child says it is ready only once the first stuck goroutine is in its poll (it
    // stays there for 40 s), so no sleep here decides what the dump shows.
    send_sigquit(&child);
    let (status, stderr) = wait_exit(child);
    assert_eq!(status.code(), Some(2), "{status:?}\n{stderr}");
    assert!(stderr.contains("SIGQUIT: quit"), "{stderr}");
    let block = |id: &str| {
        let start =
            stderr.find(&format!("goroutine {id} [")).unwrap_or_else(|| panic!("goroutine {id} missing:\n{stderr}"));
        stderr[start..].split("\n\n").next().unwrap().to_owned()
    };
    let stuck_block = block(stuck);
    assert!(stuck_block.starts_with(&format!("goroutine {stuck} [running")), "{stuck_block}");
    assert!(stuck_block.contains(&format!("spawned at {stuck_site}")), "{stuck_block}");
    assert!(stuck_site.contains("sigquit.rs:"), "{stuck_site}");
    let sleeper_block = block(sleeper);
    assert!(sleeper_block.starts_with(&format!("goroutine {sleeper} [sleep]:")), "{sleeper_block}");
    assert!(sleeper_block.contains(&format!("spawned at {sleeper_site}")), "{sleeper_block}");
}

#[test]
fn a_program_listening_for_sigquit_keeps_it_and_prints_no_dump() {
    let mut child = spawn_child("listening");
    let (_, rest) = wait_ready(&mut child);
    send_sigquit(&child);
    let (status, stderr) = wait_exit(child);
    assert_eq!(status.code(), Some(0), "{status:?}\n{stderr}");
    assert!(!stderr.contains("SIGQUIT: quit"), "{stderr}");
    assert!(rest.join().unwrap().contains("heard SIGQUIT"));
}
