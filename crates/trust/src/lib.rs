//! Trust: the lab clock, the guard's badge check, and the words Go and Kubernetes use for it.
//!
//! In KubeCorp the Founder (the cluster CA) signs badges, and every guard (each TLS server and
//! client) checks them. This crate is what a guard knows: what time it is, whether a badge gets
//! in, and how to say why not, exactly as a Go component in a real cluster would say it.
//!
//! # Layout
//!
//! - [`clock`]: [`LabClock`], the one shared time; also rustls's time source, so advancing it
//!   expires badges in real handshakes.
//! - [`verdict`]: [`Verdict`] and [`VerdictKind`], the vocabulary the whole lab speaks: Go's
//!   text, a plain explanation, a hint. [`classify_text`] reads Go's lines back.
//! - [`authn`]: the x509 authenticator every Kubernetes door runs after its handshake.
//! - [`verify`]: [`verify()`], Go's `Certificate.Verify` replayed check by check, with
//!   rustls-webpki as the final judge.
//! - [`events`]: [`Events`], the lab's one event stream: who knocked at which door, how far
//!   they got, and what each side printed.
//! - [`record`]: [`Record`], schema `kubecorp/v1`: the stream as JSON, for `--format json`,
//!   the live page and the HTML report.
//! - [`forbidden`]: a 403 read back (RBAC, the Node authorizer, NodeRestriction, anonymous)
//!   and the fix that fits each.
//! - [`gohttp`]: how Kubernetes' Go servers write answers (pretty JSON, Go's escaping).
//! - [`gojson`]: how Go's `encoding/json` names a value it could not decode.
//! - [`gotime`]: Go's time formats, one name each (`rfc3339`, `string`, `string_monotonic`, `rfc3339_micro`, `zap`).
//! - [`tls`]: the one place rustls configs are built: etcd's check in the handshake, the
//!   apiserver's check after it, every client's check of the server, certificate files re-read
//!   when they change, and Go's wording of every handshake failure.
//! - `facts` (private): the certificate fields verification reads, as Go's `x509.Certificate`
//!   holds them.
#![forbid(unsafe_code)]

pub mod authn;
pub mod clock;
pub mod events;
pub mod explain;
mod facts;
pub mod forbidden;
pub mod gohttp;
pub mod gojson;
pub mod gotime;
pub mod record;
pub mod tls;
pub mod verdict;
pub mod verify;

pub use clock::LabClock;
pub use events::{Event, Events, Identity, Stage};
pub use gotime::rfc3339 as go_time;
pub use record::{Body, Record};
pub use verdict::{classify_text, UnknownVerdictKind, Verdict, VerdictKind};
pub use verify::{go_quote, verify, verify_badge, Usage, VerifyRequest};
