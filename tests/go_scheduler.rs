//! The scheduler behaviours Go pins in `runtime/proc_test.go`, in gmp's own words and APIs:
//! goroutine parallelism (`TestGoroutineParallelism`), hog/light ping-pong fairness on one P
//! (`TestPingPongHog`), preemption after a syscall (`TestPreemptionAfterSyscall`), timers
//! firing while two goroutines ping-pong forever (`TestTimerFairness`), a parked netpoller
//! woken from another thread (`TestNetpollBreak`), no lost wake-up when a queue looks empty
//! mid-race (`TestSchedLocalQueueEmpty`), and `num_goroutine()` agreeing with `dump()`
//! (`TestNumGoroutine`).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use futures::channel::{mpsc, oneshot};
use futures::StreamExt;

mod common;
use common::{runtime, within};

/// Spins (without awaiting, so the goroutine holds its P) until `condition` or `limit`.
fn spin_until(limit: Duration, condition: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !condition() {
        if Instant::now() > deadline {
            return false;
        }
        std::hint::spin_loop();
    }
    true
}

#[test]
fn p_goroutines_hand_a_counter_round_in_strict_order_so_all_p_run_at_once() {
    // Each goroutine waits, holding its P, for the counter to reach its turn: the round only
    // completes if all of them run on their own Ms at the same time.
    for procs in [2, 4] {
        const ROUNDS: u64 = 100;
        let rt = runtime(procs);
        let counter = Arc::new(AtomicU64::new(0));
        let all_turns = within(Duration::from_secs(120), "the counter to go round", || {
            rt.block_on(async {
                let handles: Vec<_> = (0..procs as u64)
                    .map(|me| {
                        let counter = counter.clone();
                        gmp::spawn(async move {
                            for round in 0..ROUNDS {
                                let turn = round * procs as u64 + me;
                                if !spin_until(Duration::from_secs(30), || counter.load(SeqCst) == turn) {
                                    return false;
                                }
                                counter.fetch_add(1, SeqCst);
                            }
                            true
                        })
                    })
                    .collect();
                let mut all = true;
                for handle in handles {
                    all &= handle.await.unwrap();
                }
                all
            })
        });
        assert!(all_turns, "maxprocs {procs}: the goroutines never all ran at once (counter {counter:?})");
        assert_eq!(counter.load(SeqCst), ROUNDS * procs as u64);
    }
}

/// One of a ping-pong pair: on each message, does `work` units of work and passes the turn on.
/// With `cpu`, adds the CPU time its thread spends on each turn there.
async fn ping_pong_player(
    work: u64,
    counter: Arc<AtomicU64>,
    mut inbox: mpsc::UnboundedReceiver<()>,
    outbox: mpsc::UnboundedSender<()>,
    stop: Arc<AtomicBool>,
    cpu: Option<Arc<AtomicU64>>,
) {
    while inbox.next().await.is_some() {
        let resumed = cpu.as_ref().map(|_| thread_cpu_time());
        if stop.load(SeqCst) {
            return;
        }
        for _ in 0..work {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let sent = outbox.unbounded_send(()).is_ok();
        if let (Some(cpu), Some(resumed)) = (&cpu, resumed) {
            cpu.fetch_add(thread_cpu_time().saturating_sub(resumed).as_nanos() as u64, SeqCst);
        }
        if !sent {
            return;
        }
    }
}

/// CPU time the calling thread has used (as in time_slice.rs).
fn thread_cpu_time() -> Duration {
    let time = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(time.tv_sec as u64, time.tv_nsec as u32)
}

/// Work done and CPU time spent by a hog pair (1000x the work per turn) and by a light pair
/// on one P in `run`: `[(hog work, hog CPU), (light work, light CPU)]`.
fn hog_and_light_work(run: Duration) -> [(u64, Duration); 2] {
    let rt = runtime(1);
    let stop = Arc::new(AtomicBool::new(false));
    let pairs =
        [(100_000, Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0))), (100, Arc::default(), Arc::default())];
    within(Duration::from_secs(60), "the hog and light pairs", || {
        rt.block_on(async {
            let mut players = Vec::new();
            for (work, counter, cpu) in &pairs {
                let (to_a, a_inbox) = mpsc::unbounded();
                let (to_b, b_inbox) = mpsc::unbounded();
                to_a.unbounded_send(()).unwrap();
                for (inbox, outbox) in [(a_inbox, to_b.clone()), (b_inbox, to_a.clone())] {
                    let player =
                        ping_pong_player(*work, counter.clone(), inbox, outbox, stop.clone(), Some(cpu.clone()));
                    players.push(gmp::spawn(player));
                }
            }
            gmp::time::sleep(run).await;
            stop.store(true, SeqCst);
            for player in players {
                player.await.unwrap();
            }
        })
    });
    pairs.map(|(_, counter, cpu)| (counter.load(SeqCst), Duration::from_nanos(cpu.load(SeqCst))))
}

#[test]
fn a_hog_pair_and_a_light_pair_ping_ponging_on_one_p_get_similar_time() {
    // Go's TestPingPongHog: a pair that hands off through runnext inherits its time slice,
    // so both pairs get about the same CPU time, within 20x, even though the hog does 1000x
    // the work per turn (a scheduler that counts turns gives the hog ~1000x). The pairs' CPU
    // is measured with the thread's CPU clock: their work over wall time came out 26.5x on a
    // loaded machine, where the OS takes the thread away in the middle of slices (see
    // time_slice.rs, which measures it the same way).
    let [(hog, hog_cpu), (light, light_cpu)] = hog_and_light_work(Duration::from_millis(500));
    let ratio = hog_cpu.as_secs_f64() / light_cpu.as_secs_f64().max(1e-9);
    eprintln!("hog work {hog} in {hog_cpu:?} of CPU, light work {light} in {light_cpu:?}: CPU ratio {ratio:.1}");
    assert!(hog > 0 && light > 0, "a pair never ran (hog {hog}, light {light})");
    assert!(
        hog_cpu <= light_cpu * 20 && light_cpu <= hog_cpu * 20,
        "hog/light CPU ratio {ratio:.1} ({hog_cpu:?} / {light_cpu:?}) is outside [1/20, 20]"
    );
}

#[test]
fn a_goroutine_computing_after_a_syscall_is_still_preempted() {
    // After gmp::syscall returns, the goroutine goes on computing with a cooperative point
    // every 2 ms. sysmon must see the poll run long and set the P's preempt flag, so the
    // goroutine yields well before its 128-unit budget runs out (256 ms) and the one queued
    // behind it on the only P runs.
    let rt = runtime(1);
    let points_before_yield = within(Duration::from_secs(60), "the goroutine behind the computation", || {
        rt.block_on(async {
            let points = Arc::new(AtomicUsize::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let computer = gmp::spawn({
                let (points, stop) = (points.clone(), stop.clone());
                async move {
                    gmp::syscall(|| thread::sleep(Duration::from_millis(5)));
                    let deadline = Instant::now() + Duration::from_secs(20);
                    while !stop.load(SeqCst) && Instant::now() < deadline {
                        let started = Instant::now();
                        while started.elapsed() < Duration::from_millis(2) {
                            std::hint::spin_loop();
                        }
                        points.fetch_add(1, SeqCst);
                        gmp::consume_budget().await;
                    }
                }
            });
            gmp::yield_now().await;
            // Queued behind the computer on the only P (spawned from the main future's P).
            let seen = gmp::spawn({
                let (points, stop) = (points.clone(), stop.clone());
                async move {
                    stop.store(true, SeqCst);
                    points.load(SeqCst)
                }
            })
            .await
            .unwrap();
            computer.await.unwrap();
            seen
        })
    });
    eprintln!("the computing goroutine yielded after {points_before_yield} cooperative points");
    assert!(
        points_before_yield < 100,
        "{points_before_yield} cooperative points (2 ms each) before the goroutine behind it ran: not preempted, \
         only the budget stopped it"
    );
}

#[test]
fn a_timer_fires_while_two_goroutines_ping_pong_forever_on_one_p() {
    let rt = runtime(1);
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicU64::new(0));
    within(Duration::from_secs(60), "timers during a ping-pong", || {
        rt.block_on(async {
            let (to_a, a_inbox) = mpsc::unbounded();
            let (to_b, b_inbox) = mpsc::unbounded();
            to_a.unbounded_send(()).unwrap();
            let a = gmp::spawn(ping_pong_player(1, counter.clone(), a_inbox, to_b.clone(), stop.clone(), None));
            let b = gmp::spawn(ping_pong_player(1, counter.clone(), b_inbox, to_a.clone(), stop.clone(), None));
            gmp::yield_now().await;
            for _ in 0..10 {
                let started = Instant::now();
                gmp::time::sleep(Duration::from_millis(20)).await;
                assert!(started.elapsed() >= Duration::from_millis(20));
                let elapsed = gmp::time::timeout(Duration::from_millis(10), std::future::pending::<()>()).await;
                assert!(elapsed.is_err());
            }
            let turns = counter.load(SeqCst);
            assert!(turns > 0, "the ping-pong never ran");
            stop.store(true, SeqCst);
            // Wakes a player parked on its inbox so that it sees `stop`. One still running (a
            // spare P stands in for this one when a poll is stuck for 20 ms on a loaded
            // machine, so the players may run beside this future) may see `stop` first and be
            // gone with its inbox: then the send fails, and that is fine.
            let _ = to_a.unbounded_send(());
            let _ = to_b.unbounded_send(());
            a.await.unwrap();
            b.await.unwrap();
            eprintln!("{turns} ping-pong turns while 10 sleeps and 10 timeouts fired");
        })
    });
}

#[test]
fn a_goroutine_woken_from_a_plain_thread_while_the_runtime_waits_in_the_netpoller_runs() {
    // An idle runtime with a goroutine parked on I/O and a timer an hour away: its M blocks in
    // the netpoller with a long timeout. A wake (and a spawn) from a plain thread must break
    // that wait rather than wait for it.
    let rt = runtime(1);
    let (sock, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
    let io_waiter = rt.spawn(async move {
        let sock = gmp::net::UnixStream::try_from(sock).unwrap();
        let mut buf = [0u8; 1];
        let _ = futures::io::AsyncReadExt::read(&mut &sock, &mut buf).await;
    });
    let far_timer = rt.spawn(gmp::time::sleep(Duration::from_secs(3600)));
    let handle = rt.handle();
    let mut slowest = Duration::ZERO;
    within(Duration::from_secs(120), "wakes from a plain thread", || {
        for i in 0..50 {
            thread::sleep(Duration::from_millis(20)); // let the runtime park
            let (tx, rx) = oneshot::channel::<Instant>();
            let (done_tx, done_rx) = std::sync::mpsc::channel::<Instant>();
            drop(handle.spawn(async move {
                let sent = rx.await.unwrap();
                done_tx.send(sent).unwrap();
            }));
            thread::sleep(Duration::from_millis(20)); // the goroutine parks on the channel
            let sent = Instant::now();
            if i % 2 == 0 {
                tx.send(sent).unwrap();
            } else {
                thread::spawn(move || tx.send(sent).unwrap()).join().unwrap();
            }
            let sent = done_rx.recv_timeout(Duration::from_secs(30)).expect("the woken goroutine never ran");
            slowest = slowest.max(sent.elapsed());
        }
    });
    eprintln!("slowest wake from a plain thread: {slowest:?}");
    assert!(slowest < Duration::from_secs(5), "a wake took {slowest:?}: the netpoll wait was not broken");
    drop((io_waiter, far_timer));
}

#[test]
fn a_goroutine_spawned_onto_a_busy_p_is_never_lost_when_its_queue_looks_empty() {
    // Go's TestSchedLocalQueueEmpty: the spawned goroutine sits in the runnext of a P whose
    // goroutine then spins (holding the P) until it has run; another M must see the queue as
    // non-empty at the right moment and take it. Any lost wake-up hangs an iteration.
    let rt = runtime(2);
    let iterations = 300;
    let all = within(Duration::from_secs(120), "spawned goroutines behind spinners", || {
        rt.block_on(async {
            for i in 0..iterations {
                let ok = gmp::spawn(async move {
                    let ran = Arc::new(AtomicBool::new(false));
                    let ran2 = ran.clone();
                    drop(gmp::spawn(async move { ran2.store(true, SeqCst) }));
                    spin_until(Duration::from_secs(20), || ran.load(SeqCst))
                })
                .await
                .unwrap();
                if !ok {
                    return Some(i);
                }
            }
            None
        })
    });
    assert_eq!(all, None, "iteration {all:?}: the spawned goroutine never ran while its spawner spun");
}

/// Goroutine blocks in a dump (`goroutine 12 [sleep]:` lines).
fn goroutines_in_dump(dump: &str) -> usize {
    dump.lines().filter(|line| line.starts_with("goroutine ") && line.ends_with("]:")).count()
}

#[test]
fn num_goroutine_equals_the_number_of_goroutines_in_dump() {
    let rt = runtime(2);
    within(Duration::from_secs(60), "num_goroutine against dump", || {
        rt.block_on(async {
            let (_keep, never) = oneshot::channel::<()>();
            let never = futures::future::FutureExt::shared(never);
            let mut handles = Vec::new();
            for i in 0..100 {
                let never = never.clone();
                handles.push(gmp::spawn(async move {
                    match i % 3 {
                        0 => drop(never.await),
                        1 => gmp::time::sleep(Duration::from_secs(3600)).await,
                        _ => std::future::pending::<()>().await,
                    }
                }));
            }
            for expected_extra in [100usize, 50, 0] {
                while handles.len() > expected_extra {
                    handles.pop().unwrap().cancel().await;
                }
                // Snapshots: retry until nothing changed between them (goroutines still
                // finishing their cancel).
                let deadline = Instant::now() + Duration::from_secs(20);
                loop {
                    let before = gmp::runtime::num_goroutine();
                    let dumped = goroutines_in_dump(&gmp::runtime::dump());
                    let after = gmp::runtime::num_goroutine();
                    if before == after && before == dumped {
                        assert!(before >= expected_extra, "{before} goroutines counted, {expected_extra} parked");
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "num_goroutine {before}/{after} never agreed with the {dumped} goroutines in dump()"
                    );
                    gmp::yield_now().await;
                }
            }
        })
    });
}
