//! Knocking on the CEO's door (a kubelet's :10250) the way kube-apiserver does.
//!
//! Without `--kubelet-certificate-authority` (kubeadm's default) the apiserver does not check
//! the kubelet's serving badge at all (Go's `InsecureSkipVerify`): it only shows its own. The
//! kubelet, for its part, checks the caller's badge after the handshake (401) and then asks
//! Alice whether that person may use the node's API (403). A scenario's request to a kubelet
//! dials the same way, with whatever badge the step names.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use kubecorp_client::dial::{self, Dialed, Hop};
use kubecorp_client::Phase;
use kubecorp_trust::tls::{client_error_text, is_alert, CertSource};
use kubecorp_trust::{Events, LabClock, Stage};

const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Who dials which kubelet, with which badge.
pub struct Dial<'a> {
    /// The caller's name in events (`apiserver-kubelet-client`).
    pub caller: &'a str,
    pub addr: std::net::SocketAddr,
    pub identity: Option<CertSource>,
    pub clock: &'a LabClock,
    pub events: &'a Events,
}

/// One exchange with a kubelet: `(status, body)`, or how far it got and Go's text for why not.
pub async fn call(
    dial: Dial<'_>,
    method: &str,
    path: &str,
    body: Option<Vec<u8>>,
) -> Result<(u16, Bytes), (Stage, String)> {
    let Dial {
        caller,
        addr,
        identity,
        clock,
        events,
    } = dial;
    let host = addr.ip().to_string();
    let hop = Hop {
        from: caller,
        host: &host,
        port: addr.port(),
        server_name: None,
        identity,
        trust: None,
        clock,
        events,
        connect_timeout: TIMEOUT,
        handshake_timeout: TIMEOUT,
    };
    let Dialed {
        mut sender,
        driver,
        notes,
    } = dial::dial(hop).await.map_err(|failed| match failed.phase {
        Phase::Connect => (Stage::Tcp, failed.text),
        Phase::TlsHandshake | Phase::Request => (Stage::Tls, failed.text),
    })?;
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, addr.to_string())
        .header(
            hyper::header::USER_AGENT,
            format!("{caller}/v1.32.0 (linux/amd64) kubecorp"),
        );
    if body.is_some() {
        request = request.header(hyper::header::CONTENT_TYPE, "application/json");
    }
    let request = request
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| (Stage::Request, e.to_string()))?;
    let response = match sender.send_request(request).await {
        Ok(r) => r,
        Err(e) => {
            // On TLS 1.3 a refusal arrives as an alert at the first read.
            let cause = driver.await.ok().and_then(Result::err);
            let (stage, text) = match &cause {
                Some(c) if is_alert(c) => (Stage::Tls, client_error_text(c, &notes)),
                Some(c) => (Stage::Request, client_error_text(c, &notes)),
                None => (Stage::Request, client_error_text(&e, &notes)),
            };
            return Err((stage, text));
        }
    };
    let code = response.status().as_u16();
    let body = tokio::time::timeout(TIMEOUT, response.into_body().collect())
        .await
        .map_err(|_| (Stage::Request, "context deadline exceeded".to_owned()))?
        .map_err(|e| (Stage::Request, e.to_string()))?
        .to_bytes();
    Ok((code, body))
}
