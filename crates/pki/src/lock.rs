//! One writer at a time on a lab directory, and no half-written files left from an interrupted one.
//!
//! `pki init`, `certs renew`, `break` and its undo rewrite certificate/key pairs and
//! kubeconfigs. Two of them at once on one lab could each write a certificate and the other's
//! key, leaving pairs that no longer match. So each takes the lab's lock file
//! (`.kubecorp.lock`, an advisory `flock`) for its whole run; a second one waits, and says so.
//! With the lock held no other command is writing, so the temporary files (`.kubecorp-XXXXXX`,
//! see [`crate::fs::write_atomic`]) that a killed run left behind are removed, and a `pki init
//! --force` stopped half-way is rolled back or finished ([`crate::swap::recover`]). A running
//! kubelet writes its own folder without the lock (its rotated badge), so only a temporary file
//! older than [`STRAY_AFTER`] counts as left behind: a write in progress lasts milliseconds.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{PkiError, Result};
use crate::layout::Lab;

/// The lock file's name in the lab directory.
pub const LOCK_FILE: &str = ".kubecorp.lock";

/// How old a temporary file must be before it counts as left behind by a killed run.
pub const STRAY_AFTER: Duration = Duration::from_secs(60);

/// Held while a command writes the lab; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct LabLock {
    _file: File,
    pub path: PathBuf,
}

impl Lab {
    /// Takes the lab's write lock, calling `waiting` once if another command holds it, then
    /// removes stray temporary files.
    pub fn lock_with(&self, waiting: impl FnOnce(&Path)) -> Result<LabLock> {
        crate::fs::ensure_dir(self.root())?;
        let path = self.root().join(LOCK_FILE);
        let file = flock(&path, waiting)?;
        remove_stray_temporaries(self)?;
        crate::swap::recover(self)?;
        Ok(LabLock { _file: file, path })
    }

    /// Before the lab is read (`up`): waits while another command writes it, finishes or
    /// removes what an interrupted one left, and lets the lock go at once. A lab this user may
    /// only read is read as it is.
    pub fn settle(&self) -> Result<()> {
        match self.lock() {
            Ok(_lock) => Ok(()),
            Err(PkiError::Write { source, .. })
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// [`Lab::lock_with`], telling a waiting user on stderr why nothing happens yet.
    pub fn lock(&self) -> Result<LabLock> {
        self.lock_with(|path| {
            eprintln!(
                "waiting for another kubecorp command that is changing {} (it holds {})…",
                self.root().display(),
                path.display()
            )
        })
    }
}

/// Opens (creating, 0600) the lock file at `path` and takes its advisory `flock`, calling
/// `waiting` once if another process holds it. The lock lasts while the file stays open: until
/// it is dropped, or the process ends however it ends. The lab's lock and the key pool's fill
/// lock are both this.
pub(crate) fn flock(path: &Path, waiting: impl FnOnce(&Path)) -> Result<File> {
    let err = |source| PkiError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path).map_err(err)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            waiting(path);
            file.lock().map_err(err)?;
        }
        Err(TryLockError::Error(e)) => return Err(err(e)),
    }
    Ok(file)
}

/// `.kubecorp-` and six letters or digits: a temporary file of [`crate::fs::write_atomic`]
/// (not `.kubecorp-backup`, the directory `break` keeps originals in).
fn is_temporary(name: &str) -> bool {
    name.strip_prefix(".kubecorp-")
        .is_some_and(|rest| rest.len() == 6 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Removes the temporary files a killed run left in the lab's directories: those older than
/// [`STRAY_AFTER`], so that a running kubelet's write in its own folder is not cut short.
fn remove_stray_temporaries(lab: &Lab) -> Result<()> {
    let now = SystemTime::now();
    let left_behind = |entry: &std::fs::DirEntry| {
        entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|at| now.duration_since(at).is_ok_and(|age| age >= STRAY_AFTER))
    };
    let mut dirs = vec![
        lab.root().to_path_buf(),
        lab.pki_dir(),
        lab.pki_dir().join("etcd"),
    ];
    if let Ok(nodes) = std::fs::read_dir(lab.root().join("kubelet")) {
        dirs.extend(nodes.flatten().map(|n| n.path()));
    }
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if is_file && name.to_str().is_some_and(is_temporary) && left_behind(&entry) {
                std::fs::remove_file(entry.path()).map_err(|source| PkiError::Write {
                    path: entry.path(),
                    source,
                })?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_waits_for_the_first_and_is_told_why() {
        let tmp = tempfile::tempdir().unwrap();
        let lab = Lab::new(tmp.path().join("lab"));
        let first = lab.lock_with(|_| panic!("nobody holds it yet")).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let second = {
            let lab = lab.clone();
            std::thread::spawn(move || {
                let lock = lab.lock_with(|path| tx.send(path.to_path_buf()).unwrap());
                lock.map(|_| ())
            })
        };
        let told = rx.recv().unwrap();
        assert!(told.ends_with(LOCK_FILE));
        assert!(!second.is_finished());
        drop(first);
        second.join().unwrap().unwrap();
    }

    #[test]
    fn stray_temporary_files_are_removed_and_the_backup_directory_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let lab = Lab::new(tmp.path().join("lab"));
        std::fs::create_dir_all(lab.pki_dir().join("etcd")).unwrap();
        std::fs::create_dir_all(lab.root().join(".kubecorp-backup")).unwrap();
        let stray = lab.pki_dir().join("etcd").join(".kubecorp-Ab12Cd");
        std::fs::write(&stray, "half a key").unwrap();
        let long_ago = SystemTime::now() - STRAY_AFTER - Duration::from_secs(1);
        std::fs::File::options()
            .write(true)
            .open(&stray)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        let kept = lab.pki_dir().join("ca.crt");
        std::fs::write(&kept, "x").unwrap();
        drop(lab.lock().unwrap());
        assert!(!stray.exists());
        assert!(kept.exists());
        assert!(lab.root().join(".kubecorp-backup").is_dir());
    }

    #[test]
    fn a_kubelets_write_in_progress_is_not_taken_for_a_stray() {
        let tmp = tempfile::tempdir().unwrap();
        let lab = Lab::new(tmp.path().join("lab"));
        let node = lab.root().join("kubelet").join("ceo");
        std::fs::create_dir_all(&node).unwrap();
        let writing = node.join(".kubecorp-Qr56St");
        std::fs::write(&writing, "the rotated badge, half written").unwrap();
        drop(lab.lock().unwrap());
        assert!(
            writing.exists(),
            "a write begun just now was removed under the kubelet"
        );
    }

    #[test]
    fn settling_before_a_read_removes_a_half_built_set_and_lets_the_lock_go() {
        let tmp = tempfile::tempdir().unwrap();
        let lab = Lab::new(tmp.path().join("lab"));
        let staging = lab
            .root()
            .join(format!("{}Xy34Zw", crate::swap::STAGING_PREFIX));
        std::fs::create_dir_all(staging.join("pki")).unwrap();
        std::fs::write(staging.join("pki").join("ca.key"), "half a key").unwrap();
        lab.settle().unwrap();
        assert!(!staging.exists(), "the half-built set is still there");
        drop(lab.lock_with(|_| panic!("settle kept the lock")).unwrap());
    }
}
