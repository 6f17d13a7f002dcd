//! The key pool: RSA keys made once and kept in the user's cache directory, for throwaway labs
//! (`kubecorp run`, `kubecorp test`, challenges) that would otherwise wait for a prime search
//! per key at every run. `pki init` and `up` never draw from it unless asked (`--key-pool`):
//! a lab someone keeps gets keys nobody else ever had.
//!
//! Rules, so that a pooled lab teaches the same things as a fresh one:
//! - within one lab every key is different (a rogue CA is never the real CA's key);
//! - a lab built from the pool draws its later keys (a fault's, a rotation's, a renewal's, a
//!   CSR's, a component's self-signed badge) from it too, never one it already holds (see
//!   [`crate::key_source`]);
//! - the pool is `~/.cache/kubecorp/keys/ALGORITHM/` (or `$XDG_CACHE_HOME/kubecorp/keys/…`),
//!   directories 0700 and keys 0600; a pool directory anyone else may open or own is not used;
//! - a lab that needs more keys than the pool holds makes the rest (side by side) and leaves
//!   them there, up to [`POOL_SIZE`] per algorithm;
//! - [`KeyPool::fill`] tops an algorithm up to [`POOL_SIZE`] ahead of need, one filler at a time
//!   (`kubecorp pki pool fill`, which the binary also leaves running at the lowest priority after
//!   a throwaway lab found the pool short).

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};

use rcgen::KeyPair;

use crate::error::{PkiError, Result};
use crate::fs::{ensure_dir, write_atomic, Mode};
use crate::keys::{parse_private_key, private_key_pem, KeyAlgorithm};

/// How many keys of one algorithm the pool keeps: a lab takes 17 at `pki init` (3 CAs, 13
/// badges and kubeconfigs, `sa`) and the KubeCorp day some 20 more (Bob's and metrics-server's
/// self-signed badges, CSRs, renewals, a rotation, a rogue CA), all different within the lab.
pub const POOL_SIZE: usize = 64;

/// The lock file a filler holds in an algorithm's directory while it makes keys.
pub const FILL_LOCK: &str = ".fill.lock";

/// What [`KeyPool::fill`] did for one algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filled {
    pub algorithm: KeyAlgorithm,
    /// Keys made by this fill.
    pub made: usize,
    /// Keys the pool holds now.
    pub holds: usize,
    /// The algorithm's directory.
    pub dir: PathBuf,
}

/// A key drawn from the pool.
pub struct Drawn {
    /// Its name in the pool (`None`: made for the draw and not kept, the pool being full).
    pub name: Option<String>,
    pub key: KeyPair,
}

/// A pool directory that passed the checks above.
#[derive(Debug, Clone)]
pub struct KeyPool {
    root: PathBuf,
}

impl KeyPool {
    /// The user's pool (see [`KeyPool::user_dir`]); `None` when there is none or its directory
    /// is not private.
    pub fn user() -> Option<KeyPool> {
        KeyPool::at(&KeyPool::user_dir()?).ok()
    }

    /// Where the user's pool is: `$KUBECORP_KEY_POOL`, else `$XDG_CACHE_HOME/kubecorp/keys`,
    /// else `$HOME/.cache/kubecorp/keys`; `None` when none is known or with
    /// `KUBECORP_KEY_POOL=off` (every key fresh).
    pub fn user_dir() -> Option<PathBuf> {
        match std::env::var_os("KUBECORP_KEY_POOL") {
            Some(off) if off == "off" => None,
            Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
            _ => {
                let cache = std::env::var_os("XDG_CACHE_HOME")
                    .filter(|d| !d.is_empty())
                    .map(PathBuf::from)
                    .or_else(|| {
                        std::env::var_os("HOME")
                            .filter(|d| !d.is_empty())
                            .map(|h| PathBuf::from(h).join(".cache"))
                    })?;
                Some(cache.join("kubecorp").join("keys"))
            }
        }
    }

    /// The pool in `root`, made 0700 if absent; refused if it is open to others or not ours.
    pub fn at(root: &Path) -> Result<KeyPool> {
        ensure_dir(root)?;
        private_dir(root)?;
        Ok(KeyPool { root: root.into() })
    }

    /// The pool in `root` if it is there and private; never made (a filler started for a pool
    /// removed since, such as a test's temporary one, leaves nothing behind).
    pub fn existing(root: &Path) -> Result<Option<KeyPool>> {
        if !root.is_dir() {
            return Ok(None);
        }
        private_dir(root)?;
        Ok(Some(KeyPool { root: root.into() }))
    }

    /// The pool's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where keys of `algorithm` are kept.
    pub fn dir(&self, algorithm: KeyAlgorithm) -> PathBuf {
        self.root.join(algorithm.name())
    }

    /// `count` different keys of `algorithm`, picked at random from the pool; the ones the pool
    /// lacks are made now, side by side, and kept (up to [`POOL_SIZE`]).
    pub fn draw(&self, algorithm: KeyAlgorithm, count: usize) -> Result<Vec<KeyPair>> {
        Ok(self
            .draw_named(algorithm, count, &HashSet::new())?
            .into_iter()
            .map(|d| d.key)
            .collect())
    }

    /// As [`KeyPool::draw`], with each key's name in the pool, never one of the names in
    /// `skip` (the keys a lab already holds, see [`crate::key_source`]).
    pub fn draw_named(
        &self,
        algorithm: KeyAlgorithm,
        count: usize,
        skip: &HashSet<String>,
    ) -> Result<Vec<Drawn>> {
        let dir = self.dir(algorithm);
        ensure_dir(&dir)?;
        private_dir(&dir)?;
        let mut files = key_files(&dir);
        shuffle(&mut files);
        let mut keys = Vec::with_capacity(count);
        for file in &files {
            if keys.len() == count {
                break;
            }
            let Some(name) = key_name(file) else {
                continue;
            };
            if skip.contains(&name) {
                continue;
            }
            // A damaged or foreign file is skipped (and replaced below if the pool is short).
            let Ok(bytes) = std::fs::read(file) else {
                continue;
            };
            match parse_private_key(file, &bytes) {
                Ok(key) if KeyAlgorithm::of(&key) == algorithm => keys.push(Drawn {
                    name: Some(name),
                    key,
                }),
                _ => {
                    let _ = std::fs::remove_file(file);
                }
            }
        }
        let fresh = algorithm.generate_many(count - keys.len())?;
        let mut room = POOL_SIZE.saturating_sub(key_files(&dir).len());
        for key in fresh {
            let name = if room > 0 {
                room -= 1;
                Some(keep(&dir, &key)?)
            } else {
                None
            };
            keys.push(Drawn { name, key });
        }
        Ok(keys)
    }

    /// Makes keys of `algorithm` until the pool holds [`POOL_SIZE`], a few at a time (one per
    /// core), each written whole before the next batch is begun: stopped at any moment, the pool
    /// keeps every key already made and no half-written one. One filler at a time: a second
    /// waits for the first (calling `waiting` once), then finds little or nothing left to make.
    pub fn fill(&self, algorithm: KeyAlgorithm, waiting: impl FnOnce(&Path)) -> Result<Filled> {
        let dir = self.dir(algorithm);
        ensure_dir(&dir)?;
        private_dir(&dir)?;
        let _lock = fill_lock(&dir, waiting)?;
        let batch = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut made = 0;
        // Never more than a pool's worth, whatever the directory's listing says.
        while made < POOL_SIZE {
            let short = POOL_SIZE.saturating_sub(key_files(&dir).len());
            if short == 0 {
                break;
            }
            for key in algorithm.generate_many(short.min(batch))? {
                keep(&dir, &key)?;
                made += 1;
            }
        }
        Ok(Filled {
            algorithm,
            made,
            holds: key_files(&dir).len(),
            dir,
        })
    }

    /// The algorithms this pool has been drawn for (their directory exists) whose keys number
    /// fewer than [`POOL_SIZE`]: what a fill would top up.
    pub fn short(&self) -> Vec<KeyAlgorithm> {
        KeyAlgorithm::ALL
            .into_iter()
            .filter(|a| self.dir(*a).is_dir() && self.len(*a) < POOL_SIZE)
            .collect()
    }

    /// How many keys of `algorithm` the pool holds.
    pub fn len(&self, algorithm: KeyAlgorithm) -> usize {
        key_files(&self.dir(algorithm)).len()
    }

    /// Whether the pool holds no key of `algorithm`.
    pub fn is_empty(&self, algorithm: KeyAlgorithm) -> bool {
        self.len(algorithm) == 0
    }
}

/// Writes `key` into the pool directory `dir` under a random name, 0600; returns the name.
fn keep(dir: &Path, key: &KeyPair) -> Result<String> {
    let name = hex_id();
    write_atomic(
        &dir.join(format!("{name}.key")),
        private_key_pem(key)?.as_bytes(),
        Mode::Secret,
    )?;
    Ok(name)
}

/// A pool key's name: its file name without `.key`.
fn key_name(file: &Path) -> Option<String> {
    Some(file.file_stem()?.to_str()?.to_owned())
}

/// The fill lock of an algorithm's directory, held until dropped (or the process ends).
fn fill_lock(dir: &Path, waiting: impl FnOnce(&Path)) -> Result<File> {
    crate::lock::flock(&dir.join(FILL_LOCK), waiting)
}

fn key_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "key"))
        .collect();
    files.sort();
    files
}

/// A directory only its owner may enter, owned by whoever runs this.
fn private_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let refuse = |problem: String| PkiError::PoolNotPrivate {
            path: dir.into(),
            problem,
        };
        let meta = std::fs::metadata(dir).map_err(|e| PkiError::read(dir, e))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(refuse(format!(
                "its mode is {:o}",
                meta.permissions().mode() & 0o777
            )));
        }
        // A file made here is ours: the directory must belong to the same user.
        let probe = tempfile::tempfile_in(dir).map_err(|e| PkiError::read(dir, e))?;
        let me = probe.metadata().map_err(|e| PkiError::read(dir, e))?.uid();
        if meta.uid() != me {
            return Err(refuse(format!("it belongs to uid {}", meta.uid())));
        }
    }
    Ok(())
}

/// Fisher–Yates with the system's random generator.
fn shuffle(files: &mut [PathBuf]) {
    for i in (1..files.len()).rev() {
        let j = (random_u64() % (i as u64 + 1)) as usize;
        files.swap(i, j);
    }
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    // The system generator does not fail on a working machine; a fixed order is harmless.
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    u64::from_le_bytes(bytes)
}

fn hex_id() -> String {
    format!("{:016x}", random_u64())
}

/// What the pool holds, read back, for tests elsewhere in the crate.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// Every key of `algorithm` in `pool`, with its name.
    pub(crate) fn keys_in(pool: &KeyPool, algorithm: KeyAlgorithm) -> Vec<(String, KeyPair)> {
        key_files(&pool.dir(algorithm))
            .into_iter()
            .filter_map(|f| {
                let key = parse_private_key(&f, &std::fs::read(&f).ok()?).ok()?;
                Some((key_name(&f)?, key))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::PublicKeyData;

    #[test]
    fn a_pool_draws_different_keys_and_keeps_what_it_made_private() {
        let dir = tempfile::tempdir().unwrap();
        let pool = KeyPool::at(&dir.path().join("keys")).unwrap();
        let first = pool.draw(KeyAlgorithm::EcdsaP256, 5).unwrap();
        assert_eq!(pool.len(KeyAlgorithm::EcdsaP256), 5);
        let second = pool.draw(KeyAlgorithm::EcdsaP256, 7).unwrap();
        assert_eq!(pool.len(KeyAlgorithm::EcdsaP256), 7);
        let mut seen: Vec<Vec<u8>> = second.iter().map(|k| k.subject_public_key_info()).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 7, "every key of one draw is different");
        let reused = first
            .iter()
            .filter(|k| seen.contains(&k.subject_public_key_info()))
            .count();
        assert_eq!(reused, 5, "the second draw took the five kept keys");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            let alg_dir = pool.dir(KeyAlgorithm::EcdsaP256);
            assert_eq!(mode(&dir.path().join("keys")), 0o700);
            assert_eq!(mode(&alg_dir), 0o700);
            for f in key_files(&alg_dir) {
                assert_eq!(mode(&f), 0o600, "{}", f.display());
            }
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_pool_directory_others_may_open_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("keys");
        std::fs::create_dir(&root).unwrap();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = KeyPool::at(&root).unwrap_err().to_string();
        assert!(
            e.ends_with("keys: not used as a key pool: its mode is 755 (it must be a directory of mode 0700 owned by this user)"),
            "{e}"
        );
    }

    #[test]
    fn a_fill_tops_the_pool_up_to_its_size_and_a_second_fill_makes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let pool = KeyPool::at(&dir.path().join("keys")).unwrap();
        assert_eq!(
            pool.short(),
            Vec::new(),
            "nothing drawn yet: nothing to top up"
        );
        pool.draw(KeyAlgorithm::EcdsaP256, 3).unwrap();
        assert_eq!(pool.short(), [KeyAlgorithm::EcdsaP256]);
        let filled = pool.fill(KeyAlgorithm::EcdsaP256, |_| {}).unwrap();
        let alg_dir = pool.dir(KeyAlgorithm::EcdsaP256);
        assert_eq!(
            filled,
            Filled {
                algorithm: KeyAlgorithm::EcdsaP256,
                made: POOL_SIZE - 3,
                holds: POOL_SIZE,
                dir: alg_dir.clone(),
            }
        );
        assert_eq!(pool.short(), Vec::new());
        let mut seen: Vec<Vec<u8>> = key_files(&alg_dir)
            .iter()
            .map(|f| {
                let key = parse_private_key(f, &std::fs::read(f).unwrap()).unwrap();
                assert_eq!(KeyAlgorithm::of(&key), KeyAlgorithm::EcdsaP256);
                key.subject_public_key_info()
            })
            .collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), POOL_SIZE, "every kept key is different");
        let again = pool.fill(KeyAlgorithm::EcdsaP256, |_| {}).unwrap();
        assert_eq!((again.made, again.holds), (0, POOL_SIZE));
    }

    #[test]
    fn a_second_filler_waits_for_the_first_and_then_has_nothing_to_make() {
        let dir = tempfile::tempdir().unwrap();
        let pool = KeyPool::at(&dir.path().join("keys")).unwrap();
        let alg_dir = pool.dir(KeyAlgorithm::EcdsaP256);
        ensure_dir(&alg_dir).unwrap();
        // The first filler: this test, holding the lock while it "makes" the pool's keys.
        let first = fill_lock(&alg_dir, |_| panic!("nobody else holds it")).unwrap();
        let (told, waited) = std::sync::mpsc::channel();
        let second = std::thread::scope(|s| {
            let second = s.spawn(|| {
                pool.fill(KeyAlgorithm::EcdsaP256, move |lock| {
                    told.send(lock.to_path_buf()).unwrap();
                })
            });
            let lock = waited.recv().unwrap();
            assert_eq!(lock, alg_dir.join(FILL_LOCK));
            pool.draw(KeyAlgorithm::EcdsaP256, POOL_SIZE).unwrap();
            drop(first);
            second.join().unwrap().unwrap()
        });
        assert_eq!((second.made, second.holds), (0, POOL_SIZE));
    }

    #[test]
    fn an_absent_pool_is_not_made_by_asking_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("gone");
        assert!(KeyPool::existing(&root).unwrap().is_none());
        assert!(!root.exists());
    }

    #[test]
    fn a_damaged_key_in_the_pool_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let pool = KeyPool::at(&dir.path().join("keys")).unwrap();
        pool.draw(KeyAlgorithm::EcdsaP256, 2).unwrap();
        let alg_dir = pool.dir(KeyAlgorithm::EcdsaP256);
        let victim = key_files(&alg_dir).remove(0);
        std::fs::write(&victim, "-----BEGIN EC PRIVATE KEY-----\n").unwrap();
        let keys = pool.draw(KeyAlgorithm::EcdsaP256, 2).unwrap();
        assert_eq!(keys.len(), 2);
        assert!(!victim.exists(), "the damaged file is gone");
        assert_eq!(pool.len(KeyAlgorithm::EcdsaP256), 2);
    }
}
