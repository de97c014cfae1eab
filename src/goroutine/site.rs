//! Spawn sites, interned: a goroutine keeps the `Location` of its `spawn` as a 32-bit index.
//!
//! # Design
//!
//! A goroutine's header is per goroutine and must stay small (its bytes are most of what a
//! parked goroutine costs), so instead of an 8-byte `&'static Location` it keeps the index of
//! its spawn site in one process-wide table. A program has few spawn sites (one per `spawn`
//! call in its source), so the table stays small and is never shrunk.
//!
//! Interning is on the spawn path, so each thread remembers the last site it interned: a
//! loop spawning from one call site (the common case) reads only that thread-local pair.
//! A miss takes the table's lock. Reading a site back (`dump()`, the long-poll warning, the
//! execution trace) takes the table's read lock.

use std::collections::HashMap;
use std::panic::Location;
use std::sync::{Mutex, RwLock};

/// The sites, by index.
static SITES: RwLock<Vec<&'static Location<'static>>> = RwLock::new(Vec::new());

/// The index of each interned site, by address.
static INDEX: Mutex<Option<HashMap<usize, u32>>> = Mutex::new(None);

crate::loom::thread_local! {
    /// The last site this thread interned, and its index.
    static LAST: std::cell::Cell<(usize, u32)> = const { std::cell::Cell::new((0, 0)) };
}

/// The index of `site` (interning it if it is new). Indexes fit in 31 bits (the goroutine
/// header keeps a flag in the top one).
#[inline]
pub(crate) fn intern(site: &'static Location<'static>) -> u32 {
    let address = site as *const Location<'static> as usize;
    let (last, index) = LAST.with(std::cell::Cell::get);
    if last == address {
        return index;
    }
    let index = intern_slow(site, address);
    LAST.with(|cell| cell.set((address, index)));
    index
}

#[cold]
fn intern_slow(site: &'static Location<'static>, address: usize) -> u32 {
    let mut index = INDEX.lock().unwrap_or_else(|e| e.into_inner());
    let index = index.get_or_insert_with(HashMap::new);
    *index.entry(address).or_insert_with(|| {
        let mut sites = SITES.write().unwrap_or_else(|e| e.into_inner());
        sites.push(site);
        assert!(sites.len() < 1 << 31, "gmp: more than 2^31 spawn sites");
        (sites.len() - 1) as u32
    })
}

/// The site interned as `index`.
pub(crate) fn site(index: u32) -> &'static Location<'static> {
    SITES.read().unwrap_or_else(|e| e.into_inner())[index as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_site_is_interned_once_and_read_back() {
        let here = Location::caller();
        let elsewhere = {
            #[track_caller]
            fn at() -> &'static Location<'static> {
                Location::caller()
            }
            at()
        };
        let a = intern(here);
        let b = intern(elsewhere);
        assert_ne!(a, b);
        assert_eq!(intern(here), a, "interned again from the cache's miss path");
        assert_eq!(intern(here), a, "and from its hit");
        assert!(std::ptr::eq(site(a), here));
        assert!(std::ptr::eq(site(b), elsewhere));
        let other_thread = std::thread::spawn(move || intern(here)).join().unwrap();
        assert_eq!(other_thread, a, "one table for every thread");
    }
}
