//! The presenter's pace: `--step` with a piped stdin and in a terminal (tmux), Ctrl-C at a key
//! wait, and `--keep` holding the office open for questions until Enter — with the page too,
//! whose next ▶ cannot close it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// One HTTP/1.1 POST of a JSON body with the page's token: the status line and the body.
fn post_pace(page: &str, body: &str) -> (String, String) {
    let (base, token) = page
        .split_once("?token=")
        .expect("the URL carries the token");
    let addr: SocketAddr = base
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap();
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        tcp,
        "POST /api/pace HTTP/1.1\r\nHost: {addr}\r\nX-Kubecorp-Token: {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut bytes = Vec::new();
    let _ = tcp.read_to_end(&mut bytes);
    let answer = String::from_utf8_lossy(&bytes).into_owned();
    let status = answer.lines().next().unwrap_or("").to_owned();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn a_paced_run_kept_open_is_closed_by_one_enter_the_pages_next_cannot_close_it_and_sigterm_ends_the_page(
) {
    let fixture = fixture("keep/questions.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubecorp"))
        .args(["run", "--step", "--keep", "--web", "127.0.0.1:0", &fixture])
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let said = Arc::new(Mutex::new(Vec::<String>::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let stderr = child.stderr.take().unwrap();
        let said = said.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("The page follows the run at ") {
                    let _ = tx.send(url.split_whitespace().next().unwrap_or("").to_owned());
                }
                said.lock().unwrap().push(line);
            }
        });
    }
    let dump = || said.lock().unwrap().join("\n");
    let page = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}: the run printed no page URL:\n{}", dump()));
    // The page moves the run on to its end, where the office stays open.
    let started = Instant::now();
    let open = loop {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the run never reached its open end:\n{}",
            dump()
        );
        let (status, body) = post_pace(&page, r#"{"action": "next"}"#);
        if body.contains("stays open for questions") {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(open.0.contains("409"), "{open:?}");
    assert!(
        open.1
            .contains("the run is over and the office stays open for questions: Enter in the terminal closes it"),
        "{open:?}"
    );
    // One Enter closes it (the terminal's key reader used to take the first one); the page
    // stays for questions until Ctrl-C.
    child.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    let waited = Instant::now();
    let lab = loop {
        let kept = said
            .lock()
            .unwrap()
            .iter()
            .find_map(|l| l.strip_prefix("The lab is kept in ").map(str::to_owned));
        if let Some(kept) = kept {
            break kept;
        }
        if waited.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("one Enter did not close the office:\n{}", dump());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // The page stays for questions until Ctrl-C, and SIGTERM (kill, timeout, a service manager)
    // ends it too.
    let waited = Instant::now();
    while !dump().contains("The page stays open at ") {
        assert!(waited.elapsed() < Duration::from_secs(60), "{}", dump());
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let waited = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if waited.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!(
                "SIGTERM did not end the run whose page stayed open:\n{}",
                dump()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}\n{}", dump());
    let said = dump();
    assert!(
        said.contains("The office stays open for questions"),
        "{said}"
    );
    assert!(said.contains("[Enter] closes the office"), "{said}");
    let lab = lab.split(" (").next().unwrap_or(&lab).to_owned();
    let lab = Path::new(&lab);
    assert!(lab.join("pki/ca.crt").is_file(), "{said}");
    std::fs::remove_dir_all(lab.parent().unwrap()).unwrap();
}
