//! One run of an outside program: its exit code and output, and assertions that print all of it
//! when they fail.

use std::path::Path;
use std::process::{Command, Output};

/// The result of one command, with helpers that print everything when an assertion fails.
#[derive(Debug)]
pub struct Run {
    pub what: String,
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// `out`, described as `what` (the command line) in failure messages.
    pub fn from_output(what: String, out: Output) -> Run {
        Run {
            what,
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    #[track_caller]
    pub fn success(self) -> Run {
        assert_eq!(self.status, 0, "{} failed:\n{}", self.what, self.dump());
        self
    }

    #[track_caller]
    pub fn failure(self, code: i32) -> Run {
        assert_eq!(
            self.status,
            code,
            "{} should exit {code}:\n{}",
            self.what,
            self.dump()
        );
        self
    }

    /// What follows `prefix` on the first line of stdout that starts with it (once trimmed),
    /// e.g. a certificate's stamp in `openssl s_client -showcerts`; fails the test with the
    /// whole run when no line does.
    #[track_caller]
    pub fn line_after(&self, prefix: &str) -> String {
        self.stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(str::to_owned))
            .unwrap_or_else(|| panic!("no {prefix:?} in {self:?}"))
    }

    /// The words of stdout's line `n`, counted from 0: of a table kubectl printed, line 0 is
    /// the column names and each later line a row.
    #[track_caller]
    pub fn words_of_line(&self, n: usize) -> Vec<&str> {
        let line = self.stdout.lines().nth(n);
        let line = line.unwrap_or_else(|| panic!("no line {n} in {self:?}"));
        line.split_whitespace().collect()
    }

    #[track_caller]
    pub fn stdout_has(self, needle: &str) -> Run {
        assert!(
            self.stdout.contains(needle),
            "{}: stdout lacks {needle:?}:\n{}",
            self.what,
            self.dump()
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(self, needle: &str) -> Run {
        assert!(
            self.stderr.contains(needle),
            "{}: stderr lacks {needle:?}:\n{}",
            self.what,
            self.dump()
        );
        self
    }

    pub fn dump(&self) -> String {
        format!(
            "status {}\n--- stdout\n{}\n--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// The command line `program args…`, as failure messages show it.
fn command_line(program: &str, args: &[std::ffi::OsString]) -> String {
    std::iter::once(program.to_owned())
        .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs a real tool to the end.
pub fn run_tool<I, S>(tool: &Path, args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let program = tool
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| tool.display().to_string());
    let mut command = Command::new(tool);
    command.args(args);
    run_command(&program, command)
}

/// Runs `command` to the end; failure messages show it as `program args…`.
pub fn run_command(program: &str, mut command: Command) -> Run {
    let args: Vec<_> = command.get_args().map(|a| a.to_os_string()).collect();
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{program} does not run: {e}"));
    Run::from_output(command_line(program, &args), out)
}
