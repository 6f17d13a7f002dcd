//! What every controller calling as its own service account does alike: say so when it
//! starts, report a failed round, and drop a token Alice refused.

use kubecorp_client::klog::{self, Severity};
use kubecorp_client::reflector::Failure;
use kubecorp_client::{ClientError, KubeClient};
use kubecorp_trust::{Event, Events, LabClock, Stage};

use crate::credentials::ServiceAccountCredentials;

/// How the token behind a controller's calls is renewed, for explanations.
pub const TOKEN_BADGE: klog::Badge = klog::Badge {
    file: "controller-manager.conf (which asks for the controllers' tokens)",
    renew: "`kubeadm certs renew controller-manager.conf`; in the lab `kubecorp certs renew controller-manager.conf`; the controller asks for a new token at its next retry",
};

/// What a controller calling as its own service account needs: its credentials, a client with
/// the token (no badge), the lab clock and the events.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub credentials: ServiceAccountCredentials,
    pub client: KubeClient,
    pub clock: LabClock,
    pub events: Events,
}

/// Why a controller's round stopped.
#[derive(Debug)]
pub enum RoundError {
    /// The controller manager could not get the controller a token.
    Token(ClientError),
    Reflector(Failure),
    Sync {
        what: String,
        error: ClientError,
    },
}

impl RoundError {
    fn error(&self) -> &ClientError {
        match self {
            RoundError::Token(e) | RoundError::Sync { error: e, .. } => e,
            RoundError::Reflector(f) => &f.error,
        }
    }
}

/// A 401 means the token is no good any more: the next round asks for another (client-go's
/// token source does the same when an answer is Unauthorized).
pub fn forget_on_401(credentials: &ServiceAccountCredentials, error: &RoundError) {
    if error.error().code() == Some(401) {
        credentials.forget();
    }
}

/// The controller's first event: who it calls Alice as, and why.
pub fn announce(
    client: &KubeClient,
    clock: &LabClock,
    events: &Events,
    credentials: &ServiceAccountCredentials,
    source: &str,
    started: &str,
) {
    let at = clock.now();
    let account = credentials.account();
    let user = credentials.user();
    events.emit(
        Event::new(at, client.component(), "apiserver", Stage::Request)
            .allowed(true)
            .caller_log(klog::line(
                Severity::Info,
                at,
                source,
                &format!("\"{started}\" logger=\"{account}\""),
            ))
            .explanation(format!(
                "kubeadm runs kube-controller-manager with --use-service-account-credentials: its own badge (controller-manager.conf, CN=system:kube-controller-manager) only asks Alice for a token for the service account kube-system/{account} (a TokenRequest, after creating the account if it is missing), and the {account} calls Alice with that token and no badge at all. Alice sees {user}, and RBAC grants it exactly the bootstrap ClusterRole system:controller:{account} (ClusterRoleBinding of the same name): each controller can do its own job and nothing more, and every write names the controller that made it. A real cluster does the same; its tokens last an hour and are asked for again before they run out, as here on the lab clock. (The lab's endpoints and node lifecycle controllers still dial with controller-manager.conf itself.)"
            ))
            .detail(format!("{account} calls the apiserver as {user} (service-account token)")),
    );
}

/// A failed round on the event stream: the Go error as the controller would log it, and the
/// lab's words.
pub fn report(
    client: &KubeClient,
    clock: &LabClock,
    events: &Events,
    credentials: &ServiceAccountCredentials,
    error: &RoundError,
) {
    forget_on_401(credentials, error);
    let event = match error {
        RoundError::Reflector(failure) => failure.event(client, clock, TOKEN_BADGE),
        RoundError::Token(error) => {
            let (explanation, hint) = klog::explain(error, client.component(), TOKEN_BADGE);
            Event::new(
                clock.now(),
                client.component(),
                "apiserver",
                klog::stage_of(error),
            )
            .client_text(error.to_string())
            .explanation(format!(
                "The controller manager could not get a token for kube-system/{}: {explanation}",
                credentials.account()
            ))
            .hint(hint)
            .detail(format!("token for {} failed: {error}", credentials.user()))
        }
        RoundError::Sync { what, error } => {
            klog::failed_call(client, clock.now(), TOKEN_BADGE, error)
                .client_text(error.to_string())
                .detail(format!(
                    "syncing {what} as {} failed: {error}",
                    credentials.user()
                ))
        }
    };
    events.emit(event);
}
