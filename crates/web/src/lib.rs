//! The office in a browser: a floor plan of KubeCorp lit by the lab's recorded stream.
//!
//! `kubecorp up --web` serves a page that shows every knock at every door as it happens: the
//! edge from caller to guard, the stage it reached (TCP → TLS → authentication → authorization
//! → request) and the outcome, with the real texts each side printed and the lab's explanation
//! one click away. The page is a small, plain client of the stream: what it shows is what the
//! records (schema `kubecorp/v1`, [`kubecorp_trust::record`]) say, nothing more.
//!
//! # Layout
//!
//! - [`hub`]: the stream as the page receives it, numbered, with a bounded history for resume
//!   and for the details of an event the page opens.
//! - [`brief`]: an event in brief, as the stream carries it (the page fetches the rest).
//! - [`follow`]: a running office's events and lab clock fed into the hub.
//! - [`server`]: the routes: the page, `/events` (Server-Sent Events), trainer actions.
//! - [`control`]: `--web-control`: break, undo, renew and the clock, only with the token.
//! - [`pace`]: a run at the presenter's pace: held until next ▶ (or hands-free), the token to
//!   change it.
//! - [`page`]: the embedded page, and the self-contained HTML report that replays a run.
#![forbid(unsafe_code)]

pub mod brief;
pub mod control;
pub mod follow;
pub mod hub;
pub mod pace;
pub mod page;
pub mod server;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use control::{Action, Control, Token};
pub use hub::Hub;
pub use pace::Pace;
pub use server::Site;

/// The page's door could not go on.
#[derive(Debug, thiserror::Error)]
#[error("the page at {addr}: accepting visitors failed: {reason}")]
pub struct WebError {
    pub addr: String,
    pub reason: String,
}

/// Serves the page on `listener` until `shutdown`.
pub async fn run(
    site: Site,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), WebError> {
    let site = Arc::new(site);
    kubecorp_door::accept_loop(listener, shutdown, move |tcp, _peer: SocketAddr, stop| {
        let site = site.clone();
        async move {
            let closing = stop.clone();
            let service = hyper::service::service_fn(move |request| {
                server::answer(site.clone(), request, closing.clone())
            });
            kubecorp_door::converse(tcp, service, stop).await;
        }
    })
    .await
    .map_err(|e| WebError {
        addr: e.addr.map_or_else(|| "?".into(), |a| a.to_string()),
        reason: e.reason,
    })
}
