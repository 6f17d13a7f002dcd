//! Dave's health door: kube-proxy's plain-HTTP `/healthz` (port 10256 on a real node), which
//! load balancers and `curl` ask whether this node's proxy is keeping its rules up to date.
//!
//! The answer is `pkg/proxy/healthcheck/proxier_health.go`'s, byte for byte:
//! `{"lastUpdated": "…","currentTime": "…", "nodeEligible": true}` with Go's `time.Time.String()`
//! (`2026-11-29 09:00:00.5 +0000 UTC m=+1.250000000`, the `m=` part being the monotonic clock
//! since the process started). While healthy, kube-proxy reports `lastUpdated` equal to
//! `currentTime`. The lab's Dave applies every change at once, so he is always healthy.

use std::convert::Infallible;
use std::future::Future;
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use kubecorp_trust::LabClock;
use tokio::net::TcpListener;

/// What the health door needs to answer.
#[derive(Clone, Debug)]
pub struct Health {
    pub clock: LabClock,
    /// When the process started, for Go's monotonic `m=+…`.
    pub started: Instant,
}

impl Health {
    /// The `/healthz` body.
    pub fn healthz_body(&self, node_eligible: bool) -> String {
        let now =
            kubecorp_trust::gotime::string_monotonic(self.clock.now(), self.started.elapsed());
        format!(
            "{{\"lastUpdated\": {now:?},\"currentTime\": {now:?}, \"nodeEligible\": {node_eligible}}}"
        )
    }

    /// The `/livez` body.
    pub fn livez_body(&self) -> String {
        let now =
            kubecorp_trust::gotime::string_monotonic(self.clock.now(), self.started.elapsed());
        format!("{{\"lastUpdated\": {now:?},\"currentTime\": {now:?}}}")
    }

    fn answer(&self, path: &str) -> Response<Full<Bytes>> {
        let (status, content_type, body) = match path {
            "/healthz" => (StatusCode::OK, "application/json", self.healthz_body(true)),
            "/livez" => (StatusCode::OK, "application/json", self.livez_body()),
            // Go's ServeMux.
            _ => (
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "404 page not found\n".to_owned(),
            ),
        };
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(content_type),
        );
        headers.insert(
            "x-content-type-options",
            http::HeaderValue::from_static("nosniff"),
        );
        response
    }
}

/// Serves `/healthz` and `/livez` over plain HTTP/1.1 until `shutdown` completes.
pub async fn serve(listener: TcpListener, health: Health, shutdown: impl Future) {
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                // A failed accept (out of file descriptors…) is not worth dying for, nor worth
                // spinning on: wait a little before the next.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let health = health.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let response = health.answer(req.uri().path());
                async move { Ok::<_, Infallible>(response) }
            });
            // A client that never finishes its request is dropped after ten seconds.
            let _ = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service),
            )
            .await;
        });
    }
}
