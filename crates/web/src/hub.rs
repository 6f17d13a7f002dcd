//! The hub: the recorded stream as the page receives it, each record serialized once (an event
//! in brief), with a bounded history so a page that reloads (or reconnects with
//! `Last-Event-ID`) loses nothing still remembered, and an event's whole record can be fetched
//! when the page opens it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use kubecorp_trust::record::{Body, Record};
use tokio::sync::broadcast;

use crate::brief::Brief;

/// How many records the hub remembers unless told otherwise.
pub const DEFAULT_HISTORY: usize = 5_000;

/// How many events a step's own visitor caused are kept whole after the history forgot them: a
/// class that steps back through a run (held for an hour at `--step`, or kept open with
/// `--keep` while the staff go on working) can still open them.
pub const OWN_KEPT: usize = 10_000;

/// How far a live page may fall behind before it reads the rest from the history.
const CHANNEL_CAPACITY: usize = 4_096;

/// One record, ready to send: its number and its JSON as the stream carries it.
#[derive(Clone, Debug)]
pub struct Line {
    pub seq: u64,
    /// The stream's form: an event in brief ([`Brief`]), any other record whole.
    pub json: Arc<str>,
    /// The whole record, when `json` is a brief: serialized only if the page asks for it.
    whole: Option<Arc<Record>>,
}

impl Line {
    /// The whole record's JSON.
    pub fn whole(&self) -> String {
        match &self.whole {
            Some(record) => record.to_json(),
            None => self.json.to_string(),
        }
    }
}

#[derive(Debug)]
struct State {
    last: u64,
    history: VecDeque<Line>,
    /// Whole records of the step's own events the history let go, oldest first.
    own: VecDeque<(u64, Arc<Record>)>,
}

/// The stream the page reads. Clones share one hub.
#[derive(Clone, Debug)]
pub struct Hub {
    state: Arc<Mutex<State>>,
    sender: broadcast::Sender<Line>,
    keep: usize,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

impl Hub {
    pub fn new() -> Hub {
        Hub::with_history(DEFAULT_HISTORY)
    }

    /// A hub remembering the last `keep` records (at least one).
    pub fn with_history(keep: usize) -> Hub {
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        Hub {
            state: Arc::new(Mutex::new(State {
                last: 0,
                history: VecDeque::new(),
                own: VecDeque::new(),
            })),
            sender,
            keep: keep.max(1),
        }
    }

    /// Numbers `body` after the last record and sends it.
    pub fn push(&self, body: Body) -> u64 {
        let mut state = self.state();
        let record = Record::new(state.last + 1, body);
        let seq = record.seq;
        self.send(&mut state, record);
        seq
    }

    /// Sends a record numbered elsewhere (a run's tape); a number not after the last one is
    /// renumbered, so the page's order stays the order of arrival.
    pub fn push_record(&self, record: &Record) {
        let mut state = self.state();
        let mut record = record.clone();
        if record.seq <= state.last {
            record.seq = state.last + 1;
        }
        self.send(&mut state, record);
    }

    /// Sends a record the page alone reads (not a [`Body`] of a run's tape): `make` builds it
    /// for its number.
    pub fn push_json(&self, make: impl FnOnce(u64) -> String) -> u64 {
        let mut state = self.state();
        let seq = state.last + 1;
        self.send_line(
            &mut state,
            Line {
                seq,
                json: make(seq).into(),
                whole: None,
            },
        );
        seq
    }

    fn send(&self, state: &mut State, record: Record) {
        let line = match Brief::of(&record) {
            Some(brief) => Line {
                seq: record.seq,
                json: brief.to_json().into(),
                whole: Some(Arc::new(record)),
            },
            None => Line {
                seq: record.seq,
                json: record.to_json().into(),
                whole: None,
            },
        };
        self.send_line(state, line);
    }

    fn send_line(&self, state: &mut State, line: Line) {
        state.last = line.seq;
        if state.history.len() == self.keep {
            if let Some(Line {
                seq,
                whole: Some(record),
                ..
            }) = state.history.pop_front()
            {
                if matches!(&record.body, Body::Event(e) if e.mine) {
                    if state.own.len() == OWN_KEPT {
                        state.own.pop_front();
                    }
                    state.own.push_back((seq, record));
                }
            }
        }
        state.history.push_back(line.clone());
        // Sent under the lock: a reader's history and its live feed never overlap or gap.
        let _ = self.sender.send(line);
    }

    /// The remembered records after `after`, and a live feed of the ones still to come.
    pub fn since(&self, after: u64) -> (Vec<Line>, broadcast::Receiver<Line>) {
        let state = self.state();
        let rx = self.sender.subscribe();
        let past = state
            .history
            .iter()
            .filter(|l| l.seq > after)
            .cloned()
            .collect();
        (past, rx)
    }

    /// The record numbered `seq`, whole, while the history still holds it (or, for an event
    /// the step's own visitor caused, while it is among the last [`OWN_KEPT`] of those).
    pub fn whole(&self, seq: u64) -> Option<String> {
        let line = {
            let state = self.state();
            // Numbers only grow along the history and along the kept events.
            match state.history.binary_search_by_key(&seq, |l| l.seq) {
                Ok(i) => state.history[i].clone(),
                Err(_) => {
                    let i = state.own.binary_search_by_key(&seq, |(s, _)| *s).ok()?;
                    return Some(state.own[i].1.to_json());
                }
            }
        };
        Some(line.whole())
    }

    /// How many records the history holds at most.
    pub fn keeps(&self) -> usize {
        self.keep
    }

    /// The number of the last record.
    pub fn last(&self) -> u64 {
        self.state().last
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every change is whole before the lock is let go.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(n: usize) -> Body {
        Body::Output {
            text: format!("line {n}"),
        }
    }

    #[test]
    fn a_reader_resuming_after_a_number_gets_only_what_came_after_it() {
        let hub = Hub::with_history(10);
        for n in 1..=4 {
            hub.push(output(n));
        }
        let (past, mut live) = hub.since(2);
        let seqs: Vec<u64> = past.iter().map(|l| l.seq).collect();
        assert_eq!(seqs, [3, 4]);
        hub.push(output(5));
        let next = live.try_recv().unwrap();
        assert_eq!(next.seq, 5);
        assert!(next.json.contains(r#""text":"line 5""#), "{}", next.json);
    }

    #[test]
    fn the_history_is_bounded() {
        let hub = Hub::with_history(3);
        for n in 1..=10 {
            hub.push(output(n));
        }
        let (past, _) = hub.since(0);
        let seqs: Vec<u64> = past.iter().map(|l| l.seq).collect();
        assert_eq!(seqs, [8, 9, 10]);
    }

    fn refusal() -> Body {
        let at = time::macros::datetime!(2026-04-24 10:14:23 UTC);
        let event =
            kubecorp_trust::Event::new(at, "127.0.0.1:5000", "etcd", kubecorp_trust::Stage::Tls)
                .client_text("remote error: tls: unknown certificate authority")
                .explanation("Charlie does not know the CA that signed this badge.")
                .hint("use the etcd-ca's badge");
        Body::Event(kubecorp_trust::record::EventRecord::new(event, false, None))
    }

    #[test]
    fn an_event_goes_out_in_brief_and_its_whole_record_is_kept_for_the_details() {
        let hub = Hub::with_history(2);
        hub.push(output(1));
        let seq = hub.push(refusal());
        let (past, _) = hub.since(1);
        let sent = &past[0].json;
        assert!(sent.contains(r#""brief":true"#), "{sent}");
        assert!(
            sent.contains(r#""text":"remote error: tls: unknown certificate authority""#),
            "{sent}"
        );
        assert!(!sent.contains("Charlie does not know"), "{sent}");
        let whole = hub.whole(seq).expect("still remembered");
        let record: Record = serde_json::from_str(&whole).unwrap();
        assert_eq!(record.seq, seq);
        let Body::Event(event) = record.body else {
            panic!("{whole}")
        };
        assert_eq!(
            event.event.explanation.as_deref(),
            Some("Charlie does not know the CA that signed this badge.")
        );
        assert_eq!(event.event.hint.as_deref(), Some("use the etcd-ca's badge"));
        // Other records go out whole, and are the same when fetched.
        assert_eq!(hub.whole(1).as_deref(), Some(&*hub.since(0).0[0].json));
        // Forgotten with the history.
        hub.push(output(3));
        hub.push(output(4));
        assert_eq!(hub.whole(seq), None);
        assert_eq!(hub.whole(99), None);
    }

    #[test]
    fn an_event_the_steps_visitor_caused_can_be_opened_after_the_history_forgot_it() {
        let hub = Hub::with_history(2);
        let own = |mine: bool| {
            let Body::Event(mut event) = refusal() else {
                unreachable!()
            };
            event.mine = mine;
            Record::new(0, Body::Event(event))
        };
        hub.push_record(&own(true));
        hub.push_record(&own(false));
        for n in 3..=6 {
            hub.push(output(n));
        }
        let (past, _) = hub.since(0);
        assert_eq!(past.iter().map(|l| l.seq).collect::<Vec<_>>(), [5, 6]);
        let whole = hub.whole(1).expect("the step's own event is kept");
        assert!(whole.contains("Charlie does not know the CA"), "{whole}");
        assert!(whole.contains(r#""mine":true"#), "{whole}");
        assert_eq!(
            hub.whole(2),
            None,
            "a background event goes with the history"
        );
        assert_eq!(hub.whole(3), None);
    }

    #[test]
    fn a_record_numbered_elsewhere_keeps_its_number_unless_it_would_go_back() {
        let hub = Hub::new();
        hub.push_record(&Record::new(7, output(1)));
        hub.push_record(&Record::new(3, output(2)));
        let (past, _) = hub.since(0);
        let seqs: Vec<u64> = past.iter().map(|l| l.seq).collect();
        assert_eq!(seqs, [7, 8]);
    }
}
