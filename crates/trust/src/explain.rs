//! `kubecorp explain`: from a text copied off a real cluster (or a verdict kind) to what it means.
//!
//! The paste is read whole ([`paste`]): every line without its log prefixes, and the lines
//! joined, so a wrapped line or a kubectl run with its `memcache.go` lines is judged as one.
//! Each reading is matched against the families of [`family`], and the surest finding wins
//! (a precise x509 reason in the apiserver's log beats the 401 kubectl printed). Every
//! explanation says whose check failed ([`CheckedBy`]); a text that is not about certificates
//! or identity says so rather than guessing.

mod family;
mod paste;

use family::{Finding, Kind};
use serde::Serialize;

use crate::verdict::VerdictKind;

/// The party whose check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckedBy {
    /// The caller rejected the server's certificate in the handshake.
    Client,
    /// The guard rejected the caller's client certificate (in the handshake like etcd, or
    /// after it like kube-apiserver: 401).
    Server,
    /// Identified (or anonymous) but not allowed: 403, RBAC, the Node authorizer,
    /// NodeRestriction, admission.
    Authorizer,
    /// Before any connection: files, keys, PEM, kubeconfig, kubeadm's checks on disk.
    Local,
    /// Issuance or rotation: a CSR pending or denied, no serving certificate, rotation.
    Signer,
    /// Not said by the text: the client stopped waiting, and only the other side's log (or
    /// the client's own lines before this one) says why.
    Unknown,
    /// Not a certificate or identity problem.
    None,
}

impl CheckedBy {
    pub fn name(self) -> &'static str {
        match self {
            CheckedBy::Client => "client",
            CheckedBy::Server => "server",
            CheckedBy::Authorizer => "authorizer",
            CheckedBy::Local => "local",
            CheckedBy::Signer => "signer",
            CheckedBy::Unknown => "unknown",
            CheckedBy::None => "none",
        }
    }

    /// Which check failed, and where, in one sentence.
    fn check(self) -> &'static str {
        match self {
            CheckedBy::Client => "the caller checked the server's badge during the TLS handshake (against the CA in its kubeconfig, --cacert, --etcd-cafile or a webhook's caBundle) and refused it",
            CheckedBy::Server => "the server checked the caller's client badge and refused it (etcd in the TLS handshake; the apiserver, the kubelet and aggregated API servers after it, answering 401)",
            CheckedBy::Authorizer => "authorization (RBAC, the Node authorizer for kubelets, NodeRestriction, admission), after authentication succeeded",
            CheckedBy::Local => "a check on this machine before any connection: a file, a key, a PEM block, a kubeconfig, or kubeadm's own checks of the certificates on disk",
            CheckedBy::Signer => "issuance or rotation: a certificate that was never signed, was refused, or could not be renewed",
            CheckedBy::Unknown => "not said here: the client gave up waiting for an answer, and whether a check refused it is written elsewhere",
            CheckedBy::None => "no certificate or identity check",
        }
    }
}

/// What the lab can say about one error text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// A verdict kind (`expired`, …) or a lab name for the check (`authn-401`, …).
    pub kind: String,
    /// Whose check failed: client, server, authorizer, local, signer or none.
    pub checked_by: CheckedBy,
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
/// `Unable to connect to the server: tls: failed to verify certificate: x509: …`, possibly
/// several lines long. `None` when nothing in it is known.
pub fn explain(input: &str) -> Option<Explanation> {
    let input = input.trim();
    if let Ok(kind) = input.parse::<VerdictKind>() {
        return Some(verdict(kind, CheckedBy::Client, input, true));
    }
    let mut best: Option<(Finding, String)> = None;
    for reading in paste::readings(input) {
        if let Some(finding) = family::judge(&reading) {
            // The surest finding wins; among equals, the later line (kubectl's last line
            // sums up the run, a log's last line is the newest).
            if best.as_ref().is_none_or(|(b, _)| finding.rank >= b.rank) {
                best = Some((finding, reading));
            }
        }
    }
    let (finding, reading) = best?;
    Some(match finding.kind {
        Kind::Verdict(kind) => verdict(kind, finding.checked_by, &reading, false),
        Kind::ExpiredOrNotYet => {
            let (meaning, fix) = VerdictKind::Expired.explain();
            let (_, clock) = VerdictKind::NotYetValid.explain();
            Explanation {
                kind: finding.kind.name().into(),
                checked_by: finding.checked_by,
                check: finding.checked_by.check().into(),
                meaning: format!("This wording (older Go, or a check on disk) does not say which date failed: the badge has expired, or it is not valid yet because a clock is behind. {meaning}"),
                confirm: vec![CONFIRM_CERT.into(), "date -u".into()],
                fix: format!("If it expired: {fix} If it is not valid yet: {clock}"),
            }
        }
        Kind::Lab(name) => lab(name, finding.checked_by, &reading),
    })
}

/// An x509 verdict, with the direction the text shows.
fn verdict(kind: VerdictKind, by: CheckedBy, text: &str, bare_kind: bool) -> Explanation {
    let (meaning, fix) = kind.explain();
    let check = if bare_kind {
        "a certificate check: by a client against a server's badge in the handshake, or by a server against a client's badge".to_string()
    } else {
        by.check().to_string()
    };
    let mut meaning = meaning.to_string();
    if !bare_kind && kind == VerdictKind::UnknownAuthority {
        // The plain text cannot tell these apart; the `possibly because of` form can.
        meaning += " From this text alone it may also be the same-named CA re-created with a new key (`kubeadm reset`, a fresh CA) while one side kept the old one: compare the keys of both CA files.";
    }
    let mut fix = fix.to_string();
    if by == CheckedBy::Server && kind == VerdictKind::Expired && text.contains("SN=") {
        fix += " (An aggregated API server such as metrics-server refusing kube-apiserver's badge means front-proxy-client: `kubeadm certs renew front-proxy-client`.)";
    }
    Explanation {
        kind: kind.name().into(),
        checked_by: by,
        check,
        meaning,
        confirm: vec![CONFIRM_CERT.into(), CONFIRM_VERIFY.into()],
        fix,
    }
}

/// The explanation of one of the lab's families.
fn lab(name: &'static str, by: CheckedBy, text: &str) -> Explanation {
    let make = |meaning: &str, confirm: &[&str], fix: &str| Explanation {
        kind: name.into(),
        checked_by: by,
        check: by.check().into(),
        meaning: meaning.into(),
        confirm: confirm.iter().map(|c| c.to_string()).collect(),
        fix: fix.into(),
    };
    match name {
        "authz-403" => {
            let advice = crate::forbidden::advise(text).unwrap_or(crate::forbidden::Advice {
                explanation: "The badge is genuine and the apiserver knows who this is, but nothing allows this request: no RBAC rule for the user or their groups, or the Node authorizer or an admission plugin refused it.".into(),
                hint: "Find out who you are and what you may do: `kubectl auth whoami`, `kubectl auth can-i --list`; then grant exactly the verb and resource needed with a Role and RoleBinding.".into(),
            });
            make(
                &advice.explanation,
                &["kubectl auth can-i --list --as USER", "kubectl auth whoami"],
                &advice.hint,
            )
        }
        "kubelet-authz-403" => make(
            "The kubelet's own door (:10250) verified the caller's badge, then asked the apiserver by SubjectAccessReview, and the rulebook gives that user no right on this node's API (nodes/proxy for logs and exec, nodes/log, nodes/stats…). kube-apiserver calls with apiserver-kubelet-client, whose group kubeadm:cluster-admins may do it.",
            &["kubectl auth can-i get nodes/proxy --as USER", "kubectl auth can-i get nodes/proxy --as kube-apiserver-kubelet-client --as-group kubeadm:cluster-admins"],
            "call with a badge that has the right (`apiserver-kubelet-client` for the apiserver), or bind a ClusterRole with nodes/proxy to the user",
        ),
        "authn-401" => make(
            "The server let the caller in at the handshake and then refused its credentials: a client badge that expired, was signed by a CA the server does not trust (--client-ca-file), or lacks client authentication in its key usage — or a token that is wrong or absent. The 401 never says which; the server's log does (`Unable to authenticate the request … x509: …`).",
            &["kubectl config view --raw --minify -o jsonpath='{.users[0].user.client-certificate-data}' | base64 -d | openssl x509 -noout -subject -issuer -dates -ext extendedKeyUsage",
              "kubecorp certs verify --cert CLIENT.crt --ca pki/ca.crt --usage client"],
            "read the server's log for the reason, then re-issue the badge the way its kind is: `kubeadm certs renew admin.conf` (lab: `kubecorp certs renew admin.conf`) for kubeadm's own, a new CSR for a user's, or point the kubeconfig at the right credentials",
        ),
        "handshake-refused" => make(
            "The server refused the caller's badge inside the TLS handshake and sent an alert; the caller only sees `remote error: tls: …`. The alert does not say which check failed: no badge shown, a badge expired, one signed by a CA the server does not trust (etcd trusts only etcd/ca.crt), or one without client authentication in its key usage. Go servers before 1.21 send `bad certificate` for all of them.",
            &["openssl x509 -noout -issuer -dates -ext extendedKeyUsage -in CLIENT.crt", "kubecorp certs verify --cert CLIENT.crt --ca CA.crt --usage client"],
            "read the server's log for the x509 reason; for etcd present a badge signed by etcd-ca (apiserver-etcd-client, etcd-healthcheck-client) and renew it if expired: `kubeadm certs renew apiserver-etcd-client` (lab: `kubecorp certs renew apiserver-etcd-client`)",
        ),
        "handshake-refused-by-client" => make(
            "This line is in the server's log, and `remote error` means the alert came from the other side: the client did not accept the server's badge (unknown CA, wrong name, expired). The server is not refusing anyone.",
            &["openssl s_client -connect HOST:PORT -CAfile CLIENT-CA.crt -verify_hostname HOST </dev/null", "kubecorp certs verify --cert SERVER.crt --ca CLIENT-CA.crt --name HOST --usage server"],
            "look at the client's own log for the x509 reason, then fix the server's badge (re-issue it with the name the client dials) or give the client the CA that signed it (--etcd-cafile, a webhook's caBundle, the kubeconfig's certificate-authority-data)",
        ),
        "handshake-abandoned" => make(
            "The caller hung up in the middle of the TLS handshake (EOF) without a word: most often a client that did not accept the server's badge and closed the connection instead of sending an alert, sometimes a probe that only opens a TCP connection.",
            &["openssl s_client -connect HOST:PORT -CAfile CLIENT-CA.crt </dev/null", "kubecorp certs verify --cert SERVER.crt --ca CLIENT-CA.crt --name HOST --usage server"],
            "look at the caller's own log for its reason; if it refused the server's badge, re-issue that badge or give the caller the right CA",
        ),
        "apiservice-unavailable" => make(
            "An aggregated API (metrics.k8s.io, served by metrics-server) is registered by an APIService, and kube-apiserver's aggregator found it not Available: its discovery check (GET /apis/GROUP/VERSION, with the front-proxy-client badge) got no 2xx. Requests for the group then get 503 `service unavailable`, and kubectl 1.32, which sees the version marked Stale in discovery, says `Metrics API not available`. A `bad status … 401` means the extension server refused kube-apiserver's front-proxy-client badge (expired, or not from the requestheader CA it reads from the extension-apiserver-authentication ConfigMap); a timeout or refused connection means it is not running or not reachable.",
            &["kubectl get apiservice v1beta1.metrics.k8s.io -o jsonpath='{.status.conditions[0].message}'", "kubeadm certs check-expiration", "kubectl -n kube-system logs deploy/metrics-server"],
            "for a 401: `kubeadm certs renew front-proxy-client` (lab: `kubecorp certs renew front-proxy-client`) and restart kube-apiserver so it loads the new badge; otherwise get metrics-server running and reachable from the control plane",
        ),
        "no-serving-cert" => make(
            "The kubelet had no serving certificate to show, so the handshake on :10250 ended with an internal error: with serverTLSBootstrap it asks for one by CSR (signer kubernetes.io/kubelet-serving), and nobody approved it — those are never approved automatically.",
            &["kubectl get csr", "kubectl get csr --field-selector spec.signerName=kubernetes.io/kubelet-serving"],
            "approve it: `kubectl certificate approve CSR-NAME` (after checking its names are the node's)",
        ),
        "rotation" => make(
            "Issuing or renewing a badge by CSR did not finish: the request is pending (nobody approved it), was denied, or the client certificate ran out before the kubelet could renew it — once it has expired, the kubelet cannot ask with it any more.",
            &["kubectl get csr", "openssl x509 -noout -dates -in /var/lib/kubelet/pki/kubelet-client-current.pem"],
            "approve a pending CSR (`kubectl certificate approve CSR-NAME`); if the kubelet's client badge has already expired, re-issue kubelet.conf for the node (`kubeadm kubeconfig user --org system:nodes --client-name system:node:NODE`; lab: delete kubelet.conf and run `kubecorp pki init`) and restart the kubelet",
        ),
        "ca-pinning" => make(
            "kubeadm join checks the cluster CA it downloads against the hashes given with --discovery-token-ca-cert-hash before trusting anything, and none matched: a wrong or stale hash, or a CA that was re-created.",
            &["openssl x509 -pubkey -in /etc/kubernetes/pki/ca.crt | openssl rsa -pubin -outform der 2>/dev/null | openssl dgst -sha256 -hex"],
            "take the hash of the current CA on a control-plane node (`kubeadm token create --print-join-command` prints the whole join line)",
        ),
        "kubeadm-check" => make(
            "kubeadm checked a certificate on disk before using it and refused it: signed by another CA than the one in pki/ (a leftover from an earlier cluster), lacking a configured name, expired, or not valid yet.",
            &["openssl x509 -noout -issuer -dates -ext subjectAltName -in /etc/kubernetes/pki/NAME.crt", "kubeadm certs check-expiration"],
            "remove the leftover (`kubeadm reset`, or move that certificate and key aside) and let kubeadm issue it again (`kubeadm init phase certs NAME`); for a clock problem fix the clock (NTP)",
        ),
        "key-mismatch" => make(
            "A certificate and the private key beside it are not a pair: the key's public half is not the one in the certificate (one file replaced without the other, or both rewritten non-atomically).",
            &["openssl x509 -noout -pubkey -in FILE.crt | openssl sha256", "openssl pkey -pubout -in FILE.key | openssl sha256"],
            "replace both together (`kubeadm certs renew NAME`, lab: `kubecorp certs renew NAME`), never one alone",
        ),
        "bad-pem" => make(
            "A file that should hold a certificate or a key holds something else: a key where the certificate belongs (or the other way round), a broken PEM block, bad base64, or DER that does not parse.",
            &["openssl x509 -noout -text -in FILE", "openssl pkey -noout -in FILE.key", "head -1 FILE"],
            "point the flag or kubeconfig field at the right file (certificate for --tls-cert-file / client-certificate, key for --tls-private-key-file / client-key), or re-issue the pair",
        ),
        "file-missing" => make(
            "A certificate, key or CA file named in a flag or a kubeconfig is not there (or cannot be read): nothing was checked yet because there was nothing to read.",
            &["ls -l FILE", "kubectl config view --minify"],
            "create it (`kubeadm init phase certs NAME`; lab: `kubecorp pki init` writes only what is missing) or fix the path",
        ),
        "kubeconfig" => make(
            "The client could not load its kubeconfig: the file is missing, unreadable or invalid, or names a context that is not in it. No connection was tried.",
            &["echo $KUBECONFIG", "kubectl config view --minify"],
            "point KUBECONFIG (or --kubeconfig) at a valid file, e.g. a copy of /etc/kubernetes/admin.conf (lab: admin.conf in the lab directory)",
        ),
        "kubeadm-alpha-removed" => make(
            "this is not a certificate problem: the command itself is gone — `kubeadm alpha certs` graduated to `kubeadm certs` in 1.20 and was removed in 1.21.",
            &["kubeadm certs check-expiration"],
            "use `kubeadm certs renew scheduler.conf` (here: `kubecorp certs renew scheduler.conf`)",
        ),
        "not-tls" => make(
            "this is not a certificate problem: one side spoke plain HTTP to a TLS port (or TLS to a plain one), so no badge was ever shown — often an http:// URL where https:// belongs in a client's or peer's configuration.",
            &["curl -v https://HOST:PORT/", "grep -r 'http://' /etc/kubernetes/manifests/"],
            "use https:// for every TLS endpoint (etcd's --listen-client-urls, --advertise-client-urls, the apiserver's --etcd-servers)",
        ),
        "unschedulable" => make(
            "this is not a certificate problem: the scheduler found no node for the pod — none registered, every node NotReady (tainted node.kubernetes.io/not-ready), or the only node is the tainted control plane (node-role.kubernetes.io/control-plane:NoSchedule).",
            &["kubectl get nodes", "kubectl describe node NODE | grep -i taint", "kubectl describe pod POD"],
            "start or fix a node's kubelet, add a worker, or (single node) remove the taint: `kubectl taint nodes NODE node-role.kubernetes.io/control-plane:NoSchedule-` — or give the pod a toleration",
        ),
        "deadline" => make(
            "The client gave up: its deadline passed before any answer (etcdctl waits 2 s to connect and 5 s for a command; client-go and webhooks have their own). This alone does not say why, and it is not proof either way. With etcdctl, kube-apiserver's etcd client and every other gRPC client it is very often a refused TLS handshake: gRPC retries a failed handshake quietly until the deadline, so a wrong --cacert, a badge not signed by etcd's CA, or http:// on a TLS port all end in this one line. The reason is in the lines before it (`transport: authentication handshake failed: …`) and in the server's log (etcd: `rejected connection on client endpoint`).",
            &["etcdctl --endpoints https://127.0.0.1:2379 --cacert /etc/kubernetes/pki/etcd/ca.crt --cert /etc/kubernetes/pki/etcd/healthcheck-client.crt --key /etc/kubernetes/pki/etcd/healthcheck-client.key endpoint health",
              "openssl s_client -connect 127.0.0.1:2379 -CAfile /etc/kubernetes/pki/etcd/ca.crt -cert /etc/kubernetes/pki/etcd/healthcheck-client.crt -key /etc/kubernetes/pki/etcd/healthcheck-client.key </dev/null",
              "crictl logs $(crictl ps -q --name etcd) 2>&1 | grep 'rejected connection'"],
            "read the server's log for the refusal; for etcd use https:// and its own CA and a badge it signed (`--cacert etcd/ca.crt`, `--cert`/`--key` from healthcheck-client or apiserver-etcd-client); if the handshake succeeds, the server is not running, not listening there, or too slow",
        ),
        "service-ip" => make(
            "this is not a certificate problem: a Service's clusterIP must come from --service-cluster-ip-range (kubeadm: 10.96.0.0/12) and belong to no other Service.",
            &["kubectl get svc -A -o custom-columns=NAME:.metadata.name,IP:.spec.clusterIP"],
            "drop spec.clusterIP, or choose a free address inside 10.96.0.0/12",
        ),
        _ => make(
            "this is not a certificate problem: the text says the other side could not be reached or answered with an ordinary error (refused, timed out, unavailable, not found), and no badge was checked. If the same moment shows `rejected connection` or `x509` in a server's log, explain that line instead.",
            &["kubectl cluster-info", "curl -vk https://HOST:PORT/healthz"],
            "check that the component runs and listens where the client dials (address, port, network path), then retry",
        ),
    }
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
            ("error: Metrics API not available", "apiservice-unavailable"),
            ("v1beta1.metrics.k8s.io failed with: failing or missing response from https://10.96.0.12:443/apis/metrics.k8s.io/v1beta1: bad status from https://10.96.0.12:443/apis/metrics.k8s.io/v1beta1: 401", "apiservice-unavailable"),
            (r#"{"level":"warn","ts":"2026-04-24T09:00:00Z","caller":"embed/config_logging.go:170","msg":"rejected connection on client endpoint","remote-addr":"127.0.0.1:5555","server-name":"","error":"EOF"}"#, "handshake-abandoned"),
            ("spec.clusterIPs: Invalid value: []string{\"10.96.0.10\"}: failed to allocate IP 10.96.0.10: provided IP is already allocated", "service-ip"),
            ("Error: context deadline exceeded", "deadline"),
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
    fn a_deadline_alone_is_not_called_a_certificate_problem_and_beside_the_handshake_line_the_handshake_wins(
    ) {
        let alone = explain("Error: context deadline exceeded").unwrap();
        assert_eq!(alone.checked_by, CheckedBy::Unknown);
        assert!(!alone.meaning.contains("not a certificate problem"));
        assert!(
            alone.meaning.contains("refused TLS handshake"),
            "{}",
            alone.meaning
        );
        // etcdctl 3.5 prints its retry warning before the error (clientv3/retry_interceptor.go).
        let whole = r#"{"level":"warn","ts":"2026-04-24T09:00:00.000Z","logger":"etcd-client","caller":"v3@v3.5.16/retry_interceptor.go:63","msg":"retrying of unary invoker failed","target":"etcd-endpoints://0xc000024000/127.0.0.1:2379","attempt":0,"error":"rpc error: code = DeadlineExceeded desc = latest balancer error: last connection error: connection error: desc = \"transport: authentication handshake failed: remote error: tls: unknown certificate authority\""}
Error: context deadline exceeded"#;
        let e = explain(whole).unwrap();
        assert_eq!(e.kind, "handshake-refused");
        assert_eq!(e.checked_by, CheckedBy::Server);
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
