//! Charlie's back door, the peer port: a member with `etcd/peer.crt` reads `/version` and
//! `/members`, a badge from the cluster CA is turned away in the handshake with etcd's
//! rejection line (etcd 3.5.16's zap JSON), openssl gets through with the peer badge, and the answers
//! are the ones Debian's real etcd gives on its own peer port.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

use http::{Method, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use kubecorp_etcd::Release;
use kubecorp_etcd::{EtcdClient, PeerConfig};
use kubecorp_trust::{Events, Stage};

mod common;
use common::{tool, transport_text, RealEtcd, TestLab, NODE, UNKNOWN_CA_LOG, UNKNOWN_CA_LOG_3_5};

/// The lab's peer port, advertising `peer_urls` and `client_urls`.
struct Peer {
    addr: SocketAddr,
    events: Events,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), kubecorp_etcd::EtcdError>>,
}

impl Peer {
    async fn start(
        lab: &TestLab,
        urls: Option<(Vec<String>, Vec<String>)>,
        release: Release,
    ) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (peer_urls, client_urls) = urls.unwrap_or_else(|| {
            (
                vec![format!("https://{addr}")],
                vec!["https://127.0.0.1:2379".into()],
            )
        });
        let events = Events::new();
        let mut config = PeerConfig::new(
            NODE,
            lab.pem("etcd/peer"),
            lab.etcd_ca(),
            peer_urls,
            client_urls,
            lab.clock.clone(),
            events.clone(),
        );
        config.release = release;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(kubecorp_etcd::run_peer(config, listener, async {
            let _ = stopped.await;
        }));
        Peer {
            addr,
            events,
            stop: Some(stop),
            task,
        }
    }

    fn endpoint(&self) -> String {
        format!("https://{}", self.addr)
    }

    async fn log_with(&self, needle: &str) -> Vec<String> {
        kubecorp_testkit::server_log_with(&self.events, needle).await
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap();
    }
}

async fn get(client: &EtcdClient, method: Method, path: &str) -> (u16, String) {
    let (status, body) = client.request(method, path, Vec::new()).await.unwrap();
    (status.as_u16(), String::from_utf8_lossy(&body).into_owned())
}

// ----- the lab's peer port --------------------------------------------------------------------

#[tokio::test]
async fn a_member_showing_etcd_peer_crt_reads_version_and_members() {
    let lab = TestLab::new();
    let peer = Peer::start(&lab, None, Release::default()).await;
    let member = lab.caller(&peer.endpoint(), "etcd/peer");

    assert_eq!(
        get(&member, Method::GET, "/version").await,
        (
            200,
            r#"{"etcdserver":"3.5.16","etcdcluster":"3.5.0"}"#.into()
        )
    );
    let (status, members) = get(&member, Method::GET, "/members").await;
    assert_eq!(status, 200);
    let id = kubecorp_etcd::peer::member_id(&[peer.endpoint()], "etcd-cluster");
    assert_eq!(
        members,
        format!(
            r#"[{{"id":{id},"peerURLs":["{}"],"name":"cp-1","clientURLs":["https://127.0.0.1:2379"]}}]
"#,
            peer.endpoint()
        )
    );
    assert_eq!(
        get(&member, Method::POST, "/v3/kv/range").await,
        (404, "404 page not found\n".into())
    );

    let events = peer.events.snapshot();
    let opened = events
        .iter()
        .find(|e| e.stage == Stage::Tls && e.allowed)
        .expect("the handshake is told");
    assert_eq!(opened.to, "etcd");
    assert_eq!(opened.identity.as_ref().unwrap().cn, NODE);
    let port = peer.addr.port();
    let details: Vec<_> = events
        .iter()
        .filter(|e| e.stage == Stage::Request)
        .filter_map(|e| e.detail.clone())
        .collect();
    assert_eq!(
        details,
        vec![
            format!("GET /version 200 on the peer port :{port}"),
            format!("GET /members 200 on the peer port :{port}"),
            format!("POST /v3/kv/range 404 on the peer port :{port}"),
        ]
    );
    peer.stop().await;
}

#[tokio::test]
async fn a_cluster_ca_badge_is_refused_at_the_peer_handshake_with_etcds_log_line() {
    let lab = TestLab::new();
    let peer = Peer::start(&lab, None, Release::default()).await;
    let stranger = lab.caller(&peer.endpoint(), "apiserver-kubelet-client");

    let err = stranger
        .request(Method::GET, "/version", Vec::new())
        .await
        .unwrap_err();
    assert_eq!(
        transport_text(&err),
        "remote error: tls: unknown certificate authority"
    );
    let lines = peer.log_with(UNKNOWN_CA_LOG_3_5).await;
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(r#"{"level":"warn","ts":""#)
                && l.contains(
                    r#""msg":"rejected connection on peer endpoint","remote-addr":"127.0.0.1:"#
                )
                && l.ends_with(UNKNOWN_CA_LOG_3_5)),
        "{lines:?}"
    );
    let refused = peer
        .events
        .snapshot()
        .into_iter()
        .find(|e| e.server_log.is_some())
        .unwrap();
    assert_eq!(refused.to, "etcd");
    assert_eq!(
        refused.identity.as_ref().map(|i| i.cn.as_str()),
        Some("kube-apiserver-kubelet-client")
    );
    assert!(refused
        .explanation
        .as_deref()
        .is_some_and(|e| e.contains("--peer-trusted-ca-file=etcd/ca.crt")));
    peer.stop().await;
}

#[tokio::test]
async fn openssl_with_peer_crt_gets_through_the_peer_door() {
    let test = "openssl_with_peer_crt_gets_through_the_peer_door";
    let Some(openssl) = tool("openssl", test) else {
        return;
    };
    let lab = TestLab::new();
    let peer = Peer::start(&lab, None, Release::default()).await;
    let pki = lab.lab.pki_dir();
    let openssl = openssl.clone();
    let addr = peer.addr.to_string();
    let out = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(&openssl)
            .args([
                "s_client",
                "-connect",
                &addr,
                "-ign_eof",
                "-verify_return_error",
            ])
            .arg("-cert")
            .arg(pki.join("etcd/peer.crt"))
            .arg("-key")
            .arg(pki.join("etcd/peer.key"))
            .arg("-CAfile")
            .arg(pki.join("etcd/ca.crt"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"GET /version HTTP/1.1\r\nHost: etcd\r\nConnection: close\r\n\r\n")
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Verify return code: 0 (ok)"), "{stdout}");
    assert!(stdout.contains(&format!("s:CN = {NODE}")), "{stdout}");
    assert!(stdout.contains("i:CN = etcd-ca"), "{stdout}");
    assert!(
        stdout.contains(r#"{"etcdserver":"3.5.16","etcdcluster":"3.5.0"}"#),
        "{stdout}"
    );
    peer.stop().await;
}

// ----- judged by the real etcd ----------------------------------------------------------------

/// The real etcd, once its peer port has decided the cluster version
/// (`"etcdcluster":"not_decided"` before).
async fn real_etcd_with_peer_port(lab: &TestLab, test: &str) -> Option<RealEtcd> {
    let real = RealEtcd::start(lab, test).await?;
    let member = lab.caller(&real.peer_url, "etcd/peer");
    let deadline = Instant::now() + StdDuration::from_secs(30);
    while !matches!(
        member.request(Method::GET, "/version", Vec::new()).await,
        Ok((StatusCode::OK, body)) if !body.windows(11).any(|w| w == b"not_decided")
    ) {
        assert!(
            Instant::now() < deadline,
            "etcd did not answer on its peer port; its log:\n{}",
            std::fs::read_to_string(&real.log).unwrap_or_default()
        );
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    Some(real)
}

#[tokio::test]
async fn the_lab_peer_port_answers_and_refuses_as_the_real_etcd_peer_port_does() {
    let test = "the_lab_peer_port_answers_and_refuses_as_the_real_etcd_peer_port_does";
    let lab = TestLab::new();
    let Some(real) = real_etcd_with_peer_port(&lab, test).await else {
        return;
    };
    // Advertising the real member's URLs gives the lab the same member and cluster IDs.
    let urls = (vec![real.peer_url.clone()], vec![real.client_url.clone()]);
    let peer = Peer::start(&lab, Some(urls), real.release).await;

    let to_real = lab.caller(&real.peer_url, "etcd/peer");
    let to_lab = lab.caller(&peer.endpoint(), "etcd/peer");
    for (method, path) in [
        (Method::GET, "/version"),
        (Method::GET, "/members"),
        (Method::POST, "/members"),
        (Method::PUT, "/version"),
        (Method::GET, "/members/"),
        (Method::GET, "/"),
        (Method::POST, "/v3/kv/range"),
    ] {
        assert_eq!(
            get(&to_lab, method.clone(), path).await,
            get(&to_real, method.clone(), path).await,
            "{method} {path}"
        );
    }

    let stranger_real = lab.caller(&real.peer_url, "apiserver-kubelet-client");
    let stranger_lab = lab.caller(&peer.endpoint(), "apiserver-kubelet-client");
    let real_err = stranger_real
        .request(Method::GET, "/version", Vec::new())
        .await
        .unwrap_err();
    let lab_err = stranger_lab
        .request(Method::GET, "/version", Vec::new())
        .await
        .unwrap_err();
    assert_eq!(transport_text(&lab_err), transport_text(&real_err));
    let logged = |lines: Vec<String>| {
        lines
            .into_iter()
            .find(|l| l.contains("rejected connection from"))
            .map(|l| l[l.find(" (error").unwrap()..].to_owned())
    };
    assert_eq!(
        logged(peer.log_with(UNKNOWN_CA_LOG).await),
        logged(real.log_with(UNKNOWN_CA_LOG).await)
    );
    peer.stop().await;
}
