//! What tokio-console sees: the `tracing` spans and events that console-subscriber reads,
//! emitted for gmp's goroutines and timers (feature `tracing`, off by default).
//!
//! # Design
//!
//! console-subscriber is a `tracing` layer that recognises a runtime's instrumentation by
//! span names and event targets, not by crate, so any runtime can feed it. gmp speaks that
//! vocabulary (checked against console-subscriber 0.5's visitors):
//!
//! - **A goroutine is a span named `runtime.spawn`**, created when the goroutine is (with
//!   `parent: None`: a goroutine belongs to no other), with the fields `kind` (`task`,
//!   `blocking` for a `spawn_blocking` call, `block_on` for the main goroutine), `task.id` (the
//!   goroutine id, which tokio-console shows in its ID column), `task.name` (`main` for the
//!   main goroutine; gmp, like Go, has no names for the others) and `loc.file`, `loc.line`,
//!   `loc.col` (where it was spawned). The span lives as long as the goroutine's future, so
//!   its close is the goroutine's end.
//! - **A poll is the span entered**: `Instrumented` enters it around every poll of the
//!   future, wherever it runs (an M, M0, a blocking thread), and console-subscriber times the
//!   polls from the enter and exit.
//! - **Wakers are events with target `runtime::waker`**, field `op` = `waker.clone`,
//!   `waker.drop`, `waker.wake` or `waker.wake_by_ref` and field `task.id` = the goroutine
//!   span's *span id*. To see them, the poll hands the future a waker of this module's own
//!   (a `TaskWaker` wrapping the task's waker) that emits the event and forwards the call.
//!   One `TaskWaker` is made per goroutine at its first poll and kept for the next ones, so
//!   the waker a future sees is the same from poll to poll and `Waker::will_wake` holds
//!   across polls, as gmp's own registrations (netpoll, timers, sync) rely on.
//! - **A timer is a resource**: a span named `runtime.resource` with `concrete_type` =
//!   `Sleep`, `kind` = `timer` and the caller's location; inside it, one async-op span
//!   (`runtime.resource.async_op`, `source`) for the wait and a `runtime::resource::state_update`
//!   event for the `duration` (ms) each time the deadline is set; each poll of the sleep
//!   enters both spans and ends with a `runtime::resource::poll_op` event (`op_name`,
//!   `is_ready`), which ties the wait to the goroutine polling it.
//!
//! # Cost
//!
//! Without the feature, `instrument` is the identity, `Instrumented<F>` is `F` and
//! `TimerSpans` is a zero-sized type with empty `#[inline(always)]` methods: the default
//! build carries neither a field nor an instruction of this module. With the feature but no
//! subscriber interested, a span is disabled at its creation (a relaxed load of tracing's max
//! level), a goroutine and a `Sleep` carry one null pointer and every poll tests it. With console-subscriber installed, the cost is
//! console-subscriber's (a span per goroutine and per sleep, an event per waker operation);
//! the README gives a measured figure.
//!
//! # Who touches what
//!
//! The spawn paths (`Shared::spawn`, `spawn_blocking`, `block_on`) call `instrument` on the
//! user's future once; `GoroutineFuture` then polls the result like any future. `Sleep` owns a
//! `TimerSpans` and calls it at creation, reset and poll.

#[cfg(feature = "tracing")]
pub(crate) use on::{instrument, TimerSpans};

#[cfg(not(feature = "tracing"))]
pub(crate) use off::{instrument, TimerSpans};

/// What a goroutine is, as console's `kind` field names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A goroutine from `gmp::spawn`.
    Task,
    /// The goroutine of a `spawn_blocking` call.
    Blocking,
    /// The main goroutine of `block_on`.
    Main,
}

/// The feature is off: nothing here exists at run time.
#[cfg(not(feature = "tracing"))]
mod off {
    use std::time::Duration;

    use super::Kind;
    use crate::goroutine::Goroutine;

    /// Without the feature, a goroutine's future is the user's future itself.
    pub(crate) type Instrumented<F> = F;

    /// The identity.
    #[inline(always)]
    pub(crate) fn instrument<F>(future: F, _kind: Kind, _goroutine: &Goroutine) -> Instrumented<F> {
        future
    }

    /// Zero-sized: a `Sleep` without the feature has no console state.
    #[derive(Debug, Default)]
    pub(crate) struct TimerSpans;

    impl TimerSpans {
        #[inline(always)]
        pub(crate) fn new(_remaining: impl FnOnce() -> Duration) -> Self {
            Self
        }

        #[inline(always)]
        pub(crate) fn reset(&self, _remaining: impl FnOnce() -> Duration) {}

        #[inline(always)]
        pub(crate) fn poll<R>(&self, poll: impl FnOnce() -> std::task::Poll<R>) -> std::task::Poll<R> {
            poll()
        }
    }
}

#[cfg(feature = "tracing")]
mod on {
    use std::fmt;
    use std::future::Future;
    use std::mem::ManuallyDrop;
    use std::panic::Location;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
    use std::time::Duration;

    use tracing::Span;

    use super::Kind;
    use crate::goroutine::Goroutine;

    /// Creates the goroutine's `runtime.spawn` span and wraps `future` to enter it at every
    /// poll. Called once per goroutine, from its spawn path.
    pub(crate) fn instrument<F>(future: F, kind: Kind, goroutine: &Goroutine) -> Instrumented<F> {
        let at = goroutine.spawned_at();
        let (id, file, line, col) = (goroutine.id(), at.file(), at.line(), at.column());
        // One callsite per kind: a span's field set is static.
        let span = match kind {
            Kind::Task => tracing::trace_span!(
                target: "gmp::task", parent: None, "runtime.spawn",
                kind = "task", task.id = id, loc.file = file, loc.line = line, loc.col = col,
            ),
            Kind::Blocking => tracing::trace_span!(
                target: "gmp::task", parent: None, "runtime.spawn",
                kind = "blocking", task.id = id, loc.file = file, loc.line = line, loc.col = col,
            ),
            Kind::Main => tracing::trace_span!(
                target: "gmp::task", parent: None, "runtime.spawn",
                kind = "block_on", task.name = "main", task.id = id,
                loc.file = file, loc.line = line, loc.col = col,
            ),
        };
        // Boxed, and only when a subscriber wants the span: without one a goroutine carries a
        // null pointer, not the span's five words.
        let console = (!span.is_disabled()).then(|| Box::new(Console { span, waker: None }));
        Instrumented { future, console }
    }

    pin_project_lite::pin_project! {
        /// A goroutine's future with its console span: every poll enters the span and sees
        /// a waker that reports its clones, wakes and drops.
        pub(crate) struct Instrumented<F> {
            #[pin]
            future: F,
            console: Option<Box<Console>>,
        }
    }

    /// The console state of one goroutine.
    #[derive(Debug)]
    pub(crate) struct Console {
        span: Span,
        /// The waker handed to the future, made at the first poll.
        waker: Option<Arc<TaskWaker>>,
    }

    impl<F: Future> Future for Instrumented<F> {
        type Output = F::Output;

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
            let this = self.project();
            // No subscriber wanted the span: poll as if uninstrumented.
            let Some(console) = this.console.as_deref_mut() else { return this.future.poll(cx) };
            let Some(span_id) = console.span.id() else { return this.future.poll(cx) };
            let _entered = console.span.enter();
            let task_waker = match &mut console.waker {
                Some(task_waker) if task_waker.inner.will_wake(cx.waker()) => task_waker,
                slot => slot.insert(Arc::new(TaskWaker { inner: cx.waker().clone(), span_id: span_id.into_u64() })),
            };
            // Lent, not owned: the `Arc` above keeps the data alive for the whole poll, and
            // `ManuallyDrop` keeps this waker from giving back a count it never took.
            // SAFETY: the pointer comes from a live `Arc<TaskWaker>` and the vtable is the one
            // for exactly that type (see `VTABLE`).
            let waker = ManuallyDrop::new(unsafe { Waker::from_raw(raw_waker(task_waker)) });
            let mut cx = Context::from_waker(&waker);
            this.future.poll(&mut cx)
        }
    }

    /// A goroutine's waker as the console sees it: the task's own waker, plus the span id its
    /// events name.
    pub(crate) struct TaskWaker {
        inner: Waker,
        span_id: u64,
    }

    impl fmt::Debug for TaskWaker {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("TaskWaker").field("span_id", &self.span_id).finish_non_exhaustive()
        }
    }

    /// The vtable of every `TaskWaker` waker; one static, so two wakers of one `TaskWaker`
    /// compare equal under `Waker::will_wake`.
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone_waker, wake, wake_by_ref, drop_waker);

    fn raw_waker(task_waker: &Arc<TaskWaker>) -> RawWaker {
        RawWaker::new(Arc::as_ptr(task_waker).cast(), &VTABLE)
    }

    fn waker_event(op: &'static str, span_id: u64) {
        tracing::trace!(target: "runtime::waker", op, task.id = span_id);
    }

    // The four functions below receive the data pointer of a `RawWaker` made by `raw_waker`
    // (or by `clone_waker`): `Arc::as_ptr` of a `TaskWaker`. A `RawWaker` that owns a count
    // (every one but the one lent to a poll) holds one strong count of that `Arc`.

    unsafe fn clone_waker(data: *const ()) -> RawWaker {
        let task_waker = data.cast::<TaskWaker>();
        // SAFETY: `data` points to a live `TaskWaker` inside an `Arc` (see above); the new
        // `RawWaker` owns the count taken here.
        unsafe { Arc::increment_strong_count(task_waker) };
        // SAFETY: as above, the `TaskWaker` is alive.
        waker_event("waker.clone", unsafe { (*task_waker).span_id });
        RawWaker::new(data, &VTABLE)
    }

    unsafe fn wake(data: *const ()) {
        // SAFETY: a waker woken by value owns one count (the lent waker is never woken by
        // value: it sits in a `ManuallyDrop` behind `&`); this takes it back.
        let task_waker = unsafe { Arc::from_raw(data.cast::<TaskWaker>()) };
        waker_event("waker.wake", task_waker.span_id);
        match Arc::try_unwrap(task_waker) {
            Ok(last) => last.inner.wake(),
            Err(shared) => shared.inner.wake_by_ref(),
        }
    }

    unsafe fn wake_by_ref(data: *const ()) {
        // SAFETY: `data` points to a live `TaskWaker` (see above); nothing is taken.
        let task_waker = unsafe { &*data.cast::<TaskWaker>() };
        waker_event("waker.wake_by_ref", task_waker.span_id);
        task_waker.inner.wake_by_ref();
    }

    unsafe fn drop_waker(data: *const ()) {
        let task_waker = data.cast::<TaskWaker>();
        // SAFETY: the `TaskWaker` is alive until the count below is given back.
        waker_event("waker.drop", unsafe { (*task_waker).span_id });
        // SAFETY: the dropped waker owned one count; give it back.
        unsafe { Arc::decrement_strong_count(task_waker) };
    }

    /// A `Sleep`'s console resource: the `runtime.resource` span of the timer and the async-op
    /// span of the wait inside it, boxed and only when a subscriber wants them (a `Sleep` grows
    /// by one pointer, not by ten words).
    #[derive(Debug, Default)]
    pub(crate) struct TimerSpans(Option<Box<Resource>>);

    #[derive(Debug)]
    struct Resource {
        resource: Span,
        async_op: Span,
    }

    impl TimerSpans {
        /// The spans of a sleep with `remaining` time to go, located at the caller (`sleep`,
        /// `interval`, `timeout`... are `#[track_caller]` under the feature).
        #[track_caller]
        pub(crate) fn new(remaining: impl FnOnce() -> Duration) -> Self {
            let at = Location::caller();
            let resource = tracing::trace_span!(
                target: "gmp::time", parent: None, "runtime.resource",
                concrete_type = "Sleep", kind = "timer",
                loc.file = at.file(), loc.line = at.line(), loc.col = at.column(),
            );
            if resource.is_disabled() {
                return Self::default();
            }
            let async_op = resource.in_scope(|| {
                duration_update(remaining());
                tracing::trace_span!(target: "gmp::time", "runtime.resource.async_op", source = "Sleep::new")
            });
            Self(Some(Box::new(Resource { resource, async_op })))
        }

        /// The deadline moved: the resource's `duration` attribute follows.
        pub(crate) fn reset(&self, remaining: impl FnOnce() -> Duration) {
            if let Some(spans) = &self.0 {
                spans.resource.in_scope(|| duration_update(remaining()));
            }
        }

        /// Runs one poll of the sleep inside its spans and reports whether it was ready.
        pub(crate) fn poll<R>(&self, poll: impl FnOnce() -> Poll<R>) -> Poll<R> {
            let Some(spans) = &self.0 else { return poll() };
            let _resource = spans.resource.enter();
            let _async_op = spans.async_op.enter();
            let result = poll();
            tracing::trace!(
                target: "runtime::resource::poll_op",
                op_name = "poll_elapsed",
                is_ready = result.is_ready(),
            );
            result
        }
    }

    /// The `duration` attribute (the time left, in ms), for the resource span that is entered.
    fn duration_update(remaining: Duration) {
        let millis = remaining.as_millis();
        tracing::trace!(
            target: "runtime::resource::state_update",
            duration = u64::try_from(millis).unwrap_or(u64::MAX),
            duration.unit = "ms",
            duration.op = "override",
        );
    }
}
