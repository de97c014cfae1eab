//! UDP through the netpoller.

use std::io::ErrorKind;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use gmp::net::UdpSocket;

mod common;
use common::within;

fn runtime() -> gmp::Runtime {
    gmp::Builder::new().maxprocs(2).build().unwrap()
}

#[test]
fn a_datagram_sent_to_a_socket_comes_back_from_its_echo_goroutine() {
    let rt = runtime();
    within(Duration::from_secs(30), "UDP round trip", || {
        rt.block_on(async {
            let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let server_addr = server.local_addr().unwrap();
            let echo = gmp::spawn(async move {
                let mut buf = [0u8; 1500];
                for _ in 0..100 {
                    let (n, from) = server.recv_from(&mut buf).await.unwrap();
                    server.send_to(&buf[..n], from).await.unwrap();
                }
            });
            let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            client.connect(server_addr).await.unwrap();
            assert_eq!(client.peer_addr().unwrap(), server_addr);
            let mut buf = [0u8; 1500];
            for i in 0..100u32 {
                let message = i.to_be_bytes();
                assert_eq!(client.send(&message).await.unwrap(), 4);
                let n = client.recv(&mut buf).await.unwrap();
                assert_eq!(&buf[..n], &message);
            }
            echo.await.unwrap();
        })
    });
}

#[test]
fn a_receiver_parked_before_the_datagram_is_sent_wakes_for_it() {
    let rt = runtime();
    within(Duration::from_secs(30), "parked receiver", || {
        rt.block_on(async {
            let receiver = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
            let addr = receiver.local_addr().unwrap();
            let waiting = gmp::spawn({
                let receiver = receiver.clone();
                async move {
                    let mut buf = [0u8; 64];
                    let (n, _) = receiver.recv_from(&mut buf).await.unwrap();
                    buf[..n].to_vec()
                }
            });
            // Send from a plain thread after the goroutine has had time to park.
            let sender = thread::spawn(move || {
                thread::sleep(Duration::from_millis(50));
                let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                socket.send_to(b"late", addr).unwrap();
            });
            assert_eq!(waiting.await.unwrap(), b"late");
            sender.join().unwrap();
        })
    });
}

#[test]
fn a_udp_socket_converts_to_and_from_std() {
    let rt = runtime();
    rt.block_on(async {
        let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = std_socket.local_addr().unwrap();
        let socket = UdpSocket::try_from(std_socket).unwrap();
        assert_eq!(socket.local_addr().unwrap(), addr);
        let back = std::net::UdpSocket::try_from(socket).unwrap();
        assert_eq!(back.local_addr().unwrap(), addr);
    });
}

#[test]
fn sending_to_a_closed_port_on_a_connected_socket_reports_refused_on_a_later_call() {
    let rt = runtime();
    within(Duration::from_secs(30), "ICMP refused", || {
        rt.block_on(async {
            let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            socket.connect(("127.0.0.1", port)).await.unwrap();
            socket.send(b"anyone?").await.unwrap();
            // The ICMP port-unreachable arrives as a pending socket error: the next receive
            // returns it (as an error, not a panic), as with std.
            let mut buf = [0u8; 16];
            let error = socket.recv(&mut buf).await.unwrap_err();
            assert_eq!(error.kind(), ErrorKind::ConnectionRefused, "{error:?}");
        })
    });
}
