//! TCP echo through gmp's netpoller against tokio's multi-thread runtime, same worker count
//! (2), same client load, client and server in the same runtime.
//!
//! ```text
//! cargo bench --bench net -- --noplot                # throughput (criterion), then latency
//! cargo bench --bench net -- --noplot throughput     # throughput only
//! GMP_NET_BENCH_SKIP_LATENCY=1 cargo bench --bench net -- --noplot
//! ```
//!
//! - `tcp_echo_throughput/{gmp,tokio}/C`: C persistent connections (TCP_NODELAY), each doing
//!   100 round trips of 1 KiB (write 1 KiB, read the 1 KiB echo) concurrently; one criterion
//!   iteration is one such batch. The echo server runs one task per connection.
//! - round-trip latency: C connections each doing sequential 1 KiB round trips for a fixed
//!   number of requests; every request is timed and the p50, p99 and p99.9 over all of them are
//!   printed (after criterion's output) for C = 1 (an unloaded round trip) and C = 64 (under
//!   load).
//!
//! Read the results as gmp ÷ tokio within one run.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};

const WORKERS: usize = 2;
const MESSAGE: usize = 1024;
const ROUND_TRIPS_PER_BATCH: usize = 100;
const THROUGHPUT_CONNECTIONS: [usize; 2] = [1, 64];
const LATENCY_CONNECTIONS: [usize; 2] = [1, 64];
const LATENCY_REQUESTS: usize = 100_000;

// ---------------------------------------------------------------------------------------------
// The two executors behind one interface: each spawns an echo server and runs client batches.

trait Contender {
    const NAME: &'static str;
    type Stream: Send + 'static;

    fn start() -> Self;
    /// Starts an echo server and connects `connections` clients to it.
    fn connect(&self, connections: usize) -> Vec<Self::Stream>;
    /// Runs `per_stream` on every stream concurrently (one task each) and gives the streams
    /// back with the tasks' outputs.
    fn run<R, F, Fut>(&self, streams: Vec<Self::Stream>, per_stream: F) -> Vec<(Self::Stream, R)>
    where
        R: Send + 'static,
        F: Fn(Self::Stream) -> Fut + Send + Sync + Clone + 'static,
        Fut: Future<Output = (Self::Stream, R)> + Send + 'static;
}

/// A client's share of a batch: `round_trips` round trips of `MESSAGE` bytes, each timed if
/// `timed`. A macro because gmp and tokio name their I/O traits differently.
macro_rules! round_trips {
    ($stream:expr, $round_trips:expr, $timed:expr) => {{
        let mut stream = $stream;
        let message = [7u8; MESSAGE];
        let mut reply = [0u8; MESSAGE];
        let mut latencies = Vec::with_capacity(if $timed { $round_trips } else { 0 });
        for _ in 0..$round_trips {
            let started = Instant::now();
            stream.write_all(&message).await.unwrap();
            stream.read_exact(&mut reply).await.unwrap();
            if $timed {
                latencies.push(started.elapsed());
            }
        }
        (stream, latencies)
    }};
}

struct Gmp {
    rt: gmp::Runtime,
}

impl Contender for Gmp {
    const NAME: &'static str = "gmp";
    type Stream = gmp::net::TcpStream;

    fn start() -> Self {
        Gmp { rt: gmp::Builder::new().maxprocs(WORKERS).build().unwrap() }
    }

    fn connect(&self, connections: usize) -> Vec<Self::Stream> {
        use futures::io::{AsyncReadExt, AsyncWriteExt};
        self.rt.block_on(async move {
            let listener = gmp::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr: SocketAddr = listener.local_addr().unwrap();
            gmp::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else { return };
                    stream.set_nodelay(true).unwrap();
                    gmp::spawn(async move {
                        let mut stream = stream;
                        let mut buf = vec![0u8; 4096];
                        loop {
                            match stream.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => {
                                    if stream.write_all(&buf[..n]).await.is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    });
                }
            });
            let mut streams = Vec::new();
            for _ in 0..connections {
                let stream = gmp::net::TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                streams.push(stream);
            }
            streams
        })
    }

    fn run<R, F, Fut>(&self, streams: Vec<Self::Stream>, per_stream: F) -> Vec<(Self::Stream, R)>
    where
        R: Send + 'static,
        F: Fn(Self::Stream) -> Fut + Send + Sync + Clone + 'static,
        Fut: Future<Output = (Self::Stream, R)> + Send + 'static,
    {
        self.rt.block_on(async move {
            let handles: Vec<_> = streams.into_iter().map(|s| gmp::spawn(per_stream(s))).collect();
            let mut out = Vec::with_capacity(handles.len());
            for handle in handles {
                out.push(handle.await.unwrap());
            }
            out
        })
    }
}

struct Tokio {
    rt: tokio::runtime::Runtime,
}

impl Contender for Tokio {
    const NAME: &'static str = "tokio";
    type Stream = tokio::net::TcpStream;

    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(WORKERS).enable_all().build().unwrap();
        Tokio { rt }
    }

    fn connect(&self, connections: usize) -> Vec<Self::Stream> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr: SocketAddr = listener.local_addr().unwrap();
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else { return };
                    stream.set_nodelay(true).unwrap();
                    tokio::spawn(async move {
                        let mut stream = stream;
                        let mut buf = vec![0u8; 4096];
                        loop {
                            match stream.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => {
                                    if stream.write_all(&buf[..n]).await.is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    });
                }
            });
            let mut streams = Vec::new();
            for _ in 0..connections {
                let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                streams.push(stream);
            }
            streams
        })
    }

    fn run<R, F, Fut>(&self, streams: Vec<Self::Stream>, per_stream: F) -> Vec<(Self::Stream, R)>
    where
        R: Send + 'static,
        F: Fn(Self::Stream) -> Fut + Send + Sync + Clone + 'static,
        Fut: Future<Output = (Self::Stream, R)> + Send + 'static,
    {
        self.rt.block_on(async move {
            let handles: Vec<_> = streams.into_iter().map(|s| tokio::spawn(per_stream(s))).collect();
            let mut out = Vec::with_capacity(handles.len());
            for handle in handles {
                out.push(handle.await.unwrap());
            }
            out
        })
    }
}

async fn gmp_round_trips(
    stream: gmp::net::TcpStream,
    round_trips: usize,
    timed: bool,
) -> (gmp::net::TcpStream, Vec<Duration>) {
    use futures::io::{AsyncReadExt, AsyncWriteExt};
    round_trips!(stream, round_trips, timed)
}

async fn tokio_round_trips(
    stream: tokio::net::TcpStream,
    round_trips: usize,
    timed: bool,
) -> (tokio::net::TcpStream, Vec<Duration>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    round_trips!(stream, round_trips, timed)
}

/// Round trips for either executor's stream type.
trait RoundTrips: Contender {
    fn round_trips(
        stream: Self::Stream,
        round_trips: usize,
        timed: bool,
    ) -> impl Future<Output = (Self::Stream, Vec<Duration>)> + Send + 'static;
}

impl RoundTrips for Gmp {
    fn round_trips(
        stream: Self::Stream,
        round_trips: usize,
        timed: bool,
    ) -> impl Future<Output = (Self::Stream, Vec<Duration>)> + Send + 'static {
        gmp_round_trips(stream, round_trips, timed)
    }
}

impl RoundTrips for Tokio {
    fn round_trips(
        stream: Self::Stream,
        round_trips: usize,
        timed: bool,
    ) -> impl Future<Output = (Self::Stream, Vec<Duration>)> + Send + 'static {
        tokio_round_trips(stream, round_trips, timed)
    }
}

// ---------------------------------------------------------------------------------------------
// Throughput (criterion).

fn throughput_for<C: RoundTrips>(c: &mut Criterion) {
    let contender = C::start();
    let mut group = c.benchmark_group("tcp_echo_throughput");
    for connections in THROUGHPUT_CONNECTIONS {
        group.throughput(Throughput::Bytes((connections * ROUND_TRIPS_PER_BATCH * MESSAGE * 2) as u64));
        let mut streams = Some(contender.connect(connections));
        group.bench_function(BenchmarkId::new(C::NAME, connections), |b| {
            b.iter(|| {
                let done = contender.run(streams.take().unwrap(), |s| C::round_trips(s, ROUND_TRIPS_PER_BATCH, false));
                streams = Some(done.into_iter().map(|(s, _)| s).collect());
            });
        });
    }
    group.finish();
}

fn throughput(c: &mut Criterion) {
    // Interleave the contenders per connection count by running each group in turn.
    throughput_for::<Gmp>(c);
    throughput_for::<Tokio>(c);
}

// ---------------------------------------------------------------------------------------------
// Latency (a custom loop: every request timed, percentiles printed).

struct Percentiles {
    p50: Duration,
    p99: Duration,
    p999: Duration,
    mean: Duration,
}

fn latency_for<C: RoundTrips>(connections: usize) -> Percentiles {
    let contender = C::start();
    let streams = contender.connect(connections);
    let per_connection = LATENCY_REQUESTS / connections;
    // Warm up, then measure.
    let streams: Vec<_> = contender
        .run(streams, move |s| C::round_trips(s, 1000.min(per_connection), false))
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    let results = contender.run(streams, move |s| C::round_trips(s, per_connection, true));
    let mut all: Vec<Duration> = results.into_iter().flat_map(|(_, latencies)| latencies).collect();
    all.sort_unstable();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    Percentiles { p50: at(0.50), p99: at(0.99), p999: at(0.999), mean: all.iter().sum::<Duration>() / all.len() as u32 }
}

fn latency() {
    println!("\ntcp_echo_latency: {LATENCY_REQUESTS} round trips of {MESSAGE} B, {WORKERS} workers");
    println!("{:<8} {:>11} {:>10} {:>10} {:>10} {:>10}", "runtime", "connections", "p50", "p99", "p99.9", "mean");
    for connections in LATENCY_CONNECTIONS {
        let gmp = latency_for::<Gmp>(connections);
        let tokio = latency_for::<Tokio>(connections);
        for (name, p) in [("gmp", &gmp), ("tokio", &tokio)] {
            println!(
                "{name:<8} {connections:>11} {:>10.1?} {:>10.1?} {:>10.1?} {:>10.1?}",
                p.p50, p.p99, p.p999, p.mean
            );
        }
        println!(
            "{:<8} {connections:>11} {:>10.2} {:>10.2} {:>10.2} {:>10.2}",
            "gmp/tokio",
            ratio(gmp.p50, tokio.p50),
            ratio(gmp.p99, tokio.p99),
            ratio(gmp.p999, tokio.p999),
            ratio(gmp.mean, tokio.mean)
        );
    }
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

criterion_group!(benches, throughput);

fn main() -> io::Result<()> {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if std::env::var_os("GMP_NET_BENCH_SKIP_LATENCY").is_none() && latency_selected() {
        latency();
    }
    Ok(())
}

/// Whether the command line's filter (criterion's positional argument) selects the latency
/// report: no filter, or one that `tcp_echo_latency` contains.
fn latency_selected() -> bool {
    const FLAGS_WITH_VALUES: [&str; 14] = [
        "--warm-up-time",
        "--measurement-time",
        "--sample-size",
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--profile-time",
        "--output-format",
        "--color",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--nresamples",
    ];
    let mut args = std::env::args().skip(1);
    let mut filter = None;
    while let Some(arg) = args.next() {
        if arg == "--list" {
            return false;
        }
        if FLAGS_WITH_VALUES.contains(&arg.as_str()) {
            args.next();
        } else if !arg.starts_with('-') {
            filter = Some(arg);
        }
    }
    filter.is_none_or(|filter| "tcp_echo_latency".contains(filter.as_str()))
}
