//! Where an office listens, apart from the office itself: so steps can be played in an office
//! opened elsewhere (`kubecorp challenge check` calls the learner's office from outside).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use kubecorp_office::Office;
use kubecorp_trust::{Events, LabClock};
use serde::{Deserialize, Serialize};

use super::caller::Made;

/// A running office's doors: all a runner needs to call it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Doors {
    pub apiserver_addr: SocketAddr,
    /// Charlie's address, when the lab runs its own etcd.
    pub etcd_addr: Option<SocketAddr>,
    pub etcd_url: String,
    pub etcd_peer_addr: Option<SocketAddr>,
    pub scheduler_addr: Option<SocketAddr>,
    /// Each node's name and where its kubelet listens.
    pub kubelets: Vec<(String, SocketAddr)>,
}

impl Doors {
    pub fn of(office: &Office) -> Doors {
        Doors {
            apiserver_addr: office.apiserver_addr,
            etcd_addr: office.etcd_addr,
            etcd_url: office.etcd_url.clone(),
            etcd_peer_addr: office.etcd_peer_addr,
            scheduler_addr: office.scheduler_addr,
            kubelets: office.kubelets.clone(),
        }
    }

    /// No office yet: steps that only touch the lab's files can be played (`challenge.before`).
    pub fn unopened() -> Doors {
        let nowhere = SocketAddr::from(([127, 0, 0, 1], 0));
        Doors {
            apiserver_addr: nowhere,
            etcd_addr: None,
            etcd_url: format!("https://{nowhere}"),
            etcd_peer_addr: None,
            scheduler_addr: None,
            kubelets: Vec::new(),
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn apiserver_url(&self) -> String {
        format!("https://{}", self.apiserver_addr)
    }
}

/// An office that is already open, and the lab it works in: where [`super::play`] plays.
pub struct Venue {
    pub dir: PathBuf,
    pub doors: Doors,
    pub clock: LabClock,
    /// The office's own event stream when it runs in this process (the guards' decisions are
    /// then read from it); a fresh one for an office elsewhere (only the caller's side is seen).
    pub events: Events,
    pub key_algorithm: kubecorp_pki::KeyAlgorithm,
}

/// The identities an earlier run made: `users/NAME.key`, with `users/NAME.crt` once collected.
pub(super) fn made_before(dir: &Path) -> HashMap<String, Made> {
    let users = dir.join("users");
    let Ok(entries) = std::fs::read_dir(&users) else {
        return HashMap::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "key"))
        .filter_map(|key| {
            let name = key.file_stem()?.to_string_lossy().into_owned();
            let cert = Some(users.join(format!("{name}.crt"))).filter(|c| c.exists());
            Some((name, Made { key, cert }))
        })
        .collect()
}
