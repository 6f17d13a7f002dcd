//! gRPC on Charlie's client port, as `etcdctl` and kube-apiserver speak it: HTTP/2 requests
//! whose `content-type` is `application/grpc`, each message framed as one flag byte, a 4-byte
//! length and the protobuf bytes, and the outcome in the `grpc-status` / `grpc-message`
//! trailers. Real etcd serves this and the JSON gateway on one port; an HTTP/2 request of
//! another content type goes to the gateway (`embed/serve.go`, `grpcHandlerFunc`).
//!
//! # Layout
//!
//! - this file: routing by `/service/method`, framing, statuses, and the unary calls of KV,
//!   Lease, Cluster and Maintenance;
//! - [`stream`]: the streams (Watch, LeaseKeepAlive, Snapshot, whose file
//!   [`crate::snapshot`] writes);
//! - [`pb`]: the messages.

pub mod pb;
pub mod stream;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use prost::Message;

use crate::store::KeyRange;
use crate::vault::{
    code, nested_txn, Compare, DeleteReq, Op, PutReq, RangeReq, Status, TxnReq, Vault,
    MAX_GRPC_MESSAGE,
};
use crate::wire;

/// What every answer on the client port is: a whole body, or frames sent as they come.
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Whether an HTTP request is a gRPC call (etcd's test: HTTP/2 and this content type).
pub fn is_grpc<B>(req: &Request<B>) -> bool {
    req.version() == http::Version::HTTP_2
        && req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/grpc"))
}

/// The outcome of one call, for the event stream: the method and the status it ended with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub method: String,
    pub status: Option<Status>,
}

/// Serves one gRPC call.
pub async fn serve(vault: Arc<Vault>, req: Request<Incoming>) -> (Response<Body>, Outcome) {
    let method = req.uri().path().to_owned();
    let outcome = |status: Option<Status>| Outcome {
        method: method.clone(),
        status,
    };
    let body = req.into_body();
    match method.as_str() {
        "/etcdserverpb.Watch/Watch" => return (stream::watch(vault, body), outcome(None)),
        "/etcdserverpb.Lease/LeaseKeepAlive" => {
            return (stream::keep_alive(vault, body), outcome(None))
        }
        "/etcdserverpb.Maintenance/Snapshot" => return (stream::snapshot(vault), outcome(None)),
        _ => {}
    }
    let message = match read_one(body).await {
        Ok(message) => message,
        Err(status) => return (trailers_only(&status), outcome(Some(status))),
    };
    match unary(&vault, &method, &message) {
        Ok(answer) => (message_then_ok(answer), outcome(None)),
        Err(status) => (trailers_only(&status), outcome(Some(status))),
    }
}

/// Decodes a request message, as gRPC refuses a malformed one.
fn decode<M: Message + Default>(bytes: &[u8]) -> Result<M, Status> {
    M::decode(bytes).map_err(|e| {
        Status::new(
            code::INTERNAL,
            format!("grpc: error unmarshalling request: {e}"),
        )
    })
}

fn unary(vault: &Vault, method: &str, message: &[u8]) -> Result<Vec<u8>, Status> {
    let answer = match method {
        "/etcdserverpb.KV/Range" => {
            let req: pb::RangeRequest = decode(message)?;
            range_answer(vault.range(&range_req(&req, message.len())?)?).encode_to_vec()
        }
        "/etcdserverpb.KV/Put" => {
            let req: pb::PutRequest = decode(message)?;
            let answer = vault.put(&put_req(&req, message.len()))?;
            put_answer(answer).encode_to_vec()
        }
        "/etcdserverpb.KV/DeleteRange" => {
            let req: pb::DeleteRangeRequest = decode(message)?;
            delete_answer(vault.delete_range(&delete_req(&req, message.len()))?).encode_to_vec()
        }
        "/etcdserverpb.KV/Txn" => {
            let req: pb::TxnRequest = decode(message)?;
            let txn = txn_req(&req, message.len())?;
            txn_answer(vault.txn(&txn)?).encode_to_vec()
        }
        "/etcdserverpb.KV/Compact" => {
            let req: pb::CompactionRequest = decode(message)?;
            pb::CompactionResponse {
                header: Some(header(vault.compact(req.revision)?)),
            }
            .encode_to_vec()
        }
        "/etcdserverpb.Lease/LeaseGrant" => {
            let req: pb::LeaseGrantRequest = decode(message)?;
            let (head, lease) = vault.lease_grant(req.id, req.ttl)?;
            pb::LeaseGrantResponse {
                header: Some(header(head)),
                id: lease.id,
                ttl: lease.granted_ttl,
                error: String::new(),
            }
            .encode_to_vec()
        }
        "/etcdserverpb.Lease/LeaseRevoke" => {
            let req: pb::LeaseRevokeRequest = decode(message)?;
            pb::LeaseRevokeResponse {
                header: Some(header(vault.lease_revoke(req.id)?)),
            }
            .encode_to_vec()
        }
        "/etcdserverpb.Lease/LeaseTimeToLive" => {
            let req: pb::LeaseTimeToLiveRequest = decode(message)?;
            let (head, found) = vault.lease_time_to_live(req.id);
            // An unknown lease is not an error here: TTL -1 (`v3rpc/lease.go`).
            let (ttl, granted_ttl, keys) =
                found.map_or((-1, 0, Vec::new()), |t| (t.remaining, t.granted, t.keys));
            pb::LeaseTimeToLiveResponse {
                header: Some(header(head)),
                id: req.id,
                ttl,
                granted_ttl,
                keys: if req.keys { keys } else { Vec::new() },
            }
            .encode_to_vec()
        }
        "/etcdserverpb.Lease/LeaseLeases" => {
            let (head, ids) = vault.lease_ids();
            pb::LeaseLeasesResponse {
                header: Some(header(head)),
                leases: ids.into_iter().map(|id| pb::LeaseStatus { id }).collect(),
            }
            .encode_to_vec()
        }
        "/etcdserverpb.Cluster/MemberList" => {
            let member = &vault.member;
            pb::MemberListResponse {
                header: Some(header(vault.header(vault.revision()))),
                members: vec![pb::Member {
                    id: member.id,
                    name: member.name.clone(),
                    peer_urls: member.peer_urls.clone(),
                    client_urls: member.client_urls.clone(),
                    is_learner: false,
                }],
            }
            .encode_to_vec()
        }
        "/etcdserverpb.Maintenance/Status" => {
            let (head, db_size) = vault.status();
            pb::StatusResponse {
                version: vault.release.server_version().to_owned(),
                db_size,
                db_size_in_use: db_size,
                leader: vault.member.id,
                // One entry per revision, plus the member's own bootstrap entries.
                raft_index: head.revision as u64 + 3,
                raft_term: head.raft_term,
                raft_applied_index: head.revision as u64 + 3,
                errors: Vec::new(),
                is_learner: false,
                header: Some(header(head)),
            }
            .encode_to_vec()
        }
        "/etcdserverpb.Maintenance/Alarm" => {
            let req: pb::AlarmRequest = decode(message)?;
            // No alarms are ever raised: GET lists none, and so do ACTIVATE and DEACTIVATE.
            let _ = req.action;
            pb::AlarmResponse {
                header: Some(header(vault.header(vault.revision()))),
                alarms: Vec::new(),
            }
            .encode_to_vec()
        }
        "/etcdserverpb.Maintenance/Hash" => {
            let (head, hash, _) = vault.hash_kv();
            pb::HashResponse {
                header: Some(header(head)),
                hash,
            }
            .encode_to_vec()
        }
        "/etcdserverpb.Maintenance/HashKV" => {
            let (head, hash, compact_revision) = vault.hash_kv();
            pb::HashKvResponse {
                header: Some(header(head)),
                hash,
                compact_revision,
            }
            .encode_to_vec()
        }
        // etcd 3.5 registers gRPC's standard health service; a lone member is always serving.
        "/grpc.health.v1.Health/Check" => vec![0x08, 0x01],
        other => return Err(unknown_method(other)),
    };
    Ok(answer)
}

/// grpc-go's words for a method it does not serve.
fn unknown_method(path: &str) -> Status {
    let path = path.trim_start_matches('/');
    let (service, method) = path.split_once('/').unwrap_or((path, ""));
    let known = [
        "etcdserverpb.KV",
        "etcdserverpb.Watch",
        "etcdserverpb.Lease",
        "etcdserverpb.Cluster",
        "etcdserverpb.Maintenance",
        "grpc.health.v1.Health",
    ];
    if known.contains(&service) {
        Status::new(
            code::UNIMPLEMENTED,
            format!("unknown method {method} for service {service}"),
        )
    } else {
        Status::new(code::UNIMPLEMENTED, format!("unknown service {service}"))
    }
}

// ---------------------------------------------------------------------------------------------
// Framing.
// ---------------------------------------------------------------------------------------------

/// Splits a request body into gRPC messages.
#[derive(Default)]
pub struct Deframer {
    buffer: BytesMut,
}

impl Deframer {
    pub fn push(&mut self, data: &[u8]) {
        self.buffer.extend_from_slice(data);
    }

    /// The next whole message, if one has arrived.
    pub fn next_message(&mut self) -> Result<Option<Bytes>, Status> {
        if self.buffer.len() < 5 {
            return Ok(None);
        }
        let compressed = self.buffer[0];
        let len = u32::from_be_bytes([
            self.buffer[1],
            self.buffer[2],
            self.buffer[3],
            self.buffer[4],
        ]) as usize;
        if compressed != 0 {
            return Err(Status::new(
                code::UNIMPLEMENTED,
                "grpc: Decompressor is not installed for grpc-encoding",
            ));
        }
        if len > MAX_GRPC_MESSAGE {
            return Err(Status::new(
                code::RESOURCE_EXHAUSTED,
                format!("grpc: received message larger than max ({len} vs. {MAX_GRPC_MESSAGE})"),
            ));
        }
        if self.buffer.len() < 5 + len {
            return Ok(None);
        }
        self.buffer.advance(5);
        Ok(Some(self.buffer.split_to(len).freeze()))
    }
}

/// Reads the one message of a unary call.
async fn read_one(mut body: Incoming) -> Result<Bytes, Status> {
    let mut deframer = Deframer::default();
    loop {
        if let Some(message) = deframer.next_message()? {
            return Ok(message);
        }
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    deframer.push(data);
                }
            }
            Some(Err(e)) => {
                return Err(Status::new(
                    code::CANCELLED,
                    format!("context canceled: {e}"),
                ))
            }
            None => {
                return Err(Status::new(
                    code::INTERNAL,
                    "grpc: error while unmarshalling: unexpected EOF",
                ))
            }
        }
    }
}

/// One message in gRPC's framing.
pub fn frame(message: &[u8]) -> Bytes {
    let mut framed = BytesMut::with_capacity(5 + message.len());
    framed.extend_from_slice(&[0]);
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend_from_slice(message);
    framed.freeze()
}

/// gRPC's percent-encoding of `grpc-message`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The trailers that end a call.
pub fn status_trailers(status: Option<&Status>) -> HeaderMap {
    let mut trailers = HeaderMap::new();
    let (grpc_status, message) = match status {
        Some(status) => (status.code, percent_encode(&status.message)),
        None => (code::OK, String::new()),
    };
    trailers.insert("grpc-status", HeaderValue::from(grpc_status));
    if !message.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&message) {
            trailers.insert("grpc-message", value);
        }
    }
    trailers
}

fn grpc_response(body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    response
}

/// A refused call: the status in the headers, no body (gRPC's "trailers-only").
pub fn trailers_only(status: &Status) -> Response<Body> {
    let mut response = grpc_response(Full::new(Bytes::new()).boxed_unsync());
    response.headers_mut().extend(status_trailers(Some(status)));
    response
}

/// One answer message, then `grpc-status: 0`.
fn message_then_ok(message: Vec<u8>) -> Response<Body> {
    let body = Full::new(frame(&message))
        .with_trailers(async { Some(Ok(status_trailers(None))) })
        .boxed_unsync();
    grpc_response(body)
}

// ---------------------------------------------------------------------------------------------
// Between the messages and the vault.
// ---------------------------------------------------------------------------------------------

pub fn header(h: wire::ResponseHeader) -> pb::ResponseHeader {
    pb::ResponseHeader {
        cluster_id: h.cluster_id,
        member_id: h.member_id,
        revision: h.revision,
        raft_term: h.raft_term,
    }
}

pub fn kv(kv: wire::KeyValue) -> pb::KeyValue {
    pb::KeyValue {
        key: kv.key,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        value: kv.value,
        lease: kv.lease,
    }
}

fn range_req(req: &pb::RangeRequest, size: usize) -> Result<RangeReq, Status> {
    if !(0..=2).contains(&req.sort_order) || !(0..=4).contains(&req.sort_target) {
        return Err(Status::invalid("etcdserver: invalid sort option"));
    }
    // etcd: a sort target with no order means ascending.
    let order = if req.sort_order == 0 && req.sort_target != 0 {
        1
    } else {
        req.sort_order
    };
    Ok(RangeReq {
        key: req.key.clone(),
        range: KeyRange::new(req.key.clone(), req.range_end.clone()),
        limit: req.limit,
        revision: req.revision,
        keys_only: req.keys_only,
        count_only: req.count_only,
        sort: (order != 0).then_some((req.sort_target as usize, order == 2)),
        size,
    })
}

fn put_req(req: &pb::PutRequest, size: usize) -> PutReq {
    PutReq {
        key: req.key.clone(),
        value: req.value.clone(),
        lease: req.lease,
        prev_kv: req.prev_kv,
        ignore_value: req.ignore_value,
        ignore_lease: req.ignore_lease,
        size,
    }
}

fn delete_req(req: &pb::DeleteRangeRequest, size: usize) -> DeleteReq {
    DeleteReq {
        key: req.key.clone(),
        range: KeyRange::new(req.key.clone(), req.range_end.clone()),
        prev_kv: req.prev_kv,
        size,
    }
}

fn op(req: &pb::RequestOp) -> Result<Op, Status> {
    use pb::request_op::Request;
    match &req.request {
        Some(Request::RequestRange(r)) => Ok(Op::Range(range_req(r, 0)?)),
        Some(Request::RequestPut(p)) => Ok(Op::Put(put_req(p, 0))),
        Some(Request::RequestDeleteRange(d)) => Ok(Op::Delete(delete_req(d, 0))),
        Some(Request::RequestTxn(_)) => Err(nested_txn()),
        None => Err(Status::invalid("etcdserver: key not found")),
    }
}

fn txn_req(req: &pb::TxnRequest, size: usize) -> Result<TxnReq, Status> {
    use pb::compare::TargetUnion;
    let mut compares = Vec::with_capacity(req.compare.len());
    for c in &req.compare {
        if !(0..=3).contains(&c.result) || !(0..=4).contains(&c.target) {
            return Err(Status::invalid("etcdserver: invalid compare"));
        }
        let (number, value) = match &c.target_union {
            Some(TargetUnion::Version(n))
            | Some(TargetUnion::CreateRevision(n))
            | Some(TargetUnion::ModRevision(n))
            | Some(TargetUnion::Lease(n)) => (*n, Vec::new()),
            Some(TargetUnion::Value(v)) => (0, v.clone()),
            None => (0, Vec::new()),
        };
        compares.push(Compare {
            range: KeyRange::new(c.key.clone(), c.range_end.clone()),
            target: c.target as usize,
            result: c.result as usize,
            number,
            value,
        });
    }
    Ok(TxnReq {
        compares,
        success: req.success.iter().map(op).collect::<Result<_, _>>()?,
        failure: req.failure.iter().map(op).collect::<Result<_, _>>()?,
        size,
    })
}

fn range_answer(r: wire::RangeResponse) -> pb::RangeResponse {
    pb::RangeResponse {
        header: r.header.map(header),
        kvs: r.kvs.into_iter().map(kv).collect(),
        more: r.more,
        count: r.count,
    }
}

fn put_answer(r: wire::PutResponse) -> pb::PutResponse {
    pb::PutResponse {
        header: r.header.map(header),
        prev_kv: r.prev_kv.map(kv),
    }
}

fn delete_answer(r: wire::DeleteRangeResponse) -> pb::DeleteRangeResponse {
    pb::DeleteRangeResponse {
        header: r.header.map(header),
        deleted: r.deleted,
        prev_kvs: r.prev_kvs.into_iter().map(kv).collect(),
    }
}

fn txn_answer(r: wire::TxnResponse) -> pb::TxnResponse {
    use pb::response_op::Response;
    pb::TxnResponse {
        header: r.header.map(header),
        succeeded: r.succeeded,
        responses: r
            .responses
            .into_iter()
            .map(|op| pb::ResponseOp {
                response: if let Some(range) = op.response_range {
                    Some(Response::ResponseRange(range_answer(range)))
                } else if let Some(put) = op.response_put {
                    Some(Response::ResponsePut(put_answer(put)))
                } else {
                    op.response_delete_range
                        .map(|d| Response::ResponseDeleteRange(delete_answer(d)))
                },
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_split_across_frames_is_read_whole_and_an_oversized_one_refused_in_grpcs_words() {
        let mut deframer = Deframer::default();
        let framed = frame(b"hello");
        deframer.push(&framed[..3]);
        assert_eq!(deframer.next_message(), Ok(None));
        deframer.push(&framed[3..]);
        assert_eq!(
            deframer.next_message(),
            Ok(Some(Bytes::from_static(b"hello")))
        );

        let mut big = Deframer::default();
        big.push(&[0, 0, 0x30, 0, 0]);
        assert_eq!(
            big.next_message().unwrap_err().message,
            "grpc: received message larger than max (3145728 vs. 2097152)"
        );
    }

    #[test]
    fn grpc_message_is_percent_encoded_as_grpc_does() {
        assert_eq!(percent_encode("50% é"), "50%25 %C3%A9");
    }

    #[test]
    fn an_unknown_method_is_refused_as_grpc_go_words_it() {
        assert_eq!(
            unknown_method("/etcdserverpb.KV/Nope").message,
            "unknown method Nope for service etcdserverpb.KV"
        );
        assert_eq!(
            unknown_method("/etcdserverpb.Auth/AuthStatus").message,
            "unknown service etcdserverpb.Auth"
        );
    }
}
