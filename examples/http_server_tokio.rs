//! The same axum application as `examples/http_server.rs`, on tokio's multi-thread runtime and
//! the same hyper-util auto builder: the baseline of `scripts/bench_apps.sh`.
//!
//! ```text
//! cargo run --release --features hyper --example http_server_tokio -- 127.0.0.1:0
//! ```
//!
//! The server contract of the example servers holds (address argument, `listening on ...`,
//! backlog 1024, `TCP_NODELAY`). `GMP_MAXPROCS` sets the worker count here too, so one
//! variable gives both servers the same number of threads.

#[path = "http_server.rs"]
#[allow(dead_code)]
mod gmp_server;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;

fn main() -> std::io::Result<()> {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = std::env::var("GMP_MAXPROCS").ok().and_then(|n| n.parse().ok()) {
        runtime.worker_threads(workers);
    }
    runtime.enable_all().build()?.block_on(async {
        let address = std::env::args().nth(1).unwrap_or_else(|| gmp_server::DEFAULT_ADDRESS.to_owned());
        let address: std::net::SocketAddr =
            address.parse().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let socket =
            if address.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
        socket.set_reuseaddr(true)?;
        socket.bind(address)?;
        let listener = socket.listen(1024)?;
        println!("listening on {}", listener.local_addr()?);
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(gmp_server::HEADER_READ_TIMEOUT);
        builder.http2().timer(TokioTimer::new());
        let app = gmp_server::router();
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    eprintln!("http_server_tokio: accept: {error}");
                    continue;
                }
            };
            // A peer that already went away fails this too; the connection then ends by itself.
            let _ = stream.set_nodelay(true);
            let service = TowerToHyperService::new(app.clone());
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
            tokio::spawn(async move {
                let _ = connection.await;
            });
        }
    })
}
