//! The shared state of one channel (Go's `hchan`) and the operations both ends run on it.
//!
//! # Design
//!
//! One mutex guards the buffer, the `closed` flag and two FIFO queues of parked goroutines
//! (Go's `recvq` and `sendq`, a [`WaiterQueue`] each). Every operation is a short critical
//! section; wakers are woken after the lock is released. The invariants, true whenever the
//! lock is free:
//!
//! - receivers wait only while the buffer is empty;
//! - senders wait only while the buffer is full (`len >= capacity`; a rendezvous channel has
//!   capacity 0, so its senders wait until a receiver comes) and no receiver waits;
//! - a parked sender's value lives in its waiter slot until a receiver takes it.
//!
//! **Hand-off** (Go's `send`/`recv` on a parked peer): a send that finds a parked receiver
//! puts the value straight into that receiver's slot and wakes it; a receive that finds a
//! parked sender takes the buffer's head and moves the sender's value into the buffer's tail
//! (or, with no buffer, takes the sender's value itself) and wakes the sender. A goroutine
//! woken by a running goroutine goes to that P's `runnext` (the scheduler's rule), so a woken
//! receiver runs next on the sender's P, as with Go's `goready`.
//!
//! **Cancel safety.** Only the waiter frees its slot, so a dropped future can always tell what
//! happened to it:
//! - a send future dropped while parked finds its value still in its slot (not sent: the value
//!   is dropped, once) or gone (a receiver took it: the send happened);
//! - a receive future dropped after a value was handed to it passes the value on, to the next
//!   parked receiver or back to the buffer's head, so nothing is lost. The buffer may then hold
//!   one value beyond the capacity (on a rendezvous channel: one value at all) for a moment;
//!   receivers take it first, senders never add to a buffer at or over capacity. `handed`
//!   counts values handed over and not yet collected: a closed channel counts as drained only
//!   when it is zero, else a receiver could fail while a cancelled peer is about to pass a
//!   value back (the loom model `a_cancelled_receive_passes_a_handed_value_on` found that).
//!
//! **Close** (explicit, or when the last sender or the last receiver goes): every parked
//! receiver is woken to find the buffer empty and fail, every parked sender gets its value back
//! in a `SendError`. Receivers still drain what the buffer holds, then fail, as in Go.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use crate::chan::error::{RecvError, SendError, TryRecvError, TrySendError};
use crate::goroutine::WaitReason;
use crate::loom::{AtomicUsize, Mutex, MutexGuard, Ordering};
use crate::sync::waiter_queue::{WaiterQueue, WakeList};

/// One channel, shared by every `Sender` and `Receiver` of it.
pub(crate) struct Channel<T> {
    state: Mutex<State<T>>,
    /// `usize::MAX` for an unbounded channel.
    capacity: usize,
    pub(crate) senders: AtomicUsize,
    pub(crate) receivers: AtomicUsize,
}

struct State<T> {
    buffer: VecDeque<T>,
    closed: bool,
    /// Parked receivers; the data is the value handed to one (`None` until then, and when it
    /// was woken by a close).
    receivers: WaiterQueue<Option<T>>,
    /// Parked senders; the data is the value offered (`None` once a receiver took it).
    senders: WaiterQueue<Option<T>>,
    /// Values handed to receivers that have not collected them yet. While one is in flight a
    /// closed channel is not yet drained: its receiver may be dropped and pass it on.
    handed: usize,
}

impl<T> Channel<T> {
    pub(crate) fn new(capacity: Option<usize>) -> Self {
        let buffer = match capacity {
            Some(capacity) => VecDeque::with_capacity(capacity.min(4096)),
            None => VecDeque::new(),
        };
        Self {
            state: Mutex::new(State {
                buffer,
                closed: false,
                receivers: WaiterQueue::new(),
                senders: WaiterQueue::new(),
                handed: 0,
            }),
            capacity: capacity.unwrap_or(usize::MAX),
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
        }
    }

    #[inline]
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        crate::loom::lock(&self.state)
    }

    pub(crate) fn capacity(&self) -> Option<usize> {
        (self.capacity != usize::MAX).then_some(self.capacity)
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().buffer.len()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Closes the channel; true if this call closed it.
    pub(crate) fn close(&self) -> bool {
        let mut state = self.lock();
        if state.closed {
            return false;
        }
        state.closed = true;
        // Receivers wake with nothing handed over and find the channel closed; senders wake
        // with their values still in their slots.
        let receivers = state.receivers.notify_all(|_| {});
        let senders = state.senders.notify_all(|_| {});
        drop(state);
        receivers.into_iter().chain(senders).for_each(Waker::wake);
        true
    }

    /// Go's `chansend` without blocking.
    #[inline]
    pub(crate) fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut state = self.lock();
        match self.send_locked(&mut state, value) {
            Ok(waker) => {
                drop(state);
                if let Some(waker) = waker {
                    waker.wake();
                }
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    /// Delivers `value` if it can; returns the waker of a receiver it was handed to.
    #[inline]
    fn send_locked(&self, state: &mut State<T>, value: T) -> Result<Option<Waker>, TrySendError<T>> {
        if state.closed {
            return Err(TrySendError::Closed(value));
        }
        if let Some((key, waker)) = state.receivers.pop_front() {
            *state.receivers.data_mut(key) = Some(value);
            state.handed += 1;
            return Ok(waker);
        }
        if state.buffer.len() < self.capacity {
            state.buffer.push_back(value);
            return Ok(None);
        }
        Err(TrySendError::Full(value))
    }

    /// Go's `chanrecv` without blocking.
    #[inline]
    pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut state = self.lock();
        let mut wake = None;
        let result = self.recv_locked(&mut state, &mut wake);
        drop(state);
        if let Some(waker) = wake {
            waker.wake();
        }
        result
    }

    /// Takes a value if there is one; `wake` gets the waker of a sender it unblocked.
    #[inline]
    fn recv_locked(&self, state: &mut State<T>, wake: &mut Option<Waker>) -> Result<T, TryRecvError> {
        if let Some(value) = state.buffer.pop_front() {
            if state.buffer.len() < self.capacity {
                // A parked sender's value moves into the slot just freed.
                if let Some((key, waker)) = state.senders.pop_front() {
                    let offered = state.senders.data_mut(key).take();
                    state.buffer.extend(offered);
                    *wake = waker;
                }
            }
            return Ok(value);
        }
        if let Some((key, waker)) = state.senders.pop_front() {
            // No buffer (rendezvous): take the parked sender's value itself.
            let value = state.senders.data_mut(key).take().expect("gmp: a parked sender without a value");
            *wake = waker;
            return Ok(value);
        }
        if state.closed && state.handed == 0 {
            Err(TryRecvError::Closed)
        } else {
            Err(TryRecvError::Empty)
        }
    }

    /// Polls a send whose state is `value` (the value while not parked) and `key` (its waiter
    /// slot while parked).
    pub(crate) fn poll_send(
        &self,
        value: &mut Option<T>,
        key: &mut Option<usize>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), SendError<T>>> {
        let mut state = self.lock();
        if let Some(parked) = *key {
            if !state.senders.is_notified(parked) {
                state.senders.update_waker(parked, cx.waker());
                drop(state);
                super::record_parked(WaitReason::ChanSend);
                return Poll::Pending;
            }
            *key = None;
            return Poll::Ready(match state.senders.remove(parked).0 {
                None => Ok(()),                       // a receiver took it
                Some(value) => Err(SendError(value)), // woken by close
            });
        }
        let Some(offered) = value.take() else {
            return Poll::Ready(Ok(())); // polled after completion: nothing to send
        };
        match self.send_locked(&mut state, offered) {
            Ok(waker) => {
                drop(state);
                if let Some(waker) = waker {
                    waker.wake();
                }
                Poll::Ready(Ok(()))
            }
            Err(TrySendError::Closed(value)) => Poll::Ready(Err(SendError(value))),
            Err(TrySendError::Full(offered)) => {
                *key = Some(state.senders.push(cx.waker(), Some(offered)));
                drop(state);
                super::record_parked(WaitReason::ChanSend);
                Poll::Pending
            }
        }
    }

    /// A send future is dropped: if it is parked, its value is either still in its slot (it
    /// was not sent; returned here, so the caller drops it) or was taken (it was sent).
    pub(crate) fn cancel_send(&self, key: &mut Option<usize>) -> Option<T> {
        let parked = key.take()?;
        let (value, notified) = self.lock().senders.remove(parked);
        if !notified {
            super::forget_parked();
        }
        value
    }

    /// Polls a receive whose waiter slot (while parked) is `key`.
    pub(crate) fn poll_recv(&self, key: &mut Option<usize>, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        let mut state = self.lock();
        if let Some(parked) = *key {
            if !state.receivers.is_notified(parked) {
                state.receivers.update_waker(parked, cx.waker());
                drop(state);
                super::record_parked(WaitReason::ChanReceive);
                return Poll::Pending;
            }
            *key = None;
            if let (Some(value), _) = state.receivers.remove(parked) {
                state.handed -= 1;
                if state.handed == 0 && state.closed && state.buffer.is_empty() {
                    // Receivers that parked after the close only because this value was in
                    // flight: the channel is drained now.
                    let wakers = state.receivers.notify_all(|_| {});
                    drop(state);
                    wakers.into_iter().for_each(Waker::wake);
                }
                return Poll::Ready(Ok(value));
            }
            // Woken by close: look again below (a cancelled receiver may have passed a value
            // back to the buffer, or may still be about to).
        }
        let mut wake = None;
        match self.recv_locked(&mut state, &mut wake) {
            Ok(value) => {
                drop(state);
                if let Some(waker) = wake {
                    waker.wake();
                }
                Poll::Ready(Ok(value))
            }
            Err(TryRecvError::Closed) => Poll::Ready(Err(RecvError)),
            Err(TryRecvError::Empty) => {
                *key = Some(state.receivers.push(cx.waker(), None));
                drop(state);
                super::record_parked(WaitReason::ChanReceive);
                Poll::Pending
            }
        }
    }

    /// A receive future is dropped: a value already handed to it goes to the next parked
    /// receiver or back to the buffer's head.
    pub(crate) fn cancel_recv(&self, key: &mut Option<usize>) {
        let Some(parked) = key.take() else { return };
        let mut state = self.lock();
        let (handed, notified) = state.receivers.remove(parked);
        if !notified {
            drop(state);
            super::forget_parked();
            return;
        }
        let Some(value) = handed else { return };
        let mut wake = WakeList::default();
        match state.receivers.pop_front() {
            Some((next, waker)) => {
                *state.receivers.data_mut(next) = Some(value); // still in flight: `handed` stays
                wake.push(waker);
            }
            None => {
                state.handed -= 1;
                state.buffer.push_front(value);
            }
        }
        drop(state);
        wake.wake_all();
    }

    /// Parked senders and receivers, for `Debug`.
    pub(crate) fn waiting(&self) -> (usize, usize) {
        let state = self.lock();
        (state.senders.len(), state.receivers.len())
    }

    /// The last sender or the last receiver went: close.
    pub(crate) fn disconnect(&self) {
        self.close();
    }

    /// Relaxed count of a side's handles, for `Debug`.
    pub(crate) fn count(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::Relaxed)
    }
}
