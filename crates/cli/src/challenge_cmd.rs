//! `kubecorp challenge`: list the catalogue, open a broken office and report its symptom, give
//! hints, check a repair, or give up and read the solution.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand};
use kubecorp_scenario::challenge::state::{Attempt, Record, Standing, State};
use kubecorp_scenario::challenge::{catalogue, check, start, Challenge};
use kubecorp_scenario::run::RunOptions;
use time::OffsetDateTime;

use crate::Format;

/// Where a challenge's lab lives unless `--dir` says otherwise.
pub const DEFAULT_DIR: &str = "kubecorp-challenge";

#[derive(Debug, Subcommand)]
pub enum ChallengeCommand {
    /// The catalogue: name, level, minutes, what each teaches, and whether this lab solved it.
    List {
        /// The lab directory whose results are shown.
        #[arg(long, default_value = DEFAULT_DIR)]
        dir: PathBuf,
    },
    /// Open the office with something broken, and hear the symptom from a colleague.
    Start(Box<StartArgs>),
    /// Is the symptom gone, and is the repair a real one? Exit 0 only when every criterion holds.
    Check {
        #[arg(long, default_value = DEFAULT_DIR)]
        dir: PathBuf,
    },
    /// The next hint (three in all, each more specific).
    Hint {
        #[arg(long, default_value = DEFAULT_DIR)]
        dir: PathBuf,
    },
    /// Give up: the cause and the commands that fix it on a kubeadm cluster.
    Solution {
        #[arg(long, default_value = DEFAULT_DIR)]
        dir: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// A challenge from `kubecorp challenge list`, or a challenge file of your own.
    #[arg(required_unless_present = "random", conflicts_with = "random")]
    name: Option<String>,
    /// Pick one at random.
    #[arg(long)]
    random: bool,
    /// With --random: only this level.
    #[arg(long, requires = "random", value_parser = clap::value_parser!(u8).range(1..=3))]
    level: Option<u8>,
    /// The lab directory: made afresh (a directory holding anything else is refused).
    #[arg(long, default_value = DEFAULT_DIR)]
    dir: PathBuf,
    /// Where the apiserver listens.
    #[arg(long, default_value = "127.0.0.1:6443")]
    apiserver_listen: SocketAddr,
    /// Where etcd listens.
    #[arg(long, default_value = "127.0.0.1:2379")]
    etcd_listen: SocketAddr,
    /// Where etcd's peer port listens.
    #[arg(long, default_value = "127.0.0.1:2380")]
    etcd_peer_listen: SocketAddr,
    /// Where the scheduler's secure port listens.
    #[arg(long, default_value = "127.0.0.1:10259")]
    scheduler_listen: SocketAddr,
    /// Where the first kubelet listens.
    #[arg(long, default_value = "127.0.0.1:10250")]
    kubelet_listen: SocketAddr,
    /// Where kube-proxy answers /healthz.
    #[arg(long, default_value = "127.0.0.1:10256")]
    proxy_healthz_listen: SocketAddr,
    /// How events are printed: readable lines, or JSON lines.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    log_format: Format,
    /// Print only refusals and what the staff did.
    #[arg(long, short)]
    quiet: bool,
    /// Also serve the office's live page at ADDR (without ADDR, a free port of 127.0.0.1); in a
    /// challenge the page only watches (no break, undo or clock controls).
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:0")]
    web: Option<SocketAddr>,
}

pub fn run(command: ChallengeCommand) -> Result<ExitCode> {
    match command {
        ChallengeCommand::List { dir } => list(&dir),
        ChallengeCommand::Start(args) => {
            let args = *args;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(start(args))
        }
        ChallengeCommand::Check { dir } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(check(&dir))
        }
        ChallengeCommand::Hint { dir } => hint(&dir),
        ChallengeCommand::Solution { dir } => solution(&dir),
    }
}

fn list(dir: &Path) -> Result<ExitCode> {
    let record = Record::load(dir)?;
    let mut rows = vec![format!(
        "LEVEL\tCHALLENGE\tMINUTES\tSOLVED HERE\tWHAT IT TEACHES"
    )];
    for scenario in catalogue::shipped()? {
        let Some(c) = &scenario.challenge else {
            continue;
        };
        let solved = match record.challenges.get(&c.name).map(|a| a.standing) {
            Some(Standing::Solved) => "✓ solved",
            Some(Standing::GivenUp) => "given up",
            Some(Standing::Open) | None => "-",
        };
        rows.push(format!(
            "{}\t{}\t{}\t{}\t{}",
            c.level.get(),
            c.name,
            c.minutes,
            solved,
            c.teaches
        ));
    }
    say_raw!("{}", kubecorp_pki::expiration::tabwrite(&rows));
    say!(
        "\nStart one: kubecorp challenge start NAME   (or --random [--level N]); results are kept in {}",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn challenge_of(scenario: &kubecorp_scenario::Scenario) -> Result<&Challenge> {
    scenario
        .challenge
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("{}: not a challenge", scenario.file.display()))
}

async fn start(args: StartArgs) -> Result<ExitCode> {
    let (scenario, source) = match &args.name {
        Some(name) => catalogue::find(name)?,
        None => {
            let seed = OffsetDateTime::now_utc()
                .unix_timestamp_nanos()
                .unsigned_abs() as u64;
            catalogue::random(args.level, seed)?
        }
    };
    let challenge = challenge_of(&scenario)?;
    let dir = args.dir.clone();
    say!(
        "Setting up challenge {} (level {}, about {} minutes) in {}…",
        challenge.name,
        challenge.level.get(),
        challenge.minutes,
        dir.display()
    );
    let events = kubecorp_trust::Events::new();
    let options = kubecorp_office::OfficeOptions {
        etcd_listen: args.etcd_listen,
        etcd_peer_listen: args.etcd_peer_listen,
        scheduler_listen: args.scheduler_listen,
        apiserver_listen: args.apiserver_listen,
        kubelet_listen: args.kubelet_listen,
        proxy_healthz_listen: args.proxy_healthz_listen,
        events: events.clone(),
        ..kubecorp_office::OfficeOptions::ephemeral(&dir)
    };
    let opened = start::open(&scenario, source, options, &RunOptions::default()).await?;
    // The challenge's lab drew its RSA keys from the user's pool: top it up for the next one.
    crate::pool_cmd::refill_in_background();
    // The narration starts now: what the setup and the break did is for the learner to find.
    let mut feed = events.subscribe();
    let (stop_page, page_shutdown) = kubecorp_office::start::shutdown_pair();
    let page = match args.web {
        Some(addr) => Some(
            crate::web::open(
                &opened.office,
                crate::office_cmd::Web {
                    addr,
                    control: false,
                },
                &events,
                &opened.office.clock,
                &page_shutdown,
            )
            .await?,
        ),
        None => None,
    };
    crate::office_cmd::banner(&opened.office);
    if let Some(page) = &page {
        say!("{}", page.banner);
    }
    let d = dir.display();
    say!("\n┌─ A message from a colleague ─────────────────────────────────────────────");
    for line in catalogue::text(&challenge.symptom, &dir).trim_end().lines() {
        say!("│ {line}");
    }
    say!("└──────────────────────────────────────────────────────────────────────────");
    say!("Investigate with the tools an administrator has (kubectl --kubeconfig {d}/admin.conf, openssl,");
    say!("curl, kubecorp certs …) in another terminal; the narration below is the office's log.");
    say!("  kubecorp challenge hint --dir {d}       a hint (three in all)");
    say!("  kubecorp challenge check --dir {d}      is it repaired?");
    say!("  kubecorp challenge solution --dir {d}   give up and read the solution");
    say!("Press Ctrl-C to close the office.\n");
    let mut office = opened.office;
    let down = tokio::select! {
        narrated = crate::office_cmd::narrate_until_signal(&mut feed, args.log_format, args.quiet) => { narrated?; None }
        down = office.component_down() => Some(down),
    };
    say!("Closing the office.");
    stop_page.stop();
    if let Some(page) = page {
        page.closed().await;
    }
    office.shutdown().await;
    match down {
        Some(down) => anyhow::bail!("{down}: the office cannot run without it"),
        None => Ok(ExitCode::SUCCESS),
    }
}

fn elapsed(state: &State) -> String {
    let d = OffsetDateTime::now_utc() - state.started;
    let s = d.whole_seconds().max(0);
    match s {
        s if s >= 3600 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{} min {} s", s / 60, s % 60),
        s => format!("{s} s"),
    }
}

async fn check(dir: &Path) -> Result<ExitCode> {
    let mut state = State::load(dir)?;
    let scenario = catalogue::load(&state.source)?;
    let challenge = challenge_of(&scenario)?;
    say!(
        "Checking challenge {} in {}:",
        challenge.name,
        dir.display()
    );
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let verdict = check::check(
        challenge,
        &state,
        dir,
        &RunOptions {
            ci,
            ..RunOptions::default()
        },
    )
    .await;
    for line in &verdict.lines {
        match (&line.passed, &line.reason) {
            (true, _) => say!("  ✓ {}", line.what),
            (false, Some(reason)) => say!("  ✗ {}\n      {reason}", line.what),
            (false, None) => say!("  ✗ {}", line.what),
        }
    }
    let passed = verdict.passed();
    say!(
        "\nTime taken: {}; hints used: {} of {}.",
        elapsed(&state),
        state.hints_used,
        challenge.hints.len()
    );
    match (passed, state.standing) {
        (true, Standing::GivenUp) => {
            say!("Repaired, after reading the solution: noted as given up, not as solved.")
        }
        (true, _) => {
            say!("Solved: the symptom is gone and the repair is a real one.");
            let minutes = (OffsetDateTime::now_utc() - state.started).whole_minutes();
            if state.standing == Standing::Open {
                state.standing = Standing::Solved;
                state.save(dir)?;
            }
            Record::note(
                dir,
                &state.name,
                Attempt {
                    standing: Standing::Solved,
                    minutes: Some(minutes),
                    hints: state.hints_used,
                },
            )?;
        }
        (false, _) => {
            let symptom_only = verdict
                .lines
                .iter()
                .filter(|l| !l.passed)
                .all(|l| l.criterion == kubecorp_scenario::challenge::Criterion::Symptom);
            if symptom_only
                && verdict.lines.iter().any(|l| {
                    l.reason
                        .as_deref()
                        .is_some_and(|r| r.contains("connection refused"))
                })
            {
                say!("Is the office still open? `kubecorp challenge start` keeps it open until Ctrl-C.");
            }
            say!("Not yet.");
        }
    }
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn hint(dir: &Path) -> Result<ExitCode> {
    let mut state = State::load(dir)?;
    let scenario = catalogue::load(&state.source)?;
    let challenge = challenge_of(&scenario)?;
    let total = challenge.hints.len();
    let n = usize::from(state.hints_used);
    match challenge.hints.get(n) {
        Some(hint) => {
            say!("Hint {} of {total}:", n + 1);
            say!("{}", catalogue::text(hint, dir).trim_end());
            state.hints_used += 1;
            state.save(dir)?;
        }
        None => {
            say!("That was the last hint; here they are again:");
            for (i, hint) in challenge.hints.iter().enumerate() {
                say!("{}. {}", i + 1, catalogue::text(hint, dir).trim_end());
            }
            say!(
                "\n`kubecorp challenge solution --dir {}` explains everything (and notes the challenge as given up).",
                dir.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn solution(dir: &Path) -> Result<ExitCode> {
    let mut state = State::load(dir)?;
    let scenario = catalogue::load(&state.source)?;
    let challenge = challenge_of(&scenario)?;
    say!("Challenge {}: {}", challenge.name, scenario.title);
    say!("{}", catalogue::text(&challenge.solution, dir).trim_end());
    if state.standing == Standing::Open {
        state.standing = Standing::GivenUp;
        state.save(dir)?;
        Record::note(
            dir,
            &state.name,
            Attempt {
                standing: Standing::GivenUp,
                minutes: None,
                hints: state.hints_used,
            },
        )?;
        say!("\n(Noted as given up. Repair it anyway: `kubecorp challenge check --dir {}` still checks.)", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// In a challenge's lab, `break` keeps no backup and `--undo` has none to restore.
pub fn is_open(dir: &Path) -> bool {
    State::load(dir).is_ok()
}
