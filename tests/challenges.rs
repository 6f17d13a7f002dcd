//! `kubecorp challenge` end to end: a learner's session through the binary (and, in a terminal,
//! through tmux), and every shipped challenge rehearsed: the check fails after the start, passes
//! after the scripted solution, and refuses each tempting wrong repair with its reason.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{kubecorp, Run};

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

    let check = office.challenge("check").failure(1);
    assert!(
        check.stdout.contains("✗ The scheduler binds it."),
        "{}",
        check.dump()
    );
    assert!(
        check.stdout.contains("challenge-check (Pending)"),
        "{}",
        check.dump()
    );
    assert!(
        check.stdout.contains("✓ scheduler.conf keeps the identity"),
        "{}",
        check.dump()
    );
    assert!(
        check.stdout.contains("hints used: 0 of 3"),
        "{}",
        check.dump()
    );

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
    let check = check.success();
    assert!(
        check.stdout.contains("✓ The scheduler binds it."),
        "{}",
        check.dump()
    );
    assert!(
        check.stdout.contains("hints used: 1 of 3"),
        "{}",
        check.dump()
    );
    assert!(
        check.stdout.contains("Solved: the symptom is gone"),
        "{}",
        check.dump()
    );
    office
        .challenge("list")
        .success()
        .stdout_has("scheduler-badge-expired   10        ✓ solved");
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
