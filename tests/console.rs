//! tokio-console sees gmp (feature `tracing`): a gmp program with console-subscriber installed
//! serves the console's gRPC API on 127.0.0.1, and a client of that API (console-api's, the
//! one the `tokio-console` program uses, here on a tokio runtime as tokio-console runs) finds
//! every goroutine in it: its id, kind and spawn site, non-zero poll counts and busy time, its
//! wakes and waker clones, and the timers it sleeps on as resources with an async op tied to
//! the goroutine.
//!
//! Run: `cargo test --features tracing --test console` (the workspace's `.cargo/config.toml`
//! sets the `console_without_tokio_unstable` cfg that console-subscriber asks for).

#[cfg(not(any(tokio_unstable, console_without_tokio_unstable)))]
compile_error!(
    "console-subscriber needs RUSTFLAGS=\"--cfg console_without_tokio_unstable\" (set by the \
     workspace's .cargo/config.toml, which a RUSTFLAGS in the environment replaces)"
);

use std::collections::HashMap;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use console_api::field::{Name, Value};
use console_api::instrument::instrument_client::InstrumentClient;
use console_api::instrument::{InstrumentRequest, Update};
use console_api::resources::resource::kind::{Kind as ResourceKind, Known};
use console_api::{async_ops, resources, tasks};

/// How long the observer waits for the console to show everything (generous: the machine is
/// shared; on a quiet one it takes a few hundred milliseconds).
const DEADLINE: Duration = Duration::from_secs(30);

/// A goroutine the program spawned, as the program itself knows it.
#[derive(Debug, Clone, Copy)]
struct Spawned {
    id: u64,
    line: u32,
}

/// What the program reports to the observer once everything is spawned.
#[derive(Debug)]
struct Program {
    main: Spawned,
    sleepers: Vec<Spawned>,
    receiver: Spawned,
    blocking: Spawned,
}

const SLEEPERS: usize = 3;

/// Sleeps 5 ms at a time until told to stop, sending a tick after each sleep: every round
/// registers a timer (a waker clone), is woken by it (a wake) and wakes the receiver.
async fn sleeper(ticks: gmp::chan::Sender<u64>, stop: Arc<AtomicBool>) -> u64 {
    let mut rounds = 0;
    while !stop.load(Ordering::Relaxed) {
        gmp::time::sleep(Duration::from_millis(5)).await;
        rounds += 1;
        if ticks.send(rounds).await.is_err() {
            break;
        }
    }
    rounds
}

/// Receives ticks until every sender is gone: woken by other goroutines, not by a timer.
async fn receiver(ticks: gmp::chan::Receiver<u64>) -> u64 {
    let mut received = 0;
    while ticks.recv().await.is_ok() {
        received += 1;
    }
    received
}

/// The gmp program under observation: its main goroutine spawns the others, reports who they
/// are, and waits for them. Returns the rounds each sleeper ran and the ticks received.
fn run_program(report: mpsc::Sender<Program>, stop: Arc<AtomicBool>) -> (Vec<u64>, u64) {
    let runtime = gmp::Builder::new().maxprocs(2).build().unwrap();
    let main_line = line!() + 1;
    runtime.block_on(async move {
        // Nothing is spawned yet: the one goroutine is the main one.
        let main_id = match gmp::runtime::goroutines().as_slice() {
            [main] => main.id,
            others => panic!("before any spawn, only the main goroutine lives: {others:?}"),
        };
        let (ticks_tx, ticks_rx) = gmp::chan::bounded(16);
        let mut sleepers = Vec::new();
        let mut handles = Vec::new();
        for _ in 0..SLEEPERS {
            let (line, handle) = (line!(), gmp::spawn(sleeper(ticks_tx.clone(), stop.clone())));
            sleepers.push(Spawned { id: handle.id(), line });
            handles.push(handle);
        }
        drop(ticks_tx);
        let (receiver_line, receiver) = (line!(), gmp::spawn(receiver(ticks_rx)));
        let nap = || std::thread::sleep(Duration::from_millis(20));
        let (blocking_line, blocking) = (line!(), gmp::spawn_blocking(nap));
        report
            .send(Program {
                main: Spawned { id: main_id, line: main_line },
                sleepers,
                receiver: Spawned { id: receiver.id(), line: receiver_line },
                blocking: Spawned { id: blocking.id(), line: blocking_line },
            })
            .unwrap();
        blocking.await.unwrap();
        let mut rounds = Vec::new();
        for handle in handles {
            rounds.push(handle.await.unwrap());
        }
        (rounds, receiver.await.unwrap())
    })
}

/// Everything the console has told the client so far (each update carries what changed).
#[derive(Default)]
struct Seen {
    tasks: HashMap<u64, tasks::Task>,
    task_stats: HashMap<u64, tasks::Stats>,
    resources: HashMap<u64, resources::Resource>,
    async_ops: HashMap<u64, async_ops::AsyncOp>,
    async_op_stats: HashMap<u64, async_ops::Stats>,
}

impl Seen {
    fn apply(&mut self, update: Update) {
        if let Some(task_update) = update.task_update {
            for task in task_update.new_tasks {
                self.tasks.insert(task.id.expect("a task has an id").id, task);
            }
            self.task_stats.extend(task_update.stats_update);
        }
        if let Some(resource_update) = update.resource_update {
            for resource in resource_update.new_resources {
                self.resources.insert(resource.id.expect("a resource has an id").id, resource);
            }
        }
        if let Some(async_op_update) = update.async_op_update {
            for op in async_op_update.new_async_ops {
                self.async_ops.insert(op.id.expect("an async op has an id").id, op);
            }
            self.async_op_stats.extend(async_op_update.stats_update);
        }
    }

    /// The console's task for goroutine `id` (its `task.id` field): span id and task.
    fn task(&self, id: u64) -> Option<(u64, &tasks::Task)> {
        self.tasks
            .iter()
            .find(|(_, task)| field(task, "task.id") == Some(&Value::U64Val(id)))
            .map(|(&span, task)| (span, task))
    }

    /// What is still missing before the console shows `program` fully; empty when done.
    fn missing(&self, program: &Program) -> Vec<String> {
        let mut missing = Vec::new();
        let mut expect_task = |what: &str, spawned: Spawned, kind: &str, woken: bool| -> Option<u64> {
            let Some((span, task)) = self.task(spawned.id) else {
                missing.push(format!("{what}: no task with task.id = {}", spawned.id));
                return None;
            };
            if field(task, "kind") != Some(&Value::StrVal(kind.into())) {
                missing.push(format!("{what}: kind {:?}, not {kind}", field(task, "kind")));
            }
            let location = task.location.as_ref();
            let at_spawn = location.is_some_and(|l| {
                l.file.as_deref().is_some_and(|f| f.ends_with("tests/console.rs"))
                    && l.line == Some(spawned.line)
                    && l.column.is_some_and(|c| c > 0)
            });
            if !at_spawn {
                missing.push(format!("{what}: location {location:?}, not tests/console.rs:{}", spawned.line));
            }
            let stats = self.task_stats.get(&span);
            let poll_stats = stats.and_then(|s| s.poll_stats.as_ref());
            let polls = poll_stats.map_or(0, |p| p.polls);
            let busy = poll_stats
                .and_then(|p| p.busy_time)
                .map_or(Duration::ZERO, |d| Duration::new(d.seconds as u64, d.nanos as u32));
            if polls == 0 || busy.is_zero() {
                missing.push(format!("{what}: polls {polls}, busy {busy:?}"));
            }
            if woken {
                let (wakes, clones) = stats.map_or((0, 0), |s| (s.wakes, s.waker_clones));
                if wakes == 0 || clones == 0 {
                    missing.push(format!("{what}: wakes {wakes}, waker clones {clones}"));
                }
            }
            Some(span)
        };
        let main = expect_task("main goroutine", program.main, "block_on", false);
        let sleepers: Vec<Option<u64>> =
            program.sleepers.iter().map(|&s| expect_task("sleeper", s, "task", true)).collect();
        expect_task("receiver", program.receiver, "task", true);
        expect_task("spawn_blocking call", program.blocking, "blocking", false);
        if let Some((_, task)) = main.and_then(|_| self.task(program.main.id)) {
            if field(task, "task.name") != Some(&Value::StrVal("main".into())) {
                missing.push(format!("main goroutine: task.name {:?}", field(task, "task.name")));
            }
        }

        // The sleepers' timers: `Sleep` resources of kind timer, located in this file, each
        // with an async op whose polls the console tied to a sleeper goroutine.
        let timers: Vec<u64> = self
            .resources
            .iter()
            .filter(|(_, r)| {
                r.concrete_type == "Sleep"
                    && r.kind.as_ref().and_then(|k| k.kind.as_ref()) == Some(&ResourceKind::Known(Known::Timer as i32))
                    && r.location
                        .as_ref()
                        .and_then(|l| l.file.as_deref())
                        .is_some_and(|f| f.ends_with("tests/console.rs"))
            })
            .map(|(&id, _)| id)
            .collect();
        if timers.is_empty() {
            missing.push("no Sleep timer resource located in tests/console.rs".into());
        }
        let sleeper_spans: Vec<u64> = sleepers.into_iter().flatten().collect();
        let tied = self.async_ops.iter().any(|(id, op)| {
            op.resource_id.is_some_and(|r| timers.contains(&r.id))
                && self.async_op_stats.get(id).and_then(|s| s.task_id).is_some_and(|t| sleeper_spans.contains(&t.id))
        });
        if !tied {
            missing.push("no async op on a timer polled by a sleeper goroutine".into());
        }
        missing
    }
}

/// The value of the task's field `name`.
fn field<'a>(task: &'a tasks::Task, name: &str) -> Option<&'a Value> {
    task.fields.iter().find(|f| matches!(&f.name, Some(Name::StrName(n)) if n == name)).and_then(|f| f.value.as_ref())
}

/// A port on 127.0.0.1 that was free a moment ago (console-subscriber binds its own).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port()
}

/// The observer, as tokio-console is: connects (retrying while the server starts), watches the
/// updates and returns once the console shows the whole program, or what it never showed.
async fn observe(port: u16, program: &Program) -> Result<Seen, Vec<String>> {
    let start = Instant::now();
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut client = loop {
        match InstrumentClient::connect(endpoint.clone()).await {
            Ok(client) => break client,
            Err(error) if start.elapsed() > DEADLINE => return Err(vec![format!("could not connect: {error}")]),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    let mut updates = client.watch_updates(InstrumentRequest {}).await.expect("watch_updates").into_inner();
    let mut seen = Seen::default();
    loop {
        let missing = seen.missing(program);
        if missing.is_empty() {
            return Ok(seen);
        }
        let left = DEADLINE.saturating_sub(start.elapsed());
        match tokio::time::timeout(left, updates.message()).await {
            Ok(Ok(Some(update))) => seen.apply(update),
            Ok(Ok(None)) => return Err([vec!["the update stream ended".to_string()], missing].concat()),
            Ok(Err(status)) => return Err([vec![format!("the update stream failed: {status}")], missing].concat()),
            Err(_) => return Err(missing),
        }
    }
}

#[test]
fn tokio_console_lists_gmp_goroutines_with_their_polls_wakers_and_timers() {
    let port = free_port();
    console_subscriber::ConsoleLayer::builder()
        .server_addr((Ipv4Addr::LOCALHOST, port))
        .publish_interval(Duration::from_millis(20))
        .init();

    let stop = Arc::new(AtomicBool::new(false));
    let (report, reported) = mpsc::channel();
    let program = std::thread::spawn({
        let stop = stop.clone();
        move || run_program(report, stop)
    });
    let spawned = reported.recv_timeout(DEADLINE).expect("the program reports its goroutines");

    let observer = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let result = observer.block_on(observe(port, &spawned));
    stop.store(true, Ordering::Relaxed);
    let (rounds, received) = program.join().expect("the gmp program ends once stopped");
    assert!(rounds.iter().all(|&r| r > 0), "every sleeper ran: {rounds:?}");
    assert_eq!(received, rounds.iter().sum::<u64>(), "every tick was received");

    let seen = match result {
        Ok(seen) => seen,
        Err(missing) => {
            panic!("tokio-console did not show the gmp program within {DEADLINE:?}:\n  {}", missing.join("\n  "))
        }
    };
    let sleeper = seen.task(spawned.sleepers[0].id).and_then(|(span, _)| seen.task_stats.get(&span));
    eprintln!(
        "console saw {} tasks, {} resources, {} async ops; a sleeper: {:?} polls, {:?} wakes, {:?} waker clones",
        seen.tasks.len(),
        seen.resources.len(),
        seen.async_ops.len(),
        sleeper.and_then(|s| s.poll_stats.as_ref()).map(|p| p.polls),
        sleeper.map(|s| s.wakes),
        sleeper.map(|s| s.waker_clones),
    );
    // The ids the console shows are gmp's goroutine ids, one task per goroutine.
    for spawned in spawned.sleepers.iter().chain([&spawned.main, &spawned.receiver, &spawned.blocking]) {
        let matching = seen.tasks.values().filter(|t| field(t, "task.id") == Some(&Value::U64Val(spawned.id))).count();
        assert_eq!(matching, 1, "goroutine {} is one console task", spawned.id);
    }
}
