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
        let output = match tokio::time::timeout(limit, cmd.output()).await {
            Ok(Ok(o)) => o,
            Ok(Err(source)) => {
                return Err(StepError::Spawn {
                    command: command.to_owned(),
                    source,
                })
            }
            Err(_) => {
                return Ok(Outcome {
                    text: format!("timed out after {}", format_duration(timeout)),
                    ..Outcome::default()
                })
            }
        };
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        let exit = output.status.code();
        Ok(Outcome {
            allowed: exit == Some(0),
            exit,
            also: vec![],
            explanation: kubecorp_trust::explain::explain(&text)
                .filter(|_| exit != Some(0))
                .map(|x| x.meaning),
            text,
            ..Outcome::default()
        })
    }
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
