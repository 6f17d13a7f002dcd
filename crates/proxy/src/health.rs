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
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use kubecorp_trust::LabClock;
use time::{OffsetDateTime, UtcOffset};
use tokio::net::TcpListener;

/// What the health door needs to answer.
#[derive(Clone, Debug)]
pub struct Health {
    pub clock: LabClock,
    /// When the process started, for Go's monotonic `m=+…`.
    pub started: Instant,
}

/// Go's `time.Time.String()` for a UTC time read with a monotonic clock `since` start.
pub fn go_time_string(at: OffsetDateTime, since: Duration) -> String {
    let t = at.to_offset(UtcOffset::UTC);
    let mut s = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if t.nanosecond() != 0 {
        let fraction = format!("{:09}", t.nanosecond());
        s.push('.');
        s.push_str(fraction.trim_end_matches('0'));
    }
    s.push_str(&format!(
        " +0000 UTC m=+{}.{:09}",
        since.as_secs(),
        since.subsec_nanos()
    ));
    s
}

impl Health {
    /// The `/healthz` body.
    pub fn healthz_body(&self, node_eligible: bool) -> String {
        let now = go_time_string(self.clock.now(), self.started.elapsed());
        format!(
            "{{\"lastUpdated\": {now:?},\"currentTime\": {now:?}, \"nodeEligible\": {node_eligible}}}"
        )
    }

    /// The `/livez` body.
    pub fn livez_body(&self) -> String {
        let now = go_time_string(self.clock.now(), self.started.elapsed());
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

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn times_print_as_gos_time_string_with_the_monotonic_reading() {
        assert_eq!(
            go_time_string(
                datetime!(2026-11-29 09:00:00.5 UTC),
                Duration::from_millis(1250)
            ),
            "2026-11-29 09:00:00.5 +0000 UTC m=+1.250000000"
        );
        assert_eq!(
            go_time_string(datetime!(2026-11-29 09:00:00 UTC), Duration::ZERO),
            "2026-11-29 09:00:00 +0000 UTC m=+0.000000000"
        );
    }
}
