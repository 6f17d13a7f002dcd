//! The tape: a run recorded as `kubecorp/v1` records (see [`kubecorp_trust::record`]), numbered
//! by step and named by chapter, for `--format json`, the live page and the HTML report.
//!
//! [`Tape`] is an [`Observer`]; [`Tee`] lets it listen beside the narrator.

use kubecorp_trust::record::{
    Body, Chapter, CheckRecord, EventRecord, Opened, Record, RunResult, StepOutcome, StepStart,
};
use kubecorp_trust::Event;

use crate::expect::{Check, Outcome};
use crate::model::{Scenario, Step};
use crate::run::{Observer, OfficeInfo, ScenarioResult};

/// Where each record goes as it is made.
type Sink = Box<dyn FnMut(&Record) + Send>;

/// Records a run.
pub struct Tape {
    seq: u64,
    /// Steps begun so far (the current step's number).
    step: u32,
    chapter: Option<String>,
    chapter_file: Option<std::path::PathBuf>,
    scenario_file: std::path::PathBuf,
    lab: Option<String>,
    records: Vec<Record>,
    sinks: Vec<Sink>,
}

impl Default for Tape {
    fn default() -> Self {
        Tape::new()
    }
}

impl Tape {
    pub fn new() -> Tape {
        Tape {
            seq: 0,
            step: 0,
            chapter: None,
            chapter_file: None,
            scenario_file: Default::default(),
            lab: None,
            records: Vec::new(),
            sinks: Vec::new(),
        }
    }

    /// Hands every record to `sink` as it is made (printing a JSON line, feeding the page).
    pub fn with_sink(mut self, sink: impl FnMut(&Record) + Send + 'static) -> Tape {
        self.sinks.push(Box::new(sink));
        self
    }

    /// Everything recorded so far, in order.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Records the run's end.
    pub fn finish(&mut self, result: &ScenarioResult) {
        let skipped = result.checks.iter().filter(|c| c.skipped()).count();
        self.push(
            Body::Result(RunResult {
                title: result.title.clone(),
                file: result.file.display().to_string(),
                passed: result.passed(),
                checks: result.checks.len(),
                failed: result.failures().count(),
                skipped,
                elapsed_ms: result.elapsed.as_millis() as u64,
            }),
            false,
        );
    }

    fn push(&mut self, body: Body, in_step: bool) {
        self.seq += 1;
        let mut record = Record::new(self.seq, body);
        if in_step && self.step > 0 {
            record = record.in_step(Some(self.step), self.chapter.clone());
        }
        for sink in &mut self.sinks {
            sink(&record);
        }
        self.records.push(record);
    }
}

impl Observer for Tape {
    fn opened(&mut self, scenario: &Scenario, office: &OfficeInfo) {
        self.scenario_file = scenario.file.clone();
        self.lab = Some(office.dir.display().to_string());
        self.push(
            Body::Opened(Opened {
                title: scenario.title.clone(),
                description: scenario.description.clone(),
                file: Some(scenario.file.display().to_string()),
                apiserver: office.apiserver.clone(),
                etcd: office.etcd.clone(),
                dir: office.dir.display().to_string(),
                nodes: scenario.lab.nodes.clone(),
            }),
            false,
        );
    }

    fn step(&mut self, step: &Step, headline: &str) {
        self.step += 1;
        if step.file.is_some() && step.file != self.chapter_file {
            // A chapter's first step is its opening: the chapter's title, then its description.
            let title = step
                .say
                .as_deref()
                .and_then(|s| s.lines().next())
                .unwrap_or_default()
                .to_owned();
            let file = step.file.clone().unwrap_or_default();
            self.chapter_file = step.file.clone();
            self.chapter = Some(title.clone());
            self.push(
                Body::Chapter(Chapter {
                    title,
                    file: file.display().to_string(),
                }),
                true,
            );
        }
        self.push(
            Body::Step(StepStart {
                line: step.line,
                file: step.file.as_ref().map(|f| f.display().to_string()),
                at: step.at.clone(),
                say: step.say.clone(),
                headline: headline.to_owned(),
            }),
            true,
        );
    }

    fn event(&mut self, event: &Event, mine: bool) {
        let record = EventRecord::new(event.clone(), mine, self.lab.as_deref());
        self.push(Body::Event(record), true);
    }

    fn output(&mut self, text: &str) {
        self.push(
            Body::Output {
                text: text.to_owned(),
            },
            true,
        );
    }

    fn outcome(&mut self, _step: &Step, outcome: &Outcome) {
        self.push(
            Body::Outcome(StepOutcome {
                allowed: outcome.allowed(),
                status: outcome.status(),
                stage: outcome.stage(),
                verdict: outcome.verdict(),
                text: outcome.text().to_owned(),
                exit: outcome.exit(),
                explanation: outcome.explanation().map(str::to_owned),
                hint: outcome.hint().map(str::to_owned),
            }),
            true,
        );
    }

    fn check(&mut self, check: &Check) {
        let record = CheckRecord {
            what: check.what.clone(),
            expected: check.expected.clone(),
            actual: check.actual.clone(),
            passed: !check.failed(),
            skipped: check.skipped(),
            place: check.place(&self.scenario_file),
            text: check.describe(),
            why: check.why.clone(),
        };
        self.push(Body::Check(record), true);
    }
}

/// Two observers as one: the first is told first.
pub struct Tee<'a>(pub &'a mut dyn Observer, pub &'a mut dyn Observer);

impl Observer for Tee<'_> {
    fn opened(&mut self, scenario: &Scenario, office: &OfficeInfo) {
        self.0.opened(scenario, office);
        self.1.opened(scenario, office);
    }
    fn before_step(&mut self, step: &Step) {
        self.0.before_step(step);
        self.1.before_step(step);
    }
    fn step(&mut self, step: &Step, headline: &str) {
        self.0.step(step, headline);
        self.1.step(step, headline);
    }
    fn event(&mut self, event: &Event, mine: bool) {
        self.0.event(event, mine);
        self.1.event(event, mine);
    }
    fn output(&mut self, text: &str) {
        self.0.output(text);
        self.1.output(text);
    }
    fn outcome(&mut self, step: &Step, outcome: &Outcome) {
        self.0.outcome(step, outcome);
        self.1.outcome(step, outcome);
    }
    fn check(&mut self, check: &Check) {
        self.0.check(check);
        self.1.check(check);
    }
    fn stays_open(&mut self, office: &crate::run::OpenOffice) {
        self.0.stays_open(office);
        self.1.stays_open(office);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_str;

    #[test]
    fn steps_are_numbered_over_the_run_and_checks_carry_their_step() {
        let scenario = parse_str(
            std::path::Path::new("t.yaml"),
            "title: t\nsteps:\n  - say: hello\n  - say: again\n",
        )
        .unwrap();
        let mut tape = Tape::new();
        for step in &scenario.steps {
            tape.step(step, step.say.as_deref().unwrap_or_default());
        }
        tape.check(&Check::not_run(1, 3, "status", "no kubectl".into()));
        let steps: Vec<Option<u32>> = tape.records().iter().map(|r| r.step).collect();
        assert_eq!(steps, [Some(1), Some(2), Some(2)]);
        let seqs: Vec<u64> = tape.records().iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
        let json = tape.records()[2].to_json();
        assert!(json.contains(r#""type":"check""#), "{json}");
        assert!(
            json.contains(r#""text":"status: skipped (no kubectl)""#),
            "{json}"
        );
    }
}
