//! The receiving half of a channel: [`Receiver`], its [`Recv`] future and its `Stream` impl.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::FusedFuture;
use futures::stream::{FusedStream, Stream};

use crate::chan::channel::Channel;
use crate::chan::error::{RecvError, TryRecvError};
use crate::coop;
use crate::loom::{Arc, Ordering};

/// The receiving half of a channel made by [`bounded`](super::bounded) or
/// [`unbounded`](super::unbounded). Clone it for more receivers (each value goes to one of
/// them); when the last one is dropped the channel closes and sends fail.
///
/// `Receiver` is also a [`futures::Stream`] of the values, which ends when the channel is
/// closed and drained.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
///
/// gmp::Runtime::new().unwrap().block_on(async {
///     let (tx, rx) = gmp::chan::unbounded();
///     gmp::spawn(async move {
///         for i in 1..=3 {
///             tx.send(i).await.unwrap();
///         }
///     });
///     let got: Vec<i32> = rx.collect().await;
///     assert_eq!(got, [1, 2, 3]);
/// });
/// ```
pub struct Receiver<T> {
    pub(crate) channel: Arc<Channel<T>>,
    /// The `Stream` side's waiter slot while parked.
    stream_key: Option<usize>,
    stream_done: bool,
}

impl<T> Receiver<T> {
    pub(crate) fn new(channel: Arc<Channel<T>>) -> Self {
        Self { channel, stream_key: None, stream_done: false }
    }

    /// Receives a value, waiting while the channel is empty. Fails once the channel is closed
    /// and its buffer drained. A goroutine parked here shows `chan receive` in
    /// `gmp::runtime::dump()` (`select` if it waits on several channel operations at once).
    ///
    /// Cancel-safe: a value handed to this receive while it was parked is passed on to another
    /// receiver (or back to the channel) if the future is dropped before it returns it.
    ///
    /// # Examples
    ///
    /// ```
    /// gmp::Runtime::new().unwrap().block_on(async {
    ///     let (tx, rx) = gmp::chan::bounded(1);
    ///     gmp::spawn(async move { tx.send(42).await.unwrap() });
    ///     assert_eq!(rx.recv().await, Ok(42));
    ///     assert!(rx.recv().await.is_err()); // the sender is gone
    /// });
    /// ```
    pub fn recv(&self) -> Recv<'_, T> {
        Recv { channel: &self.channel, key: None, done: false }
    }

    /// Receives a value if one is ready: buffered, or offered by a parked sender.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if it would wait, [`TryRecvError::Closed`] if the channel is
    /// closed and drained.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = gmp::chan::bounded(2);
    /// tx.try_send(1).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// assert!(rx.try_recv().unwrap_err().is_empty());
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.channel.try_recv()
    }

    /// Closes the channel (see [`Sender::close`](super::Sender::close)); true if this call
    /// closed it.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = gmp::chan::bounded(1);
    /// assert!(rx.close());
    /// assert!(tx.try_send(1).unwrap_err().is_closed());
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
    /// drop(tx);
    /// assert!(rx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.channel.is_closed()
    }

    /// Values in the buffer.
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, rx) = gmp::chan::unbounded();
    /// tx.try_send(1).unwrap();
    /// tx.try_send(2).unwrap();
    /// assert_eq!(rx.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.channel.len()
    }

    /// True if the buffer is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_tx, rx) = gmp::chan::unbounded::<u8>();
    /// assert!(rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer's capacity: `Some(n)` for `bounded(n)`, `None` for an unbounded channel.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(gmp::chan::bounded::<u8>(0).1.capacity(), Some(0));
    /// ```
    pub fn capacity(&self) -> Option<usize> {
        self.channel.capacity()
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.channel.receivers.fetch_add(1, Ordering::Relaxed);
        Self::new(self.channel.clone())
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.channel.cancel_recv(&mut self.stream_key);
        if self.channel.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.channel.disconnect();
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (parked_senders, parked_receivers) = self.channel.waiting();
        f.debug_struct("Receiver")
            .field("len", &self.channel.len())
            .field("capacity", &self.channel.capacity())
            .field("closed", &self.channel.is_closed())
            .field("receivers", &Channel::<T>::count(&self.channel.receivers))
            .field("parked_senders", &parked_senders)
            .field("parked_receivers", &parked_receivers)
            .finish()
    }
}

impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        if this.stream_done {
            return Poll::Ready(None);
        }
        if coop::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        match this.channel.poll_recv(&mut this.stream_key, cx) {
            Poll::Ready(Ok(value)) => Poll::Ready(Some(value)),
            Poll::Ready(Err(RecvError)) => {
                this.stream_done = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> FusedStream for Receiver<T> {
    fn is_terminated(&self) -> bool {
        self.stream_done
    }
}

/// The future of [`Receiver::recv`].
///
/// # Examples
///
/// ```
/// gmp::Runtime::new().unwrap().block_on(async {
///     let (tx, rx) = gmp::chan::bounded(1);
///     tx.send(5).await.unwrap();
///     let recv: gmp::chan::Recv<'_, i32> = rx.recv();
///     assert_eq!(recv.await, Ok(5));
/// });
/// ```
#[must_use = "futures do nothing unless you `.await` them"]
pub struct Recv<'a, T> {
    channel: &'a Channel<T>,
    key: Option<usize>,
    done: bool,
}

impl<T> Future for Recv<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if coop::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        let poll = this.channel.poll_recv(&mut this.key, cx);
        this.done = poll.is_ready();
        poll
    }
}

impl<T> FusedFuture for Recv<'_, T> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        self.channel.cancel_recv(&mut self.key);
    }
}

impl<T> fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recv").field("parked", &self.key.is_some()).field("done", &self.done).finish()
    }
}
