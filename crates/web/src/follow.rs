//! Feeding a running office into the hub: every event of its stream, and the lab clock whenever
//! it moves by other means than time passing (and every half minute, so a page can check).

use std::future::Future;
use std::time::{Duration, Instant};

use kubecorp_trust::record::{Body, EventRecord};
use kubecorp_trust::{Events, LabClock};
use tokio::sync::broadcast::error::RecvError;

use crate::hub::Hub;

/// How often the clock is read.
const CLOCK_TICK: Duration = Duration::from_secs(1);
/// A clock record at least this often.
const CLOCK_EVERY: Duration = Duration::from_secs(30);

/// The lab clock as a record.
pub fn clock_body(clock: &LabClock) -> Body {
    Body::Clock {
        now: clock.now(),
        running: !clock.is_fixed(),
    }
}

/// Forwards `events` and `clock` into `hub` until `shutdown`. `lab` (the lab directory) names
/// the CA files in the commands that confirm a refusal.
pub async fn follow(
    hub: Hub,
    events: Events,
    clock: LabClock,
    lab: Option<String>,
    shutdown: impl Future<Output = ()>,
) {
    let mut feed = events.subscribe();
    tokio::pin!(shutdown);
    hub.push(clock_body(&clock));
    let mut said = (Instant::now(), clock.now());
    let mut tick = tokio::time::interval(CLOCK_TICK);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            event = feed.recv() => match event {
                Ok(event) => {
                    hub.push(Body::Event(EventRecord::new(event, false, lab.as_deref())));
                }
                Err(RecvError::Lagged(n)) => {
                    hub.push(Body::Output {
                        text: format!("({n} events went by too fast for the page and are not shown)"),
                    });
                }
                Err(RecvError::Closed) => break,
            },
            _ = tick.tick() => {
                let now = clock.now();
                let passed = time::Duration::try_from(said.0.elapsed()).unwrap_or_default();
                let expected = match clock.is_fixed() {
                    true => said.1,
                    false => said.1.checked_add(passed).unwrap_or(said.1),
                };
                let moved = (now - expected).abs() > time::Duration::SECOND;
                if moved || said.0.elapsed() >= CLOCK_EVERY {
                    hub.push(clock_body(&clock));
                    said = (Instant::now(), now);
                }
            }
        }
    }
}
