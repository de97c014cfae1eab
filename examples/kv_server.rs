//! A Redis-compatible key-value server (RESP2: PING, SET, GET, DEL, INCR, EXPIRE, TTL) that
//! real Redis clients talk to: `redis-cli`, `redis-benchmark`, client libraries.
//!
//! ```text
//! cargo run --release --features tokio-io --example kv_server                   # 127.0.0.1:6379 on gmp
//! cargo run --release --features tokio-io --example kv_server -- 127.0.0.1:0    # a free port
//! cargo run --release --features tokio-io --example kv_server -- 127.0.0.1:0 tokio   # on tokio
//! redis-cli -p 6379 SET greeting hello ; redis-benchmark -p 6379 -c 50 -P 16 -q -t set,get
//! ```
//!
//! The connection code is written once, against tokio's `AsyncRead`/`AsyncWrite`, and runs on
//! gmp through the `tokio-io` feature and on tokio's own runtime for comparison
//! (`scripts/bench_apps.sh`). It follows the example-server contract: the first argument is
//! the address, `listening on 127.0.0.1:PORT` is printed once it accepts, backlog 1024,
//! `TCP_NODELAY` on accepted sockets.
//!
//! Pipelining: every command complete in the input buffer is answered into one output buffer,
//! written with one call, so `redis-benchmark -P 16` costs a read and a write per 16 commands.
//! Expiry is lazy, as in Redis: an expired key is removed when it is next touched.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Where the server listens when no address is given.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:6379";

/// A value and, if it has one, the instant it expires.
struct Entry {
    value: Vec<u8>,
    expires: Option<Instant>,
}

impl Entry {
    fn is_live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

/// The key space: a few shards, each a `HashMap` behind a lock, so connections on different
/// threads rarely wait for each other.
pub struct Store {
    shards: Vec<Mutex<HashMap<Vec<u8>, Entry>>>,
    hasher: RandomState,
}

impl Default for Store {
    fn default() -> Self {
        Self { shards: (0..32).map(|_| Mutex::default()).collect(), hasher: RandomState::new() }
    }
}

impl Store {
    fn shard(&self, key: &[u8]) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Entry>> {
        let index = self.hasher.hash_one(key) as usize % self.shards.len();
        self.shards[index].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The live entry of `key` in `shard`, dropping it if it has expired.
    fn live<'a>(shard: &'a mut HashMap<Vec<u8>, Entry>, key: &[u8], now: Instant) -> Option<&'a mut Entry> {
        if shard.get(key).is_some_and(|entry| !entry.is_live(now)) {
            shard.remove(key);
        }
        shard.get_mut(key)
    }
}

/// Serves one connection until the client closes it (or sends QUIT).
pub async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, store: &Store) -> io::Result<()> {
    let mut input = Vec::with_capacity(16 * 1024);
    let mut output = Vec::with_capacity(16 * 1024);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        input.extend_from_slice(&buf[..n]);
        let mut consumed = 0;
        let mut quit = false;
        while !quit {
            match parse_command(&input[consumed..]) {
                Ok(Some((command, used))) => {
                    consumed += used;
                    quit = execute(&command, store, &mut output);
                }
                Ok(None) => break,
                Err(message) => {
                    output.extend_from_slice(format!("-ERR Protocol error: {message}\r\n").as_bytes());
                    quit = true;
                }
            }
        }
        input.drain(..consumed);
        if !output.is_empty() {
            stream.write_all(&output).await?;
            output.clear();
        }
        if quit {
            return stream.shutdown().await;
        }
    }
}

/// The longest bulk string or command accepted (Redis's default limit is 512 MB; ours is
/// smaller because this server keeps a whole command in memory while it arrives).
const MAX_BULK: usize = 64 << 20;

/// A parsed command's arguments and the number of input bytes it took.
type Parsed<'a> = (Vec<&'a [u8]>, usize);

/// Parses one command from the front of `input`: its arguments and the bytes it took, `None`
/// if it is not complete yet. Accepts RESP arrays of bulk strings and inline commands.
fn parse_command(input: &[u8]) -> Result<Option<Parsed<'_>>, &'static str> {
    let Some(line_end) = find_crlf(input) else {
        return if input.len() > MAX_BULK { Err("too big inline request") } else { Ok(None) };
    };
    if input.first() != Some(&b'*') {
        // Inline: space-separated words on one line (what `nc` or `telnet` send).
        let words = input[..line_end].split(|b| b.is_ascii_whitespace()).filter(|w| !w.is_empty()).collect();
        return Ok(Some((words, line_end + 2)));
    }
    let count = parse_number(&input[1..line_end]).ok_or("invalid multibulk length")?;
    if count > 1024 * 1024 {
        return Err("invalid multibulk length");
    }
    let mut at = line_end + 2;
    let mut arguments = Vec::with_capacity(count);
    for _ in 0..count {
        let Some(end) = find_crlf(&input[at..]) else { return Ok(None) };
        if input[at] != b'$' {
            return Err("expected '$'");
        }
        let len = parse_number(&input[at + 1..at + end]).ok_or("invalid bulk length")?;
        if len > MAX_BULK {
            return Err("invalid bulk length");
        }
        let start = at + end + 2;
        if input.len() < start + len + 2 {
            return Ok(None);
        }
        if &input[start + len..start + len + 2] != b"\r\n" {
            return Err("bulk string not followed by CRLF");
        }
        arguments.push(&input[start..start + len]);
        at = start + len + 2;
    }
    Ok(Some((arguments, at)))
}

fn find_crlf(input: &[u8]) -> Option<usize> {
    input.windows(2).position(|w| w == b"\r\n")
}

fn parse_number(digits: &[u8]) -> Option<usize> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn parse_integer(digits: &[u8]) -> Option<i64> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn bulk(out: &mut Vec<u8>, value: &[u8]) {
    out.extend_from_slice(format!("${}\r\n", value.len()).as_bytes());
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn integer(out: &mut Vec<u8>, value: i64) {
    out.extend_from_slice(format!(":{value}\r\n").as_bytes());
}

fn wrong_arguments(out: &mut Vec<u8>, name: &[u8]) {
    let name = String::from_utf8_lossy(name).to_lowercase();
    out.extend_from_slice(format!("-ERR wrong number of arguments for '{name}' command\r\n").as_bytes());
}

/// Runs one command, appending its reply to `out`. True if the connection should close.
fn execute(arguments: &[&[u8]], store: &Store, out: &mut Vec<u8>) -> bool {
    let Some((name, arguments)) = arguments.split_first() else { return false };
    let now = Instant::now();
    match name.to_ascii_uppercase().as_slice() {
        b"PING" => match arguments {
            [] => out.extend_from_slice(b"+PONG\r\n"),
            [message] => bulk(out, message),
            _ => wrong_arguments(out, name),
        },
        b"GET" => match arguments {
            [key] => match Store::live(&mut store.shard(key), key, now) {
                Some(entry) => bulk(out, &entry.value),
                None => out.extend_from_slice(b"$-1\r\n"),
            },
            _ => wrong_arguments(out, name),
        },
        b"SET" => match arguments {
            [key, value, options @ ..] => {
                let expires = match options {
                    [] => None,
                    [unit, amount] => match (unit.to_ascii_uppercase().as_slice(), parse_integer(amount)) {
                        (b"EX", Some(seconds)) if seconds > 0 => Some(now + Duration::from_secs(seconds as u64)),
                        (b"PX", Some(millis)) if millis > 0 => Some(now + Duration::from_millis(millis as u64)),
                        _ => {
                            out.extend_from_slice(b"-ERR syntax error\r\n");
                            return false;
                        }
                    },
                    _ => {
                        out.extend_from_slice(b"-ERR syntax error\r\n");
                        return false;
                    }
                };
                store.shard(key).insert(key.to_vec(), Entry { value: value.to_vec(), expires });
                out.extend_from_slice(b"+OK\r\n");
            }
            _ => wrong_arguments(out, name),
        },
        b"DEL" if !arguments.is_empty() => {
            let removed = arguments
                .iter()
                .filter(|key| {
                    let mut shard = store.shard(key);
                    shard.remove(**key).is_some_and(|entry| entry.is_live(now))
                })
                .count();
            integer(out, removed as i64);
        }
        b"INCR" => match arguments {
            [key] => {
                let mut shard = store.shard(key);
                let current = match Store::live(&mut shard, key, now) {
                    Some(entry) => std::str::from_utf8(&entry.value).ok().and_then(|text| text.parse::<i64>().ok()),
                    None => Some(0),
                };
                match current.and_then(|value| value.checked_add(1)) {
                    Some(next) => {
                        let expires = shard.get(*key).and_then(|entry| entry.expires);
                        shard.insert(key.to_vec(), Entry { value: next.to_string().into_bytes(), expires });
                        integer(out, next);
                    }
                    None => out.extend_from_slice(b"-ERR value is not an integer or out of range\r\n"),
                }
            }
            _ => wrong_arguments(out, name),
        },
        b"EXPIRE" => match arguments {
            [key, seconds] => match parse_integer(seconds) {
                Some(seconds) => {
                    let mut shard = store.shard(key);
                    let found = Store::live(&mut shard, key, now).is_some();
                    if found && seconds <= 0 {
                        shard.remove(*key);
                    } else if let Some(entry) = shard.get_mut(*key) {
                        entry.expires = Some(now + Duration::from_secs(seconds as u64));
                    }
                    integer(out, found as i64);
                }
                None => out.extend_from_slice(b"-ERR value is not an integer or out of range\r\n"),
            },
            _ => wrong_arguments(out, name),
        },
        b"TTL" => match arguments {
            [key] => match Store::live(&mut store.shard(key), key, now) {
                None => integer(out, -2),
                Some(Entry { expires: None, .. }) => integer(out, -1),
                Some(Entry { expires: Some(at), .. }) => {
                    integer(out, at.duration_since(now).as_secs_f64().round() as i64)
                }
            },
            _ => wrong_arguments(out, name),
        },
        // What redis-cli and redis-benchmark ask at start-up: answer "nothing to report".
        b"COMMAND" | b"CONFIG" => out.extend_from_slice(b"*0\r\n"),
        b"QUIT" => {
            out.extend_from_slice(b"+OK\r\n");
            return true;
        }
        _ => {
            let name = String::from_utf8_lossy(name);
            out.extend_from_slice(format!("-ERR unknown command '{name}'\r\n").as_bytes());
        }
    }
    false
}

/// Serves the store on gmp: one goroutine per connection.
pub async fn serve_on_gmp(listener: gmp::net::TcpListener, store: Arc<Store>) -> io::Result<()> {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("kv_server: accept: {error}");
                continue;
            }
        };
        // A peer that already went away fails this too; the connection then ends by itself.
        let _ = stream.set_nodelay(true);
        let store = store.clone();
        gmp::spawn(async move {
            let _ = serve_connection(stream, &store).await;
        });
    }
}

/// Serves the store on tokio: one task per connection.
pub async fn serve_on_tokio(listener: tokio::net::TcpListener, store: Arc<Store>) -> io::Result<()> {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("kv_server: accept: {error}");
                continue;
            }
        };
        // A peer that already went away fails this too; the connection then ends by itself.
        let _ = stream.set_nodelay(true);
        let store = store.clone();
        tokio::spawn(async move {
            let _ = serve_connection(stream, &store).await;
        });
    }
}

#[allow(dead_code)] // `tests/kv_server.rs` includes this file for the serving code.
fn main() -> io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| DEFAULT_ADDRESS.to_owned());
    let store = Arc::new(Store::default());
    if std::env::args().nth(2).as_deref() == Some("tokio") {
        // GMP_MAXPROCS sets tokio's worker count too, so both servers get the same threads.
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        if let Some(workers) = std::env::var("GMP_MAXPROCS").ok().and_then(|n| n.parse().ok()) {
            builder.worker_threads(workers);
        }
        return builder.enable_all().build()?.block_on(async {
            let address: std::net::SocketAddr =
                address.parse().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let socket =
                if address.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
            socket.set_reuseaddr(true)?;
            socket.bind(address)?;
            let listener = socket.listen(1024)?;
            println!("listening on {}", listener.local_addr()?);
            serve_on_tokio(listener, store).await
        });
    }
    gmp::Runtime::new()?.block_on(async {
        let listener = gmp::net::TcpListener::bind(address.as_str()).await?;
        println!("listening on {}", listener.local_addr()?);
        serve_on_gmp(listener, store).await
    })
}
