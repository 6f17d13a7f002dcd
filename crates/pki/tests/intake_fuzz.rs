//! The Founder's intake fed anything: PEM files and kubeconfig-embedded blocks that are damaged,
//! truncated, mislabelled or random. Every one is an error naming the file, never a panic. A
//! bounded property run; failures are kept in `tests/proptest-regressions/intake.txt`.

use std::path::Path;

use base64::Engine as _;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/proptest-regressions/intake.txt",
        ))),
        ..ProptestConfig::default()
    }
}

fn pem_like() -> impl Strategy<Value = Vec<u8>> {
    let tag = prop_oneof![
        Just("CERTIFICATE".to_owned()),
        Just("RSA PRIVATE KEY".to_owned()),
        Just("EC PRIVATE KEY".to_owned()),
        Just("PRIVATE KEY".to_owned()),
        Just("CERTIFICATE REQUEST".to_owned()),
        "[A-Z ]{0,12}",
    ];
    (
        tag,
        prop::collection::vec(any::<u8>(), 0..200),
        any::<bool>(),
        0usize..400,
    )
        .prop_map(|(tag, der, cut, at)| {
            let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
            let mut text =
                format!("-----BEGIN {tag}-----\n{b64}\n-----END {tag}-----\n").into_bytes();
            if cut {
                text.truncate(at.min(text.len()));
            }
            text
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_bytes_as_a_certificate_or_key_are_an_error_naming_the_file(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let path = Path::new("/lab/pki/apiserver.crt");
        if let Err(e) = kubecorp_pki::cert::parse_cert_chain(path, &bytes) {
            prop_assert!(e.to_string().contains("/lab/pki/apiserver.crt"), "{}", e);
        }
        if let Err(e) = kubecorp_pki::keys::parse_private_key(path, &bytes) {
            prop_assert!(e.to_string().contains("/lab/pki/apiserver.crt"), "{}", e);
        }
    }

    #[test]
    fn damaged_pem_blocks_are_an_error_naming_the_file(bytes in pem_like()) {
        let path = Path::new("/lab/pki/ca.key");
        if let Err(e) = kubecorp_pki::cert::parse_cert_chain(path, &bytes) {
            prop_assert!(e.to_string().contains("/lab/pki/ca.key"), "{}", e);
        }
        if let Err(e) = kubecorp_pki::keys::parse_private_key(path, &bytes) {
            prop_assert!(e.to_string().contains("/lab/pki/ca.key"), "{}", e);
        }
    }
}
