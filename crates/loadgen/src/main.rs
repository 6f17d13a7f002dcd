//! `kubecorp-loadgen`: requests per second where every request is its own TCP connection and
//! its own full TLS handshake with a client certificate (session resumption disabled), so each
//! request costs the server one certificate signature, one client-certificate verification and
//! one key exchange. Used by `benches/apiserver-handshakes.sh`; not part of the lab.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use kubecorp_trust::tls::SkipChainCheck;
use rustls::client::Resumption;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

#[derive(Parser, Debug)]
#[command(about = "One new TCP + mutual-TLS connection per request; prints requests/s.")]
struct Args {
    /// `https://HOST:PORT/PATH`; HOST must be an IP address or a name in the server certificate.
    #[arg(long)]
    url: String,
    /// PEM file with the CA that signed the server certificate.
    #[arg(long)]
    ca: PathBuf,
    /// PEM client certificate (chain).
    #[arg(long)]
    cert: PathBuf,
    /// PEM private key of the client certificate.
    #[arg(long)]
    key: PathBuf,
    /// Number of workers, each with one connection in flight at a time.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Worker threads of the runtime (default: the number of CPUs).
    #[arg(long)]
    threads: Option<usize>,
    /// Print one machine-readable line `rps=… ok=… errors=… seconds=…` instead of prose.
    #[arg(long)]
    plain: bool,
    /// Take the server's certificate without checking its chain (like `curl -k` or kubectl's
    /// `--insecure-skip-tls-verify`: the handshake signature is still checked). Spares the load
    /// generator one signature verification per request, so more of the machine measures the
    /// server. `--ca` is then unused.
    #[arg(long)]
    insecure_skip_tls_verify: bool,
}

struct Target {
    addr: String,
    host: String,
    path: String,
    server_name: ServerName<'static>,
}

fn parse_url(url: &str) -> Result<Target> {
    let rest = url
        .strip_prefix("https://")
        .context("--url must start with https://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, _port) = authority
        .rsplit_once(':')
        .context("--url needs an explicit port")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let server_name = ServerName::try_from(host.to_string()).context("bad host in --url")?;
    Ok(Target {
        addr: authority.to_string(),
        host: authority.to_string(),
        path: path.to_string(),
        server_name,
    })
}

fn client_config(args: &Args) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&args.ca)
        .with_context(|| format!("reading {}", args.ca.display()))?
    {
        roots.add(cert?)?;
    }
    let chain = CertificateDer::pem_file_iter(&args.cert)
        .with_context(|| format!("reading {}", args.cert.display()))?
        .collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(&args.key)
        .with_context(|| format!("reading {}", args.key.display()))?;
    let mut config = if args.insecure_skip_tls_verify {
        ClientConfig::builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(SkipChainCheck::new()))
            .with_client_auth_cert(chain, key)?
    } else {
        ClientConfig::builder()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)?
    };
    // Every connection is a full handshake: no tickets, no session IDs.
    config.resumption = Resumption::disabled();
    Ok(Arc::new(config))
}

/// Sends one request on a fresh connection; returns the negotiated parameters, for the record.
async fn one_request(connector: &TlsConnector, target: &Target, request: &[u8]) -> Result<String> {
    let tcp = TcpStream::connect(&target.addr).await?;
    tcp.set_nodelay(true)?;
    let mut tls = connector.connect(target.server_name.clone(), tcp).await?;
    let negotiated = {
        let session = tls.get_ref().1;
        format!(
            "{:?}, {:?}, key exchange {:?}",
            session.protocol_version(),
            session.negotiated_cipher_suite().map(|s| s.suite()),
            session.negotiated_key_exchange_group().map(|g| g.name()),
        )
    };
    tls.write_all(request).await?;
    tls.flush().await?;
    let mut response = Vec::with_capacity(512);
    // `Connection: close`: read until the server closes; tolerate a missing close_notify.
    match tls.read_to_end(&mut response).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
        Err(e) => return Err(e.into()),
    }
    let status_line = response.split(|&b| b == b'\n').next().unwrap_or_default();
    if !status_line.starts_with(b"HTTP/1.1 200") && !status_line.starts_with(b"HTTP/1.0 200") {
        bail!(
            "unexpected status: {}",
            String::from_utf8_lossy(status_line).trim_end()
        );
    }
    Ok(negotiated)
}

#[derive(Default)]
struct Counters {
    ok: AtomicU64,
    errors: AtomicU64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(threads) = args.threads {
        builder.worker_threads(threads);
    }
    builder.build()?.block_on(run(args))
}

async fn run(args: Args) -> Result<()> {
    let target = Arc::new(parse_url(&args.url)?);
    let connector = TlsConnector::from(client_config(&args)?);
    let request: Arc<[u8]> = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: kubecorp-loadgen\r\nConnection: close\r\n\r\n",
        target.path, target.host
    )
    .into_bytes()
    .into();

    // Fail fast with a readable message if the target is not answering at all.
    let negotiated = one_request(&connector, &target, &request)
        .await
        .with_context(|| format!("first request to {}", args.url))?;
    eprintln!("{}: negotiated {negotiated}", args.url);

    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters::default());
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let mut workers = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency {
        let (connector, target, request) = (connector.clone(), target.clone(), request.clone());
        let (measuring, stop, counters) = (measuring.clone(), stop.clone(), counters.clone());
        let first_error = first_error.clone();
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let result = one_request(&connector, &target, &request).await;
                if !measuring.load(Ordering::Relaxed) || stop.load(Ordering::Relaxed) {
                    continue;
                }
                match result {
                    Ok(_) => counters.ok.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        first_error
                            .lock()
                            .unwrap()
                            .get_or_insert_with(|| format!("{e:#}"));
                        counters.errors.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(args.warmup)).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let ok = counters.ok.load(Ordering::Relaxed);
    let errors = counters.errors.load(Ordering::Relaxed);
    for worker in workers {
        worker.await?;
    }
    let rps = ok as f64 / elapsed;
    if args.plain {
        println!("rps={rps:.1} ok={ok} errors={errors} seconds={elapsed:.2}");
    } else {
        println!(
            "{}: {rps:.1} requests/s ({ok} ok, {errors} errors in {elapsed:.2} s, concurrency {})",
            args.url, args.concurrency
        );
    }
    if let Some(e) = first_error.lock().unwrap().take() {
        eprintln!("first error: {e}");
    }
    Ok(())
}
