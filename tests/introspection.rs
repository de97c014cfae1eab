//! What a Go user expects to see: goroutine states and wait reasons, scheduler stats, and
//! `GMP_DEBUG=schedtrace` lines.

use std::time::{Duration, Instant};

use gmp::runtime::{GoroutineState, WaitReason};

#[test]
fn dump_lists_a_goroutine_waiting_on_a_join_with_where_it_was_spawned() {
    let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
    rt.block_on(async {
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        let inner = gmp::spawn(async move {
            let _ = rx.await;
        });
        let inner_id = inner.id();
        let outer = gmp::spawn(async move {
            let _ = inner.await;
        });
        let started = Instant::now();
        let record = loop {
            let records = gmp::runtime::goroutines();
            let inner_parked = records.iter().any(|g| g.id == inner_id && g.state == GoroutineState::Waiting);
            let found = records.into_iter().find(|g| g.id == outer.id());
            if let Some(g) = found.filter(|g| g.wait_reason == WaitReason::Join && inner_parked) {
                break g;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "the outer goroutine never parked on its join");
            gmp::yield_now().await;
        };
        assert_eq!(record.state, GoroutineState::Waiting);
        assert!(record.spawned_at.file().ends_with("introspection.rs"));
        let dump = gmp::runtime::dump();
        assert!(dump.contains(&format!("goroutine {} [join]:", outer.id())), "{dump}");
        assert!(dump.contains(&format!("goroutine {inner_id} [waiting]:")), "{dump}");
        assert!(dump.contains("spawned at"), "{dump}");
        tx.send(()).unwrap();
        outer.await.unwrap();
    });
}

#[test]
fn a_goroutine_inside_syscall_is_shown_in_the_syscall_state() {
    let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
    rt.block_on(async {
        let release = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let release2 = release.clone();
        let handle = gmp::spawn(async move {
            gmp::syscall(|| {
                let started = Instant::now();
                while !release2.load(std::sync::atomic::Ordering::Acquire)
                    && started.elapsed() < Duration::from_secs(20)
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        });
        let id = handle.id();
        // Observe from another goroutine: the one in the syscall may be holding this thread.
        let observer = gmp::spawn(async move {
            let started = Instant::now();
            let seen = loop {
                let records = gmp::runtime::goroutines();
                if records.iter().any(|g| g.id == id && g.state == GoroutineState::Syscall) {
                    break true;
                }
                if started.elapsed() > Duration::from_secs(20) {
                    break false;
                }
                gmp::yield_now().await;
            };
            release.store(true, std::sync::atomic::Ordering::Release);
            seen
        });
        handle.await.unwrap();
        assert!(observer.await.unwrap(), "never saw the syscall state");
    });
}

#[test]
fn stats_report_every_p_and_the_goroutine_count() {
    let rt = gmp::Builder::new().maxprocs(3).build().unwrap();
    rt.block_on(async {
        let parked: Vec<_> = (0..10).map(|_| gmp::spawn(std::future::pending::<()>())).collect();
        gmp::yield_now().await;
        let stats = gmp::runtime::stats();
        assert_eq!(stats.maxprocs, 3);
        // P0..P2, and a spare P while one stands in for a P whose poll sysmon found stuck (a
        // loaded machine can hold a thread off the CPU for 20 ms mid-poll): the same Ps in
        // both lists.
        let listed: Vec<usize> = stats.processors.iter().map(|p| p.index).collect();
        assert_eq!(listed.iter().filter(|&&p| p < 3).count(), 3, "{stats:?}");
        assert_eq!(stats.local_queue_lengths.len(), listed.len(), "{stats:?}");
        assert!(stats.goroutines >= 10);
        let sleeper = gmp::spawn(gmp::time::sleep(Duration::from_secs(3600)));
        let started = Instant::now();
        while gmp::runtime::stats().pending_timers == 0 {
            assert!(started.elapsed() < Duration::from_secs(20), "a pending sleep is never counted");
            gmp::yield_now().await;
        }
        sleeper.cancel().await;
        for handle in parked {
            handle.cancel().await;
        }
    });
}

/// Child process body for the schedtrace test (selected by an env var).
#[test]
fn schedtrace_child() {
    if std::env::var_os("GMP_TRACE_CHILD").is_none() {
        return;
    }
    let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
    rt.block_on(async {
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(300) {
            gmp::yield_now().await;
        }
    });
}

#[test]
fn gmp_debug_schedtrace_prints_go_style_sched_lines() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "schedtrace_child", "--nocapture", "--test-threads=1"])
        .env("GMP_TRACE_CHILD", "1")
        .env("GMP_DEBUG", "schedtrace=50,scheddetail=1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let line = stderr.lines().find(|l| l.starts_with("SCHED ")).unwrap_or_else(|| panic!("no SCHED line in {stderr}"));
    for field in ["maxprocs=2", "idleprocs=", "threads=", "spinningthreads=", "idlethreads=", "runqueue=", "["] {
        assert!(line.contains(field), "{line}");
    }
    assert!(stderr.contains("  P0: status="), "{stderr}");
}

#[test]
fn a_goroutine_awaiting_a_blocking_call_waits_for_blocking() {
    let rt = gmp::Builder::new().maxprocs(2).build().unwrap();
    rt.block_on(async {
        let release = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let release2 = release.clone();
        let waiter = gmp::spawn(async move {
            gmp::spawn_blocking(move || {
                let started = Instant::now();
                while !release2.load(std::sync::atomic::Ordering::Acquire)
                    && started.elapsed() < Duration::from_secs(20)
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
            .await
            .unwrap()
        });
        let started = Instant::now();
        loop {
            let records = gmp::runtime::goroutines();
            let parked = |g: &gmp::runtime::GoroutineRecord| g.state == GoroutineState::Waiting;
            if records.iter().any(|g| g.id == waiter.id() && parked(g) && g.wait_reason == WaitReason::Blocking) {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(20), "the waiter never showed the blocking wait reason");
            gmp::yield_now().await;
        }
        assert!(gmp::runtime::dump().contains(&format!("goroutine {} [blocking]:", waiter.id())));
        release.store(true, std::sync::atomic::Ordering::Release);
        waiter.await.unwrap();
    });
}
