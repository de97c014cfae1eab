//! The paused clock (`gmp::time::{pause, advance, resume}`, `#[gmp::test(start_paused =
//! true)]`): timers and `gmp::time::Instant` follow virtual time; `advance` moves it and fires
//! the sleeps it passes in deadline order; an idle runtime skips to its next timer, so long
//! timeouts take no real time; nothing that is still running (a goroutine, a blocking call, a
//! woken main future) is skipped past; `resume` goes back to real speed; the clock is per
//! runtime; misuse panics with a clear message.
//!
//! Real-time bounds here are generous (seconds) and only show that nothing waited for the
//! virtual durations (minutes to hours); virtual times are asserted exactly.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use gmp::time::{advance, interval, pause, resume, sleep, sleep_until, timeout, Duration, Instant};

mod common;
use common::{panic_message, runtime, within, Watchdog};

/// Far below any virtual duration used here: proof that no test waited for one.
const REAL_LIMIT: Duration = Duration::from_secs(10);

#[gmp::test(start_paused = true)]
async fn a_ten_minute_timeout_fires_at_once_with_start_paused() {
    let _watchdog = Watchdog::new(Duration::from_secs(60), "a_ten_minute_timeout_fires_at_once_with_start_paused");
    let real = std::time::Instant::now();
    let start = Instant::now();
    let result = timeout(Duration::from_secs(600), std::future::pending::<()>()).await;
    assert!(result.is_err());
    assert_eq!(Instant::now() - start, Duration::from_secs(600));
    let took = real.elapsed();
    assert!(took < REAL_LIMIT, "a 10-minute timeout took {took:?} of real time");
    eprintln!("10-minute timeout under a paused clock: {took:?} of real time");
}

#[gmp::test(start_paused = true)]
async fn instant_now_stands_still_while_paused() {
    let _watchdog = Watchdog::new(Duration::from_secs(60), "instant_now_stands_still_while_paused");
    let frozen = Instant::now();
    thread::sleep(Duration::from_millis(20));
    assert_eq!(Instant::now(), frozen);
    let in_goroutine = gmp::spawn(async { Instant::now() }).await.unwrap();
    assert_eq!(in_goroutine, frozen);
}

#[gmp::test(start_paused = true, maxprocs = 1)]
async fn advance_fires_the_sleeps_it_passes_in_deadline_order() {
    let _watchdog = Watchdog::new(Duration::from_secs(60), "advance_fires_the_sleeps_it_passes_in_deadline_order");
    let start = Instant::now();
    let woke: Arc<Mutex<Vec<(u64, Duration)>>> = Arc::default();
    let registered = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for ms in [30u64, 10, 20] {
        let (woke, registered) = (woke.clone(), registered.clone());
        handles.push(gmp::spawn(async move {
            registered.fetch_add(1, Ordering::SeqCst);
            sleep(Duration::from_millis(ms)).await;
            woke.lock().unwrap().push((ms, Instant::now() - start));
        }));
    }
    while registered.load(Ordering::SeqCst) < 3 {
        gmp::yield_now().await;
    }
    advance(Duration::from_millis(25)).await;
    let [late, first, second] = <[_; 3]>::try_from(handles).ok().unwrap();
    first.await.unwrap();
    second.await.unwrap();
    assert!(!late.is_finished());
    // Woken in deadline order, each seeing the time advance moved to.
    let expected = [(10, Duration::from_millis(25)), (20, Duration::from_millis(25))];
    assert_eq!(*woke.lock().unwrap(), expected);
    advance(Duration::from_millis(5)).await;
    late.await.unwrap();
    assert_eq!(woke.lock().unwrap().last(), Some(&(30, Duration::from_millis(30))));
}

#[gmp::test(start_paused = true)]
async fn an_idle_runtime_steps_through_its_timers_each_seeing_its_own_deadline() {
    let _watchdog =
        Watchdog::new(Duration::from_secs(60), "an_idle_runtime_steps_through_its_timers_each_seeing_its_own_deadline");
    let real = std::time::Instant::now();
    let start = Instant::now();
    let seconds = [3600u64, 1, 60, 59, 7200, 2];
    let handles: Vec<_> = seconds
        .iter()
        .map(|&s| {
            gmp::spawn(async move {
                sleep(Duration::from_secs(s)).await;
                Instant::now() - start
            })
        })
        .collect();
    for (handle, s) in handles.into_iter().zip(seconds) {
        assert_eq!(handle.await.unwrap(), Duration::from_secs(s));
    }
    assert_eq!(Instant::now() - start, Duration::from_secs(7200));
    assert!(real.elapsed() < REAL_LIMIT, "took {:?}", real.elapsed());
}

#[gmp::test(start_paused = true)]
async fn sleep_until_timeout_and_interval_follow_the_virtual_clock() {
    let _watchdog = Watchdog::new(Duration::from_secs(60), "sleep_until_timeout_and_interval_follow_the_virtual_clock");
    let real = std::time::Instant::now();
    let start = Instant::now();
    sleep_until(start + Duration::from_secs(90)).await;
    assert_eq!(Instant::now(), start + Duration::from_secs(90));
    let slow = sleep(Duration::from_secs(50));
    assert!(timeout(Duration::from_secs(40), slow).await.is_err());
    assert_eq!(Instant::now(), start + Duration::from_secs(130));
    let mut ticker = interval(Duration::from_secs(60));
    let first = ticker.tick().await;
    for k in 1..=100u32 {
        assert_eq!(ticker.tick().await, first + Duration::from_secs(60) * k);
    }
    assert_eq!(Instant::now(), start + Duration::from_secs(130 + 6000));
    assert!(real.elapsed() < REAL_LIMIT, "took {:?}", real.elapsed());
}

#[gmp::test(start_paused = true)]
async fn a_running_blocking_call_holds_the_clock_back() {
    let _watchdog = Watchdog::new(Duration::from_secs(60), "a_running_blocking_call_holds_the_clock_back");
    let start = Instant::now();
    let call = gmp::spawn_blocking(|| thread::sleep(Duration::from_millis(100)));
    // The call runs 100 ms of real time; the 1 s timeout must not be skipped to meanwhile.
    let result = timeout(Duration::from_secs(1), call).await;
    assert!(result.is_ok(), "the clock skipped past a running spawn_blocking call");
    assert_eq!(Instant::now(), start);
}

#[gmp::test(start_paused = true)]
async fn a_long_syscall_holds_the_clock_back_after_sysmon_retakes_its_processor() {
    let _watchdog = Watchdog::new(Duration::from_secs(60), "a_long_syscall_holds_the_clock_back");
    let start = Instant::now();
    // 100 ms: sysmon retakes the P of a syscall after 10 ms, leaving every P idle.
    let call = gmp::spawn(async { gmp::syscall(|| thread::sleep(Duration::from_millis(100))) });
    let result = timeout(Duration::from_secs(1), call).await;
    assert!(result.is_ok(), "the clock skipped past a running gmp::syscall");
    assert_eq!(Instant::now(), start);
}

#[gmp::test(start_paused = true)]
async fn a_busy_goroutine_and_the_main_future_it_wakes_hold_the_clock_back() {
    let _watchdog =
        Watchdog::new(Duration::from_secs(60), "a_busy_goroutine_and_the_main_future_it_wakes_hold_the_clock_back");
    let start = Instant::now();
    for _ in 0..20 {
        let busy = gmp::spawn(async {
            let until = std::time::Instant::now() + Duration::from_millis(3);
            while std::time::Instant::now() < until {
                std::hint::spin_loop();
            }
        });
        let result = timeout(Duration::from_secs(3600), busy).await;
        assert!(result.is_ok(), "the clock skipped past a running goroutine");
    }
    assert_eq!(Instant::now(), start);
}

#[gmp::test(start_paused = true)]
async fn resume_goes_back_to_real_time_from_the_virtual_time() {
    let _watchdog = Watchdog::new(Duration::from_secs(60), "resume_goes_back_to_real_time_from_the_virtual_time");
    let start = Instant::now();
    advance(Duration::from_secs(3600)).await;
    resume();
    let resumed = Instant::now();
    assert!(resumed >= start + Duration::from_secs(3600));
    let real = std::time::Instant::now();
    sleep(Duration::from_millis(20)).await;
    let real_slept = real.elapsed();
    assert!(real_slept >= Duration::from_millis(20), "a sleep after resume took only {real_slept:?}");
    assert!(Instant::now() - resumed >= Duration::from_millis(20));
    // And it can be paused again.
    pause();
    let frozen = Instant::now();
    thread::sleep(Duration::from_millis(5));
    assert_eq!(Instant::now(), frozen);
}

#[test]
fn the_paused_clock_belongs_to_one_runtime() {
    let paused = runtime(2);
    let running = runtime(2);
    within(Duration::from_secs(60), "two runtimes, one paused", || {
        paused.block_on(async {
            pause();
            let frozen = Instant::now();
            // A plain thread, outside every runtime, reads real time.
            let outside = thread::spawn(|| {
                let before = Instant::now();
                thread::sleep(Duration::from_millis(10));
                before.elapsed()
            });
            assert!(outside.join().unwrap() >= Duration::from_millis(10));
            // Another runtime keeps real time, and its timers wait for it.
            let other = thread::scope(|scope| {
                scope
                    .spawn(|| {
                        running.block_on(async {
                            let before = Instant::now();
                            let real = std::time::Instant::now();
                            sleep(Duration::from_millis(10)).await;
                            (before.elapsed(), real.elapsed())
                        })
                    })
                    .join()
                    .unwrap()
            });
            assert!(other.0 >= Duration::from_millis(10) && other.1 >= Duration::from_millis(10), "{other:?}");
            assert_eq!(Instant::now(), frozen);
        });
    });
}

#[test]
fn pause_advance_and_resume_outside_a_runtime_panic_naming_the_call() {
    for (call, run) in [
        ("gmp::time::pause", Box::new(pause) as Box<dyn Fn()>),
        ("gmp::time::resume", Box::new(resume)),
        ("gmp::time::advance", Box::new(|| futures::executor::block_on(advance(Duration::from_secs(1))))),
    ] {
        let payload = catch_unwind(AssertUnwindSafe(run)).expect_err(call);
        let message = panic_message(&*payload);
        assert!(message.starts_with(&format!("{call} must be called from inside a gmp runtime")), "{call}: {message}");
        assert!(message.contains("Runtime::block_on"), "{message}");
    }
}

#[test]
fn misusing_the_clock_inside_a_runtime_panics_saying_what_to_do() {
    let pause_twice = || {
        pause();
        pause();
    };
    let payload = catch_unwind(AssertUnwindSafe(|| runtime(1).block_on(async { pause_twice() }))).unwrap_err();
    let message = panic_message(&*payload);
    assert!(message.starts_with("gmp::time::pause: the clock is already paused; call gmp::time::resume"), "{message}");

    let payload = catch_unwind(AssertUnwindSafe(|| runtime(1).block_on(async { resume() }))).unwrap_err();
    let message = panic_message(&*payload);
    assert!(message.starts_with("gmp::time::resume: the clock is not paused; call gmp::time::pause"), "{message}");

    let rt = runtime(1);
    let payload = catch_unwind(AssertUnwindSafe(|| rt.block_on(advance(Duration::from_secs(1))))).unwrap_err();
    let message = panic_message(&*payload);
    assert!(message.starts_with("gmp::time::advance: the clock is not paused; call gmp::time::pause"), "{message}");
    // The runtime is still usable, and its clock runs.
    rt.block_on(async {
        let before = Instant::now();
        sleep(Duration::from_millis(2)).await;
        assert!(before.elapsed() >= Duration::from_millis(2));
    });
}
