//! A panicking goroutine ends as a `JoinError` carrying its payload; it never takes its thread
//! (M) down and never poisons the scheduler, however many goroutines panic on however many Ms.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

mod common;
use common::{panic_message, within};

/// Spawns `count` goroutines from inside the runtime and waits for all of them.
async fn run_goroutines(count: usize) -> usize {
    let completed = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..count)
        .map(|_| {
            let completed = completed.clone();
            gmp::spawn(async move {
                gmp::yield_now().await;
                completed.fetch_add(1, Ordering::AcqRel);
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("a goroutine after the panics failed");
    }
    completed.load(Ordering::Acquire)
}

/// Names of this process's threads, from /proc/self/task/*/comm (at most 15 bytes each).
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|comm| comm.trim_end().to_owned())
        .collect()
}

#[derive(Debug, PartialEq)]
struct CustomPayload(u32);

#[test]
fn a_panicking_goroutine_gives_a_join_error_that_carries_the_payload() {
    let rt = gmp::Runtime::new().unwrap();
    within(Duration::from_secs(60), "panicking goroutines", || {
        rt.block_on(async {
            let error = gmp::spawn(async { panic!("boom in a goroutine") })
                .await
                .expect_err("a panicking goroutine returned Ok");
            assert!(error.is_panic());
            assert!(!error.is_cancelled());
            assert_eq!(panic_message(&*error.into_panic()), "boom in a goroutine");

            let error = gmp::spawn(async {
                gmp::yield_now().await;
                std::panic::panic_any(CustomPayload(7));
            })
            .await
            .expect_err("a panicking goroutine returned Ok");
            assert!(error.is_panic());
            let payload = error.into_panic().downcast::<CustomPayload>().expect("payload type");
            assert_eq!(*payload, CustomPayload(7));

            assert_eq!(run_goroutines(1000).await, 1000, "the runtime stopped running goroutines");
        })
    });
}

#[test]
fn a_panic_seen_from_outside_through_rt_spawn_is_a_join_error_too() {
    let rt = gmp::Runtime::new().unwrap();
    let handle = rt.spawn(async { panic!("boom from outside") });
    let error = within(Duration::from_secs(30), "the remote panicking goroutine", || {
        futures::executor::block_on(handle).expect_err("a panicking goroutine returned Ok")
    });
    assert!(error.is_panic());
    assert_eq!(panic_message(&*error.into_panic()), "boom from outside");
    let after = within(Duration::from_secs(30), "work after the panic", || rt.block_on(run_goroutines(1000)));
    assert_eq!(after, 1000);
}

#[test]
fn panics_on_every_thread_kill_no_thread_and_the_runtime_keeps_working() {
    const MAXPROCS: usize = 2;
    const PANICKERS: usize = 2000;
    // A name of our own (comm keeps 15 bytes) to count this runtime's threads in /proc.
    const NAME: &str = "gmp-panic-test";
    let rt = gmp::Builder::new().maxprocs(MAXPROCS).thread_name(NAME).build().unwrap();

    // Let the runtime start its threads, then count them.
    within(Duration::from_secs(60), "warm-up", || rt.block_on(run_goroutines(10_000)));
    let threads_before = thread_names().iter().filter(|n| n.as_str() == NAME).count();
    assert!(threads_before > 0, "no thread named {NAME:?} found in /proc/self/task");

    let panicked_on = Arc::new(Mutex::new(HashSet::new()));
    let panicker = |panicked_on: Arc<Mutex<HashSet<thread::ThreadId>>>| async move {
        gmp::yield_now().await;
        panicked_on.lock().unwrap().insert(thread::current().id());
        panic!("deliberate");
    };
    // Half from outside (global queue, any M), half from inside (M0's processor, then stolen),
    // some detached so that nobody ever looks at their JoinError.
    let remote: Vec<_> = (0..PANICKERS / 2).map(|_| rt.spawn(panicker(panicked_on.clone()))).collect();
    let errors = within(Duration::from_secs(60), "panicking goroutines", || {
        rt.block_on(async {
            let local: Vec<_> = (0..PANICKERS / 2).map(|_| gmp::spawn(panicker(panicked_on.clone()))).collect();
            for _ in 0..100 {
                drop(gmp::spawn(panicker(panicked_on.clone())));
            }
            let mut errors = 0;
            for handle in remote.into_iter().chain(local) {
                let error = handle.await.expect_err("a panicking goroutine returned Ok");
                assert!(error.is_panic());
                errors += 1;
            }
            errors
        })
    });
    assert_eq!(errors, PANICKERS);
    eprintln!("panics happened on {} distinct threads", panicked_on.lock().unwrap().len());

    // All processors still work at once: two goroutines that each wait, blocking their thread,
    // for the other to arrive only both finish if two Ms are alive. They are spawned from
    // outside and awaited off the runtime, so the calling thread (M0) is not one of the two.
    let arrived = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..MAXPROCS)
        .map(|_| {
            let arrived = arrived.clone();
            rt.spawn(async move {
                arrived.fetch_add(1, Ordering::AcqRel);
                let deadline = Instant::now() + Duration::from_secs(10);
                while arrived.load(Ordering::Acquire) < MAXPROCS {
                    if Instant::now() > deadline {
                        return false;
                    }
                    thread::sleep(Duration::from_millis(1));
                }
                true
            })
        })
        .collect();
    let met = within(Duration::from_secs(60), "the rendezvous", || {
        handles.into_iter().all(|handle| futures::executor::block_on(handle).unwrap())
    });
    assert!(met, "after the panics, {MAXPROCS} goroutines could not run at the same time");

    let after = within(Duration::from_secs(60), "work after the panics", || rt.block_on(run_goroutines(10_000)));
    assert_eq!(after, 10_000);

    let threads_after = thread_names().iter().filter(|n| n.as_str() == NAME).count();
    assert!(
        threads_after >= threads_before,
        "runtime threads went from {threads_before} to {threads_after}: a panic killed a thread"
    );
}
