//! The Founder's catalogue: every badge kubeadm 1.32 makes, its shape, its file, and its place in KubeCorp.
//!
//! The shapes come from kubeadm's `certlist.go` and `kubeconfig.go`: who signs each badge (three
//! separate CAs), the CN and O written on it, what it may be used for (server, client or both),
//! and which names it carries. Everything else in the lab reads these shapes from here.

use std::net::IpAddr;

/// The three certificate authorities of a kubeadm cluster. They are independent: a badge
/// signed by one is worthless to a guard who trusts another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Authority {
    /// `ca` (CN `kubernetes`): the Founder, who signs every cluster badge and kubeconfig.
    Cluster,
    /// `front-proxy-ca`: signs the badge Alice shows to aggregated API servers.
    FrontProxy,
    /// `etcd-ca`: Charlie's own signature stamp; only badges it signed open the vault.
    Etcd,
}

impl Authority {
    pub const ALL: [Authority; 3] = [Authority::Cluster, Authority::Etcd, Authority::FrontProxy];

    /// kubeadm's name for the CA, as `check-expiration` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Authority::Cluster => "ca",
            Authority::FrontProxy => "front-proxy-ca",
            Authority::Etcd => "etcd-ca",
        }
    }

    /// The Subject CN kubeadm gives the CA (not the `kubernetes-ca` the docs page shows).
    pub fn common_name(self) -> &'static str {
        match self {
            Authority::Cluster => "kubernetes",
            Authority::FrontProxy => "front-proxy-ca",
            Authority::Etcd => "etcd-ca",
        }
    }

    /// The CA's files under the pki directory, without extension.
    pub fn stem(self) -> &'static str {
        match self {
            Authority::Cluster => "ca",
            Authority::FrontProxy => "front-proxy-ca",
            Authority::Etcd => "etcd/ca",
        }
    }

    pub fn role(self) -> Role {
        match self {
            Authority::Cluster => Role {
                whose: "the Founder's signature (cluster CA): every cluster badge and kubeconfig is signed with it",
                checked_by: "nobody checks it; everyone trusts it: Alice (apiserver) for client badges, the CEO (kubelet) for callers, and every client for Alice's own badge",
                trusts: "itself (self-signed, 10 years)",
            },
            Authority::FrontProxy => Role {
                whose: "the front-proxy CA: signs the badge Alice shows when she forwards requests to aggregated API servers",
                checked_by: "aggregated API servers (--requestheader-client-ca-file)",
                trusts: "itself (self-signed, 10 years)",
            },
            Authority::Etcd => Role {
                whose: "Charlie's own signature stamp (etcd CA), kept apart from the cluster CA",
                checked_by: "Charlie (etcd) trusts only this CA for clients and peers (--trusted-ca-file, --peer-trusted-ca-file)",
                trusts: "itself (self-signed, 10 years)",
            },
        }
    }
}

/// What a badge may be used for: its extended key usages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Usage {
    /// A guard's badge: EKU serverAuth.
    Server,
    /// A visitor's badge: EKU clientAuth.
    Client,
    /// Both (etcd's server and peer certificates): serverAuth and clientAuth.
    ServerAndClient,
}

/// How the CN of a badge is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommonName {
    Fixed(&'static str),
    /// The node name itself (etcd server and peer: kubeadm does not use `kube-etcd`).
    NodeName,
    /// `system:node:<node name>`, the identity the Node authorizer recognizes.
    NodeIdentity,
}

/// Which names a badge carries in its SAN extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AltNames {
    None,
    /// Alice's names: node name, kubernetes, kubernetes.default, … and the service and advertise IPs.
    ApiServer,
    /// Charlie's names: node name, localhost, the advertise IP, 127.0.0.1 and ::1.
    Etcd,
}

/// Where a badge lives: a certificate/key pair in the pki directory, or embedded in a kubeconfig.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// `pki/<stem>.crt` and `pki/<stem>.key`.
    Pki(&'static str),
    /// `<file>` at the top of the lab directory, with the certificate and key embedded.
    Kubeconfig(&'static str),
}

/// Whose badge it is in the KubeCorp story, who checks it, and against which CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Role {
    pub whose: &'static str,
    pub checked_by: &'static str,
    pub trusts: &'static str,
}

/// One badge kubeadm makes.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    /// kubeadm's name (`kubeadm certs renew <name>`).
    pub name: &'static str,
    /// kubeadm's long description, printed as `<long name> renewed`.
    pub long_name: &'static str,
    pub authority: Authority,
    pub common_name: CommonName,
    pub organizations: &'static [&'static str],
    pub usage: Usage,
    pub alt_names: AltNames,
    pub storage: Storage,
    /// Listed by `check-expiration` and renewable by `certs renew` (kubeadm manages it).
    pub kubeadm_managed: bool,
    pub role: Role,
    /// Where the lab differs from a kubeadm cluster, said plainly.
    pub note: Option<&'static str>,
}

/// Every badge, in kubeadm's order of `check-expiration` rows (sorted by name), then the lab's extras.
pub const PROFILES: &[Profile] = &[
    Profile {
        name: "admin.conf",
        long_name: "certificate embedded in the kubeconfig file for the admin to use and for kubeadm itself",
        authority: Authority::Cluster,
        common_name: CommonName::Fixed("kubernetes-admin"),
        organizations: &["kubeadm:cluster-admins"],
        usage: Usage::Client,
        alt_names: AltNames::None,
        storage: Storage::Kubeconfig("admin.conf"),
        kubeadm_managed: true,
        role: Role {
            whose: "the administrator's badge (kubernetes-admin, group kubeadm:cluster-admins)",
            checked_by: "Alice (apiserver) after the handshake; then RBAC, through the kubeadm:cluster-admins binding to cluster-admin",
            trusts: "ca (pki/ca.crt, --client-ca-file)",
        },
        note: None,
    },
    Profile {
        name: "apiserver",
        long_name: "certificate for serving the Kubernetes API",
        authority: Authority::Cluster,
        common_name: CommonName::Fixed("kube-apiserver"),
        organizations: &[],
        usage: Usage::Server,
        alt_names: AltNames::ApiServer,
        storage: Storage::Pki("apiserver"),
        kubeadm_managed: true,
        role: Role {
            whose: "Alice's guard badge: the apiserver at the front door proves she is the real one",
            checked_by: "every visitor (kubectl, Bob the scheduler, the CEO, Dave) against the CA in their kubeconfig, and the name they dialled against its SANs",
            trusts: "ca (certificate-authority-data in each kubeconfig)",
        },
        note: None,
    },
    Profile {
        name: "apiserver-etcd-client",
        long_name: "certificate the apiserver uses to access etcd",
        authority: Authority::Etcd,
        common_name: CommonName::Fixed("kube-apiserver-etcd-client"),
        organizations: &[],
        usage: Usage::Client,
        alt_names: AltNames::None,
        storage: Storage::Pki("apiserver-etcd-client"),
        kubeadm_managed: true,
        role: Role {
            whose: "Alice's badge for the vault: the apiserver's client certificate to etcd",
            checked_by: "Charlie (etcd), in the TLS handshake itself",
            trusts: "etcd-ca (pki/etcd/ca.crt, --trusted-ca-file); the cluster CA is not trusted",
        },
        note: None,
    },
    Profile {
        name: "apiserver-kubelet-client",
        long_name: "certificate for the API server to connect to kubelet",
        authority: Authority::Cluster,
        common_name: CommonName::Fixed("kube-apiserver-kubelet-client"),
        organizations: &["kubeadm:cluster-admins"],
        usage: Usage::Client,
        alt_names: AltNames::None,
        storage: Storage::Pki("apiserver-kubelet-client"),
        kubeadm_managed: true,
        role: Role {
            whose: "Alice's badge when she calls on the CEO: the apiserver's client certificate to kubelets (logs, exec)",
            checked_by: "the CEO (kubelet) against its clientCAFile, then a SubjectAccessReview for nodes/proxy",
            trusts: "ca (pki/ca.crt, kubelet authentication.x509.clientCAFile)",
        },
        note: None,
    },
    Profile {
        name: "controller-manager.conf",
        long_name: "certificate embedded in the kubeconfig file for the controller manager to use",
        authority: Authority::Cluster,
        common_name: CommonName::Fixed("system:kube-controller-manager"),
        organizations: &[],
        usage: Usage::Client,
        alt_names: AltNames::None,
        storage: Storage::Kubeconfig("controller-manager.conf"),
        kubeadm_managed: true,
        role: Role {
            whose: "the controller manager's badge (system:kube-controller-manager), the office manager who keeps things in order and signs CSRs",
            checked_by: "Alice (apiserver) after the handshake; then RBAC role system:kube-controller-manager",
            trusts: "ca (pki/ca.crt, --client-ca-file)",
        },
        note: None,
    },
    Profile {
        name: "etcd-healthcheck-client",
        long_name: "certificate for liveness probes to healthcheck etcd",
        authority: Authority::Etcd,
        common_name: CommonName::Fixed("kube-etcd-healthcheck-client"),
        organizations: &[],
        usage: Usage::Client,
        alt_names: AltNames::None,
        storage: Storage::Pki("etcd/healthcheck-client"),
        kubeadm_managed: true,
        role: Role {
            whose: "the inspector's badge: what kubeadm itself shows the vault to check its health",
            checked_by: "Charlie (etcd), in the TLS handshake",
            trusts: "etcd-ca (pki/etcd/ca.crt)",
        },
        note: Some("despite its name, the etcd liveness probe uses plain HTTP on 127.0.0.1:2381; kubeadm uses this badge for its own etcd calls"),
    },
    Profile {
        name: "etcd-peer",
        long_name: "certificate for etcd nodes to communicate with each other",
        authority: Authority::Etcd,
        common_name: CommonName::NodeName,
        organizations: &[],
        usage: Usage::ServerAndClient,
        alt_names: AltNames::Etcd,
        storage: Storage::Pki("etcd/peer"),
        kubeadm_managed: true,
        role: Role {
            whose: "the badge vault guards show each other: etcd member to etcd member",
            checked_by: "the other etcd members, in the handshake (and the peer's address against the SANs)",
            trusts: "etcd-ca (pki/etcd/ca.crt, --peer-trusted-ca-file)",
        },
        note: None,
    },
    Profile {
        name: "etcd-server",
        long_name: "certificate for serving etcd",
        authority: Authority::Etcd,
        common_name: CommonName::NodeName,
        organizations: &[],
        usage: Usage::ServerAndClient,
        alt_names: AltNames::Etcd,
        storage: Storage::Pki("etcd/server"),
        kubeadm_managed: true,
        role: Role {
            whose: "Charlie's guard badge: etcd proves it is the real vault",
            checked_by: "Alice (apiserver) against --etcd-cafile, and the address she dialled against its SANs",
            trusts: "etcd-ca (pki/etcd/ca.crt)",
        },
        note: Some("it carries clientAuth too, because etcd's gRPC gateway dials etcd itself with it"),
    },
    Profile {
        name: "front-proxy-client",
        long_name: "certificate for the front proxy client",
        authority: Authority::FrontProxy,
        common_name: CommonName::Fixed("front-proxy-client"),
        organizations: &[],
        usage: Usage::Client,
        alt_names: AltNames::None,
        storage: Storage::Pki("front-proxy-client"),
        kubeadm_managed: true,
        role: Role {
            whose: "Alice's badge when she forwards a visitor to an aggregated API server (metrics-server and friends)",
            checked_by: "aggregated API servers",
            trusts: "front-proxy-ca (pki/front-proxy-ca.crt, --requestheader-client-ca-file)",
        },
        note: None,
    },
    Profile {
        name: "scheduler.conf",
        long_name: "certificate embedded in the kubeconfig file for the scheduler manager to use",
        authority: Authority::Cluster,
        common_name: CommonName::Fixed("system:kube-scheduler"),
        organizations: &[],
        usage: Usage::Client,
        alt_names: AltNames::None,
        storage: Storage::Kubeconfig("scheduler.conf"),
        kubeadm_managed: true,
        role: Role {
            whose: "Bob's badge: the scheduler (system:kube-scheduler), who decides which desk each pod gets",
            checked_by: "Alice (apiserver) after the handshake; then RBAC role system:kube-scheduler",
            trusts: "ca (pki/ca.crt, --client-ca-file)",
        },
        note: None,
    },
    Profile {
        name: "super-admin.conf",
        long_name: "certificate embedded in the kubeconfig file for the super-admin",
        authority: Authority::Cluster,
        common_name: CommonName::Fixed("kubernetes-super-admin"),
        organizations: &["system:masters"],
        usage: Usage::Client,
        alt_names: AltNames::None,
        storage: Storage::Kubeconfig("super-admin.conf"),
        kubeadm_managed: true,
        role: Role {
            whose: "the break-glass master key (group system:masters), kept in the safe for emergencies",
            checked_by: "Alice (apiserver) after the handshake; system:masters then passes every authorization check, and cannot be revoked",
            trusts: "ca (pki/ca.crt, --client-ca-file)",
        },
        note: None,
    },
    Profile {
        name: "kubelet.conf",
        long_name: "certificate embedded in the kubeconfig file for the kubelet to use",
        authority: Authority::Cluster,
        common_name: CommonName::NodeIdentity,
        organizations: &["system:nodes"],
        usage: Usage::Client,
        alt_names: AltNames::None,
        storage: Storage::Kubeconfig("kubelet.conf"),
        kubeadm_managed: false,
        role: Role {
            whose: "the CEO's badge: the kubelet's client identity system:node:<node>",
            checked_by: "Alice (apiserver) after the handshake; then the Node authorizer, which only lets a node touch its own objects",
            trusts: "ca (pki/ca.crt, --client-ca-file)",
        },
        note: Some("kubeadm does not renew kubelet.conf: the kubelet rotates its own client certificate by CSR (rotateCertificates: true)"),
    },
    Profile {
        name: "kube-proxy.conf",
        long_name: "certificate embedded in the kubeconfig file for kube-proxy to use",
        authority: Authority::Cluster,
        common_name: CommonName::Fixed("system:kube-proxy"),
        organizations: &[],
        usage: Usage::Client,
        alt_names: AltNames::None,
        storage: Storage::Kubeconfig("kube-proxy.conf"),
        kubeadm_managed: false,
        role: Role {
            whose: "Dave's badge: kube-proxy (system:kube-proxy), who programs the office's network rules",
            checked_by: "Alice (apiserver) after the handshake; then RBAC, through the system:node-proxier binding",
            trusts: "ca (pki/ca.crt, --client-ca-file)",
        },
        note: Some("a kubeadm cluster gives kube-proxy a service-account token (system:serviceaccount:kube-system:kube-proxy), not a certificate; the lab issues a certificate the Kubernetes-the-Hard-Way way so Dave has a badge to show"),
    },
];

/// Finds a badge by kubeadm name.
pub fn profile(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name)
}

/// The facts a profile needs from the cluster to become a concrete certificate.
#[derive(Debug, Clone)]
pub struct ClusterFacts {
    pub node_name: String,
    pub advertise_address: IpAddr,
    /// First IP of the service subnet (kubeadm default `10.96.0.0/12` → `10.96.0.1`).
    pub service_ip: IpAddr,
    pub dns_domain: String,
    pub cluster_name: String,
    /// kubeadm's `apiServer.certSANs` (`--apiserver-cert-extra-sans`): added to the apiserver's
    /// serving badge after its usual names.
    pub apiserver_extra_sans: Vec<San>,
}

impl ClusterFacts {
    pub fn new(node_name: impl Into<String>, advertise_address: IpAddr) -> Self {
        ClusterFacts {
            node_name: node_name.into(),
            advertise_address,
            service_ip: IpAddr::from([10, 96, 0, 1]),
            dns_domain: "cluster.local".into(),
            cluster_name: "kubernetes".into(),
            apiserver_extra_sans: Vec::new(),
        }
    }

    /// The API server URL written into kubeconfigs.
    pub fn server_url(&self) -> String {
        match self.advertise_address {
            IpAddr::V4(ip) => format!("https://{ip}:6443"),
            IpAddr::V6(ip) => format!("https://[{ip}]:6443"),
        }
    }
}

/// A SAN entry, in the order kubeadm writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum San {
    Dns(String),
    Ip(IpAddr),
}

impl San {
    /// One `--apiserver-cert-extra-sans` entry, read as kubeadm reads `certSANs`
    /// (`pkiutil.appendSANsToAltNames`): an IP address, else a DNS name (RFC 1123 subdomain,
    /// or a wildcard `*.` before one). kubeadm only warns and drops a bad entry; the lab
    /// refuses it, so nothing is silently left out.
    pub fn parse_extra(value: &str) -> crate::Result<San> {
        let value = value.trim();
        if let Ok(ip) = value.parse::<IpAddr>() {
            return Ok(San::Ip(ip));
        }
        let name = value.strip_prefix("*.").unwrap_or(value);
        if name.len() <= 253 && crate::node_name::is_dns1123_subdomain(name) {
            Ok(San::Dns(value.to_string()))
        } else {
            Err(crate::PkiError::BadSan {
                value: value.to_string(),
            })
        }
    }
}

impl std::fmt::Display for San {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            San::Dns(d) => f.write_str(d),
            San::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

impl Profile {
    pub fn common_name(&self, facts: &ClusterFacts) -> String {
        match self.common_name {
            CommonName::Fixed(cn) => cn.to_string(),
            CommonName::NodeName => facts.node_name.clone(),
            CommonName::NodeIdentity => format!("system:node:{}", facts.node_name),
        }
    }

    /// The SANs as kubeadm writes them: DNS names de-duplicated and sorted, then IPs in
    /// insertion order without duplicates (pkiutil `RemoveDuplicateAltNames`).
    pub fn alt_names(&self, facts: &ClusterFacts) -> Vec<San> {
        let (mut dns, ips): (Vec<String>, Vec<IpAddr>) = match self.alt_names {
            AltNames::None => return Vec::new(),
            AltNames::ApiServer => {
                let mut dns = vec![
                    facts.node_name.clone(),
                    "kubernetes".into(),
                    "kubernetes.default".into(),
                    "kubernetes.default.svc".into(),
                    format!("kubernetes.default.svc.{}", facts.dns_domain),
                ];
                let mut ips = vec![facts.service_ip, facts.advertise_address];
                for san in &facts.apiserver_extra_sans {
                    match san {
                        San::Dns(d) => dns.push(d.clone()),
                        San::Ip(ip) => ips.push(*ip),
                    }
                }
                (dns, ips)
            }
            AltNames::Etcd => (
                vec![facts.node_name.clone(), "localhost".into()],
                vec![
                    facts.advertise_address,
                    IpAddr::from([127, 0, 0, 1]),
                    IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
                ],
            ),
        };
        dns.sort();
        dns.dedup();
        let mut out: Vec<San> = dns.into_iter().map(San::Dns).collect();
        for ip in ips {
            if !out.contains(&San::Ip(ip)) {
                out.push(San::Ip(ip));
            }
        }
        out
    }
}
