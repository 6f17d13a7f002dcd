//! A `run:` step: a real command (kubectl, openssl, curl, etcdctl) run with `sh -c` in the lab
//! directory, with `HOME` and `KUBECONFIG` pointing into the lab.
//!
//! The command is shell, whole: `for …`, `if …`, `( … )`, `X=1 cmd` and pipes are the shell's
//! business. Which tool is missing is what the shell itself says (`sh: 1: kubectl: not found`),
//! so shell syntax is never taken for a program. The shell and whatever it starts form a
//! process group of their own, killed whole when the step ends ([`super::group`]).

use std::path::PathBuf;

use time::Duration;

use super::{Runner, StepError};
use crate::expect::Outcome;
use crate::model::format_duration;

impl Runner<'_> {
    pub(super) async fn run_command(
        &mut self,
        command: &str,
        timeout: Duration,
    ) -> Result<(Outcome, Option<MissingTool>), StepError> {
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(command)
            .current_dir(&self.dir)
            // `run: kubecorp …` is the binary playing the scenario, wherever it was started from.
            .env("PATH", search_path())
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
                let text = format!("timed out after {}", format_duration(timeout));
                return Ok((Outcome::TimedOut { text }, None));
            }
        };
        let missing = missing_tool(&output.stderr.0);
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
        let outcome = Outcome::Ran {
            exit,
            explanation: kubecorp_trust::explain::explain(&text)
                .filter(|_| exit != Some(0))
                .map(|x| x.meaning),
            text,
        };
        Ok((outcome, missing))
    }
}

/// A program the shell could not find, as it said so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MissingTool {
    /// The program's name (or path), as typed.
    pub tool: String,
    /// The shell's own line, e.g. `sh: 1: kubectl: not found`.
    pub said: String,
}

impl std::fmt::Display for MissingTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is not installed (the shell said: {})",
            self.tool, self.said
        )
    }
}

/// The first program a shell reported missing in `stderr`: dash prints `sh: 1: NAME: not found`,
/// bash `bash: line 1: NAME: command not found` (or without the line in `-c`). A tool's own
/// "not found" (`Error from server (NotFound): pods "x" not found`) has another shape.
fn missing_tool(stderr: &[u8]) -> Option<MissingTool> {
    let number = |at: &str| {
        let n = at.strip_prefix("line ").unwrap_or(at);
        !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())
    };
    String::from_utf8_lossy(stderr).lines().find_map(|line| {
        let said = line.trim_end();
        let (rest, numbered) = match said.strip_suffix(": command not found") {
            Some(rest) => (rest, false),
            None => (said.strip_suffix(": not found")?, true),
        };
        let (shell, rest) = rest.split_once(": ")?;
        if shell.is_empty() || shell.contains(char::is_whitespace) {
            return None;
        }
        // dash always gives the line; bash does in a script, not in `-c`.
        let tool = match rest.split_once(": ") {
            Some((at, tool)) if number(at) => tool,
            _ if numbered => return None,
            _ => rest,
        };
        (!tool.is_empty() && !tool.contains(char::is_whitespace)).then(|| MissingTool {
            tool: tool.to_owned(),
            said: said.to_owned(),
        })
    })
}

/// `$PATH` for a command, with the directory of the running binary first: a scenario's
/// `run: kubecorp …` runs the kubecorp that plays it, installed or not.
fn search_path() -> std::ffi::OsString {
    let here = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from));
    let rest = std::env::var_os("PATH").unwrap_or_default();
    let dirs = here.into_iter().chain(std::env::split_paths(&rest));
    std::env::join_paths(dirs).unwrap_or(rest)
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
    // Dropped with this future (a step timed out, a run stopped): the whole group is killed.
    let (mut child, _group) = super::group::spawn(&mut cmd)?;
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

    #[test]
    fn the_shells_own_words_name_the_missing_tool_and_a_tools_not_found_does_not() {
        let found = |s: &str| missing_tool(s.as_bytes()).map(|m| m.tool);
        assert_eq!(found("sh: 1: kubectl: not found\n"), Some("kubectl".into()));
        assert_eq!(found("sh: 3: ./tool: not found"), Some("./tool".into()));
        assert_eq!(
            found("bash: line 1: etcdctl: command not found"),
            Some("etcdctl".into())
        );
        assert_eq!(found("bash: curl: command not found"), Some("curl".into()));
        assert_eq!(
            found("Error from server (NotFound): pods \"web\" not found"),
            None
        );
        assert_eq!(found("Error: etcdserver: key not found"), None);
        assert_eq!(found("error: file: not found"), None);
        assert_eq!(
            missing_tool(b"sh: 1: kubectl: not found")
                .unwrap()
                .to_string(),
            "kubectl is not installed (the shell said: sh: 1: kubectl: not found)"
        );
    }

    #[tokio::test]
    async fn shell_syntax_runs_as_shell_and_only_an_unknown_program_is_missing() {
        for (command, missing) in [
            ("for i in 1 2; do echo $i; done", None),
            ("if true; then echo yes; fi", None),
            ("( echo sub )", None),
            ("X=1 sh -c 'echo $X'", None),
            (
                "no-such-tool-here --version | cat",
                Some("no-such-tool-here"),
            ),
            ("X=1 no-such-tool-here", Some("no-such-tool-here")),
        ] {
            let mut cmd = tokio::process::Command::new("sh");
            cmd.arg("-c")
                .arg(command)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let out = output_tail(cmd).await.unwrap();
            let found = missing_tool(&out.stderr.0).map(|m| m.tool);
            assert_eq!(found.as_deref(), missing, "{command}");
        }
    }
}
