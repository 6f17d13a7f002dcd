//! The lab a run plays in: a fresh kubeadm PKI made at the scenario's clock, or one made
//! elsewhere taken in, with the lab clock moved to where all its badges are valid.

use std::path::Path;

use kubecorp_pki::Lab;
use kubecorp_trust::LabClock;
use time::Duration;

use super::LabError;
use crate::model::Scenario;

/// A scenario that cannot be played on a PKI made elsewhere (`--pki`): it names its own nodes,
/// and the first one's badge is `kubelet.conf`, which that PKI made for another node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{}:{line}:{column}: lab.nodes: {node} is this scenario's control-plane node, so it needs a kubelet.conf for system:node:{node}, but the PKI in {} has {}; run it without --pki, or with a PKI made for that node (kubecorp pki init --node-name {node})",
    file.display(),
    pki.display(),
    match has { Some(n) => format!("a kubelet.conf for system:node:{n}"), None => "no kubelet.conf".into() }
)]
pub struct NeedsOwnPki {
    pub file: std::path::PathBuf,
    pub line: u32,
    pub column: u32,
    /// The scenario's control-plane node.
    pub node: String,
    /// The PKI directory given (`…/pki`).
    pub pki: std::path::PathBuf,
    /// The node that PKI's `kubelet.conf` (next to it) is for, if it has one.
    pub has: Option<String>,
}

/// Whether `scenario` can be played on the PKI in `pki` (kubeadm's `pki/`, kubeconfigs one
/// level up): a scenario that names its own nodes needs `kubelet.conf` to be its first node's.
pub fn fits_pki(scenario: &Scenario, pki: &Path) -> Result<(), NeedsOwnPki> {
    let (Some(at), Some(node)) = (scenario.lab.nodes_at, scenario.lab.nodes.first()) else {
        return Ok(());
    };
    let root = pki.parent().unwrap_or(pki);
    let has = kubecorp_office::kubelet_conf_node(&Lab::new(root));
    if has.as_deref() == Some(node.as_str()) {
        return Ok(());
    }
    Err(NeedsOwnPki {
        file: scenario.file.clone(),
        line: at.line,
        column: at.column,
        node: node.clone(),
        pki: pki.to_owned(),
        has,
    })
}

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
) -> Result<Option<String>, LabError> {
    let lab = Lab::new(dir);
    match pki {
        Some(src) => {
            fits_pki(scenario, src)?;
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
            // Whatever the lab's algorithm: an ECDSA lab's staff still make RSA-2048 keys for
            // their self-signed serving badges, as client-go does, and those come from the pool.
            let pool = kubecorp_pki::pool::KeyPool::user();
            kubecorp_pki::init::init_drawing(&lab, &init, pool.as_ref())?;
            Ok(None)
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
