//! The round every controller of owned objects runs alike — the deployment controller over its
//! ReplicaSets, the replicaset controller over its pods: get a token, list both kinds, sync
//! every owner, then watch both and sync again at each change (as client-go's two informers
//! feeding one work queue do). A failed round is reported in the controller's words and
//! retried; a 401 drops the token first.

use std::collections::BTreeMap;
use std::future::Future;

use kubecorp_client::klog::Backoff;
use kubecorp_client::reflector::{apply, Reflector};
use kubecorp_client::ClientError;
use serde_json::Value;

use crate::workers::{self, RoundError, WorkerConfig};

/// A controller that keeps owners (`OWNERS`) in step with what they own (`OWNED`).
pub(crate) trait Owners: Send {
    /// The owners' collection and the owned one.
    const OWNERS: Reflector;
    const OWNED: Reflector;
    /// The owners' kind in a failed sync's text: `deployment`, `replicaset`.
    const KIND: &'static str;

    fn config(&self) -> &WorkerConfig;
    /// The caches of owners and of owned objects, by key.
    fn caches(&mut self) -> (&mut BTreeMap<String, Value>, &mut BTreeMap<String, Value>);
    /// Brings one owner (by key) and what it owns in step.
    fn sync(&mut self, key: &str) -> impl Future<Output = Result<(), ClientError>> + Send;
}

/// Runs an [`Owners`] controller round after round until `shutdown`.
pub(crate) async fn run<C: Owners>(controller: C, shutdown: impl Future) {
    kubecorp_client::reflector::run_rounds(&mut Rounds(controller), shutdown).await;
}

struct Rounds<C>(C);

impl<C: Owners> kubecorp_client::reflector::Rounds for Rounds<C> {
    type Error = RoundError;

    fn round(
        &mut self,
        backoff: &mut Backoff,
    ) -> impl Future<Output = Result<(), RoundError>> + Send {
        round(&mut self.0, backoff)
    }

    fn report(&mut self, error: &RoundError) {
        let c = self.0.config();
        workers::report(&c.client, &c.clock, &c.events, &c.credentials, error);
    }
}

async fn round<C: Owners>(c: &mut C, backoff: &mut Backoff) -> Result<(), RoundError> {
    c.config()
        .credentials
        .ensure()
        .await
        .map_err(RoundError::Token)?;
    let client = c.config().client.clone();
    let (owners, owners_rv) = C::OWNERS
        .list(&client)
        .await
        .map_err(RoundError::Reflector)?;
    let (owned, owned_rv) = C::OWNED
        .list(&client)
        .await
        .map_err(RoundError::Reflector)?;
    {
        let (owners_cache, owned_cache) = c.caches();
        *owners_cache = owners;
        *owned_cache = owned;
    }
    backoff.reset();
    sync_all(c).await?;
    let mut owners_watch = C::OWNERS
        .watch(&client, &owners_rv)
        .await
        .map_err(RoundError::Reflector)?;
    let mut owned_watch = C::OWNED
        .watch(&client, &owned_rv)
        .await
        .map_err(RoundError::Reflector)?;
    loop {
        let changed = {
            let (owners_cache, owned_cache) = c.caches();
            tokio::select! {
                event = owners_watch.next() => match event {
                    Some(Ok(e)) => apply(owners_cache, &e.kind, e.object),
                    _ => return Ok(()),
                },
                event = owned_watch.next() => match event {
                    Some(Ok(e)) => apply(owned_cache, &e.kind, e.object),
                    _ => return Ok(()),
                },
            }
        };
        if changed {
            c.config()
                .credentials
                .ensure()
                .await
                .map_err(RoundError::Token)?;
            sync_all(c).await?;
        }
    }
}

async fn sync_all<C: Owners>(c: &mut C) -> Result<(), RoundError> {
    let keys: Vec<String> = c.caches().0.keys().cloned().collect();
    for key in keys {
        c.sync(&key)
            .await
            .map_err(|error| RoundError::Sync {
                what: format!("{} {key}", C::KIND),
                error,
            })
            .inspect_err(|e| workers::forget_on_401(&c.config().credentials, e))?;
    }
    Ok(())
}
