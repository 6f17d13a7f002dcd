//! The lab's TLS configs over real sockets: etcd's door that checks badges in the handshake,
//! the apiserver's door that only collects them, and clients that check the server's badge,
//! all with badges from a lab made by `kubecorp_pki::init`.

use std::net::SocketAddr;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use kubecorp_pki::{Authority, Lab};
use kubecorp_testkit::lab::FreshLab;
use kubecorp_trust::tls::{
    client_config, client_error_text, peer_chain, peer_identity, server_config_request_client_cert,
    server_config_require_client_cert, server_error_text, server_name, CertSource, HandshakeNotes,
    TrustSource,
};
use kubecorp_trust::{go_time, Events, Identity, LabClock, VerdictKind};
use rustls::{ClientConfig, ServerConfig};

// ----- the lab -------------------------------------------------------------------------------

struct TestLab {
    _dir: tempfile::TempDir,
    lab: Lab,
    clock: LabClock,
    events: Events,
}

impl TestLab {
    fn new() -> TestLab {
        let FreshLab { dir, lab, clock } = FreshLab::new("cp-1");
        TestLab {
            _dir: dir,
            lab,
            clock,
            events: Events::new(),
        }
    }

    fn etcd_server(&self) -> CertSource {
        CertSource::pem_files(
            self.lab.cert_path("etcd/server"),
            self.lab.key_path("etcd/server"),
        )
    }

    fn etcd_ca(&self) -> TrustSource {
        TrustSource::bundle(self.lab.ca_cert_path(Authority::Etcd))
    }

    fn apiserver_etcd_client(&self) -> CertSource {
        CertSource::pem_files(
            self.lab.cert_path("apiserver-etcd-client"),
            self.lab.key_path("apiserver-etcd-client"),
        )
    }

    fn admin(&self) -> CertSource {
        CertSource::kubeconfig(self.lab.kubeconfig_path("admin.conf"))
    }

    /// etcd's door, built per connection as etcd's component does.
    fn require(&self) -> impl Fn() -> (Arc<ServerConfig>, HandshakeNotes) + Send + 'static {
        let (cert, trust, clock, events) = (
            self.etcd_server(),
            self.etcd_ca(),
            self.clock.clone(),
            self.events.clone(),
        );
        move || {
            server_config_require_client_cert(
                "etcd",
                cert.clone(),
                trust.clone(),
                clock.clone(),
                events.clone(),
            )
        }
    }

    /// The apiserver's door (here wearing etcd's serving badge, which is all it needs).
    fn request(&self) -> impl Fn() -> (Arc<ServerConfig>, HandshakeNotes) + Send + 'static {
        let (cert, clock, events) = (self.etcd_server(), self.clock.clone(), self.events.clone());
        move || {
            server_config_request_client_cert(
                "apiserver",
                cert.clone(),
                clock.clone(),
                events.clone(),
            )
        }
    }

    fn client(&self, identity: Option<CertSource>) -> (Arc<ClientConfig>, HandshakeNotes) {
        client_config(
            "apiserver",
            identity,
            self.etcd_ca(),
            self.clock.clone(),
            self.events.clone(),
        )
    }
}

// ----- one exchange over a real socket ---------------------------------------------------------

/// What the server saw: the visitor's identity and chain length, or Go's log text.
#[derive(Debug)]
struct ServerSaw {
    result: Result<(Option<Identity>, usize), String>,
    served_serial: String,
}

/// Serves one connection: a line in, `hello <CN>` out.
async fn serve_once(
    make: impl Fn() -> (Arc<ServerConfig>, HandshakeNotes) + Send + 'static,
    served: CertSource,
) -> (SocketAddr, tokio::task::JoinHandle<ServerSaw>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let (config, notes) = make();
        let served_serial = served.identity().map(|i| i.serial).unwrap_or_default();
        let result = match TlsAcceptor::from(config).accept(tcp).await {
            Err(e) => Err(server_error_text(&e, &notes)),
            Ok(mut tls) => {
                let (who, chain) = {
                    let (_, conn) = tls.get_ref();
                    (peer_identity(conn), peer_chain(conn).map_or(0, |c| c.len()))
                };
                let mut line = String::new();
                let mut reader = BufReader::new(&mut tls);
                match reader.read_line(&mut line).await {
                    Err(e) => Err(server_error_text(&e, &notes)),
                    Ok(_) => {
                        let cn = who.as_ref().map_or("nobody", |i| i.cn.as_str()).to_owned();
                        tls.write_all(format!("hello {cn}\n").as_bytes())
                            .await
                            .unwrap();
                        tls.shutdown().await.ok();
                        Ok((who, chain))
                    }
                }
            }
        };
        ServerSaw {
            result,
            served_serial,
        }
    });
    (addr, task)
}

/// Dials `addr` as `host`, sends a line, returns the reply and the serial the server showed,
/// or what a Go client would print.
async fn exchange(
    addr: SocketAddr,
    host: &str,
    (config, notes): (Arc<ClientConfig>, HandshakeNotes),
) -> Result<(String, String), String> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let connector = TlsConnector::from(config);
    let mut tls = connector
        .connect(server_name(host).unwrap(), tcp)
        .await
        .map_err(|e| client_error_text(&e, &notes))?;
    let serial = peer_identity(tls.get_ref().1).unwrap().serial;
    // On TLS 1.3 the client's handshake is over before the server judges its badge, so a
    // refusal arrives as an alert at the first read, as in Go.
    tls.write_all(b"ping\n")
        .await
        .map_err(|e| client_error_text(&e, &notes))?;
    let mut reply = String::new();
    BufReader::new(&mut tls)
        .read_line(&mut reply)
        .await
        .map_err(|e| client_error_text(&e, &notes))?;
    if reply.is_empty() {
        return Err("EOF".into());
    }
    Ok((reply.trim_end().to_owned(), serial))
}

// ----- etcd's door: checked in the handshake ---------------------------------------------------

#[tokio::test]
async fn a_door_that_requires_badges_rejects_a_cluster_ca_badge_with_unknown_certificate_authority()
{
    let lab = TestLab::new();
    let (addr, server) = serve_once(lab.require(), lab.etcd_server()).await;

    let client = exchange(addr, "127.0.0.1", lab.client(Some(lab.admin()))).await;

    assert_eq!(
        client.unwrap_err(),
        "remote error: tls: unknown certificate authority"
    );
    assert_eq!(
        server.await.unwrap().result.unwrap_err(),
        "tls: failed to verify client certificate: x509: certificate signed by unknown authority"
    );
}

#[tokio::test]
async fn a_door_that_requires_badges_rejects_no_badge_with_certificate_required() {
    let lab = TestLab::new();
    let (addr, server) = serve_once(lab.require(), lab.etcd_server()).await;

    let client = exchange(addr, "127.0.0.1", lab.client(None)).await;

    assert_eq!(
        client.unwrap_err(),
        "remote error: tls: certificate required"
    );
    assert_eq!(
        server.await.unwrap().result.unwrap_err(),
        "tls: client didn't provide a certificate"
    );
}

#[tokio::test]
async fn a_door_that_requires_badges_lets_in_kube_apiserver_etcd_client() {
    let lab = TestLab::new();
    let (addr, server) = serve_once(lab.require(), lab.etcd_server()).await;

    let client = exchange(
        addr,
        "127.0.0.1",
        lab.client(Some(lab.apiserver_etcd_client())),
    )
    .await;

    assert_eq!(client.unwrap().0, "hello kube-apiserver-etcd-client");
    let (who, _) = server.await.unwrap().result.unwrap();
    let who = who.unwrap();
    assert_eq!(who.issuer, "etcd-ca");
    assert!(who.orgs.is_empty());
}

#[tokio::test]
async fn a_door_that_requires_badges_rejects_a_client_badge_the_lab_clock_has_expired() {
    let lab = TestLab::new();
    let (addr, server) = serve_once(lab.require(), lab.etcd_server()).await;
    // Trust the server regardless of the date: only the client's badge is at stake here.
    let client_cert = lab.apiserver_etcd_client();
    let not_after = kubecorp_pki::cert::read_cert(&lab.lab.cert_path("apiserver-etcd-client"))
        .unwrap()
        .not_after;
    let server_not_after = kubecorp_pki::cert::read_cert(&lab.lab.cert_path("etcd/server"))
        .unwrap()
        .not_after;
    assert!(server_not_after >= not_after);
    // One second past NotAfter: the client badge has expired, the server's (issued at the same
    // time, for as long) has too, so the client would refuse first. Give the client its own
    // clock that still reads the present.
    lab.clock.set(not_after + Duration::seconds(1));
    let present = LabClock::fixed(OffsetDateTime::now_utc());
    let config = client_config(
        "apiserver",
        Some(client_cert),
        lab.etcd_ca(),
        present,
        lab.events.clone(),
    );

    let client = exchange(addr, "127.0.0.1", config).await;

    assert_eq!(
        client.unwrap_err(),
        "remote error: tls: expired certificate"
    );
    assert_eq!(
        server.await.unwrap().result.unwrap_err(),
        format!(
            "tls: failed to verify client certificate: x509: certificate has expired or is not yet valid: current time {} is after {}",
            go_time(not_after + Duration::seconds(1)),
            go_time(not_after)
        )
    );
}

// ----- the apiserver's door: collected, judged later -------------------------------------------

#[tokio::test]
async fn a_door_that_requests_badges_takes_in_a_badge_from_any_ca_unjudged() {
    let lab = TestLab::new();
    let (addr, server) = serve_once(lab.request(), lab.etcd_server()).await;

    let client = exchange(addr, "127.0.0.1", lab.client(Some(lab.admin()))).await;

    assert_eq!(client.unwrap().0, "hello kubernetes-admin");
    let (who, chain) = server.await.unwrap().result.unwrap();
    let who = who.unwrap();
    assert_eq!(who.orgs, ["kubeadm:cluster-admins"]);
    assert_eq!(who.issuer, "kubernetes");
    assert_eq!(chain, 1);
}

#[tokio::test]
async fn a_door_that_requests_badges_also_takes_in_a_visitor_without_one() {
    let lab = TestLab::new();
    let (addr, server) = serve_once(lab.request(), lab.etcd_server()).await;

    let client = exchange(addr, "127.0.0.1", lab.client(None)).await;

    assert_eq!(client.unwrap().0, "hello nobody");
    assert_eq!(server.await.unwrap().result.unwrap(), (None, 0));
}

// ----- clients check the server ----------------------------------------------------------------

#[tokio::test]
async fn a_client_dialling_a_name_not_on_the_badge_says_so_in_gos_words() {
    let lab = TestLab::new();
    let (addr, server) = serve_once(lab.require(), lab.etcd_server()).await;

    let client = exchange(
        addr,
        "etcd.example",
        lab.client(Some(lab.apiserver_etcd_client())),
    )
    .await;

    assert_eq!(
        client.unwrap_err(),
        "tls: failed to verify certificate: x509: certificate is valid for cp-1, localhost, not etcd.example"
    );
    // Go clients send the generic alert, whatever the reason.
    assert_eq!(
        server.await.unwrap().result.unwrap_err(),
        "remote error: tls: bad certificate"
    );
}

#[tokio::test]
async fn a_client_whose_lab_clock_is_past_the_servers_not_after_refuses_it_as_expired() {
    let lab = TestLab::new();
    let not_after = kubecorp_pki::cert::read_cert(&lab.lab.cert_path("etcd/server"))
        .unwrap()
        .not_after;
    let (addr, server) = serve_once(lab.require(), lab.etcd_server()).await;
    lab.clock.set(not_after);
    lab.clock.advance(Duration::seconds(1));

    let (config, notes) = lab.client(Some(lab.apiserver_etcd_client()));
    let client = exchange(addr, "127.0.0.1", (config, notes.clone())).await;

    assert_eq!(
        client.unwrap_err(),
        format!(
            "tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time {} is after {}",
            go_time(not_after + Duration::seconds(1)),
            go_time(not_after)
        )
    );
    assert_eq!(notes.peer_verdict().unwrap().kind, VerdictKind::Expired);
    assert_eq!(
        server.await.unwrap().result.unwrap_err(),
        "remote error: tls: bad certificate"
    );
}

// ----- files on disk count at the next handshake ----------------------------------------------

#[tokio::test]
async fn renewing_the_servers_badge_on_disk_changes_what_the_next_handshake_serves() {
    let lab = TestLab::new();
    let make = lab.require();
    let shared = Arc::new(make);

    let first = {
        let make = shared.clone();
        let (addr, server) = serve_once(move || (*make)(), lab.etcd_server()).await;
        let (_, serial) = exchange(
            addr,
            "127.0.0.1",
            lab.client(Some(lab.apiserver_etcd_client())),
        )
        .await
        .unwrap();
        assert_eq!(serial, server.await.unwrap().served_serial);
        serial
    };

    kubecorp_pki::renew::renew(&lab.lab, "etcd-server", lab.clock.now()).unwrap();

    let make = shared.clone();
    let (addr, server) = serve_once(move || (*make)(), lab.etcd_server()).await;
    let (_, second) = exchange(
        addr,
        "127.0.0.1",
        lab.client(Some(lab.apiserver_etcd_client())),
    )
    .await
    .unwrap();
    let on_disk = server.await.unwrap().served_serial;
    assert_ne!(first, second);
    assert_eq!(second, on_disk);
}

#[tokio::test]
async fn a_broken_server_badge_on_disk_fails_the_handshake_and_says_which_file() {
    let lab = TestLab::new();
    let (addr, server) = serve_once(lab.require(), lab.etcd_server()).await;
    std::fs::write(lab.lab.cert_path("etcd/server"), b"not a certificate\n").unwrap();

    let client = exchange(
        addr,
        "127.0.0.1",
        lab.client(Some(lab.apiserver_etcd_client())),
    )
    .await;

    // rustls answers a missing certificate with access_denied (Go would say internal error).
    assert_eq!(client.unwrap_err(), "remote error: tls: access denied");
    let path = lab.lab.cert_path("etcd/server");
    assert_eq!(
        server.await.unwrap().result.unwrap_err(),
        format!(
            "{}: tls: failed to find any PEM data in certificate input",
            path.display()
        )
    );
    let event = lab.events.snapshot().pop().unwrap();
    assert_eq!(event.to, "etcd");
    assert!(!event.allowed);
}

// ----- what the lab's doors negotiate ----------------------------------------------------------

#[tokio::test]
async fn a_lab_door_chooses_aes_128_gcm_as_a_go_server_does_even_when_the_client_ranks_aes_256_first(
) {
    let lab = TestLab::new();
    let (addr, _server) = serve_once(lab.request(), lab.etcd_server()).await;
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(lab.lab.ca_cert_path(Authority::Etcd)).unwrap();
    for cert in
        <rustls_pki_types::CertificateDer as rustls_pki_types::pem::PemObject>::pem_slice_iter(&ca)
    {
        roots.add(cert.unwrap()).unwrap();
    }
    // rustls' own provider ranks TLS13_AES_256_GCM_SHA384 first.
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    assert_eq!(
        provider.cipher_suites[0].suite(),
        rustls::CipherSuite::TLS13_AES_256_GCM_SHA384
    );
    let config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(server_name("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap();

    let suite = tls.get_ref().1.negotiated_cipher_suite().unwrap().suite();
    assert_eq!(suite, rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
}

#[test]
fn two_sources_of_one_badge_sign_with_one_parsed_key_and_a_swapped_key_is_still_refused() {
    let t = TestLab::new();
    let first = t.apiserver_etcd_client().load().unwrap();
    let again = t.apiserver_etcd_client().load().unwrap();
    assert!(
        Arc::ptr_eq(&first.key, &again.key),
        "the same key bytes were parsed twice"
    );
    let other = t.etcd_server().load().unwrap();
    assert!(!Arc::ptr_eq(&first.key, &other.key));

    // A key that another badge already uses, put beside this certificate: parsed once before,
    // yet still found not to match.
    let cert = t.lab.cert_path("apiserver-etcd-client");
    let err = CertSource::pem_files(&cert, t.lab.key_path("etcd/server"))
        .load()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "tls: private key does not match public key ({} and {})",
            cert.display(),
            t.lab.key_path("etcd/server").display()
        )
    );
}
