//! `kubecorp challenge` end to end: a learner's session through the binary (and, in a terminal,
//! through tmux), and every shipped challenge rehearsed: the check fails after the start, passes
//! after the scripted solution, and refuses each tempting wrong repair with its reason.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::terminal::Terminal;
use support::{kubecorp, tool, Run};

/// `kubecorp challenge start NAME` on a fresh directory, every door on a free port; stopped
/// (SIGTERM) when dropped.
struct Started {
    child: Child,
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    out: PathBuf,
}

fn start_args(name: &str, dir: &Path) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "challenge".into(),
        "start".into(),
        name.into(),
        "--dir".into(),
        dir.display().to_string(),
    ];
    for door in [
        "--apiserver-listen",
        "--etcd-listen",
        "--etcd-peer-listen",
        "--scheduler-listen",
        "--kubelet-listen",
        "--proxy-healthz-listen",
    ] {
        args.push(door.into());
        args.push("127.0.0.1:0".into());
    }
    args
}

impl Started {
    fn new(name: &str) -> Started {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("lab");
        let out = tmp.path().join("office.log");
        let child = Command::new(env!("CARGO_BIN_EXE_kubecorp"))
            .args(start_args(name, &dir))
            .env("NO_COLOR", "1")
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let started = Started {
            child,
            _tmp: tmp,
            dir,
            out,
        };
        started.wait_for("Press Ctrl-C to close the office.");
        started
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    #[track_caller]
    fn wait_for(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.output().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "the office never printed {needle:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn dir(&self) -> &str {
        self.dir.to_str().unwrap()
    }

    fn challenge(&self, command: &str) -> Run {
        kubecorp(["challenge", command, "--dir", self.dir()])
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- what the office said\n{}", self.output());
        }
    }
}

#[test]
fn a_learner_hears_the_symptom_takes_a_hint_repairs_bobs_badge_and_the_check_passes() {
    let office = Started::new("scheduler-badge-expired");
    let said = office.output();
    assert!(said.contains("A message from a colleague"), "{said}");
    assert!(said.contains("new pods stay Pending"), "{said}");
    // Only the symptom: the cause is for the learner to find (the narration, Alice's log
    // included, is the evidence).
    let message = said
        .split("A message from a colleague")
        .nth(1)
        .and_then(|m| m.split('└').next())
        .unwrap_or_default();
    assert!(
        !message.contains("expire") && !message.contains("scheduler.conf"),
        "{message}"
    );
    assert!(!office.dir.join(".kubecorp-backup").exists());

    office
        .challenge("check")
        .failure(1)
        .stdout_has("✗ The scheduler binds it.")
        .stdout_has("challenge-check (Pending)")
        .stdout_has("✓ scheduler.conf keeps the identity")
        .stdout_has("hints used: 0 of 3");

    office
        .challenge("hint")
        .success()
        .stdout_has("Hint 1 of 3:")
        .stdout_has("Watch the office's narration");
    kubecorp(["break", "--undo", "scheduler.conf", "--dir", office.dir()])
        .failure(2)
        .stderr_has("holds a challenge: there is no backup to put back");

    kubecorp(["certs", "renew", "scheduler.conf", "--dir", office.dir()]).success();
    let deadline = Instant::now() + Duration::from_secs(30);
    let check = loop {
        let check = office.challenge("check");
        if check.status == 0 || Instant::now() > deadline {
            break check;
        }
    };
    check
        .success()
        .stdout_has("✓ The scheduler binds it.")
        .stdout_has("hints used: 1 of 3")
        .stdout_has("Solved: the symptom is gone");
    let list = office.challenge("list").success();
    let row = list
        .stdout
        .lines()
        .find(|l| l.contains("scheduler-badge-expired"))
        .unwrap_or_default();
    assert!(row.contains("✓ solved"), "{}", list.dump());
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(office.dir.join(".kubecorp-challenge/state.json"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_directory_holding_something_else_is_not_made_afresh_and_no_open_challenge_is_said_plainly() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
    let mut args = start_args("scheduler-badge-expired", tmp.path());
    args.truncate(5);
    kubecorp(&args)
        .failure(2)
        .stderr_has("not empty, and not a lab a challenge made: choose another --dir");
    assert!(tmp.path().join("notes.txt").exists());
    kubecorp(["challenge", "check", "--dir", tmp.path().to_str().unwrap()])
        .failure(2)
        .stderr_has("no challenge is open here (start one with `kubecorp challenge start NAME");
    kubecorp(["challenge", "start", "no-such-challenge"])
        .failure(2)
        .stderr_has("no challenge named \"no-such-challenge\"");
}

#[test]
fn a_learner_in_a_terminal_starts_takes_a_hint_tries_a_wrong_fix_then_the_right_one() {
    let test = "a learner's session in tmux";
    let (Some(tmux), Some(_kubectl)) = (tool("tmux", test), tool("kubectl", test)) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lab");
    let d = dir.to_str().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_kubecorp")).parent().unwrap();
    let term = Terminal::new(tmux, "test");
    term.tmux(&[
        "new-session",
        "-d",
        "-s",
        "lab",
        "-x",
        "220",
        "-y",
        "50",
        "sh",
    ])
    .success();
    term.tmux(&["set-option", "-g", "history-limit", "20000"])
        .success();
    term.tmux(&["new-window", "-d", "-t", "lab:1", "sh"])
        .success();
    let setup = format!("export PATH={}:$PATH NO_COLOR=1", bin.display());
    term.type_line("lab:0", &setup);
    term.type_line("lab:1", &setup);

    // Terminal 0: the office, broken, and a colleague's message.
    term.type_line(
        "lab:0",
        &format!(
            "kubecorp {}",
            start_args("scheduler-badge-expired", &dir).join(" ")
        ),
    );
    let office = term.wait_for("lab:0", "Press Ctrl-C to close the office.", 90);
    assert!(office.contains("new pods stay Pending"), "{office}");

    // Terminal 1: the learner.
    term.type_line("lab:1", &format!("kubecorp challenge hint --dir {d}"));
    term.wait_for("lab:1", "Hint 1 of 3:", 30);
    term.type_line(
        "lab:1",
        &format!("kubectl --kubeconfig {d}/admin.conf create clusterrolebinding bob-admin --clusterrole=cluster-admin --user=system:kube-scheduler"),
    );
    term.wait_for(
        "lab:1",
        "clusterrolebinding.rbac.authorization.k8s.io/bob-admin created",
        30,
    );
    term.type_line(
        "lab:1",
        &format!("kubecorp challenge check --dir {d}; echo check-exit-$?"),
    );
    let wrong = term.wait_for("lab:1", "check-exit-1", 60);
    assert!(
        wrong.contains("✗ no new binding hands out cluster-admin or binds system:masters"),
        "{wrong}"
    );
    assert!(
        wrong.contains("clusterrolebinding bob-admin (ClusterRole/cluster-admin to User/system:kube-scheduler)"),
        "{wrong}"
    );
    assert!(wrong.contains("✗ The scheduler binds it."), "{wrong}");

    // The right fix: take the binding back, renew the one badge.
    term.type_line(
        "lab:1",
        &format!("kubectl --kubeconfig {d}/admin.conf delete clusterrolebinding bob-admin && kubecorp certs renew scheduler.conf --dir {d}"),
    );
    term.wait_for(
        "lab:1",
        "certificate embedded in the kubeconfig file for the scheduler manager to use renewed",
        30,
    );
    let mut tries = 0;
    let solved = loop {
        tries += 1;
        term.type_line(
            "lab:1",
            &format!("kubecorp challenge check --dir {d}; echo check-exit-$? try-{tries}"),
        );
        // The typed line says `$?`; the answer says 0 or 1.
        let (passed, failed) = (
            format!("check-exit-0 try-{tries}"),
            format!("check-exit-1 try-{tries}"),
        );
        let screen = term.wait_for_any("lab:1", &[&passed, &failed], 60);
        if screen.contains(&passed) || tries == 5 {
            break screen;
        }
    };
    assert!(
        solved.contains("Solved: the symptom is gone and the repair is a real one."),
        "{solved}"
    );
    assert!(solved.contains("hints used: 1 of 3"), "{solved}");

    // The office's own terminal showed the evidence, and closes on Ctrl-C.
    let office = term.screen("lab:0");
    assert!(
        office.contains("x509: certificate has expired or is not yet valid"),
        "{office}"
    );
    term.tmux(&["send-keys", "-t", "lab:0", "C-c"]).success();
    term.wait_for("lab:0", "Closing the office.", 30);
}

#[test]
fn kubecorp_test_rehearses_a_challenge_stage_by_stage_and_one_junit_case_each() {
    let tmp = tempfile::tempdir().unwrap();
    let xml = tmp.path().join("report.xml");
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios/challenges/scheduler-badge-expired.yaml");
    let run = kubecorp([
        "test",
        file.to_str().unwrap(),
        "--junit",
        xml.to_str().unwrap(),
    ])
    .success();
    assert!(run.stdout.contains("1 passed, 0 failed"), "{}", run.dump());
    let xml = std::fs::read_to_string(&xml).unwrap();
    for case in [
        "check right after start",
        "check after the scripted solution",
        "wrong repair: give Bob the administrator&apos;s kubeconfig",
        "wrong repair: bind cluster-admin to the scheduler",
    ] {
        assert!(xml.contains(case), "no JUnit case {case:?}:\n{xml}");
    }
    assert!(!xml.contains("<failure"), "{xml}");
}

#[test]
fn a_wrong_repair_the_check_does_not_catch_fails_the_rehearsal_with_what_it_saw() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/challenges/harmless-wrong-fix.yaml");
    let run = kubecorp(["run", file.to_str().unwrap()]).failure(1);
    assert!(
        run.stdout
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .contains("✗ CHECK FAILED: wrong repair: do nothing at all: expected the check fails on same-identity, got ✗ Bob's badge is accepted. (symptom)"),
        "{}",
        run.dump()
    );
    run.stdout_has("✓ check right after start");
}

#[test]
fn asking_for_the_solution_explains_the_cause_and_notes_the_challenge_as_given_up() {
    let office = Started::new("admin-conf-expired");
    let solution = office.challenge("solution").success();
    let solution = solution.stdout_has("kubeadm certs renew admin.conf");
    assert!(
        solution.stdout.contains(&format!(
            "kubecorp certs renew admin.conf --dir {}",
            office.dir()
        )),
        "{}",
        solution.dump()
    );
    solution.stdout_has("(Noted as given up.");
    let list = office.challenge("list").success();
    let row = list
        .stdout
        .lines()
        .find(|l| l.contains("admin-conf-expired"))
        .unwrap_or_default();
    assert!(row.contains("given up"), "{}", list.dump());

    kubecorp(["certs", "renew", "admin.conf", "--dir", office.dir()]).success();
    let check = office.challenge("check").success();
    assert!(
        check
            .stdout
            .contains("Repaired, after reading the solution: noted as given up, not as solved."),
        "{}",
        check.dump()
    );
    let list = office.challenge("list").success();
    assert!(
        !list.stdout.contains("✓ solved"),
        "a challenge given up is not solved:\n{}",
        list.dump()
    );
}
