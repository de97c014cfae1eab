//! `Interval` and `MissedTickBehavior`: after a stall, `Skip` (the default, Go's ticker) drops
//! the missed ticks, `Burst` (tokio's default) catches up, `Delay` moves the grid; the resets
//! restart the grid where asked; ticks return the instants they were due at.
//!
//! Exact tick times are checked under a paused clock (`start_paused`), where they are
//! deterministic; the tests on the real clock check only what no scheduling delay can change
//! (grid points, order, lower bounds).

use std::thread;

use gmp::time::{advance, interval, interval_at, Duration, Instant, Interval, MissedTickBehavior};

mod common;
use common::{runtime, within, Watchdog};

const PERIOD: Duration = Duration::from_millis(10);

/// From an interval whose first tick is due at `start + 10 ms`, taken only at `start + 35 ms`:
/// five ticks, each as `(ms the tick was due at, ms on the clock when it completed)`.
async fn ticks_after_a_stall(behavior: Option<MissedTickBehavior>) -> Vec<(u128, u128)> {
    let start = Instant::now();
    let mut ticker = interval_at(start + PERIOD, PERIOD);
    if let Some(behavior) = behavior {
        ticker.set_missed_tick_behavior(behavior);
    }
    advance(Duration::from_millis(35)).await;
    let mut ticks = Vec::new();
    for _ in 0..5 {
        let tick = ticker.tick().await;
        ticks.push(((tick - start).as_millis(), (Instant::now() - start).as_millis()));
    }
    ticks
}

#[gmp::test(start_paused = true)]
async fn skip_drops_the_missed_ticks_and_stays_on_the_grid() {
    let _watchdog = Watchdog::new(Duration::from_secs(60), "skip_drops_the_missed_ticks_and_stays_on_the_grid");
    let expected = [(10, 35), (40, 40), (50, 50), (60, 60), (70, 70)];
    assert_eq!(ticks_after_a_stall(Some(MissedTickBehavior::Skip)).await, expected);
}

#[gmp::test(start_paused = true)]
async fn the_default_is_skip_as_in_go_not_tokio_burst() {
    let _watchdog = Watchdog::new(Duration::from_secs(60), "the_default_is_skip_as_in_go_not_tokio_burst");
    assert_eq!(interval(PERIOD).missed_tick_behavior(), MissedTickBehavior::Skip);
    assert_eq!(MissedTickBehavior::default(), MissedTickBehavior::Skip);
    let expected = [(10, 35), (40, 40), (50, 50), (60, 60), (70, 70)];
    assert_eq!(ticks_after_a_stall(None).await, expected);
}

#[gmp::test(start_paused = true)]
async fn burst_completes_the_missed_ticks_at_once_then_keeps_the_grid() {
    let _watchdog =
        Watchdog::new(Duration::from_secs(60), "burst_completes_the_missed_ticks_at_once_then_keeps_the_grid");
    let expected = [(10, 35), (20, 35), (30, 35), (40, 40), (50, 50)];
    assert_eq!(ticks_after_a_stall(Some(MissedTickBehavior::Burst)).await, expected);
}

#[gmp::test(start_paused = true)]
async fn delay_restarts_the_grid_a_period_after_the_late_tick() {
    let _watchdog = Watchdog::new(Duration::from_secs(60), "delay_restarts_the_grid_a_period_after_the_late_tick");
    let expected = [(10, 35), (45, 45), (55, 55), (65, 65), (75, 75)];
    assert_eq!(ticks_after_a_stall(Some(MissedTickBehavior::Delay)).await, expected);
}

#[gmp::test(start_paused = true)]
async fn a_tick_late_by_less_than_a_period_keeps_the_grid_under_every_behaviour() {
    let _watchdog = Watchdog::new(
        Duration::from_secs(60),
        "a_tick_late_by_less_than_a_period_keeps_the_grid_under_every_behaviour",
    );
    for behavior in [MissedTickBehavior::Skip, MissedTickBehavior::Burst, MissedTickBehavior::Delay] {
        let start = Instant::now();
        let mut ticker = interval_at(start, PERIOD);
        ticker.set_missed_tick_behavior(behavior);
        assert_eq!(ticker.tick().await, start);
        advance(Duration::from_millis(15)).await;
        assert_eq!(ticker.tick().await, start + PERIOD, "{behavior:?}");
        assert_eq!(ticker.tick().await, start + 2 * PERIOD, "{behavior:?}");
        assert_eq!(Instant::now(), start + 2 * PERIOD, "{behavior:?}");
    }
}

#[gmp::test(start_paused = true)]
async fn the_resets_restart_the_grid_where_asked() {
    let _watchdog = Watchdog::new(Duration::from_secs(60), "the_resets_restart_the_grid_where_asked");
    let start = Instant::now();
    let mut ticker = interval(Duration::from_secs(60));
    assert_eq!(ticker.tick().await, start);
    advance(Duration::from_secs(7)).await;
    ticker.reset();
    assert_eq!(ticker.tick().await, start + Duration::from_secs(67));
    ticker.reset_immediately();
    assert_eq!(ticker.tick().await, start + Duration::from_secs(67));
    assert_eq!(ticker.tick().await, start + Duration::from_secs(127));
    ticker.reset_after(Duration::from_secs(1));
    assert_eq!(ticker.tick().await, start + Duration::from_secs(128));
    let at = start + Duration::from_secs(500);
    ticker.reset_at(at);
    assert_eq!(ticker.tick().await, at);
    assert_eq!(ticker.tick().await, at + ticker.period());
    assert_eq!(ticker.period(), Duration::from_secs(60));
}

#[gmp::test(start_paused = true)]
async fn the_behaviour_can_change_between_ticks() {
    let _watchdog = Watchdog::new(Duration::from_secs(60), "the_behaviour_can_change_between_ticks");
    let start = Instant::now();
    let mut ticker = interval_at(start, PERIOD);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Burst);
    ticker.tick().await;
    advance(Duration::from_millis(25)).await;
    assert_eq!(ticker.tick().await, start + PERIOD); // late; Burst: the 20 ms tick is due now
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    assert_eq!(ticker.tick().await, start + 2 * PERIOD);
    assert_eq!(ticker.tick().await, start + 3 * PERIOD);
    assert_eq!(ticker.missed_tick_behavior(), MissedTickBehavior::Skip);
}

/// Stalls the goroutine (on the real clock) for `periods` periods after its first tick, then
/// takes three more ticks; returns the ticker's start, the ticks, and when the stall ended.
fn real_clock_ticks_after_a_stall(behavior: MissedTickBehavior, periods: u32) -> (Instant, Vec<Instant>, Instant) {
    let period = Duration::from_millis(50);
    let rt = runtime(2);
    within(Duration::from_secs(60), "interval on the real clock", || {
        rt.block_on(async {
            let mut ticker: Interval = interval(period);
            ticker.set_missed_tick_behavior(behavior);
            let start = ticker.tick().await;
            thread::sleep(period * periods);
            let stall_end = Instant::now();
            let mut ticks = Vec::new();
            for _ in 0..3 {
                ticks.push(ticker.tick().await);
            }
            (start, ticks, stall_end)
        })
    })
}

#[test]
fn on_the_real_clock_burst_returns_every_missed_grid_point_in_order() {
    let (start, ticks, _) = real_clock_ticks_after_a_stall(MissedTickBehavior::Burst, 5);
    let period = Duration::from_millis(50);
    assert_eq!(ticks, [start + period, start + 2 * period, start + 3 * period]);
}

#[test]
fn on_the_real_clock_skip_jumps_to_the_grid_after_the_stall() {
    let (start, ticks, stall_end) = real_clock_ticks_after_a_stall(MissedTickBehavior::Skip, 5);
    let period = Duration::from_millis(50);
    assert_eq!(ticks[0], start + period, "the first late tick is the one missed first");
    for tick in &ticks[1..] {
        assert!(*tick > stall_end, "a missed tick came after the stall: {:?}", *tick - start);
        assert_eq!((*tick - start).as_nanos() % period.as_nanos(), 0, "off the grid");
    }
    assert!(ticks[2] > ticks[1]);
}

#[test]
fn on_the_real_clock_delay_waits_a_period_after_the_late_tick() {
    let (start, ticks, stall_end) = real_clock_ticks_after_a_stall(MissedTickBehavior::Delay, 5);
    let period = Duration::from_millis(50);
    assert_eq!(ticks[0], start + period);
    assert!(ticks[1] >= stall_end + period, "{:?} after the stall", ticks[1] - stall_end);
    assert!(ticks[2] >= ticks[1] + period);
}
