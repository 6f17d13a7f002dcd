//! metrics-server joins the office: its objects applied, its token, its door, and Alice's
//! availability checks of the APIService that names it.

use std::net::SocketAddr;
use std::time::Duration;

use kubecorp_apiserver::api::{Api, ApiRequest};
use kubecorp_apiserver::user::UserInfo;
use kubecorp_pki::{Authority, Lab};
use kubecorp_trust::tls::{CertSource, TrustSource};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::start::{Desk, Shutdown};
use crate::OfficeError;

/// How often Alice's aggregator checks every APIService (the lab's resync; the real
/// controller also re-checks on every change of the APIService, its Service or Endpoints).
pub const CHECK_PERIOD: Duration = Duration::from_secs(5);
/// The longest the first check waits for metrics-server to say it serves.
const FIRST_CHECK_LATEST: Duration = Duration::from_secs(30);
/// How often the proxy badge's files are looked at (size, mtime, inode: no read unless they
/// changed) between two checks.
const BADGE_LOOK: Duration = Duration::from_millis(50);

/// The administrator who applies metrics-server's manifest (`kubectl apply -f
/// components.yaml` with admin.conf).
fn administrator() -> Option<UserInfo> {
    UserInfo::from_cert("kubernetes-admin", ["kubeadm:cluster-admins"])
}

/// Applies metrics-server's objects: each created when absent; the Endpoints rewritten, since
/// they name this run's port.
pub(crate) async fn apply(api: &Api, listening: SocketAddr) -> Result<(), OfficeError> {
    let admin = administrator().ok_or_else(|| OfficeError::Staff {
        component: "metrics-server".into(),
        problem: "no administrator to apply its manifest".into(),
    })?;
    for (collection, object) in kubecorp_metrics::manifest::objects(listening) {
        let (created, _) = api
            .handle(ApiRequest::json(&admin, "POST", collection, Some(&object)))
            .await;
        match created.code() {
            200 | 201 => {}
            409 if object["kind"] == "Endpoints" => {
                let path = format!(
                    "{collection}/{}",
                    object["metadata"]["name"].as_str().unwrap_or("")
                );
                let (current, _) = api
                    .handle(ApiRequest::json(&admin, "GET", &path, None))
                    .await;
                let mut fresh = object.clone();
                fresh["metadata"]["resourceVersion"] =
                    current.body_json()["metadata"]["resourceVersion"].clone();
                let (replaced, _) = api
                    .handle(ApiRequest::json(&admin, "PUT", &path, Some(&fresh)))
                    .await;
                if replaced.code() != 200 {
                    return Err(OfficeError::Staff {
                        component: "metrics-server".into(),
                        problem: format!("replacing its Endpoints: {replaced:?}"),
                    });
                }
            }
            409 => {}
            _ => {
                return Err(OfficeError::Staff {
                    component: "metrics-server".into(),
                    problem: format!(
                        "applying {} {}: {created:?}",
                        object["kind"].as_str().unwrap_or(""),
                        object["metadata"]["name"].as_str().unwrap_or("")
                    ),
                })
            }
        }
    }
    Ok(())
}

/// metrics-server on `listener` (its manifest applied already, see
/// [`crate::start::apiserver`]), calling Alice (`api`) with its service account's token
/// (asked for by the administrator: no pod runs it, so no kubelet projects one).
pub async fn metrics_server(
    desk: Desk<'_>,
    api: &Api,
    listener: TcpListener,
) -> Result<JoinHandle<()>, OfficeError> {
    let (lab, clock, events, shutdown) = (desk.lab, desk.clock, desk.events, desk.shutdown);
    let projected = crate::projected::ProjectedToken::for_account("metrics-server");
    let read = projected.clone();
    let client = desk
        .badgeless_client(
            "metrics-server",
            TrustSource::bundle(lab.ca_cert_path(Authority::Cluster)),
        )?
        .with_bearer_token(kubecorp_client::TokenSource::new(move || read.token()));
    let config = kubecorp_metrics::MetricsConfig {
        client,
        clock: clock.clone(),
        events: events.clone(),
        keys: kubecorp_pki::key_source::KeySource::of(lab),
    };
    let (api, asked_at) = (api.clone(), clock.clone());
    let shutdown = shutdown.wait();
    let served = async move {
        let first = async {
            while projected.token().is_none() {
                if let Some(admin) = administrator() {
                    projected.request_as(&api, &admin, &asked_at).await;
                }
                if projected.token().is_none() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        let mut shutdown = Box::pin(shutdown);
        tokio::select! {
            _ = first => {}
            _ = &mut shutdown => return Ok(()),
        }
        kubecorp_metrics::run(config, listener, shutdown).await
    };
    Ok(crate::start::serve(
        "metrics-server",
        served,
        clock.clone(),
        events.clone(),
    ))
}

/// Alice's availability controller: every APIService checked every [`CHECK_PERIOD`], the
/// first time once metrics-server says it serves (or after [`FIRST_CHECK_LATEST`]), so the
/// office does not open on a failed check of a server still making its badge; and at once
/// when her proxy badge (`front-proxy-client`) changes on disk. `feed` is a subscription to the
/// stream taken before metrics-server started.
///
/// kube-apiserver notices a rewritten `--proxy-client-cert-file` at once too (its dynamic
/// certificate content watches the file), but its availability check comes round only at the
/// next resync (30 s) or, after a failure, at its retry; a room would sit through that wait
/// for nothing, so the lab checks as soon as the badge it would show is a different one. What
/// the check finds and says is the same.
pub fn availability(
    lab: &Lab,
    api: &Api,
    mut feed: tokio::sync::broadcast::Receiver<kubecorp_trust::Event>,
    shutdown: &Shutdown,
) -> JoinHandle<()> {
    let badge = CertSource::pem_files(
        lab.cert_path("front-proxy-client"),
        lab.key_path("front-proxy-client"),
    );
    let api = api.clone();
    let shutdown = shutdown.wait();
    tokio::spawn(async move {
        let checks = async {
            let serving = async {
                loop {
                    match feed.recv().await {
                        Ok(e)
                            if e.from == "metrics-server"
                                && e.detail
                                    .as_deref()
                                    .is_some_and(|d| d.starts_with("serves ")) =>
                        {
                            return
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                        _ => {}
                    }
                }
            };
            let _ = tokio::time::timeout(FIRST_CHECK_LATEST, serving).await;
            loop {
                // The badge as this check will show it: a change during the check counts.
                let shown = leaf(&badge).ok();
                api.check_apiservices().await;
                tokio::select! {
                    _ = tokio::time::sleep(CHECK_PERIOD) => {}
                    _ = badge_changed(&badge, shown) => {}
                }
            }
        };
        tokio::select! {
            _ = checks => {}
            _ = shutdown => {}
        }
    })
}

/// The badge's certificate as it is on disk now (read again only when its files changed).
fn leaf(badge: &CertSource) -> Result<Vec<u8>, kubecorp_trust::tls::SourceError> {
    Ok(badge
        .chain()?
        .first()
        .map(|c| c.to_vec())
        .unwrap_or_default())
}

/// Completes when the badge on disk is no longer `shown` (a renewal, a fault, a badge made
/// readable again). A badge caught half-renewed (its new certificate beside the old key) is
/// looked at once more before it counts, so the check does not fail on a renewal in flight.
async fn badge_changed(badge: &CertSource, shown: Option<Vec<u8>>) {
    let mut unreadable = false;
    loop {
        tokio::time::sleep(BADGE_LOOK).await;
        match (leaf(badge), &shown) {
            (Ok(now), Some(was)) if &now == was => unreadable = false,
            (Ok(_), _) => return,
            (Err(_), None) => {}
            (Err(_), Some(_)) if unreadable => return,
            (Err(_), Some(_)) => unreadable = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubecorp_pki::KeyAlgorithm;
    use kubecorp_trust::LabClock;

    fn lab() -> (tempfile::TempDir, Lab) {
        let dir = tempfile::tempdir().unwrap();
        let lab = Lab::new(dir.path());
        let clock = LabClock::real();
        crate::ensure_pki(
            &lab,
            "kubecorp-control-plane",
            &clock,
            KeyAlgorithm::EcdsaP256,
        )
        .unwrap();
        (dir, lab)
    }

    fn badge(lab: &Lab) -> CertSource {
        CertSource::pem_files(
            lab.cert_path("front-proxy-client"),
            lab.key_path("front-proxy-client"),
        )
    }

    #[tokio::test]
    async fn a_renewed_front_proxy_client_is_noticed_without_waiting_for_the_next_check() {
        let (_dir, lab) = lab();
        let badge = badge(&lab);
        let shown = leaf(&badge).ok();
        assert!(shown.is_some(), "the lab's proxy badge reads");
        let watching = tokio::spawn({
            let badge = badge.clone();
            async move { badge_changed(&badge, shown).await }
        });
        kubecorp_pki::renew::renew(&lab, "front-proxy-client", LabClock::real().now()).unwrap();
        // The deadline only ends a broken test; the period it stands in for is 5 s.
        tokio::time::timeout(Duration::from_secs(60), watching)
            .await
            .expect("the renewal is noticed")
            .unwrap();
    }

    #[tokio::test]
    async fn an_unchanged_proxy_badge_leaves_the_check_to_its_period() {
        let (_dir, lab) = lab();
        let badge = badge(&lab);
        let shown = leaf(&badge).ok();
        let watching = badge_changed(&badge, shown);
        // Many looks at the files go by; nothing on disk changed, so nothing is noticed.
        let waited = tokio::time::timeout(BADGE_LOOK * 6, watching).await;
        assert!(
            waited.is_err(),
            "an unchanged badge was taken for a new one"
        );
    }
}
