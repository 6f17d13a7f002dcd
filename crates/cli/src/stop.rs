//! A scenario run stopped before its end (Ctrl-C, SIGTERM, or the reader of stdout gone) takes
//! its private lab directories, private keys included, with it, and kills the process group of
//! every `run:` step's command under way.

use tokio::signal::unix::{signal, SignalKind};

/// Listens for Ctrl-C and SIGTERM from now on (call inside the runtime, before the run starts):
/// either kills the commands of the steps under way, removes the labs of the runs under way,
/// says so, and ends the process with 130 or 143, as a shell reports a command a signal ended.
pub fn on_signal() -> std::io::Result<tokio::task::JoinHandle<()>> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(tokio::spawn(async move {
        let (name, code) = tokio::select! {
            _ = interrupt.recv() => ("interrupted (SIGINT)", 130),
            _ = terminate.recv() => ("terminated (SIGTERM)", 143),
        };
        // A presenter's key wait may hold the terminal in one-key mode: it is put back first.
        crate::key::restore();
        // The steps' commands first: a `run: sleep 300` must not outlive the run.
        kubecorp_scenario::run::group::kill_live();
        let removed = kubecorp_scenario::run::private::remove_live();
        eprintln!();
        for lab in &removed {
            eprintln!("{name}: the lab {} is removed", lab.display());
        }
        if removed.is_empty() {
            eprintln!("{name}");
        }
        std::process::exit(code);
    }))
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM. Once the lab watches a signal, its default action is
/// gone for the whole process: every later wait must name both, or `kill`/`timeout`/a service
/// manager could no longer stop it.
pub async fn interrupted() -> std::io::Result<()> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    Ok(())
}

/// Ends the process with `code` now, removing the labs of the runs under way first.
pub fn exit(code: i32) -> ! {
    crate::key::restore();
    kubecorp_scenario::run::group::kill_live();
    kubecorp_scenario::run::private::remove_live();
    std::process::exit(code)
}
