//! Charlie and the vault: etcd's gRPC and v3 JSON gateway behind a door that checks badges in
//! the TLS handshake, and the client the apiserver uses to reach it.
//!
//! In KubeCorp, etcd is the vault where every object of the cluster is kept, and Charlie guards
//! it. He trusts one Founder only, the etcd CA (`etcd/ca.crt`), not the cluster CA that signs
//! everybody else's badge: only the apiserver (with `apiserver-etcd-client`) and the health
//! checker (`etcd-healthcheck-client`) ever get in.
//!
//! # Layout
//!
//! - [`server`]: [`run`], the accept loop; the mutual-TLS handshake and etcd's rejection log
//!   line; ALPN (`h2` for gRPC and the gateway, HTTP/1.1 for the gateway) and the request
//!   router (gRPC or gateway), with the lab's plain words when a tool speaks the wrong protocol.
//! - [`grpc`]: etcd's gRPC services (KV, Watch, Lease, Cluster, Maintenance) over HTTP/2;
//!   `h2`: one HTTP/2 conversation.
//! - [`vault`]: the state both counters serve (store, leases, news for watchers) and etcd's
//!   operations and gRPC statuses; [`request`]: the requests they decode into;
//!   [`lease`]: leases on the lab clock; [`snapshot`]: the bbolt file `etcdctl snapshot save`
//!   receives.
//! - [`peer`]: [`run_peer`], the peer port :2380: `etcd/peer.crt`, peer badges checked in the
//!   handshake against the etcd CA (and against the caller's address), `/version` and
//!   `/members`.
//! - [`api`]: the JSON gateway's routes (`/v3/kv/put`, `range`, `deleterange`, `txn`,
//!   `/health`, `/version`) as plain functions, testable without a socket.
//! - [`release`]: [`Release`], which etcd Charlie plays (3.5.16 by default, 3.4.23 beside a
//!   real etcd 3.4): its `/version`, `/health`, Go's words and alerts, and its rejection line
//!   (zap JSON, or 3.4's text).
//! - [`store`]: the in-memory MVCC store: one global revision, per-key create/mod revisions and
//!   versions, the changes since the last compaction.
//! - [`wire`]: the gateway's JSON shapes (int64 as strings, base64 bytes, zero values left out).
//! - [`gojson`]: Go's `encoding/json` and `encoding/base64` error texts for bad input, and its
//!   nesting limit (10,000 levels), scanned without recursion.
//! - [`client`]: [`EtcdClient`], a visitor's JSON-gateway client (scenario steps, tests), with
//!   errors that name the hop and the phase (`apiserver → etcd: TLS handshake: remote error:
//!   tls: …`). Alice's gRPC client is in `kubecorp-apiserver`'s `store::grpc`.
//! - [`error`]: [`EtcdError`], why the server itself stopped.
#![forbid(unsafe_code)]

pub mod api;
pub mod client;
pub mod error;
pub mod gojson;
pub mod grpc;
mod h2;
pub mod lease;
pub mod peer;
pub mod release;
pub mod request;
pub mod server;
pub mod snapshot;
pub mod store;
pub mod vault;
pub mod wire;

pub use client::{ClientError, EtcdClient, Phase, TxnOutcome};
pub use error::EtcdError;
pub use peer::{run_peer, PeerConfig};
pub use release::Release;
pub use server::{run, EtcdConfig};
pub use wire::KeyValue;
