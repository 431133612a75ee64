//! The browser sessions' store, whatever the backend: tower-sessions sees one type.

use std::{fmt, sync::Arc, time::Duration};

use async_trait::async_trait;
use tower_sessions::{
    SessionStore as TowerStore,
    session::{Id, Record},
    session_store,
};

type Cleanup = dyn Fn(Duration) -> tokio::task::JoinHandle<()> + Send + Sync;

/// A backend's session store behind one type, with its clean-up of expired sessions.
#[derive(Clone)]
pub struct SessionStore {
    inner: Arc<dyn TowerStore>,
    cleanup: Arc<Cleanup>,
}

impl fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionStore")
    }
}

impl SessionStore {
    pub fn new<S>(store: S) -> Self
    where
        S: TowerStore + tower_sessions::ExpiredDeletion + Clone,
    {
        let for_cleanup = store.clone();
        Self {
            inner: Arc::new(store),
            cleanup: Arc::new(move |every| {
                let store = for_cleanup.clone();
                tokio::spawn(async move {
                    let deleting =
                        tower_sessions::ExpiredDeletion::continuously_delete_expired(store, every);
                    if let Err(e) = deleting.await {
                        tracing::warn!(error = %e, "session clean-up stopped");
                    }
                })
            }),
        }
    }

    /// Deletes expired sessions every `every`, in the background.
    pub fn spawn_cleanup(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        (self.cleanup)(every)
    }
}

#[async_trait]
impl TowerStore for SessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.inner.create(record).await
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.inner.save(record).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.inner.load(id).await
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.inner.delete(id).await
    }
}
