//! How `kubecorp run` shows a run to a room: the presenter's options, the width of the
//! narration, and how a pause is waited out (a key, or a few seconds hands-free).

use std::time::Duration;

use kubecorp_scenario::fit::Width;
use kubecorp_scenario::present::{find_chapter, ChapterError, Pause, Presenter};
use kubecorp_scenario::run::{Observer, OpenOffice};
use kubecorp_scenario::Scenario;
use kubecorp_web::pace::{Hold, Mode, Pace};

use crate::output::line;

/// The presenter's options of `kubecorp run`.
#[derive(Debug, Clone, clap::Args)]
pub struct Show {
    /// Pause before each step until a key is pressed (Enter when stdin is not a terminal), and
    /// again before what came of a call, a command or a wait, so the room can predict it first.
    #[arg(long, conflicts_with = "pace")]
    pub step: bool,
    /// Play hands-free: SECONDS before each step, and half of it before what came of it.
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub pace: Option<Duration>,
    /// Tell the story from chapter N (its number, its file's name, or a word of its title);
    /// the chapters before it are played without narration, so the office is as they left it.
    #[arg(long, value_name = "N|NAME")]
    pub chapter: Option<String>,
    /// Print every line whole, however long (by default the narration is wrapped at spaces to
    /// the terminal's width, or 100 columns when stdout is not a terminal).
    #[arg(long)]
    pub wide: bool,
}

/// `--pace 2.5`: a number of seconds, more than 0 and at most an hour.
fn seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 3600.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!(
            "expected a number of seconds between 0 and 3600 (e.g. 3 or 1.5), got {text:?}"
        )),
    }
}

impl Show {
    /// How wide the narration may be.
    pub fn width(&self) -> Width {
        if self.wide {
            return Width::Unlimited;
        }
        match terminal_size::terminal_size_of(std::io::stdout()) {
            Some((terminal_size::Width(w), _)) if w > 0 => Width::Columns(usize::from(w)),
            _ => Width::PROJECTOR,
        }
    }

    /// Whether the run pauses at all.
    pub fn pauses(&self) -> bool {
        self.step || self.pace.is_some()
    }

    /// How a run paced from the page goes on: at each press (`--step`) or hands-free (`--pace`).
    pub fn mode(&self) -> Option<Mode> {
        match (self.step, self.pace) {
            (_, Some(every)) => Some(Mode::Every(every)),
            (true, None) => Some(Mode::Presses),
            (false, None) => None,
        }
    }

    /// Waits out a pause: a key under `--step` (a line when stdin is not a terminal), the time
    /// `--pace` gives otherwise; with the page (`page`), whichever comes first of the page's
    /// next ▶, a key in the terminal, or the page's pace.
    pub fn wait(&self, page: Option<Pace>) -> Box<dyn FnMut(Pause) + Send + 'static> {
        if let Some(pace) = page {
            keys_go_on(pace.clone());
            return Box::new(move |pause| {
                let prompted = pace.mode() == Mode::Presses;
                if prompted {
                    eprint!(
                        "{}",
                        prompt(pause, &format!("{} or the page's next ▶", key_name()))
                    );
                }
                let hold = match pause {
                    Pause::Step => Hold::Step,
                    Pause::Reveal => Hold::Reveal,
                };
                // The office keeps working on the runtime's other threads meanwhile.
                tokio::task::block_in_place(|| pace.wait(hold));
                if prompted {
                    eprintln!();
                }
            });
        }
        let pace = self.pace;
        Box::new(move |pause| match pace {
            Some(every) => {
                let wait = match pause {
                    Pause::Step => every,
                    Pause::Reveal => every / 2,
                };
                // The office keeps working on the runtime's other threads meanwhile.
                tokio::task::block_in_place(|| std::thread::sleep(wait));
            }
            None => {
                let key = key_name();
                eprint!("{}", prompt(pause, key));
                // Blocking here is the point: the room decides when the story goes on.
                tokio::task::block_in_place(crate::key::wait);
                if crate::key::one_key_at_a_time() {
                    // The key is not echoed: the prompt's line ends here.
                    eprintln!();
                }
            }
        })
    }

    /// The narrator at this pace, from the chosen chapter; `page` paces it from the page too.
    pub fn presenter(
        &self,
        scenario: &Scenario,
        page: Option<Pace>,
    ) -> Result<Presenter<'static>, ChapterError> {
        let narrator = kubecorp_scenario::narrate::Narrator::new(crate::output::color(), line)
            .width(self.width());
        let mut presenter = Presenter::new(narrator);
        if self.pauses() {
            presenter = presenter.pausing(self.wait(page));
        }
        if let Some(wanted) = &self.chapter {
            presenter = presenter.from_chapter(find_chapter(scenario, wanted)?);
        }
        Ok(presenter)
    }
}

/// What the terminal offers to press.
fn key_name() -> &'static str {
    match crate::key::one_key_at_a_time() {
        true => "any key",
        false => "Enter",
    }
}

fn prompt(pause: Pause, key: &str) -> String {
    match pause {
        Pause::Step => format!("  [{key}] for the next step "),
        Pause::Reveal => format!("  What will happen? [{key}] to see "),
    }
}

/// With the page, a key in the terminal is a press too: read whenever the run waits, until
/// stdin closes.
fn keys_go_on(pace: Pace) {
    std::thread::spawn(move || loop {
        pace.until_waiting();
        match crate::key::wait() {
            // A key while the run is busy (the page pressed first) presses nothing.
            crate::key::Press::Key => drop(pace.press_key()),
            crate::key::Press::Closed => return,
        }
    });
}

/// `--keep`: after the last step the office stays open, its kubeconfigs printed, until Enter
/// (Ctrl-C ends the run at once; the lab directory stays either way). With the page, the
/// terminal's key reader is already reading: the end is one more hold of the run's pace, so one
/// key closes the office.
pub struct StayOpen(pub Option<Pace>);

impl Observer for StayOpen {
    fn stays_open(&mut self, office: &OpenOffice) {
        eprintln!();
        eprintln!(
            "The office stays open for questions (apiserver {}, etcd {}).",
            office.apiserver, office.etcd
        );
        if let Some(first) = office.kubeconfigs.first() {
            eprintln!("Kubeconfigs that dial it:");
            for conf in &office.kubeconfigs {
                eprintln!("  {}", conf.display());
            }
            eprintln!("Try: kubectl --kubeconfig {} get pods -A", first.display());
        }
        // The office serves on the runtime's other threads meanwhile.
        match &self.0 {
            Some(pace) => {
                eprint!("[{}] closes the office ", key_name());
                tokio::task::block_in_place(|| pace.wait(Hold::Open));
                eprintln!();
            }
            None => {
                eprint!("[Enter] closes the office ");
                let mut buf = String::new();
                let _ = tokio::task::block_in_place(|| std::io::stdin().read_line(&mut buf));
            }
        }
    }
}
