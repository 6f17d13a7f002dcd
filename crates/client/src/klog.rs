//! How a Go component's log line and its client-go failures look, and how long to wait before
//! trying again.
//!
//! Shared by every member of staff that dials Alice (scheduler, kube-proxy, controllers).

use std::time::Duration;

use crate::{ClientError, KubeClient, Phase};
use kubecorp_trust::{Event, Stage};
use time::OffsetDateTime;

/// klog's severity letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// A klog header and message: `E1129 09:00:00.000000       1 reflector.go:166] msg`
/// (`Lmmdd hh:mm:ss.uuuuuu threadid file:line]`, with the thread id of PID 1 in a container).
pub fn line(severity: Severity, at: OffsetDateTime, source: &str, message: &str) -> String {
    let letter = match severity {
        Severity::Info => 'I',
        Severity::Warning => 'W',
        Severity::Error => 'E',
    };
    format!(
        "{letter}{:02}{:02} {:02}:{:02}:{:02}.{:06} {:>7} {source}] {message}",
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond(),
        1
    )
}

/// A structured klog message: `"msg" k1="v1" k2="v2"`, values quoted as Go's `%q` does.
pub fn structured(msg: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = quote(msg);
    for (k, v) in pairs {
        out.push(' ');
        out.push_str(k);
        out.push('=');
        out.push_str(&quote(v));
    }
    out
}

/// Go's `url.Error` capitalises the method: `Get`, `Post`, `Patch`.
fn go_method(method: &str) -> String {
    let lower = method.to_ascii_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// Go's `%q`, as klog quotes structured values.
pub use kubecorp_trust::go_quote as quote;

/// client-go's reflector for informers started by a `SharedInformerFactory` (client-go v0.32).
pub const REFLECTOR: &str = "k8s.io/client-go/informers/factory.go:160";

/// The text client-go gives a failed call: the Status message when the server answered
/// (`Unauthorized`, `pods is forbidden: …`), or `Get "https://…": <transport error>`.
pub fn go_error(client: &KubeClient, method: &str, path: &str, err: &ClientError) -> String {
    match err {
        ClientError::Status { .. } => err.text(),
        ClientError::Transport { text, .. } => {
            format!(
                "{} {}: {text}",
                go_method(method),
                quote(&format!("{}{path}", client.server()))
            )
        }
        other => other.to_string(),
    }
}

/// How far a failed call got, for the event's stage.
pub fn stage_of(err: &ClientError) -> Stage {
    match (err.code(), err.phase()) {
        (Some(401), _) => Stage::Authn,
        (Some(403), _) => Stage::Authz,
        (_, Some(Phase::Connect)) => Stage::Tcp,
        (_, Some(Phase::TlsHandshake)) => Stage::Tls,
        _ => Stage::Request,
    }
}

/// The client-go reflector's lines for a list (`list = true`) or a watch that failed. A failed
/// list is first a warning from `ListAndWatch` (`reflector.go:569`), then the watch error
/// handler's `"Unhandled Error" err="…: Failed to watch *v1.Pod: failed to list *v1.Pod: …"`
/// (`reflector.go:166`), one line each, as client-go v0.32 (Kubernetes 1.32) logs them.
pub fn reflector_failure(at: OffsetDateTime, kind: &str, list: bool, go_error: &str) -> String {
    named_reflector_failure(at, REFLECTOR, kind, list, go_error)
}

/// [`reflector_failure`] for a reflector with its own name, e.g. the kubelet's pod source
/// `pkg/kubelet/config/apiserver.go:66`.
pub fn named_reflector_failure(
    at: OffsetDateTime,
    name: &str,
    kind: &str,
    list: bool,
    go_error: &str,
) -> String {
    let inner = if list {
        format!("failed to list {kind}: {go_error}")
    } else {
        go_error.to_owned()
    };
    let error = line(
        Severity::Error,
        at,
        "reflector.go:166",
        &format!(
            "\"Unhandled Error\" err={} logger=\"UnhandledError\"",
            quote(&format!("{name}: Failed to watch {kind}: {inner}"))
        ),
    );
    if !list {
        return error;
    }
    let warning = line(
        Severity::Warning,
        at,
        "reflector.go:569",
        &format!("{name}: {inner}"),
    );
    format!("{warning}\n{error}")
}

/// The badge a component dials with, and how to renew it, for explanations.
#[derive(Clone, Copy, Debug)]
pub struct Badge {
    /// The kubeconfig file: `scheduler.conf`.
    pub file: &'static str,
    /// How to renew it, in a sentence fragment.
    pub renew: &'static str,
}

/// The lab's plain words and fix for a failed call, by what went wrong.
pub fn explain(err: &ClientError, component: &str, badge: Badge) -> (String, String) {
    let kubeconfig = badge.file;
    match (err.code(), err.phase()) {
        (Some(401), _) => (
            format!(
                "Alice (the apiserver) did not accept the badge in {kubeconfig}: its client certificate failed her check (expired, not yet valid, or signed by a CA she does not trust). She answers only 401 Unauthorized; the reason is in her own log."
            ),
            format!(
                "Renew the badge ({}). A real {component} reads its kubeconfig only at start and must be restarted; the lab's {component} re-reads it at every call and recovers at its next retry.",
                badge.renew
            ),
        ),
        (Some(403), _) => (
            format!("Alice knows who the {component} is, but RBAC grants that identity nothing for this request."),
            "Check the ClusterRoleBindings for the badge's CN (`kubectl auth can-i --as …`).".into(),
        ),
        (_, Some(Phase::Connect)) => (
            "Nobody answered at the apiserver's address.".into(),
            "Is the apiserver running, and does the kubeconfig's server point at it?".into(),
        ),
        (_, Some(Phase::TlsHandshake)) => (
            format!("The {component} and Alice could not complete the TLS handshake."),
            format!("Check the CA in {kubeconfig} against the apiserver's serving certificate, and the {component}'s own badge."),
        ),
        _ => (
            format!("The {component}'s call to the apiserver failed."),
            "Look at the apiserver's events for the same moment.".into(),
        ),
    }
}

/// The event a member of staff emits for a call Alice let through: from it to the apiserver,
/// allowed, with the badge it showed. The caller adds what it did and why.
pub fn allowed_call(client: &KubeClient, at: OffsetDateTime) -> Event {
    Event::new(at, client.component(), "apiserver", Stage::Request)
        .allowed(true)
        .identity(client.identity())
}

/// The event a member of staff emits when its call to Alice failed: from it to the apiserver,
/// stopped at the stage the call reached, with the badge it showed and the lab's words and fix
/// ([`explain`]). The caller adds what its client printed, the line it logs and the detail.
pub fn failed_call(
    client: &KubeClient,
    at: OffsetDateTime,
    badge: Badge,
    err: &ClientError,
) -> Event {
    let (explanation, hint) = explain(err, client.component(), badge);
    Event::new(at, client.component(), "apiserver", stage_of(err))
        .identity(client.identity())
        .explanation(explanation)
        .hint(hint)
}

/// Exponential backoff in real time: 100 ms, doubling, at most 5 s; `reset` after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

/// The first wait after a failure.
pub const BACKOFF_START: Duration = Duration::from_millis(100);
/// The longest wait between two tries.
pub const BACKOFF_CAP: Duration = Duration::from_secs(5);

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: BACKOFF_START,
        }
    }
}

impl Backoff {
    /// How long to wait now; the wait after it is twice as long, up to the cap.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(BACKOFF_CAP);
        wait
    }

    pub fn reset(&mut self) {
        self.next = BACKOFF_START;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_klog_header_pads_the_thread_id_to_seven_columns() {
        assert_eq!(
            line(
                Severity::Error,
                datetime!(2026-11-29 09:00:00.000001 UTC),
                "reflector.go:166",
                "x"
            ),
            "E1129 09:00:00.000001       1 reflector.go:166] x"
        );
    }

    #[test]
    fn a_list_failure_reads_as_client_go_v0_32_logs_it() {
        assert_eq!(
            reflector_failure(
                datetime!(2026-11-29 09:00:00 UTC),
                "*v1.Pod",
                true,
                "Unauthorized"
            ),
            "W1129 09:00:00.000000       1 reflector.go:569] k8s.io/client-go/informers/factory.go:160: failed to list *v1.Pod: Unauthorized\n\
             E1129 09:00:00.000000       1 reflector.go:166] \"Unhandled Error\" err=\"k8s.io/client-go/informers/factory.go:160: Failed to watch *v1.Pod: failed to list *v1.Pod: Unauthorized\" logger=\"UnhandledError\""
        );
    }

    // The shape of a real kubelet's lines (Kubernetes 1.32, `pkg/kubelet/config/apiserver.go:66`,
    // reflector.go:569 then :166), here with the list URL a kubelet sends for its pods.
    #[test]
    fn the_kubelets_pod_source_names_itself_and_the_list_url_in_both_lines() {
        let go = "Get \"https://127.0.0.1:6443/api/v1/pods?fieldSelector=spec.nodeName%3Dnode1&limit=500&resourceVersion=0\": tls: failed to verify certificate: x509: certificate signed by unknown authority";
        let lines = named_reflector_failure(
            datetime!(2026-11-29 09:00:00 UTC),
            "pkg/kubelet/config/apiserver.go:66",
            "*v1.Pod",
            true,
            go,
        );
        let lines: Vec<&str> = lines.lines().collect();
        assert_eq!(
            lines[0],
            format!("W1129 09:00:00.000000       1 reflector.go:569] pkg/kubelet/config/apiserver.go:66: failed to list *v1.Pod: {go}")
        );
        assert!(lines[1].starts_with("E1129 09:00:00.000000       1 reflector.go:166] \"Unhandled Error\" err=\"pkg/kubelet/config/apiserver.go:66: Failed to watch *v1.Pod: failed to list *v1.Pod: Get \\\"https://127.0.0.1:6443/api/v1/pods?fieldSelector=spec.nodeName%3Dnode1&limit=500&resourceVersion=0\\\": tls:"), "{}", lines[1]);
        assert!(
            lines[1].ends_with("\" logger=\"UnhandledError\""),
            "{}",
            lines[1]
        );
        assert_eq!(lines.len(), 2);
    }

    #[test]
    fn a_transport_failure_reads_as_go_net_http_wraps_it() {
        let client = KubeClient::new(
            "scheduler",
            "https://127.0.0.1:6443",
            None,
            kubecorp_trust::tls::TrustSource::bundle("/nonexistent/ca.crt"),
            kubecorp_trust::LabClock::real(),
            kubecorp_trust::Events::new(),
        )
        .unwrap();
        let err = ClientError::Transport {
            from: "scheduler".into(),
            to: "apiserver".into(),
            addr: "127.0.0.1:6443".into(),
            phase: Phase::TlsHandshake,
            text:
                "tls: failed to verify certificate: x509: certificate signed by unknown authority"
                    .into(),
            verdict: None,
        };
        let path = "/api/v1/pods?limit=500&resourceVersion=0";
        assert_eq!(
            go_error(&client, "Get", path, &err),
            "Get \"https://127.0.0.1:6443/api/v1/pods?limit=500&resourceVersion=0\": tls: failed to verify certificate: x509: certificate signed by unknown authority"
        );
        assert_eq!(stage_of(&err), Stage::Tls);
    }

    #[test]
    fn backoff_doubles_up_to_five_seconds_and_starts_over_after_a_success() {
        let mut b = Backoff::default();
        let waits: Vec<u128> = (0..8).map(|_| b.next_wait().as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        b.reset();
        assert_eq!(b.next_wait(), BACKOFF_START);
    }
}
