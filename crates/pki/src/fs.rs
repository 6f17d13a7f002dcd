//! Writing the lab's files safely: temporary file then rename, keys 0600, directories 0700.

use std::fs;
use std::io::Write;
use std::path::Path;

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
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
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
