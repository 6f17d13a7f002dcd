//! Where a lab's new keys come from after `pki init`: a renewal, a fault's rogue CA or stranger
//! key, a CA rotation, a newcomer's CSR, a component's self-signed serving badge.
//!
//! A lab someone keeps gets keys made now, as kubeadm makes them. A lab built from the key pool
//! (a throwaway lab of `kubecorp run`, `test` or `challenge`, or `pki init --key-pool`) draws
//! them from that same pool, so a scenario that renews a dozen badges does not wait for a dozen
//! prime searches. What keeps it honest is the ledger, [`LEDGER`] in the lab's root (0600): the
//! pool's path and the name of every pool key the lab has drawn. A draw never takes a key the
//! ledger names, so within one lab every key is still different — a renewed badge never gets
//! its old key back, a rogue CA is never the real CA's key — and the names are written to the
//! ledger, under its lock, before the keys are used.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rcgen::KeyPair;

use crate::error::{PkiError, Result};
use crate::fs::{write_atomic, Mode};
use crate::keys::KeyAlgorithm;
use crate::layout::Lab;
use crate::pool::KeyPool;

/// The ledger's file name, in the lab's root.
pub const LEDGER: &str = ".key-pool";

const HEADER: &str = "# The keys this lab drew from a key pool: the lab's later keys are drawn from the same pool,\n# never one of these. Remove this file for fresh keys from now on.\n";

/// Where a lab's new keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// Made now (a lab someone keeps, or an algorithm the pool does not keep).
    Fresh,
    /// Drawn from `pool`, never a key named in the ledger at `ledger`.
    Pool { pool: KeyPool, ledger: PathBuf },
}

impl KeySource {
    /// The source of `lab`'s new keys: its pool if the lab was built from one that is still
    /// there and private, else fresh keys.
    pub fn of(lab: &Lab) -> KeySource {
        let ledger = lab.root().join(LEDGER);
        let Ok(text) = std::fs::read_to_string(&ledger) else {
            return KeySource::Fresh;
        };
        let root = text
            .lines()
            .find_map(|line| line.strip_prefix("pool "))
            .map(PathBuf::from);
        match root.map(|root| KeyPool::existing(&root)) {
            Some(Ok(Some(pool))) => KeySource::Pool { pool, ledger },
            // A pool removed since, or no longer private: fresh keys are always right.
            _ => KeySource::Fresh,
        }
    }

    /// One new key of `algorithm`.
    pub fn key(&self, algorithm: KeyAlgorithm) -> Result<KeyPair> {
        let mut keys = self.keys(&[algorithm])?;
        Ok(keys.remove(0))
    }

    /// One new key per entry of `algorithms`, in that order. From a pool, RSA keys are drawn
    /// (ECDSA keys cost less to make than to read); the rest are made side by side.
    pub fn keys(&self, algorithms: &[KeyAlgorithm]) -> Result<Vec<KeyPair>> {
        let KeySource::Pool { pool, ledger } = self else {
            return KeyAlgorithm::generate_each(algorithms);
        };
        let mut file = open_locked(ledger)?;
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| PkiError::read(ledger.as_path(), e))?;
        let mut made: Vec<Option<KeyPair>> = Vec::with_capacity(algorithms.len());
        let mut lines = String::new();
        let mut pooled: Vec<KeyAlgorithm> =
            algorithms.iter().copied().filter(|a| a.is_rsa()).collect();
        pooled.sort_by_key(|a| a.name());
        pooled.dedup();
        let mut drawn_by_algorithm = Vec::new();
        for algorithm in pooled {
            let count = algorithms.iter().filter(|a| **a == algorithm).count();
            let skip = names_for(&text, algorithm);
            let drawn = pool.draw_named(algorithm, count, &skip)?;
            for name in drawn.iter().filter_map(|d| d.name.as_deref()) {
                lines.push_str(&format!("{} {name}\n", algorithm.name()));
            }
            drawn_by_algorithm.push((algorithm, drawn.into_iter().map(|d| d.key)));
        }
        // The names are on record before any key is used.
        file.write_all(lines.as_bytes())
            .and_then(|()| match crate::fs::durable(ledger) {
                true => file.sync_data(),
                false => Ok(()),
            })
            .map_err(|source| PkiError::Write {
                path: ledger.clone(),
                source,
            })?;
        drop(file);
        let unpooled: Vec<KeyAlgorithm> =
            algorithms.iter().copied().filter(|a| !a.is_rsa()).collect();
        let mut fresh = KeyAlgorithm::generate_each(&unpooled)?.into_iter();
        for algorithm in algorithms {
            let key = if algorithm.is_rsa() {
                drawn_by_algorithm
                    .iter_mut()
                    .find(|(a, _)| a == algorithm)
                    .and_then(|(_, keys)| keys.next())
            } else {
                fresh.next()
            };
            made.push(key);
        }
        made.into_iter()
            .zip(algorithms)
            // A draw always returns as many keys as asked; a gap would only be made here.
            .map(|(key, algorithm)| key.map_or_else(|| algorithm.generate(), Ok))
            .collect()
    }

    /// Starts `lab`'s ledger after `pki init` drew the keys named `drawn` from `pool`.
    pub(crate) fn record(
        lab: &Lab,
        pool: &KeyPool,
        (algorithm, drawn): (KeyAlgorithm, &[String]),
    ) -> Result<()> {
        let ledger = lab.root().join(LEDGER);
        let Some(root) = pool.root().to_str().filter(|r| !r.contains('\n')) else {
            // A path the ledger cannot hold: the lab's later keys are made fresh.
            return KeySource::forget(lab);
        };
        let mut text = format!("{HEADER}pool {root}\n");
        for name in drawn {
            text.push_str(&format!("{} {name}\n", algorithm.name()));
        }
        write_atomic(&ledger, text.as_bytes(), Mode::Secret)
    }

    /// Removes `lab`'s ledger: its later keys are made fresh.
    pub(crate) fn forget(lab: &Lab) -> Result<()> {
        let ledger = lab.root().join(LEDGER);
        match std::fs::remove_file(&ledger) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(PkiError::Write {
                path: ledger,
                source: e,
            }),
            _ => Ok(()),
        }
    }
}

/// The names the ledger `text` holds for `algorithm`.
fn names_for(text: &str, algorithm: KeyAlgorithm) -> HashSet<String> {
    text.lines()
        .filter_map(|line| line.split_once(' '))
        .filter(|(alg, _)| *alg == algorithm.name())
        .map(|(_, name)| name.to_owned())
        .collect()
}

/// The ledger, opened to read and append, held under an exclusive lock until dropped: two
/// draws for one lab (Bob's and metrics-server's badges at the office's start) never take the
/// same key.
fn open_locked(ledger: &Path) -> Result<File> {
    let err = |source| PkiError::Write {
        path: ledger.into(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .open(ledger)
        .map_err(err)?;
    file.lock().map_err(err)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::{init_drawing, InitOptions};
    use rcgen::PublicKeyData;

    fn spki(key: &KeyPair) -> Vec<u8> {
        key.subject_public_key_info()
    }

    fn options(key_algorithm: KeyAlgorithm, force: bool) -> InitOptions {
        InitOptions {
            facts: crate::ClusterFacts::new("cp-1", "10.0.0.5".parse().unwrap()),
            key_algorithm,
            force,
            now: time::macros::datetime!(2026-01-01 0:00 UTC),
        }
    }

    fn pooled_lab(dir: &Path) -> (Lab, KeyPool) {
        let pool = KeyPool::at(&dir.join("pool")).unwrap();
        let lab = Lab::new(dir.join("lab"));
        init_drawing(&lab, &options(KeyAlgorithm::Rsa2048, false), Some(&pool)).unwrap();
        (lab, pool)
    }

    #[test]
    fn a_lab_built_from_the_pool_draws_its_later_keys_there_and_never_one_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let (lab, pool) = pooled_lab(dir.path());
        let held: Vec<Vec<u8>> = crate::pool::tests_support::keys_in(&pool, KeyAlgorithm::Rsa2048)
            .into_iter()
            .filter(|(name, _)| {
                names_for(
                    &std::fs::read_to_string(lab.root().join(LEDGER)).unwrap(),
                    KeyAlgorithm::Rsa2048,
                )
                .contains(name)
            })
            .map(|(_, key)| spki(&key))
            .collect();
        assert_eq!(held.len(), 17, "the ledger names the 17 keys pki init drew");

        let source = KeySource::of(&lab);
        assert!(matches!(source, KeySource::Pool { .. }), "{source:?}");
        let later = source
            .keys(&[
                KeyAlgorithm::Rsa2048,
                KeyAlgorithm::EcdsaP256,
                KeyAlgorithm::Rsa2048,
            ])
            .unwrap();
        assert_eq!(KeyAlgorithm::of(&later[1]), KeyAlgorithm::EcdsaP256);
        let mut all: Vec<Vec<u8>> = held.clone();
        all.extend(later.iter().map(spki));
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 20, "three new keys, none the lab already holds");
        let ledger = std::fs::read_to_string(lab.root().join(LEDGER)).unwrap();
        assert_eq!(
            names_for(&ledger, KeyAlgorithm::Rsa2048).len(),
            19,
            "the two RSA keys drawn are on record: {ledger}"
        );
        for key in &later[..1] {
            let in_pool = crate::pool::tests_support::keys_in(&pool, KeyAlgorithm::Rsa2048)
                .into_iter()
                .any(|(_, k)| spki(&k) == spki(key));
            assert!(in_pool, "a pooled lab's renewal key comes from the pool");
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_ledger_is_private_and_a_lab_without_one_makes_fresh_keys() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (lab, pool) = pooled_lab(dir.path());
        let mode = std::fs::metadata(lab.root().join(LEDGER))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        let kept = Lab::new(dir.path().join("kept"));
        crate::init::init(&kept, &options(KeyAlgorithm::EcdsaP256, false)).unwrap();
        assert!(matches!(KeySource::of(&kept), KeySource::Fresh));
        let key = KeySource::of(&kept).key(KeyAlgorithm::Rsa2048).unwrap();
        let in_pool = crate::pool::tests_support::keys_in(&pool, KeyAlgorithm::Rsa2048)
            .into_iter()
            .any(|(_, k)| spki(&k) == spki(&key));
        assert!(!in_pool, "a kept lab's key is made for it alone");
    }

    #[test]
    fn a_forced_init_without_the_pool_forgets_it() {
        let dir = tempfile::tempdir().unwrap();
        let (lab, _pool) = pooled_lab(dir.path());
        crate::init::init(&lab, &options(KeyAlgorithm::EcdsaP256, true)).unwrap();
        assert!(!lab.root().join(LEDGER).exists());
        assert!(matches!(KeySource::of(&lab), KeySource::Fresh));
    }
}
