//! Which etcd Charlie plays, and the texts that differ between them: kubeadm 1.32's etcd 3.5.16
//! (built with Go 1.22, zap JSON logs) by default, or Debian 12's etcd 3.4.23 (Go 1.19,
//! capnslog lines) for the side-by-side tests with a real etcd 3.4.
//!
//! # The rejection line
//!
//! etcd's `embed` package hands each TLS listener a `HandshakeFailure` logger. etcd 3.4 prints
//! it as text:
//!
//! ```text
//! rejected connection from "127.0.0.1:53312" (error "tls: failed to verify client certificate: x509: certificate signed by unknown authority", ServerName "")
//! ```
//!
//! etcd 3.5.16 (`server/embed/config_logging.go`, release-3.5, after PR 18319 of v3.5.15) logs
//! the same facts as one zap JSON object, with a message naming the port:
//!
//! ```text
//! {"level":"warn","ts":"2026-04-24T09:00:00.123456Z","caller":"embed/config_logging.go:170","msg":"rejected connection on client endpoint","remote-addr":"127.0.0.1:53312","server-name":"","error":"tls: failed to verify certificate: x509: certificate signed by unknown authority"}
//! ```
//!
//! The error text changed with Go too: since Go 1.20 a refused client badge reads
//! `tls: failed to verify certificate: …` (crypto/tls `CertificateVerificationError`), where
//! Go 1.19 said `tls: failed to verify client certificate: …`.

use kubecorp_trust::gotime;
use kubecorp_trust::tls::GoAlerts;
use time::OffsetDateTime;

use crate::server::go_quote;

/// The etcd a lab member plays.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Release {
    /// etcd 3.5.16, the image kubeadm 1.32 runs (Go 1.22.7).
    #[default]
    V3_5_16,
    /// etcd 3.4.23 as Debian 12 ships it (Go 1.19.8): the real etcd the tests compare with.
    V3_4_23,
}

/// Which of etcd's two TLS listeners refused a visitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// The client port, :2379.
    Client,
    /// The peer port, :2380.
    Peer,
}

/// One refused connection, as etcd's `HandshakeFailure` logger sees it.
#[derive(Clone, Debug)]
pub struct Refusal<'a> {
    pub endpoint: Endpoint,
    pub at: OffsetDateTime,
    /// `conn.RemoteAddr()`.
    pub remote: &'a str,
    /// The SNI the client sent, empty when it dialled an IP address.
    pub server_name: &'a str,
    /// Go's error text.
    pub error: &'a str,
    /// The badge's IP and DNS SANs, when the handshake finished and a later check refused it
    /// (the peer port's address check).
    pub badge: Option<(&'a [String], &'a [String])>,
}

const GO_1_19_VERIFY: &str = "tls: failed to verify client certificate: ";
const GO_1_20_VERIFY: &str = "tls: failed to verify certificate: ";

impl Release {
    /// Picks the release whose Go sends the same alerts as the Go named like `go1.19.8`.
    pub fn for_go_version(version: &str) -> Release {
        match GoAlerts::for_go_version(version) {
            GoAlerts::BadCertificateOnly => Release::V3_4_23,
            GoAlerts::Specific => Release::V3_5_16,
        }
    }

    /// `etcdserver` in `GET /version`.
    pub fn server_version(self) -> &'static str {
        match self {
            Release::V3_5_16 => "3.5.16",
            Release::V3_4_23 => "3.4.23",
        }
    }

    /// `etcdcluster` in `GET /version`: the cluster version is major.minor.0.
    pub fn cluster_version(self) -> &'static str {
        match self {
            Release::V3_5_16 => "3.5.0",
            Release::V3_4_23 => "3.4.0",
        }
    }

    /// The `GET /health` body of a healthy member: 3.5 added `reason`
    /// (`server/etcdserver/api/etcdhttp/health.go`, `type Health`).
    pub fn health_body(self) -> &'static str {
        match self {
            Release::V3_5_16 => r#"{"health":"true","reason":""}"#,
            Release::V3_4_23 => r#"{"health":"true"}"#,
        }
    }

    /// The TLS alerts its Go sends for a refused badge.
    pub fn alerts(self) -> GoAlerts {
        match self {
            Release::V3_5_16 => GoAlerts::Specific,
            Release::V3_4_23 => GoAlerts::BadCertificateOnly,
        }
    }

    /// A server-side handshake error as this release's Go words it.
    pub fn go_text(self, text: &str) -> String {
        match (self, text.strip_prefix(GO_1_19_VERIFY)) {
            (Release::V3_5_16, Some(rest)) => format!("{GO_1_20_VERIFY}{rest}"),
            _ => text.to_owned(),
        }
    }

    /// etcd's log line for a refused connection.
    pub fn rejection_line(self, refusal: &Refusal<'_>) -> String {
        let error = self.go_text(refusal.error);
        match self {
            Release::V3_4_23 => {
                let mut line = format!(
                    "rejected connection from {} (error {}, ServerName {}",
                    go_quote(refusal.remote),
                    go_quote(&error),
                    go_quote(refusal.server_name)
                );
                if let Some((ips, dns)) = refusal.badge {
                    line.push_str(&format!(
                        ", IPAddresses {}, DNSNames {}",
                        go_quote_list(ips),
                        go_quote_list(dns)
                    ));
                }
                line.push(')');
                line
            }
            Release::V3_5_16 => {
                let msg = match refusal.endpoint {
                    Endpoint::Client => "rejected connection on client endpoint",
                    Endpoint::Peer => "rejected connection on peer endpoint",
                };
                // The two `cfg.logger.Warn(` calls of config_logging.go at v3.5.16.
                let caller = if refusal.badge.is_some() { 161 } else { 170 };
                let mut line = format!(
                    r#"{{"level":"warn","ts":{},"caller":"embed/config_logging.go:{caller}","msg":{},"remote-addr":{},"server-name":{}"#,
                    zap_string(&gotime::zap(refusal.at)),
                    zap_string(msg),
                    zap_string(refusal.remote),
                    zap_string(refusal.server_name),
                );
                if let Some((ips, dns)) = refusal.badge {
                    line.push_str(&format!(
                        r#","ip-addresses":{},"dns-names":{}"#,
                        zap_list(ips),
                        zap_list(dns)
                    ));
                }
                line.push_str(&format!(r#","error":{}}}"#, zap_string(&error)));
                line
            }
        }
    }
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
pub fn go_quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

/// A JSON string as zap's encoder writes it (no HTML escaping).
fn zap_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string always serializes")
}

fn zap_list(items: &[String]) -> String {
    serde_json::to_string(items).expect("strings always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn refusal<'a>(endpoint: Endpoint, badge: Option<(&'a [String], &'a [String])>) -> Refusal<'a> {
        Refusal {
            endpoint,
            at: datetime!(2026-04-24 09:00:00.1234 UTC),
            remote: "127.0.0.1:53312",
            server_name: "",
            error: "tls: failed to verify client certificate: x509: certificate signed by unknown authority",
            badge,
        }
    }

    #[test]
    fn etcd_3_5_16_logs_a_refused_badge_as_one_zap_json_object_in_go_1_22s_words() {
        assert_eq!(
            Release::V3_5_16.rejection_line(&refusal(Endpoint::Client, None)),
            r#"{"level":"warn","ts":"2026-04-24T09:00:00.1234Z","caller":"embed/config_logging.go:170","msg":"rejected connection on client endpoint","remote-addr":"127.0.0.1:53312","server-name":"","error":"tls: failed to verify certificate: x509: certificate signed by unknown authority"}"#
        );
    }

    #[test]
    fn etcd_3_5_16_names_the_peer_endpoint_and_the_badges_sans_when_it_has_them() {
        let ips = vec!["10.9.9.9".to_owned()];
        assert_eq!(
            Release::V3_5_16.rejection_line(&Refusal {
                error: "x509: certificate is valid for 10.9.9.9, not 127.0.0.1",
                ..refusal(Endpoint::Peer, Some((&ips, &[])))
            }),
            r#"{"level":"warn","ts":"2026-04-24T09:00:00.1234Z","caller":"embed/config_logging.go:161","msg":"rejected connection on peer endpoint","remote-addr":"127.0.0.1:53312","server-name":"","ip-addresses":["10.9.9.9"],"dns-names":[],"error":"x509: certificate is valid for 10.9.9.9, not 127.0.0.1"}"#
        );
    }

    #[test]
    fn etcd_3_4_23_keeps_its_text_line_and_go_1_19s_words() {
        assert_eq!(
            Release::V3_4_23.rejection_line(&refusal(Endpoint::Client, None)),
            r#"rejected connection from "127.0.0.1:53312" (error "tls: failed to verify client certificate: x509: certificate signed by unknown authority", ServerName "")"#
        );
    }
}
