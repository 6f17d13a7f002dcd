//! How every lab server keeps its door: accepting visitors, and one HTTP/1.1 conversation each.
//!
//! Charlie's client and peer ports and Bob's secure port differ in who they let in and what they
//! answer, not in how they open and close: [`accept_loop`] takes visitors (retrying with backoff
//! when accepting fails, as mini-redis does, and giving up only when it does not pass), and at
//! shutdown tells every conversation to wind down and waits [`DRAIN_DEADLINE`] for them;
//! [`converse`] serves one connection over HTTP/1.1 until the visitor leaves or the door closes,
//! and [`drive`] is that ending for any connection (Charlie's HTTP/2 one too).
#![forbid(unsafe_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::service::HttpService;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long open conversations may go on after the door starts closing.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(5);

/// A visitor that connects and never sends a request's head is let go after this long.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Accepting failed for good (after backing off to 30 s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptFailed {
    pub addr: Option<SocketAddr>,
    pub reason: String,
}

/// Accepts visitors on `listener` until `shutdown` completes, handing each to `serve` with a
/// receiver that turns `true` when the door closes; then waits up to [`DRAIN_DEADLINE`] for the
/// conversations to end and cuts the rest.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    shutdown: impl Future,
    mut serve: F,
) -> Result<(), AcceptFailed>
where
    F: FnMut(TcpStream, SocketAddr, watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    let mut backoff = Duration::from_millis(100);
    let outcome = loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    // Small request/answer exchanges: no Nagle delay waiting for an ACK.
                    let _ = tcp.set_nodelay(true);
                    backoff = Duration::from_millis(100);
                    connections.spawn(serve(tcp, peer, stop_rx.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait and retry.
                    if backoff > Duration::from_secs(30) {
                        break Err(AcceptFailed {
                            addr: listener.local_addr().ok(),
                            reason: e.to_string(),
                        });
                    }
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            },
            _ = &mut shutdown => break Ok(()),
            // Reap finished conversations so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    };
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(DRAIN_DEADLINE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
    }
    outcome
}

/// One visitor's HTTP/1.1 conversation on `io` (the stream after the handshake), answered by
/// `service`, until the visitor leaves or `stop` turns `true`; then the answer in flight is
/// finished and the connection closed.
pub async fn converse<I, S, B>(io: I, service: S, stop: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(io), service);
    drive(conn, stop, |conn| conn.graceful_shutdown()).await;
}

/// Drives the connection `conn` until it ends or `stop` turns `true`; then `wind_down` asks it
/// to finish the answers in flight (HTTP/1.1: close after the current one; HTTP/2: GOAWAY), and
/// it is driven to its end. A server gone without saying stop leaves the visitor served.
pub async fn drive<C: Future>(
    conn: C,
    mut stop: watch::Receiver<bool>,
    wind_down: impl FnOnce(Pin<&mut C>),
) {
    tokio::pin!(conn);
    let stopping = async move {
        while !*stop.borrow_and_update() {
            if stop.changed().await.is_err() {
                // The server is gone without saying stop: keep serving this visitor.
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stopping => {
            wind_down(conn.as_mut());
            let _ = conn.await;
        }
    }
}
