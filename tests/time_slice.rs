//! Goroutines handing off through runnext share one time slice measured in time, as in Go
//! (`inheritTime`; sysmon ends a slice that has lasted 10 ms), not in a count of polls. Go's
//! `TestPingPongHog`: on one P, a ping-pong pair doing 1,000 times more work per message than a
//! second pair must not get more than ~20 times its CPU.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::channel::mpsc::{unbounded, UnboundedReceiver, UnboundedSender};
use futures::StreamExt;

mod common;
use common::within;

/// About 100 ns of work per unit.
fn work(units: u32) {
    let mut x = 1u64;
    for _ in 0..units * 50 {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    std::hint::black_box(x);
}

/// CPU time the calling thread has used. The pairs' CPU is measured with it rather than
/// with wall time: on a loaded machine the OS takes the thread away in the middle of the heavy
/// pair's long polls far more often than in the light pair's short ones, and wall time would
/// charge that to the heavy pair (seen as 158 times in CI at a load average of 15).
fn thread_cpu_time() -> Duration {
    let time = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(time.tv_sec as u64, time.tv_nsec as u32)
}

/// One side of a pair: on each message, `units` of work, then a message to the partner. Adds
/// the CPU time it spends between awaits (its share of the P) to `cpu`.
async fn side(
    units: u32,
    serve_first: bool,
    to_partner: UnboundedSender<()>,
    mut inbox: UnboundedReceiver<()>,
    stop: Arc<AtomicBool>,
    cpu: Arc<AtomicU64>,
) {
    if serve_first {
        let _ = to_partner.unbounded_send(());
    }
    while inbox.next().await.is_some() {
        let resumed = thread_cpu_time();
        if stop.load(Ordering::Acquire) {
            break; // dropping `to_partner` ends the partner's loop
        }
        work(units);
        let sent = to_partner.unbounded_send(()).is_ok();
        cpu.fetch_add(thread_cpu_time().saturating_sub(resumed).as_nanos() as u64, Ordering::Relaxed);
        if !sent {
            break;
        }
    }
}

/// A pair ping-ponging until `stop`, each side doing `units` of work per message.
fn spawn_pair(units: u32, stop: &Arc<AtomicBool>, cpu: &Arc<AtomicU64>) -> [gmp::JoinHandle<()>; 2] {
    let (to_a, a_inbox) = unbounded::<()>();
    let (to_b, b_inbox) = unbounded::<()>();
    [
        gmp::spawn(side(units, true, to_b, a_inbox, stop.clone(), cpu.clone())),
        gmp::spawn(side(units, false, to_a, b_inbox, stop.clone(), cpu.clone())),
    ]
}

#[test]
fn a_heavy_runnext_pair_gets_at_most_twenty_times_the_cpu_of_a_light_pair() {
    let rt = gmp::Builder::new().maxprocs(1).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let heavy_cpu = Arc::new(AtomicU64::new(0));
    let light_cpu = Arc::new(AtomicU64::new(0));
    within(Duration::from_secs(60), "the ping-pong pairs", || {
        rt.block_on(async {
            let heavy = spawn_pair(1000, &stop, &heavy_cpu);
            let light = spawn_pair(1, &stop, &light_cpu);
            gmp::time::sleep(Duration::from_millis(500)).await;
            stop.store(true, Ordering::Release);
            for handle in heavy.into_iter().chain(light) {
                // A side that saw `stop` drops its sender, which ends its partner's loop.
                handle.await.unwrap();
            }
        })
    });
    let heavy = Duration::from_nanos(heavy_cpu.load(Ordering::Relaxed));
    let light = Duration::from_nanos(light_cpu.load(Ordering::Relaxed));
    eprintln!("CPU on one P over 500 ms: heavy pair {heavy:?}, light pair {light:?}");
    assert!(light > Duration::ZERO, "the light pair never ran (heavy pair: {heavy:?})");
    assert!(heavy <= light * 20, "the heavy pair got {heavy:?} of CPU, the light pair {light:?}: more than 20 times");
}

#[test]
fn a_goroutine_preempted_after_ten_milliseconds_goes_behind_the_global_queue() {
    // One P. A computes in one poll past sysmon's 10 ms preemption mark while a plain thread
    // spawns X (which goes to the global queue). A's next coop point yields; as in Go, A goes
    // to the end of the global queue, so X runs before A resumes. (A plain yield would put A at
    // its ring's tail, with the global queue's goroutines behind it.)
    let rt = gmp::Builder::new().maxprocs(1).build().unwrap();
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    within(Duration::from_secs(60), "the preempted goroutine", || {
        rt.block_on(async {
            let handle = gmp::Handle::current();
            let log_in_a = log.clone();
            let a = gmp::spawn(async move {
                let started = Instant::now();
                let x_spawned = Arc::new(AtomicBool::new(false));
                let (flag, log_in_x) = (x_spawned.clone(), log_in_a.clone());
                std::thread::spawn(move || {
                    drop(handle.spawn(async move { log_in_x.lock().unwrap().push("X ran") }));
                    flag.store(true, Ordering::Release);
                });
                while !x_spawned.load(Ordering::Acquire) || started.elapsed() < Duration::from_millis(15) {
                    work(100);
                }
                // Cooperative points until sysmon's preemption request makes one yield.
                loop {
                    assert!(started.elapsed() < Duration::from_secs(10), "never preempted");
                    let mut point = std::pin::pin!(gmp::consume_budget());
                    if futures::poll!(point.as_mut()).is_pending() {
                        point.await;
                        break;
                    }
                    work(10_000);
                }
                log_in_a.lock().unwrap().push("A resumed");
            });
            a.await.unwrap();
        })
    });
    assert_eq!(*log.lock().unwrap(), ["X ran", "A resumed"]);
}
