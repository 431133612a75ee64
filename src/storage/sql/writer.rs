//! Units of work, and group commit for SQLite.
//!
//! Every write of the store is a *unit of work*: a closure that runs its statements on the
//! connection it is given and says whether they are to be kept (a compare-and-set that lost
//! keeps nothing). On PostgreSQL each unit is one transaction of its own: PostgreSQL commits
//! many transactions at once by itself and has no single writer.
//!
//! SQLite has one writer, and a durable commit (`synchronous=FULL`) holds its lock through an
//! fsync. So on SQLite the units go to one writer task, which takes every unit waiting — up to
//! [`MAX_BATCH`] — into one `BEGIN IMMEDIATE` transaction, each inside a savepoint of its own,
//! and commits them with one fsync. A unit that fails or discards is rolled back to its
//! savepoint and does not disturb the others. No caller hears its result before the commit
//! that makes it durable has returned; when that commit fails, every unit of the batch that
//! wrote hears the failure ([`StoreError::NotWritten`]).
//!
//! A unit runs whether or not its caller is still waiting (a dropped request does not cut a
//! transaction in half), and units run in the order they were sent.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use sqlx::{Acquire, AnyConnection, AnyPool, Connection};
use tokio::sync::{mpsc, oneshot};

use crate::storage::StoreError;

/// A boxed future borrowing the connection for `'c`.
pub(super) type Fut<'c, T> = Pin<Box<dyn Future<Output = T> + Send + 'c>>;

/// What a unit of work decides about its own writes.
pub(super) enum Unit<T> {
    /// Keep them: the result holds once committed.
    Keep(T),
    /// Roll them back (a compare-and-set that lost, a refused claim): the result holds anyway.
    Discard(T),
}

impl<T> Unit<T> {
    fn into_inner(self) -> (bool, T) {
        match self {
            Self::Keep(t) => (true, t),
            Self::Discard(t) => (false, t),
        }
    }
}

/// The largest number of units one commit takes. Bounded so that one slow batch does not
/// hold the lock (and the readers' view of the newest data) for long.
pub(super) const MAX_BATCH: usize = 128;

/// How many units may wait for the writer. A full queue makes callers wait to send (back
/// pressure), it does not drop anything.
const QUEUE: usize = 4096;

/// Called once the batch a unit ran in has been committed (`Ok`) or lost (`Err`, the reason).
type Finish = Box<dyn FnOnce(Result<(), &str>) + Send>;

/// A unit with its result's way home: runs, says whether to keep its writes, and how to
/// report once the batch's fate is known.
type Job = Box<dyn for<'c> FnOnce(&'c mut AnyConnection) -> Fut<'c, (bool, Finish)> + Send>;

/// The handle to SQLite's writer task.
#[derive(Clone)]
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
    #[cfg_attr(not(test), allow(dead_code))]
    counts: Arc<Counts>,
}

/// Commits and units so far (units per commit is what group commit buys). The metric
/// `kapi_db_group_commit_units` reports the same to the operator; this is for tests.
#[derive(Default)]
struct Counts {
    commits: AtomicU64,
    units: AtomicU64,
}

impl Writer {
    /// Starts the writer task over `pool`. It ends when the last handle is dropped, after
    /// finishing what was sent.
    pub(super) fn start(pool: AnyPool) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let counts = Arc::new(Counts::default());
        tokio::spawn(run(pool, queue, counts.clone()));
        Self { jobs, counts }
    }

    /// Group commits and the units they carried, since the start.
    #[cfg(test)]
    pub(super) fn counts(&self) -> (u64, u64) {
        (
            self.counts.commits.load(Ordering::Relaxed),
            self.counts.units.load(Ordering::Relaxed),
        )
    }

    /// Runs `work` in the next group commit and answers once it is durable.
    pub(super) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut AnyConnection) -> Fut<'c, Result<Unit<T>, StoreError>>
            + Send
            + 'static,
    {
        let (answer, answered) = oneshot::channel::<Result<T, StoreError>>();
        let job: Job = Box::new(move |conn| {
            Box::pin(async move {
                let outcome = work(conn).await;
                let keep = matches!(outcome, Ok(Unit::Keep(_)));
                let finish: Finish = Box::new(move |committed| {
                    let result = match (outcome, committed) {
                        (Err(e), _) => Err(e),
                        (Ok(unit), Ok(())) => Ok(unit.into_inner().1),
                        // What it discarded was never going to be written: its answer holds.
                        (Ok(Unit::Discard(t)), Err(_)) => Ok(t),
                        (Ok(Unit::Keep(_)), Err(reason)) => {
                            Err(StoreError::NotWritten(reason.to_owned()))
                        }
                    };
                    // The caller may have gone (a dropped request): the write stands anyway.
                    let _ = answer.send(result);
                });
                (keep, finish)
            })
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| StoreError::NotWritten("the writer has stopped".to_owned()))?;
        answered.await.map_err(|_| {
            StoreError::NotWritten("the writer stopped before committing".to_owned())
        })?
    }
}

async fn run(pool: AnyPool, mut queue: mpsc::Receiver<Job>, counts: Arc<Counts>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let jobs = std::mem::take(&mut batch);
        let units = jobs.len();
        metrics::histogram!(crate::observe::STORE_BATCH).record(units as f64);
        commit(&pool, jobs).await;
        counts.commits.fetch_add(1, Ordering::Relaxed);
        counts
            .units
            .fetch_add(u64::try_from(units).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

/// Runs `jobs` in one transaction, each in a savepoint, commits, and reports.
async fn commit(pool: &AnyPool, jobs: Vec<Job>) {
    let mut finishes: Vec<Finish> = Vec::with_capacity(jobs.len());
    let outcome = run_batch(pool, jobs, &mut finishes).await;
    let reason = outcome.as_ref().err().map(|e| {
        tracing::error!(error = %e, units = finishes.len(), "group commit failed");
        e.to_string()
    });
    for finish in finishes {
        finish(reason.as_deref().map_or(Ok(()), Err));
    }
}

async fn run_batch(
    pool: &AnyPool,
    jobs: Vec<Job>,
    finishes: &mut Vec<Finish>,
) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    for job in jobs {
        let mut unit = tx.begin().await?;
        let (keep, finish) = job(&mut unit).await;
        finishes.push(finish);
        if keep {
            unit.commit().await?;
        } else {
            unit.rollback().await?;
        }
    }
    tx.commit().await
}

/// Runs `work`, one statement, on a connection of `pool` in autocommit.
pub(super) async fn write_statement<T, F>(pool: &AnyPool, work: F) -> Result<T, StoreError>
where
    F: for<'c> FnOnce(&'c mut AnyConnection) -> Fut<'c, Result<Unit<T>, StoreError>>,
{
    let mut conn = pool.acquire().await?;
    Ok(work(&mut conn).await?.into_inner().1)
}

/// Runs `work` as a transaction of its own on `pool` (PostgreSQL, and SQLite opened
/// read-only).
pub(super) async fn write_alone<T, F>(pool: &AnyPool, work: F) -> Result<T, StoreError>
where
    F: for<'c> FnOnce(&'c mut AnyConnection) -> Fut<'c, Result<Unit<T>, StoreError>>,
{
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin().await?;
    let (keep, t) = work(&mut tx).await?.into_inner();
    if keep {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::super::SqlStore;
    use super::*;
    use crate::storage::RequestStore;

    async fn nonces(store: &SqlStore) -> Vec<String> {
        sqlx::query_scalar("SELECT nonce FROM nonces ORDER BY nonce")
            .fetch_all(store.pool())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn units_sent_together_share_one_commit_and_each_gets_its_own_answer() {
        let store = SqlStore::open_in_memory().await.unwrap();
        let before = store.writer.as_ref().unwrap().counts();
        // On this single-threaded runtime every send happens before the writer runs once.
        let (a, b, again, c) = tokio::join!(
            store.remember_nonce("m", "n1", 1),
            store.remember_nonce("m", "n2", 1),
            store.remember_nonce("m", "n1", 2),
            store.remember_nonce("m", "n3", 1),
        );
        assert_eq!(
            (a.unwrap(), b.unwrap(), again.unwrap(), c.unwrap()),
            (true, true, false, true),
            "a later unit sees the earlier units of its batch"
        );
        let after = store.writer.as_ref().unwrap().counts();
        assert_eq!((after.0 - before.0, after.1 - before.1), (1, 4));
        assert_eq!(nonces(&store).await, ["n1", "n2", "n3"]);
    }

    #[tokio::test]
    async fn a_failing_or_discarding_unit_leaves_the_rest_of_its_batch_written() {
        let store = SqlStore::open_in_memory().await.unwrap();
        let insert = |nonce: &'static str, then: Option<bool>| {
            let store = store.clone();
            async move {
                store
                    .write(move |tx| {
                        Box::pin(async move {
                            sqlx::query(
                                "INSERT INTO nonces (merchant_id, nonce, seen_at) VALUES ('m', $1, 1)",
                            )
                            .bind(nonce)
                            .execute(&mut *tx)
                            .await?;
                            match then {
                                None => Ok(Unit::Keep(nonce)),
                                Some(true) => Ok(Unit::Discard(nonce)),
                                Some(false) => {
                                    sqlx::query("INSERT INTO no_such_table VALUES (1)")
                                        .execute(&mut *tx)
                                        .await?;
                                    Ok(Unit::Keep(nonce))
                                }
                            }
                        })
                    })
                    .await
            }
        };
        let (kept, discarded, failed, kept_too) = tokio::join!(
            insert("kept", None),
            insert("discarded", Some(true)),
            insert("failed", Some(false)),
            insert("kept-too", None),
        );
        assert_eq!(kept.unwrap(), "kept");
        assert_eq!(discarded.unwrap(), "discarded", "a discard still answers");
        assert!(matches!(failed, Err(StoreError::Database(_))), "{failed:?}");
        assert_eq!(kept_too.unwrap(), "kept-too");
        assert_eq!(nonces(&store).await, ["kept", "kept-too"]);
    }

    #[tokio::test]
    async fn a_batch_that_cannot_commit_tells_every_unit_that_wrote() {
        let store = SqlStore::open_in_memory().await.unwrap();
        // A deferred foreign key is checked at COMMIT: the whole batch fails there.
        let broken = |payment: &'static str| {
            let store = store.clone();
            async move {
                store
                    .write(move |tx| {
                        Box::pin(async move {
                            sqlx::query("PRAGMA defer_foreign_keys = ON")
                                .execute(&mut *tx)
                                .await?;
                            sqlx::query(
                                "INSERT INTO card_vault (payment_id, data_enc, created_at) VALUES ($1, x'00', 1)",
                            )
                            .bind(payment)
                            .execute(&mut *tx)
                            .await?;
                            Ok(Unit::Keep(()))
                        })
                    })
                    .await
            }
        };
        let (orphan, nonce, discard) = tokio::join!(
            broken("no-such-payment"),
            store.remember_nonce("m", "n", 1),
            store.write(|_| Box::pin(async { Ok(Unit::Discard(7)) })),
        );
        assert!(
            matches!(orphan, Err(StoreError::NotWritten(_))),
            "{orphan:?}"
        );
        assert!(matches!(nonce, Err(StoreError::NotWritten(_))), "{nonce:?}");
        assert_eq!(discard.unwrap(), 7, "what wrote nothing keeps its answer");
        assert!(nonces(&store).await.is_empty());
        // The writer goes on with the next batch.
        assert!(store.remember_nonce("m", "n", 2).await.unwrap());
    }
}
