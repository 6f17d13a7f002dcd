//! A server's name turned into addresses, and Go's words when it does not resolve.
//!
//! client-go (and so kubectl) dials with Go's own resolver. A name that does not exist fails
//! before any connection, and the error names the name server that said so:
//!
//! ```text
//! dial tcp: lookup kubecorp-nowhere.invalid on 10.255.255.53:53: no such host
//! ```
//!
//! That is a `net.OpError{Op: "dial", Net: "tcp"}` with no address (nothing was resolved)
//! around a `net.DNSError`, whose `Error()` is `"lookup " + Name + " on " + Server + ": " + Err`
//! (golang/go `src/net/net.go`, `(*DNSError).Error`, the same from Go 1.0 through go1.22, the Go
//! of etcd 3.5.16, and the Go that builds kubectl v1.32). `Server` is the name server asked:
//! the first `nameserver` of `/etc/resolv.conf` as `JoinHostPort(addr, "53")`, or
//! `127.0.0.1:53` when there is none (`src/net/dnsconfig_unix.go` and `defaultNS` in
//! `src/net/dnsconfig.go`); on an NXDOMAIN answer `tryOneName` in `src/net/dnsclient_unix.go`
//! returns at once with `Err: "no such host"` and that server. The lab resolves with the
//! system's resolver (getaddrinfo: `/etc/hosts`, then DNS, as Go's `files,dns` order) and writes
//! the failure as Go would.

use std::io;
use std::net::{IpAddr, SocketAddr};

/// Go's text for a name that did not resolve: `dial tcp: lookup NAME on SERVER: no such host`.
pub fn lookup_failure_text(name: &str, server: &str, err: &io::Error) -> String {
    format!(
        "dial tcp: lookup {name} on {server}: {}",
        go_lookup_error(err)
    )
}

/// Go's `DNSError.Err` for what getaddrinfo said.
fn go_lookup_error(err: &io::Error) -> &'static str {
    // glibc's EAI_NONAME ("Name or service not known") and EAI_NODATA ("No address associated
    // with hostname") are Go's NXDOMAIN and empty answer: both `errNoSuchHost`. Anything else
    // (EAI_AGAIN, "Temporary failure in name resolution") is a server that answered with a
    // failure, Go's `errServerTemporarilyMisbehaving`.
    let text = err.to_string();
    if text.contains("not known") || text.contains("No address associated") {
        "no such host"
    } else {
        "server misbehaving"
    }
}

/// The name server Go would name: the first usable `nameserver` line of `resolv_conf`, with
/// port 53, or Go's default `127.0.0.1:53`.
pub fn first_name_server(resolv_conf: &str) -> String {
    resolv_conf
        .lines()
        .filter(|line| !line.starts_with('#') && !line.starts_with(';'))
        .filter_map(|line| {
            let mut fields = line.split_ascii_whitespace();
            (fields.next() == Some("nameserver")).then(|| fields.next())?
        })
        // Go takes an address only (netip.ParseAddr, a zone allowed), never a name.
        .find(|addr| {
            let bare = addr.split_once('%').map_or(*addr, |(ip, _)| ip);
            bare.parse::<IpAddr>().is_ok()
        })
        .map(|addr| {
            if addr.contains(':') {
                format!("[{addr}]:53")
            } else {
                format!("{addr}:53")
            }
        })
        .unwrap_or_else(|| "127.0.0.1:53".to_owned())
}

/// The machine's name server, as Go would name it in a lookup error.
pub fn system_name_server() -> String {
    first_name_server(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default())
}

/// The addresses to dial for `host:port`: an IP address as it is, a name through the system's
/// resolver; a name that does not resolve gives Go's whole dial error.
pub async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let failed = |err: io::Error| lookup_failure_text(host, &system_name_server(), &err);
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(failed)?
        .collect();
    if found.is_empty() {
        let none = io::Error::other("No address associated with hostname");
        return Err(failed(none));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_server_named_is_the_first_address_of_resolv_conf_with_port_53() {
        let conf = "# written by hand\n; old\nsearch lab.example\nnameserver ns.example\nnameserver 10.255.255.53\nnameserver 1.1.1.1\n";
        assert_eq!(first_name_server(conf), "10.255.255.53:53");
        assert_eq!(
            first_name_server("nameserver fe80::1%eth0\n"),
            "[fe80::1%eth0]:53"
        );
        assert_eq!(first_name_server("nameserver ::1\n"), "[::1]:53");
        assert_eq!(first_name_server("search example\n"), "127.0.0.1:53");
        assert_eq!(first_name_server(""), "127.0.0.1:53");
    }

    #[test]
    fn a_name_that_does_not_exist_reads_as_gos_dns_error() {
        let nxdomain =
            io::Error::other("failed to lookup address information: Name or service not known");
        assert_eq!(
            lookup_failure_text("kubecorp-nowhere", "127.0.0.53:53", &nxdomain),
            "dial tcp: lookup kubecorp-nowhere on 127.0.0.53:53: no such host"
        );
        let again = io::Error::other(
            "failed to lookup address information: Temporary failure in name resolution",
        );
        assert_eq!(
            lookup_failure_text("cp-1", "10.0.0.2:53", &again),
            "dial tcp: lookup cp-1 on 10.0.0.2:53: server misbehaving"
        );
    }

    #[tokio::test]
    async fn an_address_is_dialled_as_it_is_and_localhost_resolves() {
        assert_eq!(
            resolve("127.0.0.1", 6443).await.unwrap(),
            vec!["127.0.0.1:6443".parse().unwrap()]
        );
        assert_eq!(
            resolve("::1", 6443).await.unwrap(),
            vec!["[::1]:6443".parse().unwrap()]
        );
        let local = resolve("localhost", 6443).await.unwrap();
        assert!(local.iter().all(|a| a.ip().is_loopback()), "{local:?}");
    }
}
