//! A visitor's side of the vault door: a client for etcd's JSON gateway (`/v3/kv/…`, what
//! `curl` reaches) over mutual TLS, for scenario steps that knock on Charlie's doors and for
//! tests. Alice does not use it: she stores over etcd's gRPC on one kept HTTP/2 connection, as
//! kube-apiserver does (`kubecorp-apiserver`'s `store::grpc`).
//!
//! kube-apiserver dials etcd with `--etcd-certfile`/`--etcd-keyfile` (the
//! `apiserver-etcd-client` badge) and `--etcd-cafile=etcd/ca.crt`. Both sides check in the
//! handshake: the apiserver checks etcd's serving badge against the etcd CA and the address it
//! dialled, and etcd checks the apiserver's badge against the same CA. So every failure here is
//! named by hop and phase, the way the lab prints every network failure:
//!
//! ```text
//! apiserver → etcd: TLS handshake: remote error: tls: unknown certificate authority
//! ```
//!
//! and [`ClientError::grpc_text`] gives the line the real apiserver's gRPC client logs for it
//! (`transport: authentication handshake failed: remote error: tls: …`).
//!
//! By default each call opens its own connection and full handshake (a scenario's visitor at the
//! vault door, so a badge broken on disk counts at the next call); [`EtcdClient::keep_alive`]
//! keeps HTTP/1.1 connections between calls instead, dialling again when the badge or the etcd
//! CA changes on disk. The transport is the lab's one mutual-TLS client, `kubecorp_client`. The
//! same client talks to the lab's etcd and to a real etcd 3.4.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use http::{Method, StatusCode};
use kubecorp_client::KubeClient;
use kubecorp_trust::tls::{CertSource, TrustSource};
use kubecorp_trust::{Events, LabClock, Verdict};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::store::prefix_end;
use crate::wire::{
    DeleteRangeResponse, GatewayError, KeyValue, PutResponse, RangeResponse, TxnResponse,
};

/// How long dialling, the handshake and one request may take: the lab client's limits.
pub use kubecorp_client::{CONNECT_TIMEOUT, HANDSHAKE_TIMEOUT, REQUEST_TIMEOUT};

/// Where a call to etcd failed: the same phases as any lab call.
pub use kubecorp_client::Phase;

/// Why a call to etcd failed, naming the hop and the phase.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The endpoint is not `https://host:port`.
    #[error("invalid etcd endpoint {endpoint:?}: {problem}")]
    Endpoint { endpoint: String, problem: String },
    /// The connection did not get as far as an HTTP answer.
    #[error("{from} → etcd: {phase}: {text}")]
    Transport {
        /// The dialling component, e.g. `apiserver`.
        from: String,
        /// `host:port` dialled.
        addr: String,
        phase: Phase,
        /// What a Go client prints, e.g. `remote error: tls: unknown certificate authority`.
        text: String,
        /// When *we* refused etcd's badge: why, with explanation and hint.
        verdict: Option<Box<Verdict>>,
    },
    /// etcd answered with an error.
    #[error("{from} → etcd: {request}: {status}: {message}")]
    Status {
        from: String,
        /// e.g. `POST /v3/kv/put`.
        request: String,
        status: u16,
        /// The gRPC code from the gateway's error body, if it sent one.
        code: Option<i32>,
        message: String,
    },
    /// etcd answered 200 with something that is not the expected JSON.
    #[error("{from} → etcd: {request}: unreadable answer: {problem}")]
    Decode {
        from: String,
        request: String,
        problem: String,
    },
}

impl ClientError {
    /// The line kube-apiserver's gRPC client logs for this failure, if it is a transport one:
    /// `transport: authentication handshake failed: …` or `transport: Error while dialing …`.
    pub fn grpc_text(&self) -> Option<String> {
        match self {
            ClientError::Transport {
                phase: Phase::TlsHandshake,
                text,
                ..
            } => Some(format!(
                "transport: authentication handshake failed: {text}"
            )),
            ClientError::Transport {
                phase: Phase::Connect,
                text,
                ..
            } => Some(format!("transport: Error while dialing {text}")),
            _ => None,
        }
    }

    /// The phase, for transport failures.
    pub fn phase(&self) -> Option<Phase> {
        match self {
            ClientError::Transport { phase, .. } => Some(*phase),
            _ => None,
        }
    }
}

/// What a conditional write did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnOutcome {
    /// The condition held and the write happened at `revision`.
    Written { revision: i64 },
    /// The condition failed: `current` is the key as it is now (absent if deleted).
    Conflict {
        revision: i64,
        current: Option<KeyValue>,
    },
}

/// A client for one etcd member.
#[derive(Clone, Debug)]
pub struct EtcdClient {
    from: String,
    /// The lab's one mutual-TLS transport (a fresh connection and handshake per call, unless
    /// [`EtcdClient::keep_alive`]).
    conn: KubeClient,
    /// Connections are kept between calls, so a read may meet one the server just closed.
    kept_alive: bool,
}

impl EtcdClient {
    /// A client for `https://host:port`, showing `identity` (a badge, as etcdctl's `--cert`/
    /// `--key` or the apiserver's `--etcd-certfile`/`--etcd-keyfile`) and trusting `trust`
    /// (`--cacert`, `--etcd-cafile`). It calls as `apiserver` unless [`EtcdClient::calling_as`]
    /// names another.
    pub fn new(
        endpoint: &str,
        identity: Option<CertSource>,
        trust: TrustSource,
        clock: LabClock,
        events: Events,
    ) -> Result<EtcdClient, ClientError> {
        let conn = KubeClient::new("apiserver", endpoint, identity, trust, clock, events)
            .map_err(|e| match e {
                kubecorp_client::ClientError::Server { problem, .. } => ClientError::Endpoint {
                    endpoint: endpoint.to_owned(),
                    problem,
                },
                other => ClientError::Endpoint {
                    endpoint: endpoint.to_owned(),
                    problem: other.to_string(),
                },
            })?
            .calling("etcd");
        Ok(EtcdClient {
            from: "apiserver".into(),
            conn,
            kept_alive: false,
        })
    }

    /// Keeps HTTP/1.1 connections open between calls (a read that meets a closed one is sent
    /// again once, a write never); see [`KubeClient::keep_alive`].
    pub fn keep_alive(mut self) -> EtcdClient {
        self.conn = self.conn.keep_alive();
        self.kept_alive = true;
        self
    }

    /// Checks etcd's serving badge for `name` (sent as SNI) while dialling the same address, as
    /// etcdctl's `--endpoints` with a name resolved elsewhere, or `curl --resolve`, do.
    pub fn with_tls_server_name(mut self, name: impl Into<String>) -> EtcdClient {
        self.conn = self.conn.with_tls_server_name(name);
        self
    }

    /// Names the dialling component in errors (default `apiserver`).
    pub fn calling_as(mut self, component: impl Into<String>) -> EtcdClient {
        self.from = component.into();
        self.conn = self.conn.calling_as(self.from.clone());
        self
    }

    /// `host:port`.
    pub fn addr(&self) -> String {
        self.conn.addr()
    }

    /// Writes `key`; the answer carries the new revision.
    pub async fn put(&self, key: &[u8], value: &[u8]) -> Result<PutResponse, ClientError> {
        self.call("/v3/kv/put", &json!({"key": b64(key), "value": b64(value)}))
            .await
    }

    /// Reads one key.
    pub async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, ClientError> {
        let found: RangeResponse = self.call("/v3/kv/range", &json!({"key": b64(key)})).await?;
        Ok(found.kvs.into_iter().next())
    }

    /// Reads every key under `prefix` (`/registry/pods/`), in key order.
    pub async fn range_prefix(&self, prefix: &[u8]) -> Result<RangeResponse, ClientError> {
        self.call(
            "/v3/kv/range",
            &json!({"key": b64(prefix), "range_end": b64(&prefix_end(prefix))}),
        )
        .await
    }

    /// Deletes one key; `deleted` is 0 if it was not there.
    pub async fn delete(&self, key: &[u8]) -> Result<DeleteRangeResponse, ClientError> {
        self.call("/v3/kv/deleterange", &json!({"key": b64(key)}))
            .await
    }

    /// Creates `key` only if it does not exist: what the apiserver does on `kubectl create`
    /// (compare `create_revision == 0`).
    pub async fn txn_create_if_absent(
        &self,
        key: &[u8],
        value: &[u8],
    ) -> Result<TxnOutcome, ClientError> {
        self.conditional_put(
            key,
            value,
            json!({"key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}),
        )
        .await
    }

    /// Updates `key` only if nobody changed it since `mod_revision`: the apiserver's
    /// optimistic concurrency (`resourceVersion`) on `kubectl apply`.
    pub async fn txn_update_if_mod_revision(
        &self,
        key: &[u8],
        value: &[u8],
        mod_revision: i64,
    ) -> Result<TxnOutcome, ClientError> {
        self.conditional_put(
            key,
            value,
            json!({"key": b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": mod_revision.to_string()}),
        )
        .await
    }

    async fn conditional_put(
        &self,
        key: &[u8],
        value: &[u8],
        compare: Value,
    ) -> Result<TxnOutcome, ClientError> {
        let txn: TxnResponse = self
            .call(
                "/v3/kv/txn",
                &json!({
                    "compare": [compare],
                    "success": [{"request_put": {"key": b64(key), "value": b64(value)}}],
                    "failure": [{"request_range": {"key": b64(key)}}],
                }),
            )
            .await?;
        let revision = txn.header.map_or(0, |h| h.revision);
        if txn.succeeded {
            return Ok(TxnOutcome::Written { revision });
        }
        let current = txn
            .responses
            .into_iter()
            .find_map(|r| r.response_range)
            .and_then(|r| r.kvs.into_iter().next());
        Ok(TxnOutcome::Conflict { revision, current })
    }

    /// `GET /health`: whether etcd says `{"health":"true"}`.
    pub async fn health(&self) -> Result<bool, ClientError> {
        let (status, body) = self.request(Method::GET, "/health", Vec::new()).await?;
        let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Ok(status.is_success() && value["health"] == "true")
    }

    /// POSTs `body` to a gateway path and decodes the answer.
    pub async fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<T, ClientError> {
        let request = format!("POST {path}");
        let bytes = serde_json::to_vec(body).expect("a JSON value serializes");
        let (status, answer) = self.request(Method::POST, path, bytes).await?;
        if !status.is_success() {
            let error: Option<GatewayError> = serde_json::from_slice(&answer).ok();
            return Err(ClientError::Status {
                from: self.from.clone(),
                request,
                status: status.as_u16(),
                code: error.as_ref().map(|e| e.code),
                message: error.map_or_else(
                    || String::from_utf8_lossy(&answer).trim_end().to_owned(),
                    |e| e.message,
                ),
            });
        }
        serde_json::from_slice(&answer).map_err(|e| ClientError::Decode {
            from: self.from.clone(),
            request,
            problem: e.to_string(),
        })
    }

    /// One raw HTTP exchange over mutual TLS (a fresh connection unless kept alive).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let body = (!body.is_empty()).then_some(body);
        let mut sent = self
            .conn
            .send(method.clone(), path, body.clone(), "application/json")
            .await;
        // A kept connection the server closed just as the request went out fails the request
        // without an answer. clientv3 retries reads ("repeatable" calls) on a new connection;
        // so does this client, once. A write (txn, put, deleterange) is never sent twice.
        let read_only = path == "/v3/kv/range" || (method == Method::GET && path == "/health");
        if self.kept_alive && read_only {
            if let Err(kubecorp_client::ClientError::Transport {
                phase: kubecorp_client::Phase::Request,
                ..
            }) = &sent
            {
                sent = self.conn.send(method, path, body, "application/json").await;
            }
        }
        match sent {
            Ok(reply) => Ok((
                StatusCode::from_u16(reply.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                reply.body,
            )),
            Err(kubecorp_client::ClientError::Transport {
                addr,
                phase,
                text,
                verdict,
                ..
            }) => Err(ClientError::Transport {
                from: self.from.clone(),
                addr,
                phase,
                text,
                verdict,
            }),
            Err(other) => Err(ClientError::Decode {
                from: self.from.clone(),
                request: path.to_string(),
                problem: other.to_string(),
            }),
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(endpoint: &str) -> Result<EtcdClient, ClientError> {
        EtcdClient::new(
            endpoint,
            None,
            TrustSource::bundle("etcd/ca.crt"),
            LabClock::real(),
            Events::new(),
        )
    }

    #[test]
    fn endpoints_parse_like_etcd_servers_flags() {
        assert_eq!(
            client("https://127.0.0.1:2379").unwrap().addr(),
            "127.0.0.1:2379"
        );
        assert_eq!(client("https://[::1]:2379/").unwrap().addr(), "[::1]:2379");
        assert!(matches!(
            client("http://127.0.0.1:2379"),
            Err(ClientError::Endpoint { .. })
        ));
    }
}
