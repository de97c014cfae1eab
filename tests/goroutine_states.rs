//! Every live goroutine shows in `num_goroutine()`, `goroutines()` and `dump()`, whatever it is
//! doing — running, runnable, waiting (with its reason), inside `gmp::syscall`, stuck in a
//! blocking poll, or running as a `spawn_blocking` call — with Go's state names; and
//! `stats().threads` counts the threads that serve them.
//!
//! Each test waits (bounded, in seconds) for the state it looks for and asserts what the
//! listing says, never how long anything took.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gmp::runtime::{GoroutineRecord, GoroutineState, WaitReason};

/// How long a test waits for a state before it fails.
const LIMIT: Duration = Duration::from_secs(20);

/// Runs `body` as the main goroutine of a runtime with `maxprocs` Ps, as `#[gmp::main]`
/// does. (A `block_on` future itself is polled only on the calling thread, so a goroutine
/// that blocks that thread would stop the observer too.)
fn observe<T: Send + 'static>(maxprocs: usize, body: impl std::future::Future<Output = T> + Send + 'static) -> T {
    let rt = gmp::Builder::new().maxprocs(maxprocs).build().unwrap();
    rt.block_on(rt.spawn(body)).unwrap()
}

/// Polls `goroutines()` until goroutine `id` satisfies `wanted`, then returns its record.
async fn wait_for(id: u64, what: &str, wanted: impl Fn(&GoroutineRecord) -> bool) -> GoroutineRecord {
    let started = Instant::now();
    loop {
        if let Some(record) = gmp::runtime::goroutines().into_iter().find(|g| g.id == id && wanted(g)) {
            return record;
        }
        assert!(started.elapsed() < LIMIT, "goroutine {id} never was {what}:\n{}", gmp::runtime::dump());
        gmp::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A flag the test raises to let a blocked goroutine finish, and the bounded wait for it.
#[derive(Clone, Default)]
struct Release(Arc<AtomicBool>);

impl Release {
    fn set(&self) {
        self.0.store(true, SeqCst);
    }

    /// Blocks the calling thread (sleeping in the kernel) until released, at most `2 * LIMIT`.
    fn block_thread(&self) {
        let started = Instant::now();
        while !self.0.load(SeqCst) && started.elapsed() < 2 * LIMIT {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// `goroutines()` and `num_goroutine()` read until they agree (at most `LIMIT`), without
/// yielding. They can differ for a moment at the start: `observe` spawns the body before
/// `block_on` registers its own future, which a worker M may run meanwhile.
fn listing_and_count() -> (Vec<GoroutineRecord>, usize) {
    let started = Instant::now();
    loop {
        let records = gmp::runtime::goroutines();
        let count = gmp::runtime::num_goroutine();
        if count == records.len() || started.elapsed() > LIMIT {
            return (records, count);
        }
        std::hint::spin_loop();
    }
}

fn this_file(record: &GoroutineRecord) -> bool {
    record.spawned_at.file().ends_with("goroutine_states.rs")
}

#[test]
fn a_goroutine_being_polled_is_running_on_its_processor() {
    observe(2, async {
        let spinner_release = Release::default();
        let release = spinner_release.clone();
        // Computes (never parks) until released; its coop points are not reached.
        let spinner = gmp::spawn(async move {
            let started = Instant::now();
            while !release.0.load(SeqCst) && started.elapsed() < LIMIT {
                std::hint::spin_loop();
            }
        });
        let record = wait_for(spinner.id(), "running on a P", |g| g.state == GoroutineState::Running).await;
        assert!(record.processor.is_some(), "{record:?}");
        assert!(this_file(&record), "{record:?}");
        let dump = gmp::runtime::dump();
        assert!(dump.contains(&format!("goroutine {} [running, P", spinner.id())), "{dump}");
        // The observer itself is running too.
        let me = gmp::runtime::goroutines().into_iter().filter(|g| g.state == GoroutineState::Running).count();
        assert!(me >= 2, "{dump}");
        spinner_release.set();
        spinner.await.unwrap();
    });
}

#[test]
fn a_goroutine_queued_behind_the_running_one_is_runnable() {
    observe(1, async {
        // With one P, a goroutine spawned here waits in the queue until this one yields.
        let queued = gmp::spawn(async {});
        let (records, count) = listing_and_count();
        let record = records.iter().find(|g| g.id == queued.id()).expect("listed");
        assert_eq!(record.state, GoroutineState::Runnable, "{records:?}");
        // The main goroutine and the queued one (and `block_on`'s own future once the calling
        // thread has registered it, which may come after the main goroutine started; seen:
        // 2 listed, then 3 counted).
        assert!(records.len() >= 2, "{records:?}");
        assert_eq!(count, records.len(), "{records:?}");
        let dump = gmp::runtime::dump();
        assert!(dump.contains(&format!("goroutine {} [runnable]:", queued.id())), "{dump}");
        queued.await.unwrap();
    });
}

#[test]
fn waiting_goroutines_show_their_wait_reason_as_go_names_it() {
    observe(2, async {
        let sleeper = gmp::spawn(gmp::time::sleep(Duration::from_secs(60)));
        let (_tx, rx) = gmp::chan::unbounded::<()>();
        let receiver = gmp::spawn(async move {
            let _ = rx.recv().await;
        });
        let listener = gmp::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let acceptor = gmp::spawn(async move {
            let _ = listener.accept().await;
        });
        for (handle, reason, text) in [
            (&sleeper, WaitReason::Sleep, "sleep"),
            (&receiver, WaitReason::ChanReceive, "chan receive"),
            (&acceptor, WaitReason::IoWait, "IO wait"),
        ] {
            let record =
                wait_for(handle.id(), text, |g| g.state == GoroutineState::Waiting && g.wait_reason == reason).await;
            assert!(this_file(&record), "{record:?}");
            let dump = gmp::runtime::dump();
            assert!(dump.contains(&format!("goroutine {} [{text}]:", handle.id())), "{dump}");
        }
        assert!(gmp::runtime::num_goroutine() >= 4);
        for handle in [sleeper, receiver, acceptor] {
            handle.abort();
            assert!(handle.await.unwrap_err().is_cancelled());
        }
    });
}

/// The case: with 2 Ps, a goroutine in `gmp::syscall(|| sleep)` stays listed after
/// sysmon has handed its P to another thread (it used to be listed at 100 ms, gone at 400).
#[test]
fn a_goroutine_in_a_syscall_stays_listed_after_its_processor_is_handed_off() {
    observe(2, async {
        let release = Release::default();
        let blocked = release.clone();
        let caller = gmp::spawn(async move { gmp::syscall(|| blocked.block_thread()) });
        let id = caller.id();
        let record = wait_for(id, "in a syscall", |g| g.state == GoroutineState::Syscall).await;
        assert!(!record.blocking_call && this_file(&record), "{record:?}");
        // Long past sysmon's 10 ms retake: the P has gone to another M by now, the goroutine
        // still sits in its syscall on its own thread.
        gmp::time::sleep(Duration::from_millis(400)).await;
        let (records, count) = listing_and_count();
        let record = records.iter().find(|g| g.id == id).unwrap_or_else(|| panic!("gone: {records:?}"));
        assert_eq!(record.state, GoroutineState::Syscall);
        assert_eq!(count, records.len());
        assert!(records.len() >= 2, "{records:?}"); // the main goroutine and the caller
        let dump = gmp::runtime::dump();
        assert!(dump.contains(&format!("goroutine {id} [syscall]:")), "{dump}");
        release.set();
        caller.await.unwrap();
    });
}

/// A goroutine blocked in an unmarked `std::thread::sleep` inside its poll: listed as
/// running, on its P, with how long the poll has run.
#[test]
fn a_goroutine_stuck_in_a_blocking_poll_is_listed_with_how_long_it_has_run() {
    observe(2, async {
        let release = Release::default();
        let blocked = release.clone();
        let stuck = gmp::spawn(async move { blocked.block_thread() });
        let id = stuck.id();
        let record = wait_for(id, "running for 200 ms", |g| {
            g.state == GoroutineState::Running && g.running_for.is_some_and(|d| d >= Duration::from_millis(200))
        })
        .await;
        assert!(record.processor.is_some() && this_file(&record), "{record:?}");
        assert!(gmp::runtime::num_goroutine() >= 2);
        let dump = gmp::runtime::dump();
        let line =
            dump.lines().find(|l| l.starts_with(&format!("goroutine {id} ["))).unwrap_or_else(|| panic!("{dump}"));
        assert!(
            line.starts_with(&format!("goroutine {id} [running, P")) && line.ends_with(" ms in one poll]:"),
            "{line}"
        );
        release.set();
        stuck.await.unwrap();
    });
}

#[test]
fn a_spawn_blocking_call_is_in_the_syscall_state_and_its_awaiter_waits_for_blocking() {
    observe(2, async {
        let release = Release::default();
        let blocked = release.clone();
        let call = gmp::spawn_blocking(move || blocked.block_thread());
        let call_id = call.id();
        let awaiter = gmp::spawn(async move { call.await.unwrap() });
        let record = wait_for(call_id, "running its closure", |g| g.state == GoroutineState::Syscall).await;
        assert!(record.blocking_call && this_file(&record), "{record:?}");
        wait_for(awaiter.id(), "waiting for blocking", |g| g.wait_reason == WaitReason::Blocking).await;
        let dump = gmp::runtime::dump();
        assert!(dump.contains(&format!("goroutine {call_id} [syscall, spawn_blocking]:")), "{dump}");
        assert!(dump.contains(&format!("goroutine {} [blocking]:", awaiter.id())), "{dump}");
        release.set();
        awaiter.await.unwrap();
    });
}

/// One goroutine in a syscall, one stuck in a poll, one blocking call, and the observer:
/// each holds a thread of its own, and `stats().threads` counts them all.
#[test]
fn stats_counts_every_thread_serving_the_goroutines() {
    observe(2, async {
        let release = Release::default();
        let (a, b, c) = (release.clone(), release.clone(), release.clone());
        let in_syscall = gmp::spawn(async move { gmp::syscall(|| a.block_thread()) });
        let stuck = gmp::spawn(async move { b.block_thread() });
        let call = gmp::spawn_blocking(move || c.block_thread());
        wait_for(in_syscall.id(), "in a syscall", |g| g.state == GoroutineState::Syscall).await;
        wait_for(stuck.id(), "stuck in a poll", |g| g.running_for.is_some()).await;
        wait_for(call.id(), "running its closure", |g| g.state == GoroutineState::Syscall).await;
        let stats = gmp::runtime::stats();
        assert!(stats.blocking_threads >= 1, "{stats:?}");
        // Two worker threads blocked (syscall, stuck poll) plus the blocking-pool thread; the
        // observer runs on M0 (uncounted) or a third worker.
        assert!(stats.threads >= 3, "{stats:?}");
        assert!(stats.threads >= stats.blocking_threads + 2, "{stats:?}");
        // Counted and listed alike (read until they agree: see `listing_and_count`).
        let started = Instant::now();
        while gmp::runtime::stats().goroutines != gmp::runtime::goroutines().len() {
            assert!(started.elapsed() < LIMIT, "stats().goroutines never agreed with goroutines()");
            std::hint::spin_loop();
        }
        release.set();
        in_syscall.await.unwrap();
        stuck.await.unwrap();
        call.await.unwrap();
    });
}
