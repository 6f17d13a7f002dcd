//! The page's door: plain HTTP on loopback (unless told otherwise), routed by method and path.
//!
//! | route              | answer |
//! |--------------------|--------|
//! | `GET /`            | the page (floor plan, timeline, details) |
//! | `GET /app.js`, `GET /app.css` | its script and style, embedded in the binary |
//! | `GET /events`      | the recorded stream as Server-Sent Events, events in brief, in batches; resumes after `Last-Event-ID` (or `?after=N`) |
//! | `GET /api/records/N` | record N whole (an event's badge, texts, explanation, hint), while the hub remembers it |
//! | `GET /api/info`    | what the page may offer: whether controls are on, the faults and badges |
//! | `POST /api/action` | a trainer action (`--web-control` and the token only) |
//! | `POST /api/pace`   | a paced run: next ▶, or a new pace (`--step`/`--pace` and the token only) |

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use kubecorp_trust::record::{ActionRecord, Body};
use tokio::sync::{broadcast, watch};

use crate::control::{Action, Control};
use crate::follow::clock_body;
use crate::hub::{Hub, Line};
use crate::pace::{self, Pace};
use crate::page;

/// The answer body: a whole text, or an endless stream.
pub type Answer = Response<BoxBody<Bytes, Infallible>>;

/// A page's browser idles at most this long without hearing anything (a comment keeps the
/// connection alive through proxies).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Records in one message at most: a burst reaches the browser in a few large messages.
const BATCH: usize = 512;

/// One message this often at most while the stream is busy: the browser parses one JSON array
/// per message, ten times a second, however many records a second the office makes. A record
/// after a quiet spell goes out at once.
const BATCH_EVERY: Duration = Duration::from_millis(100);

/// The largest trainer action body read.
const ACTION_LIMIT: usize = 4 * 1024;

/// What the door serves.
#[derive(Debug)]
pub struct Site {
    pub hub: Hub,
    pub control: Option<Control>,
    /// A run played at the presenter's pace (`kubecorp run --web --step` or `--pace`).
    pub pace: Option<Pace>,
}

/// Answers one request; `closing` turns `true` when the door shuts (event streams end then).
pub async fn answer(
    site: Arc<Site>,
    request: Request<Incoming>,
    closing: watch::Receiver<bool>,
) -> Result<Answer, Infallible> {
    let path = request.uri().path().to_owned();
    let answer = match (request.method(), path.as_str()) {
        (&Method::GET, "/" | "/index.html") => {
            text(StatusCode::OK, "text/html; charset=utf-8", page::live())
        }
        (&Method::GET, "/app.js") => text(
            StatusCode::OK,
            "text/javascript; charset=utf-8",
            page::SCRIPT.to_owned(),
        ),
        (&Method::GET, "/app.css") => text(
            StatusCode::OK,
            "text/css; charset=utf-8",
            page::STYLE.to_owned(),
        ),
        (&Method::GET, "/events") => events(&site.hub, &request, closing),
        (&Method::GET, "/api/info") => json(StatusCode::OK, info(&site)),
        (&Method::GET, p) if p.starts_with("/api/records/") => record(&site.hub, p),
        (&Method::POST, "/api/action") => action(&site, request).await,
        (&Method::POST, "/api/pace") => pace(&site, request).await,
        (_, "/" | "/index.html" | "/app.js" | "/app.css" | "/events" | "/api/info") => {
            plain(StatusCode::METHOD_NOT_ALLOWED, "only GET here\n")
        }
        (_, p) if p.starts_with("/api/records/") => {
            plain(StatusCode::METHOD_NOT_ALLOWED, "only GET here\n")
        }
        (_, "/api/action" | "/api/pace") => {
            plain(StatusCode::METHOD_NOT_ALLOWED, "only POST here\n")
        }
        _ => plain(StatusCode::NOT_FOUND, "no such page\n"),
    };
    Ok(answer)
}

fn text(status: StatusCode, kind: &'static str, body: String) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from(body)).boxed());
    *answer.status_mut() = status;
    let headers = answer.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    // Everything the page needs comes from this door: no CDN, no inline script.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        ),
    );
    answer
}

fn plain(status: StatusCode, body: &str) -> Answer {
    text(status, "text/plain; charset=utf-8", body.to_owned())
}

fn json(status: StatusCode, value: serde_json::Value) -> Answer {
    text(status, "application/json", value.to_string())
}

/// What the page may offer.
fn info(site: &Site) -> serde_json::Value {
    let faults: Vec<_> = kubecorp_pki::fault::Fault::ALL
        .iter()
        .map(|f| serde_json::json!({"name": f.name(), "what": f.teaches()}))
        .collect();
    let badges: Vec<&str> = kubecorp_pki::profile::PROFILES
        .iter()
        .map(|p| p.name)
        .collect();
    serde_json::json!({
        "schema": kubecorp_trust::record::SCHEMA,
        "control": site.control.is_some(),
        "pace": site.pace.as_ref().map(Pace::info),
        "faults": faults,
        "badges": badges,
        "last": site.hub.last(),
    })
}

/// `GET /api/records/N`: record N whole, as `kubecorp run --format json` prints it.
fn record(hub: &Hub, path: &str) -> Answer {
    let asked = path.trim_start_matches("/api/records/");
    let Ok(seq) = asked.parse::<u64>() else {
        return refuse(
            StatusCode::BAD_REQUEST,
            &format!("not understood: {asked:?} (expected a record's number, as /api/records/42)"),
        );
    };
    match hub.whole(seq) {
        Some(whole) => text(StatusCode::OK, "application/json", whole),
        None => refuse(
            StatusCode::NOT_FOUND,
            &format!(
                "record {seq} is not kept: the office remembers its last {} records (up to number {}) and the events a run's steps caused",
                hub.keeps(),
                hub.last()
            ),
        ),
    }
}

/// The number after which a reader resumes: `Last-Event-ID`, else `?after=N`, else 0.
fn resume_after(request: &Request<Incoming>) -> u64 {
    let header = request
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let query = || {
        request.uri().query().and_then(|q| {
            q.split('&')
                .find_map(|pair| pair.strip_prefix("after="))
                .and_then(|n| n.parse().ok())
        })
    };
    header.or_else(query).unwrap_or(0)
}

fn events(hub: &Hub, request: &Request<Incoming>, closing: watch::Receiver<bool>) -> Answer {
    let after = resume_after(request);
    let (tx, body) = http_body_util::channel::Channel::<Bytes, Infallible>::new(4);
    tokio::spawn(stream(hub.clone(), after, tx, closing));
    let mut answer = Response::new(body.boxed());
    let headers = answer.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    answer
}

/// `id: 9` / `data: [{…},{…}]` / blank line: one message for up to [`BATCH`] records, its id
/// the last one's, so a browser that reconnects after it resumes exactly after that record
/// (a message cut short is not taken, and its records come again).
fn frames(lines: &[Line]) -> Bytes {
    let mut out = String::with_capacity(
        lines.iter().map(|l| l.json.len() + 1).sum::<usize>() + 32 * (lines.len() / BATCH + 1),
    );
    for chunk in lines.chunks(BATCH) {
        let Some(last) = chunk.last() else { continue };
        out.push_str("id: ");
        out.push_str(&last.seq.to_string());
        out.push_str("\ndata: [");
        for (i, line) in chunk.iter().enumerate() {
            if i != 0 {
                out.push(',');
            }
            out.push_str(&line.json);
        }
        out.push_str("]\n\n");
    }
    Bytes::from(out)
}

/// Adds to `batch` every record waiting in `live`; a feed that fell behind is caught up from
/// the history.
fn drain(hub: &Hub, live: &mut broadcast::Receiver<Line>, batch: &mut Vec<Line>, last: u64) {
    loop {
        match live.try_recv() {
            Ok(line) => batch.push(line),
            Err(broadcast::error::TryRecvError::Lagged(_)) => {
                let (missed, resumed) = hub.since(batch.last().map_or(last, |l| l.seq));
                *live = resumed;
                batch.extend(missed);
            }
            Err(_) => return,
        }
    }
}

/// Writes the stream to one browser until it leaves or the door closes.
async fn stream(
    hub: Hub,
    after: u64,
    mut tx: http_body_util::channel::Sender<Bytes, Infallible>,
    mut closing: watch::Receiver<bool>,
) {
    let (past, mut live) = hub.since(after);
    let mut last = after;
    if tx
        .send_data(Bytes::from_static(b"retry: 1000\n\n"))
        .await
        .is_err()
    {
        return;
    }
    if !past.is_empty() && tx.send_data(frames(&past)).await.is_err() {
        return;
    }
    last = past.last().map_or(last, |l| l.seq);
    let mut sent = Instant::now();
    loop {
        tokio::select! {
            _ = closing.changed() => return,
            _ = tokio::time::sleep(KEEP_ALIVE) => {
                if tx.send_data(Bytes::from_static(b": keep-alive\n\n")).await.is_err() {
                    return;
                }
            }
            received = live.recv() => {
                let mut batch = match received {
                    Ok(line) => vec![line],
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Fell behind: read what was missed from the history, then go on live.
                        let (missed, resumed) = hub.since(last);
                        live = resumed;
                        missed
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                // Soon after the last message, what comes meanwhile joins this one.
                let due = sent + BATCH_EVERY;
                if Instant::now() < due {
                    tokio::select! {
                        _ = closing.changed() => return,
                        _ = tokio::time::sleep_until(due.into()) => {}
                    }
                }
                drain(&hub, &mut live, &mut batch, last);
                batch.retain(|l| l.seq > last);
                if let Some(l) = batch.last() {
                    last = l.seq;
                    if tx.send_data(frames(&batch)).await.is_err() {
                        return;
                    }
                    sent = Instant::now();
                }
            }
        }
    }
}

/// The token a request carries: the `X-Kubecorp-Token` header, else `?token=`.
fn token(request: &Request<Incoming>) -> Option<String> {
    let header = request
        .headers()
        .get("x-kubecorp-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    header.or_else(|| {
        request.uri().query().and_then(|q| {
            q.split('&')
                .find_map(|pair| pair.strip_prefix("token="))
                .map(str::to_owned)
        })
    })
}

fn refuse(status: StatusCode, text: &str) -> Answer {
    json(status, serde_json::json!({"ok": false, "text": text}))
}

/// A small JSON body, read whole.
async fn read_body<T: serde::de::DeserializeOwned>(
    request: Request<Incoming>,
    expected: &str,
) -> Result<T, Answer> {
    let body = match Limited::new(request.into_body(), ACTION_LIMIT)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            return Err(refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the request could not be read: {e}"),
            ))
        }
    };
    serde_json::from_slice(&body).map_err(|e| {
        refuse(
            StatusCode::BAD_REQUEST,
            &format!("not understood: {e} (expected {expected})"),
        )
    })
}

/// `POST /api/pace`: next ▶, or a new pace, for a run at the presenter's pace.
async fn pace(site: &Site, request: Request<Incoming>) -> Answer {
    let Some(pace) = site.pace.clone() else {
        return refuse(
            StatusCode::CONFLICT,
            "this run is not paced from the page: start it with --step or --pace",
        );
    };
    if !token(&request).is_some_and(|t| pace.token().matches(&t)) {
        return refuse(
            StatusCode::FORBIDDEN,
            "refused: the run's pace needs the token printed in the terminal (open the page with the URL that carries ?token=…)",
        );
    }
    let asked: pace::Request = match read_body(
        request,
        r#"{"action": "next"} or {"action": "pace", "seconds": 3 | null}"#,
    )
    .await
    {
        Ok(asked) => asked,
        Err(answer) => return answer,
    };
    // A press only wakes the run's wait; nothing here blocks.
    match pace.answer(&asked) {
        Ok(text) => json(
            StatusCode::OK,
            serde_json::json!({"ok": true, "text": text}),
        ),
        Err(refusal) => refuse(StatusCode::CONFLICT, &refusal.to_string()),
    }
}

async fn action(site: &Site, request: Request<Incoming>) -> Answer {
    let Some(control) = site.control.clone() else {
        return refuse(
            StatusCode::FORBIDDEN,
            "this page is read-only: the office was opened without --web-control",
        );
    };
    if !token(&request).is_some_and(|t| control.token.matches(&t)) {
        return refuse(
            StatusCode::FORBIDDEN,
            "refused: changing the lab needs the token printed in the terminal (open the page with the URL that carries ?token=…)",
        );
    }
    let action: Action =
        match read_body(request, r#"{"action": "break"|"undo"|"renew"|"clock", …}"#).await {
            Ok(a) => a,
            Err(answer) => return answer,
        };
    let command = action.command();
    let done = {
        let control = control.clone();
        let action = action.clone();
        // Writing certificates and keys is file work: off the async threads.
        tokio::task::spawn_blocking(move || action.perform(&control))
            .await
            .unwrap_or_else(|e| Err(format!("the action stopped: {e}")))
    };
    let (ok, text) = match done {
        Ok(text) => (true, text),
        Err(text) => (false, text),
    };
    site.hub.push(Body::Action(ActionRecord {
        command: command.clone(),
        ok,
        text: text.clone(),
    }));
    if matches!(action, Action::Clock { .. }) {
        site.hub.push(clock_body(&control.clock));
    }
    let status = match ok {
        true => StatusCode::OK,
        false => StatusCode::UNPROCESSABLE_ENTITY,
    };
    json(
        status,
        serde_json::json!({"ok": ok, "command": command, "text": text}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: u32) -> Vec<Line> {
        let hub = Hub::new();
        for i in 1..=n {
            hub.push(Body::Output {
                text: format!("note {i}"),
            });
        }
        hub.since(0).0
    }

    /// Each message of an SSE body: its id and its records' numbers.
    fn messages(bytes: &[u8]) -> Vec<(u64, Vec<u64>)> {
        let text = std::str::from_utf8(bytes).unwrap();
        text.split_terminator("\n\n")
            .map(|message| {
                let (id, data) = message.split_once('\n').unwrap();
                let id = id.strip_prefix("id: ").unwrap().parse().unwrap();
                let data = data.strip_prefix("data: ").unwrap();
                let records: Vec<serde_json::Value> = serde_json::from_str(data).unwrap();
                (
                    id,
                    records.iter().map(|r| r["seq"].as_u64().unwrap()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn a_batch_is_one_message_whose_id_is_its_last_record() {
        let sent = frames(&lines(3));
        assert_eq!(
            std::str::from_utf8(&sent).unwrap(),
            concat!(
                "id: 3\ndata: [",
                r#"{"schema":"kubecorp/v1","seq":1,"type":"output","text":"note 1"},"#,
                r#"{"schema":"kubecorp/v1","seq":2,"type":"output","text":"note 2"},"#,
                r#"{"schema":"kubecorp/v1","seq":3,"type":"output","text":"note 3"}"#,
                "]\n\n"
            )
        );
    }

    #[test]
    fn a_long_batch_is_cut_into_messages_that_each_name_their_last_record() {
        let n = BATCH as u32 * 2 + 5;
        let got = messages(&frames(&lines(n)));
        assert_eq!(got.len(), 3);
        let mut all: Vec<u64> = Vec::new();
        for (id, seqs) in &got {
            assert_eq!(Some(id), seqs.last());
            all.extend(seqs);
        }
        assert_eq!(all, (1..=u64::from(n)).collect::<Vec<_>>());
    }
}
