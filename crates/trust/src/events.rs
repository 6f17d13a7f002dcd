//! The lab's one event stream: every connection, handshake, login, permission check and request,
//! as the people in KubeCorp saw it.
//!
//! Every guard (etcd, the apiserver, the kubelet) reports what happened at its door as an
//! [`Event`]: who came ([`Event::from`]), to whom ([`Event::to`]), how far they got
//! ([`Stage`]), who they claimed to be ([`Identity`]) and whether they got in. An event keeps the
//! three texts of a [`Verdict`](crate::Verdict) apart and adds the server's own log line:
//!
//! - `client_text`: what the caller would print (`remote error: tls: unknown certificate
//!   authority`);
//! - `server_log`: the exact line the real server logs (etcd's `rejected connection from …`);
//! - `explanation` and `hint`: the lab's plain words and the fix.
//!
//! [`Events`] is a cheap-to-clone handle: a `tokio::sync::broadcast` channel for live watchers
//! (`kubecorp watch`, a scenario runner) plus a bounded history, so a test or a report can ask
//! "what happened so far?" without having subscribed first.
//!
//! Events never carry key material: an [`Identity`] is read from a certificate, which is public.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::broadcast;

use crate::facts::Cert;
use crate::verdict::{Verdict, VerdictKind};

/// How far a visitor got: the order in which a Kubernetes server looks at a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// The TCP connection: accepted, refused, or garbage on the wire.
    Tcp,
    /// The TLS handshake: certificates shown and (for etcd) checked.
    Tls,
    /// Authentication: who is this? (the apiserver's x509 authenticator, after the handshake).
    Authn,
    /// Authorization: may they? (RBAC, Node).
    Authz,
    /// The request itself: `POST /v3/kv/put 200`.
    Request,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Tcp => "tcp",
            Stage::Tls => "tls",
            Stage::Authn => "authn",
            Stage::Authz => "authz",
            Stage::Request => "request",
        })
    }
}

/// Who a certificate says its holder is, as Kubernetes reads it: username = CN, groups = O.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The Subject Common Name (Go's `Subject.CommonName`, the last CN).
    pub cn: String,
    /// Every Subject Organization, in order (Kubernetes groups).
    pub orgs: Vec<String>,
    /// The issuer's Common Name (who signed the badge), e.g. `etcd-ca`.
    pub issuer: String,
    /// The serial number in decimal, as Go's `big.Int` prints it (`SN=…` in apiserver logs).
    pub serial: String,
    /// When the badge starts being valid (compared with the lab clock, never the machine's).
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// When the badge stops being valid.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// The names it may serve: DNS names, then IP addresses as Go prints them.
    #[serde(default)]
    pub sans: Vec<String>,
    /// Its extended key usages as Go names them (`client auth`, `server auth`); empty when the
    /// certificate has no such extension (good for any use).
    #[serde(default)]
    pub usages: Vec<String>,
}

/// Why some bytes gave no [`Identity`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a certificate: {reason}")]
pub struct IdentityError {
    /// What the parser said.
    pub reason: String,
}

impl Identity {
    /// Reads the identity from a certificate in DER.
    pub fn from_der(der: &[u8]) -> Result<Identity, IdentityError> {
        let cert = Cert::parse(der).map_err(|e| IdentityError {
            reason: e.to_string(),
        })?;
        Ok(Identity::from_cert(&cert))
    }

    pub(crate) fn from_cert(cert: &Cert<'_>) -> Identity {
        Identity {
            cn: cert.common_name.clone(),
            orgs: cert.organization.clone(),
            issuer: cert.issuer_common_name.clone(),
            serial: cert.serial.clone(),
            not_before: cert.not_before,
            not_after: cert.not_after,
            sans: cert
                .dns_names
                .iter()
                .cloned()
                .chain(cert.ip_addresses.iter().map(crate::facts::go_ip_string))
                .collect(),
            usages: cert.ext_key_usage.iter().map(|u| u.to_string()).collect(),
        }
    }
}

impl fmt::Display for Identity {
    /// `CN=kube-apiserver-etcd-client (issuer etcd-ca)`, with `O=…` when there are groups.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CN={}", self.cn)?;
        for org in &self.orgs {
            write!(f, ", O={org}")?;
        }
        write!(f, " (issuer {})", self.issuer)
    }
}

/// One thing that happened at one door.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The lab clock's time.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who knocked: a component name (`apiserver`) or, when the server cannot know, the peer
    /// address (`127.0.0.1:53312`).
    pub from: String,
    /// Whose door: the component name (`etcd`).
    pub to: String,
    /// How far the visitor got.
    pub stage: Stage,
    /// Who the visitor's certificate says they are, if one was shown and could be read.
    pub identity: Option<Identity>,
    /// Whether the visitor got past this stage.
    pub allowed: bool,
    /// The certificate verdict behind the decision, if a certificate was checked.
    pub verdict: Option<VerdictKind>,
    /// What the caller would print, e.g. `remote error: tls: unknown certificate authority`.
    pub client_text: Option<String>,
    /// The exact line the real server logs, e.g. etcd's `rejected connection from …`.
    pub server_log: Option<String>,
    /// Whose log `server_log` is, when not the door's (`to`): a caller such as the scheduler
    /// logging its own failed call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logged_by: Option<String>,
    /// The lab's plain-language explanation.
    pub explanation: Option<String>,
    /// How to fix it.
    pub hint: Option<String>,
    /// Anything else worth a glance, e.g. `POST /v3/kv/put 200`.
    pub detail: Option<String>,
}

impl Event {
    /// An event with only the who, where and how far filled in; `allowed` starts `false`.
    pub fn new(
        at: OffsetDateTime,
        from: impl Into<String>,
        to: impl Into<String>,
        stage: Stage,
    ) -> Event {
        Event {
            at,
            from: from.into(),
            to: to.into(),
            stage,
            identity: None,
            allowed: false,
            verdict: None,
            client_text: None,
            server_log: None,
            logged_by: None,
            explanation: None,
            hint: None,
            detail: None,
        }
    }

    pub fn allowed(mut self, allowed: bool) -> Self {
        self.allowed = allowed;
        self
    }

    pub fn identity(mut self, identity: Option<Identity>) -> Self {
        self.identity = identity;
        self
    }

    /// Takes the verdict's kind, explanation and hint (its Go text belongs in `client_text` or
    /// `server_log`, wrapped the way the real component wraps it).
    pub fn verdict(mut self, verdict: &Verdict) -> Self {
        self.verdict = Some(verdict.kind);
        self.explanation = Some(verdict.explanation.clone());
        self.hint = Some(verdict.hint.clone());
        self
    }

    pub fn client_text(mut self, text: impl Into<String>) -> Self {
        self.client_text = Some(text.into());
        self
    }

    pub fn server_log(mut self, line: impl Into<String>) -> Self {
        self.server_log = Some(line.into());
        self
    }

    /// The line a caller logs about its own call (the scheduler's client-go warning), rather
    /// than the door's.
    pub fn caller_log(mut self, line: impl Into<String>) -> Self {
        self.server_log = Some(line.into());
        self.logged_by = Some(self.from.clone());
        self
    }

    /// Who wrote `server_log`: the caller for [`Event::caller_log`], otherwise the door.
    pub fn log_owner(&self) -> &str {
        self.logged_by.as_deref().unwrap_or(&self.to)
    }

    pub fn explanation(mut self, text: impl Into<String>) -> Self {
        self.explanation = Some(text.into());
        self
    }

    pub fn hint(mut self, text: impl Into<String>) -> Self {
        self.hint = Some(text.into());
        self
    }

    pub fn detail(mut self, text: impl Into<String>) -> Self {
        self.detail = Some(text.into());
        self
    }
}

/// How many events [`Events`] keeps for [`Events::snapshot`] unless told otherwise.
pub const DEFAULT_HISTORY: usize = 10_000;

/// How many events a slow live watcher may fall behind before it starts missing some.
const CHANNEL_CAPACITY: usize = 1_024;

/// The lab's event stream. Clones share one stream.
#[derive(Clone, Debug)]
pub struct Events {
    sender: broadcast::Sender<Event>,
    history: Arc<Mutex<VecDeque<Event>>>,
    keep: usize,
}

impl Default for Events {
    fn default() -> Self {
        Events::new()
    }
}

impl Events {
    /// A stream that remembers the last [`DEFAULT_HISTORY`] events.
    pub fn new() -> Events {
        Events::with_history(DEFAULT_HISTORY)
    }

    /// A stream that remembers the last `keep` events.
    pub fn with_history(keep: usize) -> Events {
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        Events {
            sender,
            history: Arc::new(Mutex::new(VecDeque::with_capacity(keep.min(1_024)))),
            keep,
        }
    }

    /// Records an event and hands it to every live watcher.
    pub fn emit(&self, event: Event) {
        {
            let mut history = self.history();
            if self.keep > 0 {
                if history.len() == self.keep {
                    history.pop_front();
                }
                history.push_back(event.clone());
            }
        }
        // No watcher is not an error: the history still has it.
        let _ = self.sender.send(event);
    }

    /// A live feed of every event emitted from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    /// The remembered events, oldest first.
    pub fn snapshot(&self) -> Vec<Event> {
        self.history().iter().cloned().collect()
    }

    fn history(&self) -> MutexGuard<'_, VecDeque<Event>> {
        // Each push and pop is whole, so a poisoned history is still consistent.
        self.history
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn event(n: usize) -> Event {
        Event::new(
            datetime!(2026-04-24 10:14:23 UTC),
            format!("127.0.0.1:{n}"),
            "etcd",
            Stage::Tcp,
        )
    }

    #[test]
    fn the_history_keeps_only_the_newest_events() {
        let events = Events::with_history(2);
        for n in 0..3 {
            events.emit(event(n));
        }
        let froms: Vec<String> = events.snapshot().into_iter().map(|e| e.from).collect();
        assert_eq!(froms, ["127.0.0.1:1", "127.0.0.1:2"]);
    }

    #[test]
    fn a_subscriber_sees_events_emitted_after_it_subscribed() {
        let events = Events::new();
        events.emit(event(1));
        let mut rx = events.subscribe();
        events.clone().emit(event(2));
        assert_eq!(rx.try_recv().unwrap().from, "127.0.0.1:2");
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn an_event_serializes_its_stage_in_lowercase_and_its_time_in_rfc3339() {
        let json = serde_json::to_value(event(7).allowed(true)).unwrap();
        assert_eq!(json["stage"], "tcp");
        assert_eq!(json["at"], "2026-04-24T10:14:23Z");
        assert_eq!(json["allowed"], true);
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, event(7).allowed(true));
    }
}
