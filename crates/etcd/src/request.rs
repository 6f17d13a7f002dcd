//! The requests both of Charlie's counters decode into (the JSON gateway from JSON, gRPC from
//! protobuf), with etcd's own checks on them (`etcdserver/api/v3rpc/key.go`), and the
//! compare of a txn.

use crate::store::{KeyRange, Store};
use crate::vault::{code, Status, KEY_NOT_PROVIDED, MAX_TXN_OPS};
use crate::wire::KeyValue;

#[derive(Debug, Default)]
pub struct RangeReq {
    pub key: Vec<u8>,
    pub range: KeyRange,
    pub limit: i64,
    pub revision: i64,
    pub keys_only: bool,
    pub count_only: bool,
    /// Sort by (an index into KEY, VERSION, CREATE, MOD, VALUE; descending?).
    pub sort: Option<(usize, bool)>,
    /// The request's protobuf size, for the size limits.
    pub size: usize,
}

impl RangeReq {
    pub fn validate(&self) -> Result<(), Status> {
        if self.key.is_empty() {
            return Err(Status::invalid(KEY_NOT_PROVIDED));
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
pub struct PutReq {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub lease: i64,
    pub prev_kv: bool,
    pub ignore_value: bool,
    pub ignore_lease: bool,
    pub size: usize,
}

impl PutReq {
    pub fn validate(&self) -> Result<(), Status> {
        if self.key.is_empty() {
            return Err(Status::invalid(KEY_NOT_PROVIDED));
        }
        if self.ignore_value && !self.value.is_empty() {
            return Err(Status::invalid("etcdserver: value is provided"));
        }
        if self.ignore_lease && self.lease != 0 {
            return Err(Status::invalid("etcdserver: lease is provided"));
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
pub struct DeleteReq {
    pub key: Vec<u8>,
    pub range: KeyRange,
    pub prev_kv: bool,
    pub size: usize,
}

impl DeleteReq {
    pub fn validate(&self) -> Result<(), Status> {
        if self.key.is_empty() {
            return Err(Status::invalid(KEY_NOT_PROVIDED));
        }
        Ok(())
    }
}

/// `etcdserverpb.Compare_CompareTarget`, in proto number order.
pub const TARGETS: &[&str] = &["VERSION", "CREATE", "MOD", "VALUE", "LEASE"];
/// `etcdserverpb.Compare_CompareResult`, in proto number order.
pub const RESULTS: &[&str] = &["EQUAL", "GREATER", "LESS", "NOT_EQUAL"];

#[derive(Debug)]
pub struct Compare {
    pub range: KeyRange,
    /// An index into [`TARGETS`].
    pub target: usize,
    /// An index into [`RESULTS`].
    pub result: usize,
    pub number: i64,
    pub value: Vec<u8>,
}

impl Compare {
    /// etcd's `applyCompare`: every key in the range must satisfy it; an absent key compares
    /// as all zeros, except that a VALUE compare on an absent key is false.
    pub(crate) fn holds(&self, store: &Store) -> bool {
        let found = store.range(&self.range, 0);
        if found.kvs.is_empty() {
            if TARGETS[self.target] == "VALUE" {
                return false;
            }
            return self.holds_for(&KeyValue::default());
        }
        found.kvs.iter().all(|kv| self.holds_for(kv))
    }

    fn holds_for(&self, kv: &KeyValue) -> bool {
        use std::cmp::Ordering;
        let ordering = match TARGETS[self.target] {
            "VERSION" => kv.version.cmp(&self.number),
            "CREATE" => kv.create_revision.cmp(&self.number),
            "MOD" => kv.mod_revision.cmp(&self.number),
            "LEASE" => kv.lease.cmp(&self.number),
            _ => kv.value.as_slice().cmp(self.value.as_slice()),
        };
        match RESULTS[self.result] {
            "EQUAL" => ordering == Ordering::Equal,
            "GREATER" => ordering == Ordering::Greater,
            "LESS" => ordering == Ordering::Less,
            _ => ordering != Ordering::Equal,
        }
    }
}

#[derive(Debug)]
pub enum Op {
    Range(RangeReq),
    Put(PutReq),
    Delete(DeleteReq),
}

impl Op {
    fn validate(&self) -> Result<(), Status> {
        match self {
            Op::Range(r) => r.validate(),
            Op::Put(p) => p.validate(),
            Op::Delete(d) => d.validate(),
        }
    }
}

/// What a nested txn gets: the lab's etcd does not run them.
pub fn nested_txn() -> Status {
    Status::new(
        code::UNIMPLEMENTED,
        "kubecorp: nested txns are not supported by the lab's etcd",
    )
}

#[derive(Debug, Default)]
pub struct TxnReq {
    pub compares: Vec<Compare>,
    pub success: Vec<Op>,
    pub failure: Vec<Op>,
    pub size: usize,
}

impl TxnReq {
    /// etcd's `checkTxnRequest` and `checkIntervals`: at most 128 ops per branch, every op
    /// valid, and no key written twice in one branch (two puts, or a put and a delete).
    pub(crate) fn validate(&self) -> Result<(), Status> {
        if self.compares.len() > MAX_TXN_OPS
            || self.success.len() > MAX_TXN_OPS
            || self.failure.len() > MAX_TXN_OPS
        {
            return Err(Status::invalid(
                "etcdserver: too many operations in txn request",
            ));
        }
        for branch in [&self.success, &self.failure] {
            for op in branch {
                op.validate()?;
            }
            let puts: Vec<KeyRange> = branch
                .iter()
                .filter_map(|op| match op {
                    Op::Put(p) => Some(KeyRange::One(p.key.clone())),
                    _ => None,
                })
                .collect();
            let deletes: Vec<&KeyRange> = branch
                .iter()
                .filter_map(|op| match op {
                    Op::Delete(d) => Some(&d.range),
                    _ => None,
                })
                .collect();
            for (i, put) in puts.iter().enumerate() {
                let twice = puts[i + 1..].iter().any(|other| other.overlaps(put))
                    || deletes.iter().any(|del| del.overlaps(put));
                if twice {
                    return Err(Status::invalid(
                        "etcdserver: duplicate key given in txn request",
                    ));
                }
            }
        }
        Ok(())
    }
}
