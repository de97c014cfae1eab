//! gmp::chan: Go's channel semantics (rendezvous, close-then-drain, MPMC exactly once), the
//! futures `Stream`/`Sink` traits, cancel safety, `select!`, the scheduler's fast path and
//! what `dump()` shows for goroutines parked on channels.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex as StdMutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use common::{counting_waker, poll_once, runtime, within};
use futures::{select, select_biased, FutureExt, SinkExt, StreamExt};
use gmp::chan::{bounded, unbounded, RecvError, SendError, TryRecvError, TrySendError};
use gmp::runtime::{GoroutineState, WaitReason};

const LIMIT: Duration = Duration::from_secs(60);

/// Waits (yielding) until `done` holds, failing after 20 s.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(20), "{what}: not after 20 s");
        gmp::time::sleep(Duration::from_millis(1)).await;
    }
}

/// True once goroutine `id` is parked with `reason`.
fn parked_with(id: u64, reason: WaitReason) -> bool {
    gmp::runtime::goroutines()
        .iter()
        .any(|g| g.id == id && g.state == GoroutineState::Waiting && g.wait_reason == reason)
}

#[test]
fn an_unbuffered_send_does_not_complete_before_a_receive() {
    within(LIMIT, "rendezvous", || {
        runtime(2).block_on(async {
            let (tx, rx) = bounded::<u32>(0);
            let sent = Arc::new(AtomicBool::new(false));
            let sender = {
                let sent = sent.clone();
                gmp::spawn(async move {
                    tx.send(7).await.unwrap();
                    sent.store(true, SeqCst);
                })
            };
            eventually("the sender parks", || parked_with(sender.id(), WaitReason::ChanSend)).await;
            gmp::time::sleep(Duration::from_millis(20)).await;
            assert!(!sent.load(SeqCst), "an unbuffered send completed with no receiver");
            assert_eq!(rx.len(), 0, "a rendezvous channel buffers nothing");
            assert_eq!(rx.recv().await, Ok(7));
            sender.await.unwrap();
            assert!(sent.load(SeqCst));
        });
    });
}

#[test]
fn an_unbuffered_try_send_succeeds_only_with_a_receiver_parked() {
    within(LIMIT, "rendezvous try_send", || {
        runtime(2).block_on(async {
            let (tx, rx) = bounded::<u32>(0);
            assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
            let receiver = gmp::spawn(async move { rx.recv().await });
            eventually("the receiver parks", || parked_with(receiver.id(), WaitReason::ChanReceive)).await;
            tx.try_send(2).unwrap();
            assert_eq!(receiver.await.unwrap(), Ok(2));
        });
    });
}

#[test]
fn close_lets_receivers_drain_then_fails_sends_and_receives() {
    within(LIMIT, "close", || {
        runtime(2).block_on(async {
            let (tx, rx) = bounded(4);
            for i in 0..3 {
                tx.send(i).await.unwrap();
            }
            assert!(tx.close());
            assert!(tx.is_closed() && rx.is_closed());
            assert_eq!(tx.send(9).await, Err(SendError(9)));
            assert_eq!(tx.try_send(9), Err(TrySendError::Closed(9)));
            assert_eq!(rx.recv().await, Ok(0));
            assert_eq!(rx.try_recv(), Ok(1));
            assert_eq!(rx.recv().await, Ok(2));
            assert_eq!(rx.recv().await, Err(RecvError));
            assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
        });
    });
}

#[test]
fn close_wakes_parked_receivers_and_gives_parked_senders_their_values_back() {
    within(LIMIT, "close wakes", || {
        runtime(2).block_on(async {
            let (tx, rx) = bounded::<u32>(0);
            let receivers: Vec<_> = (0..3)
                .map(|_| {
                    let rx = rx.clone();
                    gmp::spawn(async move { rx.recv().await })
                })
                .collect();
            for r in &receivers {
                eventually("receivers park", || parked_with(r.id(), WaitReason::ChanReceive)).await;
            }
            rx.close();
            for r in receivers {
                assert_eq!(r.await.unwrap(), Err(RecvError));
            }

            let (tx2, rx2) = bounded::<String>(1);
            tx2.send("buffered".into()).await.unwrap();
            let sender = gmp::spawn(async move { tx2.send("parked".into()).await });
            eventually("the sender parks", || parked_with(sender.id(), WaitReason::ChanSend)).await;
            rx2.close();
            assert_eq!(sender.await.unwrap(), Err(SendError("parked".to_owned())));
            assert_eq!(rx2.recv().await.as_deref(), Ok("buffered"));
            assert_eq!(rx2.recv().await, Err(RecvError));
            drop(tx);
        });
    });
}

#[test]
fn dropping_every_sender_ends_receives_and_dropping_every_receiver_fails_sends() {
    within(LIMIT, "disconnect", || {
        runtime(2).block_on(async {
            let (tx, rx) = unbounded::<u8>();
            let tx2 = tx.clone();
            tx.try_send(1).unwrap();
            drop(tx);
            assert!(!rx.is_closed(), "one sender is left");
            drop(tx2);
            assert_eq!(rx.recv().await, Ok(1));
            assert_eq!(rx.recv().await, Err(RecvError));

            let (tx, rx) = bounded::<u8>(1);
            let rx2 = rx.clone();
            drop(rx);
            tx.send(1).await.unwrap();
            drop(rx2);
            assert_eq!(tx.send(2).await, Err(SendError(2)));
        });
    });
}

#[test]
fn four_senders_and_four_receivers_move_each_of_400k_values_exactly_once() {
    const PER_SENDER: u64 = 100_000;
    within(LIMIT, "4x4 mpmc", || {
        runtime(4).block_on(async {
            let (tx, rx) = bounded::<u64>(64);
            let senders: Vec<_> = (0..4u64)
                .map(|s| {
                    let tx = tx.clone();
                    gmp::spawn(async move {
                        for i in 0..PER_SENDER {
                            tx.send(s * PER_SENDER + i).await.unwrap();
                        }
                    })
                })
                .collect();
            drop(tx);
            let receivers: Vec<_> = (0..4)
                .map(|_| {
                    let rx = rx.clone();
                    gmp::spawn(async move {
                        let mut got = Vec::new();
                        while let Ok(v) = rx.recv().await {
                            got.push(v);
                        }
                        got
                    })
                })
                .collect();
            drop(rx);
            for s in senders {
                s.await.unwrap();
            }
            let mut all = Vec::new();
            for r in receivers {
                let got = r.await.unwrap();
                // Each sender's values arrive at any one receiver in the order they were sent.
                for s in 0..4 {
                    let mine: Vec<_> = got.iter().filter(|&&v| v / PER_SENDER == s).collect();
                    assert!(mine.windows(2).all(|w| w[0] < w[1]), "a sender's values were reordered");
                }
                all.extend(got);
            }
            all.sort_unstable();
            assert_eq!(all.len() as u64, 4 * PER_SENDER, "values lost or duplicated");
            assert!(all.iter().enumerate().all(|(i, &v)| i as u64 == v), "values lost or duplicated");
        });
    });
}

#[test]
fn unbounded_sends_never_wait() {
    let (tx, rx) = unbounded();
    for i in 0..10_000 {
        tx.try_send(i).unwrap();
    }
    assert_eq!(tx.capacity(), None);
    assert_eq!(rx.len(), 10_000);
    for i in 0..10_000 {
        assert_eq!(rx.try_recv(), Ok(i));
    }
}

#[test]
fn receiver_is_a_stream_and_sender_is_a_sink() {
    within(LIMIT, "stream and sink", || {
        runtime(2).block_on(async {
            let (mut tx, rx) = bounded::<u32>(2);
            let producer = gmp::spawn(async move {
                tx.send_all(&mut futures::stream::iter((0..100).map(Ok))).await.unwrap();
                SinkExt::send(&mut tx, 100).await.unwrap();
                SinkExt::close(&mut tx).await.unwrap(); // flushes; the channel closes when `tx` drops
            });
            let got: Vec<u32> = rx.map(|v| v * 2).collect().await;
            producer.await.unwrap();
            assert_eq!(got, (0..=100).map(|v| v * 2).collect::<Vec<_>>());

            // A stream forwarded into a rendezvous sink.
            let (tx, rx) = bounded::<u32>(0);
            let forward = gmp::spawn(futures::stream::iter(0..50).map(Ok).forward(tx));
            let got: Vec<u32> = rx.collect().await;
            forward.await.unwrap().unwrap();
            assert_eq!(got, (0..50).collect::<Vec<_>>());
        });
    });
}

#[test]
fn a_sink_send_on_a_closed_channel_gives_the_value_back() {
    within(LIMIT, "sink closed", || {
        runtime(1).block_on(async {
            let (mut tx, rx) = bounded::<u32>(1);
            drop(rx);
            assert_eq!(SinkExt::send(&mut tx, 5).await, Err(SendError(5)));
        });
    });
}

/// A value that counts its drops per id.
struct Token {
    id: usize,
    drops: Arc<Vec<AtomicUsize>>,
}

impl Drop for Token {
    fn drop(&mut self) {
        self.drops[self.id].fetch_add(1, SeqCst);
    }
}

fn drop_counters(n: usize) -> Arc<Vec<AtomicUsize>> {
    Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect())
}

#[test]
fn a_cancelled_blocked_send_drops_its_value_once_and_sends_nothing() {
    let drops = drop_counters(2);
    let (tx, rx) = bounded::<Token>(1);
    tx.try_send(Token { id: 0, drops: drops.clone() }).unwrap();
    let (counter, waker) = counting_waker();
    let mut send = tx.send(Token { id: 1, drops: drops.clone() });
    assert!(poll_once(&mut send, &waker).is_pending(), "the buffer is full");
    drop(send);
    assert_eq!(drops[1].load(SeqCst), 1, "the unsent value is dropped once, with its future");
    assert_eq!(rx.len(), 1);
    let first = rx.try_recv().unwrap();
    assert_eq!(first.id, 0);
    assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty), "the cancelled value was sent");
    assert_eq!(counter.0.load(SeqCst), 0, "nobody woke the cancelled send");
    drop(first);
    assert_eq!(drops[0].load(SeqCst), 1);
}

#[test]
fn a_send_taken_by_a_receiver_before_the_future_is_dropped_counts_as_sent() {
    let drops = drop_counters(1);
    let (tx, rx) = bounded::<Token>(0);
    let (counter, waker) = counting_waker();
    let mut send = tx.send(Token { id: 0, drops: drops.clone() });
    assert!(poll_once(&mut send, &waker).is_pending());
    let got = rx.try_recv().unwrap(); // takes the parked sender's value
    assert_eq!(counter.0.load(SeqCst), 1, "the sender was woken");
    drop(send); // never polled again
    assert_eq!(drops[0].load(SeqCst), 0, "the value lives on in the receiver");
    drop(got);
    assert_eq!(drops[0].load(SeqCst), 1);
}

#[test]
fn a_cancelled_receive_that_was_handed_a_value_passes_it_on() {
    let (tx, rx) = bounded::<u32>(0);
    let (_, waker) = counting_waker();
    let mut first = rx.recv();
    let mut second = rx.recv();
    assert!(poll_once(&mut first, &waker).is_pending());
    assert!(poll_once(&mut second, &waker).is_pending());
    tx.try_send(1).unwrap(); // handed to `first`, the first in line
    drop(first); // ...which is dropped before it looks: `second` gets the value
    assert_eq!(poll_once(&mut second, &waker), Poll::Ready(Ok(1)));

    let mut third = rx.recv();
    assert!(poll_once(&mut third, &waker).is_pending());
    tx.try_send(2).unwrap();
    drop(third); // nobody else waits: the value goes back to the channel
    assert_eq!(rx.try_recv(), Ok(2));
}

#[test]
fn a_receiver_dropped_while_its_stream_was_handed_a_value_passes_it_on() {
    let (tx, rx) = bounded::<u32>(0);
    let mut stream = rx.clone();
    let (_, waker) = counting_waker();
    assert!(poll_once(&mut stream.next(), &waker).is_pending()); // the stream parks
    tx.try_send(5).unwrap(); // handed to the stream
    drop(stream); // never polled again
    assert_eq!(rx.try_recv(), Ok(5));
}

#[test]
fn a_closed_channel_is_not_drained_while_a_handed_value_may_still_come_back() {
    // Found by the loom model: F and P park, a send hands its value to F, the last sender
    // goes (close), and P looks before F is dropped. P must wait, not fail: F passes it on.
    let (tx, rx) = bounded::<u32>(0);
    let (_, waker) = counting_waker();
    let mut f = rx.recv();
    let mut p = rx.recv();
    assert!(poll_once(&mut f, &waker).is_pending());
    assert!(poll_once(&mut p, &waker).is_pending());
    tx.try_send(1).unwrap(); // handed to F
    drop(tx); // closed
    assert!(poll_once(&mut p, &waker).is_pending(), "P failed while F still held a value");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    drop(f); // passes the value to P
    assert_eq!(poll_once(&mut p, &waker), Poll::Ready(Ok(1)));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));

    // If F collects instead, receivers parked meanwhile learn the channel is drained.
    let (tx, rx) = bounded::<u32>(0);
    let (counter, waker) = counting_waker();
    let mut f = rx.recv();
    assert!(poll_once(&mut f, &waker).is_pending());
    tx.try_send(2).unwrap();
    drop(tx);
    let mut p = rx.recv();
    assert!(poll_once(&mut p, &waker).is_pending());
    let wakes = counter.0.load(SeqCst);
    assert_eq!(poll_once(&mut f, &waker), Poll::Ready(Ok(2)));
    assert!(counter.0.load(SeqCst) > wakes, "P was not woken when the channel drained");
    assert_eq!(poll_once(&mut p, &waker), Poll::Ready(Err(RecvError)));
}

#[test]
fn racing_cancellations_of_sends_and_receives_lose_and_duplicate_nothing() {
    const VALUES: usize = 20_000;
    within(LIMIT, "cancellation race", || {
        runtime(2).block_on(async {
            let drops = drop_counters(VALUES);
            let received = Arc::new(StdMutex::new(Vec::new()));
            let (tx, rx) = bounded::<Token>(0);
            let sender = {
                let drops = drops.clone();
                gmp::spawn(async move {
                    let mut sent = Vec::new();
                    for id in 0..VALUES {
                        let mut send = tx.send(Token { id, drops: drops.clone() });
                        if id % 2 == 1 {
                            send.await.unwrap(); // every other send is not raced
                            sent.push(id);
                            continue;
                        }
                        // Race the send against a yield.
                        select_biased! {
                            result = send => {
                                result.unwrap();
                                sent.push(id);
                            }
                            _ = gmp::yield_now().fuse() => {}
                        }
                    }
                    sent
                })
            };
            let receivers: Vec<_> = (0..2)
                .map(|_| {
                    let (rx, received) = (rx.clone(), received.clone());
                    gmp::spawn(async move {
                        for round in 0.. {
                            let mut recv = rx.recv();
                            let result = if round % 3 == 0 {
                                recv.await
                            } else {
                                // Race the receive against a yield.
                                select_biased! {
                                    result = recv => result,
                                    _ = gmp::yield_now().fuse() => continue,
                                }
                            };
                            match result {
                                Ok(token) => received.lock().unwrap().push(token.id),
                                Err(RecvError) => break,
                            }
                        }
                    })
                })
                .collect();
            drop(rx);
            let sent = sender.await.unwrap();
            for r in receivers {
                r.await.unwrap();
            }
            let received = received.lock().unwrap().clone();
            let unique: HashSet<usize> = received.iter().copied().collect();
            assert_eq!(unique.len(), received.len(), "a value was received twice");
            let lost: Vec<_> = sent.iter().filter(|id| !unique.contains(id)).take(10).collect();
            assert!(lost.is_empty(), "sends completed but never received: {lost:?}");
            // A send dropped just after a receiver took its value was sent (the sender cannot
            // learn it any more); everything else the receivers got must have been offered.
            assert!(received.len() >= VALUES / 2, "only {} received", received.len());
            for (id, count) in drops.iter().enumerate() {
                assert_eq!(count.load(SeqCst), 1, "value {id} dropped {} times", count.load(SeqCst));
            }
        });
    });
}

#[test]
fn select_takes_whichever_channel_is_ready_and_default_when_none_is() {
    within(LIMIT, "select", || {
        runtime(2).block_on(async {
            let (a_tx, a) = bounded::<u32>(1);
            let (b_tx, b) = bounded::<u32>(1);
            let none = select! {
                v = a.recv() => Some(v),
                v = b.recv() => Some(v),
                default => None,
            };
            assert_eq!(none, None);
            b_tx.send(2).await.unwrap();
            let got = select! {
                v = a.recv() => ("a", v.unwrap()),
                v = b.recv() => ("b", v.unwrap()),
            };
            assert_eq!(got, ("b", 2));
            // The losing branch's receive did not eat a value.
            a_tx.send(1).await.unwrap();
            assert_eq!(a.try_recv(), Ok(1));
            // A send in a select.
            let sent = select! {
                r = a_tx.send(3) => r.is_ok(),
                default => false,
            };
            assert!(sent);
            assert_eq!(a.recv().await, Ok(3));
        });
    });
}

#[test]
fn a_woken_receiver_runs_next_on_the_senders_processor() {
    // One P: the sender's P. B parks on a receive; A spawns C (C takes runnext), then sends to
    // B. If the wake put B in runnext (displacing C to the ring's tail), B runs before C.
    within(LIMIT, "runnext", || {
        runtime(1).block_on(async {
            let order = Arc::new(StdMutex::new(Vec::new()));
            let (tx, rx) = bounded::<()>(0);
            let b = {
                let order = order.clone();
                gmp::spawn(async move {
                    rx.recv().await.unwrap();
                    order.lock().unwrap().push("B");
                })
            };
            eventually("B parks", || parked_with(b.id(), WaitReason::ChanReceive)).await;
            let a = {
                let order = order.clone();
                gmp::spawn(async move {
                    let c = gmp::spawn(async move { order.lock().unwrap().push("C") });
                    tx.try_send(()).unwrap();
                    drop(c);
                })
            };
            a.await.unwrap();
            b.await.unwrap();
            eventually("C runs", || order.lock().unwrap().len() == 2).await;
            assert_eq!(*order.lock().unwrap(), ["B", "C"]);
        });
    });
}

#[test]
fn dump_shows_goroutines_parked_on_receive_send_select_and_a_mutex() {
    within(LIMIT, "dump", || {
        runtime(2).block_on(async {
            let (_empty_tx, empty) = bounded::<u32>(1);
            let (full_tx, _full_rx) = bounded::<u32>(1);
            full_tx.try_send(0).unwrap();
            let (_other_tx, other) = bounded::<u32>(1);
            let mutex = Arc::new(gmp::sync::Mutex::new(0));
            let held = mutex.lock().await;

            let receiver = {
                let empty = empty.clone();
                gmp::spawn(async move { empty.recv().await })
            };
            let sender = gmp::spawn(async move { full_tx.send(1).await });
            let selector = gmp::spawn(async move {
                select! {
                    v = empty.recv() => v,
                    v = other.recv() => v,
                }
            });
            let locker = {
                let mutex = mutex.clone();
                gmp::spawn(async move { *mutex.lock().await += 1 })
            };
            let expected = [
                (receiver.id(), WaitReason::ChanReceive, "chan receive"),
                (sender.id(), WaitReason::ChanSend, "chan send"),
                (selector.id(), WaitReason::Select, "select"),
                (locker.id(), WaitReason::MutexLock, "sync.Mutex.Lock"),
            ];
            for (id, reason, _) in expected {
                eventually(&format!("goroutine {id} parks with {reason:?}"), || parked_with(id, reason)).await;
            }
            let dump = gmp::runtime::dump();
            for (id, _, text) in expected {
                assert!(dump.contains(&format!("goroutine {id} [{text}]:")), "no `{text}` for {id} in:\n{dump}");
            }
            drop(held);
            locker.await.unwrap();
            assert_eq!(*mutex.lock().await, 1);
            // The other goroutines stay parked; dropping the runtime cancels them.
        });
    });
}

#[test]
fn a_select_whose_other_branch_won_does_not_leave_a_stale_reason() {
    within(LIMIT, "stale reason", || {
        runtime(2).block_on(async {
            let (a_tx, a) = bounded::<u32>(1);
            let (_b_tx, b) = bounded::<u32>(1);
            let (go_tx, go) = futures::channel::oneshot::channel::<()>();
            let g = gmp::spawn(async move {
                // `b` parks, then `a` is ready: the select completes in this poll and drops
                // the parked receive, whose reason must not stick.
                a_tx.try_send(1).unwrap();
                let v = select_biased! {
                    v = b.recv() => v,
                    v = a.recv() => v,
                };
                assert_eq!(v, Ok(1));
                go.await.unwrap(); // a future gmp knows nothing about: no reason
            });
            eventually("g parks on the oneshot", || {
                gmp::runtime::goroutines().iter().any(|r| {
                    r.id == g.id() && r.state == GoroutineState::Waiting && r.wait_reason == WaitReason::Unknown
                })
            })
            .await;
            go_tx.send(()).unwrap();
            g.await.unwrap();
        });
    });
}

#[test]
fn values_sent_from_outside_the_runtime_reach_a_parked_goroutine() {
    within(LIMIT, "outside sender", || {
        let rt = runtime(2);
        let (tx, rx) = bounded::<u32>(4);
        let consumer = rt.spawn(async move {
            let mut seen = HashSet::new();
            while let Ok(v) = rx.recv().await {
                seen.insert(v);
            }
            seen.len()
        });
        let thread = std::thread::spawn(move || {
            for i in 0..1000 {
                loop {
                    match tx.try_send(i) {
                        Ok(()) => break,
                        Err(TrySendError::Full(_)) => std::thread::yield_now(),
                        Err(TrySendError::Closed(_)) => panic!("closed"),
                    }
                }
            }
        });
        thread.join().unwrap();
        assert_eq!(rt.block_on(consumer).unwrap(), 1000);
    });
}
