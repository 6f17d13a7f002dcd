//! The binary's one way to write to stdout: colour decided once (a terminal, and NO_COLOR
//! unset), and a closed pipe (`kubecorp … | head -1`) ends the program quietly, removing the
//! labs of scenario runs under way.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

/// Whether stdout gets ANSI colours: a terminal, and `NO_COLOR` not set.
pub fn color() -> bool {
    static COLOR: OnceLock<bool> = OnceLock::new();
    *COLOR.get_or_init(|| std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal())
}

/// Writes to stdout. A reader that went away ends the program with status 0; any other error
/// writing stdout ends it with status 2 (either way, scenario runs' labs are removed first).
pub fn emit(args: std::fmt::Arguments<'_>) {
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            crate::stop::exit(0);
        }
        eprintln!("error: writing to stdout: {e}");
        crate::stop::exit(2);
    }
}

/// One line to stdout.
pub fn line(text: &str) {
    emit(format_args!("{text}\n"));
}
