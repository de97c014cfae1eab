//! A TCP echo load generator for `scripts/bench_apps.sh`: C connections, each sending a
//! message of S bytes and waiting for its echo before sending the next, for D seconds; prints
//! round trips per second and the latency percentiles (p50, p99, max) over every round trip.
//!
//! ```text
//! cargo run --release --example echo_load -- 127.0.0.1:7000 50 64 10
//! # round_trips_per_sec=123456 p50_us=380 p99_us=900 max_us=4000 connections=50 size=64 seconds=10
//! ```
//!
//! It runs on one thread with one level-triggered epoll set (the `polling` crate) and no async
//! executor, so it loads gmp's server and tokio's the same way.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use polling::{Event, Events, PollMode, Poller};

struct Connection {
    stream: TcpStream,
    sent_at: Instant,
    received: usize,
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("bad {what}"));
    let address: SocketAddr = args.next().ok_or_else(|| invalid("address"))?.parse().map_err(|_| invalid("address"))?;
    let count: usize = args.next().map_or(Ok(50), |a| a.parse()).map_err(|_| invalid("connection count"))?;
    let size: usize = args.next().map_or(Ok(64), |a| a.parse()).map_err(|_| invalid("message size"))?;
    let seconds: u64 = args.next().map_or(Ok(10), |a| a.parse()).map_err(|_| invalid("duration"))?;
    if count == 0 || size == 0 {
        return Err(invalid("connection count or message size (0)"));
    }

    let poller = Poller::new()?;
    let message = vec![0x5au8; size];
    let mut connections = Vec::with_capacity(count);
    for key in 0..count {
        let stream = TcpStream::connect(address)?;
        stream.set_nodelay(true)?;
        stream.set_nonblocking(true)?;
        // SAFETY: the stream stays open until after it is deleted from the poller below.
        unsafe { poller.add_with_mode(&stream, Event::readable(key), PollMode::Level)? };
        connections.push(Connection { stream, sent_at: Instant::now(), received: 0 });
    }

    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut latencies_us: Vec<u32> = Vec::with_capacity(1 << 20);
    for connection in &mut connections {
        connection.sent_at = Instant::now();
        connection.stream.write_all(&message)?;
    }
    let mut events = Events::new();
    let mut buf = vec![0u8; size];
    let mut in_flight = count;
    while in_flight > 0 {
        events.clear();
        poller.wait(&mut events, Some(Duration::from_millis(100)))?;
        for event in events.iter() {
            let connection = &mut connections[event.key];
            let n = match connection.stream.read(&mut buf[..size - connection.received]) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed a connection")),
                Ok(n) => n,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                Err(error) => return Err(error),
            };
            connection.received += n;
            if connection.received < size {
                continue;
            }
            let now = Instant::now();
            latencies_us.push(now.duration_since(connection.sent_at).as_micros().min(u32::MAX as u128) as u32);
            connection.received = 0;
            if now >= deadline {
                in_flight -= 1;
                poller.delete(&connection.stream)?;
            } else {
                connection.sent_at = now;
                // 64 bytes into an empty send buffer of a non-blocking socket: never short.
                connection.stream.write_all(&message)?;
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies_us.sort_unstable();
    let percentile = |p: f64| latencies_us[((latencies_us.len() - 1) as f64 * p) as usize];
    println!(
        "round_trips_per_sec={:.0} p50_us={} p99_us={} max_us={} connections={count} size={size} seconds={seconds}",
        latencies_us.len() as f64 / elapsed,
        percentile(0.50),
        percentile(0.99),
        percentile(1.0)
    );
    Ok(())
}
