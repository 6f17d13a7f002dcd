//! The `kubecorp` binary: parses arguments and hands each command to the library that owns it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use kubecorp_pki::{ClusterFacts, KeyAlgorithm, Lab};
use time::OffsetDateTime;

/// Prints a line to stdout; a closed pipe (`kubecorp … | head -1`) ends the program quietly.
macro_rules! say {
    ($($t:tt)*) => { $crate::output::emit(format_args!("{}\n", format_args!($($t)*))) };
}

/// Prints without adding a newline.
macro_rules! say_raw {
    ($($t:tt)*) => { $crate::output::emit(format_args!($($t)*)) };
}

mod challenge_cmd;
mod key;
mod office_cmd;
mod output;
mod pool_cmd;
mod scenario_cmd;
mod show;
mod stop;
mod web;
mod when;

/// The process's allocator. The buffers of a closed connection are freed at once, but glibc's
/// malloc kept the freed pages resident (2,000 idle connections at Alice left ~96 MB that only
/// `malloc_trim` gave back); jemalloc's background thread returns pages unused for 10 s to the
/// system. Measured against glibc and mimalloc in BENCHMARKS.md ("Idle connections").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// kubecorp: a Kubernetes control plane in miniature, whose components check each other's
/// badges over real mutual TLS.
#[derive(Debug, Parser)]
#[command(name = "kubecorp", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create and look after the lab's PKI (what `kubeadm init phase certs` and `phase kubeconfig` do).
    #[command(subcommand)]
    Pki(PkiCommand),
    /// Check, renew, inspect and verify certificates (what `kubeadm certs` does, and more).
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Break a badge on purpose (expire, rogue-ca, drop-san, …), or put it back with --undo.
    Break {
        /// What to do to the badge.
        #[arg(value_enum, required_unless_present = "undo")]
        fault: Option<kubecorp_pki::fault::Fault>,
        /// The badge, by its kubeadm name (e.g. scheduler.conf, apiserver, etcd-server).
        #[arg(required_unless_present = "undo")]
        target: Option<String>,
        /// Put TARGET back from the backup the first break made.
        #[arg(long, value_name = "TARGET", conflicts_with_all = ["fault", "target"])]
        undo: Option<String>,
        /// The lab directory.
        #[arg(long, default_value = kubecorp_pki::layout::DEFAULT_DIR)]
        dir: PathBuf,
        /// The lab clock's time the fault counts from: RFC 3339, a date, or an offset.
        #[arg(long, allow_hyphen_values = true)]
        now: Option<String>,
    },
    /// Explain an error text copied from a cluster (or a verdict kind such as `expired`).
    Explain {
        /// The text, e.g. "x509: certificate signed by unknown authority"; `-` reads it from
        /// standard input (a whole paste, several lines).
        text: String,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Format::Text)]
        output: Format,
    },
    /// Open the whole office (etcd, the apiserver, the scheduler, a kubelet per node, kube-proxy,
    /// the controller manager), narrating every badge check live.
    Up {
        /// The lab directory (its PKI is made first if absent, and reused otherwise).
        #[arg(long, default_value = kubecorp_pki::layout::DEFAULT_DIR)]
        dir: PathBuf,
        /// Where the apiserver listens.
        #[arg(long, default_value = "127.0.0.1:6443")]
        apiserver_listen: std::net::SocketAddr,
        /// Where etcd listens.
        #[arg(long, default_value = "127.0.0.1:2379")]
        etcd_listen: std::net::SocketAddr,
        /// Where etcd's peer port listens.
        #[arg(long, default_value = "127.0.0.1:2380")]
        etcd_peer_listen: std::net::SocketAddr,
        /// Where the scheduler's secure port (/healthz) listens.
        #[arg(long, default_value = "127.0.0.1:10259")]
        scheduler_listen: std::net::SocketAddr,
        /// Use this etcd (https://HOST:PORT, e.g. a real one) instead of the lab's own.
        #[arg(long)]
        etcd: Option<String>,
        /// How many nodes (one kubelet each): the control-plane node, then kubecorp-worker, kubecorp-worker2…
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=kubecorp_office::MAX_NODES as i64))]
        nodes: u8,
        /// The control-plane node's name (default: the one kubelet.conf names, or kubecorp-control-plane).
        #[arg(long)]
        node_name: Option<String>,
        /// Where the first kubelet listens; node N listens on 127.0.0.N at the same port.
        #[arg(long, default_value = "127.0.0.1:10250")]
        kubelet_listen: std::net::SocketAddr,
        /// Where kube-proxy answers /healthz.
        #[arg(long, default_value = "127.0.0.1:10256")]
        proxy_healthz_listen: std::net::SocketAddr,
        /// kubelets ask for a kubelet-serving certificate by CSR (serverTLSBootstrap) and serve
        /// nothing until someone approves it.
        #[arg(long)]
        rotate_server_certificates: bool,
        /// kube-proxy dials with kube-proxy.conf's client certificate (the Hard Way) instead of
        /// its service-account token (kubeadm's way).
        #[arg(long)]
        kube_proxy_client_certificate: bool,
        /// The key type when the PKI is made here (as `pki init --key-algorithm`); an existing
        /// PKI keeps its keys.
        #[arg(long, default_value_t = KeyAlgorithm::default())]
        key_algorithm: KeyAlgorithm,
        /// Start the lab clock at this time: RFC 3339, a date, or an offset such as +400d.
        #[arg(long, allow_hyphen_values = true)]
        now: Option<String>,
        /// How events are printed: readable lines, or JSON lines.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        log_format: Format,
        /// Print only refusals and what the staff did (pods bound, routes written, badges
        /// rotated), not every successful badge check.
        #[arg(long, short)]
        quiet: bool,
        /// Also serve the office's live page (floor plan, timeline, details) at ADDR; without
        /// ADDR, on a free port of 127.0.0.1.
        #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:0")]
        web: Option<std::net::SocketAddr>,
        /// Let the page break, undo and renew badges and move the lab clock, for whoever has the
        /// URL with the token printed at start.
        #[arg(long, requires = "web")]
        web_control: bool,
    },
    /// Run one member of staff on its own, to spread the office over several processes or hosts.
    Serve {
        /// Which one.
        #[arg(value_enum)]
        component: office_cmd::Component,
        /// The lab directory (made with `kubecorp pki init`, its SANs naming this host).
        #[arg(long, default_value = kubecorp_pki::layout::DEFAULT_DIR)]
        dir: PathBuf,
        /// Where to listen (default: the component's conventional port on 127.0.0.1).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// etcd only: also open its peer port here (e.g. 127.0.0.1:2380).
        #[arg(long)]
        peer_listen: Option<std::net::SocketAddr>,
        /// The etcd the apiserver stores in: https://HOST:PORT.
        #[arg(long)]
        etcd: Option<String>,
        /// The apiserver the staff dial (default: the server their kubeconfig names).
        #[arg(long)]
        apiserver: Option<String>,
        /// The kubelet's node (default: the one kubelet.conf names).
        #[arg(long)]
        node_name: Option<String>,
        /// The kubelet asks for a kubelet-serving certificate by CSR and serves nothing until
        /// someone approves it.
        #[arg(long)]
        rotate_server_certificates: bool,
        /// Start the lab clock at this time: RFC 3339, a date, or an offset such as +400d.
        #[arg(long, allow_hyphen_values = true)]
        now: Option<String>,
        /// How events are printed: readable lines, or JSON lines.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        log_format: Format,
        /// Print only refusals and what the staff did (pods bound, routes written, badges
        /// rotated), not every successful badge check.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Challenges: the office breaks, you find out why with real tools, repair it, and the lab checks.
    #[command(subcommand)]
    Challenge(challenge_cmd::ChallengeCommand),
    /// Play a scenario file: build a private lab, run its steps, narrate them and check them.
    Run {
        /// The scenario, e.g. scenarios/kubecorp-day.yaml.
        file: PathBuf,
        #[command(flatten)]
        show: show::Show,
        /// Narrated text for a room, or JSON lines.
        #[arg(long, value_enum, default_value = "text")]
        format: scenario_cmd::RunFormat,
        /// Also write a report: FILE.md is Markdown (narration, checks, a Mermaid diagram of the
        /// hops); FILE.html is one self-contained page replaying the run step by step.
        #[arg(long, value_name = "FILE.md|FILE.html")]
        report: Option<PathBuf>,
        /// Also serve the live page at ADDR (without ADDR, a free port of 127.0.0.1): the floor
        /// plan follows the run step by step, and stays open after it until Ctrl-C.
        #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:0")]
        web: Option<std::net::SocketAddr>,
        /// Run against a PKI made elsewhere (kubeadm's /etc/kubernetes, or its pki/).
        #[arg(long, value_name = "DIR")]
        pki: Option<PathBuf>,
        /// Exit 0 even if a step was skipped (an outside tool is missing); it is still counted.
        #[arg(long)]
        allow_skip: bool,
        /// After the last step, keep the office open for questions (kubeconfigs that dial its
        /// ports are printed; Enter closes it), and keep the run's lab directory (its PKI,
        /// private keys included) on disk, saying where it is.
        #[arg(long)]
        keep: bool,
    },
    /// Check scenario files (directories: every file with a top-level steps:, chapters: or
    /// challenge:) in parallel; exit 1 if a check fails or a step is skipped, 2 if a file is invalid.
    Test {
        /// Scenario files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Write a JUnit XML report: one test case per expectation.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Run against a PKI made elsewhere (kubeadm's /etc/kubernetes, or its pki/).
        #[arg(long, value_name = "DIR")]
        pki: Option<PathBuf>,
        /// How many scenarios run at once (default: one per CPU).
        #[arg(short = 'j', long)]
        jobs: Option<usize>,
        /// Exit 0 even if a step was skipped (an outside tool is missing); it is still counted.
        #[arg(long)]
        allow_skip: bool,
    },
    /// `kubeadm alpha certs` was removed in Kubernetes 1.21; this only points to the right command.
    #[command(hide = true, disable_help_flag = true)]
    Alpha {
        /// The rest of what was typed.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        rest: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum PkiCommand {
    /// Write the CAs, certificates, keys and kubeconfigs of a kubeadm 1.32 control plane.
    Init {
        /// The lab directory to write into (created 0700 if absent).
        #[arg(long, default_value = kubecorp_pki::layout::DEFAULT_DIR)]
        dir: PathBuf,
        /// The control-plane node's name: the CN of etcd's badges and the kubelet's identity.
        #[arg(long, default_value = "kubecorp-control-plane")]
        node_name: String,
        /// The address the apiserver advertises: written into SANs and kubeconfig server URLs.
        #[arg(long, default_value = "127.0.0.1")]
        advertise_address: String,
        /// The key type of every new key, as kubeadm's encryptionAlgorithm: RSA-2048, RSA-3072,
        /// RSA-4096, ECDSA-P256 or ECDSA-P384.
        #[arg(long, default_value_t = KeyAlgorithm::default())]
        key_algorithm: KeyAlgorithm,
        /// Draw RSA keys from the user's key pool (~/.cache/kubecorp/keys) instead of making
        /// fresh ones: quick, for a lab that will be thrown away (see the README).
        #[arg(long)]
        key_pool: bool,
        /// Overwrite existing certificates, keys and kubeconfigs instead of keeping them.
        #[arg(long)]
        force: bool,
        /// Extra names (DNS or IP, comma separated) for the apiserver's serving badge, as
        /// kubeadm's --apiserver-cert-extra-sans / apiServer.certSANs. To add one to an existing
        /// lab, delete pki/apiserver.crt and pki/apiserver.key first: only that badge is re-issued.
        #[arg(long, value_delimiter = ',', value_name = "NAMES")]
        apiserver_cert_extra_sans: Vec<String>,
        /// The lab clock's time to issue at: RFC 3339, a date, or an offset such as +30d.
        #[arg(long, allow_hyphen_values = true)]
        now: Option<String>,
    },
    /// The key pool of throwaway labs (~/.cache/kubecorp/keys): fill it ahead of need.
    #[command(subcommand)]
    Pool(pool_cmd::PoolCommand),
}

#[derive(Debug, Subcommand)]
enum CertsCommand {
    /// Show when each certificate and CA expires, as `kubeadm certs check-expiration` does.
    CheckExpiration {
        /// The lab directory to read.
        #[arg(long, default_value = kubecorp_pki::layout::DEFAULT_DIR)]
        dir: PathBuf,
        /// Look from this time instead of now: RFC 3339, a date, or an offset such as +400d.
        #[arg(long, allow_hyphen_values = true)]
        now: Option<String>,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Format::Text)]
        output: Format,
    },
    /// Renew a certificate (kubeadm name, or `all`) with a new key, keeping its subject and names.
    Renew {
        /// The kubeadm name: admin.conf, apiserver, etcd-server, scheduler.conf, … or all.
        name: String,
        /// The lab directory to write into.
        #[arg(long, default_value = kubecorp_pki::layout::DEFAULT_DIR)]
        dir: PathBuf,
        /// The lab clock's time the new validity starts from: RFC 3339, a date, or an offset.
        #[arg(long, allow_hyphen_values = true)]
        now: Option<String>,
    },
    /// Show a certificate's subject, issuer, dates, names, usages and KubeCorp role.
    Inspect {
        /// A kubeadm name (apiserver, admin.conf, ca, …) or a file (PEM certificate or kubeconfig).
        target: String,
        /// The lab directory where kubeadm names are looked up.
        #[arg(long, default_value = kubecorp_pki::layout::DEFAULT_DIR)]
        dir: PathBuf,
        /// Compute time left from this time instead of now.
        #[arg(long, allow_hyphen_values = true)]
        now: Option<String>,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Format::Text)]
        output: Format,
    },
    /// Verify a certificate against a CA as Go and Kubernetes would, and explain the verdict.
    Verify {
        /// The certificate to verify (PEM; extra certificates in the file are intermediates).
        #[arg(long)]
        cert: PathBuf,
        /// The CA bundle to trust (PEM, one or more certificates).
        #[arg(long)]
        ca: PathBuf,
        /// The DNS name or IP address the client dialled, checked against the SANs.
        #[arg(long)]
        name: Option<String>,
        /// What the certificate is presented for: a server badge or a client badge.
        #[arg(long, value_enum)]
        usage: Option<UsageArg>,
        /// Verify at this time instead of now: RFC 3339, a date, or an offset such as +400d.
        #[arg(long, allow_hyphen_values = true)]
        at: Option<String>,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = Format::Text)]
        output: Format,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum UsageArg {
    Server,
    Client,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let real_now = OffsetDateTime::now_utc();
    match cli.command {
        Command::Pki(PkiCommand::Init {
            dir,
            node_name,
            advertise_address,
            key_algorithm,
            key_pool,
            force,
            apiserver_cert_extra_sans,
            now: given,
        }) => {
            let now = when::parse("--now", given.as_deref(), real_now)?;
            let address =
                advertise_address
                    .parse()
                    .map_err(|_| kubecorp_pki::PkiError::BadAddress {
                        value: advertise_address.clone(),
                    })?;
            let mut facts = ClusterFacts::new(node_name, address);
            facts.apiserver_extra_sans = apiserver_cert_extra_sans
                .iter()
                .map(|s| kubecorp_pki::profile::San::parse_extra(s))
                .collect::<Result<_, _>>()?;
            let opts = kubecorp_pki::init::InitOptions {
                facts,
                key_algorithm,
                force,
                now,
            };
            let lab = Lab::new(&dir);
            let pool = if key_pool {
                let dir = kubecorp_pki::pool::KeyPool::user_dir().ok_or_else(|| {
                    anyhow::anyhow!("--key-pool: no key pool (KUBECORP_KEY_POOL=off, or neither HOME nor XDG_CACHE_HOME is set)")
                })?;
                Some(kubecorp_pki::pool::KeyPool::at(&dir).context("--key-pool")?)
            } else {
                None
            };
            let made = kubecorp_pki::init::init_drawing(&lab, &opts, pool.as_ref())
                .map_err(when::named("--now", given.as_deref()));
            if key_pool {
                pool_cmd::refill_in_background();
            }
            let made = made?;
            for line in made {
                say!("{line}");
            }
            say!(
                "\nThe lab's PKI is in {}. Look at it with:\n  kubecorp certs check-expiration --dir {0}\n  kubecorp certs inspect apiserver --dir {0}",
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Pki(PkiCommand::Pool(command)) => pool_cmd::run(command),
        Command::Certs(CertsCommand::CheckExpiration { dir, now, output }) => {
            let now = when::parse("--now", now.as_deref(), real_now)?;
            let lab = existing_lab(&dir)?;
            let info = kubecorp_pki::expiration::check_expiration(&lab, now);
            match output {
                Format::Text => say_raw!("{}", info.to_text()),
                Format::Json => say!("{}", serde_json::to_string_pretty(&info)?),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Certs(CertsCommand::Renew {
            name,
            dir,
            now: given,
        }) => {
            let now = when::parse("--now", given.as_deref(), real_now)?;
            let lab = existing_lab(&dir)?;
            let renewed = kubecorp_pki::renew::renew(&lab, &name, now)
                .map_err(when::named("--now", given.as_deref()))?;
            for renewed in renewed {
                if let Some(warning) = &renewed.warning {
                    eprintln!("{warning}");
                }
                say!("{}", renewed.line);
            }
            say!("\n{}", kubecorp_pki::renew::DONE);
            Ok(ExitCode::SUCCESS)
        }
        Command::Certs(CertsCommand::Inspect {
            target,
            dir,
            now,
            output,
        }) => {
            let now = when::parse("--now", now.as_deref(), real_now)?;
            let lab = Lab::new(&dir);
            let inspection = kubecorp_pki::inspect::inspect(&lab, &target, now)?;
            match output {
                Format::Text => say_raw!("{}", inspection.to_text(now)),
                Format::Json => say!("{}", serde_json::to_string_pretty(&inspection)?),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Certs(CertsCommand::Verify {
            cert,
            ca,
            name,
            usage,
            at,
            output,
        }) => {
            let at = when::parse("--at", at.as_deref(), real_now)?;
            let chain = kubecorp_pki::cert::read_cert_chain(&cert)?;
            let roots = kubecorp_pki::cert::read_cert_chain(&ca)?;
            let request = kubecorp_trust::VerifyRequest {
                leaf: &chain[0],
                intermediates: &chain[1..],
                roots: &roots,
                name: name.as_deref(),
                usage: usage.map(|u| match u {
                    UsageArg::Server => kubecorp_trust::Usage::Server,
                    UsageArg::Client => kubecorp_trust::Usage::Client,
                }),
                at,
            };
            let verdict = kubecorp_trust::verify(&request);
            match output {
                Format::Json => say!("{}", serde_json::to_string_pretty(&verdict)?),
                Format::Text if verdict.is_valid() => {
                    say!("{}: OK", cert.display());
                    say!("  {}", verdict.explanation);
                }
                Format::Text => {
                    say!("{}", verdict.text);
                    say!("  what it means: {}", verdict.explanation);
                    say!("  hint: {}", verdict.hint);
                }
            }
            Ok(if verdict.is_valid() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Up {
            dir,
            apiserver_listen,
            etcd_listen,
            etcd,
            etcd_peer_listen,
            scheduler_listen,
            nodes,
            node_name,
            kubelet_listen,
            proxy_healthz_listen,
            rotate_server_certificates,
            kube_proxy_client_certificate,
            key_algorithm,
            now,
            log_format,
            quiet,
            web,
            web_control,
        } => {
            let clock = lab_clock(now.as_deref(), real_now)?;
            let first = kubecorp_office::control_plane_node(&Lab::new(&dir), node_name);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(office_cmd::up(
                kubecorp_office::OfficeOptions {
                    dir,
                    etcd_listen,
                    apiserver_listen,
                    external_etcd: etcd,
                    etcd_peer_listen,
                    scheduler_listen,
                    kubelet_listen,
                    proxy_healthz_listen,
                    nodes: kubecorp_office::node_names(&first, usize::from(nodes)),
                    rotate_server_certificates,
                    clock,
                    events: kubecorp_trust::Events::new(),
                    staff: kubecorp_office::Staff::ALL,
                    kube_proxy_credential: if kube_proxy_client_certificate {
                        kubecorp_office::KubeProxyCredential::ClientCertificate
                    } else {
                        kubecorp_office::KubeProxyCredential::ServiceAccountToken
                    },
                    key_algorithm,
                },
                log_format,
                quiet,
                web.map(|addr| office_cmd::Web {
                    addr,
                    control: web_control,
                }),
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            component,
            dir,
            listen,
            peer_listen,
            etcd,
            apiserver,
            node_name,
            rotate_server_certificates,
            now,
            log_format,
            quiet,
        } => {
            let clock = lab_clock(now.as_deref(), real_now)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(office_cmd::serve(office_cmd::ServeOptions {
                component,
                dir,
                listen,
                peer_listen,
                apiserver,
                node_name,
                rotate_server_certificates,
                etcd,
                clock,
                format: log_format,
                quiet,
            }))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Break {
            fault,
            target,
            undo,
            dir,
            now: given,
        } => {
            let now = when::parse("--now", given.as_deref(), real_now)?;
            let lab = existing_lab(&dir)?;
            let challenge = challenge_cmd::is_open(&dir);
            let line = match (undo, fault, target) {
                (Some(_), _, _) if challenge => anyhow::bail!(
                    "{} holds a challenge: there is no backup to put back. Find the cause and repair it (`kubecorp challenge hint --dir {0}` helps)",
                    dir.display()
                ),
                (Some(target), _, _) => kubecorp_pki::fault::undo(&lab, &target)?,
                (None, Some(fault), Some(target)) if challenge => {
                    let line = kubecorp_pki::fault::inflict(&lab, fault, &target, now)
                        .map_err(when::named("--now", given.as_deref()))?;
                    // In a challenge no backup is left to copy back.
                    let _ = std::fs::remove_dir_all(dir.join(".kubecorp-backup"));
                    match line.split_once(" (backup in ") {
                        Some((said, _)) => format!("{said} (no backup: the office is in a challenge)"),
                        None => line,
                    }
                }
                (None, Some(fault), Some(target)) => {
                    kubecorp_pki::fault::inflict(&lab, fault, &target, now)
                        .map_err(when::named("--now", given.as_deref()))?
                }
                // clap asks for both unless --undo is given.
                _ => anyhow::bail!(
                    "expected `kubecorp break FAULT TARGET` or `kubecorp break --undo TARGET`"
                ),
            };
            say!("{line}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain { text, output } => {
            let text = if text == "-" {
                let mut pasted = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut pasted)
                    .context("reading the text to explain from standard input")?;
                pasted
            } else {
                text
            };
            let Some(e) = kubecorp_trust::explain::explain(&text) else {
                let kinds: Vec<&str> = kubecorp_trust::VerdictKind::all()
                    .iter()
                    .map(|k| k.name())
                    .collect();
                anyhow::bail!(
                    "no explanation for {text:?}: paste an x509/tls/kubectl error text, or a verdict kind ({})",
                    kinds.join(", ")
                );
            };
            match output {
                Format::Json => say!("{}", serde_json::to_string_pretty(&e)?),
                Format::Text => {
                    say!("{} — {}", e.kind, e.check);
                    say!("  checked by: {}", e.checked_by.name());
                    say!("  what it means: {}", e.meaning);
                    say!("  confirm it:");
                    for c in &e.confirm {
                        say!("    {c}");
                    }
                    say!("  fix: {}", e.fix);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Challenge(command) => challenge_cmd::run(command),
        Command::Run {
            file,
            show,
            format,
            report,
            web,
            pki,
            allow_skip,
            keep,
        } => {
            let ran = scenario_cmd::run(
                &file,
                &show,
                format,
                report.as_deref(),
                web,
                scenario_cmd::Options {
                    pki,
                    allow_skip,
                    keep,
                },
            );
            // The run's lab drew its RSA keys from the user's pool: top it up for the next one.
            pool_cmd::refill_in_background();
            ran
        }
        Command::Test {
            paths,
            junit,
            pki,
            jobs,
            allow_skip,
        } => {
            let tested = scenario_cmd::test(
                &paths,
                junit.as_deref(),
                jobs,
                scenario_cmd::Options {
                    pki,
                    allow_skip,
                    keep: false,
                },
            );
            pool_cmd::refill_in_background();
            tested
        }
        Command::Alpha { rest } => {
            let typed = rest.join(" ");
            let right = rest
                .iter()
                .position(|a| a == "renew")
                .and_then(|i| rest.get(i + 1))
                .map(|name| match kubecorp_pki::renew::resolve(name) {
                    Ok(_) => format!("kubecorp certs renew {name}"),
                    Err(_) if name == "scheduler" => "kubecorp certs renew scheduler.conf".into(),
                    Err(e) => format!("kubecorp certs renew <name>  ({e})"),
                })
                .unwrap_or_else(|| "kubecorp certs --help".into());
            anyhow::bail!(
                "`kubeadm alpha {typed}` no longer exists: `kubeadm alpha certs` graduated to `kubeadm certs` in 1.20 and was removed in 1.21.\n  Here, type: {right}"
            )
        }
    }
}

/// The lab clock: real time, or real time shifted to start at `--now`.
fn lab_clock(now: Option<&str>, real_now: OffsetDateTime) -> Result<kubecorp_trust::LabClock> {
    let clock = kubecorp_trust::LabClock::real();
    if let Some(t) = now {
        clock.set(when::parse("--now", Some(t), real_now)?);
    }
    Ok(clock)
}

/// A command that reads a lab needs one to exist.
fn existing_lab(dir: &std::path::Path) -> Result<Lab> {
    if !dir.exists() {
        anyhow::bail!(
            "{}: no such lab directory (expected the output of `kubecorp pki init --dir {0}`)",
            dir.display()
        );
    }
    if !dir.is_dir() {
        return Err(kubecorp_pki::PkiError::NotADirectory { path: dir.into() })
            .context("reading the lab");
    }
    Ok(Lab::new(dir))
}
