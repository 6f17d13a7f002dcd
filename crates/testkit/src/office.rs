//! A quiet test office: Charlie and Alice only, on ephemeral loopback ports and a lab clock
//! stopped at 09:00, so a component under test is the only one talking and log lines can be
//! compared whole.

use kubecorp_client::KubeClient;
use kubecorp_office::{Office, OfficeOptions, Staff};
use kubecorp_trust::{Event, LabClock};
use time::macros::datetime;
use time::OffsetDateTime;

use crate::eventually;

/// The moment the quiet office's lab clock is stopped at.
pub const NINE_AM: OffsetDateTime = datetime!(2026-11-29 09:00:00 UTC);

/// An office with only etcd and the apiserver, its lab in a temporary directory (kept as long
/// as the returned guard lives), the lab clock stopped at [`NINE_AM`].
pub async fn quiet_office() -> (tempfile::TempDir, Office) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let office = Office::start(OfficeOptions {
        staff: Staff::NONE,
        clock: LabClock::fixed(NINE_AM),
        ..OfficeOptions::ephemeral(dir.path().join("lab"))
    })
    .await
    .expect("the office opens");
    (dir, office)
}

/// The whole office as `kubecorp up` opens it, on ephemeral ports and the machine's clock.
pub async fn whole_office() -> (tempfile::TempDir, Office) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let office = Office::start(OfficeOptions::ephemeral(dir.path().join("lab")))
        .await
        .expect("the office opens");
    (dir, office)
}

/// A client dialing Alice as `component`, with the badge of `kubeconfig` in the lab.
pub fn client(office: &Office, component: &str, kubeconfig: &str) -> KubeClient {
    office
        .client(component, kubeconfig)
        .unwrap_or_else(|e| panic!("{component} with {kubeconfig}: {e}"))
}

/// The first event `from` told that `pick` accepts, waiting for it (see [`eventually`]).
pub async fn said(office: &Office, from: &str, what: &str, pick: impl Fn(&Event) -> bool) -> Event {
    eventually(what, || async {
        office
            .events
            .snapshot()
            .into_iter()
            .find(|e| e.from == from && pick(e))
    })
    .await
}

/// The first event `from` told whose detail is exactly `detail`, waiting for it.
pub async fn said_detail(office: &Office, from: &str, detail: &str) -> Event {
    said(office, from, detail, |e| {
        e.detail.as_deref() == Some(detail)
    })
    .await
}

/// Asserts that `from` was refused nothing: no event of theirs says not allowed.
pub fn assert_never_refused(office: &Office, from: &str) {
    let refused: Vec<Event> = office
        .events
        .snapshot()
        .into_iter()
        .filter(|e| e.from == from && !e.allowed)
        .collect();
    assert!(refused.is_empty(), "{from} was refused: {refused:#?}");
}
