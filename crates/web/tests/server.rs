//! The page's door on a real socket: the stream with resume, and trainer actions that change a
//! real lab only with the token.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use kubecorp_pki::init::{init, InitOptions};
use kubecorp_pki::{ClusterFacts, KeyAlgorithm, Lab};
use kubecorp_trust::record::Body;
use kubecorp_trust::LabClock;
use kubecorp_web::pace::{Hold, Mode};
use kubecorp_web::{Control, Hub, Pace, Site, Token};
use time::macros::datetime;

/// A page served on a free port, with its hub, until the test ends.
struct Served {
    addr: SocketAddr,
    hub: Hub,
    _stop: tokio::sync::oneshot::Sender<()>,
    _runtime: tokio::runtime::Runtime,
}

fn serve(control: Option<Control>) -> Served {
    serve_with(Hub::with_history(100), control, None)
}

fn serve_with(hub: Hub, control: Option<Control>, pace: Option<Pace>) -> Served {
    let runtime = kubecorp_testkit::runtime();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let site = Site {
        hub: hub.clone(),
        control,
        pace,
    };
    runtime.spawn(kubecorp_web::run(site, listener, async {
        let _ = stopped.await;
    }));
    Served {
        addr,
        hub,
        _stop: stop,
        _runtime: runtime,
    }
}

/// One HTTP/1.1 exchange; the answer is read until the server closes or `wait` passes.
fn http(addr: SocketAddr, head: &str, body: &str, wait: Duration) -> (u16, String) {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(wait)).unwrap();
    let request = format!(
        "{head}\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).unwrap();
    let mut bytes = Vec::new();
    let _ = tcp.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn lab() -> (tempfile::TempDir, Lab) {
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::new(dir.path().join("lab"));
    init(
        &lab,
        &InitOptions {
            facts: ClusterFacts::new("cp-1", [127, 0, 0, 1].into()),
            key_algorithm: KeyAlgorithm::EcdsaP256,
            force: false,
            now: datetime!(2026-04-24 09:00 UTC),
        },
    )
    .unwrap();
    (dir, lab)
}

fn note(n: u32) -> Body {
    Body::Output {
        text: format!("note {n}"),
    }
}

#[test]
fn the_stream_resumes_after_the_last_event_id_the_browser_saw() {
    let served = serve(None);
    for n in 1..=5 {
        served.hub.push(note(n));
    }
    let (status, text) = http(
        served.addr,
        "GET /events HTTP/1.1\r\nLast-Event-ID: 3",
        "",
        Duration::from_millis(500),
    );
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("content-type: text/event-stream"), "{text}");
    // What was missed comes in one message, named after its last record.
    assert!(
        text.contains(concat!(
            "id: 5\ndata: [",
            r#"{"schema":"kubecorp/v1","seq":4,"type":"output","text":"note 4"},"#,
            r#"{"schema":"kubecorp/v1","seq":5,"type":"output","text":"note 5"}"#,
            "]\n\n"
        )),
        "{text}"
    );
    assert!(!text.contains(r#""seq":3,"#), "{text}");
}

/// The messages of `/events` read from a real socket until record `until` has come: each
/// message's id and its records' numbers. `resume` is sent as `Last-Event-ID`; `first` hears
/// of the first message.
fn read_stream(
    addr: SocketAddr,
    resume: Option<u64>,
    until: u64,
    first: Option<std::sync::mpsc::Sender<()>>,
) -> Vec<(u64, Vec<u64>)> {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let resume = resume.map_or(String::new(), |n| format!("Last-Event-ID: {n}\r\n"));
    write!(tcp, "GET /events HTTP/1.1\r\nHost: {addr}\r\n{resume}\r\n").unwrap();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 65536];
    let mut first = first;
    loop {
        let n = tcp.read(&mut buf).expect("the stream goes on");
        assert_ne!(n, 0, "the stream ended early");
        bytes.extend_from_slice(&buf[..n]);
        let messages = sse_messages(&bytes);
        if !messages.is_empty() {
            if let Some(first) = first.take() {
                first.send(()).unwrap();
            }
        }
        if messages
            .iter()
            .flat_map(|(_, seqs)| seqs)
            .any(|&s| s >= until)
        {
            return messages;
        }
    }
}

/// The whole messages in an HTTP/1.1 answer whose body is chunked Server-Sent Events.
fn sse_messages(bytes: &[u8]) -> Vec<(u64, Vec<u64>)> {
    let text = String::from_utf8_lossy(bytes);
    let Some((_, mut rest)) = text.split_once("\r\n\r\n") else {
        return Vec::new();
    };
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if after.len() < size + 2 {
            break;
        }
        body.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    let whole = &body[..body.rfind("\n\n").map_or(0, |i| i + 2)];
    whole
        .split_terminator("\n\n")
        .filter_map(|message| {
            let (id, data) = message.split_once("\ndata: ")?;
            let id = id.strip_prefix("id: ")?.parse().unwrap();
            let records: Vec<serde_json::Value> = serde_json::from_str(data).unwrap();
            let seqs = records.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
            Some((id, seqs))
        })
        .collect()
}

#[test]
fn a_busy_stream_comes_in_few_messages_and_resumes_exactly_after_the_last_one_taken() {
    let served = serve_with(Hub::with_history(1_000), None, None);
    served.hub.push(note(1));
    let (heard, first) = std::sync::mpsc::channel();
    let addr = served.addr;
    let reader = std::thread::spawn(move || read_stream(addr, None, 300, Some(heard)));
    // Record 1 came: the reader is on the live feed. Then a burst.
    first.recv_timeout(Duration::from_secs(30)).unwrap();
    for n in 2..=300 {
        served.hub.push(note(n));
    }
    let messages = reader.join().unwrap();
    let mut seen = Vec::new();
    for (id, seqs) in &messages {
        assert_eq!(
            Some(id),
            seqs.last(),
            "a message is named after its last record"
        );
        seen.extend(seqs.iter().copied());
    }
    assert_eq!(
        seen,
        (1..=300).collect::<Vec<u64>>(),
        "each record once, in order"
    );
    assert!(
        messages.len() < 150,
        "a burst is batched: {} messages for 300 records",
        messages.len()
    );

    // A browser that took the first message and reconnects gets exactly the rest.
    let took = messages[0].0;
    let again = read_stream(addr, Some(took), 300, None);
    let rest: Vec<u64> = again
        .iter()
        .flat_map(|(_, seqs)| seqs.iter().copied())
        .collect();
    assert_eq!(rest, (took + 1..=300).collect::<Vec<u64>>());
}

#[test]
fn an_events_whole_record_is_fetched_by_its_number_while_it_is_remembered() {
    let served = serve_with(Hub::with_history(3), None, None);
    let at = datetime!(2026-04-24 10:14:23 UTC);
    let event =
        kubecorp_trust::Event::new(at, "127.0.0.1:5000", "etcd", kubecorp_trust::Stage::Tls)
            .client_text("remote error: tls: unknown certificate authority")
            .explanation("Charlie does not know the CA that signed this badge.");
    let seq = served
        .hub
        .push(Body::Event(kubecorp_trust::record::EventRecord::new(
            event, false, None,
        )));
    let wait = Duration::from_secs(2);
    let (_, stream) = http(
        served.addr,
        "GET /events HTTP/1.1",
        "",
        Duration::from_millis(500),
    );
    assert!(stream.contains(r#""brief":true"#), "{stream}");
    assert!(!stream.contains("Charlie does not know"), "{stream}");
    let (status, whole) = http(
        served.addr,
        &format!("GET /api/records/{seq} HTTP/1.1"),
        "",
        wait,
    );
    assert_eq!(status, 200, "{whole}");
    assert!(whole.contains("content-type: application/json"), "{whole}");
    assert!(
        whole.contains(r#""explanation":"Charlie does not know the CA that signed this badge.""#),
        "{whole}"
    );
    assert!(!whole.contains(r#""brief""#), "{whole}");

    for n in 2..=4 {
        served.hub.push(note(n));
    }
    let (status, gone) = http(
        served.addr,
        &format!("GET /api/records/{seq} HTTP/1.1"),
        "",
        wait,
    );
    assert_eq!(status, 404, "{gone}");
    assert!(
        gone.contains(
            "record 1 is not kept: the office remembers its last 3 records (up to number 4)"
        ),
        "{gone}"
    );
    let (status, text) = http(served.addr, "GET /api/records/x HTTP/1.1", "", wait);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("expected a record's number"), "{text}");
}

#[test]
fn the_page_is_served_with_its_script_and_style_from_the_binary() {
    let served = serve(None);
    let (status, page) = http(served.addr, "GET / HTTP/1.1", "", Duration::from_secs(2));
    assert_eq!(status, 200);
    assert!(page.contains(r#"<script src="app.js"></script>"#), "{page}");
    assert!(
        page.contains("default-src 'none'"),
        "no CDN, nothing inline: {page}"
    );
    let (status, script) = http(
        served.addr,
        "GET /app.js HTTP/1.1",
        "",
        Duration::from_secs(2),
    );
    assert_eq!(status, 200);
    assert!(script.contains("new EventSource('events')"));
    let (status, _) = http(
        served.addr,
        "GET /nothing HTTP/1.1",
        "",
        Duration::from_secs(2),
    );
    assert_eq!(status, 404);
}

#[test]
fn a_read_only_page_refuses_every_change() {
    let served = serve(None);
    let (status, text) = http(
        served.addr,
        "POST /api/action HTTP/1.1",
        r#"{"action":"clock","advance_seconds":86400}"#,
        Duration::from_secs(2),
    );
    assert_eq!(status, 403, "{text}");
    assert!(
        text.contains("this page is read-only: the office was opened without --web-control"),
        "{text}"
    );
}

#[test]
fn a_break_from_the_page_needs_the_token_and_then_breaks_the_badge_on_disk() {
    let (_dir, lab) = lab();
    let token = Token::random().unwrap();
    let clock = LabClock::fixed(datetime!(2026-04-24 10:00 UTC));
    let served = serve(Some(Control {
        token: token.clone(),
        lab: lab.clone(),
        clock: clock.clone(),
    }));
    let conf = lab.kubeconfig_path("scheduler.conf");
    let before = std::fs::read(&conf).unwrap();
    let action = r#"{"action":"break","fault":"expire","target":"scheduler.conf"}"#;

    let (status, text) = http(
        served.addr,
        "POST /api/action HTTP/1.1",
        action,
        Duration::from_secs(2),
    );
    assert_eq!(status, 403, "{text}");
    assert!(
        text.contains("refused: changing the lab needs the token printed in the terminal"),
        "{text}"
    );
    let (status, _) = http(
        served.addr,
        "POST /api/action HTTP/1.1\r\nX-Kubecorp-Token: 00000000000000000000000000000000",
        action,
        Duration::from_secs(2),
    );
    assert_eq!(status, 403);
    assert_eq!(std::fs::read(&conf).unwrap(), before, "nothing changed yet");

    let (status, text) = http(
        served.addr,
        &format!("POST /api/action?token={} HTTP/1.1", token.as_str()),
        action,
        Duration::from_secs(5),
    );
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains(r#""command":"kubecorp break expire scheduler.conf""#),
        "{text}"
    );
    assert_ne!(
        std::fs::read(&conf).unwrap(),
        before,
        "the badge was broken"
    );

    let (status, text) = http(
        served.addr,
        &format!(
            "POST /api/action HTTP/1.1\r\nX-Kubecorp-Token: {}",
            token.as_str()
        ),
        r#"{"action":"clock","advance_seconds":86400}"#,
        Duration::from_secs(2),
    );
    assert_eq!(status, 200, "{text}");
    assert_eq!(clock.now(), datetime!(2026-04-25 10:00 UTC));
    // The page hears of both, as the room should.
    let (_, stream) = http(
        served.addr,
        "GET /events HTTP/1.1",
        "",
        Duration::from_millis(500),
    );
    assert!(
        stream.contains(
            r#""type":"action","command":"kubecorp break expire scheduler.conf","ok":true"#
        ),
        "{stream}"
    );
    assert!(
        stream.contains(r#""type":"clock","now":"2026-04-25T10:00:00Z""#),
        "{stream}"
    );
}

#[test]
fn a_paced_run_goes_on_and_changes_pace_from_the_page_only_with_the_token() {
    let hub = Hub::with_history(100);
    let token = Token::random().unwrap();
    let pace = Pace::new(hub.clone(), Mode::Presses, token.clone());
    let served = serve_with(hub.clone(), None, Some(pace.clone()));
    let with_token = format!(
        "POST /api/pace HTTP/1.1\r\nX-Kubecorp-Token: {}",
        token.as_str()
    );
    let wait = Duration::from_secs(2);

    let (status, text) = http(served.addr, &with_token, r#"{"action":"next"}"#, wait);
    assert_eq!(status, 409, "{text}");
    assert!(text.contains("the run is not waiting now"), "{text}");

    let run = {
        let pace = pace.clone();
        std::thread::spawn(move || pace.wait(Hold::Reveal))
    };
    pace.until_waiting();
    for refused in [
        "POST /api/pace HTTP/1.1".to_owned(),
        "POST /api/pace HTTP/1.1\r\nX-Kubecorp-Token: 00000000000000000000000000000000".to_owned(),
    ] {
        for asked in [r#"{"action":"next"}"#, r#"{"action":"pace","seconds":2}"#] {
            let (status, text) = http(served.addr, &refused, asked, wait);
            assert_eq!(status, 403, "{text}");
            assert!(
                text.contains("refused: the run's pace needs the token printed in the terminal"),
                "{text}"
            );
        }
    }
    assert_eq!(pace.waiting(), Some(Hold::Reveal), "still waiting");
    assert_eq!(pace.mode(), Mode::Presses);

    let (status, text) = http(
        served.addr,
        &with_token,
        r#"{"action":"pace","seconds":2}"#,
        wait,
    );
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("the run plays hands-free, 2 s a step"),
        "{text}"
    );
    assert_eq!(pace.mode(), Mode::Every(Duration::from_secs(2)));
    let (status, text) = http(
        served.addr,
        &with_token,
        r#"{"action":"pace","seconds":null}"#,
        wait,
    );
    assert_eq!(status, 200, "{text}");
    let (_, info) = http(served.addr, "GET /api/info HTTP/1.1", "", wait);
    assert!(
        info.contains(r#""pace":{"seconds":null,"waiting":"reveal"}"#),
        "{info}"
    );

    let (status, text) = http(served.addr, &with_token, r#"{"action":"next"}"#, wait);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("what came of it"), "{text}");
    run.join().unwrap();
    let (_, stream) = http(
        served.addr,
        "GET /events HTTP/1.1",
        "",
        Duration::from_millis(500),
    );
    assert!(
        stream.contains(r#""type":"pace","waiting":"reveal","seconds":2.0}"#),
        "{stream}"
    );
    assert!(
        stream.contains(r#""type":"pace"}"#),
        "the run plays again: {stream}"
    );
}
