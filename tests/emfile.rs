//! A listener that runs out of file descriptors: `accept` returns the error, a loop that
//! retries at once does not spin, and the listener accepts again once descriptors are free.
//!
//! The test re-runs itself in a child process under `prlimit --nofile=256:256` (util-linux),
//! so that exhausting descriptors is quick and does not disturb other tests.

use std::fs::File;
use std::io::{ErrorKind, Read};
use std::process::Command;
use std::time::{Duration, Instant};

use futures::io::AsyncWriteExt;
use gmp::net::TcpListener;

const CHILD_ENV: &str = "GMP_EMFILE_TEST_CHILD";
const TEST_NAME: &str = "an_accept_loop_out_of_descriptors_gets_errors_without_spinning_and_then_recovers";
const EMFILE: i32 = 24;
/// How long the child keeps retrying `accept` while out of descriptors.
const EXHAUSTED_FOR: Duration = Duration::from_millis(500);

/// This process's user + system CPU time so far, in clock ticks (10 ms each on Linux), read
/// from `/proc/self/stat` opened in advance (no descriptor is free when we need it).
fn cpu_ticks(stat: &File) -> u64 {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 4096];
    let n = stat.read_at(&mut buf, 0).expect("/proc/self/stat");
    let stat = std::str::from_utf8(&buf[..n]).unwrap();
    let after_name = &stat[stat.rfind(')').expect("comm in /proc/self/stat") + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    fields[14 - 3].parse::<u64>().unwrap() + fields[15 - 3].parse::<u64>().unwrap()
}

#[test]
fn an_accept_loop_out_of_descriptors_gets_errors_without_spinning_and_then_recovers() {
    if std::env::var_os(CHILD_ENV).is_some_and(|name| name == TEST_NAME) {
        child();
        return;
    }
    run_in_child(TEST_NAME);
}

/// Re-runs test `name` of this binary in a child process limited to 256 descriptors.
fn run_in_child(name: &str) {
    if std::env::var_os(CHILD_ENV).is_some() {
        return; // a child runs only the test it was started for
    }
    let exe = std::env::current_exe().unwrap();
    let output = Command::new("prlimit")
        .arg("--nofile=256:256")
        .arg(&exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, name)
        .output();
    let output = match output {
        Ok(output) => output,
        Err(error) if error.kind() == ErrorKind::NotFound => {
            eprintln!("prlimit (util-linux) is not installed; skipping the EMFILE test");
            return;
        }
        Err(error) => panic!("could not run the child test process: {error}"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stderr}");
    assert!(output.status.success(), "the child failed ({}):\n{stdout}\n{stderr}", output.status);
    assert!(stdout.contains("1 passed"), "the child ran no test:\n{stdout}");
}

fn child() {
    let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
    let watchdog = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(60));
        eprintln!("the EMFILE child is not done after 60 s; aborting");
        std::process::abort();
    });
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stat = File::open("/proc/self/stat").unwrap();

        // Use up every descriptor but one, which the client's socket takes.
        let mut hogs = Vec::new();
        loop {
            match File::open("/dev/null") {
                Ok(file) => hogs.push(file),
                Err(error) if error.raw_os_error() == Some(EMFILE) => break,
                Err(error) => panic!("opening /dev/null: {error}"),
            }
        }
        hogs.pop();
        let mut client = std::net::TcpStream::connect(addr).unwrap();

        let error = listener.accept().await.unwrap_err();
        assert_eq!(error.raw_os_error(), Some(EMFILE), "{error:?}");

        // A loop that retries at once gets the error again, but only after a back-off.
        let started = Instant::now();
        let cpu_before = cpu_ticks(&stat);
        let mut attempts = 0;
        while started.elapsed() < EXHAUSTED_FOR {
            let error = listener.accept().await.unwrap_err();
            assert_eq!(error.raw_os_error(), Some(EMFILE), "{error:?}");
            attempts += 1;
        }
        let cpu = cpu_ticks(&stat) - cpu_before;
        eprintln!("{attempts} accept attempts and {} ms of CPU in {EXHAUSTED_FOR:?} out of descriptors", cpu * 10);
        assert!(attempts < 100, "{attempts} accept attempts in {EXHAUSTED_FOR:?}: the loop spins");
        assert!(cpu * 10 < EXHAUSTED_FOR.as_millis() as u64 / 2, "{} ms of CPU: the loop spins", cpu * 10);

        // Descriptors free up: the queued connection is accepted and works.
        drop(hogs);
        let (mut stream, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        stream.write_all(b"ok").await.unwrap();
        let mut reply = [0u8; 2];
        client.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"ok");
    });
    drop(watchdog);
}

const UNDER_LOAD: &str = "an_accept_loop_out_of_descriptors_under_load_recovers_and_the_rest_keeps_running";

#[test]
fn an_accept_loop_out_of_descriptors_under_load_recovers_and_the_rest_keeps_running() {
    if std::env::var_os(CHILD_ENV).is_some_and(|name| name == UNDER_LOAD) {
        child_under_load();
        return;
    }
    run_in_child(UNDER_LOAD);
}

/// Twenty clients wait in the backlog while the process is out of descriptors; a server loop
/// that retries `accept` at once gets EMFILE without spinning, goroutines busy with timers and
/// yields keep running meanwhile, and once descriptors free up every client is served.
fn child_under_load() {
    const CLIENTS: usize = 20;
    let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
    let watchdog = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(60));
        eprintln!("the EMFILE-under-load child is not done after 60 s; aborting");
        std::process::abort();
    });
    rt.block_on(async {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
        use std::sync::Arc;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stat = File::open("/proc/self/stat").unwrap();
        // The clients connect first (their sockets exist before descriptors run out).
        let clients: Vec<std::net::TcpStream> =
            (0..CLIENTS).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect();

        // The load: goroutines that sleep and yield in a loop, counting their rounds.
        let stop = Arc::new(AtomicBool::new(false));
        let rounds = Arc::new(AtomicUsize::new(0));
        let load: Vec<_> = (0..4)
            .map(|i| {
                let (stop, rounds) = (stop.clone(), rounds.clone());
                gmp::spawn(async move {
                    while !stop.load(SeqCst) {
                        if i % 2 == 0 {
                            gmp::time::sleep(Duration::from_millis(1)).await;
                        } else {
                            gmp::yield_now().await;
                            gmp::time::sleep(Duration::from_micros(300)).await;
                        }
                        rounds.fetch_add(1, SeqCst);
                    }
                })
            })
            .collect();

        // What the load costs on its own, to tell it from a spinning accept loop below.
        let cpu_before = cpu_ticks(&stat);
        gmp::time::sleep(EXHAUSTED_FOR).await;
        let load_cpu = cpu_ticks(&stat) - cpu_before;

        let mut hogs = Vec::new();
        loop {
            match File::open("/dev/null") {
                Ok(file) => hogs.push(file),
                Err(error) if error.raw_os_error() == Some(EMFILE) => break,
                Err(error) => panic!("opening /dev/null: {error}"),
            }
        }

        // A server loop that retries at once on every error.
        let errors = Arc::new(AtomicUsize::new(0));
        let served = Arc::new(AtomicUsize::new(0));
        let server = gmp::spawn({
            let (errors, served) = (errors.clone(), served.clone());
            async move {
                while served.load(SeqCst) < CLIENTS {
                    match listener.accept().await {
                        Ok((mut stream, _)) => {
                            stream.write_all(b"ok").await.unwrap();
                            served.fetch_add(1, SeqCst);
                        }
                        Err(error) => {
                            assert_eq!(error.raw_os_error(), Some(EMFILE), "{error:?}");
                            errors.fetch_add(1, SeqCst);
                        }
                    }
                }
            }
        });

        let rounds_before = rounds.load(SeqCst);
        let cpu_before = cpu_ticks(&stat);
        gmp::time::sleep(EXHAUSTED_FOR).await;
        let cpu = cpu_ticks(&stat) - cpu_before;
        let (errors_seen, load_rounds) = (errors.load(SeqCst), rounds.load(SeqCst) - rounds_before);
        eprintln!(
            "out of descriptors for {EXHAUSTED_FOR:?} under load: {errors_seen} accept errors, {} ms of CPU \
             ({} ms for the load alone), {load_rounds} rounds of the load",
            cpu * 10,
            load_cpu * 10
        );
        assert!(errors_seen >= 1, "accept never reported EMFILE");
        assert!(errors_seen < 100, "{errors_seen} accept attempts in {EXHAUSTED_FOR:?}: the loop spins");
        assert_eq!(served.load(SeqCst), 0, "a client was served with no descriptor free");
        assert!(load_rounds >= 20, "the load made only {load_rounds} rounds while accept failed");
        // A spinning accept loop would add a whole core to what the load costs on its own.
        assert!(
            (cpu * 10).saturating_sub(load_cpu * 10) < EXHAUSTED_FOR.as_millis() as u64 / 2,
            "{} ms of CPU against {} ms for the load alone: something spins",
            cpu * 10,
            load_cpu * 10
        );

        drop(hogs);
        server.await.unwrap();
        assert_eq!(served.load(SeqCst), CLIENTS);
        for mut client in clients {
            let mut reply = [0u8; 2];
            client.read_exact(&mut reply).unwrap();
            assert_eq!(&reply, b"ok");
        }
        stop.store(true, SeqCst);
        for handle in load {
            handle.await.unwrap();
        }
    });
    drop(watchdog);
}
