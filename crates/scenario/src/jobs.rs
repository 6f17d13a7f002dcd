//! How many scenarios `kubecorp test -j N` may run at once: no more than the process's open-file
//! limit can hold, so a large `-j` slows down instead of failing with `Too many open files`.
//!
//! Each scenario opens a whole office: etcd, the apiserver, kubelets, their listeners, the
//! connections between them and the lab's files. [`FILES_PER_SCENARIO`] is a generous bound.

/// Open files one scenario's office may hold at its busiest.
pub const FILES_PER_SCENARIO: u64 = 128;

/// Files kept for the runner itself (stdout, the JUnit file, the runtime).
const RESERVED: u64 = 64;

/// The soft `RLIMIT_NOFILE` ("Max open files" in `/proc/self/limits`), if it can be read.
pub fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()
}

/// The number of scenarios to run at once for `wanted`, and a note when it had to be lowered.
pub fn cap(wanted: usize, file_limit: Option<u64>) -> (usize, Option<String>) {
    let wanted = wanted.max(1);
    let Some(limit) = file_limit else {
        return (wanted, None);
    };
    let room = (limit.saturating_sub(RESERVED) / FILES_PER_SCENARIO).max(1);
    match usize::try_from(room) {
        Ok(room) if room < wanted => (
            room,
            Some(format!(
                "-j {wanted}: this process may open {limit} files, enough for {room} scenarios at once (each office keeps up to {FILES_PER_SCENARIO}); running {room} at a time (raise it with `ulimit -n`)"
            )),
        ),
        _ => (wanted, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_hundred_jobs_on_a_1024_file_limit_run_seven_at_a_time_and_say_so() {
        let (jobs, note) = cap(500, Some(1024));
        assert_eq!(jobs, 7);
        assert_eq!(
            note.unwrap(),
            "-j 500: this process may open 1024 files, enough for 7 scenarios at once (each office keeps up to 128); running 7 at a time (raise it with `ulimit -n`)"
        );
        assert_eq!(cap(4, Some(1024)), (4, None));
        assert_eq!(cap(3, Some(10)).0, 1, "at least one runs");
        assert_eq!(cap(0, None), (1, None));
    }

    #[test]
    fn this_machines_limit_can_be_read() {
        assert!(open_file_limit().is_some_and(|n| n > 0));
    }
}
