//! Charlie's back door, the peer port :2380, where etcd members talk among themselves.
//!
//! # Who gets in
//!
//! kubeadm starts etcd with `--peer-cert-file=etcd/peer.crt --peer-key-file=etcd/peer.key
//! --peer-client-cert-auth=true --peer-trusted-ca-file=etcd/ca.crt`. So the back door is checked
//! exactly like the front one: a peer must show a badge signed by the etcd CA *in the
//! handshake*, or it reads a TLS alert and etcd logs the same line as on the client port (both
//! listeners get a `HandshakeFailure` logger from etcd's `embed` package; 3.5.16's names the
//! port):
//!
//! ```text
//! {"level":"warn","ts":"…","caller":"embed/config_logging.go:170","msg":"rejected connection on peer endpoint","remote-addr":"127.0.0.1:38964","server-name":"","error":"tls: failed to verify certificate: x509: certificate signed by unknown authority"}
//! ```
//!
//! A badge from the cluster CA (`apiserver-kubelet-client`, admin.conf's) is a stranger here too.
//!
//! One check more than the front door: after the handshake, etcd's peer listener compares the
//! caller's address with the badge's SANs (`checkSAN` in `pkg/transport`). With IP SANs, the
//! caller's IP must be one of them; otherwise (or if that fails and there are DNS SANs) one of
//! the DNS names must resolve to it. A peer badge made for another node is turned away after a
//! *successful* handshake: the caller sees an empty reply, and etcd logs the long form of the
//! line, with the badge's names (etcd 3.4's text form here; 3.5.16 adds `ip-addresses` and
//! `dns-names` to its JSON):
//!
//! ```text
//! rejected connection from "127.0.0.1:51546" (error "x509: certificate is valid for 10.9.9.9, not 127.0.0.1", ServerName "", IPAddresses ["10.9.9.9"], DNSNames [])
//! ```
//!
//! That is why kubeadm puts the node's IP (and 127.0.0.1) in `etcd/peer.crt`. The lab resolves
//! DNS names forward only (Go also tries a reverse lookup of the caller's IP first), and words a
//! failed lookup as `lookup <name>: no such host` without the resolver's address.
//!
//! # What is served
//!
//! Not the v3 gateway: the raft and membership handlers. The lab answers what a lone member
//! answers over HTTP/1.1, checked against Debian's etcd 3.4.23:
//!
//! - `GET /version`: `{"etcdserver":"3.5.16","etcdcluster":"3.5.0"}` (3.4.23 and 3.4.0 when
//!   playing 3.4);
//! - `GET /members`: the member list as JSON (`[{"id":…,"peerURLs":[…],"name":…,"clientURLs":
//!   […]}]`, the ID a JSON number), with an `X-Etcd-Cluster-Id` header in hex;
//! - another method on those two: `405 Method Not Allowed` with `Allow: GET`;
//! - anything else: `404 page not found`.
//!
//! The IDs are etcd's own for a member bootstrapped with `--initial-cluster`: the member ID is the
//! first 8 bytes of SHA-1(sorted peer URLs + `--initial-cluster-token`, `etcd-cluster` by
//! default), the cluster ID the first 8 bytes of SHA-1 of the member IDs. Not kept: the
//! `/raft…` streams, `/leases`, `/members/promote/…`, `/members/hashkv`, and the gRPC that real
//! etcd multiplexes onto this port for HTTP/2 callers.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use kubecorp_trust::tls::{go_alert_text, CertSource, TrustSource};
use kubecorp_trust::{Event, Events, Identity, LabClock, Stage, Verdict, VerdictKind};
use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use x509_parser::extensions::GeneralName;

use crate::error::EtcdError;
use crate::release::{go_quote_list, Endpoint, Refusal, Release};
use crate::server::{
    accept_loop, go_quote, handshake, Alpn, EtcdConfig, Rejected, HANDSHAKE_TIMEOUT,
};

/// etcd's peer port.
pub const PEER_PORT: u16 = 2380;
/// `--initial-cluster-token`'s default; kubeadm does not set it.
pub const DEFAULT_CLUSTER_TOKEN: &str = "etcd-cluster";
/// Who the events are addressed to.
pub const COMPONENT: &str = "etcd";

/// The peer side of Charlie: kubeadm's `--peer-*` flags, the member's advertised URLs, and the
/// lab's clock and events.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    /// `--name`: the member name (kubeadm: the node name), shown in `/members`.
    pub member_name: String,
    /// `--peer-cert-file` / `--peer-key-file`: `etcd/peer.crt` and `.key`.
    pub peer_cert: CertSource,
    /// `--peer-trusted-ca-file`: `etcd/ca.crt`.
    pub peer_trusted_ca: TrustSource,
    /// `--initial-advertise-peer-urls`, e.g. `https://10.0.0.5:2380`.
    pub peer_urls: Vec<String>,
    /// `--advertise-client-urls`, e.g. `https://10.0.0.5:2379`.
    pub client_urls: Vec<String>,
    /// `--initial-cluster-token`.
    pub cluster_token: String,
    pub clock: LabClock,
    pub events: Events,
    /// Which etcd to play (its Go's alerts, its log lines), as on the client port.
    pub release: Release,
}

impl PeerConfig {
    pub fn new(
        member_name: impl Into<String>,
        peer_cert: CertSource,
        peer_trusted_ca: TrustSource,
        peer_urls: Vec<String>,
        client_urls: Vec<String>,
        clock: LabClock,
        events: Events,
    ) -> PeerConfig {
        PeerConfig {
            member_name: member_name.into(),
            peer_cert,
            peer_trusted_ca,
            peer_urls,
            client_urls,
            cluster_token: DEFAULT_CLUSTER_TOKEN.into(),
            clock,
            events,
            release: Release::default(),
        }
    }

    /// This member's ID, as etcd computes it at bootstrap.
    pub fn member_id(&self) -> u64 {
        member_id(&self.peer_urls, &self.cluster_token)
    }

    /// The ID of the one-member cluster.
    pub fn cluster_id(&self) -> u64 {
        cluster_id(&[self.member_id()])
    }

    /// The handshake settings, in the client port's shape (the handshake code is shared).
    fn door(&self) -> EtcdConfig {
        let mut door = EtcdConfig::new(
            COMPONENT,
            self.peer_cert.clone(),
            self.peer_trusted_ca.clone(),
            self.clock.clone(),
            self.events.clone(),
        );
        door.release = self.release;
        door
    }
}

/// etcd's `computeMemberID` for a member of the initial cluster.
pub fn member_id(peer_urls: &[String], cluster_token: &str) -> u64 {
    let mut urls = peer_urls.to_vec();
    urls.sort();
    let mut bytes = urls.concat().into_bytes();
    bytes.extend_from_slice(cluster_token.as_bytes());
    sha1_prefix(&bytes)
}

/// etcd's `RaftCluster.genID`.
pub fn cluster_id(member_ids: &[u64]) -> u64 {
    let mut ids = member_ids.to_vec();
    ids.sort_unstable();
    let bytes: Vec<u8> = ids.iter().flat_map(|id| id.to_be_bytes()).collect();
    sha1_prefix(&bytes)
}

fn sha1_prefix(bytes: &[u8]) -> u64 {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, bytes);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_ref()[..8]);
    u64::from_be_bytes(first)
}

struct Shared {
    config: PeerConfig,
    door: EtcdConfig,
    port: u16,
}

/// Serves etcd's peer port on `listener` until `shutdown` completes, then drains open
/// connections for up to [`DRAIN_DEADLINE`].
pub async fn run_peer(
    config: PeerConfig,
    listener: TcpListener,
    shutdown: impl Future,
) -> Result<(), EtcdError> {
    let shared = Arc::new(Shared {
        door: config.door(),
        port: listener.local_addr().map(|a| a.port()).unwrap_or(PEER_PORT),
        config,
    });
    accept_loop(listener, shutdown, move |tcp, peer, stop| {
        connection(shared.clone(), tcp, peer, stop)
    })
    .await
}

async fn connection(
    shared: Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
    stop: watch::Receiver<bool>,
) {
    let (tls, identity) = match tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        handshake(&shared.door, tcp, Alpn::Http11),
    )
    .await
    {
        Ok(Ok(done)) => done,
        Ok(Err(rejected)) => return refuse(&shared, peer, rejected),
        Err(_) => {
            return refuse(
                &shared,
                peer,
                Rejected {
                    server_name: String::new(),
                    text: "tls: handshake timed out".into(),
                    notes: Default::default(),
                    no_certificate: false,
                    wrong_protocol: None,
                },
            )
        }
    };

    // The peer listener's extra check: is the caller where its badge says it is?
    let server_name = tls.get_ref().1.server_name().unwrap_or("").to_owned();
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|c| c.as_ref().to_vec());
    if let Some(leaf) = leaf {
        let sans = Sans::of(&leaf);
        if let Err(text) = check_san(&sans, peer.ip()).await {
            return misplaced(&shared, peer, identity, &server_name, &sans, text);
        }
    }

    let config = &shared.config;
    config.events.emit(
        Event::new(config.clock.now(), peer.to_string(), COMPONENT, Stage::Tls)
            .allowed(true)
            .identity(identity.clone())
            .detail(format!("peer port :{}", shared.port))
            .verdict(&Verdict::new(
                VerdictKind::Valid,
                "",
                "The peer showed a badge signed by the etcd CA, for the address it called from, so the peer door opened.",
            )),
    );

    let service = service_fn(move |req: Request<Incoming>| {
        let shared = shared.clone();
        let identity = identity.clone();
        async move { Ok::<_, std::convert::Infallible>(serve(&shared, peer, identity, req)) }
    });
    kubecorp_door::converse(tls, service, stop).await;
}

/// A handshake that failed: etcd's short log line, and what the peer read.
fn refuse(shared: &Shared, peer: SocketAddr, rejected: Rejected) {
    let config = &shared.config;
    let line = config.release.rejection_line(&Refusal {
        endpoint: Endpoint::Peer,
        at: config.clock.now(),
        remote: &peer.to_string(),
        server_name: &rejected.server_name,
        error: &rejected.text,
        badge: None,
    });
    let mut event = Event::new(config.clock.now(), peer.to_string(), COMPONENT, Stage::Tls)
        .identity(rejected.notes.peer_identity())
        .server_log(line)
        .detail(format!("peer port :{}", shared.port));
    if let Some(verdict) = rejected.notes.peer_verdict().filter(|v| !v.is_valid()) {
        let alert = config.release.alerts().alert_for(&verdict);
        event = event
            .verdict(&verdict)
            .client_text(format!("remote error: tls: {}", go_alert_text(alert)));
        if verdict.kind == VerdictKind::UnknownAuthority {
            event = event
                .explanation("The peer's badge is not from the etcd CA. etcd runs its peer port with --peer-client-cert-auth and --peer-trusted-ca-file=etcd/ca.crt, so only badges the etcd CA signed (etcd/peer.crt) open the back door; the cluster CA's badges are strangers here.")
                .hint("Peers dial with --peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt and --peer-key-file=…/peer.key; check the issuer with `openssl x509 -noout -issuer -in FILE` (it must be CN = etcd-ca).");
        }
    } else if rejected.no_certificate {
        event = event
            .client_text("remote error: tls: certificate required")
            .explanation("The peer showed no badge at all. etcd runs its peer port with --peer-client-cert-auth, so no member gets in without a badge signed by the etcd CA.")
            .hint("Peers dial with --peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt and --peer-key-file=…/peer.key.");
    } else {
        event = event.explanation("The handshake on etcd's peer port did not complete.");
    }
    config.events.emit(event);
}

/// A good badge from the wrong place: etcd's long log line, with the badge's names.
fn misplaced(
    shared: &Shared,
    peer: SocketAddr,
    identity: Option<Identity>,
    server_name: &str,
    sans: &Sans,
    text: String,
) {
    let config = &shared.config;
    let ips: Vec<String> = sans.ips.iter().map(IpAddr::to_string).collect();
    let line = config.release.rejection_line(&Refusal {
        endpoint: Endpoint::Peer,
        at: config.clock.now(),
        remote: &peer.to_string(),
        server_name,
        error: &text,
        badge: Some((&ips, &sans.dns)),
    });
    config.events.emit(
        Event::new(config.clock.now(), peer.to_string(), COMPONENT, Stage::Tls)
            .identity(identity)
            .server_log(line)
            .detail(format!("peer port :{}", shared.port))
            .explanation(format!(
                "The badge is from the etcd CA, so the handshake finished, but etcd's peer port also checks that the caller's address ({}) is one of the badge's SANs, and it is not. etcd closed the connection without a word; the caller sees an empty reply.",
                peer.ip()
            ))
            .hint("Each member dials with its own etcd/peer.crt, which kubeadm makes with the node's IP and 127.0.0.1 in its SANs; re-issue it with `kubeadm certs renew etcd-peer` (lab: `kubecorp certs renew etcd-peer`)."),
    );
}

/// The SANs `checkSAN` reads.
#[derive(Debug, Default)]
struct Sans {
    ips: Vec<IpAddr>,
    dns: Vec<String>,
}

impl Sans {
    fn of(der: &[u8]) -> Sans {
        let mut sans = Sans::default();
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
            return sans;
        };
        let Ok(Some(ext)) = cert.subject_alternative_name() else {
            return sans;
        };
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(d) => sans.dns.push((*d).to_owned()),
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => sans
                        .ips
                        .push(IpAddr::from(<[u8; 4]>::try_from(*bytes).unwrap())),
                    16 => sans
                        .ips
                        .push(IpAddr::from(<[u8; 16]>::try_from(*bytes).unwrap())),
                    _ => {}
                },
                _ => {}
            }
        }
        sans
    }
}

/// etcd's `checkSAN`: the caller's IP among the IP SANs, or one of the DNS SANs resolving to it.
async fn check_san(sans: &Sans, caller: IpAddr) -> Result<(), String> {
    let host = caller.to_string();
    let mut error = None;
    if !sans.ips.is_empty() {
        if sans.ips.contains(&caller) {
            return Ok(());
        }
        let valid: Vec<String> = sans.ips.iter().map(IpAddr::to_string).collect();
        let text = format!(
            "x509: certificate is valid for {}, not {host}",
            valid.join(", ")
        );
        if sans.dns.is_empty() {
            return Err(text);
        }
        error = Some(text);
    }
    if sans.dns.is_empty() {
        return error.map_or(Ok(()), Err);
    }
    let mut lookup_error = None;
    // A peer's badge decides how many names are looked up: a few, each briefly.
    for name in sans.dns.iter().filter(|n| !n.starts_with("*.")).take(16) {
        let lookup = tokio::net::lookup_host((name.as_str(), 0));
        match tokio::time::timeout(std::time::Duration::from_secs(2), lookup).await {
            Ok(Ok(addrs)) => {
                if addrs.map(|a| a.ip()).any(|ip| ip == caller) {
                    return Ok(());
                }
            }
            Ok(Err(_)) => lookup_error = Some(format!(" (lookup {name}: no such host)")),
            Err(_) => lookup_error = Some(format!(" (lookup {name}: i/o timeout)")),
        }
    }
    Err(format!(
        "tls: {} does not match any of DNSNames {}{}",
        go_quote(&host),
        go_quote_list(&sans.dns),
        lookup_error.unwrap_or_default()
    ))
}

/// One member as `/members` lists it (etcd's `membership.Member`: raft attributes, then
/// attributes; empty name, client URLs and the learner flag left out).
#[derive(Serialize)]
struct Member<'a> {
    id: u64,
    #[serde(rename = "peerURLs")]
    peer_urls: &'a [String],
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(rename = "clientURLs", skip_serializing_if = "<[String]>::is_empty")]
    client_urls: &'a [String],
}

/// An answer on the peer port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerReply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: String,
    /// `Allow` on a 405.
    pub allow: Option<&'static str>,
    /// `X-Etcd-Cluster-Id` (hex), on `/members`.
    pub cluster_id: Option<String>,
}

impl PeerReply {
    fn text(status: StatusCode, body: &str) -> PeerReply {
        PeerReply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
            allow: None,
            cluster_id: None,
        }
    }

    fn json(body: String) -> PeerReply {
        PeerReply {
            content_type: "application/json",
            body,
            ..PeerReply::text(StatusCode::OK, "")
        }
    }
}

/// The peer handlers, as a plain function of the method and path.
pub fn answer(config: &PeerConfig, method: &Method, path: &str) -> PeerReply {
    let not_allowed = || PeerReply {
        allow: Some("GET"),
        ..PeerReply::text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n")
    };
    match (method, path) {
        (&Method::GET, "/version") => PeerReply::json(format!(
            r#"{{"etcdserver":"{}","etcdcluster":"{}"}}"#,
            config.release.server_version(),
            config.release.cluster_version()
        )),
        (&Method::GET, "/members") => {
            let members = [Member {
                id: config.member_id(),
                peer_urls: &config.peer_urls,
                name: &config.member_name,
                client_urls: &config.client_urls,
            }];
            // json.NewEncoder(w).Encode: compact, then a newline.
            let body = serde_json::to_string(&members).expect("members always serialize") + "\n";
            PeerReply {
                cluster_id: Some(format!("{:x}", config.cluster_id())),
                ..PeerReply::json(body)
            }
        }
        (_, "/version" | "/members") => not_allowed(),
        _ => PeerReply::text(StatusCode::NOT_FOUND, "404 page not found\n"),
    }
}

fn serve(
    shared: &Shared,
    peer: SocketAddr,
    identity: Option<Identity>,
    req: Request<Incoming>,
) -> Response<http_body_util::Full<Bytes>> {
    let config = &shared.config;
    let reply = answer(config, req.method(), req.uri().path());
    config.events.emit(
        Event::new(
            config.clock.now(),
            peer.to_string(),
            COMPONENT,
            Stage::Request,
        )
        .allowed(reply.status.is_success())
        .identity(identity)
        .detail(format!(
            "{} {} {} on the peer port :{}",
            req.method(),
            req.uri().path(),
            reply.status.as_u16(),
            shared.port
        )),
    );
    let mut response = Response::builder()
        .status(reply.status)
        .header(http::header::CONTENT_TYPE, reply.content_type);
    if reply.content_type.starts_with("text/plain") {
        response = response.header("X-Content-Type-Options", "nosniff");
    }
    if let Some(allow) = reply.allow {
        response = response.header(http::header::ALLOW, allow);
    }
    if let Some(id) = reply.cluster_id {
        response = response.header("X-Etcd-Cluster-Id", id);
    }
    response
        .body(http_body_util::Full::new(Bytes::from(reply.body)))
        .expect("status and headers are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> PeerConfig {
        PeerConfig::new(
            "kubecorp-control-plane",
            CertSource::pem_files("peer.crt", "peer.key"),
            TrustSource::bundle("ca.crt"),
            vec!["https://127.0.0.1:23800".into()],
            vec!["https://127.0.0.1:23790".into()],
            LabClock::real(),
            Events::new(),
        )
    }

    #[test]
    fn member_and_cluster_ids_are_the_ones_real_etcd_computes() {
        // Debian's etcd 3.4.23 started with these URLs and the default token answered
        // `"id":15605283837629904139` and `X-Etcd-Cluster-Id: febfed3f4dfe9347`.
        let config = config();
        assert_eq!(config.member_id(), 15605283837629904139);
        assert_eq!(format!("{:x}", config.cluster_id()), "febfed3f4dfe9347");
    }

    #[test]
    fn members_lists_the_lone_member_as_real_etcd_does() {
        let reply = answer(&config(), &Method::GET, "/members");
        assert_eq!(
            reply.body,
            "[{\"id\":15605283837629904139,\"peerURLs\":[\"https://127.0.0.1:23800\"],\"name\":\"kubecorp-control-plane\",\"clientURLs\":[\"https://127.0.0.1:23790\"]}]\n"
        );
        assert_eq!(reply.cluster_id.as_deref(), Some("febfed3f4dfe9347"));
    }

    #[test]
    fn other_paths_are_go_not_found_and_other_methods_not_allowed() {
        let c = config();
        assert_eq!(
            answer(&c, &Method::GET, "/v3/kv/range").body,
            "404 page not found\n"
        );
        let post = answer(&c, &Method::POST, "/members");
        assert_eq!((post.status.as_u16(), post.allow), (405, Some("GET")));
    }

    #[tokio::test]
    async fn a_badge_for_another_ip_is_refused_with_gos_hostname_error() {
        let sans = Sans {
            ips: vec!["10.9.9.9".parse().unwrap()],
            dns: vec![],
        };
        let caller: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            check_san(&sans, caller).await.unwrap_err(),
            "x509: certificate is valid for 10.9.9.9, not 127.0.0.1"
        );
        let kubeadm = Sans {
            ips: vec!["10.0.0.5".parse().unwrap(), caller],
            dns: vec!["cp-1".into(), "localhost".into()],
        };
        assert_eq!(check_san(&kubeadm, caller).await, Ok(()));
        assert_eq!(go_quote_list(&[]), "[]");
        assert_eq!(go_quote_list(&["a".into(), "b".into()]), r#"["a" "b"]"#);
    }
}
