//! A standing lab clock next to real tools: the scenario's time of day, on the machine's date.
//!
//! A scenario's `lab.clock` makes the texts it asserts exact: every guard in the lab reads that
//! clock. But curl, openssl and kubectl in `run:` steps check the lab's badges against the
//! machine's own clock, and kubectl (a static Go binary) cannot be given another one. Badges
//! made on the scenario's date would expire for them a year later and the scenario would fail
//! from that day on. So when a scenario with a fixed clock has `run:` steps, every absolute time
//! in it (`lab.clock`, `clock: {set: …}`) moves by the same whole number of days: the lab clock
//! starts at the scenario's time of day, the latest one at or before the machine's now. The
//! badges are then made around the machine's now, whatever the date; times of day and the time
//! between steps are unchanged, so `advance: 25h` still expires a one-day badge.

use time::{Duration, OffsetDateTime};

use crate::model::{Action, Scenario};

/// How far a scenario's absolute times move for this run, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Anchor {
    /// Whole days added to `lab.clock` and to every `clock: {set: …}`.
    pub shift: Duration,
}

impl Anchor {
    /// No move: a scenario on real time, or without real tools.
    pub const NONE: Anchor = Anchor {
        shift: Duration::ZERO,
    };

    /// The move for `scenario` when the machine's clock reads `machine_now`.
    pub fn for_scenario(scenario: &Scenario, machine_now: OffsetDateTime) -> Anchor {
        let Some(start) = scenario.lab.clock else {
            return Anchor::NONE;
        };
        if !uses_real_tools(scenario) {
            return Anchor::NONE;
        }
        Anchor {
            shift: days_back_to(start, machine_now),
        }
    }

    /// `at`, moved.
    pub fn apply(&self, at: OffsetDateTime) -> OffsetDateTime {
        at.checked_add(self.shift).unwrap_or(at)
    }

    /// What the room is told when the clock moved.
    pub fn note(&self, start: OffsetDateTime) -> Option<String> {
        if self.shift.is_zero() {
            return None;
        }
        let go_time = kubecorp_trust::go_time;
        Some(format!(
            "the lab clock starts at {} rather than {}: the scenario's time of day on the machine's date, because its run: steps use real tools, which check badges against the machine's clock (every other time moves with it)",
            go_time(self.apply(start)),
            go_time(start)
        ))
    }
}

/// Whether any step runs an outside command (kubectl, curl, openssl, etcdctl, …).
fn uses_real_tools(scenario: &Scenario) -> bool {
    scenario
        .steps
        .iter()
        .any(|s| matches!(s.action, Action::Run(_)))
}

/// The whole days that take `start` to the latest instant at or before `now` with the same time
/// of day.
fn days_back_to(start: OffsetDateTime, now: OffsetDateTime) -> Duration {
    let days = (now - start).whole_seconds().div_euclid(86_400);
    Duration::days(days)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn scenario(text: &str) -> Scenario {
        crate::parse_str(std::path::Path::new("t.yaml"), text).unwrap()
    }

    const WITH_TOOLS: &str = "title: t\nlab: {clock: 2026-04-24T09:00:00Z, staff: none}\nsteps:\n  - run: curl --version\n  - clock: {set: 2026-04-25T10:00:00Z}\n";

    #[test]
    fn a_scenario_with_real_tools_keeps_its_time_of_day_on_the_machines_date() {
        let s = scenario(WITH_TOOLS);
        let start = s.lab.clock.unwrap();
        for (now, expected) in [
            // Two years on, after nine: today at nine.
            (
                datetime!(2028-12-02 13:03:11 UTC),
                datetime!(2028-12-02 09:00:00 UTC),
            ),
            // Before nine: yesterday at nine, so no badge starts after the machine's now.
            (
                datetime!(2028-12-02 08:59:59 UTC),
                datetime!(2028-12-01 09:00:00 UTC),
            ),
            // A machine clock before the scenario's date moves it back.
            (
                datetime!(2020-01-01 09:00:00 UTC),
                datetime!(2020-01-01 09:00:00 UTC),
            ),
        ] {
            let anchor = Anchor::for_scenario(&s, now);
            assert_eq!(anchor.apply(start), expected, "at {now}");
        }
        let anchor = Anchor::for_scenario(&s, datetime!(2028-12-02 13:03:11 UTC));
        // A later `clock: {set: …}` keeps its distance from the start.
        assert_eq!(
            anchor.apply(datetime!(2026-04-25 10:00:00 UTC)),
            datetime!(2028-12-03 10:00:00 UTC)
        );
        assert_eq!(
            anchor.note(start).unwrap(),
            "the lab clock starts at 2028-12-02T09:00:00Z rather than 2026-04-24T09:00:00Z: the scenario's time of day on the machine's date, because its run: steps use real tools, which check badges against the machine's clock (every other time moves with it)"
        );
    }

    #[test]
    fn a_scenario_without_real_tools_or_on_real_time_keeps_its_clock() {
        let now = datetime!(2028-12-02 13:03:11 UTC);
        let no_tools =
            scenario("title: t\nlab: {clock: 2026-04-24T09:00:00Z}\nsteps:\n  - say: hello\n");
        assert_eq!(Anchor::for_scenario(&no_tools, now), Anchor::NONE);
        let real_time = scenario("title: t\nsteps:\n  - run: curl --version\n");
        assert_eq!(Anchor::for_scenario(&real_time, now), Anchor::NONE);
        assert_eq!(Anchor::NONE.note(datetime!(2026-04-24 09:00:00 UTC)), None);
    }
}
