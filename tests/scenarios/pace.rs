//! The presenter's pace: `--step` with a piped stdin and in a terminal (tmux), Ctrl-C at a key
//! wait, and `--keep` holding the office open for questions until Enter.

use std::path::PathBuf;

use crate::support::terminal::Terminal;
use crate::support::{self, fixture, scenarios, tool};

#[test]
fn kubecorp_run_step_without_a_terminal_goes_on_at_each_enter_not_at_each_key() {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubecorp"))
        .args(["run", "--step", &scenarios("break/rogue-ca.yaml")])
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let said = Arc::new(Mutex::new(String::new()));
    let sink = said.clone();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut chunk = [0u8; 512];
        while let Ok(n @ 1..) = stderr.read(&mut chunk) {
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    });
    let next = "[Enter] for the next step";
    let wait_for = |what: &str, times: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let now = said.lock().unwrap().clone();
            if now.matches(what).count() >= times {
                return now;
            }
            assert!(Instant::now() < deadline, "never {times}× {what:?}:\n{now}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for(next, 1);
    // Two keys and Enter: one line, so one pause.
    stdin.write_all(b"ab\n").unwrap();
    wait_for(next, 2);
    // Were each key a press, "b" and Enter would have passed step 2's pause and its reveal.
    std::thread::sleep(Duration::from_secs(1));
    let held = said.lock().unwrap().clone();
    assert!(!held.contains("What will happen?"), "{held}");
    assert_eq!(held.matches(next).count(), 2, "{held}");
    stdin.write_all(b"\n").unwrap();
    wait_for("What will happen? [Enter] to see", 1);
    stdin.write_all(b"\n").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    reader.join().unwrap();
    let stderr = said.lock().unwrap().clone();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("any key"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("✓ status 401"), "{stdout}");
}

#[test]
fn kubecorp_run_step_in_a_terminal_shows_the_action_first_and_what_came_of_it_on_the_next_key() {
    let test = "the presenter's pace in a terminal (tmux)";
    let Some(tmux) = tool("tmux", test) else {
        return;
    };
    let term = stepping_room(tmux, "pace");
    let count = |screen: &str, what: &str| screen.matches(what).count();
    let next = "[any key] for the next step";
    term.wait_for("room:0", next, 60);
    // Step 1 is a fault: the trainer's own doing, shown with what it did at once.
    term.press("room:0", "Space");
    term.wait_until("room:0", "the second step's pause", 60, |s| {
        count(s, next) == 2
    });
    // Step 2 is a call: its action, then a pause for the room to predict.
    term.press("room:0", "n");
    let reveal = "What will happen? [any key] to see";
    let predict = term.wait_for("room:0", reveal, 60);
    assert!(
        predict.contains("▸ controller-manager shows the badge"),
        "the action is shown: {predict}"
    );
    for outcome in ["caller sees:", "✓ status 401", "checks passed"] {
        assert!(
            !predict.contains(outcome),
            "{outcome} before the reveal: {predict}"
        );
    }
    // An arrow key sends three bytes: it is still one press.
    term.press("room:0", "Right");
    // Not `exit=` alone: the typed command line has it.
    let told = term.wait_for_any("room:0", &["exit=0", "exit=1", "exit=2"], 60);
    assert!(told.contains("exit=0"), "{told}");
    let told = term.wait_for_any("room:0", &["terminal=as-before", "terminal=changed"], 10);
    assert!(told.contains("terminal=as-before"), "{told}");
    assert!(
        told.contains("caller sees: error: You must be logged in to the server (Unauthorized)"),
        "{told}"
    );
    assert!(told.contains("✓ status 401"), "{told}");
    assert_eq!(
        count(&told, reveal),
        1,
        "one reveal, for the one call: {told}"
    );
    // The terminal is 100 columns: no line of the narration is longer (capture-pane -J would
    // join a line the terminal had to wrap).
    let story = &told[told.find("A badge from a CA nobody trusts").unwrap()..];
    for line in story.lines() {
        assert!(line.chars().count() <= 100, "{line}");
    }
}

#[test]
fn ctrl_c_at_a_key_wait_ends_the_run_and_gives_the_terminal_back_as_it_was() {
    let test = "Ctrl-C at the presenter's key wait (tmux)";
    let Some(tmux) = tool("tmux", test) else {
        return;
    };
    let term = stepping_room(tmux, "pace-ctrl-c");
    term.wait_for("room:0", "[any key] for the next step", 60);
    term.press("room:0", "C-c");
    let told = term.wait_for_any("room:0", &["terminal=as-before", "terminal=changed"], 60);
    assert!(told.contains("exit=130"), "{told}");
    assert!(told.contains("interrupted (SIGINT): the lab "), "{told}");
    assert!(told.contains("terminal=as-before"), "{told}");
}

#[test]
fn kubecorp_run_keep_leaves_the_office_open_with_kubeconfigs_that_dial_it_until_enter() {
    use std::io::{BufRead, Write};
    use std::process::{Command, Stdio};
    let test = "kubectl against an office kept open";
    let Some(kubectl) = tool("kubectl", test) else {
        return;
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubecorp"))
        .args(["run", "--keep", &fixture("keep/questions.yaml")])
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut said = Vec::new();
    let kubeconfig = loop {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("{e}: the office was not kept open:\n{}", said.join("\n")));
        said.push(line.clone());
        if let Some(rest) = line.strip_prefix("Try: kubectl --kubeconfig ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    assert!(
        kubeconfig.ends_with("/lab/users/admin.conf"),
        "{kubeconfig}"
    );
    let apiserver = said
        .iter()
        .find_map(|l| l.strip_prefix("The office stays open for questions (apiserver "))
        .and_then(|l| l.split(',').next())
        .unwrap_or_else(|| panic!("{}", said.join("\n")))
        .to_owned();
    let conf = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(conf.contains(&apiserver), "dials {apiserver}: {conf}");
    // The real kubectl, with the printed kubeconfig, reaches this run's office.
    let asked = support::run_tool(
        &kubectl,
        [
            "--kubeconfig",
            &kubeconfig,
            "get",
            "pods",
            "-n",
            "default",
            "-o",
            "name",
        ],
    )
    .success();
    assert!(asked.stdout.contains("pod/questions"), "{}", asked.dump());

    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    let status = child.wait().unwrap();
    let rest: Vec<String> = rx.iter().collect();
    assert_eq!(status.code(), Some(0), "{}", rest.join("\n"));
    let lab = std::path::Path::new(&kubeconfig)
        .parent()
        .unwrap()
        .parent()
        .unwrap();
    assert!(
        rest.iter()
            .any(|l| l.contains(&format!("The lab is kept in {}", lab.display()))),
        "{}",
        rest.join("\n")
    );
    assert!(lab.join("pki/ca.crt").is_file(), "the lab stays on disk");
    std::fs::remove_dir_all(lab.parent().unwrap()).unwrap();
}

/// A 100-column terminal (tmux) whose shell finds this build's `kubecorp`, without colour, and
/// plays `break/rogue-ca.yaml` with `--step`; when the run ends it prints `exit=CODE` and
/// whether the terminal's settings are as before (`terminal=as-before`) or not.
fn stepping_room(tmux: PathBuf, name: &str) -> Terminal {
    let term = Terminal::new(tmux, name);
    term.tmux(&[
        "new-session",
        "-d",
        "-s",
        "room",
        "-x",
        "100",
        "-y",
        "50",
        "sh",
    ])
    .success();
    term.tmux(&["set-option", "-g", "history-limit", "20000"])
        .success();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_kubecorp"))
        .parent()
        .unwrap()
        .display()
        .to_string();
    term.type_line(
        "room:0",
        &format!(
            "export PATH={bin}:$PATH NO_COLOR=1; cd {}",
            scenarios("break")
        ),
    );
    term.type_line(
        "room:0",
        "stty -g > /tmp/kubecorp-pace-$$.before; kubecorp run --step rogue-ca.yaml; echo exit=$?; \
         stty -g | cmp -s - /tmp/kubecorp-pace-$$.before && echo terminal=as-\"before\" \
         || echo terminal=chan\"ged\"; rm -f /tmp/kubecorp-pace-$$.before",
    );
    term
}
