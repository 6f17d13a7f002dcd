//! The kubectl-like verbs (`get`, `create`, `apply`, `approve`, `deny`, `delete`) and raw calls
//! to Alice, turned into the HTTP requests kubectl sends and read back as kubectl would print
//! them.

use http::Method;
use kubecorp_client::{resources, ClientError, KubeClient, Phase, Reply};
use kubecorp_trust::Stage;
use serde_json::{json, Value};

use super::request::http_method;
use super::{Caller, Runner, StepError};
use crate::expect::{Answer, Outcome, Refusal};
use crate::model::{Call, Verb};

impl Runner<'_> {
    /// A kubectl-like call (or a raw one) to the apiserver.
    pub(super) async fn api_call(
        &mut self,
        client: &KubeClient,
        call: &Call,
        caller: &Caller,
    ) -> Result<(String, Outcome), StepError> {
        if let Call::Verb {
            verb,
            resource,
            name: None,
            signer: Some(signer),
            ..
        } = call
        {
            return Box::pin(self.decide_pending(client, *verb, resource, signer, caller)).await;
        }
        let (method, path, body, success_text) = match call {
            Call::Raw { method, path, body } => {
                (http_method(method)?, path.clone(), body.clone(), None)
            }
            Call::Verb {
                verb,
                resource,
                name,
                namespace,
                body,
                ..
            } => {
                let r = resources::lookup(resource).ok_or_else(|| StepError::UnknownResource {
                    resource: resource.clone(),
                })?;
                let body_ns = body
                    .as_ref()
                    .and_then(|b| b["metadata"]["namespace"].as_str())
                    .map(str::to_owned);
                let ns = namespace
                    .clone()
                    .or(body_ns)
                    .unwrap_or_else(|| "default".into());
                let name = name.clone().or_else(|| {
                    body.as_ref()
                        .and_then(|b| b["metadata"]["name"].as_str())
                        .map(str::to_owned)
                });
                let collection = r.collection_path(&ns);
                let item = r.item_path(&ns, name.as_deref());
                let named = |word: &str| {
                    Some(format!(
                        "{} {word}",
                        r.kubectl_name(name.as_deref().unwrap_or_default())
                    ))
                };
                match verb {
                    Verb::Get => (Method::GET, item, None, None),
                    Verb::Create => (Method::POST, collection, body.clone(), named("created")),
                    Verb::Apply => {
                        // kubectl apply: create, or replace what is there.
                        let first = client
                            .send(
                                Method::POST,
                                &collection,
                                body.as_ref().map(|b| b.to_string().into_bytes()),
                                "application/json",
                            )
                            .await;
                        match first {
                            Ok(reply) if reply.code == 409 => {
                                let current = client.get(&item).await.ok();
                                let mut body = body.clone().unwrap_or(Value::Null);
                                if let Some(rv) = current
                                    .as_ref()
                                    .map(|c| c["metadata"]["resourceVersion"].clone())
                                {
                                    body["metadata"]["resourceVersion"] = rv;
                                }
                                (Method::PUT, item, Some(body), named("configured"))
                            }
                            other => {
                                let what = format!("POST {collection}");
                                let outcome = self
                                    .api_outcome(
                                        client,
                                        &what,
                                        other,
                                        named("created"),
                                        caller,
                                        true,
                                    )
                                    .await;
                                return Ok((what, outcome));
                            }
                        }
                    }
                    Verb::Approve | Verb::Deny => {
                        let current = match client.send(Method::GET, &item, None, "").await {
                            Ok(reply) if (200..300).contains(&reply.code) => reply.json(),
                            other => {
                                let what = format!("GET {item}");
                                let outcome = self
                                    .api_outcome(client, &what, other, None, caller, true)
                                    .await;
                                return Ok((what, outcome));
                            }
                        };
                        let word = if *verb == Verb::Approve {
                            "approved"
                        } else {
                            "denied"
                        };
                        let updated = self.decided(current, *verb);
                        (
                            Method::PUT,
                            format!("{item}/approval"),
                            Some(updated),
                            named(word),
                        )
                    }
                    Verb::Delete => (Method::DELETE, item, None, named("deleted")),
                }
            }
        };
        let what = format!("{method} {path}");
        let reply = client
            .send(
                method,
                &path,
                body.map(|b| b.to_string().into_bytes()),
                "application/json",
            )
            .await;
        let outcome = self
            .api_outcome(
                client,
                &what,
                reply,
                success_text,
                caller,
                matches!(call, Call::Verb { .. }),
            )
            .await;
        Ok((what, outcome))
    }

    /// A CSR with the condition `kubectl certificate approve` (or `deny`) adds.
    fn decided(&self, mut csr: Value, verb: Verb) -> Value {
        let (kind, reason, word) = if verb == Verb::Approve {
            ("Approved", "KubectlApprove", "approved")
        } else {
            ("Denied", "KubectlDeny", "denied")
        };
        let condition = json!({
            "type": kind,
            "status": "True",
            "reason": reason,
            "message": format!("This CSR was {word} by kubectl certificate {}.", verb.name()),
            "lastUpdateTime": kubecorp_trust::go_time(self.clock.now()),
        });
        match csr["status"]["conditions"].as_array_mut() {
            Some(list) => list.push(condition),
            None => csr["status"]["conditions"] = json!([condition]),
        }
        csr
    }

    /// `kubectl certificate approve` (or deny) for every Pending CSR of `signer`, as an admin
    /// does after `kubectl get csr`.
    async fn decide_pending(
        &mut self,
        client: &KubeClient,
        verb: Verb,
        resource: &str,
        signer: &str,
        caller: &Caller,
    ) -> Result<(String, Outcome), StepError> {
        let list = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
        let reply = client.send(Method::GET, list, None, "").await;
        let items = match reply {
            Ok(r) if (200..300).contains(&r.code) => {
                r.json()["items"].as_array().cloned().unwrap_or_default()
            }
            other => {
                let what = format!("GET {list}");
                let outcome = self
                    .api_outcome(client, &what, other, None, caller, true)
                    .await;
                return Ok((what, outcome));
            }
        };
        let pending: Vec<String> = items
            .iter()
            .filter(|c| c["spec"]["signerName"] == signer)
            .filter(|c| {
                c["status"]["conditions"]
                    .as_array()
                    .is_none_or(|l| l.is_empty())
            })
            .filter_map(|c| c["metadata"]["name"].as_str().map(str::to_owned))
            .collect();
        let mut texts = Vec::new();
        let mut last = None;
        for name in pending {
            let call = Call::Verb {
                verb,
                resource: resource.to_owned(),
                name: Some(name),
                namespace: None,
                body: None,
                signer: None,
            };
            let (what, outcome) = Box::pin(self.api_call(client, &call, caller)).await?;
            texts.push(outcome.text().to_owned());
            let failed = !outcome.allowed();
            last = Some((what, outcome));
            if failed {
                break;
            }
        }
        let Some((what, mut outcome)) = last else {
            return Ok((
                format!("{} pending {signer} CSRs", verb.name()),
                Outcome::Refused(Refusal::at(Stage::Request, "No resources found")),
            ));
        };
        outcome.set_text(texts.join("\n"));
        Ok((what, outcome))
    }

    /// What Alice's answer (or the failure to get one) comes to, as kubectl prints it. A
    /// kubectl verb (`discovery`) reads the server's API list first; when that would fail the
    /// same way, the refusal also carries what kubectl prints without a discovery cache.
    pub(super) async fn api_outcome(
        &mut self,
        client: &KubeClient,
        what: &str,
        reply: Result<Reply, ClientError>,
        success_text: Option<String>,
        caller: &Caller,
        discovery: bool,
    ) -> Outcome {
        let (server, now) = (client.server(), self.clock.now());
        let uncached = match (&reply, discovery) {
            (Ok(r), true) if r.code == 401 => client
                .status_error(what.to_owned(), r)
                .kubectl_without_cache(&server, now),
            (Err(e), true) => e.kubectl_without_cache(&server, now),
            _ => None,
        };
        let mut outcome = self
            .api_outcome_cached(client, what, reply, success_text, caller)
            .await;
        if let (Some(uncached), Outcome::Refused(refusal)) = (uncached, &mut outcome) {
            refusal.also.push(uncached.logged.clone());
            refusal.also.push(uncached.last.clone());
            refusal.uncached = Some(uncached);
        }
        outcome
    }

    /// What kubectl prints when it already knows the server's API list (or does not need it).
    async fn api_outcome_cached(
        &mut self,
        client: &KubeClient,
        what: &str,
        reply: Result<Reply, ClientError>,
        success_text: Option<String>,
        caller: &Caller,
    ) -> Outcome {
        match reply {
            Ok(reply) if (200..300).contains(&reply.code) => Outcome::Answered(Answer {
                status: Some(reply.code),
                text: success_text.unwrap_or_else(|| summarize(&reply.json(), &reply.text())),
                also: vec![reply.text()],
                lifetime: None,
            }),
            Ok(reply) => {
                let err = client.status_error(what.to_owned(), &reply);
                let stage = match reply.code {
                    401 => Stage::Authn,
                    403 => Stage::Authz,
                    _ => Stage::Request,
                };
                let mut outcome = Refusal {
                    status: Some(reply.code),
                    also: vec![err.text(), reply.text()],
                    ..Refusal::at(stage, err.kubectl_text())
                };
                if reply.code == 403 {
                    if let Some(advice) = kubecorp_trust::forbidden::advise(&outcome.text) {
                        outcome.explanation = Some(advice.explanation);
                        outcome.hint = Some(advice.hint);
                    }
                }
                if reply.code == 401 || reply.code == 403 {
                    self.refusal_from_events(&mut outcome, caller, "apiserver")
                        .await;
                }
                Outcome::Refused(outcome)
            }
            Err(e) => {
                let stage = match e.phase() {
                    Some(Phase::Connect) => Stage::Tcp,
                    Some(Phase::TlsHandshake) => Stage::Tls,
                    _ => Stage::Request,
                };
                let mut outcome = Refusal {
                    also: vec![e.text(), e.to_string()],
                    ..Refusal::at(stage, e.kubectl_text())
                };
                if let ClientError::Transport {
                    verdict: Some(v), ..
                } = &e
                {
                    outcome.verdict = Some(v.kind);
                    outcome.explanation = Some(v.explanation.clone());
                    outcome.hint = Some(v.hint.clone());
                }
                self.refusal_from_events(&mut outcome, caller, "apiserver")
                    .await;
                Outcome::Refused(outcome)
            }
        }
    }
}

/// A short text for a successful answer: names for a list, `kind/name` for one object.
fn summarize(value: &Value, raw: &str) -> String {
    if let Some(items) = value["items"].as_array() {
        if items.is_empty() {
            return "No resources found".into();
        }
        return items
            .iter()
            .filter_map(|i| i["metadata"]["name"].as_str())
            .collect::<Vec<_>>()
            .join("\n");
    }
    if let (Some(kind), Some(name)) = (value["kind"].as_str(), value["metadata"]["name"].as_str()) {
        return format!("{}/{name}", kind.to_ascii_lowercase());
    }
    raw.trim_end().to_owned()
}
