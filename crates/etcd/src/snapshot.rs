//! `etcdctl snapshot save`: the vault written as the bbolt file real etcd sends, so that
//! `etcdctl snapshot status` opens it (bbolt's `Open` and `tx.Check()`), hashes it and reads
//! its revision, key count and size.
//!
//! A bbolt file is pages of 4096 bytes: two **meta** pages (magic, version, page size, the root
//! bucket, the freelist page, the high-water page, the transaction ID, an FNV-1a checksum), a
//! **freelist** page (empty here), and the root **leaf** page listing etcd's buckets. Every
//! bucket is written *inline* in the root page (a bucket header with root page 0, then a small
//! leaf page of its own), which bbolt reads like any other; the root page grows into overflow
//! pages when the data is large. etcd's buckets are `key` (keys are revisions: 8-byte main,
//! `_`, 8-byte sub; values are `mvccpb.KeyValue`), `meta` (`consistent_index`), `members`,
//! `cluster`, `lease`, `alarm` and the auth buckets. After the file, etcd's server sends the
//! SHA-256 of what it sent (`v3rpc/maintenance.go`), which `snapshot restore` checks.

use prost::Message;

use crate::grpc::pb;
use crate::vault::Member;
use crate::wire::KeyValue;

const PAGE: usize = 4096;
const PAGE_HEADER: usize = 16;
const LEAF_ELEMENT: usize = 16;
const BUCKET_HEADER: usize = 16;
const LEAF_FLAG: u16 = 0x02;
const META_FLAG: u16 = 0x04;
const FREELIST_FLAG: u16 = 0x10;
const BUCKET_LEAF_FLAG: u32 = 0x01;
const MAGIC: u32 = 0xED0C_DAED;
const VERSION: u32 = 2;

/// A leaf page's bytes (header and elements) for `items`, sorted by key; `bucket` marks
/// values that are inline buckets.
fn leaf(id: u64, items: &[(Vec<u8>, Vec<u8>)], bucket: bool) -> Vec<u8> {
    let mut page = Vec::new();
    page.extend_from_slice(&id.to_le_bytes());
    page.extend_from_slice(&LEAF_FLAG.to_le_bytes());
    page.extend_from_slice(&(items.len() as u16).to_le_bytes());
    page.extend_from_slice(&0u32.to_le_bytes()); // overflow, set by the caller
    let data_start = PAGE_HEADER + items.len() * LEAF_ELEMENT;
    let mut data = Vec::new();
    for (i, (key, value)) in items.iter().enumerate() {
        let element = PAGE_HEADER + i * LEAF_ELEMENT;
        let pos = data_start + data.len() - element;
        page.extend_from_slice(&(if bucket { BUCKET_LEAF_FLAG } else { 0 }).to_le_bytes());
        page.extend_from_slice(&(pos as u32).to_le_bytes());
        page.extend_from_slice(&(key.len() as u32).to_le_bytes());
        page.extend_from_slice(&(value.len() as u32).to_le_bytes());
        data.extend_from_slice(key);
        data.extend_from_slice(value);
    }
    page.extend_from_slice(&data);
    page
}

/// An inline bucket: root page 0, sequence 0, then its own leaf page.
fn inline_bucket(items: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut value = vec![0u8; BUCKET_HEADER];
    value.extend_from_slice(&leaf(0, items, false));
    value
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn meta_page(id: u64, txid: u64, high_water: u64) -> Vec<u8> {
    let mut page = vec![0u8; PAGE];
    page[0..8].copy_from_slice(&id.to_le_bytes());
    page[8..10].copy_from_slice(&META_FLAG.to_le_bytes());
    let mut meta = Vec::new();
    meta.extend_from_slice(&MAGIC.to_le_bytes());
    meta.extend_from_slice(&VERSION.to_le_bytes());
    meta.extend_from_slice(&(PAGE as u32).to_le_bytes());
    meta.extend_from_slice(&0u32.to_le_bytes()); // flags
    meta.extend_from_slice(&3u64.to_le_bytes()); // root bucket's page
    meta.extend_from_slice(&0u64.to_le_bytes()); // root bucket's sequence
    meta.extend_from_slice(&2u64.to_le_bytes()); // freelist page
    meta.extend_from_slice(&high_water.to_le_bytes());
    meta.extend_from_slice(&txid.to_le_bytes());
    let checksum = fnv1a64(&meta);
    meta.extend_from_slice(&checksum.to_le_bytes());
    page[PAGE_HEADER..PAGE_HEADER + meta.len()].copy_from_slice(&meta);
    page
}

/// etcd's key for a revision: main and sub, big-endian, joined by `_`.
fn revision_key(main: i64, sub: i64) -> Vec<u8> {
    let mut key = Vec::with_capacity(17);
    key.extend_from_slice(&main.to_be_bytes());
    key.push(b'_');
    key.extend_from_slice(&sub.to_be_bytes());
    key
}

/// The bbolt file of a vault holding `kvs` at `revision`.
pub fn bbolt_file(
    revision: i64,
    kvs: &[KeyValue],
    member: &Member,
    cluster_version: &str,
) -> Vec<u8> {
    // The `key` bucket: each live key at its last revision, numbered within the revision.
    let mut by_revision: Vec<&KeyValue> = kvs.iter().collect();
    by_revision.sort_by(|a, b| a.mod_revision.cmp(&b.mod_revision).then(a.key.cmp(&b.key)));
    let mut keys = Vec::with_capacity(by_revision.len());
    let mut sub = 0;
    let mut last = 0;
    for kv in by_revision {
        sub = if kv.mod_revision == last { sub + 1 } else { 0 };
        last = kv.mod_revision;
        let value = pb::KeyValue {
            key: kv.key.clone(),
            create_revision: kv.create_revision,
            mod_revision: kv.mod_revision,
            version: kv.version,
            value: kv.value.clone(),
            lease: kv.lease,
        }
        .encode_to_vec();
        keys.push((revision_key(kv.mod_revision, sub), value));
    }
    let member_json = format!(
        r#"{{"id":{},"peerURLs":{}}}"#,
        member.id,
        serde_json::to_string(&member.peer_urls).expect("strings serialize")
    );
    let mut buckets: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (b"alarm".to_vec(), inline_bucket(&[])),
        (
            b"auth".to_vec(),
            inline_bucket(&[(b"authRevision".to_vec(), 1u64.to_be_bytes().to_vec())]),
        ),
        (b"authRoles".to_vec(), inline_bucket(&[])),
        (b"authUsers".to_vec(), inline_bucket(&[])),
        (
            b"cluster".to_vec(),
            inline_bucket(&[(
                b"clusterVersion".to_vec(),
                cluster_version.as_bytes().to_vec(),
            )]),
        ),
        (b"key".to_vec(), inline_bucket(&keys)),
        (b"lease".to_vec(), inline_bucket(&[])),
        (
            b"members".to_vec(),
            inline_bucket(&[(
                format!("{:x}", member.id).into_bytes(),
                member_json.into_bytes(),
            )]),
        ),
        (b"members_removed".to_vec(), inline_bucket(&[])),
        (
            b"meta".to_vec(),
            inline_bucket(&[(
                b"consistent_index".to_vec(),
                (revision.max(0) as u64 + 3).to_be_bytes().to_vec(),
            )]),
        ),
    ];
    buckets.sort();
    let mut root = leaf(3, &buckets, true);
    let pages = root.len().div_ceil(PAGE).max(1);
    root[12..16].copy_from_slice(&((pages - 1) as u32).to_le_bytes());
    root.resize(pages * PAGE, 0);

    let high_water = 3 + pages as u64;
    let mut file = Vec::with_capacity(high_water as usize * PAGE);
    file.extend_from_slice(&meta_page(0, 0, high_water));
    file.extend_from_slice(&meta_page(1, 1, high_water));
    let mut freelist = vec![0u8; PAGE];
    freelist[0..8].copy_from_slice(&2u64.to_le_bytes());
    freelist[8..10].copy_from_slice(&FREELIST_FLAG.to_le_bytes());
    file.extend_from_slice(&freelist);
    file.extend_from_slice(&root);
    file
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bbolt_file_has_two_checksummed_metas_a_freelist_and_the_bucket_page() {
        let member = Member {
            id: 0x8e9e_05c5_2164_694d,
            name: "default".into(),
            peer_urls: vec!["http://localhost:2380".into()],
            client_urls: Vec::new(),
        };
        let kv = KeyValue {
            key: b"k".to_vec(),
            create_revision: 2,
            mod_revision: 2,
            version: 1,
            value: b"v".to_vec(),
            lease: 0,
        };
        let file = bbolt_file(2, &[kv], &member, "3.5.0");
        assert_eq!(file.len(), 4 * PAGE);
        let meta = &file[PAGE_HEADER..PAGE_HEADER + 64];
        assert_eq!(&meta[0..4], &MAGIC.to_le_bytes());
        assert_eq!(
            u64::from_le_bytes(meta[56..64].try_into().unwrap()),
            fnv1a64(&meta[..56])
        );
        // The root page lists ten buckets, `alarm` first.
        let root = &file[3 * PAGE..];
        assert_eq!(u16::from_le_bytes([root[10], root[11]]), 10);
        let pos = u32::from_le_bytes(root[20..24].try_into().unwrap()) as usize;
        assert_eq!(&root[PAGE_HEADER + pos..PAGE_HEADER + pos + 5], b"alarm");
    }
}
