//! The sending half of a channel: [`Sender`], its [`Send`] future and its `Sink` impl.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::FusedFuture;
use futures::Sink;

use crate::chan::channel::Channel;
use crate::chan::error::{SendError, TrySendError};
use crate::coop;
use crate::loom::{Arc, Ordering};

/// The sending half of a channel made by [`bounded`](super::bounded) or
/// [`unbounded`](super::unbounded). Clone it for more senders; when the last one is dropped the
/// channel closes, and receivers drain what is buffered and then fail.
///
/// `Sender` is also a [`futures::Sink`]: `start_send` that finds the buffer full keeps the one
/// value in the `Sender` (each clone has its own) until `poll_ready` or `poll_flush` delivers it;
/// `poll_close` flushes (drop the `Sender`, or call [`close`](Self::close), to close the
/// channel).
///
/// # Examples
///
/// ```
/// gmp::Runtime::new().unwrap().block_on(async {
///     let (tx, rx) = gmp::chan::bounded(8);
///     for i in 0..4 {
///         let tx = tx.clone();
///         gmp::spawn(async move { tx.send(i).await.unwrap() });
///     }
///     drop(tx);
///     let mut got = Vec::new();
///     while let Ok(v) = rx.recv().await {
///         got.push(v);
///     }
///     got.sort();
///     assert_eq!(got, [0, 1, 2, 3]);
/// });
/// ```
pub struct Sender<T> {
    pub(crate) channel: Arc<Channel<T>>,
    /// The `Sink` side's value waiting for room, and its waiter slot while parked.
    sink_value: Option<T>,
    sink_key: Option<usize>,
}

// The value is never pinned: `Sender` moves it freely.
impl<T> Unpin for Sender<T> {}

impl<T> Sender<T> {
    pub(crate) fn new(channel: Arc<Channel<T>>) -> Self {
        Self { channel, sink_value: None, sink_key: None }
    }

    /// Sends `value`, waiting while the buffer is full (on a rendezvous channel: until a
    /// receiver takes it). Fails with the value if the channel is closed or closes while
    /// waiting. A goroutine parked here shows `chan send` in `gmp::runtime::dump()`.
    ///
    /// Cancel-safe: if the future is dropped before it completes, the value either was
    /// received (a receiver took it from the parked send; the send happened) or was not and is
    /// dropped with the future, exactly once; never lost, never both. Unlike Go's `select`,
    /// which commits to one case, a send dropped as the losing branch of a `select!` may thus
    /// have been received in the instant between its last poll and the drop.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let (tx, rx) = gmp::chan::bounded(0); // rendezvous
    ///     let receiver = gmp::spawn(async move { rx.recv().await.unwrap() });
    ///     tx.send("hello").await.unwrap(); // returns once the receiver has it
    ///     assert_eq!(receiver.await.unwrap(), "hello");
    /// });
    /// ```
    pub fn send(&self, value: T) -> Send<'_, T> {
        Send { channel: &self.channel, value: Some(value), key: None, done: false }
    }

    /// Sends `value` if that needs no waiting: there is room in the buffer, or a receiver is
    /// parked (the value is handed to it).
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] if it would wait, [`TrySendError::Closed`] if the channel is
    /// closed; both give the value back.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = gmp::chan::bounded(1);
    /// assert!(tx.try_send(1).is_ok());
    /// assert!(tx.try_send(2).unwrap_err().is_full());
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.channel.try_send(value)
    }

    /// Closes the channel, as Go's `close(ch)`: sends fail from now on, parked senders get
    /// their values back, receivers drain what is buffered and then fail. Returns true if this
    /// call closed it (false if it already was).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = gmp::chan::unbounded();
    /// tx.try_send(1).unwrap();
    /// assert!(tx.close());
    /// assert!(!tx.close());
    /// assert_eq!(rx.try_recv(), Ok(1)); // drained after close
    /// assert!(rx.try_recv().unwrap_err().is_closed());
    /// ```
    pub fn close(&self) -> bool {
        self.channel.close()
    }

    /// True if the channel is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = gmp::chan::bounded::<()>(1);
    /// assert!(!tx.is_closed());
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.channel.is_closed()
    }

    /// Values in the buffer.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = gmp::chan::bounded(4);
    /// tx.try_send('a').unwrap();
    /// assert_eq!(tx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.channel.len()
    }

    /// True if the buffer is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, _rx) = gmp::chan::bounded::<u8>(4);
    /// assert!(tx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer's capacity: `Some(n)` for `bounded(n)`, `None` for an unbounded channel.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(gmp::chan::bounded::<u8>(4).0.capacity(), Some(4));
    /// assert_eq!(gmp::chan::unbounded::<u8>().0.capacity(), None);
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        self.channel.capacity()
    }

    /// Delivers the `Sink`'s waiting value, if any.
    fn poll_sink_pending(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SendError<T>>> {
        if self.sink_value.is_none() && self.sink_key.is_none() {
            return Poll::Ready(Ok(()));
        }
        if coop::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        self.channel.poll_send(&mut self.sink_value, &mut self.sink_key, cx)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.channel.senders.fetch_add(1, Ordering::Relaxed);
        Self::new(self.channel.clone())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        drop(self.channel.cancel_send(&mut self.sink_key));
        if self.channel.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.channel.disconnect();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (parked_senders, parked_receivers) = self.channel.waiting();
        f.debug_struct("Sender")
            .field("len", &self.channel.len())
            .field("capacity", &self.channel.capacity())
            .field("closed", &self.channel.is_closed())
            .field("senders", &Channel::<T>::count(&self.channel.senders))
            .field("parked_senders", &parked_senders)
            .field("parked_receivers", &parked_receivers)
            .finish()
    }
}

impl<T> Sink<T> for Sender<T> {
    type Error = SendError<T>;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().poll_sink_pending(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: T) -> Result<(), Self::Error> {
        let this = self.get_mut();
        debug_assert!(this.sink_value.is_none() && this.sink_key.is_none(), "start_send before poll_ready");
        match this.channel.try_send(item) {
            Ok(()) => Ok(()),
            Err(TrySendError::Closed(item)) => Err(SendError(item)),
            Err(TrySendError::Full(item)) => {
                this.sink_value = Some(item);
                Ok(())
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().poll_sink_pending(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().poll_sink_pending(cx)
    }
}

/// The future of [`Sender::send`].
///
/// # Examples
///
/// ```
/// gmp::Runtime::new().unwrap().block_on(async {
///     let (tx, rx) = gmp::chan::bounded(1);
///     let send: gmp::chan::Send<'_, u32> = tx.send(1);
///     send.await.unwrap();
///     assert_eq!(rx.recv().await, Ok(1));
/// });
/// ```
#[must_use = "futures do nothing unless you `.await` them"]
pub struct Send<'a, T> {
    channel: &'a Channel<T>,
    value: Option<T>,
    key: Option<usize>,
    done: bool,
}

// The value is never pinned.
impl<T> Unpin for Send<'_, T> {}

impl<T> Future for Send<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if coop::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        let poll = this.channel.poll_send(&mut this.value, &mut this.key, cx);
        this.done = poll.is_ready();
        poll
    }
}

impl<T> FusedFuture for Send<'_, T> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T> Drop for Send<'_, T> {
    fn drop(&mut self) {
        // A value still parked was not sent: it is dropped here, once.
        drop(self.channel.cancel_send(&mut self.key));
    }
}

impl<T> fmt::Debug for Send<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Send").field("parked", &self.key.is_some()).field("done", &self.done).finish()
    }
}
