//! How `kubecorp run` shows a run to a room: the presenter's options, the width of the
//! narration, and the pauses (Enter to go on).

use kubecorp_scenario::fit::Width;

use crate::output::line;

/// The presenter's options of `kubecorp run`.
#[derive(Debug, Clone, clap::Args)]
pub struct Show {
    /// Pause before each step until Enter is pressed.
    #[arg(long)]
    pub step: bool,
    /// Print every line whole, however long (by default the narration is wrapped at spaces to
    /// the terminal's width, or 100 columns when stdout is not a terminal).
    #[arg(long)]
    pub wide: bool,
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
}

/// Where the narrator's lines go: stdout.
pub fn narrator(show: &Show) -> kubecorp_scenario::narrate::Narrator {
    kubecorp_scenario::narrate::Narrator::new(crate::output::color(), line).width(show.width())
}
