//! `kubectl logs`: Alice walks to the CEO's desk and asks for a container's log.
//!
//! `GET /api/v1/namespaces/NS/pods/NAME/log?container=C` is answered the way kube-apiserver's
//! `LogLocation` answers it: find the pod, pick its container (the only one, or the one named),
//! find the node it is bound to, dial that node's kubelet at its InternalIP (kubeadm sets
//! `--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname`) on the port the Node
//! reports (`status.daemonEndpoints.kubeletEndpoint.Port`), and `GET
//! /containerLogs/NS/NAME/C` there.
//!
//! On that hop Alice shows `apiserver-kubelet-client` (`--kubelet-client-certificate`), and she
//! does **not** check the kubelet's serving certificate, because kubeadm sets no
//! `--kubelet-certificate-authority`. The kubelet checks her badge against `ca.crt` and asks her,
//! by SubjectAccessReview, whether `kube-apiserver-kubelet-client` may use `nodes/proxy`.
//!
//! What goes wrong, in kube-apiserver's words:
//!
//! - the dial or handshake fails: `500` with no reason and the Go client error as the message,
//!   `Get "https://IP:PORT/containerLogs/NS/POD/C": remote error: tls: internal error`, which
//!   kubectl prints as `Error from server: Get "…": remote error: tls: internal error`;
//! - the kubelet answers an error: its text wrapped as apimachinery's
//!   `NewGenericServerResponse` wraps it, e.g. `Forbidden (user=…) ( pods/log web)`;
//! - the pod is not bound to a node yet: an empty log (`200`, no body), as `LogLocation`
//!   returns no location.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use kubecorp_client::dial::{dial, Dialed, Hop};
use kubecorp_client::Phase;
use kubecorp_trust::tls::{client_error_text, is_alert, CertSource};
use kubecorp_trust::{Event, Events, LabClock, Stage};
use serde_json::Value;

use crate::api::ApiResponse;
use crate::request::query_param;
use crate::status::{self, Details, Status};
use crate::store::{Store, StoreError};

/// The kubelet port when a Node does not report one.
pub const DEFAULT_KUBELET_PORT: u16 = 10250;
/// How long dialling a kubelet may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(30);
/// kube-apiserver reads at most this much of a kubelet's error body.
const MAX_ERROR_BODY: usize = 4 * 1024;
/// The most log text relayed in one answer.
const MAX_LOG: usize = 16 * 1024 * 1024;

/// `--kubelet-client-certificate`/`--kubelet-client-key`: the badge Alice shows kubelets, and
/// the event stream the hop reports to.
#[derive(Clone, Debug)]
pub struct KubeletClientConfig {
    /// `pki/apiserver-kubelet-client.{crt,key}`, re-read when they change on disk.
    pub cert: CertSource,
    pub events: Events,
}

/// A Status exactly as kube-apiserver writes it; an empty reason is left out (Go's
/// `omitempty`), which is what makes kubectl print `Error from server: …` with no parenthesis.
fn status_body(code: u16, reason: &str, message: String, details: Option<Details>) -> ApiResponse {
    let status = Status {
        kind: "Status".into(),
        api_version: "v1".into(),
        metadata: serde_json::Map::new(),
        status: "Failure".into(),
        message,
        reason: reason.into(),
        details,
        code,
    };
    let mut body = status.to_json();
    if reason.is_empty() {
        body = body.replacen(",\"reason\":\"\"", "", 1);
    }
    ApiResponse::Full {
        status: code,
        content_type: "application/json".into(),
        body: body.into_bytes(),
    }
}

fn from_pair((code, body): (u16, String)) -> ApiResponse {
    ApiResponse::Full {
        status: code,
        content_type: "application/json".into(),
        body: body.into_bytes(),
    }
}

fn plain(body: Vec<u8>) -> ApiResponse {
    ApiResponse::Full {
        status: 200,
        content_type: "text/plain".into(),
        body,
    }
}

/// apimachinery's `NewGenericServerResponse(code, "", pods/log, name, body)`, which is how
/// kube-apiserver relays a kubelet's refusal.
pub fn relayed_error(code: u16, name: &str, body: &str) -> ApiResponse {
    let body = body.trim_end_matches('\n');
    match code {
        400 => return from_pair(status::bad_request(body)),
        500 => {
            return status_body(
                500,
                "InternalError",
                format!("Internal error occurred: {body}"),
                None,
            )
        }
        _ => {}
    }
    let (reason, message) = match code {
        409 => ("Conflict", "the server reported a conflict".to_string()),
        404 => (
            "NotFound",
            "the server could not find the requested resource".to_string(),
        ),
        401 => (
            "Unauthorized",
            "the server has asked for the client to provide credentials".to_string(),
        ),
        403 => ("Forbidden", body.to_string()),
        405 => (
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource".to_string(),
        ),
        503 => (
            "ServiceUnavailable",
            "the server is currently unable to handle the request".to_string(),
        ),
        c if c >= 500 => (
            "InternalError",
            format!(
                "an error on the server ({}) has prevented the request from succeeding",
                status::go_quote(body)
            ),
        ),
        c => (
            "",
            format!(
                "the server responded with the status code {c} but did not return more information"
            ),
        ),
    };
    status_body(
        code,
        reason,
        format!("{message} ( pods/log {name})"),
        Some(Details {
            name: name.into(),
            kind: "pods/log".into(),
            ..Default::default()
        }),
    )
}

/// `kubectl logs`: the pod's container log, fetched from its node's kubelet.
pub async fn pod_log(
    store: &Store,
    clock: &LabClock,
    kubelet_client: Option<KubeletClientConfig>,
    namespace: &str,
    name: &str,
    query: &str,
) -> Result<ApiResponse, StoreError> {
    let pods = crate::registry::find("", "v1", "pods").expect("pods are registered");
    let Some(stored) = store.get(&pods.key(Some(namespace), name)).await? else {
        return Ok(from_pair(status::not_found("pods", "", name)));
    };
    let pod = stored.value;
    let container = match pick_container(&pod, name, query_param(query, "container")) {
        Ok(c) => c,
        Err(message) => return Ok(from_pair(status::bad_request(&message))),
    };
    let node_name = pod["spec"]["nodeName"].as_str().unwrap_or("");
    if node_name.is_empty() {
        // LogLocation returns no location for an unscheduled pod: an empty log.
        return Ok(plain(Vec::new()));
    }
    let nodes = crate::registry::find("", "v1", "nodes").expect("nodes are registered");
    let Some(node) = store.get(&nodes.key(None, node_name)).await? else {
        return Ok(from_pair(status::not_found("nodes", "", node_name)));
    };
    let node = node.value;
    let Some(ip) = internal_ip(&node) else {
        let known: Vec<String> = node["status"]["addresses"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        format!(
                            "{{{} {}}}",
                            x["type"].as_str().unwrap_or(""),
                            x["address"].as_str().unwrap_or("")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        return Ok(status_body(
            500,
            "",
            format!(
                "no preferred addresses found; known addresses: [{}]",
                known.join(" ")
            ),
            None,
        ));
    };
    let port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p > 0)
        .unwrap_or(DEFAULT_KUBELET_PORT);
    let Some(kubelet_client) = kubelet_client else {
        return Ok(status_body(
            500,
            "",
            "the apiserver has no kubelet client certificate (--kubelet-client-certificate/--kubelet-client-key are not set), so it cannot reach kubelets".into(),
            None,
        ));
    };
    let path = format!(
        "/containerLogs/{namespace}/{name}/{container}{}",
        kubelet_query(query)
    );
    let host = if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.clone()
    };
    let url = format!("https://{host}:{port}{path}");
    match fetch(&kubelet_client, clock, &ip, port, &path).await {
        Ok((200..=206, body)) => Ok(plain(body.to_vec())),
        Ok((code, body)) => {
            let text =
                String::from_utf8_lossy(&body[..body.len().min(MAX_ERROR_BODY)]).into_owned();
            Ok(relayed_error(code, name, &text))
        }
        Err((stage, text)) => {
            let message = format!("Get \"{url}\": {text}");
            kubelet_client.events.emit(
                Event::new(clock.now(), "apiserver", "kubelet", stage)
                    .client_text(format!("Error from server: {message}"))
                    .detail(format!("GET {path}"))
                    .explanation(format!(
                        "Alice could not reach the kubelet of node {node_name} to fetch the log"
                    )),
            );
            Ok(status_body(500, "", message, None))
        }
    }
}

/// `LogLocation`'s container choice, with its error texts.
fn pick_container(pod: &Value, name: &str, asked: Option<String>) -> Result<String, String> {
    let names: Vec<&str> = pod["spec"]["containers"]
        .as_array()
        .map(|cs| cs.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    match asked.filter(|c| !c.is_empty()) {
        Some(c) if names.contains(&c.as_str()) => Ok(c),
        Some(c) => Err(format!("container {c} is not valid for pod {name}")),
        None => match names.as_slice() {
            [only] => Ok((*only).to_owned()),
            [] => Err(format!("a container name must be specified for pod {name}")),
            many => Err(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                many.join(" ")
            )),
        },
    }
}

fn internal_ip(node: &Value) -> Option<String> {
    let addresses = node["status"]["addresses"].as_array()?;
    ["InternalIP", "ExternalIP", "Hostname"]
        .iter()
        .find_map(|kind| {
            addresses
                .iter()
                .find(|a| a["type"] == *kind)
                .and_then(|a| a["address"].as_str())
                .map(str::to_owned)
        })
}

/// The log options kube-apiserver passes on to the kubelet, in `url.Values.Encode` order.
fn kubelet_query(query: &str) -> String {
    let mut params: Vec<(String, String)> = Vec::new();
    for key in [
        "follow",
        "limitBytes",
        "previous",
        "sinceSeconds",
        "sinceTime",
        "tailLines",
        "timestamps",
    ] {
        if let Some(v) = query_param(query, key) {
            if matches!(key, "follow" | "previous" | "timestamps") && v != "true" {
                continue;
            }
            params.push((key.to_owned(), v));
        }
    }
    if params.is_empty() {
        return String::new();
    }
    let encoded: Vec<String> = params
        .into_iter()
        .map(|(k, v)| format!("{k}={}", query_escape(&v)))
        .collect();
    format!("?{}", encoded.join("&"))
}

/// Go's `url.QueryEscape`: unreserved bytes as they are, a space as `+`, the rest `%XX`.
fn query_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// One GET to a kubelet over TLS with Alice's kubelet-client badge: the status and body, or the
/// Go client's words for why the connection failed.
async fn fetch(
    client: &KubeletClientConfig,
    clock: &LabClock,
    ip: &str,
    port: u16,
    path: &str,
) -> Result<(u16, Bytes), (Stage, String)> {
    let addr = if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    };
    // kubeadm sets no --kubelet-certificate-authority: Alice takes any serving badge.
    let hop = Hop {
        from: "apiserver",
        host: ip,
        port,
        server_name: None,
        identity: Some(client.cert.clone()),
        trust: None,
        clock,
        events: &client.events,
        connect_timeout: DIAL_TIMEOUT,
        handshake_timeout: DIAL_TIMEOUT,
    };
    let Dialed {
        mut sender,
        driver,
        notes,
    } = dial(hop).await.map_err(|failed| match failed.phase {
        Phase::Connect => (Stage::Tcp, failed.text),
        // Whatever breaks after the TCP connect counts as the handshake, as before.
        Phase::TlsHandshake | Phase::Request => (Stage::Tls, failed.text),
    })?;
    let request = hyper::Request::builder()
        .method("GET")
        .uri(path)
        .header(hyper::header::HOST, &addr)
        .header(
            hyper::header::USER_AGENT,
            "kube-apiserver/v1.32.0 (linux/amd64) kubecorp",
        )
        .body(Full::new(Bytes::new()))
        .map_err(|e| (Stage::Request, e.to_string()))?;
    // The kubelet's address comes from a Node object: whoever answers there may never reply.
    let exchange = async {
        let response = match sender.send_request(request).await {
            Ok(r) => r,
            Err(e) => return Err(e),
        };
        let code = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_LOG)
            .collect()
            .await
            .map_err(|e| (Stage::Request, e.to_string()));
        Ok(body.map(|b| (code, b.to_bytes())))
    };
    let answered = match tokio::time::timeout(EXCHANGE_TIMEOUT, exchange).await {
        Ok(answered) => answered,
        Err(_) => {
            driver.abort();
            return Err((
                Stage::Request,
                "net/http: timeout awaiting response headers".into(),
            ));
        }
    };
    match answered {
        Ok(result) => result,
        Err(e) => {
            let cause = driver.await.ok().and_then(Result::err);
            let text = match &cause {
                Some(conn_err) => client_error_text(conn_err, &notes),
                None => client_error_text(&e, &notes),
            };
            let stage = if cause.as_ref().is_some_and(|c| is_alert(c)) {
                Stage::Tls
            } else {
                Stage::Request
            };
            Err((stage, text))
        }
    }
}

/// How long a kubelet may take to answer once the connection is up.
const EXCHANGE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn log_options_reach_the_kubelet_escaped_so_they_cannot_smuggle_others() {
        assert_eq!(
            kubelet_query("tailLines=1%26previous%3Dtrue&container=web"),
            "?tailLines=1%26previous%3Dtrue"
        );
        assert_eq!(
            kubelet_query("sinceTime=2026-11-29T09:00:00Z&timestamps=true"),
            "?sinceTime=2026-11-29T09%3A00%3A00Z&timestamps=true"
        );
    }

    #[test]
    fn a_pod_with_two_containers_needs_one_named_in_the_apiservers_words() {
        let pod = json!({"spec": {"containers": [{"name": "web"}, {"name": "sidecar"}]}});
        assert_eq!(
            pick_container(&pod, "web", None).unwrap_err(),
            "a container name must be specified for pod web, choose one of: [web sidecar]"
        );
        assert_eq!(
            pick_container(&pod, "web", Some("db".into())).unwrap_err(),
            "container db is not valid for pod web"
        );
        assert_eq!(
            pick_container(&pod, "web", Some("sidecar".into())).unwrap(),
            "sidecar"
        );
    }

    #[test]
    fn a_kubelet_refusal_is_relayed_as_apimachinery_wraps_it() {
        let ApiResponse::Full { status, body, .. } = relayed_error(
            403,
            "web",
            "Forbidden (user=kube-apiserver-kubelet-client, verb=get, resource=nodes, subresource(s)=[proxy])",
        ) else {
            unreachable!()
        };
        assert_eq!(status, 403);
        let s = Status::parse(std::str::from_utf8(&body).unwrap()).unwrap();
        assert_eq!(s.reason, "Forbidden");
        assert_eq!(
            s.message,
            "Forbidden (user=kube-apiserver-kubelet-client, verb=get, resource=nodes, subresource(s)=[proxy]) ( pods/log web)"
        );
    }

    #[test]
    fn a_failed_dial_is_a_500_without_a_reason() {
        let ApiResponse::Full { body, .. } =
            status_body(500, "", "Get \"https://x\": EOF".into(), None)
        else {
            unreachable!()
        };
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Get \"https://x\": EOF","code":500}"#
        );
    }

    fn body(response: ApiResponse) -> (u16, String) {
        match response {
            ApiResponse::Full { status, body, .. } => (status, String::from_utf8(body).unwrap()),
            ApiResponse::Watch { .. } => unreachable!(),
        }
    }

    async fn store_with(pod: Value, node: Option<Value>) -> Store {
        let store = Store::memory();
        store
            .create("/registry/pods/default/web", &pod)
            .await
            .unwrap();
        if let Some(node) = node {
            store.create("/registry/nodes/n1", &node).await.unwrap();
        }
        store
    }

    #[tokio::test]
    async fn a_pod_not_yet_bound_to_a_node_has_an_empty_log() {
        let store = store_with(
            json!({"metadata": {"name": "web", "namespace": "default"},
                   "spec": {"containers": [{"name": "web"}]}}),
            None,
        )
        .await;
        let clock = LabClock::real();
        let got = pod_log(&store, &clock, None, "default", "web", "")
            .await
            .unwrap();
        assert_eq!(body(got), (200, String::new()));
        let missing = pod_log(&store, &clock, None, "default", "db", "")
            .await
            .unwrap();
        let (code, text) = body(missing);
        assert_eq!(code, 404);
        assert!(
            text.contains(r#""message":"pods \"db\" not found""#),
            "{text}"
        );
    }

    #[tokio::test]
    async fn without_a_kubelet_client_badge_the_apiserver_says_it_cannot_reach_kubelets() {
        let store = store_with(
            json!({"metadata": {"name": "web", "namespace": "default"},
                   "spec": {"nodeName": "n1", "containers": [{"name": "web"}]}}),
            Some(json!({"metadata": {"name": "n1"}, "status": {
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 1}}}})),
        )
        .await;
        let (code, text) = body(
            pod_log(
                &store,
                &LabClock::real(),
                None,
                "default",
                "web",
                "container=web",
            )
            .await
            .unwrap(),
        );
        assert_eq!(code, 500);
        assert!(text.contains("--kubelet-client-certificate"), "{text}");
        assert!(!text.contains("\"reason\""), "{text}");
    }

    #[test]
    fn log_options_are_passed_on_to_the_kubelet() {
        assert_eq!(kubelet_query("container=web"), "");
        assert_eq!(kubelet_query("container=web&tailLines=2"), "?tailLines=2");
    }
}
