//! A TCP echo server: one goroutine per connection, each parked in the netpoller while it
//! waits for bytes.
//!
//! ```text
//! cargo run --release --example echo                   # listens on 127.0.0.1:7000
//! cargo run --release --example echo -- 127.0.0.1:0    # a free port
//! ```
//!
//! The contract of every example server: the first argument is the address to listen on,
//! `listening on 127.0.0.1:PORT` is printed once it accepts, the listen backlog is 1024 (as
//! gmp's `TcpListener::bind` asks) and accepted sockets get `TCP_NODELAY`.
//!
//! Try it with `nc 127.0.0.1 7000`, or load it with the clients of `benches/net.rs`.

use futures::io::{AsyncReadExt, AsyncWriteExt};
use gmp::net::{TcpListener, TcpStream};

#[gmp::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7000".to_owned());
    let listener = TcpListener::bind(addr.as_str()).await?;
    println!("listening on {}", listener.local_addr()?);
    eprintln!("echo: {} Ps", gmp::runtime::maxprocs());
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                gmp::spawn(async move {
                    if let Err(error) = echo(stream).await {
                        eprintln!("echo: {peer}: {error}");
                    }
                });
            }
            // Out of file descriptors, say: the next accept waits a little before retrying.
            Err(error) => eprintln!("echo: accept: {error}"),
        }
    }
}

async fn echo(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}
