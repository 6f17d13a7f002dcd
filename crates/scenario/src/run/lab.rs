//! The lab a run plays in: a fresh kubeadm PKI made at the scenario's clock, or one made
//! elsewhere taken in, with the lab clock moved to where all its badges are valid.

use std::path::Path;

use kubecorp_pki::Lab;
use kubecorp_trust::LabClock;
use time::Duration;

use crate::model::Scenario;

/// A fresh kubeadm PKI made with the scenario's key algorithm and clock, or a copy of one
/// made elsewhere (`DIR/ca.crt`…, kubeconfigs from `DIR/..`). A run's lab is thrown away
/// afterwards, so its RSA keys come from the user's key pool (`kubecorp_pki::pool`).
///
/// A PKI made elsewhere was made at its own time: when the scenario's clock falls outside the
/// time every certificate in it is valid, the lab clock starts where they all are, and the
/// returned note says so (checks on exact times may then differ).
pub(super) fn prepare_pki(
    dir: &Path,
    pki: Option<&Path>,
    scenario: &Scenario,
    clock: &LabClock,
) -> Result<Option<String>, kubecorp_pki::PkiError> {
    let lab = Lab::new(dir);
    match pki {
        Some(src) => {
            kubecorp_pki::import::import_kubeadm(src, &lab)?;
            Ok(fit_clock(&lab.pki_dir(), clock))
        }
        None => {
            let node = scenario
                .lab
                .nodes
                .first()
                .cloned()
                .unwrap_or_else(|| kubecorp_office::CONTROL_PLANE_NODE.into());
            let init = kubecorp_pki::init::InitOptions {
                facts: kubecorp_pki::ClusterFacts::new(
                    node,
                    std::net::IpAddr::from([127, 0, 0, 1]),
                ),
                key_algorithm: scenario.lab.key_algorithm,
                force: false,
                now: clock.now(),
            };
            let pool = kubecorp_pki::pool::KeyPool::user();
            kubecorp_pki::init::init_drawing(&lab, &init, pool.as_ref()).map(|_| None)
        }
    }
}

/// Moves the lab clock into the window where every certificate under `pki` is valid, if it
/// is outside it; says so.
fn fit_clock(pki: &Path, clock: &LabClock) -> Option<String> {
    let (from, until) = kubecorp_pki::import::common_validity(pki)?;
    let now = clock.now();
    if (from..=until).contains(&now) || from > until {
        return None;
    }
    let start = from.checked_add(Duration::minutes(5)).unwrap_or(from);
    clock.set(start.min(until));
    Some(format!(
        "the scenario's clock ({}) is outside the time this PKI's certificates are all valid ({} to {}); the lab clock starts at {} instead, so checks on exact times may differ",
        kubecorp_trust::go_time(now),
        kubecorp_trust::go_time(from),
        kubecorp_trust::go_time(until),
        kubecorp_trust::go_time(clock.now())
    ))
}
