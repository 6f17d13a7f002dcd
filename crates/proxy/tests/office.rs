//! Dave against a real office: he narrates a service's iptables rules as its endpoints come and
//! go, says once how his badge differs from kubeadm's, and answers /healthz.

use kubecorp_office::Office;
use kubecorp_proxy::ProxyConfig;
use kubecorp_testkit::office::{
    assert_never_refused, client, quiet_office, said_detail, web_service,
};
use kubecorp_testkit::{eventually, WAIT};
use kubecorp_trust::Event;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

async fn dave_says(office: &Office, detail: &str) -> Event {
    said_detail(office, "kube-proxy", detail).await
}

/// Starts Dave with a /healthz door; returns its address and the stop switch.
async fn start_dave(office: &Office) -> (std::net::SocketAddr, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let config = ProxyConfig {
        client: client(office, "kube-proxy", "kube-proxy.conf"),
        credential: kubecorp_proxy::Credential::ClientCertificate,
        clock: office.clock.clone(),
        events: office.events.clone(),
        node_name: "kubecorp-control-plane".into(),
        healthz: Some(listener),
    };
    tokio::spawn(kubecorp_proxy::run(config, async move {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// One plain HTTP/1.1 GET; the whole answer as text.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(WAIT, tcp.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    answer
}

#[tokio::test]
async fn kube_proxy_narrates_a_services_rules_once_its_endpointslice_appears() {
    let (_dir, office) = quiet_office().await;
    let admin = client(&office, "kubectl", "admin.conf");
    web_service(&admin).await;
    let (_, _dave) = start_dave(&office).await;

    let chain = kubecorp_proxy::iptables::service_chain("default/web", "TCP");
    assert_eq!(chain, "KUBE-SVC-LOLE4ISW44XBNF3G");
    let rejecting = dave_says(
        &office,
        "KUBE-SVC-LOLE4ISW44XBNF3G default/web 10.96.0.10:80/TCP → no endpoints (REJECT)",
    )
    .await;
    assert!(rejecting.explanation.unwrap().contains(
        "-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment \"default/web has no endpoints\" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable"
    ));

    // An Endpoints object alone changes nothing: kube-proxy 1.32 reads EndpointSlices.
    admin
        .create(
            "/api/v1/namespaces/default/endpoints",
            &json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web"},
                    "subsets": [{"addresses": [{"ip": "10.244.0.9"}],
                                 "ports": [{"port": 8080, "protocol": "TCP"}]}]}),
        )
        .await
        .unwrap();
    admin
        .create(
            "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
            &json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"name": "web-x7k2p", "labels": {
                        "kubernetes.io/service-name": "web",
                        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
                    "addressType": "IPv4",
                    "endpoints": [
                        {"addresses": ["10.244.0.5"], "conditions": {"ready": true, "serving": true, "terminating": false}},
                        {"addresses": ["10.244.0.6"], "conditions": {"ready": false, "serving": false, "terminating": false}}],
                    "ports": [{"name": "", "port": 8080, "protocol": "TCP"}]}),
        )
        .await
        .unwrap();
    let routed = dave_says(
        &office,
        "KUBE-SVC-LOLE4ISW44XBNF3G default/web 10.96.0.10:80/TCP → 10.244.0.5:8080",
    )
    .await;
    let rules = routed.explanation.unwrap();
    assert!(rules.contains("-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment \"default/web cluster IP\" -m tcp --dport 80 -j KUBE-SVC-LOLE4ISW44XBNF3G"), "{rules}");
    assert!(
        rules.contains("-j DNAT --to-destination 10.244.0.5:8080"),
        "{rules}"
    );
    assert!(
        !rules.contains("10.244.0.9") && !rules.contains("10.244.0.6"),
        "{rules}"
    );
    assert_eq!(
        routed.identity.map(|i| i.cn).as_deref(),
        Some("system:kube-proxy")
    );
    assert_never_refused(&office, "kube-proxy");
    office.shutdown().await;
}

#[tokio::test]
async fn kube_proxy_says_how_its_badge_differs_from_kubeadm_and_answers_healthz() {
    let (_dir, office) = quiet_office().await;
    let (addr, _dave) = start_dave(&office).await;

    let start = eventually("the start event", || async {
        office
            .events
            .snapshot()
            .into_iter()
            .find(|e| e.from == "kube-proxy")
    })
    .await;
    assert_eq!(
        start.server_log.as_deref(),
        Some("I1129 09:00:00.000000       1 server_linux.go:66] \"Using iptables proxy\"")
    );
    let note = start.explanation.unwrap();
    assert!(note.contains("service-account token"), "{note}");
    assert!(note.contains("CN=system:kube-proxy"), "{note}");

    let answer = http_get(addr, "/healthz").await;
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.to_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    assert!(
        body.starts_with("{\"lastUpdated\": \"2026-11-29 09:00:00 +0000 UTC m=+"),
        "{body}"
    );
    assert!(body.ends_with(", \"nodeEligible\": true}"), "{body}");
    assert!(
        body.contains("\",\"currentTime\": \"2026-11-29 09:00:00 +0000 UTC m=+"),
        "{body}"
    );

    let missing = http_get(addr, "/metrics").await;
    assert!(missing.starts_with("HTTP/1.1 404 Not Found"), "{missing}");
    assert!(missing.ends_with("404 page not found\n"), "{missing}");
    office.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_office_kube_proxy_shows_its_service_account_token_and_alice_serves_it() {
    let (_dir, office) = kubecorp_testkit::office::whole_office().await;
    let start = kubecorp_testkit::office::said(&office, "kube-proxy", "Dave starts", |e| {
        e.detail
            .as_deref()
            .is_some_and(|d| d.starts_with("kube-proxy on node"))
    })
    .await;
    assert!(
        start.detail.as_deref().unwrap().ends_with(
            "with its service-account token (system:serviceaccount:kube-system:kube-proxy)"
        ),
        "{start:?}"
    );
    assert_eq!(start.identity, None, "no badge");
    let token_user = "system:serviceaccount:kube-system:kube-proxy";
    let seen = |office: &Office| {
        office
            .events
            .snapshot()
            .into_iter()
            .filter(|e| e.to == "apiserver" && e.from == token_user)
            .collect::<Vec<_>>()
    };
    eventually("Alice serves kube-proxy's token", || async {
        seen(&office)
            .iter()
            .any(|e| {
                e.allowed
                    && e.detail
                        .as_deref()
                        .is_some_and(|d| d.contains("/api/v1/services"))
            })
            .then_some(())
    })
    .await;
    // That the token stays fresh when the lab clock jumps is shown by `kubecorp-office`'s
    // `projected` tests: a running watch makes no new call to wait for here.
    office.shutdown().await;
}
