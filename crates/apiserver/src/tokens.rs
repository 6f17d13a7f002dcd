//! Service-account tokens: the other kind of identity Alice accepts, a signed note instead of
//! a badge.
//!
//! A badge (client certificate) is checked during or after the TLS handshake against a CA. A
//! token is a JSON Web Token sent in `Authorization: Bearer …`; Alice checks its signature
//! against `sa.pub` (`--service-account-key-file`) and signs new ones with `sa.key`
//! (`--service-account-signing-key-file`). kubeadm sets the issuer to
//! `https://kubernetes.default.svc.cluster.local` (`--service-account-issuer`), which is also the
//! audience the apiserver expects when no other is asked for (`--api-audiences` defaults to it).
//!
//! A token is *bound*: it names its service account (and its uid), lives for a set time
//! (`kubectl create token NAME --duration 10m`; an hour by default; at least ten minutes), is
//! for one or more audiences, and may be bound to a pod. The texts follow kube-apiserver v1.32:
//! claims as `pkg/serviceaccount/claims.go` writes them, checks in the order of
//! `pkg/serviceaccount/jwt.go` (`JWTTokenAuthenticator`: issuer, key id, signature, audience,
//! then expiry with go-jose's one-minute leeway), and the key id as `keyIDFromPublicKey`
//! computes it (base64url of the SHA-256 of the public key's DER). The public keys are
//! published for anyone who must check a token without asking Alice:
//! `/.well-known/openid-configuration` and `/openid/v1/jwks`.
//!
//! Signing uses aws-lc (`sa.key` as PKCS#8, RSA — kubeadm's default — or ECDSA P-256/P-384, as
//! the lab's key algorithm; kube-apiserver signs RS256, ES256 or ES384 accordingly);
//! checking uses the `jsonwebtoken` crate with the same keys the JWKS publishes.

use std::collections::BTreeMap;

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING,
    RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rcgen::PublicKeyData as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::OffsetDateTime;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey as SpkiKey;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::user::UserInfo;

/// kubeadm's `--service-account-issuer`, and the apiserver's own audience.
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// A TokenRequest without `expirationSeconds` gets an hour.
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// `spec.expirationSeconds` below this is refused (422).
pub const MIN_EXPIRATION_SECONDS: i64 = 600;
/// go-jose's `DefaultLeeway`: a token counts as expired a minute after its `exp`.
pub const LEEWAY_SECONDS: i64 = 60;
/// The `extra` key carrying a token's `jti`.
pub const CREDENTIAL_ID: &str = "authentication.kubernetes.io/credential-id";

/// Why the signing keys could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("{path}: {problem}")]
    Key { path: String, problem: String },
    #[error("signing a service-account token: {0}")]
    Sign(String),
}

/// The signature algorithm a key makes: RS256 for RSA, ES256 for ECDSA P-256, ES384 for P-384.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    Rs256,
    Es256,
    Es384,
}

impl Alg {
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
        }
    }

    fn jsonwebtoken(self) -> Algorithm {
        match self {
            Alg::Rs256 => Algorithm::RS256,
            Alg::Es256 => Algorithm::ES256,
            Alg::Es384 => Algorithm::ES384,
        }
    }
}

/// One public key tokens are checked against, with its key id and JWK.
#[derive(Clone)]
struct PublicKey {
    alg: Alg,
    kid: String,
    jwk: Value,
    decoding: DecodingKey,
}

/// The private half: what signs new tokens.
#[derive(Clone)]
enum Signer {
    Rsa(std::sync::Arc<RsaKeyPair>),
    Ec(std::sync::Arc<EcdsaKeyPair>),
}

/// `sa.key` and `sa.pub` as the apiserver holds them.
#[derive(Clone)]
pub struct TokenKeys {
    signer: Option<(Signer, PublicKey)>,
    verifying: Vec<PublicKey>,
    /// Where the JWKS is published (`https://<advertise address>:6443/openid/v1/jwks`).
    jwks_uri: String,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.verifying.iter().map(|k| k.kid.as_str()).collect();
        write!(
            f,
            "TokenKeys {{ kids: {kids:?}, jwks_uri: {:?} }}",
            self.jwks_uri
        )
    }
}

/// The claims kube-apiserver writes into a bound token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub iss: String,
    pub jti: String,
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaims,
    pub nbf: i64,
    pub sub: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct KubernetesClaims {
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<Ref>,
    pub serviceaccount: Ref,
}

/// A `{name, uid}` reference inside the claims.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Ref {
    pub name: String,
    pub uid: String,
}

/// What the token authenticator concluded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenAuthn {
    /// Not a token this issuer signed (not a JWT, another `iss`): no opinion.
    NotOurs,
    /// A good token: who it names, for which of the asked audiences, and its claims.
    Valid {
        claims: Box<Claims>,
        audiences: Vec<String>,
    },
    /// A token of ours that fails: the authenticator's error text.
    Invalid(String),
}

impl Claims {
    /// The user the token names, as the service-account authenticator builds it: the
    /// account's name, uid and groups, and the token's id in `extra`.
    pub fn user(&self) -> UserInfo {
        let mut user = UserInfo::service_account(
            &self.kubernetes.namespace,
            &self.kubernetes.serviceaccount.name,
        );
        user.uid = self.kubernetes.serviceaccount.uid.clone();
        let mut extra = BTreeMap::new();
        if let Some(pod) = &self.kubernetes.pod {
            extra.insert(
                "authentication.kubernetes.io/pod-name".to_string(),
                vec![pod.name.clone()],
            );
            extra.insert(
                "authentication.kubernetes.io/pod-uid".to_string(),
                vec![pod.uid.clone()],
            );
        }
        if let Some(node) = &self.kubernetes.node {
            extra.insert(
                "authentication.kubernetes.io/node-name".to_string(),
                vec![node.name.clone()],
            );
            extra.insert(
                "authentication.kubernetes.io/node-uid".to_string(),
                vec![node.uid.clone()],
            );
        }
        extra.insert(CREDENTIAL_ID.to_string(), vec![format!("JTI={}", self.jti)]);
        user.extra = extra;
        user
    }
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
pub fn go_quoted_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| crate::status::go_quote(i)).collect();
    format!("[{}]", quoted.join(" "))
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `keyIDFromPublicKey`: base64url(SHA-256(PKIX public key DER)), no padding.
pub fn key_id(spki_der: &[u8]) -> String {
    b64(digest::digest(&digest::SHA256, spki_der).as_ref())
}

fn public_key(spki_der: &[u8], path: &str) -> Result<PublicKey, TokenError> {
    let bad = |problem: String| TokenError::Key {
        path: path.to_string(),
        problem,
    };
    let (_, spki) = SubjectPublicKeyInfo::from_der(spki_der)
        .map_err(|e| bad(format!("not a public key: {e}")))?;
    let kid = key_id(spki_der);
    let parsed = spki
        .parsed()
        .map_err(|e| bad(format!("not a public key: {e}")))?;
    match parsed {
        SpkiKey::RSA(rsa) => {
            let trim = |b: &[u8]| -> Vec<u8> {
                let start = b.iter().position(|x| *x != 0).unwrap_or(b.len());
                b[start..].to_vec()
            };
            let (n, e) = (trim(rsa.modulus), trim(rsa.exponent));
            Ok(PublicKey {
                alg: Alg::Rs256,
                jwk: json!({"use": "sig", "kty": "RSA", "kid": kid, "alg": "RS256",
                            "n": b64(&n), "e": b64(&e)}),
                kid,
                decoding: DecodingKey::from_rsa_raw_components(&n, &e),
            })
        }
        SpkiKey::EC(point) => {
            // An uncompressed point: 0x04, then x and y of the curve's size.
            let raw = point.data();
            let (alg, crv, size) = match raw.len() {
                65 => (Alg::Es256, "P-256", 32),
                97 => (Alg::Es384, "P-384", 48),
                _ => (Alg::Es256, "", 0),
            };
            if size == 0 || raw[0] != 4 {
                return Err(bad(
                    "an EC key that is not an uncompressed P-256 or P-384 point".into(),
                ));
            }
            let (x, y) = (b64(&raw[1..1 + size]), b64(&raw[1 + size..]));
            let decoding = DecodingKey::from_ec_components(&x, &y)
                .map_err(|e| bad(format!("an unusable {crv} key: {e}")))?;
            Ok(PublicKey {
                alg,
                jwk: json!({"use": "sig", "kty": "EC", "kid": kid, "crv": crv, "alg": alg.name(),
                            "x": x, "y": y}),
                kid,
                decoding,
            })
        }
        _ => Err(bad(
            "a key that signs neither RS256 nor ES256/ES384 (RSA or ECDSA expected)".into(),
        )),
    }
}

impl TokenKeys {
    /// The signer from a private key's DER (`der`) and its public key's (`spki`), checking
    /// tokens against that public half.
    pub fn from_der(
        der: &[u8],
        spki: &[u8],
        path: &str,
        jwks_uri: &str,
    ) -> Result<TokenKeys, TokenError> {
        let bad = |problem: String| TokenError::Key {
            path: path.to_string(),
            problem,
        };
        // PKCS#8, or what kubeadm writes: PKCS#1 (`RSA PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`).
        let signer = if let Ok(rsa) =
            RsaKeyPair::from_pkcs8(der).or_else(|_| RsaKeyPair::from_der(der))
        {
            Signer::Rsa(std::sync::Arc::new(rsa))
        } else {
            let ec = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                .or_else(|_| {
                    EcdsaKeyPair::from_private_key_der(&ECDSA_P384_SHA384_FIXED_SIGNING, der)
                })
                .map_err(|_| bad("neither an RSA nor an ECDSA P-256/P-384 private key".into()))?;
            Signer::Ec(std::sync::Arc::new(ec))
        };
        let spki = spki.to_vec();
        let public = public_key(&spki, path)?;
        Ok(TokenKeys {
            verifying: vec![public.clone()],
            signer: Some((signer, public)),
            jwks_uri: jwks_uri.to_string(),
        })
    }

    /// The signer for an rcgen key pair (tests, and keys made in memory).
    pub fn from_key_pair(key: &rcgen::KeyPair, jwks_uri: &str) -> Result<TokenKeys, TokenError> {
        TokenKeys::from_der(
            key.serialized_der(),
            &key.subject_public_key_info(),
            "sa.key",
            jwks_uri,
        )
    }

    /// `sa.key` (signs) and `sa.pub` (checks), as kubeadm writes them.
    pub fn from_files(
        sa_key: &std::path::Path,
        sa_pub: &std::path::Path,
        jwks_uri: &str,
    ) -> Result<TokenKeys, TokenError> {
        let key_path = sa_key.display().to_string();
        let key = kubecorp_pki::keys::read_private_key(sa_key).map_err(|e| TokenError::Key {
            path: key_path.clone(),
            problem: e.to_string(),
        })?;
        let mut keys = TokenKeys::from_der(
            key.serialized_der(),
            &key.subject_public_key_info(),
            &key_path,
            jwks_uri,
        )?;
        let pub_path = sa_pub.display().to_string();
        let pem_text = std::fs::read(sa_pub).map_err(|e| TokenError::Key {
            path: pub_path.clone(),
            problem: e.to_string(),
        })?;
        let block = pem::parse(&pem_text).map_err(|e| TokenError::Key {
            path: pub_path.clone(),
            problem: format!("not a PEM public key: {e}"),
        })?;
        keys.verifying = vec![public_key(block.contents(), &pub_path)?];
        Ok(keys)
    }

    /// The algorithm new tokens are signed with.
    pub fn alg(&self) -> Option<Alg> {
        self.signer.as_ref().map(|(_, p)| p.alg)
    }

    /// Signs `claims` into a compact JWT: `{"alg":…,"kid":…}.{claims}.{signature}`.
    pub fn issue(&self, claims: &Claims) -> Result<String, TokenError> {
        let Some((signer, public)) = &self.signer else {
            return Err(TokenError::Sign(
                "no --service-account-signing-key-file".into(),
            ));
        };
        let header = json!({"alg": public.alg.name(), "kid": public.kid});
        let body = serde_json::to_vec(claims).map_err(|e| TokenError::Sign(e.to_string()))?;
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(&body));
        let rng = SystemRandom::new();
        let signature = match signer {
            Signer::Rsa(key) => {
                let mut sig = vec![0; key.public_modulus_len()];
                key.sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut sig)
                    .map_err(|e| TokenError::Sign(e.to_string()))?;
                sig
            }
            Signer::Ec(key) => key
                .sign(&rng, input.as_bytes())
                .map_err(|e| TokenError::Sign(e.to_string()))?
                .as_ref()
                .to_vec(),
        };
        Ok(format!("{input}.{}", b64(&signature)))
    }

    /// New claims for `namespace/name` (uid `uid`), for `audiences`, valid `seconds` from
    /// `now`, optionally bound to a pod on a node.
    pub fn claims(
        namespace: &str,
        account: Ref,
        audiences: Vec<String>,
        now: OffsetDateTime,
        seconds: i64,
        bound: Option<(Ref, Option<Ref>)>,
    ) -> Claims {
        let at = now.unix_timestamp();
        let (pod, node) = match bound {
            Some((pod, node)) => (Some(pod), node),
            None => (None, None),
        };
        Claims {
            aud: audiences,
            exp: at + seconds,
            iat: at,
            iss: ISSUER.to_string(),
            jti: crate::meta::new_uid(),
            kubernetes: KubernetesClaims {
                namespace: namespace.to_string(),
                node,
                pod,
                serviceaccount: account.clone(),
            },
            nbf: at,
            sub: format!("system:serviceaccount:{namespace}:{}", account.name),
        }
    }

    /// `JWTTokenAuthenticator.AuthenticateToken` on the lab clock, for the audiences the
    /// request targets (the apiserver's own, [`ISSUER`], when none are asked for).
    pub fn authenticate(&self, token: &str, wanted: &[String], now: OffsetDateTime) -> TokenAuthn {
        let token = token.trim();
        // hasCorrectIssuer: a JWT in compact form whose unverified `iss` is ours.
        let parts: Vec<&str> = token.split('.').collect();
        if token.starts_with('{') || parts.len() != 3 {
            return TokenAuthn::NotOurs;
        }
        let Some(unverified) = URL_SAFE_NO_PAD
            .decode(parts[1])
            .ok()
            .and_then(|p| serde_json::from_slice::<Value>(&p).ok())
        else {
            return TokenAuthn::NotOurs;
        };
        if unverified["iss"].as_str() != Some(ISSUER) {
            return TokenAuthn::NotOurs;
        }
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return TokenAuthn::NotOurs;
        };
        let keys: Vec<&PublicKey> = match header.kid.as_deref().filter(|k| !k.is_empty()) {
            Some(kid) => self.verifying.iter().filter(|k| k.kid == kid).collect(),
            None => self.verifying.iter().collect(),
        };
        if keys.is_empty() {
            return TokenAuthn::Invalid("invalid signature, no keys found".into());
        }
        let mut claims = None;
        for key in keys {
            let mut validation = Validation::new(key.alg.jsonwebtoken());
            validation.validate_exp = false;
            validation.validate_nbf = false;
            validation.validate_aud = false;
            validation.required_spec_claims.clear();
            if let Ok(data) = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation) {
                claims = Some(data.claims);
                break;
            }
        }
        let Some(claims) = claims else {
            // go-jose v4's text for a signature that does not verify.
            return TokenAuthn::Invalid("go-jose/go-jose: error in cryptographic primitive".into());
        };
        if claims.iss != ISSUER {
            return TokenAuthn::Invalid(format!("token issuer {:?} is invalid", claims.iss));
        }
        let implicit = vec![ISSUER.to_string()];
        let requested: &[String] = if wanted.is_empty() { &implicit } else { wanted };
        let audiences: Vec<String> = claims
            .aud
            .iter()
            .filter(|a| requested.contains(a))
            .cloned()
            .collect();
        if audiences.is_empty() {
            return TokenAuthn::Invalid(format!(
                "token audiences {} is invalid for the target audiences {}",
                go_quoted_list(&claims.aud),
                go_quoted_list(requested)
            ));
        }
        // The validator: go-jose's time checks, with its leeway.
        let at = now.unix_timestamp();
        if at - LEEWAY_SECONDS > claims.exp {
            return TokenAuthn::Invalid("service account token has expired".into());
        }
        if at + LEEWAY_SECONDS < claims.nbf {
            return TokenAuthn::Invalid("service account token is not valid yet".into());
        }
        if at + LEEWAY_SECONDS < claims.iat {
            return TokenAuthn::Invalid("service account token is issued in the future".into());
        }
        TokenAuthn::Valid {
            claims: Box::new(claims),
            audiences,
        }
    }

    /// `/openid/v1/jwks`: every public key tokens are checked against.
    pub fn jwks(&self) -> Value {
        json!({"keys": self.verifying.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()})
    }

    /// `/.well-known/openid-configuration`, in the field order kube-apiserver writes.
    pub fn discovery(&self) -> Value {
        let mut algs: Vec<&str> = self.verifying.iter().map(|k| k.alg.name()).collect();
        algs.sort();
        algs.dedup();
        json!({
            "issuer": ISSUER,
            "jwks_uri": self.jwks_uri,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": algs,
        })
    }
}

/// A token's claims read without checking its signature: only for a token one was just given
/// (the lab's kubelet reading back the account uid of kube-proxy's token).
pub fn unverified_claims(token: &str) -> Option<Claims> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

/// The log line kube-apiserver writes when a bearer token is refused: Go's aggregate of the
/// bearer authenticator's `invalid bearer token` and the token authenticator's reason, after
/// the x509 authenticator's error when a badge failed too (`authentication.go`, v1.32).
pub fn unable_to_authenticate(x509: &[String], token_error: Option<&str>) -> String {
    let mut errors: Vec<&str> = x509.iter().map(String::as_str).collect();
    errors.push("invalid bearer token");
    errors.extend(token_error);
    let err = if errors.len() == 1 {
        errors[0].to_string()
    } else {
        format!("[{}]", errors.join(", "))
    };
    format!(
        "\"Unable to authenticate the request\" err={}",
        crate::status::go_quote(&err)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-04-24 09:00:00 UTC);

    fn keys(alg: &'static rcgen::SignatureAlgorithm) -> TokenKeys {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        TokenKeys::from_key_pair(&key, "https://127.0.0.1:6443/openid/v1/jwks").unwrap()
    }

    fn token(keys: &TokenKeys, audiences: &[&str], seconds: i64) -> String {
        let claims = TokenKeys::claims(
            "default",
            Ref {
                name: "default".into(),
                uid: "u-1".into(),
            },
            audiences.iter().map(|s| s.to_string()).collect(),
            NOW,
            seconds,
            None,
        );
        keys.issue(&claims).unwrap()
    }

    #[test]
    fn a_token_signed_with_sa_key_names_its_service_account() {
        for alg in [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &rcgen::PKCS_RSA_SHA256,
        ] {
            let k = keys(alg);
            let t = token(&k, &[ISSUER], 600);
            let TokenAuthn::Valid { claims, audiences } = k.authenticate(&t, &[], NOW) else {
                panic!("{:?}", k.authenticate(&t, &[], NOW));
            };
            assert_eq!(audiences, [ISSUER]);
            let user = claims.user();
            assert_eq!(user.name, "system:serviceaccount:default:default");
            assert_eq!(user.uid, "u-1");
            assert_eq!(
                user.groups,
                [
                    "system:serviceaccounts",
                    "system:serviceaccounts:default",
                    "system:authenticated"
                ]
            );
        }
    }

    #[test]
    fn another_key_an_old_token_and_another_audience_are_refused_in_go_words() {
        let k = keys(&rcgen::PKCS_ECDSA_P256_SHA256);
        let stranger = keys(&rcgen::PKCS_ECDSA_P256_SHA256);
        assert_eq!(
            k.authenticate(&token(&stranger, &[ISSUER], 600), &[], NOW),
            TokenAuthn::Invalid("invalid signature, no keys found".into())
        );
        let t = token(&k, &[ISSUER], 600);
        assert!(
            matches!(
                k.authenticate(&t, &[], NOW + time::Duration::seconds(660)),
                TokenAuthn::Valid { .. }
            ),
            "a minute of leeway"
        );
        assert_eq!(
            k.authenticate(&t, &[], NOW + time::Duration::seconds(661)),
            TokenAuthn::Invalid("service account token has expired".into())
        );
        assert_eq!(
            k.authenticate(&token(&k, &["vault"], 600), &[], NOW),
            TokenAuthn::Invalid(
                "token audiences [\"vault\"] is invalid for the target audiences [\"https://kubernetes.default.svc.cluster.local\"]".into()
            )
        );
        assert_eq!(k.authenticate("not-a-jwt", &[], NOW), TokenAuthn::NotOurs);
    }

    #[test]
    fn the_log_line_aggregates_as_go_does() {
        assert_eq!(
            unable_to_authenticate(&[], Some("service account token has expired")),
            r#""Unable to authenticate the request" err="[invalid bearer token, service account token has expired]""#
        );
        assert_eq!(
            unable_to_authenticate(&[], None),
            r#""Unable to authenticate the request" err="invalid bearer token""#
        );
    }
}
