//! The presenter's pace on the page (`kubecorp run FILE --web --step`, or `--pace SECONDS`): the
//! run holds the story before each step and before what came of it, until a press (next ▶ or
//! → on the page, a key in the terminal), or for a few seconds hands-free. The page learns what
//! the run waits for from `pace` records in its stream; pressing on or changing the pace from
//! the page needs the token printed in the terminal, like the other trainer controls.
//!
//! The run's side waits in a plain blocking call ([`Pace::wait`]): the scenario runner calls its
//! observers in order, and what the page must not see yet (the outcome) is simply not recorded
//! until the wait is over.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::control::Token;
use crate::hub::Hub;

/// Where a paced run holds the story.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hold {
    /// Before a step: its narration and action are next.
    Step,
    /// After a step's action was shown: what came of it is next (the room predicts first).
    Reveal,
    /// The run is over and `--keep` holds the office open for questions: only the terminal
    /// closes it (a key there), never the page's next ▶ nor a hands-free pace.
    Open,
}

/// How the run goes on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// Only on a press.
    Presses,
    /// Hands-free: this long before each step, half of it before what came of one (a press
    /// still goes on at once).
    Every(Duration),
}

impl Mode {
    fn seconds(self) -> Option<f64> {
        match self {
            Mode::Presses => None,
            Mode::Every(d) => Some(d.as_secs_f64()),
        }
    }

    /// How long a hold lasts hands-free.
    fn lasts(self, hold: Hold) -> Option<Duration> {
        match (self, hold) {
            (Mode::Presses, _) | (_, Hold::Open) => None,
            (Mode::Every(d), Hold::Step) => Some(d),
            (Mode::Every(d), Hold::Reveal) => Some(d / 2),
        }
    }
}

/// The longest pace the page may set, as `--pace` allows.
pub const LONGEST: f64 = 3600.0;

/// What the page asks (`POST /api/pace`, with the token).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Go on: the next step, or what came of this one.
    Next,
    /// Play hands-free every `seconds`, or (`null`) only on a press.
    Pace { seconds: Option<f64> },
}

/// Why the page's request changed nothing.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "the run is not waiting now (it is in the middle of a step); press again when it holds"
    )]
    NotWaiting,
    #[error(
        "the run is over and the office stays open for questions: Enter in the terminal closes it"
    )]
    OpenForQuestions,
    #[error("a pace is a number of seconds between 0 and {LONGEST} (e.g. 3 or 1.5), got {0}")]
    BadPace(f64),
}

#[derive(Debug)]
struct State {
    mode: Mode,
    /// Since when the mode holds (a hands-free wait counts from the later of this and its start).
    since: Instant,
    waiting: Option<Hold>,
    /// Presses so far: a wait ends when this moves on.
    presses: u64,
    /// The presses when the current wait began: more than that, and it was pressed already
    /// (the run is about to go on).
    ticket: u64,
}

impl State {
    /// What the run waits for and nobody has pressed yet.
    fn unpressed(&self) -> Option<Hold> {
        self.waiting.filter(|_| self.presses == self.ticket)
    }
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    hub: Hub,
    token: Token,
}

/// The pace of one run, shared by the run, the page's door and the terminal. Clones share it.
#[derive(Clone, Debug)]
pub struct Pace(Arc<Shared>);

impl Pace {
    /// A pace that tells `hub` what it waits for; `token` lets the page change it.
    pub fn new(hub: Hub, mode: Mode, token: Token) -> Pace {
        Pace(Arc::new(Shared {
            state: Mutex::new(State {
                mode,
                since: Instant::now(),
                waiting: None,
                presses: 0,
                ticket: 0,
            }),
            changed: Condvar::new(),
            hub,
            token,
        }))
    }

    /// The token a change from the page must carry.
    pub fn token(&self) -> &Token {
        &self.0.token
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every change is whole before the lock is let go.
        self.0.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells the page where the pace stands (under the state's lock, so records keep its order).
    fn tell(&self, state: &State) {
        self.0
            .hub
            .push_json(|seq| record(seq, state.waiting, state.mode));
    }

    /// Holds the run at `hold` until a press, or hands-free until its time is up. Blocking: call
    /// it off the async threads (`tokio::task::block_in_place`).
    pub fn wait(&self, hold: Hold) {
        let mut state = self.state();
        let ticket = state.presses;
        let started = Instant::now();
        state.waiting = Some(hold);
        state.ticket = ticket;
        self.tell(&state);
        // Wakes whoever waits for the run to wait (the terminal's key reader).
        self.0.changed.notify_all();
        while state.presses == ticket {
            state = match state.mode.lasts(hold) {
                None => self
                    .0
                    .changed
                    .wait(state)
                    .unwrap_or_else(|p| p.into_inner()),
                Some(lasts) => {
                    let until = started.max(state.since) + lasts;
                    let Some(left) = until.checked_duration_since(Instant::now()) else {
                        break;
                    };
                    self.0
                        .changed
                        .wait_timeout(state, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
        state.waiting = None;
        self.tell(&state);
    }

    /// How the run goes on now.
    pub fn mode(&self) -> Mode {
        self.state().mode
    }

    /// What the run waits for now, if anything.
    pub fn waiting(&self) -> Option<Hold> {
        self.state().waiting
    }

    /// Blocks until the run waits for a press it has not had yet (the terminal's key reader
    /// reads a key only then: a second key typed before the run went on belongs to the next
    /// hold, not to this one again).
    pub fn until_waiting(&self) -> Hold {
        let mut state = self.state();
        loop {
            if let Some(hold) = state.unpressed() {
                return hold;
            }
            state = self
                .0
                .changed
                .wait(state)
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// A press from the page: the run goes on, if it is waiting (the open office at the end is
    /// the terminal's to close).
    pub fn press(&self) -> Result<Hold, Refusal> {
        self.press_as(false)
    }

    /// A key in the terminal: the run goes on, if it is waiting; at the end, the office closes.
    pub fn press_key(&self) -> Result<Hold, Refusal> {
        self.press_as(true)
    }

    /// One press, judged and counted under one lock.
    fn press_as(&self, terminal: bool) -> Result<Hold, Refusal> {
        let mut state = self.state();
        let hold = match state.waiting {
            None => return Err(Refusal::NotWaiting),
            Some(Hold::Open) if !terminal => return Err(Refusal::OpenForQuestions),
            Some(hold) => hold,
        };
        state.presses += 1;
        self.0.changed.notify_all();
        Ok(hold)
    }

    /// Plays hands-free from now, or only on presses.
    pub fn set(&self, mode: Mode) {
        let mut state = self.state();
        state.mode = mode;
        state.since = Instant::now();
        self.tell(&state);
        self.0.changed.notify_all();
    }

    /// Carries out what the page asked: what to tell it.
    pub fn answer(&self, request: &Request) -> Result<String, Refusal> {
        match *request {
            Request::Next => self.press().map(|hold| match hold {
                Hold::Step => "the next step".to_owned(),
                Hold::Reveal => "what came of it".to_owned(),
                // press() refuses it: the page cannot close the office.
                Hold::Open => "the office closes".to_owned(),
            }),
            Request::Pace { seconds: None } => {
                self.set(Mode::Presses);
                Ok("the run goes on at each press of next ▶".to_owned())
            }
            Request::Pace {
                seconds: Some(seconds),
            } => {
                if !(seconds > 0.0 && seconds <= LONGEST) {
                    return Err(Refusal::BadPace(seconds));
                }
                self.set(Mode::Every(Duration::from_secs_f64(seconds)));
                Ok(format!("the run plays hands-free, {seconds} s a step"))
            }
        }
    }

    /// Where the pace stands, for `/api/info`.
    pub fn info(&self) -> serde_json::Value {
        let state = self.state();
        serde_json::json!({"seconds": state.mode.seconds(), "waiting": state.waiting})
    }
}

/// A `pace` record of schema `kubecorp/v1`, fields in the envelope's order.
#[derive(Serialize)]
struct PaceLine {
    schema: &'static str,
    seq: u64,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    waiting: Option<Hold>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seconds: Option<f64>,
}

fn record(seq: u64, waiting: Option<Hold>, mode: Mode) -> String {
    let line = PaceLine {
        schema: kubecorp_trust::record::SCHEMA,
        seq,
        kind: "pace",
        waiting,
        seconds: mode.seconds(),
    };
    // Names, numbers and a word: this cannot fail.
    serde_json::to_string(&line).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pace(mode: Mode) -> (Pace, Hub) {
        let hub = Hub::new();
        (Pace::new(hub.clone(), mode, Token::random().unwrap()), hub)
    }

    fn told(hub: &Hub) -> Vec<String> {
        hub.since(0).0.iter().map(|l| l.json.to_string()).collect()
    }

    #[test]
    fn a_press_ends_the_wait_and_the_page_is_told_what_was_waited_for() {
        let (pace, hub) = pace(Mode::Presses);
        assert_eq!(pace.press(), Err(Refusal::NotWaiting));
        let run = {
            let pace = pace.clone();
            std::thread::spawn(move || pace.wait(Hold::Reveal))
        };
        assert_eq!(pace.until_waiting(), Hold::Reveal);
        assert_eq!(
            pace.answer(&Request::Next),
            Ok("what came of it".to_owned())
        );
        run.join().unwrap();
        assert_eq!(pace.waiting(), None);
        assert_eq!(
            told(&hub),
            [
                r#"{"schema":"kubecorp/v1","seq":1,"type":"pace","waiting":"reveal"}"#,
                r#"{"schema":"kubecorp/v1","seq":2,"type":"pace"}"#,
            ]
        );
    }

    #[test]
    fn hands_free_a_wait_ends_by_itself_and_the_page_can_change_the_pace() {
        let (pace, hub) = pace(Mode::Every(Duration::from_millis(20)));
        let started = Instant::now();
        pace.wait(Hold::Step);
        assert!(started.elapsed() >= Duration::from_millis(20));
        // Only presses from now: a wait under way holds until one comes.
        let run = {
            let pace = pace.clone();
            std::thread::spawn(move || pace.wait(Hold::Step))
        };
        pace.until_waiting();
        pace.answer(&Request::Pace { seconds: None }).unwrap();
        assert_eq!(pace.waiting(), Some(Hold::Step));
        pace.press().unwrap();
        run.join().unwrap();
        assert_eq!(
            pace.answer(&Request::Pace { seconds: Some(0.0) }),
            Err(Refusal::BadPace(0.0))
        );
        let told = told(&hub).join("\n");
        assert!(
            told.contains(r#""type":"pace","waiting":"step","seconds":0.02}"#),
            "{told}"
        );
        assert!(
            told.contains(r#""type":"pace","waiting":"step"}"#),
            "{told}"
        );
    }

    #[test]
    fn the_pages_requests_read_as_json() {
        let next: Request = serde_json::from_str(r#"{"action":"next"}"#).unwrap();
        assert_eq!(next, Request::Next);
        let every: Request = serde_json::from_str(r#"{"action":"pace","seconds":2.5}"#).unwrap();
        assert_eq!(every, Request::Pace { seconds: Some(2.5) });
        let presses: Request = serde_json::from_str(r#"{"action":"pace","seconds":null}"#).unwrap();
        assert_eq!(presses, Request::Pace { seconds: None });
        assert!(serde_json::from_str::<Request>(r#"{"action":"break"}"#).is_err());
    }

    #[test]
    fn the_open_office_at_the_end_is_closed_by_a_key_in_the_terminal_not_by_the_page_nor_the_pace()
    {
        let (pace, hub) = pace(Mode::Every(Duration::from_millis(5)));
        let run = {
            let pace = pace.clone();
            std::thread::spawn(move || pace.wait(Hold::Open))
        };
        assert_eq!(pace.until_waiting(), Hold::Open);
        // Hands-free would have gone on by now; the office is still open.
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(pace.waiting(), Some(Hold::Open));
        assert_eq!(pace.answer(&Request::Next), Err(Refusal::OpenForQuestions));
        assert_eq!(pace.waiting(), Some(Hold::Open));
        assert_eq!(pace.press_key(), Ok(Hold::Open));
        run.join().unwrap();
        assert!(told(&hub).join("\n").contains(r#""waiting":"open""#));
    }

    #[test]
    fn a_hold_already_pressed_is_not_waited_for_again_before_the_run_goes_on() {
        let (pace, _hub) = pace(Mode::Presses);
        {
            // The run holds at a step and has not woken from a press yet.
            let mut state = pace.state();
            state.waiting = Some(Hold::Step);
            state.ticket = state.presses;
        }
        assert_eq!(pace.state().unpressed(), Some(Hold::Step));
        assert_eq!(pace.press_key(), Ok(Hold::Step));
        assert_eq!(pace.waiting(), Some(Hold::Step));
        assert_eq!(
            pace.state().unpressed(),
            None,
            "a second key would press it again"
        );
    }
}
