//! A `run:` step's command in a process group of its own, killed whole when it is done with.
//!
//! `sh -c 'kubectl … | grep …'` is a shell and its children; killing the shell alone would
//! leave them running. So each command leads a process group of its own, and the whole group
//! gets SIGKILL when its step ends (done, timed out, or dropped) and, through [`kill_live`], when
//! `kubecorp run`/`test` is stopped by SIGINT or SIGTERM, before the lab is removed. Being its
//! own group also means a terminal's Ctrl-C reaches only kubecorp, which then ends it.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard};

use rustix::process::{kill_process_group, Pid, Signal};

/// The process groups of the commands under way in this process.
static LIVE: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

fn live() -> MutexGuard<'static, BTreeSet<i32>> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One running command's process group; killed whole when dropped.
#[derive(Debug)]
pub(super) struct Group {
    leader: Option<Pid>,
}

/// Starts `cmd` as the leader of a new process group and keeps it on the list [`kill_live`]
/// reads; the list is held while it starts, so a stop that comes then waits and finds it.
pub(super) fn spawn(
    cmd: &mut tokio::process::Command,
) -> std::io::Result<(tokio::process::Child, Group)> {
    let mut live = live();
    let child = cmd.process_group(0).spawn()?;
    let leader = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .and_then(Pid::from_raw);
    if let Some(pid) = leader {
        live.insert(pid.as_raw_nonzero().get());
    }
    Ok((child, Group { leader }))
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pid) = self.leader {
            let mut live = live();
            // The group may be empty already (ESRCH): nothing to do then.
            let _ = kill_process_group(pid, Signal::KILL);
            live.remove(&pid.as_raw_nonzero().get());
        }
    }
}

/// Kills the process group of every command under way, for a process about to end before its
/// steps do; how many groups there were.
pub fn kill_live() -> usize {
    let mut live = live();
    for &pgid in live.iter() {
        if let Some(pid) = Pid::from_raw(pgid) {
            let _ = kill_process_group(pid, Signal::KILL);
        }
    }
    let killed = live.len();
    live.clear();
    killed
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncBufReadExt;

    use super::*;

    /// Whether process `pid` still runs (a zombie waiting for its parent does not).
    fn running(pid: &str) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            !stat
                .rsplit_once(") ")
                .is_some_and(|(_, s)| s.starts_with('Z'))
        })
    }

    #[tokio::test]
    async fn a_command_dropped_before_its_end_takes_what_it_started_with_it() {
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg("sleep 300 >/dev/null 2>&1 & echo $!; wait")
            .stdout(std::process::Stdio::piped());
        let (mut child, group) = spawn(&mut cmd).unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let sleep = lines.next_line().await.unwrap().unwrap();
        assert!(running(&sleep), "sleep {sleep} did not start");
        let shell = child.id().unwrap();
        assert!(live().contains(&(shell as i32)));

        drop(group);
        let status = child.wait().await.unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
        // SIGKILL is delivered before kill(2) returns; the exit itself follows at once.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while running(&sleep) {
            assert!(
                std::time::Instant::now() < deadline,
                "sleep {sleep} still runs"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(!live().contains(&(shell as i32)));
    }
}
