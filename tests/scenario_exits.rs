//! What CI relies on from `kubecorp run` and `kubecorp test`: a skipped step is never a pass,
//! shell syntax is never a missing tool, the exit codes (0 passed, 1 a check failed or a step
//! skipped, 2 an invalid file or usage), which files in a directory are scenarios, a `--pki`
//! a scenario cannot use said up front, the private lab removed however a run ends, and
//! a step's command killed with it.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{fixture, kubecorp, root, Run};

/// The kubecorp binary with `args`, its temporary directory `tmp`, without colour, and `CI`
/// as given (unset when `None`).
fn kubecorp_in(tmp: &Path, ci: Option<&str>, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kubecorp"));
    command.args(args).env("NO_COLOR", "1").env("TMPDIR", tmp);
    match ci {
        Some(v) => command.env("CI", v),
        None => command.env_remove("CI"),
    };
    command
}

fn output(mut command: Command, what: &str) -> Run {
    let out = command.output().expect("the kubecorp binary runs");
    Run::from_output(what.to_owned(), out)
}

/// What is left in `tmp` (a run's temporary directory).
fn left_in(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn shell_syntax_in_a_run_step_runs_as_shell_and_kubecorp_is_found_off_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let file = fixture("shell/shell-syntax.yaml");
    // A PATH without the directory of the kubecorp binary: `run: kubecorp …` still finds it.
    let mut command = kubecorp_in(tmp.path(), None, &["run", &file]);
    command.env("PATH", "/usr/bin:/bin");
    let run = output(command, "kubecorp run shell-syntax.yaml")
        .success()
        .stdout_has("$ for n in 1 2 3; do printf \"n$n \"; done")
        .stdout_has("7 checks passed, 0 failed, 0 skipped");
    assert!(!run.stdout.contains("not installed"), "{}", run.dump());
    assert!(!run.stdout.contains("run: skipped"), "{}", run.dump());
    assert_eq!(
        left_in(tmp.path()),
        Vec::<String>::new(),
        "the lab is removed"
    );
}

#[test]
fn a_missing_tool_skips_only_its_step_and_the_run_exits_1_unless_skips_are_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let file = fixture("skips/missing-tool.yaml");
    let skipped = format!(
        "{file}:4: step 1: run: skipped (kubecorp-no-such-tool is not installed (the shell said: sh: 1: kubecorp-no-such-tool: not found))"
    );
    output(
        kubecorp_in(tmp.path(), None, &["run", &file, "--wide"]),
        "kubecorp run missing-tool.yaml",
    )
    .failure(1)
    .stdout_has("    – run: skipped (kubecorp-no-such-tool is not installed (the shell said: sh: 1: kubecorp-no-such-tool: not found))")
    // The step after it ran and was checked.
    .stdout_has("the step after it still runs")
    .stdout_has("1 checks passed, 0 failed, 1 skipped")
    .stdout_has(&format!("  – {skipped}"))
    .stderr_has("A skipped step is not a pass: exit 1 (--allow-skip accepts skips; CI=true makes them failures).");
    output(
        kubecorp_in(tmp.path(), None, &["run", &file, "--allow-skip"]),
        "kubecorp run missing-tool.yaml --allow-skip",
    )
    .success()
    .stdout_has("1 checks passed, 0 failed, 1 skipped");

    // `kubecorp test` counts the scenario as skipped, not passed, and names the step.
    let dir = fixture("skips");
    output(
        kubecorp_in(tmp.path(), None, &["test", &dir]),
        "kubecorp test skips/",
    )
    .failure(1)
    .stdout_has(&format!(
        "– {file}  A tool that is not installed (1 checks passed, 1 skipped, "
    ))
    .stdout_has(&format!("    {skipped}"))
    .stdout_has("0 passed, 0 failed, 1 skipped");
    output(
        kubecorp_in(tmp.path(), None, &["test", &dir, "--allow-skip"]),
        "kubecorp test skips/ --allow-skip",
    )
    .success()
    .stdout_has("0 passed, 0 failed, 1 skipped");

    // Under CI nothing is skipped: the missing tool fails its step.
    output(
        kubecorp_in(tmp.path(), Some("true"), &["test", &dir, "--allow-skip"]),
        "CI=true kubecorp test skips/",
    )
    .failure(1)
    .stdout_has(&format!(
        "{file}:4: step 1: runs: expected the step runs, got kubecorp-no-such-tool is not installed (the shell said: sh: 1: kubecorp-no-such-tool: not found) (under CI every outside tool must be present)"
    ))
    .stdout_has("0 passed, 1 failed, 0 skipped");
    assert_eq!(
        left_in(tmp.path()),
        Vec::<String>::new(),
        "the labs are removed"
    );
}

#[test]
fn kubecorp_test_on_a_directory_notes_a_kubernetes_manifest_and_does_not_count_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixture("shell");
    output(
        kubecorp_in(tmp.path(), None, &["test", &dir]),
        "kubecorp test shell/",
    )
    .success()
    .stdout_has(&format!(
        "· {dir}/rolebinding.yaml is not a scenario (no top-level steps:, chapters: or challenge:): not played"
    ))
    .stdout_has("shell-syntax.yaml  Shell syntax in run steps (7 checks, ")
    .stdout_has("1 passed, 0 failed, 0 skipped");
    // Named on its own, it is taken for a scenario, and an invalid file is exit 2.
    let manifest = format!("{dir}/rolebinding.yaml");
    kubecorp(["test", &manifest])
        .failure(2)
        .stdout_has("rolebinding.yaml  not a valid scenario")
        .stdout_has("0 passed, 0 failed, 0 skipped, 1 not valid");
    kubecorp(["run", &manifest])
        .failure(2)
        .stderr_has(&format!("{manifest}:3:1: unknown field 'apiVersion'"));
    // A usage error is 2 as well.
    kubecorp(["test", &dir, "--no-such-flag"]).failure(2);
    kubecorp(["test", &format!("{dir}/nowhere.yaml")])
        .failure(2)
        .stderr_has("nowhere.yaml: no such file or directory");
}

#[test]
fn a_scenario_with_its_own_nodes_says_up_front_that_a_foreign_pki_cannot_play_it() {
    let tmp = tempfile::tempdir().unwrap();
    let lab = tmp.path().join("kubernetes");
    kubecorp(["pki", "init", "--dir", lab.to_str().unwrap()]).success();
    let two_desks = root().join("scenarios/two-desks.yaml");
    let two_desks = two_desks.to_str().unwrap();
    let why = format!(
        "{two_desks}:8:10: lab.nodes: desk-a is this scenario's control-plane node, so it needs a kubelet.conf for system:node:desk-a, but the PKI in {}/pki has a kubelet.conf for system:node:kubecorp-control-plane; run it without --pki, or with a PKI made for that node (kubecorp pki init --node-name desk-a)",
        lab.display()
    );
    let run = kubecorp(["run", two_desks, "--pki", lab.to_str().unwrap()])
        .failure(2)
        .stderr_has(&why);
    assert!(run.stdout.is_empty(), "nothing ran: {}", run.dump());
    let scenarios = root().join("scenarios");
    let run = kubecorp([
        "test",
        scenarios.to_str().unwrap(),
        "--pki",
        lab.to_str().unwrap(),
    ])
    .failure(2)
    .stderr_has(&format!(
        "error: 1 scenario cannot run on --pki {}/pki:\n{why}",
        lab.display()
    ));
    assert!(
        !run.stdout.contains(" passed, "),
        "nothing ran: {}",
        run.dump()
    );
}

#[test]
fn a_run_removes_its_lab_when_it_passes_or_fails_and_keep_keeps_it_and_says_where() {
    let tmp = tempfile::tempdir().unwrap();
    output(
        kubecorp_in(
            tmp.path(),
            None,
            &["run", &fixture("failing/wrong-status.yaml")],
        ),
        "kubecorp run wrong-status.yaml",
    )
    .failure(1)
    .stdout_has(", 1 failed, 0 skipped");
    assert_eq!(
        left_in(tmp.path()),
        Vec::<String>::new(),
        "a failed run's lab is removed"
    );

    let run = output(
        kubecorp_in(
            tmp.path(),
            None,
            &["run", &fixture("shell/shell-syntax.yaml"), "--keep"],
        ),
        "kubecorp run shell-syntax.yaml --keep",
    )
    .success();
    let left = left_in(tmp.path());
    assert_eq!(left.len(), 1, "{left:?}");
    let kept = tmp.path().join(&left[0]).join("lab");
    assert!(left[0].starts_with("kubecorp-scenario-"), "{left:?}");
    assert!(kept.join("pki/ca.key").is_file(), "{}", kept.display());
    assert!(
        run.stderr.contains(&format!(
            "The lab is kept in {} (private keys included): remove it when done.",
            kept.display()
        )),
        "{}",
        run.dump()
    );
}

/// `kubecorp run` of the slow fixture, stdout piped, in its own temporary directory; returns
/// the child (the caller waits for it), its stdout and the lab it says it opened.
#[allow(clippy::zombie_processes)]
fn start_slow_run(tmp: &Path) -> (Child, BufReader<std::process::ChildStdout>, PathBuf) {
    let mut child = kubecorp_in(
        tmp,
        None,
        &["run", &fixture("slow/ten-seconds.yaml"), "--wide"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap_or(0) == 0 {
            let _ = child.wait();
            panic!("the run ended before opening its office:\n{seen}");
        }
        seen.push_str(&line);
        if let Some(at) = line.trim_end().strip_suffix(')') {
            if let Some((_, lab)) = at.rsplit_once(", lab ") {
                let lab = PathBuf::from(lab);
                assert!(lab.join("pki/ca.key").is_file(), "{}", lab.display());
                return (child, stdout, lab);
            }
        }
    }
}

/// Waits (at most 30 s) for `child` to end; its exit code and stderr.
fn ended(mut child: Child) -> (Option<i32>, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            return (status.code(), stderr);
        }
        assert!(Instant::now() < deadline, "the run did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn send(signal: &str, child: &Child) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn ctrl_c_and_sigterm_during_a_run_remove_its_lab_private_keys_included() {
    for (signal, code, said) in [
        ("-INT", 130, "interrupted (SIGINT)"),
        ("-TERM", 143, "terminated (SIGTERM)"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let (child, _stdout, lab) = start_slow_run(tmp.path());
        send(signal, &child);
        let (status, stderr) = ended(child);
        assert_eq!(status, Some(code), "{signal}: {stderr}");
        assert!(
            stderr.contains(&format!("{said}: the lab {} is removed", lab.display())),
            "{signal}: {stderr}"
        );
        assert!(!lab.exists(), "{signal}: {} is left", lab.display());
        assert_eq!(left_in(tmp.path()), Vec::<String>::new(), "{signal}");
    }
}

#[test]
fn a_reader_that_goes_away_ends_the_run_and_removes_its_lab() {
    // The reader closes its end half-way through the run.
    let tmp = tempfile::tempdir().unwrap();
    let (child, stdout, lab) = start_slow_run(tmp.path());
    drop(stdout);
    let (status, stderr) = ended(child);
    assert_eq!(status, Some(0), "{stderr}");
    assert!(!lab.exists(), "{} is left", lab.display());
    assert_eq!(left_in(tmp.path()), Vec::<String>::new());

    // As typed: `kubecorp run FILE | head -1`.
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg("\"$KUBECORP\" run \"$FILE\" | head -1")
        .env("KUBECORP", env!("CARGO_BIN_EXE_kubecorp"))
        .env("FILE", fixture("slow/ten-seconds.yaml"))
        .env("TMPDIR", tmp.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "A slow story\n");
    assert_eq!(left_in(tmp.path()), Vec::<String>::new());
}

#[test]
fn ctrl_c_during_kubecorp_test_removes_the_lab_of_every_scenario_under_way() {
    let tmp = tempfile::tempdir().unwrap();
    let child = kubecorp_in(tmp.path(), None, &["test", &fixture("slow")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The suite prints nothing until a scenario ends: wait for its lab's CA key on disk.
    let deadline = Instant::now() + Duration::from_secs(30);
    let lab = loop {
        let made = left_in(tmp.path())
            .into_iter()
            .map(|name| tmp.path().join(name).join("lab"))
            .find(|lab| lab.join("pki/ca.key").is_file());
        if let Some(lab) = made {
            break lab;
        }
        if Instant::now() > deadline {
            send("-KILL", &child);
            let (_, stderr) = ended(child);
            panic!("no lab appeared in {}: {stderr}", tmp.path().display());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    send("-INT", &child);
    let (status, stderr) = ended(child);
    assert_eq!(status, Some(130), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "interrupted (SIGINT): the lab {} is removed",
            lab.display()
        )),
        "{stderr}"
    );
    assert_eq!(left_in(tmp.path()), Vec::<String>::new());
}

/// The pid of a `sleep 300` started in a lab under `tmp` (its working directory), once it runs.
fn sleep_in(tmp: &Path, child: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = std::fs::read_dir("/proc").unwrap().flatten().find(|p| {
            let cmdline = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
            let cwd = std::fs::read_link(p.path().join("cwd")).unwrap_or_default();
            cmdline == b"sleep\x00300\x00" && cwd.starts_with(tmp)
        });
        if let Some(p) = found {
            return p.file_name().to_string_lossy().into_owned();
        }
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let mut stderr = String::new();
            let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr);
            panic!("no `sleep 300` started in {}: {stderr}", tmp.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether process `pid` still runs (a zombie left for init to reap does not).
fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit_once(") ")
            .is_some_and(|(_, s)| s.starts_with('Z'))
    })
}

#[test]
fn a_signal_during_a_run_step_kills_its_command_then_removes_the_lab() {
    let file = fixture("long-step/sleep-300.yaml");
    let dir = fixture("long-step");
    for (args, signal, code, said) in [
        (["run", file.as_str()], "-INT", 130, "interrupted (SIGINT)"),
        (["test", dir.as_str()], "-TERM", 143, "terminated (SIGTERM)"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let mut child = kubecorp_in(tmp.path(), None, &args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let sleep = sleep_in(tmp.path(), &mut child);
        send(signal, &child);
        let (status, stderr) = ended(child);
        assert_eq!(status, Some(code), "{args:?} {signal}: {stderr}");
        assert!(stderr.contains(&format!("{said}: the lab ")), "{stderr}");
        // SIGKILL to its group came before the exit: nothing of the step is left running.
        assert!(
            !running(&sleep),
            "{args:?} {signal}: sleep {sleep} still runs"
        );
        assert_eq!(left_in(tmp.path()), Vec::<String>::new(), "{args:?}");
    }
}
