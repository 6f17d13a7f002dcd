//! `request:`: who asks (`as:`), which door (`to:`), and what — a path, an etcd key, or a
//! kubectl-like verb on a resource.

use super::{closest, to_json, Cx, Node, Problem, Raw};
use crate::model::*;
use kubecorp_client::resources;

impl Cx {
    pub(super) fn who(&mut self, node: &Node, path: &str) -> Option<Who> {
        if let Raw::Map(entries) = &node.value {
            if entries.iter().any(|(k, _)| k.value == "kubeconfig") {
                // A kubeconfig anywhere in the lab directory (`users/john.conf`).
                let f = self.fields(node, path, &["kubeconfig"])?;
                let file =
                    self.req_string(&f, "kubeconfig", "a kubeconfig in the lab directory")?;
                if file.starts_with('/') || file.split('/').any(|part| part == "..") {
                    self.error(
                        node,
                        &f.child("kubeconfig"),
                        Problem::Value {
                            given: file,
                            expected: "a path inside the lab directory, such as users/john.conf"
                                .into(),
                            suggestion: None,
                        },
                    );
                    return None;
                }
                return Some(Who::Kubeconfig(file));
            }
            let f = self.fields(node, path, &["cert", "key"])?;
            let cert = self.req_string(&f, "cert", "a certificate file in the lab directory");
            let key = self.req_string(&f, "key", "its private key file");
            return Some(Who::Files {
                cert: cert?,
                key: key?,
            });
        }
        let name = self.string(node, path)?;
        if name == "anonymous" {
            return Some(Who::Anonymous);
        }
        let profile = kubecorp_pki::profile::profile(&name);
        match profile.map(|p| p.storage) {
            Some(kubecorp_pki::profile::Storage::Kubeconfig(file)) => {
                return Some(Who::Kubeconfig(file.to_owned()))
            }
            Some(kubecorp_pki::profile::Storage::Pki(_)) => return Some(Who::Badge(name)),
            None => {}
        }
        if self.identities.contains(&name) {
            return Some(Who::Made(name));
        }
        let mut known: Vec<String> = vec!["anonymous".into()];
        known.extend(
            kubecorp_pki::profile::PROFILES
                .iter()
                .map(|p| p.name.to_owned()),
        );
        known.extend(self.identities.iter().cloned());
        self.error(
            node,
            path,
            Problem::Value {
                suggestion: closest(&name, known.iter().map(String::as_str)),
                given: name,
                expected: format!(
                    "an identity (anonymous, a lab badge such as scheduler.conf or apiserver-etcd-client, {{cert, key}}, or one made by an earlier csr/certificate step{})",
                    if self.identities.is_empty() { String::new() } else { format!(": {}", self.identities.join(", ")) }
                ),
            },
        );
        None
    }

    pub(super) fn request(&mut self, node: &Node, path: &str) -> Option<Request> {
        let mut allowed = vec![
            "as",
            "to",
            "method",
            "path",
            "body",
            "resource",
            "name",
            "namespace",
            "key",
            "node",
            "host",
            "signer",
        ];
        allowed.extend_from_slice(Verb::NAMES);
        let f = self.fields(node, path, &allowed)?;
        let who = match f.get("as") {
            Some(n) => self.who(n, &f.child("as")),
            None => Some(Who::Kubeconfig("admin.conf".into())),
        };
        let to = match f.get("to") {
            Some(n) => {
                let name = self.choice(n, &f.child("to"), Component::NAMES, "a component")?;
                Some(match name.as_str() {
                    "etcd" => Component::Etcd,
                    "etcd-peer" => Component::EtcdPeer,
                    "kubelet" => Component::Kubelet,
                    "scheduler" => Component::Scheduler,
                    _ => Component::Apiserver,
                })
            }
            None => Some(Component::Apiserver),
        };
        let body = f.get("body").map(to_json);
        let verbs: Vec<Verb> = [
            Verb::Get,
            Verb::Create,
            Verb::Apply,
            Verb::Approve,
            Verb::Deny,
            Verb::Delete,
        ]
        .into_iter()
        .filter(|v| f.has(v.name()))
        .collect();
        let call = match (verbs.as_slice(), f.get("path"), f.get("key")) {
            ([], Some(p), None) => {
                let method = match f.get("method") {
                    Some(m) => self
                        .choice(
                            m,
                            &f.child("method"),
                            &["GET", "POST", "PUT", "PATCH", "DELETE"],
                            "an HTTP method",
                        )
                        .unwrap_or_default(),
                    None if body.is_some() => "POST".into(),
                    None => "GET".into(),
                };
                let path = self.string(p, &f.child("path"))?;
                Some(Call::Raw { method, path, body })
            }
            ([], None, Some(k)) => {
                // etcd's range on one key, as `etcdctl get KEY` asks it.
                use base64::Engine as _;
                let key = self.string(k, &f.child("key"))?;
                let b64 = base64::engine::general_purpose::STANDARD.encode(key.as_bytes());
                Some(Call::Raw {
                    method: "POST".into(),
                    path: "/v3/kv/range".into(),
                    body: Some(serde_json::json!({ "key": b64 })),
                })
            }
            ([verb], None, None) => {
                let verb = *verb;
                let resource_node = f.get(verb.name())?;
                let resource = self.string(resource_node, &f.child(verb.name()))?;
                if resources::lookup(&resource).is_none() {
                    let names = resources::stored_names();
                    let suggestion = closest(&resource, names.clone());
                    self.error(
                        resource_node,
                        &f.child(verb.name()),
                        Problem::Value {
                            given: resource.clone(),
                            expected: format!(
                                "a resource the apiserver serves ({})",
                                names.collect::<Vec<_>>().join(", ")
                            ),
                            suggestion,
                        },
                    );
                }
                let name = self.opt_string(&f, "name");
                let namespace = self.opt_string(&f, "namespace");
                let signer = self.opt_string(&f, "signer");
                let by_signer = matches!(verb, Verb::Approve | Verb::Deny)
                    && resources::lookup(&resource)
                        .is_some_and(|r| r.name == "certificatesigningrequests");
                if signer.is_some() && (!by_signer || name.is_some()) {
                    self.error(
                        f.get("signer").unwrap_or(node),
                        &f.child("signer"),
                        Problem::Other(
                            "'signer' picks the Pending CSRs to approve or deny: it goes with 'approve: csr' or 'deny: csr' and no name".into(),
                        ),
                    );
                }
                let needs_name = matches!(verb, Verb::Approve | Verb::Deny | Verb::Delete);
                if needs_name && name.is_none() && signer.is_none() {
                    self.error(
                        node,
                        path,
                        Problem::Missing {
                            field: "name".into(),
                            hint: format!("{} needs the object's name", verb.name()),
                        },
                    );
                }
                let needs_body = matches!(verb, Verb::Create | Verb::Apply);
                if needs_body && body.is_none() {
                    self.error(
                        node,
                        path,
                        Problem::Missing {
                            field: "body".into(),
                            hint: format!("{} needs the object to send", verb.name()),
                        },
                    );
                }
                if to != Some(Component::Apiserver) {
                    self.error(
                        node,
                        path,
                        Problem::Other(format!(
                            "'{}' is a verb for the apiserver; to call {} give method and path",
                            verb.name(),
                            to.map_or("it", Component::name)
                        )),
                    );
                }
                Some(Call::Verb {
                    verb,
                    resource,
                    name,
                    namespace,
                    body,
                    signer,
                })
            }
            _ => {
                self.error(
                    node,
                    path,
                    Problem::Other(format!(
                        "say what to ask: either 'path' (with optional method and body), 'key' (etcd), or one verb ({}) naming a resource",
                        Verb::NAMES.join(", ")
                    )),
                );
                None
            }
        };
        let node = self.opt_string(&f, "node");
        if let (Some(n), Some(at)) = (&node, f.get("node")) {
            if !self.nodes.contains(n) {
                let suggestion = closest(n, self.nodes.iter().map(String::as_str));
                self.error(
                    at,
                    &f.child("node"),
                    Problem::Value {
                        given: n.clone(),
                        expected: format!("a node of this lab ({})", self.nodes.join(", ")),
                        suggestion,
                    },
                );
            }
        }
        if node.is_some() && to != Some(Component::Kubelet) {
            self.error(
                f.get("node").unwrap_or(f.node),
                &f.child("node"),
                Problem::Other("'node' picks a kubelet: it goes with 'to: kubelet'".into()),
            );
        }
        let host = self.opt_string(&f, "host");
        if let (Some(h), Some(at)) = (&host, f.get("host")) {
            let ok = !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
            if !ok {
                self.error(
                    at,
                    &f.child("host"),
                    Problem::Value {
                        given: h.clone(),
                        expected: "a host name or IP address (e.g. localhost)".into(),
                        suggestion: None,
                    },
                );
            }
            if !matches!(to, Some(Component::Apiserver | Component::Etcd)) {
                self.error(
                    at,
                    &f.child("host"),
                    Problem::Other(
                        "'host' names the apiserver or etcd by another name: it goes with 'to: apiserver' or 'to: etcd'".into(),
                    ),
                );
            }
        }
        Some(Request {
            who: who?,
            to: to?,
            node,
            host,
            call: call?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::parse::{parse_str, tests::errors};

    #[test]
    fn an_unknown_identity_suggests_one_made_earlier() {
        let text = "title: t\nsteps:\n  - csr: {name: john-developer, cn: john}\n  - certificate: {csr: john-developer, identity: john}\n  - request: {as: jon, get: pods}\n";
        let e = errors(text);
        assert!(
            e.starts_with("x.yaml:5:19: steps[2].request.as: 'jon' is not an identity"),
            "{e}"
        );
        assert!(e.ends_with("did you mean 'john'?"), "{e}");
    }

    #[test]
    fn new_doors_and_names_parse_and_misuse_is_explained() {
        let ok = "title: t\nsteps:\n  - request: {as: etcd-peer, to: etcd-peer, path: /members}\n  - request: {as: anonymous, to: scheduler, path: /healthz}\n  - request: {host: localhost, get: pods}\n  - request: {approve: csr, signer: kubernetes.io/kubelet-serving}\n";
        parse_str(Path::new("x.yaml"), ok).unwrap();
        let text = errors("title: t\nsteps:\n  - request: {to: kubelet, host: localhost, path: /healthz}\n  - request: {get: pods, signer: x}\n");
        assert!(
            text.contains("steps[0].request.host: 'host' names the apiserver or etcd"),
            "{text}"
        );
        assert!(
            text.contains("steps[1].request.signer: 'signer' picks the Pending CSRs"),
            "{text}"
        );
    }
}
