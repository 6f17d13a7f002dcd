//! The vault's counter: etcd's v3 JSON gateway (`/v3/kv/put`, `range`, `deleterange`,
//! `txn`), `/health` and `/version`, as plain functions of a method, a path and a body.
//!
//! Requests are decoded the way etcd's gateway decodes them (see [`crate::gojson`]): the first
//! JSON value of the body, unknown fields ignored, proto names (`range_end`) or JSON names
//! (`rangeEnd`) accepted, int64s as numbers or strings, bytes as base64. Errors come back in
//! grpc-gateway's shape, `{"error":…,"message":…,"code":…}`, with etcd's texts.
//!
//! The operations themselves are the [`Vault`]'s, shared with gRPC. Not kept: auth, sorting,
//! nested txns.

use std::sync::Arc;

use http::{Method, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::gojson::{check_first_value, check_whole_value, decode_base64, parse_shallow};
use crate::release::Release;
use crate::store::KeyRange;
use crate::vault::{
    code, nested_txn, Compare, DeleteReq, Op, PutReq, RangeReq, Status, TxnReq, Vault, RESULTS,
    TARGETS,
};
use crate::wire::{
    DeleteRangeResponse, GatewayError, PutResponse, RangeResponse, TxnResponse, Version,
};
use kubecorp_trust::LabClock;

/// A gRPC status as grpc-gateway's `HTTPStatusFromCode` turns it into an HTTP answer.
fn status_reply(status: Status) -> Reply {
    let http = match status.code {
        code::INVALID_ARGUMENT | code::OUT_OF_RANGE | code::FAILED_PRECONDITION => {
            StatusCode::BAD_REQUEST
        }
        code::NOT_FOUND => StatusCode::NOT_FOUND,
        code::RESOURCE_EXHAUSTED => StatusCode::TOO_MANY_REQUESTS,
        code::UNIMPLEMENTED => StatusCode::NOT_IMPLEMENTED,
        code::UNAVAILABLE => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    Reply::json(
        http,
        &GatewayError {
            error: status.message.clone(),
            message: status.message,
            code: status.code,
        },
    )
}

/// One HTTP answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// The `Allow` header of a 405, when Go's mux sets one.
    pub allow: Option<&'static str>,
}

impl Reply {
    fn json(status: StatusCode, value: &impl Serialize) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: serde_json::to_vec(value).expect("gateway types always serialize"),
            allow: None,
        }
    }

    fn text(status: StatusCode, text: &str) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: text.as_bytes().to_vec(),
            allow: None,
        }
    }
}

/// The JSON gateway in front of a [`Vault`].
#[derive(Debug, Clone)]
pub struct Gateway {
    vault: Arc<Vault>,
}

impl Gateway {
    /// A fresh etcd 3.5.16 member named `name`, on the machine's clock.
    pub fn new(name: &str) -> Gateway {
        Gateway::for_release(name, Release::default())
    }

    /// A fresh member of the given etcd release (its `/version` and `/health` answers).
    pub fn for_release(name: &str, release: Release) -> Gateway {
        Gateway::over(Arc::new(Vault::new(
            name,
            Vec::new(),
            Vec::new(),
            release,
            LabClock::real(),
        )))
    }

    /// The gateway of an existing vault (the one gRPC serves too).
    pub fn over(vault: Arc<Vault>) -> Gateway {
        Gateway { vault }
    }

    /// Answers one request. Routing is Go's: known gateway paths want POST (405 otherwise),
    /// other `/v3/` paths are the gateway's 404, anything else is `http.NotFound`.
    pub fn handle(&self, method: &Method, path: &str, body: &[u8]) -> Reply {
        match (method, path) {
            (&Method::GET, "/health") => {
                Reply::text(StatusCode::OK, self.vault.release.health_body())
            }
            (_, "/health") => Reply {
                allow: Some("GET"),
                ..Reply::text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n")
            },
            (&Method::GET, "/version") => Reply::json(
                StatusCode::OK,
                &Version {
                    etcdserver: self.vault.release.server_version().into(),
                    etcdcluster: self.vault.release.cluster_version().into(),
                },
            ),
            (&Method::POST, "/v3/kv/put") => self.answer(body, |g, f| g.put(f)),
            (&Method::POST, "/v3/kv/range") => self.answer(body, |g, f| g.range(f)),
            (&Method::POST, "/v3/kv/deleterange") => self.answer(body, |g, f| g.delete_range(f)),
            (&Method::POST, "/v3/kv/txn") => self.answer(body, |g, f| g.txn(f)),
            (_, "/v3/kv/put" | "/v3/kv/range" | "/v3/kv/deleterange" | "/v3/kv/txn") => {
                Reply::text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n")
            }
            (_, p) if p.starts_with("/v3/") => Reply::text(StatusCode::NOT_FOUND, "Not Found\n"),
            _ => Reply::text(StatusCode::NOT_FOUND, "404 page not found\n"),
        }
    }

    fn answer<T: Serialize>(
        &self,
        body: &[u8],
        op: impl FnOnce(&Self, &Fields) -> Result<T, Status>,
    ) -> Reply {
        match decode_body(body).and_then(|fields| op(self, &fields)) {
            Ok(response) => Reply::json(StatusCode::OK, &response),
            Err(status) => status_reply(status),
        }
    }

    fn put(&self, fields: &Fields) -> Result<PutResponse, Status> {
        self.vault.put(&PutReq::decode(fields)?)
    }

    fn range(&self, fields: &Fields) -> Result<RangeResponse, Status> {
        self.vault.range(&RangeReq::decode(fields)?)
    }

    fn delete_range(&self, fields: &Fields) -> Result<DeleteRangeResponse, Status> {
        self.vault.delete_range(&DeleteReq::decode(fields)?)
    }

    fn txn(&self, fields: &Fields) -> Result<TxnResponse, Status> {
        self.vault.txn(&TxnReq::decode(fields)?)
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding, the jsonpb way.
// ---------------------------------------------------------------------------------------------

/// The top-level object of a request body (jsonpb reads it into `map[string]json.RawMessage`).
fn decode_body(body: &[u8]) -> Result<Fields, Status> {
    let Some(end) = check_first_value(body).map_err(Status::invalid)? else {
        return Ok(Fields::default());
    };
    let value = parse_shallow(&body[..end]).map_err(|e| Status::invalid(format!("json: {e}")))?;
    Fields::from_value(value, "map[string]json.RawMessage")
}

/// The fields of one JSON object, looked up by proto name or JSON name.
#[derive(Debug, Default)]
struct Fields(Map<String, Value>);

fn cannot_unmarshal(value: &Value, go_type: &str) -> Status {
    Status::invalid(format!(
        "json: cannot unmarshal {} into Go value of type {go_type}",
        kubecorp_trust::gojson::kind(value)
    ))
}

impl Fields {
    fn from_value(value: Value, go_type: &str) -> Result<Fields, Status> {
        match value {
            Value::Object(map) => Ok(Fields(map)),
            Value::Null => Ok(Fields::default()),
            other => Err(cannot_unmarshal(&other, go_type)),
        }
    }

    /// jsonpb accepts the proto name (`range_end`) and the JSON name (`rangeEnd`).
    fn get(&self, proto_name: &str) -> Option<&Value> {
        if let Some(v) = self.0.get(proto_name) {
            return Some(v);
        }
        let mut camel = String::with_capacity(proto_name.len());
        let mut upper = false;
        for c in proto_name.chars() {
            if c == '_' {
                upper = true;
            } else if upper {
                camel.push(c.to_ascii_uppercase());
                upper = false;
            } else {
                camel.push(c);
            }
        }
        self.0.get(&camel)
    }

    fn bytes(&self, name: &str) -> Result<Vec<u8>, Status> {
        match self.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(text)) => decode_base64(text).map_err(Status::invalid),
            Some(other) => Err(cannot_unmarshal(other, "[]uint8")),
        }
    }

    fn int64(&self, name: &str) -> Result<i64, Status> {
        let raw = match self.get(name) {
            None | Some(Value::Null) => return Ok(0),
            // jsonpb strips the quotes of an int64 and unmarshals what is inside.
            Some(Value::String(inner)) => inner.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => return Err(cannot_unmarshal(other, "int64")),
        };
        check_whole_value(raw.as_bytes()).map_err(Status::invalid)?;
        match raw.parse::<i64>() {
            Ok(n) => Ok(n),
            Err(_) if raw.starts_with(|c: char| c == '-' || c.is_ascii_digit()) => {
                Err(Status::invalid(format!(
                    "json: cannot unmarshal number {raw} into Go value of type int64"
                )))
            }
            Err(_) => {
                let value = parse_shallow(raw.as_bytes()).unwrap_or(Value::Null);
                Err(cannot_unmarshal(&value, "int64"))
            }
        }
    }

    fn boolean(&self, name: &str) -> Result<bool, Status> {
        match self.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(cannot_unmarshal(other, "bool")),
        }
    }

    /// A proto enum, by name or number.
    fn enumeration(&self, name: &str, go_enum: &str, names: &[&str]) -> Result<usize, Status> {
        match self.get(name) {
            None | Some(Value::Null) => Ok(0),
            Some(Value::String(text)) => names.iter().position(|n| n == text).ok_or_else(|| {
                Status::invalid(format!("unknown value {text:?} for enum {go_enum}"))
            }),
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|&n| n < names.len())
                .ok_or_else(|| Status::invalid(format!("unknown value {n} for enum {go_enum}"))),
            Some(other) => Err(cannot_unmarshal(other, "int32")),
        }
    }

    fn messages(&self, name: &str) -> Result<Vec<Fields>, Status> {
        match self.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| Fields::from_value(item.clone(), "map[string]json.RawMessage"))
                .collect(),
            Some(other) => Err(cannot_unmarshal(other, "[]json.RawMessage")),
        }
    }

    fn message(&self, name: &str) -> Result<Option<Fields>, Status> {
        match self.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(other) => {
                Fields::from_value(other.clone(), "map[string]json.RawMessage").map(Some)
            }
        }
    }
}

/// Protobuf's wire size of a field, for the request-size limits.
fn field_bytes(tag_len: usize, len: usize) -> usize {
    if len == 0 {
        0
    } else {
        tag_len + varint_len(len as u64) + len
    }
}

fn field_int(tag_len: usize, v: i64) -> usize {
    if v == 0 {
        0
    } else {
        tag_len + varint_len(v as u64)
    }
}

fn field_bool(b: bool) -> usize {
    if b {
        2
    } else {
        0
    }
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

impl RangeReq {
    fn decode(f: &Fields) -> Result<RangeReq, Status> {
        let key = f.bytes("key")?;
        let range_end = f.bytes("range_end")?;
        let limit = f.int64("limit")?;
        let revision = f.int64("revision")?;
        let keys_only = f.boolean("keys_only")?;
        let count_only = f.boolean("count_only")?;
        let size = field_bytes(1, key.len())
            + field_bytes(1, range_end.len())
            + field_int(1, limit)
            + field_int(1, revision)
            + field_bool(keys_only)
            + field_bool(count_only);
        Ok(RangeReq {
            range: KeyRange::new(key.clone(), range_end),
            key,
            limit,
            revision,
            keys_only,
            count_only,
            sort: None,
            size,
        })
    }
}

impl PutReq {
    fn decode(f: &Fields) -> Result<PutReq, Status> {
        let key = f.bytes("key")?;
        let value = f.bytes("value")?;
        let lease = f.int64("lease")?;
        let prev_kv = f.boolean("prev_kv")?;
        let ignore_value = f.boolean("ignore_value")?;
        let ignore_lease = f.boolean("ignore_lease")?;
        let size = field_bytes(1, key.len())
            + field_bytes(1, value.len())
            + field_int(1, lease)
            + field_bool(prev_kv)
            + field_bool(ignore_value)
            + field_bool(ignore_lease);
        Ok(PutReq {
            key,
            value,
            lease,
            prev_kv,
            ignore_value,
            ignore_lease,
            size,
        })
    }
}

impl DeleteReq {
    fn decode(f: &Fields) -> Result<DeleteReq, Status> {
        let key = f.bytes("key")?;
        let range_end = f.bytes("range_end")?;
        let prev_kv = f.boolean("prev_kv")?;
        let size =
            field_bytes(1, key.len()) + field_bytes(1, range_end.len()) + field_bool(prev_kv);
        Ok(DeleteReq {
            range: KeyRange::new(key.clone(), range_end),
            key,
            prev_kv,
            size,
        })
    }
}

impl Compare {
    fn decode(f: &Fields) -> Result<(Compare, usize), Status> {
        let result = f.enumeration("result", "etcdserverpb.Compare_CompareResult", RESULTS)?;
        let target = f.enumeration("target", "etcdserverpb.Compare_CompareTarget", TARGETS)?;
        let key = f.bytes("key")?;
        let range_end = f.bytes("range_end")?;
        // The operand is a oneof: each target reads its own field, and a missing one is zero.
        let number = match TARGETS[target] {
            "VERSION" => f.int64("version")?,
            "CREATE" => f.int64("create_revision")?,
            "MOD" => f.int64("mod_revision")?,
            "LEASE" => f.int64("lease")?,
            _ => 0,
        };
        let value = f.bytes("value")?;
        let size = field_int(1, result as i64)
            + field_int(1, target as i64)
            + field_bytes(1, key.len())
            + field_int(1, number)
            + field_bytes(1, value.len())
            + field_bytes(2, range_end.len());
        Ok((
            Compare {
                range: KeyRange::new(key, range_end),
                target,
                result,
                number,
                value,
            },
            size,
        ))
    }
}

impl Op {
    fn decode(f: &Fields) -> Result<(Op, usize), Status> {
        if let Some(inner) = f.message("request_range")? {
            let req = RangeReq::decode(&inner)?;
            let size = field_bytes(1, req.size.max(1));
            return Ok((Op::Range(req), size));
        }
        if let Some(inner) = f.message("request_put")? {
            let req = PutReq::decode(&inner)?;
            let size = field_bytes(1, req.size.max(1));
            return Ok((Op::Put(req), size));
        }
        if let Some(inner) = f.message("request_delete_range")? {
            let req = DeleteReq::decode(&inner)?;
            let size = field_bytes(1, req.size.max(1));
            return Ok((Op::Delete(req), size));
        }
        if f.message("request_txn")?.is_some() {
            return Err(nested_txn());
        }
        // An op with nothing set: etcd's checkRequestOp finds no key.
        Err(Status::invalid("etcdserver: key not found"))
    }
}

impl TxnReq {
    fn decode(f: &Fields) -> Result<TxnReq, Status> {
        let mut size = 0;
        let mut compares = Vec::new();
        for c in f.messages("compare")? {
            let (compare, len) = Compare::decode(&c)?;
            size += field_bytes(1, len.max(1));
            compares.push(compare);
        }
        let mut branch = |name: &str| -> Result<Vec<Op>, Status> {
            let mut ops = Vec::new();
            for o in f.messages(name)? {
                let (op, len) = Op::decode(&o)?;
                size += field_bytes(1, len);
                ops.push(op);
            }
            Ok(ops)
        };
        let success = branch("success")?;
        let failure = branch("failure")?;
        Ok(TxnReq {
            compares,
            success,
            failure,
            size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(gw: &Gateway, path: &str, body: &str) -> (u16, String) {
        let reply = gw.handle(&Method::POST, path, body.as_bytes());
        (
            reply.status.as_u16(),
            String::from_utf8(reply.body).unwrap(),
        )
    }

    #[test]
    fn a_put_then_a_range_answers_in_etcds_json() {
        let gw = Gateway::new("etcd");
        let (status, body) = post(&gw, "/v3/kv/put", r#"{"key":"Zm9v","value":"YmFy"}"#);
        assert_eq!(status, 200);
        let header = format!(
            r#"{{"cluster_id":"{}","member_id":"{}","revision":"2","raft_term":"2"}}"#,
            gw.vault.cluster_id, gw.vault.member.id
        );
        assert_eq!(body, format!(r#"{{"header":{header}}}"#));
        let (_, body) = post(&gw, "/v3/kv/range", r#"{"key":"Zm9v"}"#);
        assert_eq!(
            body,
            format!(
                r#"{{"header":{header},"kvs":[{{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}}],"count":"1"}}"#
            )
        );
    }

    #[test]
    fn an_empty_range_has_no_kvs_and_no_count() {
        let gw = Gateway::new("etcd");
        let (_, body) = post(&gw, "/v3/kv/range", r#"{"key":"bm9wZQ=="}"#);
        let json: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            json.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["header"]
        );
    }

    #[test]
    fn bad_input_gets_grpc_gateways_error_with_gos_text() {
        let gw = Gateway::new("etcd");
        assert_eq!(
            post(&gw, "/v3/kv/put", "{bad"),
            (400, r#"{"error":"invalid character 'b' looking for beginning of object key string","message":"invalid character 'b' looking for beginning of object key string","code":3}"#.into())
        );
        assert_eq!(
            post(&gw, "/v3/kv/put", r#"{"key":5}"#).1,
            r#"{"error":"json: cannot unmarshal number into Go value of type []uint8","message":"json: cannot unmarshal number into Go value of type []uint8","code":3}"#
        );
        assert_eq!(
            post(&gw, "/v3/kv/range", r#"{"key":"YQ==","limit":2.5}"#).1,
            r#"{"error":"json: cannot unmarshal number 2.5 into Go value of type int64","message":"json: cannot unmarshal number 2.5 into Go value of type int64","code":3}"#
        );
        assert_eq!(
            post(&gw, "/v3/kv/range", r#"{"key":"YQ==","limit":""}"#).1,
            r#"{"error":"unexpected end of JSON input","message":"unexpected end of JSON input","code":3}"#
        );
        assert_eq!(
            post(&gw, "/v3/kv/put", "").1,
            r#"{"error":"etcdserver: key is not provided","message":"etcdserver: key is not provided","code":3}"#
        );
        assert_eq!(
            post(
                &gw,
                "/v3/kv/txn",
                r#"{"compare":[{"key":"YQ==","target":"NOPE","result":"EQUAL"}]}"#
            )
            .1,
            r#"{"error":"unknown value \"NOPE\" for enum etcdserverpb.Compare_CompareTarget","message":"unknown value \"NOPE\" for enum etcdserverpb.Compare_CompareTarget","code":3}"#
        );
    }

    #[test]
    fn a_body_nested_past_gos_limit_is_refused_with_gos_text_instead_of_overflowing_the_stack() {
        let gw = Gateway::new("etcd");
        let deep = "[".repeat(100_000);
        assert_eq!(
            post(&gw, "/v3/kv/range", &deep),
            (400, r#"{"error":"invalid character '[' exceeded max depth","message":"invalid character '[' exceeded max depth","code":3}"#.into())
        );
        let deep_objects = r#"{"a":"#.repeat(100_000);
        assert_eq!(
            post(&gw, "/v3/kv/txn", &deep_objects).1,
            r#"{"error":"invalid character '{' exceeded max depth","message":"invalid character '{' exceeded max depth","code":3}"#
        );
    }

    #[test]
    fn a_body_nested_as_deep_as_go_allows_is_read_and_its_unknown_field_ignored() {
        let gw = Gateway::new("etcd");
        // The top-level object is depth 1, so 9,999 more brackets reach Go's 10,000 exactly.
        let field = format!("{}{}", "[".repeat(9_999), "]".repeat(9_999));
        let (status, body) = post(
            &gw,
            "/v3/kv/put",
            &format!(r#"{{"x":{field},"key":"YQ==","value":"Yg=="}}"#),
        );
        assert_eq!(status, 200, "{body}");
        let one_more = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(
            post(
                &gw,
                "/v3/kv/put",
                &format!(r#"{{"x":{one_more},"key":"YQ=="}}"#)
            )
            .1,
            r#"{"error":"invalid character '[' exceeded max depth","message":"invalid character '[' exceeded max depth","code":3}"#
        );
        // A deep value in a known field is refused for its kind, as jsonpb does.
        assert_eq!(
            post(&gw, "/v3/kv/put", &format!(r#"{{"key":{field}}}"#)).1,
            r#"{"error":"json: cannot unmarshal array into Go value of type []uint8","message":"json: cannot unmarshal array into Go value of type []uint8","code":3}"#
        );
    }

    #[test]
    fn a_value_over_grpcs_limit_is_refused_with_its_exact_size() {
        let gw = Gateway::new("etcd");
        let body = format!(r#"{{"key":"YQ==","value":"{}"}}"#, "a".repeat(3_000_000));
        assert_eq!(
            post(&gw, "/v3/kv/put", &body),
            (429, r#"{"error":"grpc: received message larger than max (2250008 vs. 2097152)","message":"grpc: received message larger than max (2250008 vs. 2097152)","code":8}"#.into())
        );
    }

    #[test]
    fn wrong_methods_and_paths_get_gos_plain_text_answers() {
        let gw = Gateway::new("etcd");
        let reply = gw.handle(&Method::GET, "/v3/kv/range", b"");
        assert_eq!(
            (reply.status.as_u16(), reply.body),
            (405, b"Method Not Allowed\n".to_vec())
        );
        assert_eq!(
            gw.handle(&Method::POST, "/v3/kv/nope", b"{}").body,
            b"Not Found\n"
        );
        assert_eq!(
            gw.handle(&Method::GET, "/nope", b"").body,
            b"404 page not found\n"
        );
    }
}
