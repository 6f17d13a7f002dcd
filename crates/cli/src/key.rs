//! One key press from the presenter: `--step` goes on at a single key when stdin is a terminal
//! (and at Enter when it is not), and the terminal is put back as it was on every way out: the
//! key, Ctrl-C, a panic.
//!
//! Waiting for one key takes the terminal out of line mode (no line editing, no echo) for the
//! wait only. Ctrl-C still interrupts: the terminal's own signal keys stay on, and the Ctrl-C
//! path ([`crate::stop`]) calls [`restore`] before the process ends, as the panic hook does.

use std::io::{BufRead, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Mutex, MutexGuard, Once};

use rustix::termios::{self, LocalModes, OptionalActions, SpecialCodeIndex, Termios};

/// What ended a wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Press {
    /// A key (or a line, when stdin is not a terminal).
    Key,
    /// Nothing more will come: stdin is closed.
    Closed,
}

/// The settings for one key at a time: no line editing, no echo, a read returns as soon as one
/// key is in. ISIG stays: Ctrl-C and Ctrl-Z do what they always do.
pub fn one_key(mut settings: Termios) -> Termios {
    settings
        .local_modes
        .remove(LocalModes::ICANON | LocalModes::ECHO);
    settings.special_codes[SpecialCodeIndex::VMIN] = 1;
    settings.special_codes[SpecialCodeIndex::VTIME] = 0;
    settings
}

/// A terminal's settings from before a wait, kept until they are put back. Whoever ends the wait
/// first (the key, Ctrl-C, a panic) puts them back; the others find nothing left to do.
pub struct Saved(Mutex<Option<(OwnedFd, Termios)>>);

/// stdin's settings while a key is waited for.
static STDIN: Saved = Saved::new();

impl Saved {
    pub const fn new() -> Saved {
        Saved(Mutex::new(None))
    }

    fn lock(&self) -> MutexGuard<'_, Option<(OwnedFd, Termios)>> {
        // The settings are whole before the lock is let go.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts the terminal in one-key mode until the guard drops (also when a panic unwinds).
    pub fn hold(&self, tty: impl AsFd) -> std::io::Result<Held<'_>> {
        let fd = tty.as_fd().try_clone_to_owned()?;
        let before = termios::tcgetattr(&fd)?;
        termios::tcsetattr(&fd, OptionalActions::Now, &one_key(before.clone()))?;
        *self.lock() = Some((fd, before));
        Ok(Held(self))
    }

    /// Puts the settings back, once.
    pub fn restore(&self) {
        if let Some((fd, before)) = self.lock().take() {
            // Nothing better can be done if the terminal is gone.
            let _ = termios::tcsetattr(&fd, OptionalActions::Now, &before);
        }
    }
}

/// The terminal in one-key mode; dropped, it is put back.
pub struct Held<'a>(&'a Saved);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.restore();
    }
}

/// Puts stdin's terminal back if a wait left it in one-key mode (the Ctrl-C path calls this).
pub fn restore() {
    STDIN.restore();
}

/// Whether a wait takes one key (stdin is a terminal) or a line.
pub fn one_key_at_a_time() -> bool {
    termios::isatty(std::io::stdin())
}

/// Waits for one key when stdin is a terminal, for Enter otherwise.
pub fn wait() -> Press {
    let stdin = std::io::stdin();
    if !termios::isatty(&stdin) {
        let mut line = String::new();
        return match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => Press::Closed,
            Ok(_) => Press::Key,
        };
    }
    restore_on_panic();
    let held = STDIN.hold(&stdin);
    // A key that sends several bytes (an arrow: ESC [ C) arrives in one read and counts once.
    let mut key = [0u8; 16];
    let read = stdin.lock().read(&mut key);
    drop(held);
    match read {
        Ok(0) | Err(_) => Press::Closed,
        Ok(_) => Press::Key,
    }
}

/// A panic, on any thread, puts the terminal back before its message is printed.
fn restore_on_panic() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let before = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            before(info);
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;

    /// A real terminal of the test's own: the pty's follower side.
    fn terminal() -> (OwnedFd, File) {
        use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
        let leader = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
        grantpt(&leader).unwrap();
        unlockpt(&leader).unwrap();
        let name = ptsname(&leader, Vec::new()).unwrap();
        let follower = File::options()
            .read(true)
            .write(true)
            .open(name.to_str().unwrap())
            .unwrap();
        (leader, follower)
    }

    fn line_mode(tty: &File) -> (bool, bool, bool) {
        let now = termios::tcgetattr(tty).unwrap();
        let has = |flag| now.local_modes.contains(flag);
        (
            has(LocalModes::ICANON),
            has(LocalModes::ECHO),
            has(LocalModes::ISIG),
        )
    }

    #[test]
    fn one_key_mode_reads_a_key_at_a_time_without_echo_and_ctrl_c_still_interrupts() {
        let (_leader, tty) = terminal();
        let before = termios::tcgetattr(&tty).unwrap();
        assert!(before.local_modes.contains(LocalModes::ICANON));
        let raw = one_key(before);
        assert!(!raw.local_modes.contains(LocalModes::ICANON));
        assert!(!raw.local_modes.contains(LocalModes::ECHO));
        assert!(raw.local_modes.contains(LocalModes::ISIG));
        assert_eq!(raw.special_codes[SpecialCodeIndex::VMIN], 1);
        assert_eq!(raw.special_codes[SpecialCodeIndex::VTIME], 0);
    }

    #[test]
    fn a_held_terminal_is_put_back_when_the_wait_ends_and_when_a_panic_unwinds() {
        let (_leader, tty) = terminal();
        let saved = Saved::new();
        assert_eq!(line_mode(&tty), (true, true, true));
        {
            let _held = saved.hold(&tty).unwrap();
            assert_eq!(line_mode(&tty), (false, false, true));
        }
        assert_eq!(line_mode(&tty), (true, true, true));
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _held = saved.hold(&tty).unwrap();
            panic!("a step went wrong");
        }));
        assert!(panicked.is_err());
        assert_eq!(line_mode(&tty), (true, true, true));
    }

    #[test]
    fn restore_puts_the_terminal_back_once_when_the_wait_never_ends_by_itself() {
        // Ctrl-C ends the process while the wait is still blocked: its guard never drops.
        let (_leader, tty) = terminal();
        let saved = Saved::new();
        std::mem::forget(saved.hold(&tty).unwrap());
        assert_eq!(line_mode(&tty), (false, false, true));
        saved.restore();
        assert_eq!(line_mode(&tty), (true, true, true));
        // Changed by someone else since: a second restore leaves it alone.
        let mut other = termios::tcgetattr(&tty).unwrap();
        other.local_modes.remove(LocalModes::ECHO);
        termios::tcsetattr(&tty, OptionalActions::Now, &other).unwrap();
        saved.restore();
        assert_eq!(line_mode(&tty), (true, false, true));
    }
}
