//! The round every controller of owned objects runs alike — the deployment controller over its
//! ReplicaSets, the replicaset controller over its pods: get a token, list both kinds, sync
//! every owner, then watch both and sync again at each change (as client-go's two informers
//! feeding one work queue do). A failed round is reported in the controller's words and
//! retried; a 401 drops the token first. What a controller does to an owner is told twice: as a
//! Kubernetes Event on the owner, and on the lab's event stream.

use std::collections::BTreeMap;
use std::future::Future;

use kubecorp_client::klog::{self, Backoff};
use kubecorp_client::reflector::Reflector;
use kubecorp_client::ClientError;
use serde_json::Value;

use crate::workers::{self, RoundError, WorkerConfig};
use crate::workload;

/// A controller that keeps owners (`OWNERS`) in step with what they own (`OWNED`).
pub(crate) trait Owners: Send {
    /// The owners' collection and the owned one.
    const OWNERS: Reflector;
    const OWNED: Reflector;
    /// The owners' kind in the lab's texts: `deployment`, `replicaset`.
    const KIND: &'static str;
    /// The controller's name: its service account and its Events' source.
    const NAME: &'static str;
    /// Its first log line: where kube-controller-manager logs it, and the message.
    const STARTED: (&'static str, &'static str);
    /// What the controller keeps, in a sentence for the lab's explanations.
    const JOB: &'static str;

    fn config(&self) -> &WorkerConfig;
    /// The caches of owners and of owned objects, by key.
    fn caches(&mut self) -> (&mut BTreeMap<String, Value>, &mut BTreeMap<String, Value>);
    /// Brings one owner (by key) and what it owns in step.
    fn sync(&mut self, key: &str) -> impl Future<Output = Result<(), ClientError>> + Send;
}

/// Runs an [`Owners`] controller round after round until `shutdown`, after saying who it calls
/// Alice as.
pub(crate) async fn run<C: Owners>(controller: C, shutdown: impl Future) {
    let c = controller.config();
    let (source, started) = C::STARTED;
    workers::announce(
        &c.client,
        &c.clock,
        &c.events,
        &c.credentials,
        source,
        started,
    );
    kubecorp_client::reflector::run_rounds(&mut Rounds(controller), shutdown).await;
}

/// Tells what the controller did to `owner` twice: as a Kubernetes Event on it (`reason`,
/// `message`: what `kubectl describe` shows), and on the lab's event stream.
pub(crate) async fn did<C: Owners + Sync>(c: &C, owner: &Value, reason: &str, message: &str) {
    let config = c.config();
    workload::record(
        &config.client,
        &config.clock,
        C::NAME,
        owner,
        reason,
        message,
    )
    .await;
    let namespace = owner["metadata"]["namespace"].as_str().unwrap_or("default");
    let name = owner["metadata"]["name"].as_str().unwrap_or_default();
    let user = config.credentials.user();
    config.events.emit(
        klog::allowed_call(&config.client, config.clock.now())
            .explanation(format!(
                "{}; it calls Alice as {user}, not with the controller manager's badge.",
                C::JOB
            ))
            .detail(format!(
                "{} {namespace}/{name}: {message} (as {user})",
                C::KIND
            )),
    );
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
                changed = owners_watch.apply_next(owners_cache) => changed,
                changed = owned_watch.apply_next(owned_cache) => changed,
            }
        };
        let Some(changed) = changed else {
            return Ok(());
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
