//! Knocking on a door: a request to etcd (client or peer port), the scheduler's secure port or a
//! kubelet, as the step's caller; and how a refusal is read back from the guard's own event.
//! Requests to Alice go through [`super::kubectl`].

use std::time::Duration;

use http::Method;
use kubecorp_pki::Authority;
use kubecorp_trust::tls::TrustSource;
use kubecorp_trust::{classify_text, Stage};
use serde_json::Value;

use super::events::Visitor;
use super::{Caller, Runner, StepError};
use crate::expect::{Answer, Logged, Outcome, Refusal};
use crate::model::{Call, Component, Request};

/// How long a refusal's reason may take to reach the event stream after the caller saw it: on
/// a busy machine the guard's line can come a good while after (the wait ends when it does).
const GUARD_GRACE: Duration = Duration::from_secs(1);

impl Runner<'_> {
    /// Carries out a request and reads what the guards decided.
    pub(super) async fn request(
        &mut self,
        request: &Request,
        caller: &Caller,
    ) -> Result<(String, Outcome), StepError> {
        match request.to {
            Component::Apiserver => {
                let client = self.apiserver_as(caller, request.host.as_deref())?;
                self.api_call(&client, &request.call, caller).await
            }
            Component::Etcd | Component::EtcdPeer => {
                let Call::Raw { method, path, body } = &request.call else {
                    return Err(StepError::RawOnly { door: "etcd" });
                };
                let url = if request.to == Component::EtcdPeer {
                    let addr = self.office.etcd_peer_addr.ok_or(StepError::NoPeerPort)?;
                    format!("https://{addr}")
                } else {
                    self.office.etcd_url.clone()
                };
                let mut client = kubecorp_etcd::EtcdClient::new(
                    &url,
                    caller.cert.clone(),
                    TrustSource::bundle(self.lab.ca_cert_path(Authority::Etcd)),
                    self.clock.clone(),
                    self.events.clone(),
                )?
                .calling_as(caller.label.clone());
                // `host:` is the name Charlie's badge must carry, dialled at his address.
                if let Some(name) = &request.host {
                    client = client.with_tls_server_name(name.clone());
                }
                let method = http_method(method)?;
                let bytes = body
                    .as_ref()
                    .map(|b| b.to_string().into_bytes())
                    .unwrap_or_default();
                let what = format!("{method} {path}");
                let outcome = match client.request(method, path, bytes).await {
                    Ok((status, body)) if status.is_success() => Outcome::Answered(Answer {
                        status: Some(status.as_u16()),
                        text: etcd_summary(path, &body),
                        also: vec![String::from_utf8_lossy(&body).into_owned()],
                        lifetime: None,
                    }),
                    Ok((status, body)) => Outcome::Refused(Refusal {
                        status: Some(status.as_u16()),
                        also: vec![String::from_utf8_lossy(&body).into_owned()],
                        ..Refusal::at(Stage::Request, etcd_summary(path, &body))
                    }),
                    // Both of Charlie's ports log as etcd.
                    Err(e) => self.etcd_failure(e, caller, "etcd").await,
                };
                Ok((what, outcome))
            }
            Component::Scheduler => {
                let Call::Raw { method, path, body } = &request.call else {
                    return Err(StepError::RawOnly {
                        door: "the scheduler",
                    });
                };
                let addr = self.office.scheduler_addr.ok_or(StepError::NoScheduler)?;
                let what = format!("{method} {path}");
                let outcome = self
                    .unverified_call(caller, addr, "scheduler", method, path, body)
                    .await;
                Ok((what, outcome))
            }
            Component::Kubelet => {
                let Call::Raw { method, path, body } = &request.call else {
                    return Err(StepError::RawOnly { door: "a kubelet" });
                };
                let kubelets = &self.office.kubelets;
                let (node, addr) = match &request.node {
                    Some(n) => kubelets
                        .iter()
                        .find(|(name, _)| name == n)
                        .cloned()
                        .ok_or_else(|| StepError::NoKubelet {
                            node: n.clone(),
                            known: kubelets
                                .iter()
                                .map(|(name, _)| name.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                        })?,
                    None => kubelets.first().cloned().ok_or(StepError::NoKubelets)?,
                };
                let what = format!("{method} {path} on {node}");
                let outcome = self
                    .unverified_call(caller, addr, "kubelet", method, path, body)
                    .await;
                Ok((what, outcome))
            }
        }
    }

    /// A call to a door whose serving badge is not checked (a kubelet, the scheduler): 401 is
    /// authentication, 403 authorization.
    async fn unverified_call(
        &mut self,
        caller: &Caller,
        addr: std::net::SocketAddr,
        door: &str,
        method: &str,
        path: &str,
        body: &Option<Value>,
    ) -> Outcome {
        let reply = crate::kubelet::call(
            crate::kubelet::Dial {
                caller: &caller.label,
                addr,
                identity: caller.cert.clone(),
                clock: &self.clock,
                events: &self.events,
            },
            method,
            path,
            body.as_ref().map(|b| b.to_string().into_bytes()),
        )
        .await;
        let mut refusal = match reply {
            Ok((code, body)) => {
                let text = String::from_utf8_lossy(&body).trim_end().to_owned();
                if (200..300).contains(&code) {
                    return Outcome::Answered(Answer {
                        status: Some(code),
                        text,
                        ..Answer::default()
                    });
                }
                let stage = match code {
                    401 => Stage::Authn,
                    403 => Stage::Authz,
                    _ => Stage::Request,
                };
                Refusal {
                    status: Some(code),
                    ..Refusal::at(stage, text)
                }
            }
            Err((stage, text)) => Refusal::at(stage, text),
        };
        self.refusal_from_events(&mut refusal, caller, door).await;
        Outcome::Refused(refusal)
    }

    async fn etcd_failure(
        &mut self,
        e: kubecorp_etcd::ClientError,
        caller: &Caller,
        door: &str,
    ) -> Outcome {
        use kubecorp_etcd::client::Phase as EPhase;
        use kubecorp_etcd::ClientError as E;
        let mut refusal = match &e {
            E::Transport {
                phase,
                text,
                verdict,
                ..
            } => {
                let stage = match phase {
                    EPhase::Connect => Stage::Tcp,
                    EPhase::TlsHandshake => Stage::Tls,
                    EPhase::Request => Stage::Request,
                };
                let mut refusal = Refusal::at(stage, text.clone());
                if let Some(v) = verdict {
                    refusal.verdict = Some(v.kind);
                    refusal.explanation = Some(v.explanation.clone());
                    refusal.hint = Some(v.hint.clone());
                }
                refusal
            }
            E::Status {
                status, message, ..
            } => Refusal {
                status: Some(*status),
                ..Refusal::at(Stage::Request, message.clone())
            },
            // An endpoint that cannot be dialled never got as far as a connection.
            E::Endpoint { .. } => Refusal::at(Stage::Tcp, e.to_string()),
            E::Decode { .. } => Refusal::at(Stage::Request, e.to_string()),
        };
        refusal.also.push(e.to_string());
        if let Some(g) = e.grpc_text() {
            refusal.also.push(g);
        }
        self.refusal_from_events(&mut refusal, caller, door).await;
        Outcome::Refused(refusal)
    }

    /// Fills the verdict, explanation and hint of a refusal from the guard's own event.
    pub(super) async fn refusal_from_events(
        &mut self,
        outcome: &mut Refusal,
        caller: &Caller,
        door: &str,
    ) {
        if outcome.verdict.is_some() {
            return;
        }
        let visitor = Visitor::new(caller, door);
        if let Some(e) = self
            .door_refusal(&visitor, outcome.stage, GUARD_GRACE)
            .await
        {
            outcome.verdict = e
                .verdict
                .or_else(|| e.server_log.as_deref().and_then(classify_text));
            outcome.explanation = e.explanation.clone().or(outcome.explanation.take());
            outcome.hint = e.hint.clone().or(outcome.hint.take());
            if let Some(log) = &e.server_log {
                outcome.also.push(log.clone());
                outcome.logged = Some(Logged {
                    by: e.log_owner().to_owned(),
                    line: log.clone(),
                });
            }
        }
        if outcome.explanation.is_none() {
            if let Some(x) = kubecorp_trust::explain::explain(&outcome.text) {
                outcome.explanation = Some(x.meaning);
                outcome.hint = Some(x.fix);
            }
        }
    }
}

pub(super) fn http_method(method: &str) -> Result<Method, StepError> {
    method.parse::<Method>().map_err(|_| StepError::NotAMethod {
        method: method.to_owned(),
    })
}

/// etcd's JSON gateway answers in base64; a room wants the keys.
fn etcd_summary(path: &str, body: &[u8]) -> String {
    use base64::Engine as _;
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let Some(kvs) = value["kvs"].as_array() else {
        return if path.ends_with("/kv/range") && value["header"].is_object() {
            "no such key".into()
        } else {
            String::from_utf8_lossy(body).trim_end().to_owned()
        };
    };
    let decode = |v: &Value| {
        v.as_str()
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    kvs.iter()
        .map(|kv| {
            format!(
                "{} (revision {}, {} bytes)",
                decode(&kv["key"]),
                kv["mod_revision"].as_str().unwrap_or("?"),
                decode(&kv["value"]).len()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
