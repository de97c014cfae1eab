//! `examples/grpc.rs` (tonic's `Greeter` over hyper's HTTP/2 on gmp) against its client: the
//! unary call answers, the server stream delivers every message in order, errors arrive as
//! gRPC statuses, and many calls share one HTTP/2 connection concurrently.

#[path = "../examples/grpc.rs"]
#[allow(dead_code)]
mod grpc;

use std::net::SocketAddr;
use std::time::Duration;

use gmp::net::TcpListener;
use gmp::time::timeout;
use grpc::{Channel, Greeter, GreeterClient, GreeterServer, HelloRequest};

const LIMIT: Duration = Duration::from_secs(30);

async fn start() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    gmp::spawn(grpc::serve(listener, tonic::service::Routes::new(GreeterServer::new(Greeter))));
    address
}

async fn client(address: SocketAddr) -> GreeterClient {
    GreeterClient::new(Channel::connect(address).await.unwrap())
}

#[test]
fn the_unary_call_answers() {
    gmp::Runtime::new().unwrap().block_on(async {
        let mut client = client(start().await).await;
        let reply = client.say_hello(HelloRequest { name: "gmp".into(), count: 0 }).await.unwrap().into_inner();
        assert_eq!(reply.message, "Hello, gmp!");
    });
}

#[test]
fn the_server_stream_delivers_every_message_in_order() {
    gmp::Runtime::new().unwrap().block_on(async {
        let mut client = client(start().await).await;
        timeout(LIMIT, async {
            for count in [0u32, 1, 10_000] {
                let mut stream =
                    client.say_hello_stream(HelloRequest { name: "stream".into(), count }).await.unwrap().into_inner();
                let mut next = 0;
                while let Some(reply) = stream.message().await.unwrap() {
                    assert_eq!(reply.sequence, next, "replies out of order");
                    assert_eq!(reply.message, format!("Hello, stream! ({next})"));
                    next += 1;
                }
                assert_eq!(next, count, "every message arrived, then the stream ended");
            }
        })
        .await
        .expect("the streams finished within 30 s");
    });
}

#[test]
fn a_refused_request_is_a_grpc_status() {
    gmp::Runtime::new().unwrap().block_on(async {
        let mut client = client(start().await).await;
        let status = client
            .say_hello_stream(HelloRequest { name: "too many".into(), count: grpc::MAX_STREAM + 1 })
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().contains("over the limit"), "{}", status.message());
        // The connection is still good.
        assert_eq!(client.say_hello(HelloRequest::default()).await.unwrap().into_inner().message, "Hello, !");
    });
}

#[test]
fn concurrent_calls_share_one_connection() {
    gmp::Runtime::new().unwrap().block_on(async {
        let client = client(start().await).await;
        let calls: Vec<_> = (0..100)
            .map(|i| {
                let mut client = client.clone();
                gmp::spawn(async move {
                    let name = format!("caller {i}");
                    let reply = client.say_hello(HelloRequest { name: name.clone(), count: 0 }).await.unwrap();
                    assert_eq!(reply.into_inner().message, format!("Hello, {name}!"));
                    let mut stream =
                        client.say_hello_stream(HelloRequest { name, count: 20 }).await.unwrap().into_inner();
                    let mut sequences = Vec::new();
                    while let Some(reply) = stream.message().await.unwrap() {
                        sequences.push(reply.sequence);
                    }
                    sequences
                })
            })
            .collect();
        for call in calls {
            let sequences = timeout(LIMIT, call).await.expect("each call within 30 s").unwrap();
            assert_eq!(sequences, (0..20).collect::<Vec<_>>());
        }
    });
}
