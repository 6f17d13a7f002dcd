//! The calls that stream: Watch (each watcher told every change in its range, from its start
//! revision on), LeaseKeepAlive (one answer per keep-alive), and Snapshot.
//!
//! A stream's answers go through one channel into the HTTP/2 response body; the call ends when
//! the client resets the stream (etcdctl on Ctrl-C or at its timeout), which drops the body.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::Response;
use http_body_util::channel::{Channel, Sender};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use prost::Message;
use tokio::sync::{broadcast, mpsc};

use super::{frame, header, kv, pb, status_trailers, Body, Deframer};
use crate::store::{Change, KeyRange, RevisionError};
use crate::vault::{Vault, Watching};

/// How many answers may wait for the client before a stream stops reading news.
const QUEUE: usize = 256;

fn streaming_response() -> (mpsc::Sender<Vec<u8>>, Response<Body>) {
    let (to_body, body) = Channel::<Bytes, std::convert::Infallible>::new(QUEUE);
    let (answers, queue) = mpsc::channel::<Vec<u8>>(QUEUE);
    tokio::spawn(pump(queue, to_body));
    let mut response = Response::new(body.boxed_unsync());
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    (answers, response)
}

/// Moves encoded answers into the response body until either side is gone.
async fn pump(mut queue: mpsc::Receiver<Vec<u8>>, mut body: Sender<Bytes>) {
    while let Some(message) = queue.recv().await {
        if body.send(Frame::data(frame(&message))).await.is_err() {
            return;
        }
    }
    let _ = body.send(Frame::trailers(status_trailers(None))).await;
}

/// Reads the client's messages of a stream, decoded, until it closes its side.
async fn requests<M: Message + Default>(mut body: Incoming, sink: mpsc::Sender<M>) {
    let mut deframer = Deframer::default();
    while let Some(Ok(frame)) = body.frame().await {
        let Some(data) = frame.data_ref() else {
            continue;
        };
        deframer.push(data);
        while let Ok(Some(message)) = deframer.next_message() {
            match M::decode(message) {
                Ok(m) => {
                    if sink.send(m).await.is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    }
}

/// `Lease/LeaseKeepAlive`: each request restarts its lease's TTL; an unknown lease gets TTL 0
/// (etcdctl: `lease … expired or revoked.`).
pub fn keep_alive(vault: Arc<Vault>, body: Incoming) -> Response<Body> {
    let (answers, response) = streaming_response();
    let (sink, mut asks) = mpsc::channel::<pb::LeaseKeepAliveRequest>(QUEUE);
    tokio::spawn(requests(body, sink));
    tokio::spawn(async move {
        while let Some(ask) = asks.recv().await {
            let (head, ttl) = vault.lease_keep_alive(ask.id);
            let answer = pb::LeaseKeepAliveResponse {
                header: Some(header(head)),
                id: ask.id,
                ttl: ttl.unwrap_or(0),
            };
            if answers.send(answer.encode_to_vec()).await.is_err() {
                return;
            }
        }
    });
    response
}

/// `Maintenance/Snapshot`: the vault as a bbolt file ([`crate::snapshot`]) in 32 KiB chunks
/// counting down `remaining_bytes`, then the file's SHA-256 as a last chunk, as etcd sends it.
pub fn snapshot(vault: Arc<Vault>) -> Response<Body> {
    let (answers, response) = streaming_response();
    tokio::spawn(async move {
        let (revision, kvs) = vault.everything();
        let file = crate::snapshot::bbolt_file(
            revision,
            &kvs,
            &vault.member,
            vault.release.cluster_version(),
        );
        let mut sent = 0;
        for chunk in file.chunks(32 * 1024) {
            sent += chunk.len();
            let answer = pb::SnapshotResponse {
                header: Some(header(vault.header(revision))),
                remaining_bytes: (file.len() - sent) as u64,
                blob: chunk.to_vec(),
            };
            if answers.send(answer.encode_to_vec()).await.is_err() {
                return;
            }
        }
        let sha = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &file);
        let last = pb::SnapshotResponse {
            header: Some(header(vault.header(revision))),
            remaining_bytes: 0,
            blob: sha.as_ref().to_vec(),
        };
        let _ = answers.send(last.encode_to_vec()).await;
    });
    response
}

/// One watcher: what it watches and from where.
struct Watcher {
    id: i64,
    range: KeyRange,
    prev_kv: bool,
    no_put: bool,
    no_delete: bool,
}

impl Watcher {
    fn events(&self, changes: &[Change]) -> Vec<pb::Event> {
        changes
            .iter()
            .filter(|c| self.range.contains(&c.kv.key))
            .filter(|c| !(c.deleted && self.no_delete || !c.deleted && self.no_put))
            .map(|c| pb::Event {
                r#type: i32::from(c.deleted),
                kv: Some(kv(c.kv.clone())),
                prev_kv: c.prev.clone().filter(|_| self.prev_kv).map(kv),
            })
            .collect()
    }
}

/// `Watch/Watch`: watchers created, cancelled and asked for progress on one stream.
pub fn watch(vault: Arc<Vault>, body: Incoming) -> Response<Body> {
    let (answers, response) = streaming_response();
    let (sink, mut asks) = mpsc::channel::<pb::WatchRequest>(QUEUE);
    tokio::spawn(requests(body, sink));
    tokio::spawn(async move {
        use pb::watch_request::RequestUnion;
        let mut next_id = 0;
        let mut running: HashMap<i64, tokio::task::JoinHandle<()>> = HashMap::new();
        while let Some(ask) = asks.recv().await {
            match ask.request_union {
                Some(RequestUnion::CreateRequest(create)) => {
                    let id = if create.watch_id != 0 {
                        create.watch_id
                    } else {
                        while running.contains_key(&next_id) {
                            next_id += 1;
                        }
                        next_id
                    };
                    let watcher = Watcher {
                        id,
                        range: KeyRange::new(create.key.clone(), create.range_end.clone()),
                        prev_kv: create.prev_kv,
                        no_put: create.filters.contains(&0),
                        no_delete: create.filters.contains(&1),
                    };
                    let task = tokio::spawn(run_watcher(
                        vault.clone(),
                        watcher,
                        create.start_revision,
                        answers.clone(),
                    ));
                    running.insert(id, task);
                }
                Some(RequestUnion::CancelRequest(cancel)) => {
                    if let Some(task) = running.remove(&cancel.watch_id) {
                        task.abort();
                        let answer = pb::WatchResponse {
                            header: Some(header(vault.header(vault.revision()))),
                            watch_id: cancel.watch_id,
                            canceled: true,
                            ..pb::WatchResponse::default()
                        };
                        let _ = answers.send(answer.encode_to_vec()).await;
                    }
                }
                Some(RequestUnion::ProgressRequest(_)) => {
                    // A progress notification carries no watch ID (-1) and the revision.
                    let answer = pb::WatchResponse {
                        header: Some(header(vault.header(vault.revision()))),
                        watch_id: -1,
                        ..pb::WatchResponse::default()
                    };
                    let _ = answers.send(answer.encode_to_vec()).await;
                }
                None => {}
            }
        }
        // The client closed its side: the watchers keep going until it resets the stream.
        for (_, task) in running {
            let _ = task.await;
        }
    });
    response
}

async fn run_watcher(
    vault: Arc<Vault>,
    watcher: Watcher,
    start: i64,
    answers: mpsc::Sender<Vec<u8>>,
) {
    let Watching {
        mut news,
        past,
        now,
    } = vault.watch_from(start);
    let send = |answer: pb::WatchResponse| {
        let answers = answers.clone();
        async move { answers.send(answer.encode_to_vec()).await.is_ok() }
    };
    let created = pb::WatchResponse {
        header: Some(header(vault.header(now))),
        watch_id: watcher.id,
        created: true,
        ..pb::WatchResponse::default()
    };
    if !send(created).await {
        return;
    }
    let past = match past {
        Ok(past) => past,
        Err(RevisionError::Compacted(compacted)) => {
            let answer = pb::WatchResponse {
                header: Some(header(vault.header(now))),
                watch_id: watcher.id,
                canceled: true,
                compact_revision: compacted,
                cancel_reason: "etcdserver: mvcc: required revision has been compacted".into(),
                ..pb::WatchResponse::default()
            };
            send(answer).await;
            return;
        }
        Err(RevisionError::Future) => Vec::new(),
    };
    let mut told = now;
    // The past, one answer per revision.
    let mut at = 0;
    while at < past.len() {
        let revision = past[at].revision;
        let end = past[at..]
            .iter()
            .position(|c| c.revision != revision)
            .map_or(past.len(), |n| at + n);
        let events = watcher.events(&past[at..end]);
        if !events.is_empty() {
            let answer = pb::WatchResponse {
                header: Some(header(vault.header(revision))),
                watch_id: watcher.id,
                events,
                ..pb::WatchResponse::default()
            };
            if !send(answer).await {
                return;
            }
        }
        at = end;
    }
    loop {
        let batches = match news.recv().await {
            Ok(batch) => vec![batch],
            Err(broadcast::error::RecvError::Lagged(_)) => {
                // Too far behind the news: read what was missed from the history.
                let fresh = vault.watch_from(told + 1);
                news = fresh.news;
                match fresh.past {
                    Ok(changes) => vec![Arc::new(crate::vault::Batch {
                        revision: changes.last().map_or(told, |c| c.revision),
                        changes,
                    })],
                    Err(_) => return,
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        for batch in batches {
            if batch.revision <= told || batch.revision < start {
                continue;
            }
            told = batch.revision;
            let events = watcher.events(&batch.changes);
            if events.is_empty() {
                continue;
            }
            let answer = pb::WatchResponse {
                header: Some(header(vault.header(batch.revision))),
                watch_id: watcher.id,
                events,
                ..pb::WatchResponse::default()
            };
            if !send(answer).await {
                return;
            }
        }
    }
}
