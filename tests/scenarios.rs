//! `kubecorp run` and `kubecorp test` through the binary: narration, reports, JUnit, exit codes,
//! and the messages a broken scenario file gets.
//!
//! In rooms by job: `scenarios/suite.rs` is `kubecorp test` (green, red, JUnit, `--pki`,
//! chapters); `scenarios/files.rs` a broken file's messages; `scenarios/narration.rs` what
//! `kubecorp run` tells a room and writes; `scenarios/pace.rs` the presenter's pace and
//! `--keep`; `scenarios/clocks.rs` a scenario's clock next to the real tools'. This file holds
//! what several rooms share.

#[path = "scenarios/clocks.rs"]
mod clocks;
#[path = "scenarios/files.rs"]
mod files;
#[path = "scenarios/narration.rs"]
mod narration;
#[path = "scenarios/pace.rs"]
mod pace;
#[path = "scenarios/suite.rs"]
mod suite;
mod support;

use support::tool;

/// `args`, and `--allow-skip` when one of `tools` (used by the shipped scenarios' `run:` steps)
/// is missing outside CI: `tool` says so plainly (under CI it fails the test instead).
fn allowing_skips_without<'a>(test: &str, tools: &[&str], args: &[&'a str]) -> Vec<&'a str> {
    let mut args = args.to_vec();
    if tools.iter().filter(|t| tool(t, test).is_none()).count() > 0 {
        args.push("--allow-skip");
    }
    args
}
