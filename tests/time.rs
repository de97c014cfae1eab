//! Timers: sleeps never complete early and all of them fire, even by the hundred thousand and
//! while every P is idle or busy; `timeout` passes output through or fails with `Elapsed`;
//! `interval` ticks and drops missed ticks; dropped and re-polled sleeps release their wakers;
//! sleeping goroutines spend the coop budget and show the "sleep" wait reason.
//!
//! No test asserts that a timer fires on time, only that it never fires early and that it
//! fires within a generous bound (seconds).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::thread;

use gmp::runtime::WaitReason;
use gmp::time::{interval, interval_at, sleep, sleep_until, timeout, Duration, Elapsed, Instant};

mod common;
use common::{counting_waker, poll_once, poll_once_past_yields, runtime, within, CountingWaker};

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}

#[test]
fn a_hundred_thousand_concurrent_sleeps_of_1_to_200_ms_all_fire_and_none_early() {
    const SLEEPERS: u64 = 100_000;
    let rt = runtime(4);
    let early = Arc::new(AtomicUsize::new(0));
    let fired = Arc::new(AtomicUsize::new(0));
    within(Duration::from_secs(120), "100,000 sleeps", || {
        rt.block_on(async {
            let handles: Vec<_> = (0..SLEEPERS)
                .map(|i| {
                    let (early, fired) = (early.clone(), fired.clone());
                    // 1..=200 ms, spread by a multiplicative hash so neighbours differ.
                    let ms = 1 + (i.wrapping_mul(2_654_435_761) % 200);
                    gmp::spawn(async move {
                        let deadline = Instant::now() + Duration::from_millis(ms);
                        sleep(Duration::from_millis(ms)).await;
                        if Instant::now() < deadline {
                            early.fetch_add(1, Ordering::SeqCst);
                        }
                        fired.fetch_add(1, Ordering::SeqCst);
                    })
                })
                .collect();
            for handle in handles {
                handle.await.unwrap();
            }
        })
    });
    assert_eq!(fired.load(Ordering::SeqCst), SLEEPERS as usize);
    assert_eq!(early.load(Ordering::SeqCst), 0, "some sleeps completed before their deadline");
}

#[test]
fn a_sleep_fires_while_every_processor_is_idle() {
    for maxprocs in [1, 3] {
        let rt = runtime(maxprocs);
        within(Duration::from_secs(20), "an idle-runtime sleep", || {
            rt.block_on(async {
                for ms in [1u64, 20, 100] {
                    let deadline = Instant::now() + Duration::from_millis(ms);
                    sleep_until(deadline).await;
                    assert!(Instant::now() >= deadline);
                    let spawned = gmp::spawn(async move {
                        let deadline = Instant::now() + Duration::from_millis(ms);
                        sleep(Duration::from_millis(ms)).await;
                        Instant::now() >= deadline
                    });
                    assert!(spawned.await.unwrap(), "a spawned sleep completed early");
                }
            })
        });
    }
}

#[test]
fn a_sleep_fires_while_another_goroutine_keeps_the_only_processor_busy() {
    let rt = runtime(1);
    let stop = Arc::new(AtomicBool::new(false));
    within(Duration::from_secs(20), "a sleep next to a busy goroutine", || {
        rt.block_on(async {
            let busy = {
                let stop = stop.clone();
                gmp::spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        gmp::yield_now().await;
                    }
                })
            };
            let sleeper = gmp::spawn(async {
                let deadline = Instant::now() + Duration::from_millis(30);
                sleep_until(deadline).await;
                Instant::now() >= deadline
            });
            assert!(sleeper.await.unwrap());
            stop.store(true, Ordering::SeqCst);
            busy.await.unwrap();
        })
    });
}

#[test]
fn sleep_until_a_past_instant_is_ready_at_the_first_poll() {
    runtime(1).block_on(async {
        let waker = counting_waker();
        let mut past = sleep_until(Instant::now() - Duration::from_secs(1));
        assert!(past.is_elapsed());
        assert_eq!(poll_once_past_yields(&mut past, &waker).await, Poll::Ready(()));
        let mut zero = sleep(Duration::ZERO);
        assert_eq!(poll_once_past_yields(&mut zero, &waker).await, Poll::Ready(()));
    });
}

#[test]
fn dropping_a_pending_sleep_releases_its_waker_and_never_wakes_it() {
    runtime(2).block_on(async {
        // The sleep must be polled and dropped before its 20 ms are up, which a loaded machine
        // that keeps this thread off the CPU in between can prevent: then the sleep is over
        // (or fired) before the drop, and a fresh one is tried. A drop before the deadline
        // (read after it) must release the waker and leave it unwoken for good.
        for _ in 0..20 {
            let (counter, waker) = counting_waker();
            let deadline = Instant::now() + Duration::from_millis(20);
            let mut sleep = sleep_until(deadline);
            if poll_once(&mut sleep, &waker).is_ready() {
                assert!(Instant::now() >= deadline, "a sleep was ready before its deadline");
                continue;
            }
            let held = Arc::strong_count(&counter);
            drop(sleep);
            let released = Arc::strong_count(&counter);
            if Instant::now() >= deadline {
                continue; // the timer may have fired (and used its clone) before the drop
            }
            assert_eq!(held, 3, "the timer holds a clone of the waker");
            assert_eq!(released, 2, "dropping the sleep released the waker");
            gmp::time::sleep(Duration::from_millis(60)).await;
            assert_eq!(counter.0.load(Ordering::SeqCst), 0, "the dropped sleep's waker was woken");
            return;
        }
        panic!("in 20 tries, no 20 ms sleep was polled and dropped before its deadline");
    });
}

#[test]
fn polling_a_sleep_again_with_new_wakers_replaces_the_waker_instead_of_adding_timers() {
    runtime(1).block_on(async {
        // Long enough that the polls below cannot outrun it on a loaded machine; brought
        // forward to 30 ms from now once they are done (a reset keeps the registered waker).
        let mut sleep = sleep(Duration::from_secs(3600));
        let mut previous: Option<Arc<CountingWaker>> = None;
        for _ in 0..10_000 {
            let (counter, waker) = counting_waker();
            assert_eq!(poll_once(&mut sleep, &waker), Poll::Pending);
            drop(waker);
            if let Some(previous) = previous.take() {
                assert_eq!(Arc::strong_count(&previous), 1, "an old waker is still held");
            }
            previous = Some(counter);
        }
        let last = previous.unwrap();
        assert_eq!(Arc::strong_count(&last), 2);
        sleep.reset(Instant::now() + Duration::from_millis(30));
        let deadline = sleep.deadline();
        // Read before the deadline, the count shows the timer still holding the waker; read
        // later (a loaded machine kept this thread off the CPU), the timer may have fired and
        // dropped its clone, and the one wake below shows the waker was kept.
        let held = Arc::strong_count(&last);
        if Instant::now() < deadline {
            assert_eq!(held, 2, "the reset dropped the registered waker");
        }
        within(Duration::from_secs(20), "the re-polled sleep's wake", || {
            while last.0.load(Ordering::SeqCst) == 0 {
                thread::sleep(Duration::from_millis(1));
            }
        });
        assert!(Instant::now() >= deadline);
        assert_eq!(last.0.load(Ordering::SeqCst), 1, "exactly one wake for one timer");
        // (Awaited rather than polled once: this poll blocked its thread for the whole sleep,
        // so sysmon may have asked it to yield, and the coop budget says Pending once.)
        sleep.await;
    });
}

#[test]
fn a_reset_sleep_completes_at_its_new_deadline_earlier_or_later() {
    let rt = runtime(2);
    within(Duration::from_secs(20), "reset sleeps", || {
        rt.block_on(async {
            // Earlier: an hour-long sleep brought forward to 10 ms.
            let mut long = sleep(Duration::from_secs(3600));
            let (counter, waker) = counting_waker();
            assert_eq!(poll_once(&mut long, &waker), Poll::Pending);
            let earlier = Instant::now() + Duration::from_millis(10);
            long.reset(earlier);
            while counter.0.load(Ordering::SeqCst) == 0 {
                gmp::yield_now().await;
            }
            assert!(Instant::now() >= earlier, "woken before the new deadline");
            (&mut long).await;

            // Later: a 1 ms sleep pushed back to 40 ms.
            let mut short = sleep(Duration::from_millis(1));
            let later = Instant::now() + Duration::from_millis(40);
            short.reset(later);
            (&mut short).await;
            assert!(Instant::now() >= later);

            // A completed sleep is pending again after a reset into the future.
            let again = Instant::now() + Duration::from_millis(5);
            short.reset(again);
            assert!(!short.is_elapsed());
            (&mut short).await;
            assert!(Instant::now() >= again);
        })
    });
}

#[test]
fn timeout_passes_the_output_of_a_future_that_finishes_in_time() {
    runtime(2).block_on(async {
        assert_eq!(timeout(Duration::from_secs(10), async { 42 }).await, Ok(42));
        let quick = async {
            sleep(Duration::from_millis(5)).await;
            "done"
        };
        assert_eq!(timeout(Duration::from_secs(10), quick).await, Ok("done"));
        // Polled first, a ready future wins even against an elapsed deadline.
        assert_eq!(timeout(Duration::ZERO, async { 1 }).await, Ok(1));
    });
}

#[test]
fn timeout_fails_with_elapsed_when_the_deadline_comes_first_and_never_early() {
    let rt = runtime(2);
    within(Duration::from_secs(20), "a timeout", || {
        rt.block_on(async {
            let start = Instant::now();
            let result: Result<(), Elapsed> = timeout(Duration::from_millis(30), std::future::pending()).await;
            assert!(result.is_err());
            assert!(start.elapsed() >= Duration::from_millis(30));
            let error = timeout(Duration::ZERO, std::future::pending::<()>()).await.unwrap_err();
            assert_eq!(error.to_string(), "deadline has elapsed");
            let io: std::io::Error = error.into();
            assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
        })
    });
}

#[test]
fn timeout_fires_even_when_the_inner_future_spends_the_whole_budget_every_poll() {
    /// Spends the coop budget until it is gone, then yields: never completes.
    async fn budget_hog() {
        loop {
            gmp::consume_budget().await;
        }
    }
    let rt = runtime(1);
    within(Duration::from_secs(20), "a timeout around a budget hog", || {
        rt.block_on(async {
            let deadline = Instant::now() + Duration::from_millis(20);
            assert!(gmp::time::timeout_at(deadline, budget_hog()).await.is_err());
            assert!(Instant::now() >= deadline);
        })
    });
}

#[test]
fn an_interval_ticks_at_once_then_every_period() {
    let rt = runtime(2);
    within(Duration::from_secs(20), "interval ticks", || {
        rt.block_on(async {
            let period = Duration::from_millis(10);
            let start = Instant::now();
            let mut ticker = interval(period);
            let first = ticker.tick().await;
            assert!(first >= start && first <= Instant::now());
            let mut previous = first;
            for _ in 0..5 {
                let tick = ticker.tick().await;
                assert!(Instant::now() >= tick, "a tick completed before its instant");
                assert!(tick >= previous + period);
                assert_eq!((tick - first).as_nanos() % period.as_nanos(), 0, "off the grid");
                previous = tick;
            }
            assert!(start.elapsed() >= 5 * period);
        })
    });
}

#[test]
fn a_late_interval_delivers_one_missed_tick_at_once_and_drops_the_rest() {
    let rt = runtime(2);
    within(Duration::from_secs(20), "a late interval", || {
        rt.block_on(async {
            let period = Duration::from_millis(50);
            // The first tick is due at once, so it is taken on time unless this thread is
            // kept off the CPU for a whole period right there; a tick taken a period late
            // would itself skip one, so such a start is made again (at most 10 times).
            let (start, mut ticker) = 'on_time: {
                for _ in 0..10 {
                    let start = Instant::now();
                    let mut ticker = interval_at(start, period);
                    assert_eq!(ticker.tick().await, start);
                    if Instant::now() < start + period {
                        break 'on_time (start, ticker);
                    }
                }
                panic!("in 10 tries the first tick was never taken within a period");
            };
            // Miss about three and a half ticks.
            sleep(period * 7 / 2).await;
            // The next tick is the next grid point after the moment the missed one is taken,
            // which lies between these two reads of the clock.
            let late = Instant::now();
            let missed = ticker.tick().await;
            let taken = Instant::now();
            assert_eq!(missed, start + period, "the first missed tick is delivered");
            let next = ticker.tick().await;
            assert!(next > late, "missed ticks are dropped, not delivered in a burst");
            assert_eq!((next - start).as_nanos() % period.as_nanos(), 0, "off the grid");
            assert!(next <= taken + period, "the next tick is the next grid point after now");
        })
    });
}

#[test]
fn an_interval_with_a_zero_period_panics_with_a_clear_message() {
    let payload = std::panic::catch_unwind(|| interval(Duration::ZERO)).unwrap_err();
    assert!(panic_message(&*payload).contains("the period must be non-zero"));
}

#[test]
fn a_sleep_polled_outside_a_runtime_panics_naming_the_call_and_the_fix() {
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        futures::executor::block_on(sleep(Duration::from_millis(1)));
    }));
    let message = panic_message(&*result.unwrap_err());
    assert!(message.contains("outside a gmp runtime"), "{message}");
    assert!(message.contains("block_on"), "{message}");
    // Even a sleep that needs no timer: the rule does not depend on timing.
    let result = std::panic::catch_unwind(|| futures::executor::block_on(sleep(Duration::ZERO)));
    assert!(result.is_err(), "a zero sleep outside a runtime completed");
}

#[test]
fn a_loop_of_elapsed_sleeps_spends_the_budget_and_lets_other_goroutines_run() {
    let rt = runtime(1);
    within(Duration::from_secs(20), "a loop of zero sleeps", || {
        rt.block_on(async {
            let other_ran = Arc::new(AtomicBool::new(false));
            let other = {
                let other_ran = other_ran.clone();
                gmp::spawn(async move { other_ran.store(true, Ordering::SeqCst) })
            };
            let looper = {
                let other_ran = other_ran.clone();
                gmp::spawn(async move {
                    let mut rounds = 0u64;
                    while !other_ran.load(Ordering::SeqCst) {
                        sleep(Duration::ZERO).await;
                        rounds += 1;
                    }
                    rounds
                })
            };
            other.await.unwrap();
            assert!(looper.await.unwrap() < 1_000_000);
        })
    });
}

#[test]
fn a_sleeping_goroutine_shows_the_sleep_wait_reason() {
    let rt = runtime(2);
    within(Duration::from_secs(20), "the wait reason", || {
        rt.block_on(async {
            let sleeper = gmp::spawn(sleep(Duration::from_secs(3600)));
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let sleeping = gmp::runtime::goroutines()
                    .iter()
                    .any(|g| g.wait_reason == WaitReason::Sleep && g.wait_reason.as_str() == "sleep");
                if sleeping {
                    break;
                }
                assert!(Instant::now() < deadline, "no goroutine showed the sleep wait reason");
                sleep(Duration::from_millis(1)).await;
            }
            sleeper.cancel().await;
        })
    });
}

#[test]
fn sleeps_hold_the_goroutine_not_the_runtime_and_shutdown_drops_them() {
    let rt = runtime(2);
    let dropped = Arc::new(AtomicUsize::new(0));
    struct CountDrop(Arc<AtomicUsize>);
    impl Drop for CountDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    for _ in 0..100 {
        let guard = CountDrop(dropped.clone());
        rt.spawn(async move {
            sleep(Duration::from_secs(3600)).await;
            drop(guard);
        });
    }
    rt.block_on(sleep(Duration::from_millis(20)));
    within(Duration::from_secs(20), "shutdown with pending sleeps", || drop(rt));
    assert_eq!(dropped.load(Ordering::SeqCst), 100);
}
