//! The real etcd (Debian's 3.4) as a judge: started on a lab's etcd PKI with kubeadm's TLS flags,
//! on free loopback ports, and handed over once it says it is healthy.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::free_port;

/// A running `etcd`, killed (only this child, by its handle) when dropped or stopped.
pub struct RealEtcd {
    child: Child,
    /// `https://127.0.0.1:PORT`, its client listener.
    pub client_url: String,
    pub client_port: u16,
    /// `https://127.0.0.1:PORT`, its peer listener.
    pub peer_url: String,
    /// Its stderr: the log lines a learner would read.
    pub log: PathBuf,
}

impl RealEtcd {
    /// `binary` as member `name` with kubeadm's client and peer TLS flags on the etcd
    /// certificates under `pki` (`etcd/server.*`, `etcd/peer.*`, `etcd/ca.crt`), its data in
    /// `dir/etcd-data` and its log in `dir/etcd.log`, once it says it is healthy. A free port
    /// can be taken by another test between our look and etcd's bind: then etcd stops at once
    /// ("bind: address already in use") and is started again elsewhere; any other failure
    /// fails the test with etcd's log.
    pub async fn start(binary: &Path, name: &str, pki: &Path, dir: &Path) -> RealEtcd {
        for attempt in 1.. {
            match RealEtcd::spawn(binary, name, pki, dir).await {
                Ok(real) => return real,
                Err(log) if log.contains("address already in use") && attempt < 5 => {
                    let _ = std::fs::remove_dir_all(dir.join("etcd-data"));
                }
                Err(log) => panic!("the real etcd did not become healthy; its log:\n{log}"),
            }
        }
        unreachable!("the loop returns or panics")
    }

    /// One start on fresh ports: the running etcd, or its log if it stopped or never answered.
    async fn spawn(binary: &Path, name: &str, pki: &Path, dir: &Path) -> Result<RealEtcd, String> {
        let client_port = free_port();
        let client_url = format!("https://127.0.0.1:{client_port}");
        let peer_url = format!("https://127.0.0.1:{}", free_port());
        let metrics_port = free_port();
        let log = dir.join("etcd.log");
        let mut command = Command::new(binary);
        command
            .args(["--name", name])
            .arg("--data-dir")
            .arg(dir.join("etcd-data"));
        // kubeadm's etcd manifest: TLS on both ports, a badge from the etcd CA required on both.
        for (flag, file) in [
            ("--cert-file", "etcd/server.crt"),
            ("--key-file", "etcd/server.key"),
            ("--trusted-ca-file", "etcd/ca.crt"),
            ("--peer-cert-file", "etcd/peer.crt"),
            ("--peer-key-file", "etcd/peer.key"),
            ("--peer-trusted-ca-file", "etcd/ca.crt"),
        ] {
            command.arg(flag).arg(pki.join(file));
        }
        let child = command
            .args(["--client-cert-auth", "--peer-client-cert-auth"])
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("{name}={peer_url}")])
            .args([
                "--listen-metrics-urls",
                &format!("http://127.0.0.1:{metrics_port}"),
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("etcd's log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not start: {e}", binary.display()));
        let mut real = RealEtcd {
            child,
            client_url,
            client_port,
            peer_url,
            log,
        };
        // Healthy once it has elected itself. Its plain-HTTP metrics listener answers without a
        // badge, and etcd serves it only after its client listeners (embed.StartEtcd in
        // etcd-io/etcd release-3.4: servePeers, serveClients, then serveMetrics).
        let deadline = Instant::now() + Duration::from_secs(60);
        while !healthy(metrics_port).await {
            let stopped = matches!(real.child.try_wait(), Ok(Some(_)));
            if stopped || Instant::now() >= deadline {
                real.stop();
                return Err(std::fs::read_to_string(&real.log).unwrap_or_default());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(real)
    }

    /// Kills etcd and waits for it to end.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// etcd's log, waiting briefly for a line containing `needle`.
    pub async fn log_with(&self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if text.contains(needle) || Instant::now() > deadline {
                return text.lines().map(str::to_owned).collect();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for RealEtcd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether etcd answers `{"health":"true"}` on its metrics listener.
async fn healthy(metrics_port: u16) -> bool {
    let Ok(mut tcp) = tokio::net::TcpStream::connect(("127.0.0.1", metrics_port)).await else {
        return false;
    };
    if tcp
        .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = tcp.read_to_string(&mut answer).await;
    answer.contains("\"health\":\"true\"")
}
