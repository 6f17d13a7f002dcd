//! A `wait` step: until a member of staff has done their part (a pod bound, Running, a node
//! Ready, endpoints filled, any field set) or an event has been seen, within the step's timeout.
//!
//! Object conditions are read as admin between events; an event wait wakes the moment an event
//! arrives on the stream.

use std::time::Instant;

use kubecorp_trust::Event;
use serde_json::Value;

use super::events::awaited;
use super::{Runner, StepError};
use crate::expect::{Answer, Outcome};
use crate::model::{format_duration, Wait, WaitFor};

/// How often an object condition is read again while nothing else happens.
const POLL: std::time::Duration = std::time::Duration::from_millis(5);

/// A test on an object read from the API.
type Predicate = Box<dyn Fn(&Value) -> bool + Send + Sync>;

impl Runner<'_> {
    /// Waits until the condition holds or the time is up; returns what came to pass, the events
    /// seen meanwhile (new ones only, for the narration) and, for an event wait that was met, the
    /// events that came after the one awaited (the next wait may be for one of them).
    pub(super) async fn wait(&mut self, wait: &Wait) -> Result<Waited, StepError> {
        let admin = self.admin()?;
        let limit = std::time::Duration::try_from(wait.timeout)
            .unwrap_or(std::time::Duration::from_secs(10));
        let deadline = Instant::now()
            .checked_add(limit)
            .unwrap_or_else(|| Instant::now() + std::time::Duration::from_secs(86_400));
        let mut last = String::new();
        // An event that already happened (since the previous wait for an event) counts.
        let earlier = match wait.condition {
            WaitFor::Event { .. } => std::mem::take(&mut self.recent),
            _ => Vec::new(),
        };
        let object = object_condition(&wait.condition);
        let mut seen: Vec<Event> = self.drain();
        loop {
            let mut after = Vec::new();
            let done = match &object {
                None => {
                    let hit = first_awaited(&wait.condition, &earlier, &seen);
                    if let Some((e, rest)) = &hit {
                        last = format!(
                            "{} → {} {}",
                            e.from,
                            e.to,
                            e.detail.clone().unwrap_or_default()
                        );
                        after = rest.clone();
                    }
                    hit.is_some()
                }
                Some((path, ok)) => match admin.get(path).await {
                    Ok(v) => {
                        last = summarize_state(&v);
                        ok(&v)
                    }
                    Err(e) => {
                        last = e.kubectl_text();
                        false
                    }
                },
            };
            if done {
                let outcome = Outcome::Answered(Answer {
                    text: last,
                    ..Answer::default()
                });
                return Ok(Waited {
                    outcome,
                    seen,
                    after,
                });
            }
            if Instant::now() >= deadline {
                let outcome = Outcome::TimedOut {
                    text: format!(
                        "still not done after {}: {}",
                        format_duration(wait.timeout),
                        if last.is_empty() {
                            "nothing seen"
                        } else {
                            &last
                        }
                    ),
                };
                return Ok(Waited {
                    outcome,
                    seen,
                    after: Vec::new(),
                });
            }
            let more = match object {
                // An event wait wakes with the next event.
                None => self.next_events(deadline).await,
                // An object is read again after a short while, or the deadline.
                Some(_) => self.events_until(deadline.min(Instant::now() + POLL)).await,
            };
            seen.extend(more);
        }
    }
}

/// The first event (of those from before the wait, then those during it) that the condition
/// awaits, and every event after it.
fn first_awaited<'e>(
    condition: &WaitFor,
    earlier: &'e [Event],
    seen: &'e [Event],
) -> Option<(&'e Event, Vec<Event>)> {
    let all: Vec<&Event> = earlier.iter().chain(seen).collect();
    let i = all.iter().position(|e| awaited(condition, e))?;
    Some((all[i], all[i + 1..].iter().map(|e| (*e).clone()).collect()))
}

/// What a wait came to.
pub(super) struct Waited {
    pub outcome: Outcome,
    /// Events new since the wait began, for the narration and the step's checks.
    pub seen: Vec<Event>,
    /// Events after the one awaited: still unused by any wait.
    pub after: Vec<Event>,
}

/// Where to read an object condition, and when it holds (`None` for an event wait).
fn object_condition(condition: &WaitFor) -> Option<(String, Predicate)> {
    Some(match condition {
        WaitFor::PodBound { namespace, name } => (
            format!("/api/v1/namespaces/{namespace}/pods/{name}"),
            Box::new(|v: &Value| {
                v["spec"]["nodeName"]
                    .as_str()
                    .is_some_and(|n| !n.is_empty())
            }),
        ),
        WaitFor::PodRunning { namespace, name } => (
            format!("/api/v1/namespaces/{namespace}/pods/{name}"),
            Box::new(|v: &Value| v["status"]["phase"] == "Running"),
        ),
        WaitFor::NodeReady { name } => (
            format!("/api/v1/nodes/{name}"),
            Box::new(|v: &Value| {
                v["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
            }),
        ),
        WaitFor::Endpoints { namespace, name } => (
            format!("/api/v1/namespaces/{namespace}/endpoints/{name}"),
            Box::new(|v: &Value| {
                v["subsets"].as_array().is_some_and(|s| {
                    s.iter()
                        .any(|s| s["addresses"].as_array().is_some_and(|a| !a.is_empty()))
                })
            }),
        ),
        WaitFor::Field {
            path,
            field,
            equals,
        } => {
            let field = field.clone();
            let equals = equals.clone();
            (
                path.clone(),
                Box::new(move |v: &Value| {
                    let got = field.split('.').fold(v, |v, k| &v[k]);
                    match &equals {
                        Some(want) => {
                            got == want || got.as_str().is_some_and(|s| Some(s) == want.as_str())
                        }
                        None => !got.is_null(),
                    }
                }),
            )
        }
        WaitFor::Event { .. } => return None,
    })
}

fn summarize_state(value: &Value) -> String {
    let name = value["metadata"]["name"].as_str().unwrap_or("?");
    let phase = value["status"]["phase"].as_str();
    let node = value["spec"]["nodeName"].as_str();
    let mut out = name.to_owned();
    if let Some(n) = node {
        out += &format!(" on {n}");
    }
    if let Some(p) = phase {
        out += &format!(" ({p})");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubecorp_trust::Stage;

    fn event_wait(to: &str, contains: &str) -> WaitFor {
        WaitFor::Event {
            from: None,
            to: Some(to.into()),
            allowed: None,
            contains: Some(contains.into()),
        }
    }

    #[test]
    fn an_event_that_came_in_the_same_moment_as_the_awaited_one_is_left_for_the_next_wait() {
        // Under load, metrics-server's refusal and the aggregator's status change arrive together.
        let at = time::OffsetDateTime::UNIX_EPOCH;
        let refused = Event::new(at, "apiserver", "metrics-server", Stage::Authn)
            .allowed(false)
            .server_log("x509: certificate has expired or is not yet valid: current time ");
        let unavailable = Event::new(at, "apiserver", "metrics-server", Stage::Request)
            .detail("APIService v1beta1.metrics.k8s.io Available=False (FailedDiscoveryCheck)");
        let seen = [refused.clone(), unavailable.clone()];

        let first = event_wait("metrics-server", "certificate has expired");
        let (hit, after) = first_awaited(&first, &[], &seen).expect("the refusal is awaited");
        assert_eq!(hit, &refused);
        assert_eq!(after, vec![unavailable.clone()]);

        let next = event_wait("metrics-server", "Available=False (FailedDiscoveryCheck)");
        let (hit, after) = first_awaited(&next, &after, &[]).expect("still there for the next");
        assert_eq!(hit, &unavailable);
        assert!(after.is_empty());
    }
}
