//! A run's private directory (`/tmp/kubecorp-scenario-XXXX/lab`: its PKI, private keys
//! included): removed when the run ends, and by [`remove_live`] when the process is stopped
//! before that (Ctrl-C, SIGTERM, a reader that went away); left on disk only when asked.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The private directories of the runs under way in this process.
static LIVE: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

fn live() -> MutexGuard<'static, BTreeSet<PathBuf>> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Where one run keeps its lab.
#[derive(Debug)]
pub enum LabDir {
    /// Removed when dropped, or by [`remove_live`]; what is written in it is not flushed to
    /// disk ([`kubecorp_pki::fs::throwaway`]).
    Private(PathBuf, kubecorp_pki::fs::Throwaway),
    /// Left on disk for the user to look into (`kubecorp run --keep`).
    Kept(PathBuf),
}

impl LabDir {
    /// A fresh directory (0700) in the system's temporary directory, named `PREFIXxxxx`.
    pub fn new(prefix: &str, keep: bool) -> std::io::Result<LabDir> {
        let mut live = live();
        let root = tempfile::Builder::new()
            .prefix(prefix)
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()?
            .keep();
        if keep {
            return Ok(LabDir::Kept(root));
        }
        live.insert(root.clone());
        let mark = kubecorp_pki::fs::throwaway(&root);
        Ok(LabDir::Private(root, mark))
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        match self {
            LabDir::Private(root, _) | LabDir::Kept(root) => root,
        }
    }

    /// Where the lab goes: `ROOT/lab`.
    pub fn lab(&self) -> PathBuf {
        self.root().join("lab")
    }

    /// The lab, when it stays on disk after the run.
    pub fn kept(&self) -> Option<PathBuf> {
        match self {
            LabDir::Kept(_) => Some(self.lab()),
            LabDir::Private(..) => None,
        }
    }
}

impl Drop for LabDir {
    fn drop(&mut self) {
        if let LabDir::Private(root, _) = self {
            // Under the lock: a stop that comes now waits for this removal, then finds it done.
            let mut live = live();
            remove(root);
            live.remove(root.as_path());
        }
    }
}

/// Removes the private directory of every run under way, for a process that is about to end
/// before its runs do; returns the labs it removed.
pub fn remove_live() -> Vec<PathBuf> {
    let mut live = live();
    let removed = live
        .iter()
        .filter(|root| remove(root))
        .map(|root| root.join("lab"))
        .collect();
    live.clear();
    removed
}

/// Removes `root`, again while the office is still writing into it; whether it is gone.
///
/// A run stopped part-way may still be writing its PKI (keys are made on every core at once):
/// the directory is first renamed aside, so writes by path fail from then on, and both names
/// are removed until neither comes back.
fn remove(root: &Path) -> bool {
    let mut aside = root.as_os_str().to_owned();
    aside.push(".removing");
    let aside = PathBuf::from(aside);
    let _ = std::fs::rename(root, &aside);
    for _ in 0..100 {
        for dir in [root, aside.as_path()] {
            match std::fs::remove_dir_all(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(_) => {}
            }
        }
        if !root.exists() && !aside.exists() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    !root.exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_lab_is_not_flushed_and_gone_when_dropped_and_a_kept_one_stays_flushed() {
        let dropped = LabDir::new("kubecorp-test-", false).unwrap();
        std::fs::create_dir_all(dropped.lab().join("pki")).unwrap();
        std::fs::write(dropped.lab().join("pki/ca.key"), "key").unwrap();
        assert!(!kubecorp_pki::fs::durable(
            &dropped.lab().join("pki/ca.key")
        ));
        let root = dropped.root().to_owned();
        drop(dropped);
        assert!(!root.exists());

        // `remove_live` ends every run of the process: the binary's tests send it real signals.
        let kept = LabDir::new("kubecorp-test-", true).unwrap();
        let root = kept.root().to_owned();
        assert_eq!(kept.kept(), Some(root.join("lab")));
        // A kept lab outlives the run: its files are flushed to disk like any lab's.
        assert!(kubecorp_pki::fs::durable(&kept.lab().join("pki/ca.key")));
        drop(kept);
        assert!(root.is_dir());
        std::fs::remove_dir_all(root).unwrap();
    }
}
