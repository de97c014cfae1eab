//! gmp::chan's hand-off and cancellation protocol (`chan/channel.rs`) under loom: values are
//! handed to parked receivers, taken from parked senders, passed on by cancelled receives and
//! dropped by cancelled sends, and each value ends up in exactly one place. The models run the
//! real channel on loom's mutex and atomics, with `loom::future::block_on` parking a model
//! thread until its waker fires, so a lost wake-up shows as a deadlock.
#![cfg(loom)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use gmp::chan::bounded;
use loom::future::block_on;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

/// A value that counts its drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Polls `future` once with a waker that does nothing.
fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

/// A rendezvous send and a receive on two threads: the value is handed over exactly once and
/// both sides complete (no lost wake-up, whichever parks first).
#[test]
fn a_rendezvous_hands_the_value_over_once() {
    loom_tests::model(|| {
        let (tx, rx) = bounded::<u32>(0);
        let receiver = thread::spawn(move || block_on(rx.recv()));
        block_on(tx.send(7)).unwrap();
        assert_eq!(receiver.join().unwrap(), Ok(7));
    });
}

/// A send is polled once (it may park) and dropped while a receiver waits on another thread;
/// then the last sender goes. The value is either received or dropped by the cancelled send,
/// exactly once, and a send that completed was received.
#[test]
fn a_cancelled_send_is_either_received_or_dropped_exactly_once() {
    loom_tests::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = bounded::<Counted>(0);
        let receiver = thread::spawn(move || block_on(rx.recv()).map(drop).is_ok());

        let completed = {
            let mut send = pin!(tx.send(Counted(drops.clone())));
            matches!(poll_once(send.as_mut()), Poll::Ready(Ok(())))
        }; // dropped here, maybe still parked
        drop(tx); // closes: the receiver wakes if nothing was sent

        let received = receiver.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1, "the value was dropped {} times", drops.load(SeqCst));
        if completed {
            assert!(received, "a completed send was not received");
        }
    });
}

/// Two receivers park; a send hands its value to the first, which is dropped before it looks.
/// The value must reach the other receiver (or the buffer it drains), never vanish.
#[test]
fn a_cancelled_receive_passes_a_handed_value_on() {
    loom_tests::model(|| {
        let (tx, rx) = bounded::<u32>(0);
        let rx2 = rx.clone();
        let patient = thread::spawn(move || block_on(rx2.recv()));
        let sender = thread::spawn(move || block_on(tx.send(1)).is_ok());

        let first = {
            let mut recv = pin!(rx.recv());
            let first = poll_once(recv.as_mut());
            // Let the sender run between the poll and the drop.
            thread::yield_now();
            first
        }; // dropped here: a value handed to it meanwhile is passed on

        let sent = sender.join().unwrap();
        drop(rx); // the patient receiver keeps the channel open
        let second = patient.join().unwrap();
        let got: Vec<u32> = [first, Poll::Ready(second)]
            .into_iter()
            .filter_map(|poll| match poll {
                Poll::Ready(Ok(value)) => Some(value),
                _ => None,
            })
            .collect();
        assert!(sent, "the send failed");
        assert_eq!(got, [1], "the value must be received exactly once");
    });
}

/// A one-slot buffer, two senders and a receiver that drains until close: every value arrives
/// once; senders parked on the full buffer get room as the receiver takes values.
#[test]
fn two_senders_through_a_one_slot_buffer_deliver_each_value_once() {
    loom_tests::model_with_preemptions_capped_at(2, || {
        let (tx, rx) = bounded::<u32>(1);
        let tx2 = tx.clone();
        let first = thread::spawn(move || block_on(tx.send(1)).unwrap());
        let second = thread::spawn(move || block_on(tx2.send(2)).unwrap());
        let mut got = Vec::new();
        while let Ok(value) = block_on(rx.recv()) {
            got.push(value);
        }
        first.join().unwrap();
        second.join().unwrap();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
    });
}
