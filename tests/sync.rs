//! gmp::sync's Mutex, RwLock, Semaphore and OnceCell: exclusion across awaits, FIFO hand-off,
//! cancellation that loses nothing, poison-freedom, and the wait reasons `dump()` shows.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex as StdMutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use common::{counting_waker, poll_once, runtime, within};
use gmp::runtime::{GoroutineState, WaitReason};
use gmp::sync::{AcquireError, Mutex, OnceCell, RwLock, Semaphore, SetError, TryAcquireError};

const LIMIT: Duration = Duration::from_secs(60);

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(20), "{what}: not after 20 s");
        gmp::time::sleep(Duration::from_millis(1)).await;
    }
}

fn parked_with(id: u64, reason: WaitReason) -> bool {
    gmp::runtime::goroutines()
        .iter()
        .any(|g| g.id == id && g.state == GoroutineState::Waiting && g.wait_reason == reason)
}

#[test]
fn a_mutex_held_across_yields_by_50_goroutines_keeps_a_counter_exact() {
    within(LIMIT, "mutex counter", || {
        runtime(4).block_on(async {
            let counter = Arc::new(Mutex::new(0u64));
            let handles: Vec<_> = (0..50)
                .map(|_| {
                    let counter = counter.clone();
                    gmp::spawn(async move {
                        for _ in 0..100 {
                            let mut guard = counter.lock().await;
                            let seen = *guard;
                            gmp::yield_now().await; // others run, and must not get in
                            *guard = seen + 1;
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.await.unwrap();
            }
            assert_eq!(*counter.lock().await, 5000);
        });
    });
}

#[test]
fn the_mutex_is_handed_to_waiters_in_the_order_they_came() {
    within(LIMIT, "mutex fifo", || {
        // One P: the woken waiters cannot run before this goroutine next waits, so the
        // `try_lock` below sees the state the unlock left.
        runtime(1).block_on(async {
            let mutex = Arc::new(Mutex::new(Vec::new()));
            let held = mutex.lock().await;
            let mut handles = Vec::new();
            for i in 0..10 {
                let mutex = mutex.clone();
                let handle = gmp::spawn(async move { mutex.lock().await.push(i) });
                // Each waiter is queued before the next is started.
                eventually("the waiter parks", || parked_with(handle.id(), WaitReason::MutexLock)).await;
                handles.push(handle);
            }
            // Ownership goes to the first waiter: a `try_lock` right after the unlock fails.
            drop(held);
            assert!(mutex.try_lock().is_err(), "the unlock handed the lock on, not back to the pool");
            for handle in handles {
                handle.await.unwrap();
            }
            assert_eq!(*mutex.lock().await, (0..10).collect::<Vec<_>>());
        });
    });
}

#[test]
fn a_cancelled_lock_future_loses_nothing_even_when_the_lock_was_handed_to_it() {
    let mutex = Mutex::new(0);
    let (_, waker) = counting_waker();
    let guard = mutex.try_lock().unwrap();
    let mut first = mutex.lock();
    let mut second = mutex.lock();
    assert!(poll_once(&mut first, &waker).is_pending());
    assert!(poll_once(&mut second, &waker).is_pending());
    drop(guard); // handed to `first`
    drop(first); // cancelled with the lock in hand: passes it to `second`
    match poll_once(&mut second, &waker) {
        Poll::Ready(mut guard) => *guard += 1,
        Poll::Pending => panic!("the lock handed to a cancelled waiter was lost"),
    }
    drop(second);
    // A waiter cancelled while queued just leaves.
    let guard = mutex.try_lock().unwrap();
    let mut queued = mutex.lock();
    assert!(poll_once(&mut queued, &waker).is_pending());
    drop(queued);
    drop(guard);
    assert_eq!(*mutex.try_lock().unwrap(), 1);
}

#[test]
fn cancelling_blocked_locks_at_random_keeps_the_mutex_usable() {
    within(LIMIT, "lock cancellation race", || {
        runtime(2).block_on(async {
            let mutex = Arc::new(Mutex::new(0u64));
            let done = Arc::new(AtomicUsize::new(0));
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let (mutex, done) = (mutex.clone(), done.clone());
                    gmp::spawn(async move {
                        for round in 0..500 {
                            if (round + i) % 2 == 0 {
                                let lock = gmp::time::timeout(Duration::from_micros(50), async {
                                    let mut guard = mutex.lock().await;
                                    gmp::yield_now().await;
                                    *guard += 1;
                                });
                                if lock.await.is_ok() {
                                    done.fetch_add(1, SeqCst);
                                }
                            } else {
                                *mutex.lock().await += 1;
                                done.fetch_add(1, SeqCst);
                            }
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.await.unwrap();
            }
            let total = *mutex.lock().await;
            // Timed-out critical sections may or may not have incremented (the timeout can
            // fire after the increment); the finished ones did.
            assert!(total >= done.load(SeqCst) as u64 && total <= 8 * 500, "{total}");
            assert!(mutex.try_lock().is_ok(), "the mutex was left locked");
        });
    });
}

#[test]
fn a_panic_while_holding_the_mutex_does_not_poison_it() {
    within(LIMIT, "poison", || {
        runtime(2).block_on(async {
            let mutex = Arc::new(Mutex::new(1));
            let m = mutex.clone();
            let result = gmp::spawn(async move {
                let _guard = m.lock().await;
                panic!("boom");
            })
            .await;
            assert!(result.unwrap_err().is_panic());
            assert_eq!(*mutex.lock().await, 1);
        });
    });
}

#[test]
fn rwlock_readers_share_and_a_waiting_writer_holds_back_later_readers() {
    within(LIMIT, "rwlock", || {
        runtime(2).block_on(async {
            let lock = Arc::new(RwLock::new(0));
            let first = lock.read().await;
            let second = lock.read().await; // readers share
            let writer = {
                let lock = lock.clone();
                gmp::spawn(async move { *lock.write().await += 1 })
            };
            eventually("the writer parks", || parked_with(writer.id(), WaitReason::RwMutexLock)).await;
            assert!(lock.try_read().is_err(), "a reader got past a waiting writer");
            let late_reader = {
                let lock = lock.clone();
                gmp::spawn(async move { *lock.read().await })
            };
            eventually("the late reader parks", || parked_with(late_reader.id(), WaitReason::RwMutexRLock)).await;
            drop(first);
            drop(second);
            writer.await.unwrap();
            assert_eq!(late_reader.await.unwrap(), 1, "the reader queued behind the writer saw its write");
            let dump = gmp::runtime::dump();
            assert!(!dump.contains("RWMutex"), "{dump}");
        });
    });
}

#[test]
fn rwlock_writers_exclude_everyone_across_awaits() {
    within(LIMIT, "rwlock exclusion", || {
        runtime(4).block_on(async {
            let lock = Arc::new(RwLock::new((0u64, 0u64)));
            let handles: Vec<_> = (0..16)
                .map(|i| {
                    let lock = lock.clone();
                    gmp::spawn(async move {
                        for _ in 0..100 {
                            if i % 4 == 0 {
                                let mut guard = lock.write().await;
                                guard.0 += 1;
                                gmp::yield_now().await;
                                guard.1 += 1;
                            } else {
                                let guard = lock.read().await;
                                assert_eq!(guard.0, guard.1, "a reader saw a write half done");
                                gmp::yield_now().await;
                            }
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.await.unwrap();
            }
            assert_eq!(*lock.read().await, (400, 400));
        });
    });
}

#[test]
fn semaphore_serves_waiters_in_order_and_counts_permits() {
    within(LIMIT, "semaphore", || {
        runtime(2).block_on(async {
            let semaphore = Arc::new(Semaphore::new(0));
            let order = Arc::new(StdMutex::new(Vec::new()));
            let mut handles = Vec::new();
            for (i, n) in [3usize, 1, 2].into_iter().enumerate() {
                let (semaphore, order) = (semaphore.clone(), order.clone());
                let handle = gmp::spawn(async move {
                    let permit = semaphore.acquire_many(n).await.unwrap();
                    order.lock().unwrap().push(i);
                    permit.forget();
                });
                eventually("the acquire parks", || parked_with(handle.id(), WaitReason::Semacquire)).await;
                handles.push(handle);
            }
            semaphore.add_permits(2); // not enough for the first (3): nobody may pass it
            gmp::time::sleep(Duration::from_millis(10)).await;
            assert!(order.lock().unwrap().is_empty(), "a smaller request barged past the first");
            assert_eq!(semaphore.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
            let mut handles = handles.into_iter();
            semaphore.add_permits(1); // 3: the first
            handles.next().unwrap().await.unwrap();
            semaphore.add_permits(1); // 1: the second
            handles.next().unwrap().await.unwrap();
            assert_eq!(*order.lock().unwrap(), [0, 1]);
            semaphore.add_permits(2);
            handles.next().unwrap().await.unwrap();
            assert_eq!(*order.lock().unwrap(), [0, 1, 2]);
            assert_eq!(semaphore.available_permits(), 0);
        });
    });
}

#[test]
fn semaphore_close_fails_waiters_and_later_acquires_but_keeps_held_permits() {
    within(LIMIT, "semaphore close", || {
        runtime(2).block_on(async {
            let semaphore = Arc::new(Semaphore::new(1));
            let held = semaphore.clone().acquire_owned().await.unwrap();
            let waiter = {
                let semaphore = semaphore.clone();
                gmp::spawn(async move { semaphore.acquire().await.map(|p| p.num_permits()) })
            };
            eventually("the waiter parks", || parked_with(waiter.id(), WaitReason::Semacquire)).await;
            semaphore.close();
            assert_eq!(waiter.await.unwrap(), Err(AcquireError));
            assert_eq!(semaphore.acquire().await.unwrap_err(), AcquireError);
            assert_eq!(semaphore.try_acquire().unwrap_err(), TryAcquireError::Closed);
            drop(held);
            assert_eq!(semaphore.available_permits(), 1);
        });
    });
}

#[test]
fn a_cancelled_acquire_at_the_head_of_the_queue_lets_the_next_ones_through() {
    let semaphore = Semaphore::new(1);
    let (_, waker) = counting_waker();
    let mut big = semaphore.acquire_many(2);
    let mut small = semaphore.acquire();
    assert!(poll_once(&mut big, &waker).is_pending());
    assert!(poll_once(&mut small, &waker).is_pending(), "FIFO: the small one queues behind");
    drop(big);
    assert!(matches!(poll_once(&mut small, &waker), Poll::Ready(Ok(_))));
}

#[test]
fn once_cell_runs_one_initialiser_and_everyone_gets_its_value() {
    within(LIMIT, "once cell", || {
        runtime(4).block_on(async {
            let cell = Arc::new(OnceCell::new());
            let runs = Arc::new(AtomicUsize::new(0));
            let handles: Vec<_> = (0..20)
                .map(|i| {
                    let (cell, runs) = (cell.clone(), runs.clone());
                    gmp::spawn(async move {
                        *cell
                            .get_or_init(|| async move {
                                runs.fetch_add(1, SeqCst);
                                gmp::time::sleep(Duration::from_millis(5)).await;
                                i
                            })
                            .await
                    })
                })
                .collect();
            let mut values = Vec::new();
            for handle in handles {
                values.push(handle.await.unwrap());
            }
            assert_eq!(runs.load(SeqCst), 1);
            assert!(values.windows(2).all(|w| w[0] == w[1]));
            assert_eq!(cell.get(), Some(&values[0]));
            assert_eq!(cell.set(99), Err(SetError::AlreadyInitialized(99)));
        });
    });
}

#[test]
fn once_cell_initialisation_cancelled_midway_is_taken_over_by_the_next_caller() {
    within(LIMIT, "once cell cancel", || {
        runtime(2).block_on(async {
            let cell = Arc::new(OnceCell::new());
            let (started_tx, started) = gmp::chan::bounded::<()>(1);
            let (cancel_tx, cancel) = gmp::chan::bounded::<()>(1);
            let slow = {
                let cell = cell.clone();
                gmp::spawn(async move {
                    let init = cell.get_or_init(|| async move {
                        started_tx.send(()).await.unwrap();
                        std::future::pending::<()>().await;
                        1
                    });
                    // Give up when told to: the initialiser's future is dropped midway.
                    let outcome = futures::future::select(Box::pin(init), Box::pin(cancel.recv())).await;
                    matches!(outcome, futures::future::Either::Right(_))
                })
            };
            started.recv().await.unwrap();
            let waiting = {
                let cell = cell.clone();
                gmp::spawn(async move { *cell.get_or_init(|| async { 2 }).await })
            };
            eventually("the second caller waits", || parked_with(waiting.id(), WaitReason::MutexLock)).await;
            assert_eq!(cell.set(3), Err(SetError::Initializing(3)));
            cancel_tx.send(()).await.unwrap();
            assert!(slow.await.unwrap(), "the first initialiser was cancelled");
            assert_eq!(waiting.await.unwrap(), 2, "the waiter ran its own initialiser");
            assert_eq!(cell.get(), Some(&2));
        });
    });
}

#[test]
fn a_failed_or_dropped_initialiser_leaves_the_cell_to_the_next_caller() {
    within(LIMIT, "once cell failure", || {
        runtime(2).block_on(async {
            let cell = OnceCell::new();
            assert_eq!(cell.get_or_try_init(|| async { Err::<u32, _>("no") }).await, Err("no"));
            assert!(!cell.initialized());
            // Dropped mid-initialisation: the permit goes back.
            let (_, waker) = counting_waker();
            let mut init = Box::pin(cell.get_or_init(std::future::pending::<u32>));
            assert!(poll_once(&mut init, &waker).is_pending());
            drop(init);
            assert_eq!(*cell.get_or_init(|| async { 7 }).await, 7);
        });
    });
}

#[test]
fn dump_shows_goroutines_parked_on_each_lock() {
    within(LIMIT, "dump sync", || {
        runtime(2).block_on(async {
            let mutex = Arc::new(Mutex::new(()));
            let rw = Arc::new(RwLock::new(()));
            let semaphore = Arc::new(Semaphore::new(0));
            let _held = mutex.lock().await;
            let read_held = rw.read().await;
            let locker = {
                let mutex = mutex.clone();
                gmp::spawn(async move { drop(mutex.lock().await) })
            };
            let writer = {
                let rw = rw.clone();
                gmp::spawn(async move { drop(rw.write().await) })
            };
            eventually("the writer parks", || parked_with(writer.id(), WaitReason::RwMutexLock)).await;
            let reader = {
                let rw = rw.clone();
                gmp::spawn(async move { drop(rw.read().await) })
            };
            let acquirer = {
                let semaphore = semaphore.clone();
                gmp::spawn(async move { drop(semaphore.acquire().await) })
            };
            let expected = [
                (locker.id(), WaitReason::MutexLock, "sync.Mutex.Lock"),
                (writer.id(), WaitReason::RwMutexLock, "sync.RWMutex.Lock"),
                (reader.id(), WaitReason::RwMutexRLock, "sync.RWMutex.RLock"),
                (acquirer.id(), WaitReason::Semacquire, "semacquire"),
            ];
            for (id, reason, _) in expected {
                eventually(&format!("{id} parks with {reason:?}"), || parked_with(id, reason)).await;
            }
            let dump = gmp::runtime::dump();
            for (id, _, text) in expected {
                assert!(dump.contains(&format!("goroutine {id} [{text}]:")), "no `{text}` for {id} in:\n{dump}");
            }
            drop(read_held);
            writer.await.unwrap();
            reader.await.unwrap();
            semaphore.add_permits(1);
            acquirer.await.unwrap();
        });
    });
}
