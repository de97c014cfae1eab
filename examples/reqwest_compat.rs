//! A tokio-only client crate (reqwest) inside a gmp program, through the `async-compat` crate.
//!
//! ```text
//! cargo run --release --features hyper --example reqwest_compat                   # against a local axum server on gmp
//! cargo run --release --features hyper --example reqwest_compat -- http://127.0.0.1:3000/json
//! ```
//!
//! reqwest needs tokio's reactor and timers: its sockets are tokio `TcpStream`s, which only a
//! tokio runtime can drive. `async_compat::Compat::new(future)` gives it one: the first time it
//! is used, async-compat starts a tokio runtime on a thread of its own and enters it around
//! every poll of `future`. The future itself still runs on gmp (a goroutine, here the main
//! one), but reqwest's socket readiness and timers live on that tokio thread, so each wake-up
//! crosses threads and the process carries a tokio reactor next to gmp's netpoller. That is the
//! honest cost: fine for a client that makes a few calls (a webhook, an API call per job); for
//! heavy client traffic use a client on gmp's own sockets (hyper's client with the `hyper`
//! feature, as `tests/http_server.rs` and `examples/grpc.rs` do), which needs no second
//! reactor.

#[path = "http_server.rs"]
#[allow(dead_code)]
mod http_server;

use async_compat::Compat;
use std::time::Duration;

#[gmp::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = match std::env::args().nth(1) {
        Some(url) => url,
        None => {
            // No URL: serve the axum example on gmp, on a free port, and ask it.
            let listener = gmp::net::TcpListener::bind("127.0.0.1:0").await?;
            let url = format!("http://{}/json", listener.local_addr()?);
            let server = http_server::serve(
                listener,
                http_server::router(),
                http_server::HEADER_READ_TIMEOUT,
                std::future::pending::<()>(),
            );
            gmp::spawn(server);
            url
        }
    };
    let body = Compat::new(async {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        let response = client.get(&url).send().await?.error_for_status()?;
        response.text().await
    })
    .await?;
    println!("{url}: {body}");
    Ok(())
}
