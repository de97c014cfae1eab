//! The netpoller itself: `gmp::io::Async` over a pipe, deregistration on drop, goroutines parked
//! on I/O in an idle runtime, `notify` breaking a blocked wait, coop budget on always-ready I/O,
//! and sockets that outlive their runtime.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use futures::channel::oneshot;
use futures::io::{AsyncReadExt, AsyncWriteExt};
use gmp::io::Async;
use gmp::net::{TcpListener, TcpStream, UnixStream};

mod common;
use common::{runtime, within};

#[test]
fn async_over_a_pipe_carries_a_megabyte_past_a_full_pipe_buffer() {
    let rt = runtime(2);
    within(Duration::from_secs(60), "pipe", || {
        rt.block_on(async {
            let (reader, writer) = std::io::pipe().unwrap();
            let mut reader = Async::new(reader).unwrap();
            let mut writer = Async::new(writer).unwrap();
            const TOTAL: usize = 1 << 20; // far more than a pipe buffer (64 KiB on Linux)
            let write = gmp::spawn(async move {
                let chunk: Vec<u8> = (0..8192).map(|i| i as u8).collect();
                for _ in 0..TOTAL / chunk.len() {
                    writer.write_all(&chunk).await.unwrap();
                }
                // Dropping the writer closes the pipe: the reader sees end of file.
            });
            let mut data = Vec::new();
            reader.read_to_end(&mut data).await.unwrap();
            write.await.unwrap();
            assert_eq!(data.len(), TOTAL);
            assert!(data.chunks(8192).all(|chunk| chunk.iter().enumerate().all(|(i, &b)| b == i as u8)));
        })
    });
}

#[test]
fn read_with_and_write_with_retry_a_would_block_operation_until_it_succeeds() {
    let rt = runtime(1);
    within(Duration::from_secs(30), "read_with", || {
        rt.block_on(async {
            let (reader, writer) = std::io::pipe().unwrap();
            let reader = Async::new(reader).unwrap();
            let writer = Async::new(writer).unwrap();
            let read = gmp::spawn(async move {
                let mut buf = [0u8; 8];
                let n = reader.read_with(|mut r| r.read(&mut buf)).await.unwrap();
                buf[..n].to_vec()
            });
            // Let the reader park first (it sees WouldBlock), then write.
            gmp::yield_now().await;
            let n = writer.write_with(|mut w| w.write(b"late")).await.unwrap();
            assert_eq!(n, 4);
            assert_eq!(read.await.unwrap(), b"late");
            let std_writer: std::io::PipeWriter = writer.into_inner();
            drop(std_writer);
        })
    });
}

/// The inode of the socket or pipe behind `fd`, from its `/proc/self/fd` link.
fn inode_of(fd: RawFd) -> u64 {
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap();
    let link = link.to_string_lossy();
    let start = link.find('[').unwrap() + 1;
    link[start..link.len() - 1].parse().unwrap()
}

/// Inodes of every descriptor registered with any epoll instance of this process.
fn inodes_registered_with_epoll() -> Vec<u64> {
    let mut inodes = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(link) = std::fs::read_link(entry.path()) else { continue };
        if link.to_string_lossy() != "anon_inode:[eventpoll]" {
            continue;
        }
        let info = format!("/proc/self/fdinfo/{}", entry.file_name().to_string_lossy());
        let Ok(info) = std::fs::read_to_string(info) else { continue };
        for line in info.lines().filter(|line| line.starts_with("tfd:")) {
            if let Some(ino) = line.split_whitespace().find_map(|field| field.strip_prefix("ino:")) {
                inodes.push(u64::from_str_radix(ino, 16).unwrap());
            }
        }
    }
    inodes
}

#[test]
fn dropping_a_stream_or_listener_removes_its_descriptor_from_the_poller() {
    let rt = runtime(2);
    within(Duration::from_secs(30), "deregistration", || {
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let client = TcpStream::connect(addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();

            let (stream_inode, listener_inode) = (inode_of(client.as_raw_fd()), inode_of(listener.as_raw_fd()));
            assert!(inodes_registered_with_epoll().contains(&stream_inode));
            assert!(inodes_registered_with_epoll().contains(&listener_inode));

            // Keep duplicates open: the sockets stay alive, so only an explicit delete (not the
            // kernel's cleanup on close) takes them out of the poller.
            let _stream_dup = client.as_fd().try_clone_to_owned().unwrap();
            let _listener_dup = listener.as_fd().try_clone_to_owned().unwrap();
            drop(client);
            drop(listener);
            let registered = inodes_registered_with_epoll();
            assert!(!registered.contains(&stream_inode), "the dropped stream is still registered");
            assert!(!registered.contains(&listener_inode), "the dropped listener is still registered");

            // Traffic on the dropped stream's socket wakes nobody and breaks nothing.
            (&server).write_all(b"to nobody").await.unwrap();
            let (a, b) = UnixStream::pair().unwrap();
            (&a).write_all(b"x").await.unwrap();
            let mut buf = [0u8; 1];
            (&b).read_exact(&mut buf).await.unwrap();
        })
    });
}

#[test]
fn many_goroutines_parked_on_io_in_an_idle_runtime_wake_when_their_data_arrives() {
    const GOROUTINES: usize = 200;
    let rt = runtime(2);
    within(Duration::from_secs(60), "idle wakeups", || {
        rt.block_on(async {
            let mut peers = Vec::new();
            let mut readers = Vec::new();
            for i in 0..GOROUTINES {
                let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
                peers.push(theirs);
                let ours = UnixStream::from_std(ours).unwrap();
                readers.push(gmp::spawn(async move {
                    let mut buf = [0u8; 8];
                    (&ours).read_exact(&mut buf).await.unwrap();
                    assert_eq!(u64::from_le_bytes(buf), i as u64);
                }));
            }
            // Wait until every reader is parked in the netpoller ("IO wait" in a dump).
            loop {
                let parked = gmp::runtime::goroutines().iter().filter(|g| g.wait_reason.as_str() == "IO wait").count();
                if parked == GOROUTINES {
                    break;
                }
                gmp::yield_now().await;
            }
            // The runtime goes idle (the main future waits on a channel); a plain thread
            // writes to every peer a little later.
            let (done_tx, done_rx) = oneshot::channel();
            let writer = thread::spawn(move || {
                thread::sleep(Duration::from_millis(50));
                for (i, peer) in peers.iter_mut().enumerate() {
                    peer.write_all(&(i as u64).to_le_bytes()).unwrap();
                }
                done_tx.send(peers).unwrap();
            });
            let _peers = done_rx.await.unwrap();
            for reader in readers {
                reader.await.unwrap();
            }
            writer.join().unwrap();
        })
    });
}

#[test]
fn a_main_future_woken_from_another_thread_breaks_the_netpoll_wait() {
    // One P: M0 is the only M, and with a goroutine parked on I/O it blocks in the netpoller
    // when idle. Only `notify` can get it out to poll the main future.
    let rt = runtime(1);
    within(Duration::from_secs(30), "notify", || {
        rt.block_on(async {
            let (a, _b) = UnixStream::pair().unwrap();
            let parked = gmp::spawn(async move {
                let mut buf = [0u8; 1];
                let _ = (&a).read(&mut buf).await;
            });
            let (tx, rx) = oneshot::channel();
            let sender = thread::spawn(move || {
                thread::sleep(Duration::from_millis(100));
                tx.send(42).unwrap();
            });
            assert_eq!(rx.await.unwrap(), 42);
            sender.join().unwrap();
            parked.cancel().await;
        })
    });
}

#[test]
fn a_goroutine_whose_reads_never_block_still_lets_others_run() {
    // One P, and a reader that always finds its socket ready (the peer has closed, so every
    // read returns 0 at once): only the coop budget makes it yield to the stopper.
    let rt = runtime(1);
    within(Duration::from_secs(60), "coop on I/O", || {
        rt.block_on(async {
            let (ours, theirs) = UnixStream::pair().unwrap();
            drop(theirs);
            let stop = Arc::new(AtomicBool::new(false));
            let reads = Arc::new(AtomicUsize::new(0));
            let reader = gmp::spawn({
                let (stop, reads) = (stop.clone(), reads.clone());
                async move {
                    let mut buf = [0u8; 16];
                    while !stop.load(Ordering::Relaxed) {
                        assert_eq!((&ours).read(&mut buf).await.unwrap(), 0);
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
            let stopper = gmp::spawn({
                let reads = reads.clone();
                async move {
                    while reads.load(Ordering::Relaxed) == 0 {
                        gmp::yield_now().await;
                    }
                    stop.store(true, Ordering::Relaxed);
                }
            });
            stopper.await.unwrap();
            reader.await.unwrap();
            // The reader yields when its budget (128 operations a poll) is spent, and the
            // stopper runs next. (Without the budget, the reader would run on until sysmon
            // found its P stuck and moved the stopper to another thread.)
            let reads = reads.load(Ordering::Relaxed);
            assert!(reads <= 2 * 128, "the reader made {reads} reads before yielding");
        })
    });
}

#[test]
fn a_socket_that_outlives_its_runtime_errors_instead_of_hanging() {
    let rt = runtime(2);
    let (a, b) = rt.block_on(async { UnixStream::pair().unwrap() });
    drop(rt);
    within(Duration::from_secs(30), "I/O after shutdown", || {
        let mut buf = [0u8; 4];
        // Nothing to read: the read would park, but nobody polls a dead runtime's poller.
        let error = futures::executor::block_on((&a).read(&mut buf)).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Other, "{error:?}");
        assert!(error.to_string().contains("shut down"), "{error}");
        // What needs no waiting still works, and dropping is fine.
        futures::executor::block_on((&b).write_all(b"ok")).unwrap();
        drop((a, b));
    });
}
