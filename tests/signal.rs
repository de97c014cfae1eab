//! gmp::signal: deliveries reach every listener, none is lost between awaits, Ctrl-C reaches
//! `ctrl_c()`, and a real `#[gmp::main]` program (examples/shutdown.rs) finishes its work on
//! SIGINT and exits 0.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::StreamExt;
use gmp::signal::{signal, SignalKind};
use signal_hook::low_level::raise;

use common::{example, panic_message, runtime, within};

/// One test at a time: signals are process-wide, and a listener of one test would count the
/// signals another test raises.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `recv` with a deadline: `Some(())` for a delivery, `None` if none came in `limit`.
async fn recv_within(listener: &mut gmp::signal::Signal, limit: Duration) -> Option<()> {
    gmp::time::timeout(limit, listener.recv()).await.ok().map(|delivery| delivery.expect("runtime alive"))
}

#[test]
fn every_listener_of_a_signal_gets_every_delivery() {
    let _serial = serial();
    within(Duration::from_secs(30), "two listeners", || {
        runtime(2).block_on(async {
            let mut first = signal(SignalKind::user_defined1()).unwrap();
            let mut second = signal(SignalKind::user_defined1()).unwrap();
            // raise() runs the handler on this thread before it returns: three deliveries.
            for _ in 0..3 {
                raise(libc::SIGUSR1).unwrap();
            }
            for listener in [&mut first, &mut second] {
                for delivery in 0..3 {
                    assert_eq!(recv_within(listener, Duration::from_secs(5)).await, Some(()), "delivery {delivery}");
                }
                assert_eq!(recv_within(listener, Duration::from_millis(50)).await, None, "only three were sent");
            }
        });
    });
}

#[test]
fn no_delivery_is_lost_between_two_awaits_or_while_parked() {
    let _serial = serial();
    within(Duration::from_secs(30), "pending deliveries", || {
        runtime(2).block_on(async {
            let mut listener = signal(SignalKind::user_defined2()).unwrap();

            // Delivered while nobody awaits: kept.
            raise(libc::SIGUSR2).unwrap();
            gmp::time::sleep(Duration::from_millis(20)).await;
            raise(libc::SIGUSR2).unwrap();
            assert_eq!(listener.recv().await, Some(()));
            assert_eq!(listener.recv().await, Some(()));

            // Delivered while the goroutine is parked in recv, from another thread: wakes it.
            // (The clock is read before the thread starts, so the raise is at least 50 ms
            // after it however long this thread is kept off the CPU in between.)
            let started = Instant::now();
            let raised = std::thread::spawn(|| {
                std::thread::sleep(Duration::from_millis(50));
                raise(libc::SIGUSR2).unwrap();
            });
            assert_eq!(recv_within(&mut listener, Duration::from_secs(10)).await, Some(()));
            assert!(started.elapsed() >= Duration::from_millis(40), "woke before the signal");
            raised.join().unwrap();

            // As a Stream, from a goroutine (the listener moves there).
            let streamed = gmp::spawn(async move { listener.next().await });
            gmp::time::sleep(Duration::from_millis(20)).await;
            raise(libc::SIGUSR2).unwrap();
            assert_eq!(streamed.await.unwrap(), Some(()));
        });
    });
}

#[test]
fn ctrl_c_completes_on_sigint() {
    let _serial = serial();
    within(Duration::from_secs(30), "ctrl_c", || {
        runtime(2).block_on(async {
            // Made inside the runtime, `ctrl_c()` listens from the call on.
            let interrupted = gmp::signal::ctrl_c();
            raise(libc::SIGINT).unwrap();
            interrupted.await.unwrap();

            // Awaited in a goroutine while another thread sends SIGINT to the process. A second
            // listener stays alive throughout, so no SIGINT ever finds none (that would end
            // the test process, as SIGINT's default action does).
            let _guard = signal(SignalKind::interrupt()).unwrap();
            let waiting = gmp::spawn(gmp::signal::ctrl_c());
            let finished = Arc::new(AtomicBool::new(false));
            let sender = {
                let finished = finished.clone();
                std::thread::spawn(move || {
                    let me = rustix::process::getpid();
                    while !finished.load(Ordering::SeqCst) {
                        rustix::process::kill_process(me, rustix::process::Signal::INT).unwrap();
                        std::thread::sleep(Duration::from_millis(10));
                    }
                })
            };
            waiting.await.unwrap().unwrap();
            finished.store(true, Ordering::SeqCst);
            sender.join().unwrap();
        });
    });
}

#[test]
fn listeners_on_two_runtimes_are_independent() {
    // Each listener has its own self-pipe on its own runtime's netpoller: shutting one
    // runtime down leaves the other's listener working.
    let _serial = serial();
    within(Duration::from_secs(30), "two runtimes", || {
        let (first, second) = (runtime(1), runtime(1));
        let mut on_first = first.block_on(async { signal(SignalKind::hangup()).unwrap() });
        let mut on_second = second.block_on(async { signal(SignalKind::hangup()).unwrap() });
        raise(libc::SIGHUP).unwrap();
        drop(first);
        // The first runtime is gone: its listener reports that instead of hanging.
        assert_eq!(second.block_on(async { on_first.recv().await }), Some(()), "counted before shutdown");
        assert_eq!(second.block_on(async { on_first.recv().await }), None);
        drop(on_first);
        second.block_on(async {
            assert_eq!(recv_within(&mut on_second, Duration::from_secs(5)).await, Some(()));
            raise(libc::SIGHUP).unwrap();
            assert_eq!(recv_within(&mut on_second, Duration::from_secs(5)).await, Some(()));
        });
    });
}

#[test]
fn signals_that_cannot_be_handled_are_invalid_input() {
    let _serial = serial();
    runtime(1).block_on(async {
        for signum in [libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV, libc::SIGILL, libc::SIGFPE, 0, -3, 10_000] {
            let error = signal(SignalKind::from_raw(signum)).unwrap_err();
            assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "signal {signum}: {error}");
        }
    });
}

#[test]
fn a_listener_outside_a_runtime_panics_with_a_clear_message() {
    let _serial = serial();
    let panic = std::panic::catch_unwind(|| signal(SignalKind::user_defined1())).unwrap_err();
    let message = panic_message(&*panic);
    assert!(message.contains("gmp::signal::signal must be called from inside a gmp runtime"), "{message}");

    let panic = std::panic::catch_unwind(|| futures::executor::block_on(gmp::signal::ctrl_c())).unwrap_err();
    let message = panic_message(&*panic);
    assert!(message.contains("gmp::signal::ctrl_c must be called from inside a gmp runtime"), "{message}");
}

#[test]
fn sigint_lets_a_gmp_main_program_finish_its_work_and_exit_0() {
    let _serial = serial();
    let binary = example("shutdown");
    within(Duration::from_secs(120), "examples/shutdown.rs", || {
        let mut server =
            Command::new(&binary).arg("127.0.0.1:0").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut stdout = BufReader::new(server.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line.trim().strip_prefix("shutdown: listening on ").unwrap_or_else(|| panic!("{line:?}")).to_owned();

        // A request in flight (400 ms of work) when SIGINT arrives: the server says when it
        // has taken the connection, so the signal never comes before the accept.
        let mut client = std::net::TcpStream::connect(&addr).unwrap();
        client.write_all(b"400\n").unwrap();
        line.clear();
        stdout.read_line(&mut line).unwrap();
        assert!(line.starts_with("shutdown: serving "), "{line:?}");
        rustix::process::kill_process(rustix::process::Pid::from_child(&server), rustix::process::Signal::INT).unwrap();

        let mut answer = String::new();
        client.read_to_string(&mut answer).unwrap();
        assert_eq!(answer, "done 400\n", "the request in flight was finished");

        let status = server.wait().unwrap();
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        let mut errors = String::new();
        server.stderr.take().unwrap().read_to_string(&mut errors).unwrap();
        assert!(status.success(), "exit status {status}; stdout {rest:?}; stderr {errors:?}");
        assert!(rest.contains("finishing 1 request(s) in flight"), "{rest:?}");
        assert!(rest.contains("served 1 request(s); bye"), "{rest:?}");

        // It stopped accepting.
        assert!(std::net::TcpStream::connect(&addr).is_err(), "still accepting after exit");
    });
}

/// Set in the environment of this test binary run as a child by
/// `dropping_the_last_listener_gives_a_signal_its_earlier_behaviour_back`.
const CHILD_MODE: &str = "GMP_SIGNAL_TEST_CHILD";

#[test]
fn dropping_the_last_listener_gives_a_signal_its_earlier_behaviour_back() {
    if let Ok(signal_name) = std::env::var(CHILD_MODE) {
        // In the child: listen, hear one delivery, stop listening, then raise the signal again.
        let signum = if signal_name == "TERM" { libc::SIGTERM } else { libc::SIGPIPE };
        runtime(1).block_on(async {
            let mut listener = signal(SignalKind::from_raw(signum)).unwrap();
            raise(signum).unwrap();
            assert_eq!(listener.recv().await, Some(()));
        });
        raise(signum).unwrap();
        println!("survived");
        return;
    }
    let _serial = serial();
    let run_child = |signal_name: &str| {
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "dropping_the_last_listener_gives_a_signal_its_earlier_behaviour_back", "--nocapture"])
            .env(CHILD_MODE, signal_name)
            .output()
            .unwrap()
    };
    // SIGTERM's default action ends the process: it does again once nobody listens.
    let terminated = run_child("TERM");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(terminated.status.signal(), Some(libc::SIGTERM), "{terminated:?}");
    assert!(!String::from_utf8_lossy(&terminated.stdout).contains("survived"));
    // SIGPIPE was ignored (Rust programs start that way): it is ignored again.
    let ignored = run_child("PIPE");
    assert!(ignored.status.success(), "{ignored:?}");
    assert!(String::from_utf8_lossy(&ignored.stdout).contains("survived"));
}
