//! The netpoller: how goroutines wait for sockets and other file descriptors (Go's
//! `netpoll.go` and `netpoll_epoll.go`).
//!
//! # Design
//!
//! One `polling::Poller` (epoll, kqueue) per runtime, and no thread of its own. An I/O source
//! ([`Registration`], held by `gmp::io::Async` and so by every `gmp::net` type) adds its fd to
//! the poller once, **edge-triggered** for both directions, and deletes it when it drops.
//! Edge mode was chosen by measurement (`benches/net.rs`): oneshot mode must re-arm the fd with
//! one `epoll_ctl` every time a goroutine parks, edge mode never does; Go and tokio use edge
//! mode for the same reason.
//!
//! Each source keeps its readiness (a readable and a writable bit plus an event counter, the
//! *tick*) in one atomic word, and per direction the wakers of the goroutines parked on it.
//! An I/O call on a gmp type goes: readiness bit set? → try the syscall → on `WouldBlock`
//! clear the bit, but only if no event arrived since we read it (the tick still matches) →
//! park the waker under the source's lock, re-checking the bit there. An event sets the bit
//! and takes the wakers under the same lock, so no wakeup is lost. A new source starts with
//! both bits set: the first call tries the syscall at once, as Go's does. A read from a
//! stream socket that returns less than it asked for also clears the readable bit (it drained
//! the socket; tokio does the same), unless a sticky *read closed* bit says an end of stream
//! or an error is queued that no further edge would announce (`EPOLLRDHUP`, `EPOLLHUP`,
//! `EPOLLERR`): see [`Registration::clear_readiness_after_short_read`].
//!
//! Who looks at the poller (Go's `findRunnable`):
//!
//! - an M that found no local or global work calls [`Netpoller::poll_now`]: a non-blocking
//!   `wait`, only if goroutines wait on I/O, no M is blocked in the poller, nobody looked in
//!   the last [`POLL_INTERVAL`] and no other M is looking (`try_lock`);
//! - an M about to park calls [`Netpoller::block_until_ready`]: exactly one M at a time blocks in
//!   `wait`, with the nearest timer as its deadline; [`Netpoller::notify`] breaks the wait;
//! - sysmon calls `poll_now` when [`Netpoller::last_poll_age`] passes 10 ms, as a backstop.
//!
//! Waking a goroutine from here queues it on the waking M's P, or globally when that M holds
//! no P (the M blocked in the poller, or sysmon); the scheduler does that by itself. Wakers are
//! always woken outside every lock, each under `catch_unwind`.
//!
//! On Linux the waits call `epoll_wait` directly instead of `polling::Poller::wait`, which
//! costs five syscalls per call (see the `wait` module below for the measurement).
//!
//! # Resource exhaustion
//!
//! An `accept` that fails with `EMFILE` (or `ENFILE`, `ENOMEM`) leaves connections queued, so
//! the listener stays readable, and a loop retrying at once would spin. Such a call instead
//! [`defers`](Registration::defer_readiness) the source's readiness: the bit is cleared and the
//! poller sets it again after a back-off (kept in the listener, 1 ms doubling to 100 ms), or
//! sooner if a new connection arrives. The M blocked in the poller wakes for the earliest
//! deferred source as it does for a timer.
//!
//! # Locks (in the order they may nest)
//!
//! The event buffer (held by whoever waits; `netpoll/gate.rs`) → `Core::table` (key → source) or
//! `Core::retries` → `Source::waiters`. The I/O path takes only `Source::waiters`.
//!
//! # Lifetime
//!
//! A registration holds the `Core` (the poller and the key table) by `Arc`, so dropping a
//! socket after its runtime is gone still deletes its fd from a live poller and never panics.
//! When the runtime's `Shared` drops, the `Core` is closed: parked wakers are dropped (every
//! goroutine of the runtime is cancelled by then), and later polls of a surviving source return
//! an error instead of parking forever.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use polling::{Event, PollMode, Poller};

use crate::goroutine::{record_wait_reason, WaitReason};
use crate::loom::lock;

/// How the poller watches a source (see the design comment for why edge mode).
const MODE: PollMode = PollMode::Edge;

/// The least time between two non-blocking looks at the poller by Ms in `findrunnable`, so
/// that idle Ms spinning through `findrunnable` do not each make a syscall per pass.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_micros(100);

/// Events taken per `wait` (Go takes 128).
const EVENTS_PER_WAIT: usize = 256;

/// The first back-off after an `accept` ran out of file descriptors, and the longest.
pub(crate) const EXHAUSTED_BACKOFF_MIN: Duration = Duration::from_millis(1);
pub(crate) const EXHAUSTED_BACKOFF_MAX: Duration = Duration::from_millis(100);

// A source's readiness word: two readiness bits, the sticky "read side closed" bit, then the
// tick (events seen so far).
const READABLE: u64 = 1;
const WRITABLE: u64 = 2;
const READY_MASK: u64 = READABLE | WRITABLE;
/// Set by an event that reported the peer's half-close, a hang-up or an error; never cleared.
/// While it is set a short read does not clear read readiness (see
/// [`Registration::clear_readiness_after_short_read`]).
const READ_CLOSED: u64 = 4;
const TICK_SHIFT: u32 = 3;

/// Which way a goroutine waits on a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

impl Direction {
    fn bit(self) -> u64 {
        match self {
            Self::Read => READABLE,
            Self::Write => WRITABLE,
        }
    }
}

/// A readiness bit as observed by one I/O attempt: clearing it is a no-op if an event arrived
/// since (the tick moved on).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadyEvent {
    direction: Direction,
    tick: u64,
}

/// The wakers parked on one direction of a source. A goroutine polling again with the same
/// waker stays registered once; different goroutines are all woken by the next event.
#[derive(Debug, Default)]
struct WakerList {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl WakerList {
    fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// Adds `waker` unless it is already here. Returns true if the list was empty.
    fn register(&mut self, waker: &Waker) -> bool {
        match &self.first {
            None => {
                self.first = Some(waker.clone());
                true
            }
            Some(first) if first.will_wake(waker) => false,
            Some(_) => {
                if !self.rest.iter().any(|w| w.will_wake(waker)) {
                    self.rest.push(waker.clone());
                }
                false
            }
        }
    }

    /// Moves every waker into `out`. Returns true if there were any.
    fn take_into(&mut self, out: &mut Vec<Waker>) -> bool {
        let Some(first) = self.first.take() else { return false };
        out.push(first);
        out.append(&mut self.rest);
        true
    }
}

#[derive(Debug, Default)]
struct Waiters {
    read: WakerList,
    write: WakerList,
}

impl Waiters {
    fn list(&mut self, direction: Direction) -> &mut WakerList {
        match direction {
            Direction::Read => &mut self.read,
            Direction::Write => &mut self.write,
        }
    }
}

/// One registered fd: its readiness and its parked wakers.
#[derive(Debug)]
struct Source {
    key: usize,
    fd: RawFd,
    /// Readiness bits and tick (see `READABLE`, `TICK_SHIFT`).
    state: AtomicU64,
    waiters: Mutex<Waiters>,
}

impl Source {
    /// Records readiness `bits` (one event) and moves the wakers of the directions that became
    /// ready into `out`.
    fn set_ready(&self, bits: u64, core: &Core, out: &mut Vec<Waker>) {
        let mut waiters = lock(&self.waiters);
        let _ = self.state.fetch_update(AcqRel, Acquire, |state| {
            Some(((state & !READY_MASK).wrapping_add(1 << TICK_SHIFT)) | (state & READY_MASK) | bits)
        });
        let mut emptied = 0;
        if bits & READABLE != 0 && waiters.read.take_into(out) {
            emptied += 1;
        }
        if bits & WRITABLE != 0 && waiters.write.take_into(out) {
            emptied += 1;
        }
        if emptied != 0 {
            core.waiting.fetch_sub(emptied, Relaxed);
        }
        if MODE == PollMode::Oneshot {
            self.arm(core, &waiters);
        }
    }

    /// Oneshot mode only: asks the poller for the directions someone waits on.
    fn arm(&self, core: &Core, waiters: &Waiters) {
        let interest = Event::new(self.key, !waiters.read.is_empty(), !waiters.write.is_empty());
        // SAFETY: a source is in the table only while its fd is open: the owner of the fd
        // deregisters (removing it from the table) before closing it.
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        let _ = core.poller.modify_with_mode(fd, interest, MODE);
    }

    /// Drops every parked waker (deregistration, shutdown).
    fn take_all_wakers(&self, core: &Core) -> Vec<Waker> {
        let mut out = Vec::new();
        let mut waiters = lock(&self.waiters);
        let emptied = usize::from(waiters.read.take_into(&mut out)) + usize::from(waiters.write.take_into(&mut out));
        drop(waiters);
        if emptied != 0 {
            core.waiting.fetch_sub(emptied, Relaxed);
        }
        out
    }
}

// A key is a slot index plus the slot's generation, so an event that raced with the slot's
// reuse finds a generation mismatch instead of someone else's source. The top bit stays clear:
// `usize::MAX` is the poller's own key.
const INDEX_BITS: u32 = if usize::BITS >= 64 { 32 } else { 20 };
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
const GENERATION_MASK: usize = (1 << (usize::BITS - INDEX_BITS - 1)) - 1;

#[derive(Debug, Default)]
struct Slot {
    generation: usize,
    source: Option<Arc<Source>>,
}

/// Key → source, for turning events into wakers.
#[derive(Debug, Default)]
struct SourceTable {
    slots: Vec<Slot>,
    free: Vec<usize>,
}

impl SourceTable {
    fn insert(&mut self, make: impl FnOnce(usize) -> Arc<Source>) -> io::Result<Arc<Source>> {
        let index = match self.free.pop() {
            Some(index) => index,
            None if self.slots.len() < INDEX_MASK => {
                self.slots.push(Slot::default());
                self.slots.len() - 1
            }
            None => return Err(io::Error::other("gmp: too many I/O sources registered with one runtime")),
        };
        let slot = &mut self.slots[index];
        let source = make(index | (slot.generation << INDEX_BITS));
        slot.source = Some(source.clone());
        Ok(source)
    }

    fn get(&self, key: usize) -> Option<&Arc<Source>> {
        let slot = self.slots.get(key & INDEX_MASK)?;
        (slot.generation == key >> INDEX_BITS).then_some(slot.source.as_ref()?)
    }

    fn remove(&mut self, key: usize) -> Option<Arc<Source>> {
        let index = key & INDEX_MASK;
        let slot = self.slots.get_mut(index)?;
        if slot.generation != key >> INDEX_BITS {
            return None;
        }
        let source = slot.source.take()?;
        slot.generation = (slot.generation + 1) & GENERATION_MASK;
        self.free.push(index);
        Some(source)
    }
}

/// A deferred readiness (see "Resource exhaustion").
#[derive(Debug)]
struct Retry {
    due: u64,
    source: Weak<Source>,
    bits: u64,
}

/// What the netpoller shares with its registrations.
#[derive(Debug)]
struct Core {
    poller: Poller,
    table: Mutex<SourceTable>,
    /// Source directions with parked wakers (Go's `netpollWaiters`).
    waiting: AtomicUsize,
    retries: Mutex<Vec<Retry>>,
    /// When the earliest retry is due, in nanoseconds since `epoch`; `u64::MAX` if none.
    next_retry: AtomicU64,
    epoch: Instant,
    closed: AtomicBool,
    /// Goroutines readied by a thread holding no P (sysmon's backstop), for `stats()`; the
    /// others count on the P of the M that polled (`metrics.rs`).
    wakes_without_processor: AtomicU64,
}

impl Core {
    fn nanos(&self, instant: Instant) -> u64 {
        instant.saturating_duration_since(self.epoch).as_nanos().min(u64::MAX as u128 - 1) as u64
    }

    fn now(&self) -> u64 {
        self.nanos(Instant::now())
    }

    /// Turns the events of one `wait` into wakers.
    fn dispatch(&self, events: &wait::EventBuffer, out: &mut Vec<Waker>) {
        let mut events = events.ready().peekable();
        if events.peek().is_none() {
            return;
        }
        let table = lock(&self.table);
        for (key, bits) in events {
            if let Some(source) = table.get(key) {
                source.set_ready(bits, self, out);
            }
        }
    }

    /// Sets the readiness of deferred sources that are due at `now`.
    fn fire_due_retries(&self, now: u64, out: &mut Vec<Waker>) {
        if self.next_retry.load(Acquire) > now {
            return;
        }
        let mut retries = lock(&self.retries);
        let mut next = u64::MAX;
        retries.retain(|retry| {
            if retry.due > now {
                next = next.min(retry.due);
                return true;
            }
            if let Some(source) = retry.source.upgrade() {
                source.set_ready(retry.bits, self, out);
            }
            false
        });
        self.next_retry.store(next, Release);
    }

    fn next_retry(&self) -> Option<Instant> {
        match self.next_retry.load(Acquire) {
            u64::MAX => None,
            nanos => Some(self.epoch + Duration::from_nanos(nanos)),
        }
    }

    /// Shuts the poller's bookkeeping down: wakers are dropped, later polls fail.
    fn close(&self) {
        self.closed.store(true, SeqCst);
        let sources: Vec<Arc<Source>> = {
            let mut table = lock(&self.table);
            table.slots.iter_mut().filter_map(|slot| slot.source.take()).collect()
        };
        let mut wakers = Vec::new();
        for source in &sources {
            wakers.extend(source.take_all_wakers(self));
        }
        lock(&self.retries).clear();
        self.next_retry.store(u64::MAX, Release);
        for waker in wakers {
            let _ = catch_unwind(AssertUnwindSafe(|| drop(waker)));
        }
    }
}

/// The panic message of an I/O call made outside a runtime.
pub(crate) fn outside_runtime(call: &str) -> String {
    format!(
        "{call} must be called from inside a gmp runtime: run the code under Runtime::block_on, \
         #[gmp::main] or in a goroutine (gmp::spawn)"
    )
}

fn runtime_gone() -> io::Error {
    io::Error::other("the gmp runtime this I/O source belongs to has shut down")
}

/// Wakes every waker outside any lock; a panicking waker is contained. True if there were any.
fn wake_all(wakers: Vec<Waker>, core: &Core) -> bool {
    let woke = !wakers.is_empty();
    if woke {
        crate::metrics::count_netpoll_wakes(wakers.len(), &core.wakes_without_processor);
    }
    for waker in wakers {
        let _ = catch_unwind(AssertUnwindSafe(|| waker.wake()));
    }
    woke
}

/// The wakers of goroutines a blocking wait made ready; [`wake`](Self::wake) them (dropping
/// the list without waking them would strand those goroutines).
#[derive(Debug)]
#[must_use = "the goroutines stay parked until the list is woken"]
pub(crate) struct ReadyList(Vec<Waker>, Arc<Core>);

impl ReadyList {
    /// Wakes them all (outside any lock, each under `catch_unwind`). True if there were any.
    pub(crate) fn wake(self) -> bool {
        wake_all(self.0, &self.1)
    }
}

/// The runtime's one `polling::Poller` and the goroutines waiting on it.
#[derive(Debug)]
pub(crate) struct Netpoller {
    core: Arc<Core>,
    /// The event buffer, behind the handshake of the blocker, non-blocking pollers and
    /// `notify` (see `netpoll/gate.rs`).
    gate: gate::WaitGate<wait::EventBuffer>,
    /// Breaks a `wait` early.
    notifier: wait::Notifier,
    /// When the last `wait` began, in nanoseconds since `core.epoch`.
    last_poll: AtomicU64,
}

impl Netpoller {
    pub(crate) fn new() -> io::Result<Self> {
        let poller = Poller::new()?;
        if MODE == PollMode::Edge && !poller.supports_edge() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "gmp: the OS poller does not support edge-triggered notifications",
            ));
        }
        let notifier = wait::Notifier::new(&poller)?;
        Ok(Self {
            notifier,
            core: Arc::new(Core {
                poller,
                table: Mutex::new(SourceTable::default()),
                waiting: AtomicUsize::new(0),
                retries: Mutex::new(Vec::new()),
                next_retry: AtomicU64::new(u64::MAX),
                epoch: Instant::now(),
                closed: AtomicBool::new(false),
                wakes_without_processor: AtomicU64::new(0),
            }),
            gate: gate::WaitGate::new(wait::EventBuffer::new()),
            last_poll: AtomicU64::new(0),
        })
    }

    /// True if some goroutine is parked on an I/O source (Go's `netpollAnyWaiters`).
    pub(crate) fn has_waiters(&self) -> bool {
        self.core.waiting.load(Relaxed) != 0
    }

    /// How long since a thread last looked at the poller; zero while an M is blocked in it.
    /// sysmon calls [`poll_now`](Self::poll_now) when this passes 10 ms.
    pub(crate) fn last_poll_age(&self) -> Duration {
        if self.gate.is_blocked() {
            return Duration::ZERO;
        }
        let age = self.core.now().saturating_sub(self.last_poll.load(Relaxed));
        Duration::from_nanos(age)
    }

    /// Polls without blocking, if goroutines wait on I/O and nobody polled recently.
    /// Returns true if it made any goroutine runnable.
    pub(crate) fn poll_now(&self) -> bool {
        self.poll_without_blocking(POLL_INTERVAL)
    }

    /// As [`poll_now`](Self::poll_now), but polls even if someone did a moment ago: for an M
    /// that holds a P with nothing to run and is waiting a few microseconds for work.
    pub(crate) fn poll_now_eager(&self) -> bool {
        self.poll_without_blocking(Duration::ZERO)
    }

    fn poll_without_blocking(&self, interval: Duration) -> bool {
        if !self.has_waiters() || self.gate.is_blocked() {
            return false;
        }
        let core = &*self.core;
        let now = core.now();
        let mut wakers = Vec::new();
        core.fire_due_retries(now, &mut wakers);
        if now.saturating_sub(self.last_poll.load(Relaxed)) >= interval.as_nanos() as u64 {
            self.gate.try_poll(|events| {
                self.last_poll.store(now, Relaxed);
                if events.wait(&core.poller, &self.notifier, Some(Duration::ZERO)).is_ok() {
                    core.dispatch(events, &mut wakers);
                }
            });
        }
        wake_all(wakers, core)
    }

    /// Blocks in the poller until I/O is ready, `deadline` passes, or `notify` is called, and
    /// hands back the wakers of the goroutines made ready instead of waking them: the caller
    /// first takes an idle P and then wakes them, so they land on that P's queue and run on
    /// this M instead of on the global queue with another M woken to run them (Go's
    /// `findRunnable` after `netpoll`).
    ///
    /// Only one M may block at a time: returns `None` at once (without blocking) if another M
    /// is already blocked here, if `has_work()` is already true, or if nothing could end the
    /// wait but `notify` (no goroutine waits on I/O and there is no deadline).
    pub(crate) fn block_until_ready(
        &self,
        deadline: Option<Instant>,
        has_work: &dyn Fn() -> bool,
    ) -> Option<ReadyList> {
        let core = &*self.core;
        let retry = core.next_retry();
        if !self.has_waiters() && deadline.is_none() && retry.is_none() {
            return None;
        }
        let mut wakers = Vec::new();
        let outcome = self.gate.block(
            // M0 also declines if its main future was woken (it goes to poll it).
            || has_work() || crate::runtime::main_thread_in_network(true),
            |events| {
                let deadline = match (deadline, retry) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                self.last_poll.store(core.now(), Relaxed);
                let timeout = deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()));
                if events.wait(&core.poller, &self.notifier, timeout).is_ok() {
                    core.dispatch(events, &mut wakers);
                }
            },
        );
        crate::runtime::main_thread_in_network(false);
        match outcome {
            gate::GateOutcome::Taken | gate::GateOutcome::Declined => None,
            gate::GateOutcome::Notified => Some(ReadyList(Vec::new(), self.core.clone())),
            gate::GateOutcome::Waited(()) => {
                let now = core.now();
                self.last_poll.store(now, Relaxed);
                core.fire_due_retries(now, &mut wakers);
                Some(ReadyList(wakers, self.core.clone()))
            }
        }
    }

    /// Goroutines readied by threads that held no P (see `metrics.rs`).
    pub(crate) fn wakes_without_processor(&self) -> u64 {
        self.core.wakes_without_processor.load(Relaxed)
    }

    /// True if an M is blocked in `block_until_ready` now.
    pub(crate) fn has_blocked_waiter(&self) -> bool {
        self.gate.is_blocked()
    }

    /// Breaks a blocked `block_until_ready`, or makes the next one return at once.
    pub(crate) fn notify(&self) {
        self.gate.notify(|| self.notifier.notify(&self.core.poller));
    }
}

impl Drop for Netpoller {
    fn drop(&mut self) {
        self.notifier.deregister(&self.core.poller);
        self.core.close();
    }
}

/// An fd registered with the current runtime's netpoller. Its owner must call
/// [`deregister`](Self::deregister) before closing the fd (`gmp::io::Async` does).
#[derive(Debug)]
pub(crate) struct Registration {
    core: Arc<Core>,
    source: Arc<Source>,
}

impl Registration {
    /// Registers `fd` with the netpoller of the runtime running this thread.
    ///
    /// # Panics
    ///
    /// Outside a gmp runtime, naming `call`.
    pub(crate) fn new(fd: BorrowedFd<'_>, call: &str) -> io::Result<Self> {
        crate::loom::not_in_a_model(call);
        let core = crate::machine::with_current(|context| context.map(|c| c.shared.netpoll.core.clone()));
        let Some(core) = core else { panic!("{}", outside_runtime(call)) };
        Self::with_core(core, fd)
    }

    fn with_core(core: Arc<Core>, fd: BorrowedFd<'_>) -> io::Result<Self> {
        if core.closed.load(Acquire) {
            return Err(runtime_gone());
        }
        let raw = fd.as_raw_fd();
        let source = lock(&core.table).insert(|key| {
            Arc::new(Source {
                key,
                fd: raw,
                state: AtomicU64::new(READY_MASK),
                waiters: Mutex::new(Waiters::default()),
            })
        })?;
        // SAFETY: `polling` requires the fd to be deleted from the poller before it is closed;
        // the owner of this registration calls `deregister` before closing it.
        let added = unsafe {
            match MODE {
                PollMode::Oneshot => core.poller.add_with_mode(raw, Event::none(source.key), MODE),
                _ => wait::add_source(&core.poller, fd, source.key),
            }
        };
        if let Err(error) = added {
            lock(&core.table).remove(source.key);
            return Err(error);
        }
        Ok(Self { core, source })
    }

    /// Removes the fd from the poller and drops any parked wakers. Call before closing the fd.
    pub(crate) fn deregister(&self, fd: BorrowedFd<'_>) {
        let _ = self.core.poller.delete(fd);
        lock(&self.core.table).remove(self.source.key);
        let wakers = self.source.take_all_wakers(&self.core);
        drop(wakers);
    }

    /// Ready if the source may be ready in `direction`; otherwise parks the task's waker.
    #[inline]
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, direction: Direction) -> Poll<io::Result<ReadyEvent>> {
        let state = self.source.state.load(Acquire);
        if state & direction.bit() != 0 {
            return Poll::Ready(Ok(ReadyEvent { direction, tick: state >> TICK_SHIFT }));
        }
        self.park(cx, direction)
    }

    fn park(&self, cx: &mut Context<'_>, direction: Direction) -> Poll<io::Result<ReadyEvent>> {
        let mut waiters = lock(&self.source.waiters);
        let state = self.source.state.load(Acquire);
        if state & direction.bit() != 0 {
            return Poll::Ready(Ok(ReadyEvent { direction, tick: state >> TICK_SHIFT }));
        }
        if self.core.closed.load(Acquire) {
            return Poll::Ready(Err(runtime_gone()));
        }
        if waiters.list(direction).register(cx.waker()) {
            self.core.waiting.fetch_add(1, Relaxed);
        }
        if MODE == PollMode::Oneshot {
            self.source.arm(&self.core, &waiters);
        }
        drop(waiters);
        record_wait_reason(WaitReason::IoWait);
        Poll::Pending
    }

    /// After an I/O call returned `WouldBlock`: clears the readiness `event` saw, unless an
    /// event arrived since.
    pub(crate) fn clear_readiness(&self, event: ReadyEvent) {
        let bit = event.direction.bit();
        let _ = self.source.state.fetch_update(AcqRel, Acquire, |state| {
            (state >> TICK_SHIFT == event.tick && state & bit != 0).then_some(state & !bit)
        });
    }

    /// After a read from a stream socket returned fewer bytes than it asked for (and more
    /// than none): clears read readiness as `WouldBlock` would, unless an event arrived since
    /// or the read side is closed.
    ///
    /// A short read on a stream socket (TCP, Unix stream) means the kernel's receive queue
    /// was empty when the read returned, so the next byte to arrive is a new edge that sets
    /// readiness again; clearing it now saves the extra read that would only return
    /// `WouldBlock` (one syscall per request on a request/response protocol). The one thing no
    /// new edge announces is an end of stream (or an error) already queued behind the data in
    /// the same edge, hence `READ_CLOSED`: set from `EPOLLRDHUP`/`EPOLLHUP`/`EPOLLERR`, it
    /// keeps readiness set so the next read sees the 0 or the error. Where the poller does not
    /// report half-closes (`wait::SHORT_READ_DRAINS` is false) this does nothing. Not for
    /// datagram or seqpacket sockets, where a short read is just a short message.
    pub(crate) fn clear_readiness_after_short_read(&self, event: ReadyEvent) {
        if !wait::SHORT_READ_DRAINS {
            return;
        }
        let _ = self.source.state.fetch_update(AcqRel, Acquire, |state| {
            let unchanged = state >> TICK_SHIFT == event.tick && state & READABLE != 0;
            (unchanged && state & READ_CLOSED == 0).then_some(state & !READABLE)
        });
    }

    /// Clears the readiness `event` saw and sets it again after `delay` (or at the next event):
    /// for errors that retrying at once would only repeat, such as `EMFILE` on accept.
    pub(crate) fn defer_readiness(&self, event: ReadyEvent, delay: Duration) {
        self.clear_readiness(event);
        let core = &*self.core;
        let due = core.nanos(Instant::now() + delay);
        lock(&core.retries).push(Retry { due, source: Arc::downgrade(&self.source), bits: event.direction.bit() });
        core.next_retry.fetch_min(due, AcqRel);
    }

    /// Runs `op` (a non-blocking I/O call) once, without parking: `WouldBlock` at once if the
    /// source is known not to be ready in `direction`; a `WouldBlock` from `op` clears the
    /// readiness, so the next wait parks. Spends no coop budget (it never waits).
    pub(crate) fn try_io<R>(&self, direction: Direction, op: impl FnOnce() -> io::Result<R>) -> io::Result<R> {
        let state = self.source.state.load(Acquire);
        if state & direction.bit() == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let event = ReadyEvent { direction, tick: state >> TICK_SHIFT };
        let result = op();
        if matches!(&result, Err(error) if error.kind() == io::ErrorKind::WouldBlock) {
            self.clear_readiness(event);
        }
        result
    }

    /// Runs `op` (a non-blocking I/O call) when the source is ready in `direction`, parking
    /// the task until it is; `WouldBlock` from `op` clears the readiness and parks again.
    /// Spends one unit of coop budget per attempt.
    #[inline]
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        direction: Direction,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            let event = match self.poll_ready(cx, direction) {
                Poll::Ready(Ok(event)) => event,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => return Poll::Pending,
            };
            if crate::coop::poll_proceed(cx).is_pending() {
                return Poll::Pending;
            }
            match op() {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => self.clear_readiness(event),
                result => return Poll::Ready(result),
            }
        }
    }
}

/// Taking events from the poller and breaking a blocked wait (see `netpoll/wait.rs`).
mod wait;

/// The handshake around the event buffer (see `netpoll/gate.rs`).
pub(crate) mod gate;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_collide_with_the_pollers_own_key() {
        let mut table = SourceTable::default();
        let make = |key| Arc::new(Source { key, fd: -1, state: AtomicU64::new(0), waiters: Mutex::default() });
        let first = table.insert(make).unwrap();
        assert_ne!(first.key, usize::MAX);
        assert!(table.remove(first.key).is_some());
        let second = table.insert(make).unwrap();
        assert_eq!(second.key & INDEX_MASK, first.key & INDEX_MASK, "the slot is reused");
        assert_ne!(second.key, first.key, "with a new generation");
        assert!(table.get(first.key).is_none(), "a stale key finds nothing");
        assert!(table.get(second.key).is_some());
    }
}
