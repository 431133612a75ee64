//! Abuse counters and blocks in storage (`SecurityStore`), behind the limits' `Counters`
//! interface: every instance sees the same declines and the same blocks, and the operator
//! lifts a block from the command line. The card-testing guard always counts here; request
//! rate limits count here too when instances share a PostgreSQL database.

use std::sync::Arc;

use async_trait::async_trait;

use super::SecurityStore;
use crate::{clock::Clock, limits::Counters};

pub struct StoredCounters {
    store: Arc<dyn SecurityStore>,
    clock: Arc<dyn Clock>,
}

impl StoredCounters {
    pub fn new(store: Arc<dyn SecurityStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }
}

#[async_trait]
impl Counters for StoredCounters {
    async fn add(&self, key: &str, n: u32, window_secs: u64) -> u32 {
        self.add_many(&[(key.to_owned(), n)], window_secs)
            .await
            .first()
            .copied()
            .unwrap_or(0)
    }

    async fn add_many(&self, items: &[(String, u32)], window_secs: u64) -> Vec<u32> {
        let start = crate::limits::window_start(self.clock.now_secs(), window_secs);
        let rows: Vec<(String, i64, u32)> = items
            .iter()
            .map(|(key, n)| (key.clone(), start, *n))
            .collect();
        self.store
            .guard_count_many(&rows)
            .await
            .inspect_err(|e| tracing::error!(error = %e, "abuse counters not stored"))
            .unwrap_or_else(|_| vec![0; items.len()])
    }

    async fn block(&self, key: &str, secs: u64) {
        let until = self
            .clock
            .now_secs()
            .saturating_add(i64::try_from(secs).unwrap_or(i64::MAX));
        if let Err(e) = self.store.guard_block(key, until).await {
            tracing::error!(error = %e, "abuse block not stored");
        }
    }

    async fn blocked(&self, key: &str) -> Option<u64> {
        let now = self.clock.now_secs();
        match self.store.guard_blocked(key, now).await {
            Ok(until) => until.map(|u| u64::try_from(u - now).unwrap_or(1).max(1)),
            Err(e) => {
                tracing::error!(error = %e, "abuse block not read");
                None
            }
        }
    }
}
