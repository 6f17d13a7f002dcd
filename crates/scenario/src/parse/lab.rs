//! `lab:`: the office a scenario plays in — its nodes, key algorithm, clock, imported PKI and
//! staff.

use std::path::PathBuf;

use kubecorp_office::{Staff, CONTROL_PLANE_NODE};
use kubecorp_pki::KeyAlgorithm;

use super::{closest, column, line, Cx, Node, Problem};
use crate::model::*;

impl Cx {
    pub(super) fn lab(&mut self, node: &Node, path: &str) -> Option<LabSpec> {
        let f = self.fields(
            node,
            path,
            &[
                "nodes",
                "key_algorithm",
                "clock",
                "rotate_server_certificates",
                "pki",
                "staff",
            ],
        )?;
        let mut lab = default_lab();
        if let Some(n) = f.get("nodes") {
            lab.nodes = self.strings(n, &f.child("nodes"))?;
            lab.nodes_at = Some(At {
                line: line(n),
                column: column(n),
            });
            if lab.nodes.is_empty() {
                self.error(
                    n,
                    &f.child("nodes"),
                    Problem::Other("at least one node is needed".into()),
                );
            }
            if lab.nodes.len() > kubecorp_office::MAX_NODES {
                self.error(
                    n,
                    &f.child("nodes"),
                    Problem::Other(format!(
                        "{} nodes: an office runs at most {} (as `kubecorp up --nodes`)",
                        lab.nodes.len(),
                        kubecorp_office::MAX_NODES
                    )),
                );
            }
            for name in &lab.nodes {
                if let Err(e) = kubecorp_pki::node_name::NodeName::new(name) {
                    self.error(n, &f.child("nodes"), Problem::Other(e.to_string()));
                }
            }
        }
        if let Some(n) = f.get("key_algorithm") {
            // kubeadm's names (`RSA-2048`, `ECDSA-P256`, …), in any case.
            let path = f.child("key_algorithm");
            let given = self.string(n, &path)?;
            match given.parse::<KeyAlgorithm>() {
                Ok(k) => lab.key_algorithm = k,
                Err(_) => {
                    let names: Vec<&str> = KeyAlgorithm::ALL.iter().map(|k| k.name()).collect();
                    self.choice(
                        n,
                        &path,
                        &names,
                        "a key algorithm (kubeadm's encryptionAlgorithm)",
                    )?;
                }
            }
        }
        if let Some(n) = f.get("clock") {
            let clock = self.time(n, &f.child("clock"))?;
            // The lab makes its CAs at this time: both ends must fit in a certificate.
            let fits = kubecorp_pki::when::validity(
                "the cluster CA",
                clock,
                -kubecorp_pki::issue::BACKDATE,
                kubecorp_pki::issue::CA_VALIDITY,
            );
            if let Err(e) = fits {
                self.error(
                    n,
                    &f.child("clock"),
                    Problem::Value {
                        given: kubecorp_trust::go_time(clock),
                        expected: format!("a time at which the lab can make its CAs ({e})"),
                        suggestion: None,
                    },
                );
                return None;
            }
            lab.clock = Some(clock);
        }
        if let Some(n) = f.get("rotate_server_certificates") {
            lab.rotate_server_certificates =
                self.boolean(n, &f.child("rotate_server_certificates"))?;
        }
        if let Some(n) = f.get("pki") {
            lab.pki = Some(PathBuf::from(self.string(n, &f.child("pki"))?));
        }
        if let Some(n) = f.get("staff") {
            lab.staff = self.staff(n, &f.child("staff"))?;
        }
        Some(lab)
    }

    fn staff(&mut self, node: &Node, path: &str) -> Option<Staff> {
        const NAMES: &[&str] = &[
            "all",
            "none",
            "scheduler",
            "kubelets",
            "kube-proxy",
            "controllers",
            "metrics-server",
        ];
        let names = self.strings(node, path)?;
        let mut staff = Staff::NONE;
        for name in names {
            if !NAMES.contains(&name.as_str()) {
                self.error(
                    node,
                    path,
                    Problem::Value {
                        suggestion: closest(&name, NAMES.iter().copied()),
                        given: name,
                        expected: format!("a member of staff (one of {})", NAMES.join(", ")),
                    },
                );
                return None;
            }
            match name.as_str() {
                "all" => staff = Staff::ALL,
                "none" => {}
                "scheduler" => staff.scheduler = true,
                "kubelets" => staff.kubelets = true,
                "kube-proxy" => staff.kube_proxy = true,
                "metrics-server" => staff.metrics_server = true,
                _ => staff.controllers = true,
            }
        }
        Some(staff)
    }
}

pub(super) fn default_lab() -> LabSpec {
    LabSpec {
        nodes: vec![CONTROL_PLANE_NODE.into()],
        nodes_at: None,
        key_algorithm: KeyAlgorithm::default(),
        clock: None,
        rotate_server_certificates: false,
        pki: None,
        staff: Staff::ALL,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use kubecorp_pki::KeyAlgorithm;

    use crate::parse::{parse_str, tests::errors};

    #[test]
    fn lab_nodes_are_capped_as_up_nodes_is_and_named_as_nodes_are() {
        let many: Vec<String> = (0..1000).map(|i| format!("n{i}")).collect();
        let text = format!(
            "title: t\nlab: {{nodes: [{}]}}\nsteps:\n  - say: hi\n",
            many.join(", ")
        );
        assert!(
            errors(&text).contains(
                "lab.nodes: 1000 nodes: an office runs at most 50 (as `kubecorp up --nodes`)"
            ),
            "{}",
            errors(&text)
        );
        let text = "title: t\nlab: {nodes: [a..b]}\nsteps:\n  - say: hi\n";
        assert!(
            errors(text).contains("lab.nodes: invalid node name `a..b`"),
            "{}",
            errors(text)
        );
    }

    #[test]
    fn a_lab_clock_no_certificate_can_hold_is_refused_naming_the_field() {
        let text = "title: t\nlab: {clock: 9999-12-31T00:00:00Z}\nsteps:\n  - say: hi\n";
        assert_eq!(
            errors(text),
            "x.yaml:2:14: lab.clock: '9999-12-31T00:00:00Z' is not a time at which the lab can make its CAs (the cluster CA's NotAfter would be 9999-12-31T00:00:00Z + 3650 days, outside the years 0000 to 9999 a certificate can name)"
        );
        let text = "title: t\nlab: {clock: 0000-01-01}\nsteps:\n  - say: hi\n";
        assert!(errors(text).contains("NotBefore would be -0001-12-31T23:55:00Z"));
    }

    #[test]
    fn a_lab_key_algorithm_takes_kubeadm_names_in_any_case_and_lists_them_when_wrong() {
        let lab = |alg: &str| {
            let text = format!("title: t\nlab: {{key_algorithm: {alg}}}\nsteps:\n  - say: hi\n");
            parse_str(Path::new("x.yaml"), &text).map(|s| s.lab.key_algorithm)
        };
        assert_eq!(lab("RSA-2048").unwrap(), KeyAlgorithm::Rsa2048);
        assert_eq!(lab("ecdsa-p384").unwrap(), KeyAlgorithm::EcdsaP384);
        let e = lab("RSA-1024").unwrap_err().to_string();
        assert!(
            e.contains("lab.key_algorithm: 'RSA-1024' is not a key algorithm (kubeadm's encryptionAlgorithm) (one of RSA-2048, RSA-3072, RSA-4096, ECDSA-P256, ECDSA-P384)"),
            "{e}"
        );
    }
}
