//! `examples/http_server.rs` (axum on gmp through hyper-util's auto builder) against real
//! clients: hyper's HTTP/1.1 and HTTP/2 clients running on gmp, and `curl` when it is
//! installed. The server runs in-process: the test includes the example's file for `serve`.

#[path = "../examples/http_server.rs"]
#[allow(dead_code)]
mod http_server;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::routing::get;
use bytes::Bytes;
use futures::channel::oneshot;
use futures::io::{AsyncReadExt, AsyncWriteExt};
use gmp::compat::hyper::{GmpExecutor, GmpTimer};
use gmp::net::{TcpListener, TcpStream};
use gmp::time::timeout;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::{http1, http2};
use hyper::{Request, StatusCode};

const LIMIT: Duration = Duration::from_secs(30);

/// A server from the example's `serve`, on a free port of 127.0.0.1.
struct Server {
    address: SocketAddr,
    stop: oneshot::Sender<()>,
    done: gmp::JoinHandle<std::io::Result<()>>,
}

async fn start(app: axum::Router, header_read_timeout: Duration) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let done = gmp::spawn(http_server::serve(listener, app, header_read_timeout, stopped));
    Server { address, stop, done }
}

async fn http1_client(address: SocketAddr) -> http1::SendRequest<Empty<Bytes>> {
    let stream = TcpStream::connect(address).await.unwrap();
    let (sender, connection) = http1::handshake(stream).await.unwrap();
    gmp::spawn(connection);
    sender
}

fn request(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path).header("host", "localhost").body(Empty::new()).unwrap()
}

/// Status, content type and body of the answer to `GET path`.
async fn get1(sender: &mut http1::SendRequest<Empty<Bytes>>, path: &str) -> (StatusCode, String, String) {
    sender.ready().await.unwrap();
    let response = sender.send_request(request(path)).await.unwrap();
    answer(response).await
}

async fn answer(response: hyper::Response<hyper::body::Incoming>) -> (StatusCode, String, String) {
    let status = response.status();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, content_type, String::from_utf8(body.to_vec()).unwrap())
}

const HELLO: &str = "Hello, World!";
const JSON: &str = r#"{"message":"Hello, World!"}"#;

#[test]
fn root_and_json_answer_over_http1_and_h2c() {
    gmp::Runtime::new().unwrap().block_on(async {
        let server = start(http_server::router(), Duration::from_secs(5)).await;
        let mut sender = http1_client(server.address).await;
        let (status, content_type, body) = get1(&mut sender, "/").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, HELLO));
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        let (status, content_type, body) = get1(&mut sender, "/json").await;
        assert_eq!((status, content_type.as_str(), body.as_str()), (StatusCode::OK, "application/json", JSON));
        assert_eq!(get1(&mut sender, "/nothing-here").await.0, StatusCode::NOT_FOUND);

        // HTTP/2 with prior knowledge (h2c) on the same port.
        let stream = TcpStream::connect(server.address).await.unwrap();
        let (mut sender, connection) =
            http2::Builder::new(GmpExecutor).timer(GmpTimer).handshake(stream).await.unwrap();
        gmp::spawn(connection);
        let response = sender.send_request(request("http://localhost/json")).await.unwrap();
        assert_eq!(response.version(), hyper::Version::HTTP_2);
        assert_eq!(answer(response).await.2, JSON);

        server.stop.send(()).unwrap();
        timeout(LIMIT, server.done).await.unwrap().unwrap().unwrap();
    });
}

#[test]
fn a_keep_alive_connection_serves_a_thousand_requests() {
    gmp::Runtime::new().unwrap().block_on(async {
        let server = start(http_server::router(), Duration::from_secs(5)).await;
        let mut sender = http1_client(server.address).await;
        timeout(LIMIT, async {
            for i in 0..1000 {
                let path = if i % 2 == 0 { "/" } else { "/json" };
                let (status, _, body) = get1(&mut sender, path).await;
                assert_eq!(status, StatusCode::OK, "request {i}");
                assert_eq!(body, if i % 2 == 0 { HELLO } else { JSON }, "request {i}");
            }
        })
        .await
        .expect("1,000 requests within 30 s");
        // Still the one connection: it answers once more.
        assert_eq!(get1(&mut sender, "/").await.2, HELLO);
    });
}

#[test]
fn two_hundred_concurrent_clients_all_get_answers() {
    gmp::Runtime::new().unwrap().block_on(async {
        let server = start(http_server::router(), Duration::from_secs(5)).await;
        let clients: Vec<_> = (0..200)
            .map(|_| {
                let address = server.address;
                gmp::spawn(async move {
                    let mut sender = http1_client(address).await;
                    get1(&mut sender, "/json").await
                })
            })
            .collect();
        let mut answered = 0;
        for client in clients {
            let (status, _, body) = timeout(LIMIT, client).await.expect("an answer within 30 s").unwrap();
            assert_eq!((status, body.as_str()), (StatusCode::OK, JSON));
            answered += 1;
        }
        assert_eq!(answered, 200);
    });
}

#[test]
fn a_slow_loris_client_is_cut_off_by_the_header_read_timeout() {
    gmp::Runtime::new().unwrap().block_on(async {
        let server = start(http_server::router(), Duration::from_secs(1)).await;
        // Read before the connect: the server's 1 s header timer cannot start earlier, so the
        // cut-off is at least that long after it however this thread is scheduled.
        let start = Instant::now();
        let mut stream = TcpStream::connect(server.address).await.unwrap();
        let head = b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: slow-loris\r\n\r\n";
        let mut sent = 0;
        let closed = loop {
            if sent == head.len() {
                break false;
            }
            // One header byte a second; a closed connection shows as a failed write or as end
            // of stream (or a 408 answer, then end of stream) on the read side.
            if stream.write_all(&head[sent..=sent]).await.is_err() {
                break true;
            }
            sent += 1;
            let mut buf = [0u8; 512];
            match timeout(Duration::from_secs(1), stream.read(&mut buf)).await {
                Err(_elapsed) => continue,
                Ok(Ok(0)) | Ok(Err(_)) => break true,
                Ok(Ok(_)) => {
                    // An error response; the connection closes after it.
                    let mut rest = Vec::new();
                    let _ = timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
                    break true;
                }
            }
        };
        let elapsed = start.elapsed();
        assert!(closed, "the server waited for all {} header bytes", head.len());
        // About 1 s in (a byte a second); generous for a loaded machine.
        assert!(sent <= 20, "cut off only after {sent} bytes ({elapsed:?}), expected about 1 s");
        assert!(elapsed >= Duration::from_millis(900), "cut off after {elapsed:?}, before the 1 s timeout");

        // A well-behaved client on the same server is still served.
        let mut sender = http1_client(server.address).await;
        assert_eq!(get1(&mut sender, "/").await.2, HELLO);
    });
}

#[test]
fn shutdown_stops_accepting_and_lets_the_request_in_flight_finish() {
    gmp::Runtime::new().unwrap().block_on(async {
        let app = http_server::router().route(
            "/slow",
            get(|| async {
                gmp::time::sleep(Duration::from_millis(300)).await;
                "slow"
            }),
        );
        let server = start(app, Duration::from_secs(5)).await;
        let mut sender = http1_client(server.address).await;
        let in_flight = gmp::spawn(async move { get1(&mut sender, "/slow").await });
        gmp::time::sleep(Duration::from_millis(100)).await;
        server.stop.send(()).unwrap();
        let (status, _, body) = timeout(LIMIT, in_flight).await.unwrap().unwrap();
        assert_eq!((status, body.as_str()), (StatusCode::OK, "slow"));
        timeout(LIMIT, server.done).await.expect("serve returns once the connection closed").unwrap().unwrap();
        let refused = TcpStream::connect(server.address).await.unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    });
}

#[test]
fn curl_gets_the_same_answers() {
    if std::process::Command::new("curl").arg("--version").output().is_err() {
        // CI installs it: there a missing curl is a broken setup, not a reason to pass.
        assert!(std::env::var_os("CI").is_none(), "curl is not installed, and CI is set: install it");
        println!("SKIP: curl is not installed; the curl checks did not run");
        return;
    }
    gmp::Runtime::new().unwrap().block_on(async {
        let server = start(http_server::router(), Duration::from_secs(5)).await;
        let curl = |args: Vec<String>| {
            gmp::spawn_blocking(move || {
                let output = std::process::Command::new("curl").args(&args).output().unwrap();
                assert!(output.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
                String::from_utf8(output.stdout).unwrap()
            })
        };
        let base = format!("http://{}", server.address);
        let hello = curl(vec!["-sS".into(), "--max-time".into(), "10".into(), format!("{base}/")]);
        assert_eq!(timeout(LIMIT, hello).await.unwrap().unwrap(), HELLO);
        let json = curl(vec!["-sS".into(), "--max-time".into(), "10".into(), format!("{base}/json")]);
        assert_eq!(timeout(LIMIT, json).await.unwrap().unwrap(), JSON);
        let h2 = curl(vec![
            "-sS".into(),
            "--max-time".into(),
            "10".into(),
            "--http2-prior-knowledge".into(),
            "-w".into(),
            " %{http_version}".into(),
            format!("{base}/json"),
        ]);
        assert_eq!(timeout(LIMIT, h2).await.unwrap().unwrap(), format!("{JSON} 2"));
    });
}

#[test]
fn reqwest_through_async_compat_gets_the_answers() {
    // A tokio-only client inside a gmp program (see examples/reqwest_compat.rs).
    gmp::Runtime::new().unwrap().block_on(async {
        let server = start(http_server::router(), Duration::from_secs(5)).await;
        let base = format!("http://{}", server.address);
        let (hello, json) = async_compat::Compat::new(async {
            let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
            let hello = client.get(format!("{base}/")).send().await.unwrap().text().await.unwrap();
            let json = client.get(format!("{base}/json")).send().await.unwrap().text().await.unwrap();
            (hello, json)
        })
        .await;
        assert_eq!((hello.as_str(), json.as_str()), (HELLO, JSON));
    });
}
