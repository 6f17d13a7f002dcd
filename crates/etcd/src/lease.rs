//! Leases: a key written with a lease lives only as long as the lease. Kubernetes puts every
//! Event under one (`--event-ttl`, an hour by default), and `etcdctl lease grant 60` /
//! `put --lease` shows the same thing by hand. A lease ends when it is revoked or when its TTL
//! passes on the **lab clock** without a keep-alive; its keys are then deleted in one revision.

use std::collections::{BTreeMap, BTreeSet};

use time::{Duration, OffsetDateTime};

/// etcd's smallest TTL with the default heartbeat (100 ms) and election timeout (1 s):
/// `ceil(3/2 × election ticks × heartbeat)` = 2 seconds; shorter requests get this.
pub const MIN_TTL: i64 = 2;
/// etcd's `MaxLeaseTTL` (about 285 years).
pub const MAX_TTL: i64 = 9_000_000_000;

/// One granted lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub id: i64,
    /// The TTL it was granted with (after raising it to [`MIN_TTL`]).
    pub granted_ttl: i64,
    /// When it ends unless kept alive.
    pub deadline: OffsetDateTime,
    /// The keys attached to it.
    pub keys: BTreeSet<Vec<u8>>,
}

impl Lease {
    /// Whole seconds left at `now`, as `LeaseTimeToLive` reports them.
    pub fn remaining(&self, now: OffsetDateTime) -> i64 {
        (self.deadline - now).whole_seconds().max(0)
    }
}

/// Why a lease operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseError {
    NotFound,
    Exists,
    TtlTooLarge,
}

/// Every live lease, and the next ID to hand out.
#[derive(Debug)]
pub struct Leases {
    next: u64,
    live: BTreeMap<i64, Lease>,
}

impl Leases {
    /// IDs start from a number derived from the member ID, as etcd's ID generator prefixes
    /// its IDs with the member, so two members never hand out the same one.
    pub fn new(member_id: u64) -> Leases {
        Leases {
            next: (member_id & 0x7fff) << 48 | 0x0000_2a1e_0000_0000,
            live: BTreeMap::new(),
        }
    }

    pub fn grant(&mut self, id: i64, ttl: i64, now: OffsetDateTime) -> Result<Lease, LeaseError> {
        if ttl > MAX_TTL {
            return Err(LeaseError::TtlTooLarge);
        }
        let id = if id == 0 { self.fresh_id() } else { id };
        if self.live.contains_key(&id) {
            return Err(LeaseError::Exists);
        }
        let granted_ttl = ttl.max(MIN_TTL);
        let lease = Lease {
            id,
            granted_ttl,
            deadline: now + Duration::seconds(granted_ttl),
            keys: BTreeSet::new(),
        };
        self.live.insert(id, lease.clone());
        Ok(lease)
    }

    fn fresh_id(&mut self) -> i64 {
        loop {
            self.next = self.next.wrapping_add(0x1_0000_0001) & 0x7fff_ffff_ffff_ffff;
            let id = self.next as i64;
            if id != 0 && !self.live.contains_key(&id) {
                return id;
            }
        }
    }

    pub fn get(&self, id: i64) -> Option<&Lease> {
        self.live.get(&id)
    }

    pub fn ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.live.keys().copied()
    }

    /// Takes a lease away (revoked or expired); its keys are the caller's to delete.
    pub fn remove(&mut self, id: i64) -> Option<Lease> {
        self.live.remove(&id)
    }

    /// Starts the TTL again; returns it, or `None` for an unknown lease.
    pub fn keep_alive(&mut self, id: i64, now: OffsetDateTime) -> Option<i64> {
        let lease = self.live.get_mut(&id)?;
        lease.deadline = now + Duration::seconds(lease.granted_ttl);
        Some(lease.granted_ttl)
    }

    /// Notes that `key` now belongs to `lease` (0: none) instead of `before`.
    pub fn attach(&mut self, key: &[u8], before: i64, lease: i64) {
        if before != 0 && before != lease {
            if let Some(old) = self.live.get_mut(&before) {
                old.keys.remove(key);
            }
        }
        if let Some(new) = self.live.get_mut(&lease) {
            new.keys.insert(key.to_vec());
        }
    }

    /// The leases whose TTL has run out at `now`.
    pub fn expired(&self, now: OffsetDateTime) -> Vec<i64> {
        self.live
            .values()
            .filter(|l| l.deadline <= now)
            .map(|l| l.id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_short_ttl_is_raised_to_etcds_minimum_and_runs_out_on_the_clock_given() {
        let now = datetime!(2026-04-24 09:00 UTC);
        let mut leases = Leases::new(7);
        let lease = leases.grant(0, 1, now).unwrap();
        assert_eq!(lease.granted_ttl, MIN_TTL);
        assert!(leases.expired(now + Duration::seconds(1)).is_empty());
        assert_eq!(leases.expired(now + Duration::seconds(2)), vec![lease.id]);
        assert_eq!(
            leases.keep_alive(lease.id, now + Duration::seconds(1)),
            Some(2)
        );
        assert!(leases.expired(now + Duration::seconds(2)).is_empty());
    }

    #[test]
    fn a_lease_id_in_use_is_refused_and_ids_handed_out_differ() {
        let now = datetime!(2026-04-24 09:00 UTC);
        let mut leases = Leases::new(7);
        let a = leases.grant(0, 60, now).unwrap().id;
        let b = leases.grant(0, 60, now).unwrap().id;
        assert_ne!(a, b);
        assert!(a > 0 && b > 0);
        assert_eq!(leases.grant(a, 60, now), Err(LeaseError::Exists));
        assert_eq!(
            leases.grant(0, MAX_TTL + 1, now),
            Err(LeaseError::TtlTooLarge)
        );
    }
}
