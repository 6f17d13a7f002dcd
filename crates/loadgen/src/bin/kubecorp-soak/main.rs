//! `kubecorp-soak`: many fresh mutual-TLS connections against a running office, mixing good
//! badges with faulty ones, each case with the verdict the guard must give; counts every
//! outcome and every verdict that was not the expected one. Used by `benches/soak.sh`; not part
//! of the lab. With `--hold N` it holds N idle connections per case open instead, and prints
//! what they cost the office's memory ([`hold`]).

mod hold;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use kubecorp_trust::tls::SkipChainCheck;
use rustls::client::Resumption;
use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

#[derive(Parser, Debug)]
#[command(about = "Mixed good and faulty mutual-TLS handshakes; checks every verdict.")]
struct Args {
    /// One case: `NAME=https://HOST:PORT/PATH,CERT,KEY,EXPECT`. CERT and KEY are PEM files, or
    /// `-` for no client certificate. EXPECT is an HTTP status (`200`, `401`, `403`), `refused`
    /// (the handshake fails or the server answers with a TLS alert) or `cut` (the connection
    /// is dropped half-way through the ClientHello; any outcome is right as long as the server
    /// keeps serving the others).
    #[arg(long = "case", required = true)]
    cases: Vec<String>,
    /// Connections in all, spread over the cases in turn.
    #[arg(long, default_value_t = 30_000)]
    total: u64,
    /// Connections in flight at a time.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Instead of the soak: hold this many idle connections open per case, one case after the
    /// other, and print the office's resident memory before, while held and after closing.
    #[arg(long, requires = "office_pid")]
    hold: Option<usize>,
    /// The office's process id, whose VmRSS `--hold` reads.
    #[arg(long)]
    office_pid: Option<u32>,
}

/// What the guard decided about one connection.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    Status(u16),
    Refused,
    Cut,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Status(code) => write!(f, "{code}"),
            Verdict::Refused => f.write_str("refused"),
            Verdict::Cut => f.write_str("cut"),
        }
    }
}

impl std::str::FromStr for Verdict {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Verdict> {
        match s {
            "refused" => Ok(Verdict::Refused),
            "cut" => Ok(Verdict::Cut),
            code => code
                .parse()
                .map(Verdict::Status)
                .with_context(|| format!("EXPECT {code:?}: an HTTP status, `refused` or `cut`")),
        }
    }
}

struct Case {
    name: String,
    addr: String,
    host: String,
    path: String,
    connector: TlsConnector,
    expect: Verdict,
    /// Outcomes seen, by verdict.
    seen: Mutex<BTreeMap<Verdict, u64>>,
    /// The first error text of an unexpected outcome, for the report.
    first_wrong: Mutex<Option<String>>,
}

fn parse_case(spec: &str) -> Result<Case> {
    let (name, rest) = spec
        .split_once('=')
        .with_context(|| format!("--case {spec:?}: expected NAME=URL,CERT,KEY,EXPECT"))?;
    let fields: Vec<&str> = rest.split(',').collect();
    let [url, cert, key, expect] = fields[..] else {
        bail!(
            "--case {name}: expected 4 comma-separated fields (URL,CERT,KEY,EXPECT), got {}",
            fields.len()
        );
    };
    let authority_path = url
        .strip_prefix("https://")
        .with_context(|| format!("--case {name}: the URL must start with https://"))?;
    let (authority, path) = match authority_path.find('/') {
        Some(i) => (&authority_path[..i], &authority_path[i..]),
        None => (authority_path, "/"),
    };
    let builder = ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(SkipChainCheck::new()));
    let mut config = if cert == "-" {
        builder.with_no_client_auth()
    } else {
        let chain = CertificateDer::pem_file_iter(PathBuf::from(cert))
            .with_context(|| format!("--case {name}: reading {cert}"))?
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("--case {name}: {cert}"))?;
        let key = PrivateKeyDer::from_pem_file(PathBuf::from(key))
            .with_context(|| format!("--case {name}: reading {key}"))?;
        builder.with_client_auth_cert(chain, key)?
    };
    config.resumption = Resumption::disabled();
    Ok(Case {
        name: name.to_string(),
        addr: authority.to_string(),
        host: authority.to_string(),
        path: path.to_string(),
        connector: TlsConnector::from(Arc::new(config)),
        expect: expect.parse()?,
        seen: Mutex::new(BTreeMap::new()),
        first_wrong: Mutex::new(None),
    })
}

/// One connection of `case`, and what came of it.
async fn one(case: &Case) -> (Verdict, Option<String>) {
    let tcp = match TcpStream::connect(&case.addr).await {
        Ok(tcp) => tcp,
        // The door itself is gone: never a verdict a case expects.
        Err(e) => return (Verdict::Status(0), Some(format!("connect: {e}"))),
    };
    let _ = tcp.set_nodelay(true);
    if case.expect == Verdict::Cut {
        return cut(tcp).await;
    }
    let server_name = ServerName::try_from("kubernetes").expect("a valid DNS name");
    let mut tls = match case.connector.connect(server_name, tcp).await {
        Ok(tls) => tls,
        Err(e) => return (Verdict::Refused, Some(format!("handshake: {e}"))),
    };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: kubecorp-soak\r\nConnection: close\r\n\r\n",
        case.path, case.host
    );
    // TLS 1.3: a server that refuses the client's badge says so after the client has finished
    // its side, so the refusal arrives as an alert on the first read or write.
    if let Err(e) = tls.write_all(request.as_bytes()).await {
        return (Verdict::Refused, Some(format!("write: {e}")));
    }
    let mut response = Vec::with_capacity(512);
    match tls.read_to_end(&mut response).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
        Err(e) => return (Verdict::Refused, Some(format!("read: {e}"))),
    }
    let status_line =
        String::from_utf8_lossy(response.split(|&b| b == b'\n').next().unwrap_or_default())
            .trim_end()
            .to_string();
    match status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
    {
        Some(code) => (Verdict::Status(code), Some(status_line)),
        None => (
            Verdict::Refused,
            Some(format!("no HTTP answer: {status_line:?}")),
        ),
    }
}

/// A handshake cut half-way: the first bytes of a TLS record that announces a ClientHello of
/// 512 bytes, then the connection is dropped.
async fn cut(mut tcp: TcpStream) -> (Verdict, Option<String>) {
    let partial = [
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    let _ = tcp.write_all(&partial).await;
    drop(tcp);
    (Verdict::Cut, None)
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let cases: Vec<Case> = args
        .cases
        .iter()
        .map(|spec| parse_case(spec))
        .collect::<Result<_>>()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let cases = Arc::new(cases);
            match (args.hold, args.office_pid) {
                (Some(count), Some(pid)) => hold::hold(cases, count, args.concurrency, pid).await,
                _ => run(cases, args.total, args.concurrency).await,
            }
        })
}

async fn run(cases: Arc<Vec<Case>>, total: u64, concurrency: usize) -> Result<()> {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let (cases, next) = (cases.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    break;
                }
                let case = &cases[(n % cases.len() as u64) as usize];
                let (verdict, text) =
                    match tokio::time::timeout(Duration::from_secs(10), one(case)).await {
                        Ok(outcome) => outcome,
                        Err(_) => (Verdict::Status(0), Some("no answer within 10 s".into())),
                    };
                if verdict != case.expect {
                    case.first_wrong
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_or_insert_with(|| format!("{verdict}: {}", text.unwrap_or_default()));
                }
                *case
                    .seen
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(verdict)
                    .or_default() += 1;
            }
        }));
    }
    for worker in workers {
        worker.await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("| case | expected | outcomes | wrong |");
    println!("|---|---|---|---:|");
    let mut wrong_total = 0;
    for case in cases.iter() {
        let seen = case.seen.lock().unwrap_or_else(|e| e.into_inner());
        let wrong: u64 = seen
            .iter()
            .filter(|(v, _)| **v != case.expect)
            .map(|(_, n)| n)
            .sum();
        wrong_total += wrong;
        let outcomes: Vec<String> = seen.iter().map(|(v, n)| format!("{v} ×{n}")).collect();
        println!(
            "| {} | {} | {} | {wrong} |",
            case.name,
            case.expect,
            outcomes.join(", ")
        );
        if let Some(first) = case
            .first_wrong
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            eprintln!("{}: first unexpected outcome: {first}", case.name);
        }
    }
    println!(
        "\n{total} connections in {seconds:.1} s ({:.0}/s), {wrong_total} wrong verdicts",
        total as f64 / seconds
    );
    if wrong_total > 0 {
        bail!("{wrong_total} verdicts were not the expected ones");
    }
    Ok(())
}
