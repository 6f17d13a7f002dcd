//! The JSON the vault speaks: etcd 3.4's v3 gateway shapes, byte for byte.
//!
//! etcd's gateway is grpc-gateway over protobuf messages, serialized by golang/protobuf's
//! `jsonpb` with the proto field names (`create_revision`, not `createRevision`) and without
//! zero values. That gives three rules a hand-written client must know:
//!
//! - 64-bit integers are JSON **strings** (`"revision":"2"`), because JavaScript numbers cannot
//!   hold every int64;
//! - bytes (keys and values) are **base64** (`"key":"Zm9v"`);
//! - zero values are **left out**: an empty range answers `{"header":{…}}` with no `kvs` and no
//!   `count`, a failed txn has no `succeeded`, an empty value has no `value`.
//!
//! Fields appear in proto field-number order, as jsonpb writes them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// int64 as a JSON string; reads a string or a number.
mod int64 {
    use super::*;

    pub fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Number(i64),
        }
        match Either::deserialize(d)? {
            Either::Number(n) => Ok(n),
            Either::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// uint64 as a JSON string; reads a string or a number.
mod uint64 {
    use super::*;

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Number(u64),
        }
        match Either::deserialize(d)? {
            Either::Number(n) => Ok(n),
            Either::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// bytes as standard base64 with padding.
mod bytes64 {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = Option::<String>::deserialize(d)?.unwrap_or_default();
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}

fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

fn is_false(v: &bool) -> bool {
    !*v
}

/// One key as etcd stores and shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    #[serde(with = "bytes64", skip_serializing_if = "Vec::is_empty", default)]
    pub key: Vec<u8>,
    #[serde(with = "int64", skip_serializing_if = "is_zero_i64", default)]
    pub create_revision: i64,
    #[serde(with = "int64", skip_serializing_if = "is_zero_i64", default)]
    pub mod_revision: i64,
    #[serde(with = "int64", skip_serializing_if = "is_zero_i64", default)]
    pub version: i64,
    #[serde(with = "bytes64", skip_serializing_if = "Vec::is_empty", default)]
    pub value: Vec<u8>,
    #[serde(with = "int64", skip_serializing_if = "is_zero_i64", default)]
    pub lease: i64,
}

/// Every response's header: which cluster, which member, at which revision.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseHeader {
    #[serde(with = "uint64", skip_serializing_if = "is_zero_u64", default)]
    pub cluster_id: u64,
    #[serde(with = "uint64", skip_serializing_if = "is_zero_u64", default)]
    pub member_id: u64,
    #[serde(with = "int64", skip_serializing_if = "is_zero_i64", default)]
    pub revision: i64,
    #[serde(with = "uint64", skip_serializing_if = "is_zero_u64", default)]
    pub raft_term: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeResponse {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub header: Option<ResponseHeader>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub kvs: Vec<KeyValue>,
    #[serde(skip_serializing_if = "is_false", default)]
    pub more: bool,
    #[serde(with = "int64", skip_serializing_if = "is_zero_i64", default)]
    pub count: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutResponse {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub header: Option<ResponseHeader>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub prev_kv: Option<KeyValue>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteRangeResponse {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub header: Option<ResponseHeader>,
    #[serde(with = "int64", skip_serializing_if = "is_zero_i64", default)]
    pub deleted: i64,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub prev_kvs: Vec<KeyValue>,
}

/// One result inside a txn; exactly one field is set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseOp {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub response_range: Option<RangeResponse>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub response_put: Option<PutResponse>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub response_delete_range: Option<DeleteRangeResponse>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnResponse {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub header: Option<ResponseHeader>,
    #[serde(skip_serializing_if = "is_false", default)]
    pub succeeded: bool,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub responses: Vec<ResponseOp>,
}

/// grpc-gateway's error body: the gRPC status message twice and its code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayError {
    pub error: String,
    #[serde(default)]
    pub message: String,
    pub code: i32,
}

/// `GET /version`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub etcdserver: String,
    pub etcdcluster: String,
}
