//! How a thread takes events from the poller, and how a blocked `wait` is broken.
//!
//! On Linux and Android (libc's `epoll_wait` and `struct epoll_event`) gmp calls
//! `epoll_wait` on the poller's epoll descriptor itself, and adds sources itself too (to ask
//! for `EPOLLRDHUP`, which `polling` does not offer); `polling` modifies and deletes
//! registrations. `polling::Poller::wait` makes five syscalls per call, even with a
//! zero timeout (it arms a timerfd for the deadline and re-arms its notification eventfd every
//! time, blocks.md §3); `epoll_wait` makes one. On the 1-connection echo ping-pong of
//! `benches/net.rs` (two waits per round trip) that cut a round trip from ~19.8 µs to ~15.2 µs
//! (tokio: ~11.4 µs on the same run). The price: timeouts have epoll's millisecond resolution,
//! rounded up so a wait never ends before its deadline (Go's and tokio's netpollers do the
//! same), and `notify` needs a notifier of our own, since polling's eventfd is re-armed only
//! by its own `wait`: a Unix socket pair, registered edge-triggered, written once per batch of
//! notifications. Elsewhere, `polling`'s own `wait` and `notify`.

pub(super) use imp::{add_source, EventBuffer, Notifier, SHORT_READ_DRAINS};

#[cfg(linux_kernel)]
mod imp {
    use std::ffi::c_int;
    use std::io::{self, Read, Write};
    use std::os::fd::{AsRawFd, BorrowedFd};
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::time::Duration;

    use polling::{Event, PollMode, Poller};

    use super::super::{EVENTS_PER_WAIT, READABLE, READ_CLOSED, WRITABLE};

    /// A read from a stream socket that returns less than asked for drained the socket (see
    /// `Registration::clear_readiness_after_short_read`): true here, where sources are watched
    /// for `EPOLLRDHUP` and so an end of stream queued behind the data is never missed.
    pub(in super::super) const SHORT_READ_DRAINS: bool = true;

    /// Adds `fd` to the poller under `key`, edge-triggered for both directions and for the
    /// peer's half-close (`EPOLLRDHUP`, which `polling` does not offer).
    ///
    /// # Safety
    ///
    /// As `polling::Poller::add`: `fd` is deleted from the poller before it is closed.
    pub(in super::super) unsafe fn add_source(poller: &Poller, fd: BorrowedFd<'_>, key: usize) -> io::Result<()> {
        use rustix::event::epoll::{self, EventData, EventFlags};
        let flags = EventFlags::IN | EventFlags::OUT | EventFlags::PRI | EventFlags::RDHUP | EventFlags::ET;
        epoll::add(poller, fd, EventData::new_u64(key as u64), flags)?;
        Ok(())
    }

    // The kernel's `struct epoll_event` (packed on x86_64, naturally aligned elsewhere).
    use libc::{epoll_event as EpollEvent, epoll_wait};

    const EPOLLIN: u32 = libc::EPOLLIN as u32;
    const EPOLLPRI: u32 = libc::EPOLLPRI as u32;
    const EPOLLOUT: u32 = libc::EPOLLOUT as u32;
    const EPOLLERR: u32 = libc::EPOLLERR as u32;
    const EPOLLHUP: u32 = libc::EPOLLHUP as u32;
    const EPOLLRDHUP: u32 = libc::EPOLLRDHUP as u32;
    /// As `polling` reads the flags: a hang-up or an error wakes both directions.
    const READ_FLAGS: u32 = EPOLLIN | EPOLLPRI | EPOLLHUP | EPOLLERR | EPOLLRDHUP;
    /// The peer closed its side, or the socket failed: reads end in 0 or an error from now on.
    const CLOSED_FLAGS: u32 = EPOLLRDHUP | EPOLLHUP | EPOLLERR;
    const WRITE_FLAGS: u32 = EPOLLOUT | EPOLLHUP | EPOLLERR;

    /// Our notifier's key (source keys keep their top bit clear; `usize::MAX` is polling's).
    const NOTIFY_KEY: usize = usize::MAX - 1;

    /// The events of the last `wait`.
    #[derive(Debug)]
    pub(in super::super) struct EventBuffer {
        events: Box<[EpollEvent]>,
        len: usize,
    }

    impl EventBuffer {
        pub(in super::super) fn new() -> Self {
            Self { events: vec![EpollEvent { events: 0, u64: 0 }; EVENTS_PER_WAIT].into_boxed_slice(), len: 0 }
        }

        /// Waits for events, at most `timeout` (forever if `None`), or until notified.
        pub(in super::super) fn wait(
            &mut self,
            poller: &Poller,
            notifier: &Notifier,
            timeout: Option<Duration>,
        ) -> io::Result<()> {
            let timeout = match timeout {
                None => -1,
                Some(timeout) => timeout.as_nanos().div_ceil(1_000_000).min(c_int::MAX as u128) as c_int,
            };
            self.len = 0;
            // SAFETY: the buffer holds `events.len()` writable `epoll_event`s of the kernel's
            // layout; the poller's epoll descriptor is open while `poller` lives.
            let n = unsafe {
                epoll_wait(poller.as_raw_fd(), self.events.as_mut_ptr(), self.events.len() as c_int, timeout)
            };
            if n < 0 {
                let error = io::Error::last_os_error();
                // A signal: report no events; the caller looks again.
                return if error.kind() == io::ErrorKind::Interrupted { Ok(()) } else { Err(error) };
            }
            self.len = n as usize;
            if self.events[..self.len].iter().any(|event| event.u64 == NOTIFY_KEY as u64) {
                notifier.clear();
            }
            Ok(())
        }

        /// `(key, readiness bits)` of each source event of the last `wait`.
        pub(in super::super) fn ready(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
            self.events[..self.len].iter().filter_map(|event| {
                let (key, flags) = (event.u64 as usize, event.events);
                if key >= NOTIFY_KEY {
                    return None;
                }
                let bits = if flags & READ_FLAGS != 0 { READABLE } else { 0 }
                    | if flags & WRITE_FLAGS != 0 { WRITABLE } else { 0 }
                    | if flags & CLOSED_FLAGS != 0 { READ_CLOSED } else { 0 };
                (bits != 0).then_some((key, bits))
            })
        }
    }

    /// A socket pair: writing a byte makes the poller report `NOTIFY_KEY`.
    #[derive(Debug)]
    pub(in super::super) struct Notifier {
        receiver: UnixStream,
        sender: UnixStream,
        /// A byte is on its way and not yet drained: further notifications are free.
        pending: AtomicBool,
    }

    impl Notifier {
        pub(in super::super) fn new(poller: &Poller) -> io::Result<Self> {
            let (receiver, sender) = UnixStream::pair()?;
            receiver.set_nonblocking(true)?;
            sender.set_nonblocking(true)?;
            // SAFETY: the receiver is deleted from the poller in `Drop` before it closes.
            unsafe { poller.add_with_mode(&receiver, Event::readable(NOTIFY_KEY), PollMode::Edge)? };
            Ok(Self { receiver, sender, pending: AtomicBool::new(false) })
        }

        /// Breaks the current `wait`, or makes the next one return at once.
        pub(in super::super) fn notify(&self, _poller: &Poller) {
            if !self.pending.swap(true, SeqCst) {
                // A full buffer (WouldBlock) means bytes are pending anyway.
                let _ = (&self.sender).write(&[1]);
            }
        }

        /// After the poller reported our key: drain, then allow the next notification.
        ///
        /// In this order `pending` is true only while a byte is unread or we are between the
        /// two steps, awake. (The other order loses wakeups: a notification between them
        /// writes a byte that the drain swallows, and `pending` stays true with nothing left
        /// to wake the next wait.) A notification that finds `pending` still set here was
        /// made after our wait returned, and our caller re-checks its state after every
        /// wait.
        fn clear(&self) {
            let mut buf = [0u8; 64];
            while matches!((&self.receiver).read(&mut buf), Ok(n) if n > 0) {}
            self.pending.store(false, SeqCst);
        }

        /// Removes the receiver from `poller` (before both close).
        pub(in super::super) fn deregister(&self, poller: &Poller) {
            let _ = poller.delete(&self.receiver);
        }
    }
}

#[cfg(not(linux_kernel))]
mod imp {
    use std::io;
    use std::num::NonZeroUsize;
    use std::time::Duration;

    use std::os::fd::{AsRawFd, BorrowedFd};

    use polling::{Event, Events, PollMode, Poller};

    use super::super::{EVENTS_PER_WAIT, READABLE, WRITABLE};

    /// Without `EPOLLRDHUP` a short read may leave an end of stream behind it unannounced, so
    /// reads clear readiness only on `WouldBlock`.
    pub(in super::super) const SHORT_READ_DRAINS: bool = false;

    /// Adds `fd` to the poller under `key`, edge-triggered for both directions.
    ///
    /// # Safety
    ///
    /// As `polling::Poller::add`: `fd` is deleted from the poller before it is closed.
    pub(in super::super) unsafe fn add_source(poller: &Poller, fd: BorrowedFd<'_>, key: usize) -> io::Result<()> {
        // SAFETY: the caller deletes `fd` from the poller before closing it.
        unsafe { poller.add_with_mode(fd.as_raw_fd(), Event::all(key), PollMode::Edge) }
    }

    /// The events of the last `wait`.
    #[derive(Debug)]
    pub(in super::super) struct EventBuffer {
        events: Events,
    }

    impl EventBuffer {
        pub(in super::super) fn new() -> Self {
            Self { events: Events::with_capacity(NonZeroUsize::new(EVENTS_PER_WAIT).expect("nonzero")) }
        }

        pub(in super::super) fn wait(
            &mut self,
            poller: &Poller,
            _notifier: &Notifier,
            timeout: Option<Duration>,
        ) -> io::Result<()> {
            self.events.clear();
            poller.wait(&mut self.events, timeout).map(drop)
        }

        pub(in super::super) fn ready(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
            self.events.iter().filter_map(|event| {
                let bits = if event.readable { READABLE } else { 0 } | if event.writable { WRITABLE } else { 0 };
                (bits != 0).then_some((event.key, bits))
            })
        }
    }

    /// `polling`'s own notification.
    #[derive(Debug)]
    pub(in super::super) struct Notifier;

    impl Notifier {
        pub(in super::super) fn new(_poller: &Poller) -> io::Result<Self> {
            Ok(Self)
        }

        pub(in super::super) fn notify(&self, poller: &Poller) {
            let _ = poller.notify();
        }

        pub(in super::super) fn deregister(&self, _poller: &Poller) {}
    }
}
