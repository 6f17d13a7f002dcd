//! JUnit XML for CI: one test suite per scenario, one test case per expectation.
//!
//! A failed expectation is a `<failure>` whose message says what was expected and what
//! happened; a file that does not parse is an `<error>` naming its line and field.

use std::path::PathBuf;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

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
                for check in &result.checks {
                    let case_name = format!(
                        "step {} ({}): {} {}",
                        check.step + 1,
                        match &check.file {
                            Some(f) => format!("{}:{}", f.display(), check.line),
                            None => format!("line {}", check.line),
                        },
                        check.what,
                        check.expected
                    );
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
                    let mut case = TestCase::new(case_name, status);
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
