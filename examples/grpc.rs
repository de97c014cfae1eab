//! A gRPC service on gmp: tonic's server and client machinery (features `router` and
//! `codegen`, no `transport`) over hyper's HTTP/2, with gmp's executor, timer and sockets
//! (`gmp::compat::hyper`, feature `hyper`). No tokio runtime is involved.
//!
//! ```text
//! cargo run --release --features hyper --example grpc                      # serves 127.0.0.1:50051
//! cargo run --release --features hyper --example grpc -- 127.0.0.1:0       # a free port
//! cargo run --release --features hyper --example grpc -- --client 127.0.0.1:50051 gmp 5
//! ```
//!
//! The service is helloworld's `Greeter`, with a unary call and a server-streaming one:
//!
//! ```proto
//! package helloworld;
//! service Greeter {
//!   rpc SayHello (HelloRequest) returns (HelloReply);
//!   rpc SayHelloStream (HelloRequest) returns (stream HelloReply);
//! }
//! message HelloRequest { string name = 1; uint32 count = 2; }
//! message HelloReply { string message = 1; uint32 sequence = 2; }
//! ```
//!
//! This machine has no `protoc`, so what `tonic-build` would generate is written out below by
//! hand: the messages with prost's derive, the server's routing over tonic's `server::Grpc`,
//! the client over `client::Grpc`. The client's channel is a hyper HTTP/2 connection on a gmp
//! `TcpStream`. The server follows the example-server contract (address argument,
//! `listening on ...`, backlog 1024, `TCP_NODELAY`).

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use gmp::compat::hyper::{GmpExecutor, GmpTimer};
use gmp::net::{TcpListener, TcpStream};
use hyper_util::service::TowerToHyperService;
use tonic::body::Body;
use tonic::codegen::{http, BoxFuture, Service};
use tonic::server::NamedService;
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;

/// Where the server listens when no address is given.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:50051";

/// The most replies one `SayHelloStream` call may ask for.
pub const MAX_STREAM: u32 = 100_000;

/// `helloworld.HelloRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloRequest {
    #[prost(string, tag = "1")]
    pub name: String,
    /// How many replies `SayHelloStream` sends.
    #[prost(uint32, tag = "2")]
    pub count: u32,
}

/// `helloworld.HelloReply`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloReply {
    #[prost(string, tag = "1")]
    pub message: String,
    #[prost(uint32, tag = "2")]
    pub sequence: u32,
}

/// The stream of replies of `SayHelloStream`.
pub type ReplyStream = Pin<Box<dyn Stream<Item = Result<HelloReply, Status>> + Send>>;

/// The application's side of the service: what the two calls answer.
#[derive(Debug, Default)]
pub struct Greeter;

impl Greeter {
    async fn say_hello(&self, request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        let name = request.into_inner().name;
        Ok(Response::new(HelloReply { message: format!("Hello, {name}!"), sequence: 0 }))
    }

    async fn say_hello_stream(&self, request: Request<HelloRequest>) -> Result<Response<ReplyStream>, Status> {
        let HelloRequest { name, count } = request.into_inner();
        if count > MAX_STREAM {
            return Err(Status::invalid_argument(format!("count {count} is over the limit of {MAX_STREAM}")));
        }
        let replies = futures::stream::iter(0..count)
            .map(move |sequence| Ok(HelloReply { message: format!("Hello, {name}! ({sequence})"), sequence }));
        Ok(Response::new(Box::pin(replies) as ReplyStream))
    }
}

// ---- What tonic-build would generate for the server ----

/// `helloworld.Greeter` as a tower service of HTTP requests, for tonic's `Routes`.
#[derive(Debug, Clone)]
pub struct GreeterServer {
    greeter: Arc<Greeter>,
}

impl GreeterServer {
    /// Serves `greeter`'s calls.
    pub fn new(greeter: Greeter) -> Self {
        Self { greeter: Arc::new(greeter) }
    }
}

impl NamedService for GreeterServer {
    const NAME: &'static str = "helloworld.Greeter";
}

struct SayHello(Arc<Greeter>);

impl tonic::server::UnaryService<HelloRequest> for SayHello {
    type Response = HelloReply;
    type Future = BoxFuture<Response<HelloReply>, Status>;

    fn call(&mut self, request: Request<HelloRequest>) -> Self::Future {
        let greeter = self.0.clone();
        Box::pin(async move { greeter.say_hello(request).await })
    }
}

struct SayHelloStream(Arc<Greeter>);

impl tonic::server::ServerStreamingService<HelloRequest> for SayHelloStream {
    type Response = HelloReply;
    type ResponseStream = ReplyStream;
    type Future = BoxFuture<Response<ReplyStream>, Status>;

    fn call(&mut self, request: Request<HelloRequest>) -> Self::Future {
        let greeter = self.0.clone();
        Box::pin(async move { greeter.say_hello_stream(request).await })
    }
}

impl<B> Service<http::Request<B>> for GreeterServer
where
    B: tonic::codegen::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let greeter = self.greeter.clone();
        match request.uri().path() {
            "/helloworld.Greeter/SayHello" => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(ProstCodec::<HelloReply, HelloRequest>::default());
                Ok(grpc.unary(SayHello(greeter), request).await)
            }),
            "/helloworld.Greeter/SayHelloStream" => Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(ProstCodec::<HelloReply, HelloRequest>::default());
                Ok(grpc.server_streaming(SayHelloStream(greeter), request).await)
            }),
            _ => Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) }),
        }
    }
}

// ---- Serving on gmp ----

/// Serves `routes` on `listener` over HTTP/2 (h2c), one goroutine per connection.
pub async fn serve(listener: TcpListener, routes: tonic::service::Routes) -> io::Result<()> {
    let routes = routes.prepare();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("grpc: accept: {error}");
                continue;
            }
        };
        // A peer that already went away fails this too; the connection then ends by itself.
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(routes.clone());
        gmp::spawn(async move {
            let connection =
                hyper::server::conn::http2::Builder::new(GmpExecutor).timer(GmpTimer).serve_connection(stream, service);
            if let Err(error) = connection.await {
                if cfg!(debug_assertions) {
                    eprintln!("grpc: {peer}: {error}");
                }
            }
        });
    }
}

// ---- The client: tonic's client machinery on a hyper HTTP/2 connection over gmp ----

/// A hyper HTTP/2 connection as the tower service tonic's client sends requests through.
#[derive(Debug, Clone)]
pub struct Channel {
    sender: hyper::client::conn::http2::SendRequest<Body>,
}

impl Channel {
    /// Connects to `address` and runs the connection in a goroutine of its own.
    pub async fn connect(address: SocketAddr) -> io::Result<Channel> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http2::Builder::new(GmpExecutor)
            .timer(GmpTimer)
            .handshake(stream)
            .await
            .map_err(io::Error::other)?;
        gmp::spawn(async move {
            let _ = connection.await;
        });
        Ok(Channel { sender })
    }
}

impl Service<http::Request<Body>> for Channel {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = hyper::Error;
    type Future = BoxFuture<Self::Response, hyper::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), hyper::Error>> {
        self.sender.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        Box::pin(self.sender.send_request(request))
    }
}

/// `helloworld.Greeter`'s client (what tonic-build would generate).
#[derive(Debug, Clone)]
pub struct GreeterClient {
    inner: tonic::client::Grpc<Channel>,
}

impl GreeterClient {
    /// A client that sends its calls over `channel`.
    pub fn new(channel: Channel) -> Self {
        // HTTP/2 requests carry a scheme and an authority; the origin supplies them.
        Self { inner: tonic::client::Grpc::with_origin(channel, http::Uri::from_static("http://localhost")) }
    }

    async fn ready(&mut self) -> Result<(), Status> {
        self.inner.ready().await.map_err(|error| Status::unavailable(format!("connection: {error}")))
    }

    /// The unary call.
    pub async fn say_hello(&mut self, request: HelloRequest) -> Result<Response<HelloReply>, Status> {
        self.ready().await?;
        let path = http::uri::PathAndQuery::from_static("/helloworld.Greeter/SayHello");
        self.inner.unary(Request::new(request), path, ProstCodec::<HelloRequest, HelloReply>::default()).await
    }

    /// The server-streaming call.
    pub async fn say_hello_stream(
        &mut self,
        request: HelloRequest,
    ) -> Result<Response<tonic::Streaming<HelloReply>>, Status> {
        self.ready().await?;
        let path = http::uri::PathAndQuery::from_static("/helloworld.Greeter/SayHelloStream");
        self.inner
            .server_streaming(Request::new(request), path, ProstCodec::<HelloRequest, HelloReply>::default())
            .await
    }
}

#[allow(dead_code)] // `tests/grpc.rs` includes this file for the server and the client.
#[gmp::main]
async fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if first.as_deref() == Some("--client") {
        let address: SocketAddr = args
            .next()
            .unwrap_or_else(|| DEFAULT_ADDRESS.to_owned())
            .parse()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let name = args.next().unwrap_or_else(|| "gmp".to_owned());
        let count = args.next().and_then(|n| n.parse().ok()).unwrap_or(3);
        let mut client = GreeterClient::new(Channel::connect(address).await?);
        let reply = client.say_hello(HelloRequest { name: name.clone(), count }).await.map_err(io::Error::other)?;
        println!("{}", reply.into_inner().message);
        let mut stream =
            client.say_hello_stream(HelloRequest { name, count }).await.map_err(io::Error::other)?.into_inner();
        while let Some(reply) = stream.message().await.map_err(io::Error::other)? {
            println!("{} (#{})", reply.message, reply.sequence);
        }
        return Ok(());
    }
    let address = first.unwrap_or_else(|| DEFAULT_ADDRESS.to_owned());
    let listener = TcpListener::bind(address.as_str()).await?;
    println!("listening on {}", listener.local_addr()?);
    serve(listener, tonic::service::Routes::new(GreeterServer::new(Greeter))).await
}
