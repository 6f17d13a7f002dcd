//! Charlie's JSON gateway fed what a hostile or careless visitor might send: arbitrary bytes,
//! JSON shaped like etcd's requests with the wrong kinds in its fields, and bodies nested
//! around Go's depth limit. A bounded property run (a few hundred cases per property, seconds
//! in all); failures proptest finds are kept in `tests/proptest-regressions/gateway.txt` and
//! replayed first on every run.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::Engine as _;
use http::Method;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::Value;

use kubecorp_etcd::api::Gateway;
use kubecorp_etcd::gojson::{check_first_value, decode_base64, MAX_NESTING_DEPTH};

const PATHS: &[&str] = &[
    "/v3/kv/put",
    "/v3/kv/range",
    "/v3/kv/deleterange",
    "/v3/kv/txn",
];

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/proptest-regressions/gateway.txt",
        ))),
        ..ProptestConfig::default()
    }
}

/// The answer must be what grpc-gateway sends: 200 with a JSON object, or an error status with
/// `{"error":…,"message":…,"code":…}` whose error and message agree.
fn assert_gateway_shape(path: &str, body: &[u8]) {
    let gateway = Gateway::new("etcd");
    let reply = gateway.handle(&Method::POST, path, body);
    let answer: Value = serde_json::from_slice(&reply.body).unwrap_or_else(|e| {
        panic!(
            "POST {path} answered {} with a body that is not JSON ({e}): {:?}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        )
    });
    match reply.status.as_u16() {
        200 => assert!(answer.get("header").is_some(), "{answer}"),
        400 | 404 | 429 | 501 => {
            assert_eq!(answer["error"], answer["message"], "{answer}");
            assert!(answer["code"].is_i64(), "{answer}");
            let text = answer["error"].as_str().unwrap_or_default();
            assert!(
                !text.contains("recursion limit"),
                "a depth Go accepts was refused by the parser's own limit: {text}"
            );
        }
        other => panic!("POST {path} answered {other}: {answer}"),
    }
}

fn field_name() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "key",
        "range_end",
        "rangeEnd",
        "value",
        "limit",
        "revision",
        "prev_kv",
        "keys_only",
        "count_only",
        "lease",
        "compare",
        "success",
        "failure",
        "request_put",
        "request_range",
        "request_delete_range",
        "request_txn",
        "target",
        "result",
        "create_revision",
        "mod_revision",
        "version",
        "unknown",
    ])
    .prop_map(str::to_owned)
}

/// JSON values built from the pieces etcd's requests are made of, in any arrangement.
fn request_like() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e300f64..1e300).prop_map(Value::from),
        prop::collection::vec(any::<u8>(), 0..12).prop_map(|b| Value::String(STANDARD.encode(b))),
        prop::sample::select(vec![
            "EQUAL", "GREATER", "NOPE", "VALUE", "MOD", "1", "-1", "1.5", "", "[1]", "\"2\"",
            "YQ=", "Zm9v=", "\u{0}",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(field_name(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Opening brackets, `[` or `{"a":`, `depth` of them, then the closers (or not).
fn nested(kinds: &[bool], closed: bool) -> String {
    let mut body = String::new();
    for &array in kinds {
        body.push_str(if array { "[" } else { r#"{"a":"# });
    }
    if closed {
        body.push('1');
        for &array in kinds.iter().rev() {
            body.push(if array { ']' } else { '}' });
        }
    }
    body
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_bytes_get_an_answer_in_grpc_gateways_shape(
        path in prop::sample::select(PATHS),
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        assert_gateway_shape(path, &body);
    }

    #[test]
    fn request_shaped_json_with_any_field_kinds_gets_an_answer_in_grpc_gateways_shape(
        path in prop::sample::select(PATHS),
        body in request_like(),
        trailing in prop::sample::select(vec!["", " ", "x", "}", "{\"a\":"]),
    ) {
        let mut bytes = serde_json::to_vec(&body).unwrap();
        bytes.extend_from_slice(trailing.as_bytes());
        assert_gateway_shape(path, &bytes);
    }

    #[test]
    fn json_that_serde_reads_is_json_that_gos_scanner_reads(body in request_like()) {
        let text = serde_json::to_vec(&body).unwrap();
        prop_assert_eq!(check_first_value(&text), Ok(Some(text.len())));
    }

    #[test]
    fn nesting_is_refused_exactly_past_gos_ten_thousand_levels(
        depth in (MAX_NESTING_DEPTH - 3)..(MAX_NESTING_DEPTH + 3),
        seed in any::<u64>(),
        closed in any::<bool>(),
    ) {
        let kinds: Vec<bool> = (0..depth).map(|i| (seed >> (i % 64)) & 1 == 1).collect();
        let body = nested(&kinds, closed);
        let scanned = check_first_value(body.as_bytes());
        if depth > MAX_NESTING_DEPTH {
            let bracket = if kinds[MAX_NESTING_DEPTH] { '[' } else { '{' };
            prop_assert_eq!(scanned, Err(format!("invalid character '{bracket}' exceeded max depth")));
        } else if closed {
            prop_assert_eq!(scanned, Ok(Some(body.len())));
        } else {
            prop_assert_eq!(scanned, Err("unexpected EOF".to_owned()));
        }
        assert_gateway_shape("/v3/kv/range", body.as_bytes());
    }

    #[test]
    fn base64_decodes_what_go_encodes_and_refuses_what_go_refuses(
        bytes in prop::collection::vec(any::<u8>(), 0..48),
        noise in "[A-Za-z0-9+/=*]{0,16}",
    ) {
        prop_assert_eq!(decode_base64(&STANDARD.encode(&bytes)), Ok(bytes));
        // Without newlines (which Go skips), Go's StdEncoding and the base64 crate's STANDARD
        // agree on what is valid once stray low bits in the last quantum are allowed, as Go
        // allows them unless `.Strict()` is asked for.
        let go_std = GeneralPurpose::new(
            &alphabet::STANDARD,
            GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
        );
        prop_assert_eq!(decode_base64(&noise).is_ok(), go_std.decode(&noise).is_ok(), "{}", noise);
    }
}

#[test]
fn a_hundred_thousand_open_brackets_are_refused_in_gos_words() {
    assert_eq!(
        check_first_value("[".repeat(100_000).as_bytes()),
        Err("invalid character '[' exceeded max depth".to_owned())
    );
}
