//! `kubecorp pki pool fill`: the key pool for throwaway labs topped up ahead of need, in the
//! foreground when asked, or left running in the background at the lowest CPU priority after a
//! throwaway lab has found the pool short.

use std::path::PathBuf;
use std::process::{ExitCode, Stdio};

use anyhow::Result;
use clap::Subcommand;
use kubecorp_pki::pool::KeyPool;
use kubecorp_pki::KeyAlgorithm;

#[derive(Debug, Subcommand)]
pub enum PoolCommand {
    /// Make keys until the pool holds 64 of each algorithm asked for (before a class, or in a CI
    /// image), so that the throwaway labs of `kubecorp run`, `test` and `challenge` make none.
    Fill {
        /// The key type to top up (repeat for several): RSA-2048, RSA-3072, RSA-4096, ECDSA-P256
        /// or ECDSA-P384.
        #[arg(
            long = "key-algorithm",
            value_name = "ALGORITHM",
            default_value = "RSA-2048"
        )]
        key_algorithms: Vec<KeyAlgorithm>,
        /// The pool's directory: $KUBECORP_KEY_POOL, else $XDG_CACHE_HOME/kubecorp/keys, else
        /// ~/.cache/kubecorp/keys.
        #[arg(long)]
        pool: Option<PathBuf>,
        /// As the refill a throwaway lab leaves behind: the lowest CPU priority, nothing printed,
        /// and a pool directory that is no longer there left alone.
        #[arg(long, hide = true)]
        background: bool,
    },
}

pub fn run(command: PoolCommand) -> Result<ExitCode> {
    let PoolCommand::Fill {
        key_algorithms,
        pool,
        background,
    } = command;
    let root = match pool {
        Some(dir) => dir,
        None => KeyPool::user_dir().ok_or_else(|| {
            anyhow::anyhow!(
                "no key pool (KUBECORP_KEY_POOL=off, or neither HOME nor XDG_CACHE_HOME is set)"
            )
        })?,
    };
    if background {
        // Threads made from here on (the key generators) inherit the niceness: the next run,
        // the office and the user's own work all come before this.
        let _ = rustix::process::setpriority_process(None, 19);
        let Some(pool) = KeyPool::existing(&root)? else {
            return Ok(ExitCode::SUCCESS);
        };
        for algorithm in key_algorithms {
            pool.fill(algorithm, |_| {})?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let pool = KeyPool::at(&root)?;
    for algorithm in key_algorithms {
        let filled = pool.fill(algorithm, |lock| {
            eprintln!(
                "waiting for another fill of the pool to end (it holds {})…",
                lock.display()
            );
        })?;
        say!(
            "{}: made {} key{}; the pool holds {} ({})",
            filled.algorithm,
            filled.made,
            if filled.made == 1 { "" } else { "s" },
            filled.holds,
            filled.dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// After a command whose throwaway lab drew keys from the user's pool: when the pool holds
/// fewer than 64 keys of an algorithm it has been drawn for, `kubecorp pki pool fill
/// --background` is left to make them, in a process group of its own (Ctrl-C in this terminal
/// does not reach it), at the lowest priority. Not under CI (`CI=true` or `CI=1`):
/// a pipeline's step leaves no process behind; `kubecorp pki pool fill` fills a CI image.
pub fn refill_in_background() {
    if crate::scenario_cmd::ci() {
        return;
    }
    let Some(root) = KeyPool::user_dir() else {
        return;
    };
    let Ok(Some(pool)) = KeyPool::existing(&root) else {
        return;
    };
    let short = pool.short();
    if short.is_empty() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut command = std::process::Command::new(exe);
    command
        .args(["pki", "pool", "fill", "--background", "--pool"])
        .arg(&root);
    for algorithm in short {
        command.args(["--key-algorithm", algorithm.name()]);
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    // Not starting it only means that the next throwaway lab makes its own keys.
    if let Ok(mut child) = command.spawn() {
        // A long-running command (a challenge's office) reaps it when it ends.
        std::thread::spawn(move || child.wait());
    }
}
