//! Trainer controls (`--web-control`): the faults and repairs of `kubecorp break`, `--undo` and
//! `certs renew`, and moving the lab clock, from the page at the projector.
//!
//! Like a Jupyter server, the page changes nothing without a random token that was printed in
//! the terminal and travels in the page's URL: another tab, another user on the machine or a
//! web site the trainer visits can read nothing it could not already, and change nothing.

use kubecorp_pki::Lab;
use kubecorp_trust::LabClock;
use serde::Deserialize;

/// The secret a changing request must carry.
#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

/// Why no token could be made.
#[derive(Debug, thiserror::Error)]
#[error("the system's random source failed; no control token can be made")]
pub struct NoRandom;

impl Token {
    /// 128 random bits, in hex.
    pub fn random() -> Result<Token, NoRandom> {
        let mut bytes = [0u8; 16];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| NoRandom)?;
        Ok(Token(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// The token as printed in the terminal and carried in the URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `given` is this token, compared in constant time.
    pub fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// What the page may change, and with which token.
#[derive(Clone, Debug)]
pub struct Control {
    pub token: Token,
    pub lab: Lab,
    pub clock: LabClock,
}

/// One trainer action, as the page sends it (`{"action": "break", "fault": …, "target": …}`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// `kubecorp break FAULT TARGET`.
    Break { fault: String, target: String },
    /// `kubecorp break --undo TARGET`.
    Undo { target: String },
    /// `kubecorp certs renew TARGET`.
    Renew { target: String },
    /// Move the lab clock by this many seconds (negative goes back).
    Clock { advance_seconds: i64 },
}

impl Action {
    /// The same thing as a command line.
    pub fn command(&self) -> String {
        match self {
            Action::Break { fault, target } => format!("kubecorp break {fault} {target}"),
            Action::Undo { target } => format!("kubecorp break --undo {target}"),
            Action::Renew { target } => format!("kubecorp certs renew {target}"),
            Action::Clock { advance_seconds } => {
                format!("move the lab clock by {advance_seconds:+} s")
            }
        }
    }

    /// Carries it out on the lab at the lab clock's time: what it printed, or why it could not.
    pub fn perform(&self, control: &Control) -> Result<String, String> {
        let now = control.clock.now();
        let lab = &control.lab;
        match self {
            Action::Break { fault, target } => fault
                .parse()
                .and_then(|fault| kubecorp_pki::fault::inflict(lab, fault, target, now))
                .map_err(|e| e.to_string()),
            Action::Undo { target } => {
                kubecorp_pki::fault::undo(lab, target).map_err(|e| e.to_string())
            }
            Action::Renew { target } => {
                let renewed =
                    kubecorp_pki::renew::renew(lab, target, now).map_err(|e| e.to_string())?;
                let mut lines: Vec<String> = Vec::new();
                for r in renewed {
                    lines.extend(r.warning);
                    lines.push(r.line);
                }
                lines.push(kubecorp_pki::renew::DONE.to_owned());
                Ok(lines.join("\n"))
            }
            Action::Clock { advance_seconds } => {
                let by = time::Duration::seconds(*advance_seconds);
                control.clock.advance(by);
                Ok(format!(
                    "the lab clock now reads {}",
                    kubecorp_trust::go_time(control.clock.now())
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_matches_only_itself() {
        let token = Token::random().unwrap();
        assert_eq!(token.as_str().len(), 32);
        assert!(token.matches(token.as_str()));
        assert!(!token.matches(""));
        assert!(!token.matches(&"0".repeat(32)));
        assert_ne!(token.as_str(), Token::random().unwrap().as_str());
    }

    #[test]
    fn an_action_reads_as_the_command_a_learner_would_type() {
        let action: Action = serde_json::from_str(
            r#"{"action":"break","fault":"expire","target":"scheduler.conf"}"#,
        )
        .unwrap();
        assert_eq!(action.command(), "kubecorp break expire scheduler.conf");
        assert!(serde_json::from_str::<Action>(r#"{"action":"rm -rf"}"#).is_err());
    }
}
