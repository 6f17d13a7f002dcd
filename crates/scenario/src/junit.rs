//! JUnit XML for CI: one test suite per scenario, one test case per expectation.
//!
//! A test case is named by its step and the kind of check (`step 4: status`), so editing an
//! expectation does not rename it. A failed expectation is a `<failure>` whose message says what
//! was expected and what happened and whose text adds the reason the lab knows; the scenario's
//! narration is the suite's `<system-out>`. A file that does not parse is an `<error>` naming its
//! line and field.

use std::collections::HashMap;
use std::path::PathBuf;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::expect::Check;
use crate::run::ScenarioResult;

/// What `kubecorp test` learned about one file.
#[derive(Debug)]
pub enum Entry {
    Ran(ScenarioResult),
    /// The file could not be read or validated.
    Invalid {
        file: PathBuf,
        error: String,
    },
}

impl Entry {
    pub fn passed(&self) -> bool {
        match self {
            Entry::Ran(r) => r.passed(),
            Entry::Invalid { .. } => false,
        }
    }
}

/// The JUnit XML for a test run.
pub fn junit(entries: &[Entry]) -> Result<String, quick_junit::SerializeError> {
    let mut report = Report::new("kubecorp scenarios");
    for entry in entries {
        match entry {
            Entry::Ran(result) => {
                let name = result.file.display().to_string();
                let mut suite = TestSuite::new(name.as_str());
                suite.set_time(result.elapsed);
                suite.add_property(quick_junit::Property::new("title", result.title.as_str()));
                if !result.narration.is_empty() {
                    suite.set_system_out(result.narration.as_str());
                }
                let mut seen: HashMap<String, usize> = HashMap::new();
                for check in &result.checks {
                    let status = if check.skipped() {
                        let mut s = TestCaseStatus::skipped();
                        s.set_message(check.actual.as_str());
                        s
                    } else if check.passed() {
                        TestCaseStatus::success()
                    } else {
                        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        s.set_message(check.describe());
                        s.set_description(format!(
                            "{}: {}{}",
                            check.place(&result.file),
                            check.describe(),
                            check
                                .why
                                .as_ref()
                                .map(|w| format!("\n{w}"))
                                .unwrap_or_default()
                        ));
                        s
                    };
                    let mut case = TestCase::new(case_name(check, &mut seen), status);
                    case.set_classname(result.title.as_str());
                    suite.add_test_case(case);
                }
                report.add_test_suite(suite);
            }
            Entry::Invalid { file, error } => {
                let name = file.display().to_string();
                let mut suite = TestSuite::new(name.as_str());
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status.set_message("the scenario file is not valid");
                status.set_description(error.as_str());
                suite.add_test_case(TestCase::new("parse", status));
                report.add_test_suite(suite);
            }
        }
    }
    report.to_string()
}

/// A test case's name: the step and the kind of check (`step 4: status`), with the chapter file
/// in front for a step of a chapter and a count for a kind checked again in the same step
/// (`step 9: contains #2`). Never the expected text, so editing an expectation keeps the name.
fn case_name(check: &Check, seen: &mut HashMap<String, usize>) -> String {
    let chapter = check
        .file
        .as_deref()
        .and_then(|f| f.file_name())
        .map(|f| format!("{} ", f.to_string_lossy()))
        .unwrap_or_default();
    let name = format!("{chapter}step {}: {}", check.step + 1, check.what);
    let n = seen.entry(name.clone()).or_insert(0);
    *n += 1;
    match *n {
        1 => name,
        n => format!("{name} #{n}"),
    }
}
