//! Test support: run the `kubecorp` binary and the real tools that judge it (openssl, kubectl).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub use kubecorp_testkit::{run_tool, Run};

pub mod terminal;

/// The workspace's root, where `scenarios/` and `tests/fixtures/` are.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file or directory under `tests/fixtures/`, as the command line takes it.
pub fn fixture(name: &str) -> String {
    root()
        .join("tests/fixtures")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// A shipped scenario, or a directory of them, under `scenarios/`, as the command line takes it.
pub fn scenarios(rel: &str) -> String {
    root()
        .join("scenarios")
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

/// Runs the kubecorp binary built for these tests.
pub fn kubecorp<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut command = Command::new(env!("CARGO_BIN_EXE_kubecorp"));
    command.args(args).env("NO_COLOR", "1");
    kubecorp_testkit::run_command("kubecorp", command)
}

// Not every test file that includes this module looks for a tool.
#[allow(unused_imports)]
pub use kubecorp_testkit::tool;

/// `kubecorp up` on `dir`, the apiserver on `api` and every other door on a free port, without
/// colour; the caller chooses where its output goes and spawns it. A PKI made there has
/// ECDSA-P256 keys, quick to make, for tests whose lesson is not the key type.
pub fn up_command(dir: &Path, api: &str) -> std::process::Command {
    let mut command = up_command_as_kubeadm(dir, api);
    command.args(["--key-algorithm", "ECDSA-P256"]);
    command
}

/// [`up_command`] with `up`'s own default keys, kubeadm's RSA-2048 (slower to make in a debug
/// build: hundreds of milliseconds per key).
pub fn up_command_as_kubeadm(dir: &Path, api: &str) -> std::process::Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kubecorp"));
    command
        .arg("up")
        .arg("--dir")
        .arg(dir)
        .args(["--apiserver-listen", api]);
    for door in [
        "--etcd-listen",
        "--kubelet-listen",
        "--etcd-peer-listen",
        "--scheduler-listen",
        "--proxy-healthz-listen",
    ] {
        command.args([door, "127.0.0.1:0"]);
    }
    command.env("NO_COLOR", "1");
    command
}

/// Runs kubectl with `args` until its output has `needle`, for up to 20 s.
#[track_caller]
pub fn kubectl_until(kubectl: &Path, args: &[&str], needle: &str) -> Run {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let run = run_tool(kubectl, args);
        if run.stdout.contains(needle) {
            return run;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "kubectl never showed {needle:?}:\n{}",
            run.dump()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A fresh lab directory made by `kubecorp pki init`, removed when dropped.
pub struct TestLab {
    pub tmp: tempfile::TempDir,
    pub dir: PathBuf,
}

impl TestLab {
    /// `pki init` into a fresh directory, with ECDSA-P256 keys unless `extra` names a
    /// `--key-algorithm`: quick to make, for tests whose lesson is not the key type.
    pub fn init(extra: &[&str]) -> TestLab {
        let mut args = extra.to_vec();
        if !extra.contains(&"--key-algorithm") {
            args.extend(["--key-algorithm", "ECDSA-P256"]);
        }
        TestLab::init_as_kubeadm(&args)
    }

    /// `pki init` into a fresh directory with `pki init`'s own defaults (RSA-2048 keys, as
    /// kubeadm 1.32), plus `extra`.
    pub fn init_as_kubeadm(extra: &[&str]) -> TestLab {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("lab");
        let mut args = vec!["pki", "init", "--dir", dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        kubecorp(&args).success();
        TestLab { tmp, dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    pub fn pki(&self, rel: &str) -> String {
        self.dir
            .join("pki")
            .join(rel)
            .to_string_lossy()
            .into_owned()
    }

    pub fn dir_arg(&self) -> &str {
        self.dir.to_str().unwrap()
    }
}
