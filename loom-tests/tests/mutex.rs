//! gmp::sync::Mutex's hand-off protocol (`sync/semaphore.rs`, which the mutex is built on)
//! under loom: mutual exclusion over the guarded value (loom checks the `UnsafeCell` for
//! concurrent access), ownership handed to the first waiter on unlock, and a lock future
//! cancelled after the lock was handed to it passing the lock on, so no waiter is left
//! parked forever (a lost wake-up shows as a loom deadlock). The last model runs the same
//! core as an `RwLock`.
#![cfg(loom)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use gmp::sync::Mutex;
use loom::future::block_on;
use loom::sync::Arc;
use loom::thread;

fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

/// Two threads increment under the lock; the guarded counter ends at 2 and loom sees no
/// concurrent access to it.
#[test]
fn two_lockers_exclude_each_other() {
    loom_tests::model(|| {
        let mutex = Arc::new(Mutex::new(0u32));
        let other = {
            let mutex = mutex.clone();
            thread::spawn(move || *block_on(mutex.lock()) += 1)
        };
        *block_on(mutex.lock()) += 1;
        other.join().unwrap();
        assert_eq!(*block_on(mutex.lock()), 2);
    });
}

/// The holder unlocks while one waiter polls once and then gives up (its future is dropped,
/// perhaps with the lock just handed to it) and another waits for good: the patient one must
/// get the lock.
#[test]
fn a_cancelled_waiter_passes_a_handed_lock_on() {
    loom_tests::model(|| {
        let mutex = Arc::new(Mutex::new(0u32));
        let guard = mutex.try_lock().unwrap();
        let patient = {
            let mutex = mutex.clone();
            thread::spawn(move || *block_on(mutex.lock()) += 1)
        };
        let quitter = {
            let mutex = mutex.clone();
            thread::spawn(move || {
                let mut lock = pin!(mutex.lock());
                if let Poll::Ready(mut guard) = poll_once(lock.as_mut()) {
                    *guard += 10;
                }
            })
        };
        drop(guard);
        quitter.join().unwrap();
        patient.join().unwrap();
        let total = *block_on(mutex.lock());
        assert!(total == 1 || total == 11, "{total}");
    });
}

/// `RwLock` is the same semaphore with many permits: a writer and a reader on two threads
/// never overlap (loom checks the guarded cell), and the reader sees the value before or
/// after the write, never in between.
#[test]
fn a_writer_and_a_reader_of_an_rwlock_exclude_each_other() {
    loom_tests::model(|| {
        let lock = Arc::new(gmp::sync::RwLock::new((0u32, 0u32)));
        let writer = {
            let lock = lock.clone();
            thread::spawn(move || {
                let mut guard = block_on(lock.write());
                guard.0 += 1;
                guard.1 += 1;
            })
        };
        let seen = *block_on(lock.read());
        writer.join().unwrap();
        assert!(seen == (0, 0) || seen == (1, 1), "{seen:?}");
        assert_eq!(*block_on(lock.read()), (1, 1));
    });
}
