//! A `run:` step: a real command (kubectl, openssl, curl, etcdctl) run with `sh -c` in the lab
//! directory, with `HOME` and `KUBECONFIG` pointing into the lab.

use std::path::Path;

use time::Duration;

use super::{Runner, StepError};
use crate::expect::Outcome;
use crate::model::format_duration;

impl Runner<'_> {
    pub(super) async fn run_command(
        &mut self,
        command: &str,
        timeout: Duration,
    ) -> Result<Outcome, StepError> {
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(command)
            .current_dir(&self.dir)
            // kubectl keeps its discovery cache under $HOME: keep it in the lab.
            .env("HOME", &self.dir)
            .env("KUBECONFIG", self.dir.join("admin.conf"))
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let limit =
            std::time::Duration::try_from(timeout).unwrap_or(std::time::Duration::from_secs(30));
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let output = match tokio::time::timeout(limit, output_tail(cmd)).await {
            Ok(Ok(o)) => o,
            Ok(Err(source)) => {
                return Err(StepError::Spawn {
                    command: command.to_owned(),
                    source,
                })
            }
            Err(_) => {
                return Ok(Outcome::TimedOut {
                    text: format!("timed out after {}", format_duration(timeout)),
                })
            }
        };
        let mut text = String::new();
        for (kept, dropped) in [&output.stdout, &output.stderr] {
            if *dropped > 0 {
                text.push_str(&format!(
                    "[… the first {dropped} bytes are not kept: a step keeps the last {OUTPUT_TAIL} …]\n"
                ));
            }
            text.push_str(&String::from_utf8_lossy(kept));
        }
        let exit = output.status.code();
        Ok(Outcome::Ran {
            exit,
            explanation: kubecorp_trust::explain::explain(&text)
                .filter(|_| exit != Some(0))
                .map(|x| x.meaning),
            text,
        })
    }
}

/// How much of each of a command's streams a step keeps: the last 64 KiB, which is what its
/// expectation and the report read. A command that prints hundreds of megabytes costs no more.
pub const OUTPUT_TAIL: usize = 64 * 1024;

/// What a command left: its exit status, and the tail of stdout and of stderr with the number
/// of bytes dropped before it.
struct Tails {
    status: std::process::ExitStatus,
    stdout: (Vec<u8>, u64),
    stderr: (Vec<u8>, u64),
}

async fn output_tail(mut cmd: tokio::process::Command) -> std::io::Result<Tails> {
    let mut child = cmd.spawn()?;
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let (stdout, stderr) = tokio::join!(tail(stdout), tail(stderr));
    Ok(Tails {
        status: child.wait().await?,
        stdout,
        stderr,
    })
}

/// Reads `from` to its end, keeping only the last [`OUTPUT_TAIL`] bytes.
async fn tail(from: Option<impl tokio::io::AsyncRead + Unpin>) -> (Vec<u8>, u64) {
    use tokio::io::AsyncReadExt;
    let Some(mut from) = from else {
        return (Vec::new(), 0);
    };
    let mut kept = std::collections::VecDeque::with_capacity(OUTPUT_TAIL);
    let mut dropped = 0u64;
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        kept.extend(&buf[..n]);
        if kept.len() > OUTPUT_TAIL {
            let extra = kept.len() - OUTPUT_TAIL;
            kept.drain(..extra);
            dropped += extra as u64;
        }
    }
    (kept.into(), dropped)
}

/// Whether `program` can be run (a path, or a name found on `$PATH`).
pub(super) fn on_path(program: &str) -> bool {
    if program.is_empty() {
        return false;
    }
    if program.contains('/') {
        return Path::new(program).exists();
    }
    // Shell builtins and keywords always run.
    if matches!(
        program,
        "echo" | "test" | "[" | "true" | "false" | "cd" | "export" | "set"
    ) {
        return true;
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_command_printing_megabytes_keeps_only_its_tail() {
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg("head -c 5000000 /dev/zero | tr '\\0' x; echo END")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let out = output_tail(cmd).await.unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout.0.len(), OUTPUT_TAIL);
        assert_eq!(out.stdout.1, 5_000_004 - OUTPUT_TAIL as u64);
        assert!(out.stdout.0.ends_with(b"xEND\n"));
    }
}
