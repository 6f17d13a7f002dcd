//! One visitor's HTTP/2 conversation on etcd's client port (ALPN `h2`): many requests at once,
//! gRPC calls and gateway requests alike, on one kept connection, as kube-apiserver keeps its
//! connection to etcd. On shutdown, HTTP/2's GOAWAY lets calls in flight finish.

use hyper::body::{Body, Incoming};
use hyper::service::HttpService;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

/// Serves HTTP/2 on `io` with `service` until the visitor leaves or `stop` turns `true`.
pub async fn converse<I, S, B>(io: I, service: S, stop: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: HttpService<Incoming, ResBody = B>,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(io), service);
    kubecorp_door::drive(conn, stop, |conn| conn.graceful_shutdown()).await;
}
