//! The halves of a split [`TcpStream`]: borrowed ([`ReadHalf`],
//! [`WriteHalf`], from `split`) and owned ([`OwnedReadHalf`], [`OwnedWriteHalf`], from
//! `into_split`), each implementing `futures::io::AsyncRead` or `AsyncWrite`.
//!
//! `TcpListener`, `TcpStream` and `TcpSocket` themselves are in [`gmp::net`](crate::net).

pub(super) mod listener;
pub(super) mod socket;
pub(super) mod stream;

use listener::TcpListener;
use socket::TcpSocket;
use stream::TcpStream;

stream_halves!(
    TcpStream,
    std::net::SocketAddr,
    "    let listener = gmp::net::TcpListener::bind(\"127.0.0.1:0\").await.unwrap();
    let client = gmp::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();"
);
