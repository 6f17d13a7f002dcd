//! The vault behind both of Charlie's counters (the JSON gateway and gRPC): the store, the
//! leases and the news for watchers, and etcd's operations on them, refused with etcd's gRPC
//! status codes and texts (`api/v3rpc/rpctypes/error.go`).
//!
//! Both counters decode their own wire format into the requests here ([`RangeReq`],
//! [`PutReq`], [`DeleteReq`], [`TxnReq`]) and encode the answers from [`crate::wire`]'s
//! shapes, so a put through `etcdctl` and one through `curl` are the same put.

use std::sync::{Arc, Mutex, MutexGuard};

use kubecorp_trust::LabClock;
use tokio::sync::broadcast;

use crate::lease::{Lease, LeaseError, Leases};
use crate::peer::{cluster_id, member_id, DEFAULT_CLUSTER_TOKEN};
use crate::release::Release;
pub use crate::request::{
    nested_txn, Compare, DeleteReq, Op, PutReq, RangeReq, TxnReq, RESULTS, TARGETS,
};
use crate::store::{Change, Found, KeyRange, RevisionError, Store};
use crate::wire::{
    DeleteRangeResponse, KeyValue, PutResponse, RangeResponse, ResponseHeader, ResponseOp,
    TxnResponse,
};

/// gRPC's receive limit as etcd sets it: `--max-request-bytes` (1.5 MiB) plus 512 KiB of gRPC
/// overhead.
pub const MAX_GRPC_MESSAGE: usize = 2 * 1024 * 1024;
/// etcd's `--max-request-bytes` default.
pub const MAX_REQUEST_BYTES: usize = 1536 * 1024;
/// etcd's `--max-txn-ops` default.
pub const MAX_TXN_OPS: usize = 128;

/// gRPC status codes (`google.golang.org/grpc/codes`).
pub mod code {
    pub const OK: i32 = 0;
    pub const CANCELLED: i32 = 1;
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const NOT_FOUND: i32 = 5;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const FAILED_PRECONDITION: i32 = 9;
    pub const OUT_OF_RANGE: i32 = 11;
    pub const UNIMPLEMENTED: i32 = 12;
    pub const INTERNAL: i32 = 13;
    pub const UNAVAILABLE: i32 = 14;
}

/// A gRPC status: etcd's code and text for a refused request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub code: i32,
    pub message: String,
}

impl Status {
    pub fn new(code: i32, message: impl Into<String>) -> Status {
        Status {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Status {
        Status::new(code::INVALID_ARGUMENT, message)
    }

    fn lease_not_found() -> Status {
        Status::new(code::NOT_FOUND, "etcdserver: requested lease not found")
    }
}

impl From<RevisionError> for Status {
    fn from(e: RevisionError) -> Status {
        match e {
            RevisionError::Compacted(_) => Status::new(
                code::OUT_OF_RANGE,
                "etcdserver: mvcc: required revision has been compacted",
            ),
            RevisionError::Future => Status::new(
                code::OUT_OF_RANGE,
                "etcdserver: mvcc: required revision is a future revision",
            ),
        }
    }
}

impl From<LeaseError> for Status {
    fn from(e: LeaseError) -> Status {
        match e {
            LeaseError::NotFound => Status::lease_not_found(),
            LeaseError::Exists => Status::new(
                code::FAILED_PRECONDITION,
                "etcdserver: lease already exists",
            ),
            LeaseError::TtlTooLarge => {
                Status::new(code::OUT_OF_RANGE, "etcdserver: too large lease TTL")
            }
        }
    }
}

pub const KEY_NOT_PROVIDED: &str = "etcdserver: key is not provided";

/// gRPC refuses a message over its limit before etcd sees it; etcd refuses one over
/// `--max-request-bytes` itself.
pub fn check_size(size: usize) -> Result<(), Status> {
    if size > MAX_GRPC_MESSAGE {
        return Err(Status::new(
            code::RESOURCE_EXHAUSTED,
            format!("grpc: received message larger than max ({size} vs. {MAX_GRPC_MESSAGE})"),
        ));
    }
    if size > MAX_REQUEST_BYTES {
        return Err(Status::invalid("etcdserver: request is too large"));
    }
    Ok(())
}

/// The member as `MemberList` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
}

/// What `LeaseTimeToLive` reports of a live lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeToLive {
    pub remaining: i64,
    pub granted: i64,
    pub keys: Vec<Vec<u8>>,
}

/// A watcher's start: news of every write from now on, the changes already made since its
/// start revision (or why they cannot be had), and the revision now.
pub struct Watching {
    pub news: broadcast::Receiver<Arc<Batch>>,
    pub past: Result<Vec<Change>, RevisionError>,
    pub now: i64,
}

/// One write transaction's changes, as watchers are told them.
#[derive(Clone, Debug)]
pub struct Batch {
    pub revision: i64,
    pub changes: Vec<Change>,
}

struct State {
    store: Store,
    leases: Leases,
}

/// etcd's state and identity numbers, shared by the JSON gateway and gRPC.
pub struct Vault {
    state: Mutex<State>,
    pub member: Member,
    pub cluster_id: u64,
    pub release: Release,
    clock: LabClock,
    news: broadcast::Sender<Arc<Batch>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("member", &self.member)
            .field("release", &self.release)
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// A fresh member named `name` advertising `peer_urls` (etcd's default
    /// `http://localhost:2380` when empty); its IDs are etcd's own for those URLs.
    pub fn new(
        name: &str,
        peer_urls: Vec<String>,
        client_urls: Vec<String>,
        release: Release,
        clock: LabClock,
    ) -> Vault {
        let peer_urls = if peer_urls.is_empty() {
            vec!["http://localhost:2380".to_owned()]
        } else {
            peer_urls
        };
        let id = member_id(&peer_urls, DEFAULT_CLUSTER_TOKEN);
        let (news, _) = broadcast::channel(1024);
        Vault {
            state: Mutex::new(State {
                store: Store::default(),
                leases: Leases::new(id),
            }),
            member: Member {
                id,
                name: name.to_owned(),
                peer_urls,
                client_urls,
            },
            cluster_id: cluster_id(&[id]),
            release,
            clock,
            news,
        }
    }

    /// Locks the state after ending the leases the lab clock has run out.
    fn state(&self) -> MutexGuard<'_, State> {
        // Every write txn completes before the guard drops, so a poisoned state is whole.
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = self.clock.now();
        for id in state.leases.expired(now) {
            self.end_lease(&mut state, id);
        }
        state
    }

    /// Takes a lease away and deletes its keys in one revision.
    fn end_lease(&self, state: &mut State, id: i64) -> Option<Lease> {
        let lease = state.leases.remove(id)?;
        if !lease.keys.is_empty() {
            {
                let mut txn = state.store.write();
                for key in &lease.keys {
                    txn.delete(&KeyRange::One(key.clone()));
                }
            }
            self.tell(state);
        }
        Some(lease)
    }

    /// Tells watchers what the last write txn changed.
    fn tell(&self, state: &State) {
        let changes = state.store.last_changes();
        if !changes.is_empty() {
            // No watcher listening is not an error.
            let _ = self.news.send(Arc::new(Batch {
                revision: state.store.revision(),
                changes,
            }));
        }
    }

    pub fn header(&self, revision: i64) -> ResponseHeader {
        ResponseHeader {
            cluster_id: self.cluster_id,
            member_id: self.member.id,
            revision,
            // A single member that elected itself once.
            raft_term: 2,
        }
    }

    pub fn revision(&self) -> i64 {
        self.state().store.revision()
    }

    /// News of every write from now on, and the changes already made since `from` (0: none).
    pub fn watch_from(&self, from: i64) -> Watching {
        let state = self.state();
        let news = self.news.subscribe();
        let past = if from > 0 {
            state.store.changes_since(from)
        } else {
            Ok(Vec::new())
        };
        Watching {
            news,
            past,
            now: state.store.revision(),
        }
    }

    pub fn range(&self, req: &RangeReq) -> Result<RangeResponse, Status> {
        check_size(req.size)?;
        req.validate()?;
        let state = self.state();
        let found = match req.sort {
            // Key order ascending is the store's own order.
            None | Some((0, false)) => state.store.range_at(&req.range, req.limit, req.revision)?,
            Some((target, descending)) => {
                let mut all = state.store.range_at(&req.range, 0, req.revision)?;
                all.kvs.sort_by(|a, b| match target {
                    1 => a.version.cmp(&b.version),
                    2 => a.create_revision.cmp(&b.create_revision),
                    3 => a.mod_revision.cmp(&b.mod_revision),
                    4 => a.value.cmp(&b.value),
                    _ => a.key.cmp(&b.key),
                });
                if descending {
                    all.kvs.reverse();
                }
                if req.limit > 0 && all.kvs.len() as i64 > req.limit {
                    all.kvs.truncate(req.limit as usize);
                    all.more = true;
                }
                all
            }
        };
        Ok(range_response(
            Some(self.header(state.store.revision())),
            found,
            req,
        ))
    }

    pub fn put(&self, req: &PutReq) -> Result<PutResponse, Status> {
        check_size(req.size)?;
        req.validate()?;
        let mut state = self.state();
        let prev = self.put_in(&mut state, req)?;
        self.tell(&state);
        Ok(PutResponse {
            header: Some(self.header(state.store.revision())),
            prev_kv: prev.filter(|_| req.prev_kv),
        })
    }

    /// One put inside the current write: the lease must exist, and `ignore_value` /
    /// `ignore_lease` need the key.
    fn put_in(&self, state: &mut State, req: &PutReq) -> Result<Option<KeyValue>, Status> {
        let before = state
            .store
            .range(&KeyRange::One(req.key.clone()), 1)
            .kvs
            .pop();
        if (req.ignore_value || req.ignore_lease) && before.is_none() {
            return Err(Status::invalid("etcdserver: key not found"));
        }
        let lease = if req.ignore_lease {
            before.as_ref().map_or(0, |kv| kv.lease)
        } else {
            req.lease
        };
        if lease != 0 && state.leases.get(lease).is_none() {
            return Err(Status::lease_not_found());
        }
        let value = if req.ignore_value {
            before
                .as_ref()
                .map(|kv| kv.value.clone())
                .unwrap_or_default()
        } else {
            req.value.clone()
        };
        let prev = state
            .store
            .write()
            .put_with_lease(req.key.clone(), value, lease);
        state
            .leases
            .attach(&req.key, prev.as_ref().map_or(0, |kv| kv.lease), lease);
        Ok(prev)
    }

    pub fn delete_range(&self, req: &DeleteReq) -> Result<DeleteRangeResponse, Status> {
        check_size(req.size)?;
        req.validate()?;
        let mut state = self.state();
        let deleted = state.store.write().delete(&req.range);
        for kv in &deleted {
            state.leases.attach(&kv.key, kv.lease, 0);
        }
        self.tell(&state);
        Ok(DeleteRangeResponse {
            header: Some(self.header(state.store.revision())),
            deleted: deleted.len() as i64,
            prev_kvs: if req.prev_kv { deleted } else { Vec::new() },
        })
    }

    pub fn txn(&self, req: &TxnReq) -> Result<TxnResponse, Status> {
        check_size(req.size)?;
        req.validate()?;
        let mut state = self.state();
        let succeeded = req.compares.iter().all(|c| c.holds(&state.store));
        let ops = if succeeded {
            &req.success
        } else {
            &req.failure
        };
        for op in ops {
            match op {
                Op::Range(range) => state.store.check_revision(range.revision)?,
                Op::Put(put) if put.lease != 0 && state.leases.get(put.lease).is_none() => {
                    return Err(Status::lease_not_found())
                }
                _ => {}
            }
        }
        let (mut responses, revision) = {
            let State { store, leases } = &mut *state;
            let mut txn = store.write();
            let mut responses = Vec::with_capacity(ops.len());
            for op in ops {
                responses.push(match op {
                    Op::Range(r) => ResponseOp {
                        response_range: Some(range_response(None, txn.range(&r.range, r.limit), r)),
                        ..ResponseOp::default()
                    },
                    Op::Put(p) => {
                        let prev = txn.put_with_lease(p.key.clone(), p.value.clone(), p.lease);
                        leases.attach(&p.key, prev.as_ref().map_or(0, |kv| kv.lease), p.lease);
                        ResponseOp {
                            response_put: Some(PutResponse {
                                header: None,
                                prev_kv: prev.filter(|_| p.prev_kv),
                            }),
                            ..ResponseOp::default()
                        }
                    }
                    Op::Delete(d) => {
                        let deleted = txn.delete(&d.range);
                        for kv in &deleted {
                            leases.attach(&kv.key, kv.lease, 0);
                        }
                        ResponseOp {
                            response_delete_range: Some(DeleteRangeResponse {
                                header: None,
                                deleted: deleted.len() as i64,
                                prev_kvs: if d.prev_kv { deleted } else { Vec::new() },
                            }),
                            ..ResponseOp::default()
                        }
                    }
                });
            }
            (responses, txn.revision())
        };
        self.tell(&state);
        // Every response inside a txn carries only the txn's revision in its header.
        let inner = Some(ResponseHeader {
            revision,
            ..ResponseHeader::default()
        });
        for response in &mut responses {
            if let Some(r) = &mut response.response_range {
                r.header = inner.clone();
            }
            if let Some(r) = &mut response.response_put {
                r.header = inner.clone();
            }
            if let Some(r) = &mut response.response_delete_range {
                r.header = inner.clone();
            }
        }
        Ok(TxnResponse {
            header: Some(self.header(revision)),
            succeeded,
            responses,
        })
    }

    /// `Compact`: forgets history up to `revision`.
    pub fn compact(&self, revision: i64) -> Result<ResponseHeader, Status> {
        let mut state = self.state();
        state.store.compact(revision)?;
        Ok(self.header(state.store.revision()))
    }

    pub fn lease_grant(&self, id: i64, ttl: i64) -> Result<(ResponseHeader, Lease), Status> {
        let mut state = self.state();
        let lease = state.leases.grant(id, ttl, self.clock.now())?;
        Ok((self.header(state.store.revision()), lease))
    }

    pub fn lease_revoke(&self, id: i64) -> Result<ResponseHeader, Status> {
        let mut state = self.state();
        self.end_lease(&mut state, id)
            .ok_or_else(Status::lease_not_found)?;
        Ok(self.header(state.store.revision()))
    }

    /// The TTL granted again, or `None` for an unknown (expired, revoked) lease.
    pub fn lease_keep_alive(&self, id: i64) -> (ResponseHeader, Option<i64>) {
        let mut state = self.state();
        let ttl = state.leases.keep_alive(id, self.clock.now());
        (self.header(state.store.revision()), ttl)
    }

    /// What is left of a lease, or `None` for an unknown one.
    pub fn lease_time_to_live(&self, id: i64) -> (ResponseHeader, Option<TimeToLive>) {
        let state = self.state();
        let now = self.clock.now();
        let found = state.leases.get(id).map(|lease| TimeToLive {
            remaining: lease.remaining(now),
            granted: lease.granted_ttl,
            keys: lease.keys.iter().cloned().collect(),
        });
        (self.header(state.store.revision()), found)
    }

    pub fn lease_ids(&self) -> (ResponseHeader, Vec<i64>) {
        let state = self.state();
        (
            self.header(state.store.revision()),
            state.leases.ids().collect(),
        )
    }

    /// What `Status` reports: the header, the database size in bytes, and the revision.
    pub fn status(&self) -> (ResponseHeader, i64) {
        let state = self.state();
        let (_, bytes) = state.store.size();
        // bbolt files grow by pages; a fresh etcd's is 20 kB.
        let db_size = 20_480 + (bytes as i64 + 4095) / 4096 * 4096;
        (self.header(state.store.revision()), db_size)
    }

    /// `HashKV`: a CRC-32C of every live key and value, with the compaction revision.
    pub fn hash_kv(&self) -> (ResponseHeader, u32, i64) {
        let state = self.state();
        let mut crc = Crc32c::default();
        for kv in state.store.all() {
            crc.update(&kv.key);
            crc.update(&kv.value);
        }
        (
            self.header(state.store.revision()),
            crc.finish(),
            state.store.compacted(),
        )
    }

    /// Every live key, with the revision they were read at (for a snapshot).
    pub fn everything(&self) -> (i64, Vec<KeyValue>) {
        let state = self.state();
        (state.store.revision(), state.store.all().cloned().collect())
    }
}

fn range_response(header: Option<ResponseHeader>, found: Found, req: &RangeReq) -> RangeResponse {
    let kvs = if req.count_only {
        Vec::new()
    } else if req.keys_only {
        found
            .kvs
            .into_iter()
            .map(|kv| KeyValue {
                value: Vec::new(),
                ..kv
            })
            .collect()
    } else {
        found.kvs
    };
    RangeResponse {
        header,
        kvs,
        more: found.more,
        count: found.count,
    }
}

/// CRC-32 with the Castagnoli polynomial, as etcd hashes its store.
#[derive(Default)]
pub struct Crc32c(u32);

impl Crc32c {
    pub fn update(&mut self, bytes: &[u8]) {
        let mut crc = !self.0;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0x82f6_3b78
                } else {
                    crc >> 1
                };
            }
        }
        self.0 = !crc;
    }

    pub fn finish(&self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn vault() -> (Vault, LabClock) {
        let clock = LabClock::fixed(datetime!(2026-04-24 09:00 UTC));
        (
            Vault::new(
                "etcd",
                Vec::new(),
                Vec::new(),
                Release::default(),
                clock.clone(),
            ),
            clock,
        )
    }

    fn put(vault: &Vault, key: &str, value: &str, lease: i64) -> Result<PutResponse, Status> {
        vault.put(&PutReq {
            key: key.into(),
            value: value.into(),
            lease,
            ..PutReq::default()
        })
    }

    fn get(vault: &Vault, key: &str, revision: i64) -> Result<Vec<KeyValue>, Status> {
        vault
            .range(&RangeReq {
                key: key.into(),
                range: KeyRange::One(key.into()),
                revision,
                ..RangeReq::default()
            })
            .map(|r| r.kvs)
    }

    #[test]
    fn a_key_under_a_lease_goes_when_the_lab_clock_passes_its_ttl() {
        let (vault, clock) = vault();
        let (_, lease) = vault.lease_grant(0, 10).unwrap();
        put(&vault, "event", "x", lease.id).unwrap();
        clock.advance(time::Duration::seconds(9));
        assert_eq!(get(&vault, "event", 0).unwrap().len(), 1);
        clock.advance(time::Duration::seconds(1));
        assert_eq!(get(&vault, "event", 0).unwrap(), Vec::new());
        assert_eq!(
            put(&vault, "again", "x", lease.id),
            Err(Status::new(
                code::NOT_FOUND,
                "etcdserver: requested lease not found"
            ))
        );
    }

    #[test]
    fn a_read_in_the_past_sees_the_old_value_until_it_is_compacted() {
        let (vault, _) = vault();
        put(&vault, "k", "1", 0).unwrap();
        put(&vault, "k", "2", 0).unwrap();
        assert_eq!(get(&vault, "k", 2).unwrap()[0].value, b"1");
        assert_eq!(get(&vault, "k", 3).unwrap()[0].value, b"2");
        vault.compact(3).unwrap();
        assert_eq!(
            get(&vault, "k", 2).unwrap_err().message,
            "etcdserver: mvcc: required revision has been compacted"
        );
        assert_eq!(
            get(&vault, "k", 9).unwrap_err().message,
            "etcdserver: mvcc: required revision is a future revision"
        );
    }

    #[test]
    fn crc32c_matches_the_castagnoli_check_value() {
        let mut crc = Crc32c::default();
        crc.update(b"123456789");
        assert_eq!(crc.finish(), 0xe306_9283);
    }
}
