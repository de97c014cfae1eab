//! gmp::process: piped children echo and return their exit codes, a missing program is
//! `NotFound`, and 200 children awaited at once cost no thread each.

mod common;

use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use gmp::process::Command;

use common::{panic_message, runtime, within};

/// One test at a time: the thread-count test must not see another test's runtime threads.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn threads_of_this_process() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn a_child_with_piped_stdin_stdout_and_stderr_echoes_and_returns_its_exit_code() {
    let _serial = serial();
    within(Duration::from_secs(30), "piped child", || {
        runtime(2).block_on(async {
            let mut child = Command::new("sh")
                .args(["-c", "cat; echo 'to stderr' >&2; exit 3"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let mut stdout = child.stdout.take().unwrap();
            let mut stderr = child.stderr.take().unwrap();

            // More than a pipe holds (64 KiB), so writer and reader must run side by side.
            let sent: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
            let writer = {
                let sent = sent.clone();
                gmp::spawn(async move {
                    stdin.write_all(&sent).await.unwrap();
                    stdin.close().await.unwrap();
                    // Dropping stdin gives the child end-of-file.
                })
            };
            let mut echoed = Vec::new();
            stdout.read_to_end(&mut echoed).await.unwrap();
            writer.await.unwrap();
            assert_eq!(echoed.len(), sent.len());
            assert!(echoed == sent, "the child echoed other bytes");
            let mut errors = String::new();
            stderr.read_to_string(&mut errors).await.unwrap();
            assert_eq!(errors, "to stderr\n");

            let status = child.wait().await.unwrap();
            assert_eq!(status.code(), Some(3));
            assert!(!status.success());
        });
    });
}

#[test]
fn status_output_and_wait_with_output_report_what_the_child_did() {
    let _serial = serial();
    within(Duration::from_secs(30), "status and output", || {
        runtime(2).block_on(async {
            assert!(Command::new("true").status().await.unwrap().success());
            assert_eq!(Command::new("sh").args(["-c", "exit 42"]).status().await.unwrap().code(), Some(42));

            let output = Command::new("sh")
                .args(["-c", "echo \"$GREETING\"; pwd; echo problem >&2; exit 1"])
                .env("GREETING", "hello from the environment")
                .current_dir("/")
                .output()
                .await
                .unwrap();
            assert_eq!(output.status.code(), Some(1));
            assert_eq!(String::from_utf8(output.stdout).unwrap(), "hello from the environment\n/\n");
            assert_eq!(output.stderr, b"problem\n");

            // output() gives the child a null stdin: `cat` ends at once.
            let output = Command::new("cat").output().await.unwrap();
            assert!(output.status.success());
            assert!(output.stdout.is_empty());

            let child = Command::new("sh")
                .args(["-c", "head -c 300000 /dev/zero; head -c 100000 /dev/zero >&2"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let output = child.wait_with_output().await.unwrap();
            assert!(output.status.success());
            assert_eq!((output.stdout.len(), output.stderr.len()), (300_000, 100_000));
        });
    });
}

#[test]
fn a_missing_program_is_not_found() {
    let _serial = serial();
    runtime(1).block_on(async {
        let missing = "gmp-test-no-such-program";
        assert_eq!(Command::new(missing).spawn().unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(Command::new(missing).status().await.unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(Command::new(missing).output().await.unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(Command::new("/no/such/dir/program").spawn().unwrap_err().kind(), ErrorKind::NotFound);
    });
}

#[test]
fn kill_try_wait_and_id_follow_the_child() {
    let _serial = serial();
    within(Duration::from_secs(30), "kill", || {
        runtime(2).block_on(async {
            let mut child = Command::new("sleep").arg("60").spawn().unwrap();
            let pid = child.id().unwrap();
            assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
            assert_eq!(child.try_wait().unwrap(), None, "sleep 60 is still running");
            child.kill().unwrap();
            let status = child.wait().await.unwrap();
            assert_eq!(status.signal(), Some(libc::SIGKILL));
            assert_eq!(child.id(), None, "a reaped child has no id");
            assert_eq!(child.try_wait().unwrap(), Some(status));
            assert_eq!(child.wait().await.unwrap(), status, "waiting again gives the same status");
            child.kill().unwrap(); // a reaped child: nothing to do, no error

            // A wait that is dropped half-way (a timeout) leaves the child waitable. The child
            // reads a pipe this test holds open (`wait` closes a piped stdin, so not that), so
            // it cannot have exited when the timeout fires, however late that is.
            let (gate_reader, gate_writer) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
            let mut child =
                Command::new("sh").args(["-c", "read line; exit 0"]).stdin(Stdio::from(gate_reader)).spawn().unwrap();
            assert!(gmp::time::timeout(Duration::from_millis(20), child.wait()).await.is_err());
            drop(gate_writer);
            assert!(child.wait().await.unwrap().success());
        });
    });
}

#[test]
fn two_hundred_children_awaited_at_once_cost_no_thread_each() {
    let _serial = serial();
    const MAXPROCS: usize = 2;
    const CHILDREN: usize = 200;
    // The children block reading a pipe the test holds, so all 200 are alive while all 200
    // goroutines wait; closing the pipe lets them all exit.
    // Close-on-exec, or every child would inherit the write end and never see the end.
    let (gate_reader, gate_writer) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                peak.fetch_max(threads_of_this_process(), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(5));
    let before = threads_of_this_process();

    let codes = within(Duration::from_secs(120), "200 children", || {
        runtime(MAXPROCS).block_on(async move {
            let mut handles = Vec::new();
            for i in 0..CHILDREN {
                let gate = Stdio::from(gate_reader.try_clone().unwrap());
                let mut child = Command::new("sh")
                    .args(["-c", &format!("read line; exit {}", i % 100)])
                    .stdin(gate)
                    .spawn()
                    .unwrap();
                handles.push(gmp::spawn(async move { child.wait().await.unwrap().code().unwrap() }));
            }
            drop(gate_reader);
            // All 200 goroutines park in wait; give them time to get there.
            gmp::time::sleep(Duration::from_millis(300)).await;
            let waiting = gmp::runtime::num_goroutine();
            assert!(waiting >= CHILDREN, "{waiting} goroutines");
            drop(gate_writer);
            let mut codes = Vec::new();
            for handle in handles {
                codes.push(handle.await.unwrap());
            }
            codes
        })
    });
    done.store(true, Ordering::SeqCst);
    sampler.join().unwrap();

    let expected: Vec<i32> = (0..CHILDREN as i32).map(|i| i % 100).collect();
    assert_eq!(codes, expected);
    let added = peak.load(Ordering::SeqCst).saturating_sub(before);
    eprintln!("200 children awaited at once: {before} threads before, peak {} (+{added})", peak.load(Ordering::SeqCst));
    // The Ms of 2 Ps, sysmon, and the Ms sysmon starts when a fork outlasts its tick while
    // goroutines are queued (measured: +5 in all); a thread per child would be 200.
    assert!(added <= MAXPROCS + 12, "{added} threads added to await {CHILDREN} children");
}

#[test]
fn spawning_outside_a_runtime_panics_with_a_clear_message() {
    let _serial = serial();
    let panic = std::panic::catch_unwind(|| Command::new("true").spawn()).unwrap_err();
    let message = panic_message(&*panic);
    assert!(message.contains("gmp::process::Command::spawn must be called from inside a gmp runtime"), "{message}");
}
