//! Charlie's vault door, judged by a real etcd: the same visitors are sent to the lab's etcd and
//! to `/usr/bin/etcd` (Debian's 3.4.23) started with kubeadm's TLS flags, and both must let in,
//! turn away and log alike. Then the lab's etcd alone, for what a real one cannot be made to do
//! on demand (an expired badge on the lab clock, a kept connection cut under a request).

use std::net::SocketAddr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::Method;
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use kubecorp_etcd::Release;
use kubecorp_etcd::{EtcdClient, EtcdConfig, Phase, TxnOutcome};
use kubecorp_trust::tls::GoAlerts;
use kubecorp_trust::{go_time, Event, Events, LabClock, Stage, VerdictKind};

// ----- the lab ---------------------------------------------------------------------------------

mod common;
use common::{transport_text, RealEtcd, TestLab, UNKNOWN_CA_LOG, UNKNOWN_CA_LOG_3_5};

// ----- the lab's etcd --------------------------------------------------------------------------

struct Mock {
    endpoint: String,
    events: Events,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), kubecorp_etcd::EtcdError>>>,
}

impl Mock {
    async fn start(lab: &TestLab, release: Release) -> Mock {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("https://{}", listener.local_addr().unwrap());
        let events = Events::new();
        let mut config = EtcdConfig::new(
            "etcd",
            lab.pem("etcd/server"),
            lab.etcd_ca(),
            lab.clock.clone(),
            events.clone(),
        );
        config.release = release;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(kubecorp_etcd::run(config, listener, async {
            let _ = stopped.await;
        }));
        Mock {
            endpoint,
            events,
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.endpoint
            .trim_start_matches("https://")
            .parse()
            .unwrap()
    }

    /// The server log lines the lab's etcd wrote, waiting briefly for one containing `needle`.
    async fn log_with(&self, needle: &str) -> Vec<String> {
        kubecorp_testkit::server_log_with(&self.events, needle).await
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
    }
}

// ----- the real etcd ---------------------------------------------------------------------------

fn b64(s: &str) -> String {
    STANDARD.encode(s)
}

/// An answer with the member's random IDs taken out, so two etcds compare equal.
async fn answer(client: &EtcdClient, path: &str, body: &str) -> (u16, Value) {
    let (status, bytes) = client
        .request(Method::POST, path, body.as_bytes().to_vec())
        .await
        .unwrap();
    let mut value: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    if let Some(header) = value.get_mut("header").and_then(Value::as_object_mut) {
        header.remove("cluster_id");
        header.remove("member_id");
    }
    (status.as_u16(), value)
}

const NO_CERT_LOG: &str = r#"(error "tls: client didn't provide a certificate", ServerName "")"#;

// ----- judged by the real etcd ----------------------------------------------------------------

#[tokio::test]
async fn the_lab_etcd_answers_the_apiserver_etcd_client_with_the_same_json_as_real_etcd() {
    let lab = TestLab::new();
    let Some(real) = RealEtcd::start(
        &lab,
        "the_lab_etcd_answers_the_apiserver_etcd_client_with_the_same_json_as_real_etcd",
    )
    .await
    else {
        return;
    };
    let mock = Mock::start(&lab, real.release).await;
    let to_real = lab.client(&real.client_url, lab.apiserver_etcd_client());
    let to_mock = lab.client(&mock.endpoint, lab.apiserver_etcd_client());

    let requests: Vec<(&str, String)> = vec![
        ("/v3/kv/put", json!({"key": b64("foo"), "value": b64("bar")}).to_string()),
        ("/v3/kv/put", json!({"key": b64("foo"), "value": b64("baz"), "prev_kv": true}).to_string()),
        ("/v3/kv/range", json!({"key": b64("foo")}).to_string()),
        ("/v3/kv/range", json!({"key": b64("nope")}).to_string()),
        ("/v3/kv/put", json!({"key": b64("/registry/pods/a"), "value": ""}).to_string()),
        ("/v3/kv/put", json!({"key": b64("/registry/pods/b"), "value": b64("x")}).to_string()),
        ("/v3/kv/range", json!({"key": b64("/registry/pods/"), "range_end": b64("/registry/pods0"), "limit": 1}).to_string()),
        ("/v3/kv/range", json!({"key": b64("/registry/"), "range_end": b64("/registry0"), "count_only": true}).to_string()),
        ("/v3/kv/range", json!({"key": "AA==", "range_end": "AA==", "keys_only": true}).to_string()),
        ("/v3/kv/txn", json!({
            "compare": [{"key": b64("foo"), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}],
            "success": [{"request_put": {"key": b64("foo"), "value": b64("new")}}],
            "failure": [{"request_range": {"key": b64("foo")}}],
        }).to_string()),
        ("/v3/kv/txn", json!({
            "compare": [{"key": b64("foo"), "target": "MOD", "result": "EQUAL", "mod_revision": "3"}],
            "success": [{"request_put": {"key": b64("foo"), "value": b64("cas")}}, {"request_delete_range": {"key": b64("zzz")}}],
        }).to_string()),
        ("/v3/kv/deleterange", json!({"key": b64("/registry/pods/"), "range_end": b64("/registry/pods0"), "prev_kv": true}).to_string()),
        ("/v3/kv/deleterange", json!({"key": b64("gone")}).to_string()),
        ("/v3/kv/put", "{bad".to_owned()),
        ("/v3/kv/put", r#"{"key":5}"#.to_owned()),
        ("/v3/kv/put", r#"{"key":"Zm9v=","value":""}"#.to_owned()),
        ("/v3/kv/range", r#"{"key":"YQ==","limit":2.5}"#.to_owned()),
        ("/v3/kv/put", String::new()),
        ("/v3/kv/txn", json!({"success": [{"request_put": {"key": b64("d")}}, {"request_put": {"key": b64("d")}}]}).to_string()),
        ("/v3/kv/txn", json!({"compare": [{"key": b64("d"), "target": "NOPE", "result": "EQUAL"}]}).to_string()),
        // Go's encoding/json stops at 10,000 levels: deeper is refused, as deep is read.
        ("/v3/kv/range", "[".repeat(100_000)),
        ("/v3/kv/range", format!(r#"{{"x":{}1{},"key":"{}"}}"#, "[".repeat(9_999), "]".repeat(9_999), b64("foo"))),
        ("/v3/kv/range", format!(r#"{{"x":{}1{},"key":"{}"}}"#, "[".repeat(10_000), "]".repeat(10_000), b64("foo"))),
    ];
    for (path, body) in &requests {
        let from_real = answer(&to_real, path, body).await;
        let from_mock = answer(&to_mock, path, body).await;
        assert_eq!(from_mock, from_real, "POST {path} {body}");
    }
    mock.stop().await;
}

#[tokio::test]
async fn the_lab_etcd_and_real_etcd_both_reject_a_cluster_ca_badge_in_the_handshake_and_log_it_alike(
) {
    let lab = TestLab::new();
    let test = "the_lab_etcd_and_real_etcd_both_reject_a_cluster_ca_badge_in_the_handshake_and_log_it_alike";
    let Some(real) = RealEtcd::start(&lab, test).await else {
        return;
    };
    let mock = Mock::start(&lab, real.release).await;

    let from_real = lab
        .client(&real.client_url, lab.admin())
        .health()
        .await
        .unwrap_err();
    let from_mock = lab
        .client(&mock.endpoint, lab.admin())
        .health()
        .await
        .unwrap_err();

    // The real one wins: its Go decides the alert (Go 1.19 → bad certificate, ≥ 1.21 →
    // unknown certificate authority), and the lab's etcd, told which Go, says the same.
    let expected = match real.alerts {
        GoAlerts::BadCertificateOnly => "remote error: tls: bad certificate",
        GoAlerts::Specific => "remote error: tls: unknown certificate authority",
    };
    assert_eq!(transport_text(&from_real), expected);
    assert_eq!(transport_text(&from_mock), expected);
    assert_eq!(from_mock.phase(), Some(Phase::TlsHandshake));
    assert_eq!(
        from_mock.to_string(),
        format!("apiserver → etcd: TLS handshake: {expected}")
    );

    for log in [
        real.log_with(UNKNOWN_CA_LOG).await,
        mock.log_with(UNKNOWN_CA_LOG).await,
    ] {
        assert!(
            log.iter().any(
                |line| line.contains(r#"rejected connection from "127.0.0.1:"#)
                    && line.ends_with(UNKNOWN_CA_LOG)
            ),
            "no rejection line in {log:#?}"
        );
    }
    mock.stop().await;
}

#[tokio::test]
async fn the_lab_etcd_and_real_etcd_both_reject_a_visitor_without_a_badge_and_log_it_alike() {
    let lab = TestLab::new();
    let test = "the_lab_etcd_and_real_etcd_both_reject_a_visitor_without_a_badge_and_log_it_alike";
    let Some(real) = RealEtcd::start(&lab, test).await else {
        return;
    };
    let mock = Mock::start(&lab, real.release).await;

    let from_real = lab
        .client(&real.client_url, None)
        .health()
        .await
        .unwrap_err();
    let from_mock = lab.client(&mock.endpoint, None).health().await.unwrap_err();

    // A known difference: rustls always answers a missing client badge with
    // certificate_required, as Go ≥ 1.21 does on TLS 1.3; Go 1.19 (Debian's etcd) sends
    // bad_certificate.
    let real_expected = match real.alerts {
        GoAlerts::BadCertificateOnly => "remote error: tls: bad certificate",
        GoAlerts::Specific => "remote error: tls: certificate required",
    };
    assert_eq!(transport_text(&from_real), real_expected);
    assert_eq!(
        transport_text(&from_mock),
        "remote error: tls: certificate required"
    );
    assert_eq!(from_real.phase(), Some(Phase::TlsHandshake));
    assert_eq!(from_mock.phase(), Some(Phase::TlsHandshake));

    for log in [
        real.log_with(NO_CERT_LOG).await,
        mock.log_with(NO_CERT_LOG).await,
    ] {
        assert!(
            log.iter().any(
                |line| line.contains(r#"rejected connection from "127.0.0.1:"#)
                    && line.ends_with(NO_CERT_LOG)
            ),
            "no rejection line in {log:#?}"
        );
    }
    mock.stop().await;
}

// ----- the lab's etcd alone -------------------------------------------------------------------

#[tokio::test]
async fn etcd_rejects_a_badge_signed_by_the_cluster_ca_at_the_handshake() {
    let lab = TestLab::new();
    let mock = Mock::start(&lab, Release::default()).await;

    let err = lab
        .client(&mock.endpoint, lab.admin())
        .health()
        .await
        .unwrap_err();

    assert_eq!(
        err.to_string(),
        "apiserver → etcd: TLS handshake: remote error: tls: unknown certificate authority"
    );
    assert_eq!(
        err.grpc_text().unwrap(),
        "transport: authentication handshake failed: remote error: tls: unknown certificate authority"
    );
    let log = mock.log_with(UNKNOWN_CA_LOG_3_5).await;
    assert!(
        log.iter().any(|l| l.contains(
            r#""caller":"embed/config_logging.go:170","msg":"rejected connection on client endpoint","remote-addr":"127.0.0.1:"#
        ) && l.ends_with(UNKNOWN_CA_LOG_3_5)),
        "{log:#?}"
    );
    let rejected: Event = mock
        .events
        .snapshot()
        .into_iter()
        .find(|e| e.stage == Stage::Tls && !e.allowed)
        .unwrap();
    assert_eq!(rejected.verdict, Some(VerdictKind::UnknownAuthority));
    assert_eq!(
        rejected.client_text.as_deref(),
        Some("remote error: tls: unknown certificate authority")
    );
    assert_eq!(rejected.identity.unwrap().cn, "kubernetes-admin");
    mock.stop().await;
}

#[tokio::test]
async fn etcd_logs_the_server_name_the_visitor_asked_for() {
    let lab = TestLab::new();
    let mock = Mock::start(&lab, Release::default()).await;
    let endpoint = format!("https://localhost:{}", mock.addr().port());

    lab.client(&endpoint, lab.admin())
        .health()
        .await
        .unwrap_err();

    let log = mock.log_with(r#""server-name":"localhost""#).await;
    assert!(
        log.iter().any(|l| l.ends_with(
            r#""server-name":"localhost","error":"tls: failed to verify certificate: x509: certificate signed by unknown authority"}"#
        )),
        "{log:#?}"
    );
    mock.stop().await;
}

#[tokio::test]
async fn etcd_rejects_the_apiserver_badge_once_the_lab_clock_passes_its_not_after() {
    let lab = TestLab::new();
    let mock = Mock::start(&lab, Release::default()).await;
    let not_after = kubecorp_pki::cert::read_cert(&lab.lab.cert_path("apiserver-etcd-client"))
        .unwrap()
        .not_after;
    let late = not_after + Duration::seconds(1);
    // etcd's clock moves on; the apiserver's stays in the present, so it still trusts etcd's
    // own (equally old) badge and only etcd's verdict is tested.
    lab.clock.set(late);
    let client = EtcdClient::new(
        &mock.endpoint,
        lab.apiserver_etcd_client(),
        lab.etcd_ca(),
        LabClock::fixed(OffsetDateTime::now_utc()),
        Events::new(),
    )
    .unwrap();

    let err = client.health().await.unwrap_err();

    assert_eq!(
        err.to_string(),
        "apiserver → etcd: TLS handshake: remote error: tls: expired certificate"
    );
    let expected = format!(
        r#""error":"tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time {} is after {}"}}"#,
        go_time(late),
        go_time(not_after)
    );
    let log = mock.log_with(&expected).await;
    assert!(log.iter().any(|l| l.ends_with(&expected)), "{log:#?}");
    mock.stop().await;
}

#[tokio::test]
async fn the_apiserver_refuses_an_etcd_badge_the_lab_clock_has_expired_in_gos_words() {
    let lab = TestLab::new();
    let mock = Mock::start(&lab, Release::default()).await;
    let not_after = kubecorp_pki::cert::read_cert(&lab.lab.cert_path("etcd/server"))
        .unwrap()
        .not_after;
    let late = not_after + Duration::seconds(1);
    lab.clock.set(late);

    let err = lab
        .client(&mock.endpoint, lab.apiserver_etcd_client())
        .health()
        .await
        .unwrap_err();

    assert_eq!(
        err.to_string(),
        format!(
            "apiserver → etcd: TLS handshake: tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time {} is after {}",
            go_time(late),
            go_time(not_after)
        )
    );
    assert_eq!(
        err.grpc_text().unwrap(),
        format!(
            "transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time {} is after {}",
            go_time(late),
            go_time(not_after)
        )
    );
    mock.stop().await;
}

#[tokio::test]
async fn bytes_that_are_not_tls_are_logged_and_the_vault_keeps_serving() {
    let lab = TestLab::new();
    let mock = Mock::start(&lab, Release::default()).await;

    let mut plain = TcpStream::connect(mock.addr()).await.unwrap();
    plain
        .write_all(b"GET /health HTTP/1.1\r\nHost: etcd\r\n\r\n")
        .await
        .unwrap();
    let mut reply = Vec::new();
    let _ = plain.read_to_end(&mut reply).await;
    drop(TcpStream::connect(mock.addr()).await.unwrap());

    let client = lab.client(&mock.endpoint, lab.apiserver_etcd_client());
    assert!(client.health().await.unwrap());
    let log = mock.log_with(r#""error":"EOF"}"#).await;
    assert!(
        log.iter().any(|l| l.ends_with(
            r#""server-name":"","error":"tls: first record does not look like a TLS handshake"}"#
        )),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|l| l.ends_with(r#""server-name":"","error":"EOF"}"#)),
        "{log:#?}"
    );
    mock.stop().await;
}

#[tokio::test]
async fn a_prefix_range_returns_only_the_keys_under_the_prefix_in_key_order() {
    let lab = TestLab::new();
    let mock = Mock::start(&lab, Release::default()).await;
    let client = lab.client(&mock.endpoint, lab.apiserver_etcd_client());
    for key in [
        "/registry/pods/default/b",
        "/registry/pods/default/a",
        "/registry/podsx",
        "/registry/services/x",
    ] {
        client.put(key.as_bytes(), b"{}").await.unwrap();
    }

    let found = client.range_prefix(b"/registry/pods/").await.unwrap();

    let keys: Vec<String> = found
        .kvs
        .iter()
        .map(|kv| String::from_utf8(kv.key.clone()).unwrap())
        .collect();
    assert_eq!(
        keys,
        ["/registry/pods/default/a", "/registry/pods/default/b"]
    );
    assert_eq!(found.count, 2);
    mock.stop().await;
}

#[tokio::test]
async fn a_txn_compare_and_swap_writes_once_and_reports_the_conflict_after() {
    let lab = TestLab::new();
    let mock = Mock::start(&lab, Release::default()).await;
    let client = lab.client(&mock.endpoint, lab.apiserver_etcd_client());
    let key = b"/registry/configmaps/default/office";

    assert_eq!(
        client.txn_create_if_absent(key, b"v1").await.unwrap(),
        TxnOutcome::Written { revision: 2 }
    );
    let TxnOutcome::Conflict { current, .. } =
        client.txn_create_if_absent(key, b"again").await.unwrap()
    else {
        panic!("a second create must conflict");
    };
    assert_eq!(current.unwrap().value, b"v1");

    assert_eq!(
        client
            .txn_update_if_mod_revision(key, b"v2", 2)
            .await
            .unwrap(),
        TxnOutcome::Written { revision: 3 }
    );
    let TxnOutcome::Conflict { revision, current } = client
        .txn_update_if_mod_revision(key, b"stale", 2)
        .await
        .unwrap()
    else {
        panic!("an update from an old revision must conflict");
    };
    let current = current.unwrap();
    assert_eq!((revision, current.mod_revision, current.version), (3, 3, 2));
    assert_eq!(current.value, b"v2");
    mock.stop().await;
}

#[tokio::test]
async fn deleterange_removes_the_key_and_a_second_delete_finds_nothing() {
    let lab = TestLab::new();
    let mock = Mock::start(&lab, Release::default()).await;
    let client = lab.client(&mock.endpoint, lab.apiserver_etcd_client());
    client.put(b"k", b"v").await.unwrap();

    assert_eq!(client.delete(b"k").await.unwrap().deleted, 1);
    let again = client.delete(b"k").await.unwrap();
    assert_eq!(again.deleted, 0);
    assert_eq!(again.header.unwrap().revision, 3);
    assert_eq!(client.get(b"k").await.unwrap(), None);
    mock.stop().await;
}

#[tokio::test]
async fn bad_json_is_a_400_with_grpc_gateways_error_and_gos_text() {
    let lab = TestLab::new();
    let mock = Mock::start(&lab, Release::default()).await;
    let client = lab.client(&mock.endpoint, lab.apiserver_etcd_client());

    let (status, body) = client
        .request(Method::POST, "/v3/kv/put", b"{bad".to_vec())
        .await
        .unwrap();
    assert_eq!(status.as_u16(), 400);
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        r#"{"error":"invalid character 'b' looking for beginning of object key string","message":"invalid character 'b' looking for beginning of object key string","code":3}"#
    );

    let err = client
        .call::<Value>("/v3/kv/put", &json!({"key": ""}))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "apiserver → etcd: POST /v3/kv/put: 400: etcdserver: key is not provided"
    );
    mock.stop().await;
}

#[tokio::test]
async fn a_request_that_got_in_is_an_allowed_event_naming_the_badge() {
    let lab = TestLab::new();
    let mock = Mock::start(&lab, Release::default()).await;
    let client = lab.client(&mock.endpoint, lab.apiserver_etcd_client());

    client.put(b"a", b"1").await.unwrap();

    let request = mock
        .events
        .snapshot()
        .into_iter()
        .find(|e| e.stage == Stage::Request)
        .unwrap();
    assert!(request.allowed);
    assert_eq!(request.detail.as_deref(), Some("POST /v3/kv/put 200"));
    assert_eq!(request.identity.unwrap().cn, "kube-apiserver-etcd-client");
    mock.stop().await;
}

#[tokio::test]
async fn health_and_version_answer_as_etcd_3_5_16_does_and_as_3_4_23_when_told_to() {
    let lab = TestLab::new();
    for (release, health, version) in [
        (
            Release::V3_5_16,
            r#"{"health":"true","reason":""}"#,
            r#"{"etcdserver":"3.5.16","etcdcluster":"3.5.0"}"#,
        ),
        (
            Release::V3_4_23,
            r#"{"health":"true"}"#,
            r#"{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}"#,
        ),
    ] {
        let mock = Mock::start(&lab, release).await;
        let client = lab.client(&mock.endpoint, lab.apiserver_etcd_client());
        assert!(client.health().await.unwrap());
        for (path, want) in [("/health", health), ("/version", version)] {
            let (_, body) = client.request(Method::GET, path, Vec::new()).await.unwrap();
            assert_eq!(std::str::from_utf8(&body).unwrap(), want, "{release:?}");
        }
        mock.stop().await;
    }
}

// ----- kept connections ------------------------------------------------------------------------

/// A TCP relay in front of `upstream`. Once `sever` is set, the next connection that has already
/// carried traffic is dropped when new bytes arrive from the client, forwarding nothing: a kept
/// connection that the server side closes just as a request goes out.
async fn severing_relay(
    upstream: SocketAddr,
    sever: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> SocketAddr {
    use std::sync::atomic::Ordering::SeqCst;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let sever = sever.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                let down = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
                });
                let mut buf = vec![0u8; 16 * 1024];
                let mut carried = false;
                while let Ok(n) = from_client.read(&mut buf).await {
                    if n == 0 || (carried && sever.swap(false, SeqCst)) {
                        break;
                    }
                    if to_server.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    carried = true;
                }
                down.abort();
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_kept_connection_closed_under_a_read_is_retried_once_and_a_write_is_never_sent_twice() {
    let lab = TestLab::new();
    let mock = Mock::start(&lab, Release::default()).await;
    let sever = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let relay = severing_relay(mock.addr(), sever.clone()).await;
    let alice = lab
        .client(&format!("https://{relay}"), lab.apiserver_etcd_client())
        .keep_alive();
    alice.put(b"/registry/a", b"1").await.unwrap();
    alice.get(b"/registry/a").await.unwrap();

    // The kept connection dies under a read: Alice reads again on a new one, as clientv3 does.
    sever.store(true, std::sync::atomic::Ordering::SeqCst);
    let read = alice.get(b"/registry/a").await.unwrap();
    assert_eq!(read.map(|kv| kv.value), Some(b"1".to_vec()));

    // Under a write: the error, and nothing was written.
    sever.store(true, std::sync::atomic::Ordering::SeqCst);
    let err = alice.put(b"/registry/a", b"2").await.unwrap_err();
    assert!(err.to_string().starts_with("apiserver → etcd"), "{err}");
    let after = alice.get(b"/registry/a").await.unwrap();
    assert_eq!(after.map(|kv| kv.value), Some(b"1".to_vec()));
    mock.stop().await;
}
