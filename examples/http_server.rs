//! An axum application on gmp: hyper-util's auto builder serves HTTP/1.1 and h2c (HTTP/2
//! without TLS) on one port, with gmp's executor and timer (`gmp::compat::hyper`, feature
//! `hyper`). No tokio runtime is involved.
//!
//! ```text
//! cargo run --release --features hyper --example http_server                  # 127.0.0.1:3000
//! cargo run --release --features hyper --example http_server -- 127.0.0.1:0   # a free port
//! curl http://127.0.0.1:3000/ ; curl http://127.0.0.1:3000/json
//! curl --http2-prior-knowledge http://127.0.0.1:3000/json
//! ```
//!
//! The server contract of every example server: the first argument is the address to listen
//! on, `listening on 127.0.0.1:PORT` is printed once it accepts, the listen backlog is 1024
//! (gmp's `TcpListener::bind` asks for that) and accepted sockets get `TCP_NODELAY`.
//!
//! The serving code is a library function, [`serve`], that `tests/http_server.rs` runs
//! in-process (and `examples/http_server_tokio.rs` takes [`router`] from): it stops accepting
//! when its `shutdown` future completes, then lets the connections in flight finish their
//! current requests (hyper's graceful shutdown) before it returns.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use futures::future::{select, Either};
use gmp::compat::hyper::{GmpExecutor, GmpTimer};
use gmp::net::TcpListener;
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;

/// Where the server listens when no address is given.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:3000";

/// How long a client may take to send a request's headers before the connection is closed
/// (a slow-loris defence; hyper enforces it only when it has a timer).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The application: `GET /` answers a plain-text hello, `GET /json` a JSON object.
pub fn router() -> Router {
    Router::new()
        .route("/", get(|| async { "Hello, World!" }))
        .route("/json", get(|| async { Json(serde_json::json!({ "message": "Hello, World!" })) }))
}

/// Serves `app` on `listener` over HTTP/1.1 and h2c until `shutdown` completes (its output is
/// ignored, so `gmp::signal::ctrl_c()` fits as it is), then stops
/// accepting, asks every open connection to close once its current request is answered, and
/// returns when they all have.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    shutdown: impl Future,
) -> io::Result<()> {
    let mut builder = auto::Builder::new(GmpExecutor);
    builder.http1().timer(GmpTimer).header_read_timeout(header_read_timeout);
    builder.http2().timer(GmpTimer);
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = match select(pin!(listener.accept()), shutdown.as_mut()).await {
            Either::Left((accepted, _)) => accepted,
            Either::Right(_) => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            // Out of file descriptors, say: the next accept waits a little before retrying.
            Err(error) => {
                eprintln!("http_server: accept: {error}");
                continue;
            }
        };
        // A peer that already went away fails this too; the connection then ends by itself.
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(builder.serve_connection_with_upgrades(stream, service).into_owned());
        gmp::spawn(async move {
            if let Err(error) = connection.await {
                // Clients that go away mid-request are ordinary; say so only in debug builds.
                if cfg!(debug_assertions) {
                    eprintln!("http_server: {peer}: {error}");
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

#[allow(dead_code)] // `tests/http_server.rs` includes this file for `serve` and `router`.
#[gmp::main]
async fn main() -> io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| DEFAULT_ADDRESS.to_owned());
    let listener = TcpListener::bind(address.as_str()).await?;
    println!("listening on {}", listener.local_addr()?);
    // Listening for Ctrl-C from here on: a SIGINT stops the accepting and lets the requests in
    // flight finish before `main` returns.
    let shutdown = gmp::signal::ctrl_c();
    serve(listener, router(), HEADER_READ_TIMEOUT, shutdown).await
}
