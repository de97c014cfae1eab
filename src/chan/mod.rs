//! Go's channels for goroutines: [`bounded`] (with `bounded(0)` an unbuffered rendezvous) and
//! [`unbounded`], both many-producer many-consumer, with cloneable [`Sender`]s and
//! [`Receiver`]s.
//!
//! The semantics are Go's: a send waits while the buffer is full (on a rendezvous channel,
//! until a receiver takes the value); a receive waits while it is empty; after
//! [`close`](Sender::close) — or once every sender is gone — receivers drain what is buffered
//! and then fail with [`RecvError`], and sends fail with [`SendError`] (Go panics; here the
//! value comes back). Dropping every receiver closes the channel too, so sends fail.
//!
//! The channel is part of the scheduler: a send that finds a receiver parked hands the value
//! straight to it, and the woken receiver goes to the sending P's `runnext`, so it runs next on
//! the same thread (Go's `goready`). Goroutines parked on a channel show `chan receive`,
//! `chan send` or `select` in [`gmp::runtime::dump()`](crate::runtime::dump).
//!
//! # Examples
//!
//! ```
//! gmp::Runtime::new().unwrap().block_on(async {
//!     let (tx, rx) = gmp::chan::bounded(16);
//!     let producer = gmp::spawn(async move {
//!         for i in 0..100u64 {
//!             tx.send(i).await.unwrap();
//!         }
//!         // `tx` is dropped here: the channel closes once drained.
//!     });
//!     let mut sum = 0;
//!     while let Ok(i) = rx.recv().await {
//!         sum += i;
//!     }
//!     producer.await.unwrap();
//!     assert_eq!(sum, 4950);
//! });
//! ```
//!
//! # `select`
//!
//! Go's `select` statement is [`futures::select!`]: [`Recv`] and [`Send`] are
//! [`FusedFuture`](futures::future::FusedFuture)s and `Unpin`, so they go into it as they
//! are. The branch that completes first wins; the others are dropped, and dropping a channel
//! operation is safe: a send that lost the race did not send (its value is dropped with it), a
//! receive that lost it passes on any value it was handed. A goroutine parked in a `select!`
//! over several channel operations shows `select` in the dump.
//!
//! ```
//! use futures::select;
//!
//! gmp::Runtime::new().unwrap().block_on(async {
//!     let (numbers_tx, numbers) = gmp::chan::bounded::<u32>(1);
//!     let (quit_tx, quit) = gmp::chan::bounded::<()>(0);
//!     gmp::spawn(async move {
//!         for i in 0..3 {
//!             numbers_tx.send(i).await.unwrap();
//!         }
//!         quit_tx.send(()).await.unwrap();
//!     });
//!     let mut seen = Vec::new();
//!     loop {
//!         // Go: select { case n := <-numbers: ...; case <-quit: return }
//!         select! {
//!             n = numbers.recv() => match n {
//!                 Ok(n) => seen.push(n),
//!                 Err(_) => break, // closed and drained (Go: `n, ok := <-numbers`)
//!             },
//!             _ = quit.recv() => break,
//!         }
//!     }
//!     // Values may still be buffered when quit wins the race: drain them.
//!     while let Ok(n) = numbers.try_recv() {
//!         seen.push(n);
//!     }
//!     assert_eq!(seen, [0, 1, 2]);
//! });
//! ```
//!
//! A `default` case (Go's non-blocking select) is `select!`'s `default` branch, taken when no
//! other branch is ready on the first poll — or, for one operation, [`Sender::try_send`] /
//! [`Receiver::try_recv`]:
//!
//! ```
//! use futures::select;
//!
//! gmp::Runtime::new().unwrap().block_on(async {
//!     let (tx, rx) = gmp::chan::bounded::<u32>(1);
//!     // Go: select { case v := <-rx: ...; default: ... }
//!     let got = select! {
//!         v = rx.recv() => Some(v.unwrap()),
//!         default => None,
//!     };
//!     assert_eq!(got, None);
//!     tx.try_send(7).unwrap();
//!     assert_eq!(rx.try_recv(), Ok(7));
//! });
//! ```
//!
//! A send in a `select!` is `tx.send(v)`; its value is moved into the future when the
//! `select!` starts, so a send that loses the race drops its value (build it again, or keep a
//! clone, for the next round).

mod channel;
mod error;
mod receiver;
mod sender;

pub use error::{RecvError, SendError, TryRecvError, TrySendError};
pub use receiver::{Receiver, Recv};
pub use sender::{Send, Sender};

use crate::goroutine::{self, WaitReason};
use crate::loom::Arc;
use channel::Channel;

/// A channel with a buffer of `capacity` values. `bounded(0)` is unbuffered: each send waits
/// for a receiver to take its value, as Go's `make(chan T)`.
///
/// # Examples
///
/// ```
/// gmp::Runtime::new().unwrap().block_on(async {
///     let (tx, rx) = gmp::chan::bounded(2);
///     tx.send('a').await.unwrap();
///     tx.send('b').await.unwrap();
///     assert!(tx.try_send('c').unwrap_err().is_full());
///     assert_eq!(rx.recv().await, Ok('a'));
/// });
/// ```
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    channel(Some(capacity))
}

/// A channel whose buffer grows as needed: sends never wait.
///
/// # Examples
///
/// ```
/// let (tx, rx) = gmp::chan::unbounded();
/// for i in 0..10_000 {
///     tx.try_send(i).unwrap();
/// }
/// assert_eq!(rx.len(), 10_000);
/// ```
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    channel(None)
}

fn channel<T>(capacity: Option<usize>) -> (Sender<T>, Receiver<T>) {
    let channel = Arc::new(Channel::new(capacity));
    (Sender::new(channel.clone()), Receiver::new(channel))
}

/// A channel operation of the goroutine being polled is about to return `Pending`: record
/// `reason`, or `select` if another channel operation already parked in this poll (the
/// goroutine's reason is reset at the start of each poll).
fn record_parked(reason: WaitReason) {
    goroutine::with_current(|g| {
        if let Some(g) = g {
            let reason = match g.wait_reason() {
                WaitReason::ChanReceive | WaitReason::ChanSend | WaitReason::Select => WaitReason::Select,
                _ => reason,
            };
            g.set_wait_reason(reason);
        }
    });
}

/// A parked channel operation was dropped (say, the losing branch of a `select!` whose other
/// branch completed): the reason it recorded in this poll no longer holds.
fn forget_parked() {
    goroutine::with_current(|g| {
        if let Some(g) = g {
            if matches!(g.wait_reason(), WaitReason::ChanReceive | WaitReason::ChanSend) {
                g.set_wait_reason(WaitReason::Unknown);
            }
        }
    });
}
