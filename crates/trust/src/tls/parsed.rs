//! What this process has parsed, kept by the SHA-256 of the bytes it was parsed from. The same
//! bytes parse the same, so nothing kept here can go stale: a file changed on disk is other
//! bytes, hence another entry. A scenario's runner makes a new client for every call, and each
//! reads its kubeconfig and private key again; reading them is cheap, parsing them (YAML, and
//! aws-lc's check of an RSA key) cost about as much as the handshake's signature.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// Values parsed from bytes, by the SHA-256 of those bytes; past `kept` entries the table
/// starts afresh, so a long-lived office does not grow.
pub(super) struct ByContent<T> {
    table: Mutex<Option<HashMap<[u8; 32], T>>>,
    kept: usize,
}

impl<T: Clone> ByContent<T> {
    pub(super) const fn new(kept: usize) -> ByContent<T> {
        ByContent {
            table: Mutex::new(None),
            kept,
        }
    }

    /// The value parsed from `bytes`: kept from an earlier call, or `parse`d now and kept. A
    /// failure is not kept (its error names the file it came from).
    pub(super) fn get_or_parse<E>(
        &self,
        bytes: &[u8],
        parse: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let mut id = [0u8; 32];
        id.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref());
        if let Some(known) = self.lock().as_ref().and_then(|table| table.get(&id)) {
            return Ok(known.clone());
        }
        // Parsed outside the lock: two threads may both parse the same bytes, never wait.
        let parsed = parse()?;
        let mut table = self.lock();
        let table = table.get_or_insert_with(HashMap::new);
        if table.len() >= self.kept {
            table.clear();
        }
        table.insert(id, parsed.clone());
        Ok(parsed)
    }

    fn lock(&self) -> MutexGuard<'_, Option<HashMap<[u8; 32], T>>> {
        self.table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn parse_counting<'a>(
        table: &ByContent<String>,
        bytes: &'a [u8],
        parses: &Cell<u32>,
    ) -> Result<String, &'a str> {
        table.get_or_parse(bytes, || {
            parses.set(parses.get() + 1);
            std::str::from_utf8(bytes)
                .map(str::to_uppercase)
                .map_err(|_| "not UTF-8")
        })
    }

    #[test]
    fn the_same_bytes_are_parsed_once_and_changed_bytes_again() {
        let table = ByContent::new(8);
        let parses = Cell::new(0);
        assert_eq!(
            parse_counting(&table, b"admin.conf", &parses),
            Ok("ADMIN.CONF".into())
        );
        assert_eq!(
            parse_counting(&table, b"admin.conf", &parses),
            Ok("ADMIN.CONF".into())
        );
        assert_eq!(parses.get(), 1);
        assert_eq!(
            parse_counting(&table, b"admin.conf renewed", &parses),
            Ok("ADMIN.CONF RENEWED".into())
        );
        assert_eq!(parses.get(), 2);
    }

    #[test]
    fn a_failure_is_not_kept_and_is_met_again_at_the_next_call() {
        let table = ByContent::new(8);
        let parses = Cell::new(0);
        assert_eq!(parse_counting(&table, b"\xff", &parses), Err("not UTF-8"));
        assert_eq!(parse_counting(&table, b"\xff", &parses), Err("not UTF-8"));
        assert_eq!(parses.get(), 2);
    }

    #[test]
    fn a_full_table_starts_afresh() {
        let table = ByContent::new(2);
        let parses = Cell::new(0);
        for bytes in [&b"a"[..], b"b", b"c", b"a"] {
            parse_counting(&table, bytes, &parses).unwrap();
        }
        // `c` found the table full and emptied it, so `a` was parsed a second time.
        assert_eq!(parses.get(), 4);
    }
}
