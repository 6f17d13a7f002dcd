//! A real terminal for tests: a tmux server of the test's own, a window to type into and read.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kubecorp_testkit::Run;

/// A tmux server of the test's own (its own socket), killed when dropped.
pub struct Terminal {
    pub tmux: PathBuf,
    pub socket: String,
}

impl Terminal {
    /// A tmux server on a socket named for `name` and this test process.
    pub fn new(tmux: PathBuf, name: &str) -> Terminal {
        Terminal {
            tmux,
            socket: format!("kubecorp-{name}-{}", std::process::id()),
        }
    }

    pub fn tmux(&self, args: &[&str]) -> Run {
        let mut all = vec!["-L", self.socket.as_str(), "-f", "/dev/null"];
        all.extend_from_slice(args);
        kubecorp_testkit::run_tool(&self.tmux, &all)
    }

    /// Types a line into a window, as a person would, and presses Enter.
    pub fn type_line(&self, window: &str, line: &str) {
        self.tmux(&["send-keys", "-t", window, "-l", line])
            .success();
        self.press_enter(window);
    }

    /// Presses Enter in a window.
    pub fn press_enter(&self, window: &str) {
        self.press(window, "Enter");
    }

    /// Presses one key in a window, by tmux's name for it (`Space`, `Right`, `C-c`, `n`).
    pub fn press(&self, window: &str, key: &str) {
        self.tmux(&["send-keys", "-t", window, key]).success();
    }

    /// What the window shows, with its scrollback.
    pub fn screen(&self, window: &str) -> String {
        self.tmux(&["capture-pane", "-p", "-J", "-S", "-5000", "-t", window])
            .success()
            .stdout
    }

    /// Waits until what the window shows passes `done` (`what` names it in the failure).
    #[track_caller]
    pub fn wait_until(
        &self,
        window: &str,
        what: &str,
        seconds: u64,
        done: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            let screen = self.screen(window);
            if done(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "window {window} never showed {what}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    #[track_caller]
    pub fn wait_for(&self, window: &str, needle: &str, seconds: u64) -> String {
        self.wait_for_any(window, &[needle], seconds)
    }

    #[track_caller]
    pub fn wait_for_any(&self, window: &str, needles: &[&str], seconds: u64) -> String {
        self.wait_until(window, &format!("{needles:?}"), seconds, |screen| {
            needles.iter().any(|n| screen.contains(n))
        })
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}
