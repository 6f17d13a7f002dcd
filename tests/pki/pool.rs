//! The key pool of throwaway labs: `kubecorp pki pool fill` in the foreground, judged by
//! openssl, and the low-priority refill a throwaway run leaves behind (none under CI).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::support::{kubecorp, run_tool, scenarios, tool, Run};

/// The `.key` files of a pool's algorithm directory.
fn keys_in(dir: &Path) -> Vec<PathBuf> {
    let mut keys: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    keys.retain(|p| p.extension().is_some_and(|x| x == "key"));
    keys.sort();
    keys
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Every key is an RSA-2048 key written as kubeadm writes one, readable by its owner only, and
/// no two are the same.
fn assert_private_distinct_rsa_2048(keys: &[PathBuf]) {
    let mut texts: Vec<String> = keys
        .iter()
        .map(|k| {
            assert_eq!(mode(k), 0o600, "{}", k.display());
            let pem = std::fs::read_to_string(k).unwrap();
            assert!(
                pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"),
                "{}: {pem}",
                k.display()
            );
            pem
        })
        .collect();
    texts.sort();
    texts.dedup();
    assert_eq!(
        texts.len(),
        keys.len(),
        "every key in the pool is different"
    );
}

#[test]
fn pki_pool_fill_makes_the_pool_64_rsa_keys_and_a_second_fill_makes_none() {
    let Some(openssl) = tool("openssl", "pki_pool_fill") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let pool = tmp.path().join("pool");
    let rsa = pool.join("RSA-2048");
    let filled = kubecorp(["pki", "pool", "fill", "--pool", pool.to_str().unwrap()]).success();
    assert_eq!(
        filled.stdout,
        format!(
            "RSA-2048: made 64 keys; the pool holds 64 ({})\n",
            rsa.display()
        )
    );
    assert_eq!(mode(&pool), 0o700);
    assert_eq!(mode(&rsa), 0o700);
    let keys = keys_in(&rsa);
    assert_eq!(keys.len(), 64);
    assert_private_distinct_rsa_2048(&keys);
    let read = run_tool(
        &openssl,
        ["rsa", "-noout", "-text", "-in", keys[0].to_str().unwrap()],
    )
    .success();
    assert!(
        read.stdout.starts_with("Private-Key: (2048 bit, 2 primes)"),
        "{}",
        read.dump()
    );
    let filled = kubecorp(["pki", "pool", "fill", "--pool", pool.to_str().unwrap()]).success();
    assert_eq!(
        filled.stdout,
        format!(
            "RSA-2048: made 0 keys; the pool holds 64 ({})\n",
            rsa.display()
        )
    );
}

/// The process whose command line is `kubecorp pki pool fill --background --pool POOL …`, if
/// one is running (a zombie nobody has reaped yet counts as ended).
fn filler_of(pool: &Path) -> Option<u32> {
    let pool = pool.to_str().unwrap();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_filler = args
            .windows(2)
            .any(|w| w == [&b"--pool"[..], pool.as_bytes()])
            && args.contains(&&b"--background"[..]);
        (is_filler && stat_of(pid).is_some_and(|s| s.state != 'Z')).then_some(pid)
    })
}

/// The fields of `/proc/PID/stat` this test reads.
struct Stat {
    state: char,
    process_group: u32,
    nice: i32,
}

fn stat_of(pid: u32) -> Option<Stat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After "pid (comm) ": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
    // cmajflt utime stime cutime cstime priority nice … (proc(5)).
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        process_group: fields.get(2)?.parse().ok()?,
        nice: fields.get(16)?.parse().ok()?,
    })
}

/// `kubecorp run` on a shipped scenario with RSA-2048 keys (the default), drawing from `pool`.
fn throwaway_run(pool: &Path, ci: bool) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kubecorp"));
    command
        .args(["run", &scenarios("break/same-name-ca.yaml")])
        .env("NO_COLOR", "1")
        .env("KUBECORP_KEY_POOL", pool)
        .env_remove("CI");
    if ci {
        command.env("CI", "true");
    }
    let what = format!("kubecorp run break/same-name-ca.yaml (CI={ci})");
    Run::from_output(what, command.output().unwrap())
}

/// An empty pool in `dir` (its RSA-2048 folder made), both folders 0700: the pool and the folder.
fn empty_pool(dir: &Path) -> (PathBuf, PathBuf) {
    let pool = dir.join("pool");
    let rsa = pool.join("RSA-2048");
    std::fs::create_dir_all(&rsa).unwrap();
    for dir in [&pool, &rsa] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    (pool, rsa)
}

#[test]
fn a_throwaway_run_leaves_a_lowest_priority_filler_that_tops_the_pool_up_except_under_ci() {
    let tmp = tempfile::tempdir().unwrap();
    let (pool, rsa) = empty_pool(tmp.path());
    // This test holds the fill lock, as a filler at work would: a filler that starts waits
    // for it, so whether one was left behind can be seen before it does anything.
    let lock = std::fs::File::create(rsa.join(".fill.lock")).unwrap();
    lock.set_permissions(std::fs::Permissions::from_mode(0o600))
        .unwrap();
    lock.lock().unwrap();

    throwaway_run(&pool, true).success();
    // The lab's 17 keys, then the fault's CA (a key of its own, drawn from the pool too).
    let kept = keys_in(&rsa).len();
    assert_eq!(kept, 18, "the run made the lab's keys and kept them");
    assert_eq!(filler_of(&pool), None, "under CI no process is left behind");

    throwaway_run(&pool, false).success();
    assert_eq!(
        keys_in(&rsa).len(),
        kept,
        "the second lab drew the kept keys"
    );
    // The run started its filler before it ended; the filler lowers its own priority first.
    let filler = filler_of(&pool).expect("the run left a filler");
    let deadline = Instant::now() + Duration::from_secs(60);
    let stat = loop {
        let stat = stat_of(filler).expect("the filler waits for the lock");
        if stat.nice == 19 || Instant::now() > deadline {
            break stat;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(stat.nice, 19, "the filler runs at the lowest priority");
    assert_eq!(
        stat.process_group, filler,
        "the filler has a process group of its own: Ctrl-C in the run's terminal does not reach it"
    );
    assert_eq!(
        keys_in(&rsa).len(),
        kept,
        "nothing made while the lock is held"
    );

    drop(lock);
    let deadline = Instant::now() + Duration::from_secs(300);
    while filler_of(&pool).is_some() {
        assert!(
            Instant::now() < deadline,
            "the filler did not end: {} keys",
            keys_in(&rsa).len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let keys = keys_in(&rsa);
    assert_eq!(keys.len(), 64, "the filler topped the pool up to 64");
    assert_private_distinct_rsa_2048(&keys);
}

/// An ECDSA lab's scheduler still serves its secure port with a self-signed RSA-2048 badge, as
/// client-go makes one: a throwaway ECDSA lab draws that key from the pool too (its ledger names
/// what it drew), rather than spending a prime search on it.
#[test]
fn a_throwaway_ecdsa_lab_draws_its_rsa_keys_from_the_pool() {
    let tmp = tempfile::tempdir().unwrap();
    let (pool, _) = empty_pool(tmp.path());
    let scenario = tmp.path().join("ecdsa-scheduler.yaml");
    std::fs::write(
        &scenario,
        "title: An ECDSA lab and Bob's own door\n\
         lab: {key_algorithm: ECDSA-P256, staff: [scheduler]}\n\
         steps:\n  \
           - request: {as: anonymous, to: scheduler, path: /healthz}\n    \
             expect: {status: 200, text: ok}\n  \
           - run: cat {{dir}}/.key-pool\n    \
             expect: {exit: 0}\n",
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_kubecorp"));
    command
        .args(["run", scenario.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .env("KUBECORP_KEY_POOL", &pool)
        .env("CI", "true");
    let run = Run::from_output(
        "kubecorp run an ECDSA lab with the scheduler".into(),
        command.output().unwrap(),
    )
    .success();
    // `cat` printed the ledger: the pool it draws from, then a line per key drawn.
    let printed: Vec<&str> = run
        .stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("│ "))
        .collect();
    assert!(
        printed.contains(&format!("pool {}", pool.display()).as_str()),
        "the lab's ledger names the pool: {run:?}"
    );
    assert!(
        printed.iter().any(|l| l.starts_with("RSA-2048 ")),
        "the lab's ledger names an RSA key drawn from the pool: {run:?}"
    );
}
