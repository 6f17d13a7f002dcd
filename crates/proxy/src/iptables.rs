//! The rules kube-proxy's iptables mode writes for a Service, named the way kube-proxy names
//! them.
//!
//! Every service port gets a chain `KUBE-SVC-<hash>`, every endpoint a chain `KUBE-SEP-<hash>`.
//! The hash is `pkg/proxy/iptables/proxier.go`'s `portProtoHash`: SHA-256 of the service port
//! name (`namespace/name` plus `:portName` when the port has a name) followed by the lower-case
//! protocol (and, for an endpoint chain, `ip:port`), encoded in standard base32 and cut to 16
//! characters, because an iptables chain name may be at most 28 characters long. So the
//! `kubernetes` service's chain is `KUBE-SVC-NPX46M4PTMTKRN6Y` in every cluster.
//!
//! Packets to a cluster IP are matched in `KUBE-SERVICES`, jump to the service's chain, which
//! picks an endpoint at random (`-m statistic --mode random --probability 1/n`), and the
//! endpoint's chain DNATs them to the pod. A service without endpoints gets a REJECT instead.

use aws_lc_rs::digest::{digest, SHA256};
use serde_json::Value;

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Go's `base32.StdEncoding.EncodeToString`, with `=` padding.
fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = buf.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let symbols = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < symbols {
                out.push(BASE32[((bits >> (35 - i * 5)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// kube-proxy's `portProtoHash`: 16 characters of base32(sha256(input)).
fn hash16(input: &str) -> String {
    let sum = digest(&SHA256, input.as_bytes());
    base32(sum.as_ref())[..16].to_owned()
}

/// `KUBE-SVC-…` for a service port name (`default/web` or `default/web:http`) and protocol.
pub fn service_chain(service_port_name: &str, protocol: &str) -> String {
    format!(
        "KUBE-SVC-{}",
        hash16(&format!("{service_port_name}{}", protocol.to_lowercase()))
    )
}

/// `KUBE-SEP-…` for one endpoint (`10.244.0.5:80`) of a service port.
pub fn endpoint_chain(service_port_name: &str, protocol: &str, endpoint: &str) -> String {
    format!(
        "KUBE-SEP-{}",
        hash16(&format!(
            "{service_port_name}{}{endpoint}",
            protocol.to_lowercase()
        ))
    )
}

/// One port of a service, as kube-proxy programs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortRules {
    /// `default/web` or `default/web:http`.
    pub service_port_name: String,
    pub cluster_ip: String,
    pub port: u64,
    /// `TCP`, `UDP`, `SCTP`.
    pub protocol: String,
    /// `ip:port` of every ready endpoint.
    pub endpoints: Vec<String>,
}

impl PortRules {
    pub fn chain(&self) -> String {
        service_chain(&self.service_port_name, &self.protocol)
    }

    /// `KUBE-SVC-XXXX default/web 10.96.0.10:80/TCP → 10.244.0.5:80`.
    pub fn summary(&self) -> String {
        let to = if self.endpoints.is_empty() {
            "no endpoints (REJECT)".to_owned()
        } else {
            self.endpoints.join(", ")
        };
        format!(
            "{} {} {}:{}/{} → {to}",
            self.chain(),
            self.service_port_name,
            self.cluster_ip,
            self.port,
            self.protocol
        )
    }

    /// The lines `iptables-save` would show for this port.
    pub fn rules(&self) -> Vec<String> {
        let proto = self.protocol.to_lowercase();
        let name = &self.service_port_name;
        let (ip, port) = (&self.cluster_ip, self.port);
        if self.endpoints.is_empty() {
            return vec![format!(
                "-A KUBE-SERVICES -d {ip}/32 -p {proto} -m comment --comment \"{name} has no endpoints\" -m {proto} --dport {port} -j REJECT --reject-with icmp-port-unreachable"
            )];
        }
        let svc = self.chain();
        let mut lines = vec![format!(
            "-A KUBE-SERVICES -d {ip}/32 -p {proto} -m comment --comment \"{name} cluster IP\" -m {proto} --dport {port} -j {svc}"
        )];
        let n = self.endpoints.len();
        for (i, endpoint) in self.endpoints.iter().enumerate() {
            let sep = endpoint_chain(name, &self.protocol, endpoint);
            let statistic = if i + 1 < n {
                format!(
                    " -m statistic --mode random --probability {}",
                    saved_probability(n - i)
                )
            } else {
                String::new()
            };
            lines.push(format!(
                "-A {svc} -m comment --comment \"{name} -> {endpoint}\"{statistic} -j {sep}"
            ));
        }
        for endpoint in &self.endpoints {
            let sep = endpoint_chain(name, &self.protocol, endpoint);
            let pod_ip = endpoint
                .rsplit_once(':')
                .map_or(endpoint.as_str(), |(h, _)| h);
            lines.push(format!(
                "-A {sep} -s {pod_ip}/32 -m comment --comment \"{name}\" -j KUBE-MARK-MASQ"
            ));
            lines.push(format!(
                "-A {sep} -p {proto} -m comment --comment \"{name}\" -m {proto} -j DNAT --to-destination {endpoint}"
            ));
        }
        lines
    }
}

/// The label that ties an EndpointSlice to its service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The ports kube-proxy would program for `service`, with endpoints from `slices` (the
/// EndpointSlices labelled with its name). Empty for a headless service (`clusterIP: None`) or
/// one without a cluster IP, which kube-proxy skips.
pub fn service_rules(service: &Value, slices: &[&Value]) -> Vec<PortRules> {
    let ns = service["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default();
    let name = service["metadata"]["name"].as_str().unwrap_or_default();
    let cluster_ip = service["spec"]["clusterIP"].as_str().unwrap_or_default();
    if cluster_ip.is_empty() || cluster_ip == "None" {
        return Vec::new();
    }
    let Some(ports) = service["spec"]["ports"].as_array() else {
        return Vec::new();
    };
    ports
        .iter()
        .filter_map(|p| {
            let port = p["port"].as_u64()?;
            let port_name = p["name"].as_str().unwrap_or_default();
            let protocol = p["protocol"].as_str().unwrap_or("TCP").to_owned();
            let service_port_name = if port_name.is_empty() {
                format!("{ns}/{name}")
            } else {
                format!("{ns}/{name}:{port_name}")
            };
            Some(PortRules {
                service_port_name,
                cluster_ip: cluster_ip.to_owned(),
                port,
                endpoints: ready_endpoints(slices, port_name, &protocol),
                protocol,
            })
        })
        .collect()
}

/// `ip:port` of every ready endpoint (its `ready` condition not `false`, as kube-proxy reads
/// a missing one) in a slice whose port has this name and protocol.
fn ready_endpoints(slices: &[&Value], port_name: &str, protocol: &str) -> Vec<String> {
    let mut out = Vec::new();
    for slice in slices {
        let ports = slice["ports"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        let Some(port) = ports.iter().find(|p| {
            p["name"].as_str().unwrap_or_default() == port_name
                && p["protocol"].as_str().unwrap_or("TCP") == protocol
        }) else {
            continue;
        };
        let Some(number) = port["port"].as_u64() else {
            continue;
        };
        for endpoint in slice["endpoints"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            if endpoint["conditions"]["ready"].as_bool() == Some(false) {
                continue;
            }
            // kube-proxy uses the first address of an endpoint.
            if let Some(ip) = endpoint["addresses"][0].as_str() {
                out.push(format!("{ip}:{number}"));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The probability as `iptables-save` shows it for 1/`n`. kube-proxy writes
/// `fmt.Sprintf("%0.10f", 1.0/float64(n))` (`pkg/proxy/iptables/proxier.go`,
/// `computeProbability`, v1.32); the kernel keeps it as a 31-bit fraction
/// (`lround(0x80000000 * p)` in iptables' `libxt_statistic.c`), and `iptables-save` prints
/// that fraction back with `%.11f`: 1/3 reads `0.33333333349`.
pub fn saved_probability(n: usize) -> String {
    let written: f64 = format!("{:.10}", 1.0 / n as f64)
        .parse()
        .expect("a formatted float parses");
    let kept = (written * 2f64.powi(31)).round();
    format!("{:.11}", kept / 2f64.powi(31))
}

#[cfg(test)]
mod tests {

    #[test]
    fn probabilities_read_as_iptables_save_prints_kube_proxys_ten_digits() {
        assert_eq!(saved_probability(2), "0.50000000000");
        assert_eq!(saved_probability(3), "0.33333333349");
        assert_eq!(saved_probability(4), "0.25000000000");
    }
    use super::*;
    use serde_json::json;

    #[test]
    fn base32_pads_as_go_does() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY======");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI======");
    }

    #[test]
    fn chain_names_match_the_ones_every_cluster_shows() {
        // `iptables-save` on any cluster: the kubernetes and kube-dns services.
        assert_eq!(
            service_chain("default/kubernetes:https", "TCP"),
            "KUBE-SVC-NPX46M4PTMTKRN6Y"
        );
        assert_eq!(
            service_chain("kube-system/kube-dns:dns", "UDP"),
            "KUBE-SVC-TCOU7JCQXEZGVUNU"
        );
        assert_eq!(
            endpoint_chain("project-hamster/p2-service", "TCP", "10.44.0.31:80"),
            "KUBE-SEP-55IRFJIRWHLCQ6QX"
        );
    }

    #[test]
    fn a_service_port_is_summarised_with_its_endpoints() {
        let svc = json!({"metadata": {"namespace": "default", "name": "web"},
                         "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80, "protocol": "TCP"}]}});
        let slice = json!({"endpoints": [
            {"addresses": ["10.244.0.5"], "conditions": {"ready": true}},
            {"addresses": ["10.244.0.6"], "conditions": {"ready": false}}
        ], "ports": [{"port": 8080, "protocol": "TCP"}]});
        let rules = service_rules(&svc, &[&slice]);
        assert_eq!(rules.len(), 1);
        let chain = rules[0].chain();
        assert_eq!(
            rules[0].summary(),
            format!("{chain} default/web 10.96.0.10:80/TCP → 10.244.0.5:8080")
        );
        assert_eq!(
            rules[0].rules()[0],
            format!("-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment \"default/web cluster IP\" -m tcp --dport 80 -j {chain}")
        );
        let without = service_rules(&svc, &[]);
        assert_eq!(
            without[0].summary(),
            format!("{chain} default/web 10.96.0.10:80/TCP → no endpoints (REJECT)")
        );
    }

    #[test]
    fn two_endpoints_share_the_traffic_half_and_half() {
        let rules = PortRules {
            service_port_name: "default/web".into(),
            cluster_ip: "10.96.0.10".into(),
            port: 80,
            protocol: "TCP".into(),
            endpoints: vec!["10.244.0.5:80".into(), "10.244.0.6:80".into()],
        };
        let lines = rules.rules();
        assert!(lines[1]
            .contains("-m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-"));
        assert!(!lines[2].contains("statistic"));
    }
}
