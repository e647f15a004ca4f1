//! List totals, reused for a moment: a paged list answers `total` with a `count(*)` over
//! every matching row, which under load was most of PostgreSQL's work (the mixed benchmark
//! lists approvals 200 times a second). A total is reused while no write of this process
//! could have changed it (a generation number, bumped by every such write, and read before
//! the count starts) and for at most [`TOTAL_TTL`], the bound on how long a write made by
//! another node (or by a write whose caller went away before it finished) goes unseen in a
//! total. The last page of a list counts nothing: its total is its offset plus its rows.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a total is reused at most.
pub const TOTAL_TTL: Duration = Duration::from_secs(1);

/// Totals kept at most (filters by session make many keys); all are dropped when full.
const MAX_ENTRIES: usize = 1024;

#[derive(Debug, Clone, Copy)]
struct Entry {
    generation: u64,
    at: Instant,
    total: u64,
}

/// Totals of one table's lists, by filter.
#[derive(Debug, Default)]
pub(crate) struct TotalsCache {
    generation: AtomicU64,
    entries: Mutex<HashMap<String, Entry>>,
}

impl TotalsCache {
    /// The current generation: read it before counting, and store the count under it.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// A write that may change a total is about to happen (or has happened): every total
    /// counted before it is stale.
    pub(crate) fn changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The total for `key`, if it is still good.
    pub(crate) fn get(&self, key: &str) -> Option<u64> {
        let current = self.generation();
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(key)
            .filter(|e| e.generation == current && e.at.elapsed() < TOTAL_TTL)
            .map(|e| e.total)
    }

    /// Keeps `total`, counted after `generation` was read.
    pub(crate) fn put(&self, key: String, generation: u64, total: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                generation,
                at: Instant::now(),
                total,
            },
        );
    }
}

/// The total of a page: exact from the page itself when it is the last one (fewer rows
/// than asked for, and not past the end), else `count`'s.
pub(crate) fn page_total(
    offset: u64,
    limit: u64,
    rows: usize,
    count: impl FnOnce() -> Result<u64, orchestra_application::ports::RepositoryError>,
) -> Result<(u64, bool), orchestra_application::ports::RepositoryError> {
    let rows = rows as u64;
    if rows < limit && (rows > 0 || offset == 0) {
        return Ok((offset + rows, false));
    }
    count().map(|n| (n, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_total_counted_before_a_write_is_not_reused_after_it() {
        let cache = TotalsCache::default();
        let generation = cache.generation();
        cache.put("k".into(), generation, 5);
        assert_eq!(cache.get("k"), Some(5));
        cache.changed();
        assert_eq!(cache.get("k"), None, "a write made it stale");
        // A count that started before a write and finished after it is stored stale.
        let before = cache.generation();
        cache.changed();
        cache.put("k".into(), before, 6);
        assert_eq!(cache.get("k"), None);
    }

    #[test]
    fn the_last_page_knows_its_total_without_counting() {
        let never = || -> Result<u64, _> { panic!("counted") };
        assert_eq!(page_total(0, 50, 7, never).unwrap(), (7, false));
        assert_eq!(page_total(100, 50, 3, never).unwrap(), (103, false));
        assert_eq!(page_total(0, 50, 0, never).unwrap(), (0, false));
        // Past the end, or a full page: only a count knows.
        assert_eq!(page_total(100, 50, 0, || Ok(42)).unwrap(), (42, true));
        assert_eq!(page_total(0, 50, 50, || Ok(420)).unwrap(), (420, true));
    }
}
