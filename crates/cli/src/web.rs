//! `--web [ADDR]`: the office's live page beside it, printed at start like the other doors.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use kubecorp_office::start::Shutdown;
use kubecorp_office::Office;
use kubecorp_trust::record::{Body, Opened};
use kubecorp_trust::{Events, LabClock};
use kubecorp_web::{Control, Hub, Pace, Site, Token};
use tokio::task::JoinHandle;

use crate::office_cmd::Web;

/// The page, open.
pub struct Page {
    /// `http://ADDR/`.
    pub url: String,
    /// What to print: the URL (with the token when trainer controls are on).
    pub banner: String,
    stop: kubecorp_office::start::Stop,
    server: JoinHandle<()>,
}

impl Page {
    /// Closes the page's door.
    pub fn stop(&self) {
        self.stop.stop();
    }

    /// Waits for the page's door to close (after [`Page::stop`]).
    pub async fn closed(self) {
        self.stop.stop();
        let _ = self.server.await;
    }
}

/// Binds `addr` and serves `hub` there, with trainer controls and a run's pace when given.
pub async fn serve(
    hub: Hub,
    control: Option<Control>,
    pace: Option<Pace>,
    addr: SocketAddr,
) -> Result<Page> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("the page: binding {addr}"))?;
    let bound = listener
        .local_addr()
        .with_context(|| format!("the page: reading the address bound for {addr}"))?;
    let url = format!("http://{bound}/");
    let banner = match &control {
        Some(c) => format!(
            "  the page (live floor plan)        {url}?token={}\n                                    the token lets the page break, renew and move the lab clock: share it with care",
            c.token.as_str()
        ),
        None => format!("  the page (live floor plan)        {url}   read-only"),
    };
    let (stop, shutdown) = kubecorp_office::start::shutdown_pair();
    let site = Site { hub, control, pace };
    let server = tokio::spawn(async move {
        if let Err(e) = kubecorp_web::run(site, listener, shutdown.wait()).await {
            eprintln!("error: {e}");
        }
    });
    Ok(Page {
        url,
        banner,
        stop,
        server,
    })
}

/// Serves the office's stream (its events and lab clock) until `shutdown`.
pub async fn open(
    office: &Office,
    web: Web,
    events: &Events,
    clock: &LabClock,
    shutdown: &Shutdown,
) -> Result<Page> {
    let dir = office.dir.display().to_string();
    let hub = Hub::new();
    hub.push(Body::Opened(Opened {
        title: "KubeCorp is open".into(),
        description: None,
        file: None,
        apiserver: office.apiserver_url(),
        etcd: office.etcd_url.clone(),
        dir: dir.clone(),
        nodes: office.kubelets.iter().map(|(n, _)| n.clone()).collect(),
    }));
    let control = match web.control {
        true => Some(Control {
            token: Token::random()?,
            lab: kubecorp_pki::Lab::new(&office.dir),
            clock: clock.clone(),
        }),
        false => None,
    };
    tokio::spawn(kubecorp_web::follow::follow(
        hub.clone(),
        events.clone(),
        clock.clone(),
        Some(dir),
        shutdown.wait(),
    ));
    serve(hub, control, None, web.addr).await
}
