//! The FIFO queue of parked waiters that gmp's channels and locks share (Go's `waitq` of
//! `sudog`s).
//!
//! # Design
//!
//! A slab of slots plus a `VecDeque` of slot keys in arrival order. It lives inside the owning
//! primitive's state mutex, so every method runs under that lock.
//!
//! - A waiter (a future) **parks** with [`push`](WaiterQueue::push): it gets a key, its slot
//!   holds its waker and its data (for a channel: the value offered or received).
//! - The other side **notifies** the first waiter with [`pop_front`](WaiterQueue::pop_front):
//!   the slot leaves the FIFO but stays allocated, marked notified, so the waiter finds what was
//!   left in its data when it is polled again. The notifier takes the waker out and wakes it
//!   after releasing the lock (Go's `goready` after `unlock`).
//! - Only the waiter frees its slot, with [`remove`](WaiterQueue::remove), when it completes
//!   or is dropped; so a key stays valid for as long as its waiter holds it, and a dropped
//!   waiter learns from `notified` whether something was handed to it that it must pass on.
//!
//! Re-polling a parked waiter replaces its waker only if the stored one would not wake the same
//! task ([`Waker::will_wake`]), so a waiter polled again by its own goroutine clones nothing.
//! Freed slots are reused last-in first-out; a channel in steady use allocates nothing per
//! message.

use std::collections::VecDeque;
use std::task::Waker;

/// A slab of parked waiters in FIFO order; see the module docs.
#[derive(Debug)]
pub(crate) struct WaiterQueue<D> {
    slots: Vec<Option<Slot<D>>>,
    free: Vec<usize>,
    order: VecDeque<usize>,
}

#[derive(Debug)]
struct Slot<D> {
    waker: Option<Waker>,
    data: D,
    notified: bool,
}

impl<D> Default for WaiterQueue<D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<D> WaiterQueue<D> {
    pub(crate) const fn new() -> Self {
        Self { slots: Vec::new(), free: Vec::new(), order: VecDeque::new() }
    }

    /// True if no waiter is queued (notified waiters that have not collected yet do not count).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Waiters queued.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    /// Parks a waiter at the back of the queue; returns its key.
    pub(crate) fn push(&mut self, waker: &Waker, data: D) -> usize {
        let slot = Some(Slot { waker: Some(waker.clone()), data, notified: false });
        let key = match self.free.pop() {
            Some(key) => {
                self.slots[key] = slot;
                key
            }
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        };
        self.order.push_back(key);
        key
    }

    /// The key of the first queued waiter.
    #[inline]
    pub(crate) fn front(&self) -> Option<usize> {
        self.order.front().copied()
    }

    /// Takes the first waiter off the queue and marks it notified. Returns its key and waker;
    /// the caller fills in its data (with [`data_mut`](Self::data_mut)) and wakes it after
    /// unlocking.
    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<(usize, Option<Waker>)> {
        let key = self.order.pop_front()?;
        let slot = self.slot_mut(key);
        slot.notified = true;
        Some((key, slot.waker.take()))
    }

    /// Notifies every queued waiter, in order, applying `f` to each one's data; returns their
    /// wakers.
    pub(crate) fn notify_all(&mut self, mut f: impl FnMut(&mut D)) -> Vec<Waker> {
        let mut wakers = Vec::with_capacity(self.order.len());
        while let Some((key, waker)) = self.pop_front() {
            f(self.data_mut(key));
            wakers.extend(waker);
        }
        wakers
    }

    /// The data of waiter `key`.
    #[inline]
    pub(crate) fn data(&self, key: usize) -> &D {
        &self.slot(key).data
    }

    /// The data of waiter `key`, to change.
    #[inline]
    pub(crate) fn data_mut(&mut self, key: usize) -> &mut D {
        &mut self.slot_mut(key).data
    }

    /// True if waiter `key` has been taken off the queue by the other side.
    #[inline]
    pub(crate) fn is_notified(&self, key: usize) -> bool {
        self.slot(key).notified
    }

    /// Stores `waker` for a still-queued waiter, unless the stored one wakes the same task.
    #[inline]
    pub(crate) fn update_waker(&mut self, key: usize, waker: &Waker) {
        let slot = self.slot_mut(key);
        match &slot.waker {
            Some(stored) if stored.will_wake(waker) => {}
            _ => slot.waker = Some(waker.clone()),
        }
    }

    /// Frees waiter `key`'s slot (taking it off the queue if it is still there); returns its
    /// data and whether it had been notified. Only the waiter that owns `key` calls this.
    pub(crate) fn remove(&mut self, key: usize) -> (D, bool) {
        let slot = self.slots[key].take().expect("gmp: a waiter key outlived its slot");
        if !slot.notified {
            let position = self.order.iter().position(|&k| k == key).expect("gmp: a queued waiter is not in the queue");
            self.order.remove(position);
        }
        self.free.push(key);
        (slot.data, slot.notified)
    }

    fn slot(&self, key: usize) -> &Slot<D> {
        self.slots[key].as_ref().expect("gmp: a waiter key outlived its slot")
    }

    fn slot_mut(&mut self, key: usize) -> &mut Slot<D> {
        self.slots[key].as_mut().expect("gmp: a waiter key outlived its slot")
    }
}

/// Wakers collected under a lock, to wake after it is released. One waker (the common case:
/// a single hand-off) needs no allocation.
#[derive(Debug, Default)]
pub(crate) struct WakeList {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl WakeList {
    pub(crate) fn push(&mut self, waker: Option<Waker>) {
        let Some(waker) = waker else { return };
        if self.first.is_none() {
            self.first = Some(waker);
        } else {
            self.rest.push(waker);
        }
    }

    pub(crate) fn wake_all(self) {
        if let Some(first) = self.first {
            first.wake();
        }
        for waker in self.rest {
            waker.wake();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn waiters_are_notified_in_arrival_order_and_keys_are_reused() {
        let waker = futures::task::noop_waker_ref();
        let mut queue = WaiterQueue::new();
        let a = queue.push(waker, 'a');
        let b = queue.push(waker, 'b');
        let c = queue.push(waker, 'c');
        assert_eq!(queue.remove(b), ('b', false)); // cancelled while queued
        assert_eq!(queue.len(), 2);
        let (first, _) = queue.pop_front().unwrap();
        assert_eq!(first, a);
        assert!(queue.is_notified(a) && !queue.is_notified(c));
        assert_eq!(queue.front(), Some(c));
        assert_eq!(queue.remove(a), ('a', true));
        let d = queue.push(waker, 'd');
        assert_eq!(d, a, "the most recently freed slot is reused");
        assert_eq!(queue.pop_front().map(|(k, _)| k), Some(c));
        assert_eq!(queue.pop_front().map(|(k, _)| k), Some(d));
        assert!(queue.is_empty());
    }
}
