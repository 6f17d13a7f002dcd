//! `kubecorp explain`: from a text copied off a real cluster (or a verdict kind) to what it means.

use crate::verdict::{classify_text, VerdictKind};

/// What the lab can say about one error text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Explanation {
    /// A verdict kind (`expired`, …) or a lab name for the check (`authn-401`, …).
    pub kind: String,
    /// Which check failed, and where.
    pub check: String,
    pub meaning: String,
    /// Commands that confirm it.
    pub confirm: Vec<String>,
    pub fix: String,
}

const CONFIRM_CERT: &str =
    "openssl x509 -noout -subject -issuer -dates -ext subjectAltName,extendedKeyUsage -in FILE";
const CONFIRM_VERIFY: &str =
    "kubecorp certs verify --cert FILE --ca CA.crt [--name HOST] [--usage server|client]";

/// Explains a verdict kind name or a text such as
/// `Unable to connect to the server: tls: failed to verify certificate: x509: …`.
pub fn explain(input: &str) -> Option<Explanation> {
    let input = input.trim();
    let kind = input
        .parse::<VerdictKind>()
        .ok()
        .or_else(|| classify_text(input));
    if let Some(kind) = kind {
        let (meaning, fix) = kind.explain();
        // etcd's rejection line: 3.4's text, or 3.5's zap JSON whose Go ≥ 1.20 error reads
        // `tls: failed to verify certificate` although it is the client's badge that failed.
        let check = if input.contains("failed to verify client certificate")
            || input.contains("rejected connection")
            || input.contains("Unable to authenticate")
        {
            "the server checked the caller's client badge (etcd in the TLS handshake; the apiserver and kubelet after it, answering 401)"
        } else if input.contains("failed to verify certificate")
            || input.contains("Unable to connect to the server")
        {
            "the caller checked the server's badge during the TLS handshake (against the CA in its kubeconfig or --cacert)"
        } else {
            "a certificate check: by a client against a server's badge in the handshake, or by a server against a client's badge"
        };
        return Some(Explanation {
            kind: kind.name().into(),
            check: check.into(),
            meaning: meaning.into(),
            confirm: vec![CONFIRM_CERT.into(), CONFIRM_VERIFY.into()],
            fix: fix.into(),
        });
    }
    let lab = |kind: &str, check: &str, meaning: &str, confirm: &[&str], fix: &str| Explanation {
        kind: kind.into(),
        check: check.into(),
        meaning: meaning.into(),
        confirm: confirm.iter().map(|c| c.to_string()).collect(),
        fix: fix.into(),
    };
    let found = if input.contains("You must be logged in to the server") || input == "Unauthorized"
    {
        lab("authn-401", "the apiserver's x509 authenticator, after the TLS handshake",
            "Alice let the visitor in the door (the handshake never fails on a client badge) and then found the badge wanting: expired, signed by a CA she does not trust, or not made for client use. The 401 body never says which; her log line does.",
            &["kubectl config view --raw --minify -o jsonpath='{.users[0].user.client-certificate-data}' | base64 -d | openssl x509 -noout -subject -issuer -dates -ext extendedKeyUsage",
              "kubecorp certs verify --cert CLIENT.crt --ca pki/ca.crt --usage client"],
            "renew the badge (`kubecorp certs renew admin.conf`, or a new CSR for a user) and update the kubeconfig")
    } else if input.contains("Forbidden (user=") && input.contains("resource=nodes") {
        lab("kubelet-authz-403", "the kubelet's own door (:10250): it verified the caller's badge, then asked the apiserver by SubjectAccessReview",
            "The CEO knows who is calling (the badge is genuine) but Alice's rulebook gives that user no right on this node's API (nodes/proxy for logs and exec, nodes/log, nodes/stats…). kube-apiserver calls with apiserver-kubelet-client, whose group kubeadm:cluster-admins may do it.",
            &["kubectl auth can-i get nodes/proxy --as USER", "kubectl auth can-i get nodes/proxy --as kube-apiserver-kubelet-client --as-group kubeadm:cluster-admins"],
            "call with a badge that has the right (`apiserver-kubelet-client` for the apiserver), or bind a ClusterRole with nodes/proxy to the user")
    } else if let Some(advice) = crate::forbidden::advise(input) {
        lab("authz-403", "authorization (RBAC, the Node authorizer for kubelets, NodeRestriction), after authentication succeeded",
            &advice.explanation,
            &["kubectl auth can-i --list --as USER", "kubectl auth whoami"],
            &advice.hint)
    } else if server_heard_an_alert(input) {
        // A Go client sends `bad certificate` for every server-certificate failure (crypto/tls
        // handshake_client.go, Go ≤ 1.20; newer Go sends a more precise alert): the server
        // that logs it was refused by its caller, not the other way round.
        lab("handshake-refused-by-client", "the caller checked the server's badge in the TLS handshake and refused it; the server only logs the alert it received",
            "This line is in the server's log, and `remote error` means the alert came from the other side: the client did not accept the server's badge (unknown CA, wrong name, expired). The server is not refusing anyone.",
            &["openssl s_client -connect HOST:PORT -CAfile CLIENT-CA.crt -verify_hostname HOST </dev/null", "kubecorp certs verify --cert SERVER.crt --ca CLIENT-CA.crt --name HOST --usage server"],
            "look at the client's own log for the x509 reason, then fix the server's badge (re-issue it with the name the client dials) or give the client the CA that signed it (--etcd-cafile, a webhook's caBundle, the kubeconfig's certificate-authority-data)")
    } else if input.contains("rejected connection from")
        || input.contains("rejected connection on client endpoint")
        || input.contains("rejected connection on peer endpoint")
        || input.contains("remote error: tls: unknown certificate authority")
        || input.contains("remote error: tls: bad certificate")
        || input.contains("remote error: tls: expired certificate")
        || input.contains("remote error: tls: certificate required")
    {
        lab("handshake-refused", "the server checked the client badge inside the TLS handshake (etcd does this; it trusts only pki/etcd/ca.crt)",
            "Charlie refused the badge before any request was read: none shown, expired, or not signed by the etcd CA (a cluster-CA badge such as admin.conf's is worthless at the vault).",
            &["openssl x509 -noout -issuer -dates -in CLIENT.crt", "kubecorp certs verify --cert CLIENT.crt --ca pki/etcd/ca.crt --usage client"],
            "present a badge signed by etcd-ca (apiserver-etcd-client, etcd-healthcheck-client); renew it if expired: `kubecorp certs renew apiserver-etcd-client`")
    } else if input.contains("no serving certificate available for the kubelet")
        || input.contains("remote error: tls: internal error")
    {
        lab("no-serving-cert", "the kubelet's TLS handshake on :10250",
            "The kubelet has no serving certificate to show: with serverTLSBootstrap it asked for one by CSR (signer kubernetes.io/kubelet-serving) and nobody approved it; those are never auto-approved.",
            &["kubectl get csr", "kubectl get csr -o jsonpath='{.items[?(@.spec.signerName==\"kubernetes.io/kubelet-serving\")].metadata.name}'"],
            "approve it: `kubectl certificate approve CSR-NAME`")
    } else if input.contains("untolerated taint")
        || input.contains("no nodes available to schedule pods")
    {
        lab("unschedulable", "the scheduler's filters (TaintToleration, NodeUnschedulable), before it binds a pod",
            "Bob found no desk for the pod: no node has registered, every node is NotReady (it carries node.kubernetes.io/not-ready), or the only nodes are tainted — kubeadm taints the control-plane node node-role.kubernetes.io/control-plane:NoSchedule. The pod stays Pending and Bob tries again whenever a node changes.",
            &["kubectl get nodes", "kubectl describe node NODE | grep -i taint", "kubectl describe pod POD"],
            "start or fix a node's kubelet, add a worker, or (single node) remove the taint: `kubectl taint nodes NODE node-role.kubernetes.io/control-plane:NoSchedule-` — or give the pod a toleration")
    } else if input.contains("failed to allocate IP") {
        lab("service-ip", "the apiserver's Service IP allocator, when the Service is created",
            "A Service's clusterIP must come from the --service-cluster-ip-range (kubeadm: 10.96.0.0/12) and belong to no other Service. Leave clusterIP out and one is picked for you.",
            &["kubectl get svc -A -o custom-columns=NAME:.metadata.name,IP:.spec.clusterIP"],
            "drop spec.clusterIP, or choose a free address inside 10.96.0.0/12")
    } else if input.contains("alpha certs") {
        lab("kubeadm-alpha-removed", "the command line",
            "`kubeadm alpha certs` graduated to `kubeadm certs` in 1.20 and was removed in 1.21.",
            &["kubeadm certs check-expiration"],
            "use `kubeadm certs renew scheduler.conf` (here: `kubecorp certs renew scheduler.conf`)")
    } else {
        return None;
    };
    Some(found)
}

/// A server's log line about an alert its caller sent (`http: TLS handshake error from …:
/// remote error: tls: bad certificate`, etcd's `rejected connection from … (error "remote
/// error: tls: …")`).
fn server_heard_an_alert(input: &str) -> bool {
    let alert = input.contains("remote error: tls: bad certificate")
        || input.contains("remote error: tls: unknown certificate authority")
        || input.contains("remote error: tls: certificate unknown");
    let server_log =
        input.contains("TLS handshake error from") || input.contains("rejected connection from");
    alert && server_log
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_3_5s_json_rejection_line_is_read_as_etcd_refusing_the_callers_badge() {
        let line = r#"{"level":"warn","ts":"2026-04-24T09:00:00Z","caller":"embed/config_logging.go:170","msg":"rejected connection on client endpoint","remote-addr":"127.0.0.1:5555","server-name":"","error":"tls: failed to verify certificate: x509: certificate signed by unknown authority"}"#;
        let explained = explain(line).unwrap();
        assert_eq!(explained.kind, "unknown-authority");
        assert!(
            explained
                .check
                .starts_with("the server checked the caller's client badge"),
            "{}",
            explained.check
        );
    }

    #[test]
    fn the_staffs_own_refusals_are_explained_too() {
        for (text, kind) in [
            ("http: TLS handshake error from 127.0.0.1:5555: no serving certificate available for the kubelet", "no-serving-cert"),
            ("Forbidden (user=system:kube-scheduler, verb=get, resource=nodes, subresource(s)=[proxy])", "kubelet-authz-403"),
            ("Error from server (Forbidden): Forbidden (user=kube-apiserver-kubelet-client, verb=get, resource=nodes, subresource(s)=[proxy]) ( pods/log web)", "kubelet-authz-403"),
            ("0/1 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }.", "unschedulable"),
            ("no nodes available to schedule pods", "unschedulable"),
            (r#"{"level":"warn","ts":"2026-04-24T09:00:00Z","caller":"embed/config_logging.go:170","msg":"rejected connection on client endpoint","remote-addr":"127.0.0.1:5555","server-name":"","error":"EOF"}"#, "handshake-refused"),
            ("spec.clusterIPs: Invalid value: []string{\"10.96.0.10\"}: failed to allocate IP 10.96.0.10: provided IP is already allocated", "service-ip"),
        ] {
            assert_eq!(explain(text).map(|e| e.kind), Some(kind.to_string()), "{text}");
        }
    }

    #[test]
    fn bad_certificate_in_a_servers_log_means_the_client_refused_the_servers_badge() {
        // etcd 3.4's embed line and a Go http server's line (real-errors.tsv R078, R082).
        for text in [
            r#"rejected connection from "192.168.7.175:54810" (error "remote error: tls: bad certificate", ServerName "")"#,
            "2022/02/28 18:11:37 http: TLS handshake error from 10.0.2.15:59316: remote error: tls: bad certificate",
        ] {
            let e = explain(text).unwrap();
            assert_eq!(e.kind, "handshake-refused-by-client", "{text}");
            assert!(e.meaning.contains("the client did not accept the server's badge"));
        }
        // The same alert in a client's text: the server refused the client.
        let e = explain(
            "transport: authentication handshake failed: remote error: tls: bad certificate",
        )
        .unwrap();
        assert_eq!(e.kind, "handshake-refused");
    }

    #[test]
    fn a_403_is_explained_by_who_refused_it() {
        let e = explain(r#"Error from server (Forbidden): secrets "db" is forbidden: User "system:node:w2" cannot get resource "secrets" in API group "" in the namespace "default": no relationship found between node 'w2' and this object"#).unwrap();
        assert_eq!(e.kind, "authz-403");
        assert!(e
            .meaning
            .starts_with("The Node authorizer refused a kubelet"));
        assert!(!e.fix.contains("--clusterrole=view"));
    }
}
