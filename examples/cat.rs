//! `cat` with gmp::fs: copies files, one after another, to stdout or to a file.
//!
//! ```text
//! cargo run --example cat -- Cargo.toml README.md          # to stdout
//! cargo run --example cat -- -o both.txt Cargo.toml README.md
//! ```
//!
//! Each file is opened with `gmp::fs::File::open` and copied with `futures::io::copy`, whose
//! reads and writes run on the goroutine's own thread (no thread pool). Stdout is written
//! through `gmp::syscall`, which is how to make any other blocking call from a goroutine.

use std::io::{self, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::io::AsyncWrite;

#[gmp::main]
async fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let output = match args.iter().position(|arg| arg == "-o") {
        Some(at) if at + 1 < args.len() => {
            let path = args.remove(at + 1);
            args.remove(at);
            Some(path)
        }
        Some(_) => fail("-o needs a file name"),
        None => None,
    };
    if args.is_empty() {
        fail("usage: cat [-o OUTPUT] FILE...");
    }

    let copied = match &output {
        Some(path) => {
            let mut out = gmp::fs::File::create(path).await.unwrap_or_else(|e| fail(&format!("{path}: {e}")));
            let copied = copy_all(&args, &mut out).await;
            out.sync_all().await.unwrap_or_else(|e| fail(&format!("{path}: {e}")));
            copied
        }
        None => copy_all(&args, &mut Stdout).await,
    };
    if let Some(path) = output {
        eprintln!("cat: {copied} bytes from {} file(s) to {path}", args.len());
    }
}

/// Copies each input in turn to `out`, returning the bytes copied; stops at the first error.
async fn copy_all(inputs: &[String], out: &mut (impl AsyncWrite + Unpin)) -> u64 {
    let mut total = 0;
    for input in inputs {
        let file = gmp::fs::File::open(input).await.unwrap_or_else(|e| fail(&format!("{input}: {e}")));
        total += futures::io::copy(file, out).await.unwrap_or_else(|e| fail(&format!("{input}: {e}")));
    }
    total
}

/// The process's stdout as an `AsyncWrite`: each write is a blocking write inside
/// `gmp::syscall`, so a slow terminal or a full pipe hands this thread's P to another thread.
struct Stdout;

impl AsyncWrite for Stdout {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(gmp::syscall(|| io::stdout().write(buf)))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(gmp::syscall(|| io::stdout().flush()))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

fn fail(message: &str) -> ! {
    eprintln!("cat: {message}");
    std::process::exit(1);
}
