//! `--web [ADDR]`: the office's live page beside it, printed at start like the other doors.

use anyhow::{Context, Result};
use kubecorp_office::start::Shutdown;
use kubecorp_office::Office;
use kubecorp_trust::record::{Body, Opened};
use kubecorp_trust::{Events, LabClock};
use kubecorp_web::{Control, Hub, Site, Token};
use tokio::task::JoinHandle;

use crate::office_cmd::Web;

/// The page, open.
pub struct Page {
    /// What to print: the URL (with the token when trainer controls are on).
    pub banner: String,
    server: JoinHandle<()>,
}

impl Page {
    /// Waits for the page's door to close (after its shutdown fired).
    pub async fn closed(self) {
        let _ = self.server.await;
    }
}

/// Binds the page's address and serves the office's stream there.
pub async fn open(
    office: &Office,
    web: Web,
    events: &Events,
    clock: &LabClock,
    shutdown: &Shutdown,
) -> Result<Page> {
    let listener = tokio::net::TcpListener::bind(web.addr)
        .await
        .with_context(|| format!("the page: binding {}", web.addr))?;
    let addr = listener
        .local_addr()
        .with_context(|| format!("the page: reading the address bound for {}", web.addr))?;
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
    let url = format!("http://{addr}/");
    let banner = match &control {
        Some(c) => format!(
            "  the page (live floor plan)        {url}?token={}\n                                    the token lets the page break, renew and move the lab clock: share it with care",
            c.token.as_str()
        ),
        None => format!("  the page (live floor plan)        {url}   read-only"),
    };
    tokio::spawn(kubecorp_web::follow::follow(
        hub.clone(),
        events.clone(),
        clock.clone(),
        Some(dir),
        shutdown.wait(),
    ));
    let site = Site { hub, control };
    let stopped = shutdown.wait();
    let server = tokio::spawn(async move {
        if let Err(e) = kubecorp_web::run(site, listener, stopped).await {
            eprintln!("error: {e}");
        }
    });
    Ok(Page { banner, server })
}
