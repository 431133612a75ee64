//! What the built-in simulators (`crate::sim`) keep, and where: a small record store of their
//! own, implemented by every storage backend in a table of its own, so that a challenge
//! survives a restart and several instances share the simulated ACS, bank and SMS outbox.
//! Neither the simulators nor this interface know anything of Kapı's payments.

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
#[error("simulator storage: {0}")]
pub struct SimStoreError(pub String);

/// One record of a simulator: its own JSON, under a kind and a key, with a tag lists can
/// filter by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRecord {
    pub kind: String,
    pub key: String,
    pub tag: Option<String>,
    pub value: String,
    pub at: i64,
}

#[async_trait]
pub trait SimStore: Send + Sync + 'static {
    /// Adds a record; `false` when one of that kind and key exists already.
    async fn sim_insert(&self, record: &SimRecord) -> Result<bool, SimStoreError>;
    async fn sim_get(&self, kind: &str, key: &str) -> Result<Option<SimRecord>, SimStoreError>;
    /// Replaces a record's value if it is still `expected` (a compare-and-set).
    async fn sim_replace(
        &self,
        kind: &str,
        key: &str,
        expected: &str,
        value: &str,
        at: i64,
    ) -> Result<bool, SimStoreError>;
    /// Records of a kind, newest first, optionally only those with `tag`.
    async fn sim_list(
        &self,
        kind: &str,
        tag: Option<&str>,
        limit: i64,
    ) -> Result<Vec<SimRecord>, SimStoreError>;
    /// Drops records of a kind written before `before`.
    async fn sim_forget(&self, kind: &str, before: i64) -> Result<u64, SimStoreError>;
}
