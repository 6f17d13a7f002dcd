//! What a step does, besides a request: break and undo a badge, renew, move the clock, a CSR and
//! its certificate, a CA rotation, a command to run, a wait.

use kubecorp_office::CONTROL_PLANE_NODE;
use time::Duration;

use super::{closest, to_json, Cx, Node, Problem, Raw};
use crate::model::*;

impl Cx {
    pub(super) fn action(&mut self, kind: &str, node: &Node, path: &str) -> Option<Action> {
        match kind {
            "request" => self.request(node, path).map(Action::Request),
            "run" => self.run(node, path).map(Action::Run),
            "wait" => self.wait(node, path).map(Action::Wait),
            "break" => {
                let f = self.fields(node, path, &["fault", "target"])?;
                let faults = kubecorp_pki::fault::Fault::names();
                let fault = self
                    .require(&f, "fault", "what to break, e.g. expire")
                    .and_then(|n| self.choice(n, &f.child("fault"), &faults, "a fault"));
                let target = self
                    .require(&f, "target", "a badge, e.g. scheduler.conf")
                    .and_then(|n| self.badge_name(n, &f.child("target")));
                Some(Action::Break {
                    // `choice` let only a listed name through.
                    fault: fault?.parse().ok()?,
                    target: target?,
                })
            }
            "undo" => Some(Action::Undo {
                target: self.badge_name(node, path)?,
            }),
            "renew" => {
                let name = self.string(node, path)?;
                match kubecorp_pki::renew::resolve(&name) {
                    Ok(_) => Some(Action::Renew { target: name }),
                    Err(e) => {
                        self.error(node, path, Problem::Other(e.to_string()));
                        None
                    }
                }
            }
            "clock" => {
                let f = self.fields(node, path, &["advance", "set"])?;
                match (f.get("advance"), f.get("set")) {
                    (Some(n), None) => Some(Action::Clock(ClockMove::Advance(
                        self.duration(n, &f.child("advance"))?,
                    ))),
                    (None, Some(n)) => Some(Action::Clock(ClockMove::Set(
                        self.time(n, &f.child("set"))?,
                    ))),
                    _ => {
                        self.error(
                            node,
                            path,
                            Problem::Other(
                                "give exactly one of 'advance' (e.g. 1y) or 'set' (a time)".into(),
                            ),
                        );
                        None
                    }
                }
            }
            "csr" => self.csr(node, path).map(Action::Csr),
            "certificate" => {
                let f = self.fields(node, path, &["csr", "identity"])?;
                let csr_node = self.require(&f, "csr", "the CSR's name")?;
                let csr = self.string(csr_node, &f.child("csr"))?;
                if !self.csrs.contains(&csr) {
                    let suggestion = closest(&csr, self.csrs.iter().map(String::as_str));
                    self.error(
                        csr_node,
                        &f.child("csr"),
                        Problem::Value {
                            given: csr.clone(),
                            expected: "a CSR submitted by an earlier `csr` step".into(),
                            suggestion,
                        },
                    );
                }
                let identity = self
                    .opt_string(&f, "identity")
                    .unwrap_or_else(|| csr.clone());
                self.file_name(&f, "identity", &identity);
                if !self.identities.contains(&identity) {
                    self.identities.push(identity.clone());
                }
                Some(Action::Certificate { csr, identity })
            }
            "rotate_ca" => {
                let f = self.fields(node, path, &["ca", "phase"])?;
                let ca = self
                    .require(&f, "ca", "ca or etcd-ca")
                    .and_then(|n| self.choice(n, &f.child("ca"), &["ca", "etcd-ca"], "a CA"));
                let phase = self.require(&f, "phase", "start or finish").and_then(|n| {
                    self.choice(n, &f.child("phase"), &["start", "finish"], "a phase")
                });
                Some(Action::RotateCa(RotateCa {
                    authority: if ca? == "ca" {
                        kubecorp_pki::Authority::Cluster
                    } else {
                        kubecorp_pki::Authority::Etcd
                    },
                    phase: match phase?.as_str() {
                        "finish" => kubecorp_pki::rotate::Phase::Finish,
                        _ => kubecorp_pki::rotate::Phase::Start,
                    },
                }))
            }
            _ => None,
        }
    }

    fn badge_name(&mut self, node: &Node, path: &str) -> Option<String> {
        let names: Vec<&str> = kubecorp_pki::profile::PROFILES
            .iter()
            .map(|p| p.name)
            .collect();
        self.choice(node, path, &names, "a badge")
    }

    fn run(&mut self, node: &Node, path: &str) -> Option<RunCommand> {
        if let Raw::Map(_) = node.value {
            let f = self.fields(node, path, &["command", "timeout"])?;
            let command = self.req_string(&f, "command", "the command line to run");
            let timeout = match f.get("timeout") {
                Some(n) => self.duration(n, &f.child("timeout")),
                None => Some(Duration::seconds(30)),
            };
            return Some(RunCommand {
                command: command?,
                timeout: timeout?,
            });
        }
        Some(RunCommand {
            command: self.string(node, path)?,
            timeout: Duration::seconds(30),
        })
    }

    fn wait(&mut self, node: &Node, path: &str) -> Option<Wait> {
        const KINDS: &[&str] = &[
            "pod-bound",
            "pod-running",
            "node-ready",
            "endpoints",
            "field",
            "event",
        ];
        let f = self.fields(
            node,
            path,
            &[
                "for",
                "name",
                "namespace",
                "timeout",
                "path",
                "field",
                "equals",
                "from",
                "to",
                "allowed",
                "contains",
            ],
        )?;
        let kind_node = self.require(&f, "for", &format!("one of {}", KINDS.join(", ")))?;
        let kind = self.choice(kind_node, &f.child("for"), KINDS, "something to wait for")?;
        let timeout = match f.get("timeout") {
            Some(n) => self.duration(n, &f.child("timeout"))?,
            None => Duration::seconds(10),
        };
        let namespace = self
            .opt_string(&f, "namespace")
            .unwrap_or_else(|| "default".into());
        let condition = match kind.as_str() {
            "node-ready" => WaitFor::NodeReady {
                name: self.opt_string(&f, "name").unwrap_or_else(|| {
                    self.nodes
                        .first()
                        .cloned()
                        .unwrap_or_else(|| CONTROL_PLANE_NODE.into())
                }),
            },
            "field" => {
                let p = self.req_string(&f, "path", "the object's API path");
                let field = self.req_string(&f, "field", "a dotted field such as spec.nodeName");
                WaitFor::Field {
                    path: p?,
                    field: field?,
                    equals: f.get("equals").map(to_json),
                }
            }
            "event" => WaitFor::Event {
                from: self.opt_string(&f, "from"),
                to: self.opt_string(&f, "to"),
                allowed: match f.get("allowed") {
                    Some(n) => Some(self.boolean(n, &f.child("allowed"))?),
                    None => None,
                },
                contains: self.opt_string(&f, "contains"),
            },
            other => {
                let name = self.req_string(&f, "name", "the object's name")?;
                match other {
                    "pod-bound" => WaitFor::PodBound { namespace, name },
                    "pod-running" => WaitFor::PodRunning { namespace, name },
                    _ => WaitFor::Endpoints { namespace, name },
                }
            }
        };
        Some(Wait { condition, timeout })
    }

    fn csr(&mut self, node: &Node, path: &str) -> Option<CsrSpec> {
        let f = self.fields(
            node,
            path,
            &[
                "name",
                "identity",
                "cn",
                "groups",
                "signer",
                "usages",
                "expiration_seconds",
                "as",
            ],
        )?;
        let name = self.req_string(&f, "name", "the CertificateSigningRequest's name");
        let cn = self.req_string(&f, "cn", "the user name the badge will carry");
        let groups = match f.get("groups") {
            Some(n) => self.strings(n, &f.child("groups"))?,
            None => Vec::new(),
        };
        let signer = self
            .opt_string(&f, "signer")
            .unwrap_or_else(|| "kubernetes.io/kube-apiserver-client".into());
        let usages = match f.get("usages") {
            Some(n) => self.strings(n, &f.child("usages"))?,
            None => vec!["client auth".into()],
        };
        let expiration_seconds = match f.get("expiration_seconds") {
            Some(n) => Some(self.integer(n, &f.child("expiration_seconds"))?),
            None => None,
        };
        let who = match f.get("as") {
            Some(n) => self.who(n, &f.child("as"))?,
            None => Who::Kubeconfig("admin.conf".into()),
        };
        let (name, cn) = (name?, cn?);
        let identity = self
            .opt_string(&f, "identity")
            .unwrap_or_else(|| cn.clone());
        self.file_name(&f, "name", &name);
        self.file_name(&f, "identity", &identity);
        self.csrs.push(name.clone());
        Some(CsrSpec {
            name,
            identity,
            cn,
            groups,
            signer,
            usages,
            expiration_seconds,
            who,
        })
    }
}
