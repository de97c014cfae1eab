//! `examples/echo.rs` on tokio's multi-thread runtime: the baseline of `scripts/bench_apps.sh`.
//!
//! ```text
//! GMP_MAXPROCS=2 cargo run --release --example echo_tokio -- 127.0.0.1:0
//! ```
//!
//! Same contract as the gmp servers (address argument, `listening on ...`, backlog 1024,
//! `TCP_NODELAY`); `GMP_MAXPROCS` sets the worker count so one variable sizes both.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() -> std::io::Result<()> {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = std::env::var("GMP_MAXPROCS").ok().and_then(|n| n.parse().ok()) {
        runtime.worker_threads(workers);
    }
    runtime.enable_all().build()?.block_on(async {
        let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7000".to_owned());
        let address: std::net::SocketAddr =
            address.parse().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let socket =
            if address.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
        socket.set_reuseaddr(true)?;
        socket.bind(address)?;
        let listener = socket.listen(1024)?;
        println!("listening on {}", listener.local_addr()?);
        loop {
            let (mut stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    eprintln!("echo_tokio: accept: {error}");
                    continue;
                }
            };
            // A peer that already went away fails this too; the connection then ends by itself.
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
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
    })
}
