//! `examples/kv_server.rs` (a RESP server, its connection code on tokio's I/O traits, run on
//! gmp through the `tokio-io` feature) against a hand-rolled RESP client and `redis-cli` when
//! it is installed. The server runs in-process: the test includes the example's file.

#[path = "../examples/kv_server.rs"]
#[allow(dead_code)]
mod kv_server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use gmp::net::{TcpListener, TcpStream};
use gmp::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);

async fn start() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    gmp::spawn(kv_server::serve_on_gmp(listener, Arc::new(kv_server::Store::default())));
    address
}

/// A reply, as RESP2 spells them.
#[derive(Debug, PartialEq, Eq)]
enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
}

/// A minimal RESP client: commands as arrays of bulk strings, replies parsed from a buffer.
struct Client {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Client {
    async fn connect(address: SocketAddr) -> Client {
        Client { stream: TcpStream::connect(address).await.unwrap(), buffer: Vec::new() }
    }

    fn encode(command: &[&[u8]], out: &mut Vec<u8>) {
        out.extend_from_slice(format!("*{}\r\n", command.len()).as_bytes());
        for argument in command {
            out.extend_from_slice(format!("${}\r\n", argument.len()).as_bytes());
            out.extend_from_slice(argument);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// Sends `commands` in one write (a pipeline) and reads one reply for each.
    async fn pipeline(&mut self, commands: &[Vec<&[u8]>]) -> Vec<Reply> {
        let mut out = Vec::new();
        for command in commands {
            Self::encode(command, &mut out);
        }
        self.stream.write_all(&out).await.unwrap();
        let mut replies = Vec::with_capacity(commands.len());
        while replies.len() < commands.len() {
            replies.push(self.reply().await);
        }
        replies
    }

    async fn call(&mut self, command: &[&[u8]]) -> Reply {
        self.pipeline(&[command.to_vec()]).await.pop().unwrap()
    }

    async fn reply(&mut self) -> Reply {
        loop {
            if let Some((reply, used)) = parse_reply(&self.buffer) {
                self.buffer.drain(..used);
                return reply;
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the server closed the connection mid-reply");
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }
}

fn parse_reply(input: &[u8]) -> Option<(Reply, usize)> {
    let end = input.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&input[1..end]).unwrap();
    let after = end + 2;
    match input[0] {
        b'+' => Some((Reply::Simple(line.to_owned()), after)),
        b'-' => Some((Reply::Error(line.to_owned()), after)),
        b':' => Some((Reply::Integer(line.parse().unwrap()), after)),
        b'$' => {
            let len: i64 = line.parse().unwrap();
            if len < 0 {
                return Some((Reply::Bulk(None), after));
            }
            let len = len as usize;
            (input.len() >= after + len + 2)
                .then(|| (Reply::Bulk(Some(input[after..after + len].to_vec())), after + len + 2))
        }
        b'*' => {
            let count: usize = line.parse().unwrap();
            let mut at = after;
            let mut items = Vec::with_capacity(count);
            for _ in 0..count {
                let (item, used) = parse_reply(&input[at..])?;
                items.push(item);
                at += used;
            }
            Some((Reply::Array(items), at))
        }
        other => panic!("not a RESP reply: {:?}", other as char),
    }
}

fn ok() -> Reply {
    Reply::Simple("OK".into())
}

fn bulk(value: &str) -> Reply {
    Reply::Bulk(Some(value.as_bytes().to_vec()))
}

#[test]
fn set_get_round_trips_ten_thousand_keys() {
    gmp::Runtime::new().unwrap().block_on(async {
        let address = start().await;
        let mut client = Client::connect(address).await;
        timeout(LIMIT, async {
            let keys: Vec<String> = (0..10_000).map(|i| format!("key:{i}")).collect();
            let values: Vec<String> = (0..10_000).map(|i| format!("value-{i}-{}", "x".repeat(i % 50))).collect();
            for (keys, values) in keys.chunks(100).zip(values.chunks(100)) {
                let sets: Vec<Vec<&[u8]>> =
                    keys.iter().zip(values).map(|(k, v)| vec![&b"SET"[..], k.as_bytes(), v.as_bytes()]).collect();
                assert!(client.pipeline(&sets).await.iter().all(|reply| *reply == ok()));
            }
            // Read them back on a second connection, in pipelines of 100.
            let mut reader = Client::connect(address).await;
            for (keys, values) in keys.chunks(100).zip(values.chunks(100)) {
                let gets: Vec<Vec<&[u8]>> = keys.iter().map(|k| vec![&b"GET"[..], k.as_bytes()]).collect();
                let replies = reader.pipeline(&gets).await;
                for (reply, value) in replies.into_iter().zip(values) {
                    assert_eq!(reply, bulk(value));
                }
            }
        })
        .await
        .expect("10,000 SETs and GETs within 30 s");
    });
}

#[test]
fn ping_del_incr_expire_and_errors_answer_as_redis_does() {
    gmp::Runtime::new().unwrap().block_on(async {
        let mut c = Client::connect(start().await).await;
        assert_eq!(c.call(&[b"PING"]).await, Reply::Simple("PONG".into()));
        assert_eq!(c.call(&[b"ping", b"hi"]).await, bulk("hi"));
        assert_eq!(c.call(&[b"GET", b"missing"]).await, Reply::Bulk(None));
        assert_eq!(c.call(&[b"INCR", b"n"]).await, Reply::Integer(1));
        assert_eq!(c.call(&[b"INCR", b"n"]).await, Reply::Integer(2));
        assert_eq!(c.call(&[b"GET", b"n"]).await, bulk("2"));
        assert_eq!(c.call(&[b"SET", b"word", b"abc"]).await, ok());
        assert!(matches!(c.call(&[b"INCR", b"word"]).await, Reply::Error(e) if e.contains("not an integer")));
        assert_eq!(c.call(&[b"DEL", b"n", b"word", b"missing"]).await, Reply::Integer(2));
        assert_eq!(c.call(&[b"GET", b"n"]).await, Reply::Bulk(None));
        assert_eq!(c.call(&[b"EXPIRE", b"missing", b"10"]).await, Reply::Integer(0));
        assert_eq!(c.call(&[b"SET", b"short", b"lived"]).await, ok());
        assert_eq!(c.call(&[b"EXPIRE", b"short", b"1"]).await, Reply::Integer(1));
        let ttl = c.call(&[b"TTL", b"short"]).await;
        assert!(matches!(ttl, Reply::Integer(0 | 1)), "TTL right after EXPIRE 1: {ttl:?}");
        assert_eq!(c.call(&[b"GET", b"short"]).await, bulk("lived"), "not expired yet");
        gmp::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(c.call(&[b"GET", b"short"]).await, Reply::Bulk(None), "expired after 1 s");
        assert_eq!(c.call(&[b"TTL", b"short"]).await, Reply::Integer(-2));
        assert_eq!(c.call(&[b"SET", b"px", b"v", b"PX", b"50"]).await, ok());
        gmp::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(c.call(&[b"GET", b"px"]).await, Reply::Bulk(None));
        assert!(matches!(c.call(&[b"GET"]).await, Reply::Error(e) if e.contains("wrong number of arguments")));
        assert!(matches!(c.call(&[b"NOSUCH"]).await, Reply::Error(e) if e.contains("unknown command")));

        // An inline command, as nc would send it; then a value with CRLF and NUL bytes inside.
        c.stream.write_all(b"PING\r\n").await.unwrap();
        assert_eq!(c.reply().await, Reply::Simple("PONG".into()));
        assert_eq!(c.call(&[b"SET", b"bin", b"a\r\nb\0c"]).await, ok());
        assert_eq!(c.call(&[b"GET", b"bin"]).await, Reply::Bulk(Some(b"a\r\nb\0c".to_vec())));
        assert_eq!(c.call(&[b"QUIT"]).await, ok());
        let mut rest = Vec::new();
        c.stream.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "the server closes after QUIT");
    });
}

#[test]
fn redis_cli_talks_to_the_server() {
    if std::process::Command::new("redis-cli").arg("--version").output().is_err() {
        // CI installs it: there a missing redis-cli is a broken setup, not a reason to pass.
        assert!(std::env::var_os("CI").is_none(), "redis-cli is not installed, and CI is set: install it");
        println!("SKIP: redis-cli is not installed (apt-get install redis-tools); the redis-cli checks did not run");
        return;
    }
    gmp::Runtime::new().unwrap().block_on(async {
        let address = start().await;
        let port = address.port().to_string();
        let cli = |args: &[&str]| {
            let mut full: Vec<String> = vec!["-h".into(), "127.0.0.1".into(), "-p".into(), port.clone()];
            full.extend(args.iter().map(|s| s.to_string()));
            gmp::spawn_blocking(move || {
                let output = std::process::Command::new("redis-cli").args(&full).output().unwrap();
                assert!(output.status.success(), "redis-cli {full:?}: {}", String::from_utf8_lossy(&output.stderr));
                String::from_utf8(output.stdout).unwrap().trim_end().to_owned()
            })
        };
        let run = |args: &'static [&'static str]| {
            let job = cli(args);
            async move { timeout(LIMIT, job).await.unwrap().unwrap() }
        };
        assert_eq!(run(&["PING"]).await, "PONG");
        assert_eq!(run(&["SET", "greeting", "hello world"]).await, "OK");
        assert_eq!(run(&["GET", "greeting"]).await, "hello world");
        assert_eq!(run(&["INCR", "visits"]).await, "1");
        assert_eq!(run(&["INCR", "visits"]).await, "2");
        assert_eq!(run(&["EXPIRE", "visits", "100"]).await, "1");
        assert_eq!(run(&["DEL", "greeting", "visits"]).await, "2");
        assert_eq!(run(&["GET", "greeting"]).await, "");
    });
}
