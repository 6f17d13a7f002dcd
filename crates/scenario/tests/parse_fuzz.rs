//! The scenario parser fed anything a careless author might save: random text, and YAML built
//! from the scenario's own keys with values of every kind in every place. Every file is either
//! a scenario or errors that name file, line and field; never a panic. A bounded property run;
//! failures are kept in `tests/proptest-regressions/parse.txt`.

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/proptest-regressions/parse.txt",
        ))),
        ..ProptestConfig::default()
    }
}

/// A YAML flow value from the scenario vocabulary, a few levels deep.
fn yaml_value() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("title"),
        Just("steps"),
        Just("lab"),
        Just("clock"),
        Just("nodes"),
        Just("advance"),
        Just("set"),
        Just("request"),
        Just("as"),
        Just("get"),
        Just("expect"),
        Just("status"),
        Just("break"),
        Just("fault"),
        Just("target"),
        Just("run"),
        Just("wait"),
        Just("for"),
        Just("say"),
        Just("csr"),
        Just("name"),
        Just("cn"),
        Just("chapters"),
        Just("staff"),
        Just("verdict"),
        Just("stage"),
        Just("host"),
        Just("path"),
    ];
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("99999999999999999999y".to_owned()),
        Just("9999-12-31T00:00:00Z".to_owned()),
        Just("0000-01-01".to_owned()),
        Just("'a..b'".to_owned()),
        "[a-z0-9./:-]{0,10}".prop_map(|s| format!("'{s}'")),
    ];
    leaf.prop_recursive(4, 48, 5, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((key.clone(), inner), 0..5).prop_map(|kv| {
                let fields: Vec<String> =
                    kv.into_iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("{{{}}}", fields.join(", "))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_text_is_a_scenario_or_errors_never_a_panic(text in "\\PC{0,200}") {
        if let Err(errors) = kubecorp_scenario::parse::parse_str(Path::new("x.yaml"), &text) {
            prop_assert!(errors.to_string().contains("x.yaml"), "{}", errors);
        }
    }

    #[test]
    fn scenario_shaped_yaml_with_any_values_is_a_scenario_or_errors_naming_the_file(
        lab in yaml_value(), steps in prop::collection::vec(yaml_value(), 0..4)
    ) {
        let steps: Vec<String> = steps.iter().map(|s| format!("  - {s}")).collect();
        let text = format!("title: fuzz\nlab: {lab}\nsteps:\n{}\n", steps.join("\n"));
        if let Err(errors) = kubecorp_scenario::parse::parse_str(Path::new("x.yaml"), &text) {
            prop_assert!(errors.to_string().contains("x.yaml"), "{}", errors);
        }
    }
}
