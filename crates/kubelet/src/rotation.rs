//! The kubelet's certificate managers: one for its client badge, one for its serving badge.
//!
//! Each manager works like client-go's `certificate.Manager`, one step per tick of the sync
//! loop: read the current certificate, pick a rotation deadline 70–90 % into its life (once per
//! certificate), and when the lab clock passes it (or when there is no certificate at all) send a
//! CSR with a fresh key and wait for `status.certificate`. The issued certificate and its key are
//! written to `kubelet-{client,server}-<timestamp>.pem` and `…-current.pem` points at it; the
//! kubelet dials or serves with it from the next connection on.

use std::path::PathBuf;
use std::sync::Arc;

use kubecorp_pki::cert::CertInfo;
use kubecorp_trust::tls::CertSource;
use kubecorp_trust::{Event, Stage};
use rcgen::KeyPair;

use crate::certs::{self, CsrState, Kind};
use crate::klog;
use crate::{Backoff, Kubelet, KubeletError};

const CSR_PATH: &str = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

/// At start: the serving badge (self-signed, or an earlier CA-signed one) and the client badge
/// an earlier rotation left in the cert dir.
pub(crate) async fn load_certificates(k: &Arc<Kubelet>) -> Result<(), KubeletError> {
    let dir = k.config.cert_dir.clone();
    let client_current = dir.join(certs::CLIENT_CURRENT);
    if k.config.rotate_client_certificate && usable(k, &client_current) {
        k.use_client_cert(&client_current);
    }
    if k.config.rotate_server_certificates {
        let current = dir.join(certs::SERVER_CURRENT);
        if usable(k, &current) {
            k.set_serving(Some(CertSource::pem_files(&current, &current)));
        }
        return Ok(());
    }
    let host = k.node.clone();
    let now = k.now();
    let keys = k.config.keys.clone();
    // RSA key generation takes a moment: off the async threads.
    let (cert, key) =
        tokio::task::spawn_blocking(move || certs::ensure_self_signed(&dir, &host, now, &keys))
            .await
            .map_err(|e| KubeletError::Certificate {
                what: "the self-signed serving certificate".into(),
                problem: e.to_string(),
            })??;
    k.set_serving(Some(CertSource::pem_files(cert, key)));
    Ok(())
}

/// A certificate file whose leaf is still valid on the lab clock.
fn usable(k: &Kubelet, path: &std::path::Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    certs::leaf_info(path, &bytes).is_some_and(|info| info.not_after > k.now())
}

/// One certificate manager.
pub(crate) struct Manager {
    kind: Kind,
    /// The serial of the certificate the deadline was picked for, and the deadline.
    deadline: Option<(String, time::OffsetDateTime)>,
    /// The CSR sent and the key it was made for.
    pending: Option<(String, KeyPair)>,
    backoff: Backoff,
    /// Rung when a watched CSR is answered, so the sync loop follows it at once.
    wake: Arc<tokio::sync::Notify>,
    /// The watch on the pending CSR, stopped when the CSR is settled or replaced.
    watcher: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Manager {
    fn drop(&mut self) {
        if let Some(w) = self.watcher.take() {
            w.abort();
        }
    }
}

impl Manager {
    pub fn new(kind: Kind, base: std::time::Duration, wake: Arc<tokio::sync::Notify>) -> Manager {
        Manager {
            kind,
            deadline: None,
            pending: None,
            backoff: Backoff::new(base),
            wake,
            watcher: None,
        }
    }

    /// Watches CSR `name` as client-go's certificate manager does, and rings `wake` when it is
    /// answered (issued, denied or failed). If the watch cannot be held, the sync loop's own
    /// reads still find the answer.
    fn stop_watching(&mut self) {
        if let Some(w) = self.watcher.take() {
            w.abort();
        }
    }

    fn watch_for_answer(&mut self, k: &Kubelet, name: &str) {
        let client = k.client();
        let wake = self.wake.clone();
        let path = format!("{CSR_PATH}?watch=true&fieldSelector=metadata.name%3D{name}");
        if let Some(old) = self.watcher.take() {
            old.abort();
        }
        self.watcher = Some(tokio::spawn(async move {
            let Ok(mut watch) = client.watch(&path).await else {
                return;
            };
            while let Some(Ok(event)) = watch.next().await {
                let answered = !matches!(certs::csr_state(&event.object), CsrState::Pending);
                if answered || event.kind == "DELETED" {
                    wake.notify_one();
                    return;
                }
            }
        }));
    }

    fn logger(&self) -> &'static str {
        self.kind.signer()
    }

    /// The certificate in use now: `…-current.pem`, else (client) kubelet.conf's badge.
    fn current(&self, k: &Kubelet) -> Option<(CertInfo, PathBuf)> {
        let path = k.config.cert_dir.join(self.kind.current_file());
        if let Ok(bytes) = std::fs::read(&path) {
            if let Some(info) = certs::leaf_info(&path, &bytes) {
                return Some((info, path));
            }
        }
        match self.kind {
            Kind::Client => certs::kubeconfig_leaf(&k.config.kubeconfig)
                .map(|info| (info, k.config.kubeconfig.clone())),
            Kind::Serving => None,
        }
    }

    fn note(&self, k: &Kubelet, line: String, explanation: &str) {
        k.emit(
            Event::new(k.now(), "kubelet", "kubelet", Stage::Tls)
                .allowed(true)
                .caller_log(line)
                .explanation(explanation.to_owned()),
        );
    }

    /// One step: decide whether a new certificate is due, send or follow the CSR.
    pub async fn step(&mut self, k: &Kubelet) {
        if !self.backoff.ready() {
            return;
        }
        if self.pending.is_some() {
            self.follow(k).await;
            return;
        }
        let due = match self.current(k) {
            None => true,
            Some((info, _)) => {
                let fresh = self
                    .deadline
                    .as_ref()
                    .is_none_or(|(serial, _)| *serial != info.serial);
                if fresh {
                    let deadline = certs::rotation_deadline(&info, certs::random_jitter());
                    self.deadline = Some((info.serial.clone(), deadline));
                    let line = format!(
                        "{}: Certificate expiration is {}, rotation deadline is {}",
                        self.logger(),
                        kubecorp_trust::gotime::string(info.not_after),
                        kubecorp_trust::gotime::string(deadline)
                    );
                    self.note(k, line, "the kubelet picked a random point 70–90 % into its certificate's life to ask for a new one");
                }
                self.deadline.as_ref().is_some_and(|(_, d)| k.now() >= *d)
            }
        };
        if due {
            self.request(k).await;
        }
    }

    /// Makes a key, sends the CSR; an auto-approved one may come back already issued.
    async fn request(&mut self, k: &Kubelet) {
        let line = format!("{}: Rotating certificates", self.logger());
        self.note(
            k,
            line,
            "the kubelet makes a new key and asks the Founder, by CSR, to sign it",
        );
        let (key, request_pem) = match certs::new_request(self.kind, &k.node, k.address) {
            Ok(made) => made,
            Err(e) => {
                self.note(
                    k,
                    e.to_string(),
                    "the kubelet could not make its certificate request",
                );
                self.backoff.failed();
                return;
            }
        };
        let name = certs::generated_csr_name();
        let client = k.client();
        match client
            .create(CSR_PATH, &certs::csr_object(self.kind, &name, &request_pem))
            .await
        {
            Ok(created) => {
                self.watch_for_answer(k, &name);
                self.pending = Some((name, key));
                self.settle(k, &created);
            }
            Err(e) => {
                let line = format!(
                    "{}: Failed while requesting a signed certificate from the control plane: cannot create certificate signing request: {}",
                    self.logger(),
                    klog::request_error(&client, "POST", CSR_PATH, &e)
                );
                k.client_failure(
                    &e,
                    line,
                    "the kubelet could not send its certificate request; it retries",
                );
                self.backoff.failed();
            }
        }
    }

    /// Reads the pending CSR again.
    async fn follow(&mut self, k: &Kubelet) {
        let Some((name, _)) = &self.pending else {
            return;
        };
        let client = k.client();
        let path = format!("{CSR_PATH}/{name}");
        match client.get(&path).await {
            Ok(csr) => self.settle(k, &csr),
            Err(e) if e.code() == Some(404) => {
                // Deleted (garbage-collected, or by an admin): ask again.
                self.pending = None;
                self.stop_watching();
            }
            Err(e) => {
                let line = format!(
                    "{}: Failed while requesting a signed certificate from the control plane: {}",
                    self.logger(),
                    klog::request_error(&client, "GET", &path, &e)
                );
                k.client_failure(
                    &e,
                    line,
                    "the kubelet could not read its certificate request back; it retries",
                );
                self.backoff.failed();
            }
        }
    }

    /// Acts on what a CSR says: store an issued certificate, drop a refused request.
    fn settle(&mut self, k: &Kubelet, csr: &serde_json::Value) {
        match certs::csr_state(csr) {
            CsrState::Pending => {}
            CsrState::Refused {
                condition,
                reason,
                message,
            } => {
                self.pending = None;
                self.stop_watching();
                // client-go v1.32: `csr.WaitForCertificate` (util/certificate/csr/csr.go) returns
                // `certificate signing request is denied, reason: %v, message: %v` (or
                // `… failed, …`), and the certificate manager (util/certificate/
                // certificate_manager.go) hands `%s: certificate request was not signed: %v` to
                // `utilruntime.HandleError`, which logs it as "Unhandled Error".
                let what = if condition == "Denied" {
                    "is denied"
                } else {
                    "failed"
                };
                let err = format!(
                    "{}: certificate request was not signed: certificate signing request {what}, reason: {reason}, message: {message}",
                    self.logger()
                );
                let line = format!("\"Unhandled Error\" err={}", kubecorp_trust::go_quote(&err));
                self.note(
                    k,
                    line,
                    "the CSR was refused; the kubelet will ask again later",
                );
                self.backoff.failed();
            }
            CsrState::Issued(cert_pem) => {
                self.stop_watching();
                let Some((name, key)) = self.pending.take() else {
                    return;
                };
                match certs::store(&k.config.cert_dir, self.kind, &cert_pem, &key, k.now()) {
                    Ok(current) => {
                        match self.kind {
                            Kind::Client => {
                                k.use_client_cert(&current);
                                point_kubeconfig_at(k, &current);
                            }
                            Kind::Serving => {
                                k.set_serving(Some(CertSource::pem_files(&current, &current)))
                            }
                        }
                        self.backoff.succeeded();
                        // csr.go v1.32: `klog.V(2).Infof("certificate signing request %s is
                        // issued", csr.Name)`, nothing before or after.
                        let line = format!("certificate signing request {name} is issued");
                        self.note(k, line, match self.kind {
                            Kind::Client => "the kubelet shows its new client badge from its next call to Alice on",
                            Kind::Serving => "the kubelet serves its CA-signed certificate from the next handshake on",
                        });
                    }
                    Err(e) => {
                        self.note(
                            k,
                            e.to_string(),
                            "the kubelet could not write its new certificate",
                        );
                        self.backoff.failed();
                    }
                }
            }
        }
    }
}

/// kubeadm's `kubelet-finalize`: the kubelet's kubeconfig names the rotating
/// `kubelet-client-current.pem` instead of embedding a badge that would soon be stale.
fn point_kubeconfig_at(k: &Kubelet, current: &std::path::Path) {
    let path = &k.config.kubeconfig;
    let current = std::fs::canonicalize(current)
        .ok()
        .and_then(|p| {
            p.parent()
                .map(|dir| dir.join(certs::Kind::Client.current_file()))
        })
        .unwrap_or_else(|| current.to_owned());
    let rewritten = kubecorp_pki::kubeconfig::Kubeconfig::read(path).and_then(|mut config| {
        config.set_client_cert_files(&current, &current);
        kubecorp_pki::fs::write_atomic(
            path,
            config.to_yaml().as_bytes(),
            kubecorp_pki::fs::Mode::Secret,
        )
    });
    if let Err(e) = rewritten {
        k.emit(
            Event::new(k.now(), "kubelet", "kubelet", Stage::Tls)
                .caller_log(e.to_string())
                .explanation("the kubelet could not point its kubeconfig at its rotated badge; it keeps using the badge file directly"),
        );
    }
}
