//! Service-account tokens judged by real clients: `kubectl create token`, curl with
//! `Authorization: Bearer …`, `kubectl auth whoami --token`, and Python's PyJWT checking a
//! token against the keys Alice publishes at `/openid/v1/jwks`.

use std::path::Path;

use super::Running;
use kubecorp_testkit::{run_tool, tool, Run};

const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// `kubectl create token NAME [args…]` as the admin: the token it prints.
fn create_token(lab: &Running, args: &[&str]) -> String {
    let mut all = vec!["create", "token"];
    all.extend(args);
    lab.admin(&all).success().stdout.trim().to_owned()
}

/// curl with a bearer token and the lab's CA, no badge: body, then the status code.
fn curl_bearer(lab: &Running, curl: &Path, token: &str, path: &str) -> Run {
    let ca = lab.dir.join("pki/ca.crt").to_string_lossy().into_owned();
    run_tool(
        curl,
        [
            "-sS".to_string(),
            "-w".to_string(),
            "\n%{http_code}".to_string(),
            "--cacert".to_string(),
            ca,
            "-H".to_string(),
            format!("Authorization: Bearer {token}"),
            format!("{}{path}", lab.url),
        ],
    )
}

/// kubectl with only a token: no kubeconfig, the lab's CA.
fn kubectl_with_token(lab: &Running, token: &str, args: &[&str]) -> Run {
    let ca = lab.dir.join("pki/ca.crt").to_string_lossy().into_owned();
    let empty = lab.write("empty.conf", "");
    let mut all = vec![
        "--kubeconfig".to_string(),
        empty,
        "--server".to_string(),
        lab.url.clone(),
        "--certificate-authority".to_string(),
        ca,
        "--token".to_string(),
        token.to_string(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    run_tool(&lab.kubectl, &all)
}

#[test]
fn kubectl_create_token_gives_a_bearer_token_alice_names_and_rbac_judges() {
    let Some(lab) = Running::start("kubectl_create_token") else {
        return;
    };
    let Some(curl) = tool("curl", "kubectl_create_token") else {
        return;
    };
    let token = create_token(&lab, &["default", "--duration", "10m"]);
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    kubectl_with_token(&lab, &token, &["auth", "whoami"])
        .success()
        .stdout_has("system:serviceaccount:default:default")
        .stdout_has("system:serviceaccounts:default");
    let pods = curl_bearer(&lab, &curl, &token, "/api/v1/namespaces/default/pods").success();
    assert!(pods.stdout.ends_with("\n403"), "{}", pods.dump());
    assert!(
        pods.stdout.contains(r#""message": "pods is forbidden: User \"system:serviceaccount:default:default\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"""#),
        "{}",
        pods.dump()
    );
    let jwks = curl_bearer(&lab, &curl, &token, "/openid/v1/jwks").success();
    assert!(jwks.stdout.ends_with("\n200"), "{}", jwks.dump());
    assert!(jwks.stdout.contains(r#""use":"sig""#), "{}", jwks.dump());

    // Ten minutes and go-jose's minute of leeway later, on the lab clock.
    lab.clock.advance(time::Duration::seconds(661));
    let expired = curl_bearer(&lab, &curl, &token, "/api/v1/namespaces/default/pods").success();
    assert!(expired.stdout.ends_with("\n401"), "{}", expired.dump());
    assert_eq!(
        lab.alices_log("service account token has expired"),
        r#""Unable to authenticate the request" err="[invalid bearer token, service account token has expired]""#
    );
    kubectl_with_token(&lab, &token, &["auth", "whoami"])
        .failure(1)
        .stderr_has("error: You must be logged in to the server (Unauthorized)");
}

#[test]
fn a_token_for_another_audience_or_from_another_key_gets_401_and_alices_log_says_why() {
    let Some(lab) = Running::start("a_token_for_another_audience") else {
        return;
    };
    let Some(curl) = tool("curl", "a_token_for_another_audience") else {
        return;
    };
    let vault = create_token(&lab, &["default", "--audience", "vault"]);
    let refused = curl_bearer(&lab, &curl, &vault, "/api").success();
    assert!(refused.stdout.ends_with("\n401"), "{}", refused.dump());
    assert_eq!(
        lab.alices_log("token audiences"),
        r#""Unable to authenticate the request" err="[invalid bearer token, token audiences [\"vault\"] is invalid for the target audiences [\"https://kubernetes.default.svc.cluster.local\"]]""#
    );
    // A token from another cluster's sa.key: its kid names no key Alice has.
    let stranger = rcgen::KeyPair::generate().unwrap();
    let keys = kubecorp_apiserver::tokens::TokenKeys::from_key_pair(
        &stranger,
        "https://other/openid/v1/jwks",
    )
    .unwrap();
    let claims = kubecorp_apiserver::tokens::TokenKeys::claims(
        "default",
        kubecorp_apiserver::tokens::Ref {
            name: "default".into(),
            uid: "00000000-0000-4000-8000-000000000000".into(),
        },
        vec![ISSUER.into()],
        lab.clock.now(),
        600,
        None,
    );
    let foreign = keys.issue(&claims).unwrap();
    let refused = curl_bearer(&lab, &curl, &foreign, "/api").success();
    assert!(refused.stdout.ends_with("\n401"), "{}", refused.dump());
    assert_eq!(
        lab.alices_log("no keys found"),
        r#""Unable to authenticate the request" err="[invalid bearer token, invalid signature, no keys found]""#
    );
}

#[test]
fn pyjwt_verifies_an_rs256_token_against_the_published_jwks() {
    // kubeadm's sa.key is RSA-2048, so its tokens are RS256 and /openid/v1/jwks publishes an
    // RSA key (`n`, `e`): what PyJWT judges here.
    let Some(lab) = Running::start_with_keys("pyjwt_verifies", kubecorp_pki::KeyAlgorithm::Rsa2048)
    else {
        return;
    };
    let Some(curl) = tool("curl", "pyjwt_verifies") else {
        return;
    };
    let Some(python) = tool("python3", "pyjwt_verifies") else {
        return;
    };
    let probe = run_tool(&python, ["-c", "import jwt, cryptography"]);
    if probe.status != 0 {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("pyjwt_verifies: PyJWT and cryptography are not installed, and CI=true requires them");
        }
        println!("SKIPPED pyjwt_verifies: PyJWT and cryptography are not installed");
        return;
    }
    let token = create_token(&lab, &["default", "--duration", "1h"]);
    let jwks = curl_bearer(&lab, &curl, &token, "/openid/v1/jwks").success();
    let body = jwks.stdout.trim_end().trim_end_matches("200").trim_end();
    let jwks_file = lab.write("jwks.json", body);
    // PyJWT picks the key by the token's kid and checks signature, issuer and audience.
    let script = r#"
import json, sys, jwt
published = json.load(open(sys.argv[1]))
jwks = jwt.PyJWKSet.from_dict(published)
token = sys.argv[2]
kid = jwt.get_unverified_header(token)["kid"]
key = next(k for k in jwks.keys if k.key_id == kid)
jwk = next(k for k in published["keys"] if k["kid"] == kid)
print(jwt.get_unverified_header(token)["alg"], jwk["kty"], key.algorithm_name)
claims = jwt.decode(token, key.key, algorithms=[key.algorithm_name],
                    audience=sys.argv[3], issuer=sys.argv[3], options={"verify_exp": False})
print(claims["sub"], claims["kubernetes.io"]["serviceaccount"]["name"])
try:
    jwt.decode(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"), key.key,
               algorithms=[key.algorithm_name], audience=sys.argv[3], options={"verify_exp": False})
    print("tampered token accepted")
except jwt.InvalidSignatureError as e:
    print("tampered:", e)
"#;
    let checked = run_tool(&python, ["-c", script, &jwks_file, &token, ISSUER]).success();
    assert_eq!(
        checked.stdout,
        "RS256 RSA RS256\nsystem:serviceaccount:default:default default\ntampered: Signature verification failed\n",
        "{}",
        checked.dump()
    );
}
