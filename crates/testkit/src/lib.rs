//! Test-only helpers shared by every crate's tests: finding the outside tools that judge the lab.
#![forbid(unsafe_code)]

use std::path::PathBuf;

/// `name` on `PATH`, or `None` when it is absent outside CI, after saying plainly that `test`
/// is skipped. Under `CI=true` a missing tool fails the test instead.
pub fn tool(name: &str, test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => Some(p),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{test}: `{name}` is not installed, and CI=true requires it")
        }
        None => {
            println!("SKIPPED {test}: {name} is not installed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_tool_on_the_path_is_found_and_a_missing_one_outside_ci_is_none() {
        assert!(super::tool("sh", "finding sh").is_some());
        if std::env::var("CI").as_deref() != Ok("true") {
            assert_eq!(
                super::tool("no-such-tool-kubecorp", "finding nothing"),
                None
            );
        }
    }
}
