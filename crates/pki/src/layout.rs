//! The lab directory, laid out as kubeadm lays out /etc/kubernetes: kubeconfigs on top, `pki/` below.

use std::path::{Path, PathBuf};

use crate::profile::{Authority, Storage};

/// The default lab directory.
pub const DEFAULT_DIR: &str = "kubecorp-lab";

/// Paths inside one lab directory.
#[derive(Debug, Clone)]
pub struct Lab {
    root: PathBuf,
}

impl Lab {
    pub fn new(root: impl Into<PathBuf>) -> Lab {
        Lab { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn pki_dir(&self) -> PathBuf {
        self.root.join("pki")
    }

    /// `pki/<stem>.crt`
    pub fn cert_path(&self, stem: &str) -> PathBuf {
        self.pki_dir().join(format!("{stem}.crt"))
    }

    /// `pki/<stem>.key`
    pub fn key_path(&self, stem: &str) -> PathBuf {
        self.pki_dir().join(format!("{stem}.key"))
    }

    pub fn ca_cert_path(&self, authority: Authority) -> PathBuf {
        self.cert_path(authority.stem())
    }

    pub fn ca_key_path(&self, authority: Authority) -> PathBuf {
        self.key_path(authority.stem())
    }

    pub fn kubeconfig_path(&self, file: &str) -> PathBuf {
        self.root.join(file)
    }

    /// The file that holds a badge's certificate (a kubeconfig for kubeconfig badges).
    pub fn storage_path(&self, storage: Storage) -> PathBuf {
        match storage {
            Storage::Pki(stem) => self.cert_path(stem),
            Storage::Kubeconfig(file) => self.kubeconfig_path(file),
        }
    }

    pub fn sa_key_path(&self) -> PathBuf {
        self.key_path("sa")
    }

    pub fn sa_pub_path(&self) -> PathBuf {
        self.pki_dir().join("sa.pub")
    }
}
