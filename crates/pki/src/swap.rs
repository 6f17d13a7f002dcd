//! `pki init --force`: the new set is made beside the old one and moved in only once it is whole.
//!
//! A forced init makes every CA, badge, kubeconfig and the `sa` pair anew. Written over the old
//! files one by one, an interruption would leave a new CA next to leaves the old one signed, and
//! the office would refuse its own staff. So the new set is built in a staging directory inside
//! the lab (`.kubecorp-new-XXXXXX`: directories 0700, keys 0600, as everywhere in the lab) while
//! the old set stays as it was. Only when every file is written is the staging directory renamed
//! to `.kubecorp-swap`: that one rename is the moment the new set counts. Its files are then
//! moved over the old ones, each with a rename.
//!
//! A run stopped before that rename leaves the old set byte for byte; the next command that takes
//! the lab's lock removes the half-built directory, keys included. A run stopped after it is
//! finished by that next command, which moves the rest of the new set in.

use std::fs;
use std::path::Path;

use crate::error::{PkiError, Result};
use crate::layout::Lab;

/// The name a staging directory starts with (six random letters or digits follow).
pub const STAGING_PREFIX: &str = ".kubecorp-new-";

/// A whole new set waiting to be moved in.
pub const SWAP_DIR: &str = ".kubecorp-swap";

/// Builds a new set with `build` in a staging directory beside the lab's files, then moves it
/// over them. If `build` fails, the staging directory is removed and the lab is as it was.
pub(crate) fn replace_set<T>(lab: &Lab, build: impl FnOnce(&Lab) -> Result<T>) -> Result<T> {
    let staging = tempfile::Builder::new()
        .prefix(STAGING_PREFIX)
        .permissions(private_dir())
        .tempdir_in(lab.root())
        .map_err(|source| write_error(lab.root(), source))?;
    let built = build(&Lab::new(staging.path()))?;
    sync_tree(staging.path())?;
    let swap = lab.root().join(SWAP_DIR);
    let staged = staging.keep();
    fs::rename(&staged, &swap).map_err(|source| {
        let _ = fs::remove_dir_all(&staged);
        write_error(&swap, source)
    })?;
    sync_dir(lab.root())?;
    finish(lab)?;
    Ok(built)
}

/// What an interrupted `--force` left: a whole set waiting is moved in, a half-built one removed.
/// Called with the lab's lock held.
pub(crate) fn recover(lab: &Lab) -> Result<()> {
    finish(lab)?;
    let Ok(entries) = fs::read_dir(lab.root()) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && entry.file_name().to_str().is_some_and(is_staging) {
            fs::remove_dir_all(entry.path())
                .map_err(|source| write_error(&entry.path(), source))?;
        }
    }
    Ok(())
}

/// `.kubecorp-new-` and the six letters or digits tempfile adds.
fn is_staging(name: &str) -> bool {
    name.strip_prefix(STAGING_PREFIX)
        .is_some_and(|rest| rest.len() == 6 && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Moves every file of a waiting set over the lab's, then removes the emptied swap directory.
fn finish(lab: &Lab) -> Result<()> {
    let swap = lab.root().join(SWAP_DIR);
    if !swap.is_dir() {
        return Ok(());
    }
    move_tree(&swap, lab.root())?;
    fs::remove_dir_all(&swap).map_err(|source| write_error(&swap, source))
}

fn move_tree(from: &Path, to: &Path) -> Result<()> {
    crate::fs::ensure_dir(to)?;
    let entries = fs::read_dir(from).map_err(|source| PkiError::read(from, source))?;
    for entry in entries {
        let entry = entry.map_err(|source| PkiError::read(from, source))?;
        let target = to.join(entry.file_name());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            move_tree(&entry.path(), &target)?;
        } else {
            fs::rename(entry.path(), &target).map_err(|source| write_error(&target, source))?;
        }
    }
    sync_dir(to)
}

/// Flushes every directory of a staged set, so the rename that commits it commits files on disk.
fn sync_tree(dir: &Path) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(|source| PkiError::read(dir, source))?;
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            sync_tree(&entry.path())?;
        }
    }
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<()> {
    if !crate::fs::durable(dir) {
        return Ok(());
    }
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| write_error(dir, source))
}

fn write_error(path: &Path, source: std::io::Error) -> PkiError {
    PkiError::Write {
        path: path.into(),
        source,
    }
}

#[cfg(unix)]
fn private_dir() -> fs::Permissions {
    std::os::unix::fs::PermissionsExt::from_mode(0o700)
}

#[cfg(not(unix))]
fn private_dir() -> fs::Permissions {
    fs::metadata(".").map(|m| m.permissions()).unwrap()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    use time::macros::datetime;

    use super::*;
    use crate::init::{build, init, InitOptions};
    use crate::{ClusterFacts, KeyAlgorithm};

    fn options(force: bool) -> InitOptions {
        InitOptions {
            facts: ClusterFacts::new("cp-1", "10.0.0.5".parse().unwrap()),
            key_algorithm: KeyAlgorithm::EcdsaP256,
            force,
            now: datetime!(2026-01-01 0:00 UTC),
        }
    }

    /// Every file under `root` (the lock file aside), by path relative to it, with its bytes.
    fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
            for entry in fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if entry.file_type().unwrap().is_dir() {
                    walk(root, &path, out);
                } else if entry.file_name() != crate::lock::LOCK_FILE {
                    let name = path.strip_prefix(root).unwrap().to_path_buf();
                    out.insert(name, fs::read(&path).unwrap());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(root, root, &mut out);
        out
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn a_lab() -> (tempfile::TempDir, Lab) {
        let dir = tempfile::tempdir().unwrap();
        let lab = Lab::new(dir.path().join("lab"));
        init(&lab, &options(false)).unwrap();
        (dir, lab)
    }

    #[test]
    fn a_force_that_fails_half_way_through_the_build_leaves_the_old_set_byte_for_byte() {
        let (_dir, lab) = a_lab();
        let before = files(lab.root());
        assert_eq!(before.len(), 28, "{:?}", before.keys());
        let mut staged = None;
        let mut written = 0;
        let err = replace_set(&lab, |staging| {
            staged = Some(staging.root().to_path_buf());
            // The etcd CA's folder cannot be made: the build fails after the cluster and
            // front-proxy CAs and their badges are written.
            fs::create_dir_all(staging.pki_dir()).unwrap();
            fs::write(staging.pki_dir().join("etcd"), "").unwrap();
            let built = build(staging, &lab, &options(true), None);
            written = files(staging.root()).len();
            built.map(|(log, _)| log)
        })
        .unwrap_err();
        assert!(
            matches!(err, PkiError::NotADirectory { ref path } if path.ends_with("pki/etcd")),
            "{err}"
        );
        // Two CAs and three badges, keys included, and the stand-in for the etcd folder.
        assert_eq!(written, 11);
        let staged = staged.unwrap();
        assert!(staged.parent() == Some(lab.root()), "{}", staged.display());
        assert!(!staged.exists(), "{} is left", staged.display());
        assert_eq!(files(lab.root()), before);
        // The set is still whole: a plain init finds every file signed by its CA.
        init(&lab, &options(false)).unwrap();
        assert_eq!(files(lab.root()), before);
    }

    #[test]
    fn a_force_whose_new_set_is_whole_but_not_yet_swapped_in_changes_nothing_when_it_fails() {
        let (_dir, lab) = a_lab();
        let before = files(lab.root());
        let err = replace_set(&lab, |staging| {
            build(staging, &lab, &options(true), None)?;
            assert_eq!(files(staging.root()).len(), before.len());
            Err::<(), _>(PkiError::Missing {
                path: staging.root().into(),
                expected: "an interruption just before the swap".into(),
            })
        })
        .unwrap_err();
        assert!(err.to_string().contains("just before the swap"), "{err}");
        assert_eq!(files(lab.root()), before);
        assert_eq!(
            fs::read_dir(lab.root()).unwrap().count(),
            before
                .keys()
                .filter(|p| p.components().count() == 1)
                .count()
                + 2,
            "only the kubeconfigs, pki/ and the lock file"
        );
    }

    #[test]
    fn a_force_replaces_every_file_with_a_private_set_its_new_cas_signed() {
        let (_dir, lab) = a_lab();
        let before = files(lab.root());
        let log = init(&lab, &options(true)).unwrap();
        assert_eq!(
            log[0],
            format!(
                "[certs] Using certificateDir folder {:?}",
                lab.pki_dir().display().to_string()
            )
        );
        assert!(
            log.iter().all(|line| !line.contains(STAGING_PREFIX)),
            "{log:?}"
        );
        let after = files(lab.root());
        assert_eq!(
            after.keys().collect::<Vec<_>>(),
            before.keys().collect::<Vec<_>>()
        );
        for (name, bytes) in &before {
            assert_ne!(&after[name], bytes, "{} was kept", name.display());
        }
        for name in after.keys() {
            let path = lab.root().join(name);
            let public = name.extension().is_some_and(|e| e == "crt" || e == "pub");
            assert_eq!(mode(&path), if public { 0o644 } else { 0o600 }, "{name:?}");
        }
        assert_eq!(mode(&lab.pki_dir()), 0o700);
        assert_eq!(mode(&lab.pki_dir().join("etcd")), 0o700);
        assert!(!lab.root().join(SWAP_DIR).exists());
        // Every leaf and kubeconfig is signed by the CA now on disk.
        init(&lab, &options(false)).unwrap();
    }

    #[test]
    fn the_staging_directory_is_private_while_the_set_is_built() {
        let (_dir, lab) = a_lab();
        replace_set(&lab, |staging| {
            assert_eq!(mode(staging.root()), 0o700);
            build(staging, &lab, &options(true), None)?;
            assert_eq!(mode(&staging.pki_dir()), 0o700);
            assert_eq!(mode(&staging.ca_key_path(crate::Authority::Etcd)), 0o600);
            assert_eq!(mode(&staging.kubeconfig_path("admin.conf")), 0o600);
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn a_half_built_set_a_killed_force_left_is_removed_by_the_next_command() {
        let (_dir, lab) = a_lab();
        let before = files(lab.root());
        let left = lab.root().join(format!("{STAGING_PREFIX}Ab12Cd"));
        build(&Lab::new(&left), &lab, &options(true), None).unwrap();
        fs::remove_file(left.join("admin.conf")).unwrap();
        drop(lab.lock().unwrap());
        assert!(!left.exists(), "the half-built set, keys included, is left");
        assert_eq!(files(lab.root()), before);
    }

    #[test]
    fn a_force_killed_during_the_swap_is_finished_by_the_next_command() {
        let (_dir, lab) = a_lab();
        let waiting = lab.root().join(SWAP_DIR);
        build(&Lab::new(&waiting), &lab, &options(true), None).unwrap();
        let new = files(&waiting);
        // Killed after the new CA and a kubeconfig were moved in, the rest still waiting.
        for name in ["pki/ca.crt", "pki/ca.key", "admin.conf"] {
            fs::rename(waiting.join(name), lab.root().join(name)).unwrap();
        }
        init(&lab, &options(false)).unwrap();
        assert_eq!(files(lab.root()), new);
        assert!(!waiting.exists());
    }
}
