//! One step: when it plays (`at`), what it says, the one thing it does, and what it must show
//! (`expect:`).

use kubecorp_trust::{Stage, VerdictKind};

use super::{line, Cx, Node, Problem, Raw};
use crate::model::*;

impl Cx {
    /// Step `i` of the list `list` (`steps` or `setup`); `index` is what checks number it by.
    pub(super) fn step(&mut self, node: &Node, list: &str, i: usize, index: usize) -> Option<Step> {
        let path = format!("{list}[{i}]");
        const ACTIONS: &[&str] = &[
            "request",
            "run",
            "wait",
            "break",
            "undo",
            "renew",
            "clock",
            "csr",
            "certificate",
            "rotate_ca",
        ];
        let mut allowed = vec!["at", "say", "expect"];
        allowed.extend_from_slice(ACTIONS);
        let f = self.fields(node, &path, &allowed)?;
        let at = self.opt_string(&f, "at");
        let say = self.opt_string(&f, "say");
        let present: Vec<&str> = ACTIONS.iter().copied().filter(|a| f.has(a)).collect();
        let action = match present.as_slice() {
            [] if say.is_some() => Some(Action::Say),
            [] => {
                self.error(
                    node,
                    &path,
                    Problem::Other(format!(
                        "a step needs something to do: one of say, {}",
                        ACTIONS.join(", ")
                    )),
                );
                None
            }
            [one] => {
                let child = f.child(one);
                let value = f.get(one)?;
                self.action(one, value, &child)
            }
            many => {
                self.error(
                    node,
                    &path,
                    Problem::Other(format!(
                        "a step does one thing, but this one has {}: split it into steps",
                        many.join(" and ")
                    )),
                );
                None
            }
        };
        let expect = match f.get("expect") {
            Some(n) => {
                let e = self.expect(n, &f.child("expect"));
                if let (Some(Action::Say), Some(_)) = (&action, &e) {
                    self.error(
                        n,
                        &f.child("expect"),
                        Problem::Other("narration has nothing to check".into()),
                    );
                }
                e
            }
            None => None,
        };
        Some(Step {
            index,
            line: line(node),
            file: None,
            setup: false,
            at,
            say,
            action: action?,
            expect,
        })
    }

    fn expect(&mut self, node: &Node, path: &str) -> Option<Expect> {
        let f = self.fields(
            node,
            path,
            &[
                "allowed", "status", "verdict", "stage", "text", "contains", "log", "lifetime",
                "exit",
            ],
        )?;
        let mut e = Expect {
            line: line(node),
            ..Expect::default()
        };
        if let Some(n) = f.get("allowed") {
            e.allowed = self.boolean(n, &f.child("allowed"));
        }
        if let Some(n) = f.get("status") {
            let code = self.integer(n, &f.child("status"))?;
            if !(100..600).contains(&code) {
                self.error(
                    n,
                    &f.child("status"),
                    Problem::Value {
                        given: code.to_string(),
                        expected: "an HTTP status (100–599)".into(),
                        suggestion: None,
                    },
                );
            }
            e.status = u16::try_from(code).ok();
        }
        if let Some(n) = f.get("verdict") {
            let names: Vec<&str> = VerdictKind::all().iter().map(|k| k.name()).collect();
            let name = self.choice(n, &f.child("verdict"), &names, "a verdict kind")?;
            e.verdict = name.parse().ok();
        }
        if let Some(n) = f.get("stage") {
            const STAGES: &[&str] = &["tcp", "tls", "authn", "authz", "request"];
            let name = self.choice(n, &f.child("stage"), STAGES, "a stage")?;
            e.stage = Some(match name.as_str() {
                "tcp" => Stage::Tcp,
                "tls" => Stage::Tls,
                "authn" => Stage::Authn,
                "authz" => Stage::Authz,
                _ => Stage::Request,
            });
        }
        e.text = self.opt_string(&f, "text");
        if let Some(n) = f.get("contains") {
            e.contains = self.strings(n, &f.child("contains"))?;
        }
        if let Some(n) = f.get("log") {
            let items: Vec<&Node> = match &n.value {
                Raw::Seq(items) => items.iter().collect(),
                _ => vec![n],
            };
            for (i, item) in items.into_iter().enumerate() {
                let p = if matches!(n.value, Raw::Seq(_)) {
                    format!("{}[{i}]", f.child("log"))
                } else {
                    f.child("log")
                };
                let lf = self.fields(item, &p, &["by", "contains", "text"])?;
                let by = self
                    .require(&lf, "by", "the component whose log it is")
                    .and_then(|b| {
                        self.choice(
                            b,
                            &lf.child("by"),
                            &[
                                "apiserver",
                                "etcd",
                                "kubelet",
                                "scheduler",
                                "kube-proxy",
                                "controller-manager",
                                "metrics-server",
                            ],
                            "a component",
                        )
                    });
                let contains = self.opt_string(&lf, "contains");
                let text = self.opt_string(&lf, "text");
                if contains.is_none() && text.is_none() {
                    self.error(
                        item,
                        &p,
                        Problem::Missing {
                            field: "contains".into(),
                            hint: "or 'text': what the log line says".into(),
                        },
                    );
                }
                e.logs.push(LogExpect {
                    by: by?,
                    contains,
                    text,
                });
            }
        }
        if let Some(n) = f.get("lifetime") {
            e.lifetime = self.duration(n, &f.child("lifetime"));
        }
        if let Some(n) = f.get("exit") {
            e.exit = self
                .integer(n, &f.child("exit"))
                .and_then(|x| i32::try_from(x).ok());
        }
        Some(e)
    }
}
