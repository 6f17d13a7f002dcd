//! metrics-server joins the office: its objects applied, its token, its door, and Alice's
//! availability checks of the APIService that names it.

use std::net::SocketAddr;
use std::time::Duration;

use kubecorp_apiserver::api::{Api, ApiRequest};
use kubecorp_apiserver::user::UserInfo;
use kubecorp_pki::{Authority, Lab};
use kubecorp_trust::tls::TrustSource;
use kubecorp_trust::{Events, LabClock};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::start::Shutdown;
use crate::OfficeError;

/// How often Alice's aggregator checks every APIService (the lab's resync; the real
/// controller also re-checks on every change of the APIService, its Service or Endpoints).
pub const CHECK_PERIOD: Duration = Duration::from_secs(5);
/// The longest the first check waits for metrics-server to say it serves.
const FIRST_CHECK_LATEST: Duration = Duration::from_secs(30);

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
/// [`crate::start::apiserver_with`]), calling Alice at `apiserver` with its service account's
/// token (asked for by the administrator: no pod runs it, so no kubelet projects one).
pub async fn metrics_server(
    lab: &Lab,
    api: &Api,
    apiserver: &str,
    listener: TcpListener,
    clock: &LabClock,
    events: &Events,
    shutdown: &Shutdown,
) -> Result<JoinHandle<()>, OfficeError> {
    let projected = crate::projected::ProjectedToken::for_account("metrics-server");
    let read = projected.clone();
    let client = kubecorp_client::KubeClient::new(
        "metrics-server",
        apiserver,
        None,
        TrustSource::bundle(lab.ca_cert_path(Authority::Cluster)),
        clock.clone(),
        events.clone(),
    )
    .map_err(|e| OfficeError::Staff {
        component: "metrics-server".into(),
        problem: e.to_string(),
    })?
    .with_bearer_token(kubecorp_client::TokenSource::new(move || read.token()));
    let config = kubecorp_metrics::MetricsConfig {
        client,
        clock: clock.clone(),
        events: events.clone(),
    };
    let (api, clock, events) = (api.clone(), clock.clone(), events.clone());
    let shutdown = shutdown.wait();
    Ok(tokio::spawn(async move {
        let first = async {
            while projected.token().is_none() {
                if let Some(admin) = administrator() {
                    projected.request_as(&api, &admin, &clock).await;
                }
                if projected.token().is_none() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        let mut shutdown = Box::pin(shutdown);
        tokio::select! {
            _ = first => {}
            _ = &mut shutdown => return,
        }
        let result = kubecorp_metrics::run(config, listener, shutdown).await;
        crate::start::report_stop("metrics-server", result, &clock, &events);
    }))
}

/// Alice's availability controller: every APIService checked every [`CHECK_PERIOD`], the
/// first time once metrics-server says it serves (or after [`FIRST_CHECK_LATEST`]), so the
/// office does not open on a failed check of a server still making its badge. `feed` is a
/// subscription to the stream taken before metrics-server started.
pub fn availability(
    api: &Api,
    mut feed: tokio::sync::broadcast::Receiver<kubecorp_trust::Event>,
    shutdown: &Shutdown,
) -> JoinHandle<()> {
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
                api.check_apiservices().await;
                tokio::time::sleep(CHECK_PERIOD).await;
            }
        };
        tokio::select! {
            _ = checks => {}
            _ = shutdown => {}
        }
    })
}
