//! Writing the lab's files safely: temporary file then rename, keys 0600, directories 0700.
//!
//! A write is flushed to disk (`fsync`) before its rename, so a lab survives a crash of the
//! machine, except under a [`throwaway`] directory: the labs `kubecorp run`, `test` and a
//! challenge's rehearsal make in the temporary directory and remove when their run ends. There
//! the flush would guard files that are deleted anyway, and it was the longest wait of a
//! scenario's run (30 ms of the day's 340); the rename stays, so no reader ever sees half a file.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::error::{PkiError, Result};

/// How readable a file is once written: private keys stay with their owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Certificates and public keys: 0644.
    Public,
    /// Private keys and kubeconfigs (which embed a key): 0600.
    Secret,
}

impl Mode {
    fn bits(self) -> u32 {
        match self {
            Mode::Public => 0o644,
            Mode::Secret => 0o600,
        }
    }
}

/// Creates `dir` and its parents with mode 0700, or checks that it is a directory.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        if !dir.is_dir() {
            return Err(PkiError::NotADirectory { path: dir.into() });
        }
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| PkiError::Write {
        path: dir.into(),
        source,
    })
}

/// Writes `contents` to `path` atomically: a temporary file in the same directory, with its
/// final mode set before any byte is written, then renamed over the target.
pub fn write_atomic(path: &Path, contents: &[u8], mode: Mode) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    ensure_dir(dir)?;
    let err = |source| PkiError::Write {
        path: path.into(),
        source,
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".kubecorp-")
        .permissions(permissions(mode))
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.write_all(contents).map_err(err)?;
    if durable(path) {
        tmp.as_file().sync_all().map_err(err)?;
    }
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

/// The directories marked [`throwaway`] in this process, once per mark.
static THROWAWAY: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn throwaway_dirs() -> MutexGuard<'static, Vec<PathBuf>> {
    THROWAWAY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Marks `dir` as removed when its run ends: files written under it are not flushed to disk,
/// until the returned mark is dropped.
#[must_use = "the directory is throwaway only while the mark is kept"]
pub fn throwaway(dir: &Path) -> Throwaway {
    throwaway_dirs().push(dir.to_owned());
    Throwaway(dir.to_owned())
}

/// A directory's [`throwaway`] mark; dropping it makes writes under the directory durable again.
#[derive(Debug)]
pub struct Throwaway(PathBuf);

impl Drop for Throwaway {
    fn drop(&mut self) {
        let mut dirs = throwaway_dirs();
        if let Some(at) = dirs.iter().position(|d| *d == self.0) {
            dirs.swap_remove(at);
        }
    }
}

/// Whether a write to `path` is flushed to disk before it counts as done: everywhere except
/// under a [`throwaway`] directory.
pub fn durable(path: &Path) -> bool {
    !throwaway_dirs().iter().any(|dir| path.starts_with(dir))
}

#[cfg(unix)]
fn permissions(mode: Mode) -> fs::Permissions {
    std::os::unix::fs::PermissionsExt::from_mode(mode.bits())
}

#[cfg(not(unix))]
fn permissions(_mode: Mode) -> fs::Permissions {
    fs::metadata(".").map(|m| m.permissions()).unwrap()
}

/// Reads a whole file, turning "not found" into an error that says what was expected there.
pub fn read(path: &Path, expected: &str) -> Result<Vec<u8>> {
    fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            PkiError::Missing {
                path: path.into(),
                expected: expected.into(),
            }
        } else {
            PkiError::read(path, source)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_under_a_throwaway_lab_are_not_flushed_and_everywhere_else_they_are() {
        let lab = Path::new("/tmp/kubecorp-fs-test-throwaway/lab");
        let elsewhere = Path::new("/tmp/kubecorp-fs-test-kept/lab/pki/ca.key");
        assert!(durable(&lab.join("pki/ca.key")));
        let mark = throwaway(lab);
        assert!(!durable(&lab.join("pki/ca.key")));
        assert!(!durable(&lab.join("admin.conf")));
        assert!(durable(elsewhere));
        // A sibling whose name only starts the same is not inside.
        assert!(durable(Path::new(
            "/tmp/kubecorp-fs-test-throwaway/lab2/ca.key"
        )));
        drop(mark);
        assert!(durable(&lab.join("pki/ca.key")));
    }

    #[test]
    fn a_directory_marked_twice_stays_throwaway_until_both_marks_are_dropped() {
        let lab = Path::new("/tmp/kubecorp-fs-test-twice/lab");
        let first = throwaway(lab);
        let second = throwaway(lab);
        drop(first);
        assert!(!durable(&lab.join("pki/ca.crt")));
        drop(second);
        assert!(durable(&lab.join("pki/ca.crt")));
    }

    #[test]
    fn a_file_written_under_a_throwaway_lab_is_whole_and_keeps_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let _mark = throwaway(dir.path());
        let key = dir.path().join("pki/ca.key");
        write_atomic(&key, b"secret", Mode::Secret).unwrap();
        assert_eq!(fs::read(&key).unwrap(), b"secret");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&key).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }
}
