//! Objects in etcd, as kube-apiserver's etcd3 store keeps them (k8s.io/apiserver v0.32
//! `pkg/storage/etcd3/store.go`, through etcd's `client/v3/kubernetes` wrapper):
//!
//! - Get and List: one `KV/Range` (a list ranges over the resource's prefix);
//! - Create: `KV/Txn` if `mod_revision(key) == 0` then put (`OptimisticPut` with revision 0);
//! - GuaranteedUpdate: `KV/Txn` if `mod_revision(key) == <the revision read>` then put, else
//!   get: a failed compare hands back the key as it is now;
//! - Delete: `KV/Txn` if `mod_revision(key) == <the revision read>` then delete, else get;
//! - Events: created and updated with a lease, so etcd forgets them after `--event-ttl` (1 h);
//!   one lease is shared by many Events (`lease_manager.go`).
//!
//! Values are JSON here (the real apiserver stores protobuf, which changes nothing about who may
//! read them). Every call goes over Alice's one kept connection ([`super::grpc`]).

use std::sync::{Arc, Mutex, OnceLock};

use kubecorp_etcd::grpc::pb;
use kubecorp_etcd::store::prefix_end;
use kubecorp_trust::tls::{CertSource, TrustSource};
use kubecorp_trust::{Events, LabClock};
use serde_json::Value;
use time::OffsetDateTime;

use super::grpc::{Channel, GrpcError, Retry};
use super::{StoreError, Stored};
use crate::watch::WatchCache;

/// `--event-ttl`: kube-apiserver keeps Events an hour.
pub const EVENT_TTL_SECONDS: i64 = 3600;

/// Where Events live: keys under it are written with a lease.
const EVENTS_PREFIX: &str = "/registry/events/";

/// The lease manager's defaults (`lease_manager.go`, v0.32): a lease is reused while it
/// outlives the TTL asked for, granted 5 % (at most 60 s) longer than asked, for at most 1000
/// objects.
const LEASE_REUSE_SECONDS: i64 = 60;
const LEASE_REUSE_PERCENT: f64 = 0.05;
const LEASE_MAX_OBJECTS: u32 = 1000;

/// The lease last granted, reused by the next writes with a TTL.
#[derive(Default)]
struct LeaseManager {
    id: i64,
    expires: Option<OffsetDateTime>,
    attached: u32,
}

/// Alice's storage in etcd.
#[derive(Clone)]
pub struct EtcdStore {
    channel: Channel,
    clock: LabClock,
    leases: Arc<tokio::sync::Mutex<LeaseManager>>,
    /// The watch cache fed from etcd's watch, once [`EtcdStore::feed`] started it.
    cache: Arc<OnceLock<Arc<WatchCache>>>,
    /// Set once the feeding began, so it begins once.
    fed: Arc<Mutex<bool>>,
}

impl EtcdStore {
    /// A store in the etcd at `endpoint` (`https://host:port`), showing `identity` (the
    /// apiserver's `--etcd-certfile`/`--etcd-keyfile`) and trusting `trust` (`--etcd-cafile`).
    /// Nothing is dialled until the first call.
    pub fn connect(
        endpoint: &str,
        identity: Option<CertSource>,
        trust: TrustSource,
        clock: LabClock,
        events: Events,
    ) -> Result<EtcdStore, StoreError> {
        let (host, port) = parse_endpoint(endpoint)?;
        Ok(EtcdStore {
            channel: Channel::new(host, port, identity, trust, clock.clone(), events),
            clock,
            leases: Arc::default(),
            cache: Arc::default(),
            fed: Arc::default(),
        })
    }

    /// The connection's `host:port`.
    pub fn addr(&self) -> String {
        self.channel.addr()
    }

    /// The gRPC channel (for the watch feeding the cache).
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    async fn range(&self, request: pb::RangeRequest) -> Result<pb::RangeResponse, StoreError> {
        Ok(self
            .channel
            .unary("/etcdserverpb.KV/Range", &request, Retry::Repeatable)
            .await?)
    }

    async fn txn(&self, request: pb::TxnRequest) -> Result<pb::TxnResponse, StoreError> {
        Ok(self
            .channel
            .unary("/etcdserverpb.KV/Txn", &request, Retry::Once)
            .await?)
    }

    pub(super) async fn get(&self, key: &str) -> Result<Option<Stored>, StoreError> {
        let found = self
            .range(pb::RangeRequest {
                key: key.as_bytes().to_vec(),
                ..Default::default()
            })
            .await?;
        found.kvs.first().map(decode).transpose()
    }

    pub(super) async fn list(&self, prefix: &str) -> Result<(Vec<Stored>, i64), StoreError> {
        let found = self
            .range(pb::RangeRequest {
                key: prefix.as_bytes().to_vec(),
                range_end: prefix_end(prefix.as_bytes()),
                ..Default::default()
            })
            .await?;
        let items = found.kvs.iter().map(decode).collect::<Result<_, _>>()?;
        Ok((items, revision_of(&found.header)))
    }

    pub(super) async fn create(&self, key: &str, value: &Value) -> Result<i64, StoreError> {
        let lease = self.lease_for(key).await?;
        let txn = self.txn(optimistic_put(key, value, 0, lease)).await?;
        if !txn.succeeded {
            return Err(StoreError::Exists(key.into()));
        }
        let revision = revision_of(&txn.header);
        self.wait_for_cache(revision).await;
        Ok(revision)
    }

    pub(super) async fn update(
        &self,
        key: &str,
        value: &Value,
        expected: Option<i64>,
    ) -> Result<i64, StoreError> {
        let expected = match expected {
            Some(rev) => rev,
            None => match self.get(key).await? {
                Some(current) => current.revision,
                None => return Err(StoreError::NotFound(key.into())),
            },
        };
        let lease = self.lease_for(key).await?;
        let txn = self
            .txn(optimistic_put(key, value, expected, lease))
            .await?;
        if txn.succeeded {
            let revision = revision_of(&txn.header);
            self.wait_for_cache(revision).await;
            return Ok(revision);
        }
        match current_of(&txn) {
            None => Err(StoreError::NotFound(key.into())),
            Some(kv) => Err(StoreError::Conflict {
                key: key.into(),
                expected,
                actual: kv.mod_revision,
            }),
        }
    }

    pub(super) async fn delete(&self, key: &str) -> Result<Option<(Stored, i64)>, StoreError> {
        let Some(mut current) = self.get(key).await? else {
            return Ok(None);
        };
        // kube-apiserver's Delete loops while the object changes under it.
        loop {
            let txn = self
                .txn(pb::TxnRequest {
                    compare: vec![mod_revision_is(key, current.revision)],
                    success: vec![op(pb::request_op::Request::RequestDeleteRange(
                        pb::DeleteRangeRequest {
                            key: key.as_bytes().to_vec(),
                            ..Default::default()
                        },
                    ))],
                    failure: vec![get_op(key)],
                })
                .await?;
            if txn.succeeded {
                let revision = revision_of(&txn.header);
                self.wait_for_cache(revision).await;
                return Ok(Some((current, revision)));
            }
            match current_of(&txn) {
                None => return Ok(None),
                Some(kv) => current = decode(kv)?,
            }
        }
    }

    pub(super) async fn revision(&self) -> Result<i64, StoreError> {
        // A range over a key nothing lives under: only the header's revision is wanted.
        let found = self
            .range(pb::RangeRequest {
                key: b"/kubecorp-revision-probe".to_vec(),
                ..Default::default()
            })
            .await?;
        Ok(revision_of(&found.header))
    }

    /// Starts feeding `cache` from etcd's watch after `revision` (once).
    pub(super) fn feed(&self, cache: &Arc<WatchCache>, revision: i64) {
        let mut fed = self.fed.lock().unwrap_or_else(|e| e.into_inner());
        if *fed {
            return;
        }
        *fed = true;
        let _ = self.cache.set(cache.clone());
        tokio::spawn(super::feed::run(
            self.channel.clone(),
            Arc::downgrade(cache),
            revision,
        ));
    }

    /// Closes the connection to etcd for good (see [`Channel::close`]).
    pub(super) async fn close(&self) {
        self.channel.close().await;
    }

    pub(super) fn feeding(&self) -> bool {
        self.cache.get().is_some()
    }

    /// A write returns once its change is in the watch cache, as the desk promises (a watch
    /// opened after a write sees it). The cache waits at most its freshness bound.
    async fn wait_for_cache(&self, revision: i64) {
        if let Some(cache) = self.cache.get() {
            let _ = cache
                .wait_until_fresh(u64::try_from(revision).unwrap_or(0))
                .await;
        }
    }

    /// The lease an Event is written with (0: none, for every other key).
    async fn lease_for(&self, key: &str) -> Result<i64, StoreError> {
        if !key.starts_with(EVENTS_PREFIX) {
            return Ok(0);
        }
        let ttl = EVENT_TTL_SECONDS;
        let now = self.clock.now();
        let mut manager = self.leases.lock().await;
        let reuse = ((LEASE_REUSE_PERCENT * ttl as f64) as i64).min(LEASE_REUSE_SECONDS);
        let seconds = |s: i64| time::Duration::seconds(s);
        manager.attached += 1;
        if let Some(expires) = manager.expires {
            let valid = now + seconds(ttl) < expires;
            let sufficient = now + seconds(ttl + reuse) > expires;
            if valid && sufficient && manager.attached <= LEASE_MAX_OBJECTS {
                return Ok(manager.id);
            }
        }
        let granted: pb::LeaseGrantResponse = self
            .channel
            .unary(
                "/etcdserverpb.Lease/LeaseGrant",
                &pb::LeaseGrantRequest {
                    ttl: ttl + reuse,
                    id: 0,
                },
                Retry::Once,
            )
            .await?;
        if !granted.error.is_empty() {
            return Err(StoreError::Etcd(GrpcError::Status {
                code: 2,
                message: granted.error,
            }));
        }
        manager.id = granted.id;
        manager.expires = Some(now + seconds(ttl + reuse));
        manager.attached = 1;
        Ok(granted.id)
    }
}

/// `https://host:port` (etcd's `--advertise-client-urls` form).
fn parse_endpoint(endpoint: &str) -> Result<(String, u16), StoreError> {
    let problem = |p: &str| StoreError::Endpoint {
        endpoint: endpoint.to_owned(),
        problem: p.to_owned(),
    };
    let rest = endpoint
        .strip_prefix("https://")
        .ok_or_else(|| problem("expected https://host:port (etcd is reached over TLS only)"))?
        .trim_end_matches('/');
    let (host, port) = match rest.strip_prefix('[') {
        Some(v6) => v6
            .split_once("]:")
            .ok_or_else(|| problem("expected [ipv6]:port"))?,
        None => rest
            .rsplit_once(':')
            .ok_or_else(|| problem("expected host:port"))?,
    };
    let port = port
        .parse()
        .map_err(|_| problem("the port is not a number"))?;
    if host.is_empty() {
        return Err(problem("missing host"));
    }
    Ok((host.to_owned(), port))
}

fn revision_of(header: &Option<pb::ResponseHeader>) -> i64 {
    header.as_ref().map_or(0, |h| h.revision)
}

/// A stored value read back: JSON, with the revision of its last write.
pub(super) fn decode(kv: &pb::KeyValue) -> Result<Stored, StoreError> {
    let key = String::from_utf8_lossy(&kv.key).into_owned();
    let value = serde_json::from_slice(&kv.value)
        .map_err(|e| StoreError::Backend(format!("{key}: stored value is not JSON: {e}")))?;
    Ok(Stored {
        key,
        value,
        revision: kv.mod_revision,
    })
}

fn op(request: pb::request_op::Request) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(request),
    }
}

fn get_op(key: &str) -> pb::RequestOp {
    op(pb::request_op::Request::RequestRange(pb::RangeRequest {
        key: key.as_bytes().to_vec(),
        ..Default::default()
    }))
}

/// `Compare(ModRevision(key), "=", revision)`: EQUAL = 0, MOD = 2.
fn mod_revision_is(key: &str, revision: i64) -> pb::Compare {
    pb::Compare {
        result: 0,
        target: 2,
        key: key.as_bytes().to_vec(),
        target_union: Some(pb::compare::TargetUnion::ModRevision(revision)),
        range_end: Vec::new(),
    }
}

/// `OptimisticPut`: put `value` if the key's mod_revision is still `expected` (0: absent),
/// else get it.
fn optimistic_put(key: &str, value: &Value, expected: i64, lease: i64) -> pb::TxnRequest {
    pb::TxnRequest {
        compare: vec![mod_revision_is(key, expected)],
        success: vec![op(pb::request_op::Request::RequestPut(pb::PutRequest {
            key: key.as_bytes().to_vec(),
            value: value.to_string().into_bytes(),
            lease,
            ..Default::default()
        }))],
        failure: vec![get_op(key)],
    }
}

/// The key as a failed transaction's `else` read it.
fn current_of(txn: &pb::TxnResponse) -> Option<&pb::KeyValue> {
    txn.responses.iter().find_map(|r| match &r.response {
        Some(pb::response_op::Response::ResponseRange(range)) => range.kvs.first(),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_as_the_etcd_servers_flag_is_written() {
        assert_eq!(
            parse_endpoint("https://127.0.0.1:2379").unwrap(),
            ("127.0.0.1".into(), 2379)
        );
        assert_eq!(
            parse_endpoint("https://[::1]:2379/").unwrap(),
            ("::1".into(), 2379)
        );
        assert_eq!(
            parse_endpoint("http://127.0.0.1:2379")
                .unwrap_err()
                .to_string(),
            "invalid etcd endpoint \"http://127.0.0.1:2379\": expected https://host:port (etcd is reached over TLS only)"
        );
    }
}
