//! kube-proxy's projected service-account token: asked for once with a TokenRequest, then kept
//! fresh on the lab clock the way the kubelet keeps a projected token.

use kubecorp_apiserver::api::Api;
use kubecorp_trust::LabClock;

/// kube-proxy's projected service-account token, as the kubelet keeps it: asked for with a
/// TokenRequest (3607 s, the projected default), and made again with the same key and account
/// whenever it is read after 80 % of its life has passed on the lab clock — a clock moved by
/// hours never leaves Dave holding an expired token.
#[derive(Clone, Default)]
pub(crate) struct ProjectedToken(std::sync::Arc<std::sync::Mutex<Projected>>);

#[derive(Default)]
struct Projected {
    /// The account in kube-system (`kube-proxy` when unset).
    account: Option<String>,
    /// The token, when it was made and when it expires (Unix seconds, lab clock).
    token: Option<(String, i64, i64)>,
    /// What re-makes it: the apiserver's keys, the account's uid, the clock.
    renew: Option<(kubecorp_apiserver::tokens::TokenKeys, String, LabClock)>,
}

const PROJECTED_SECONDS: i64 = 3607;

impl ProjectedToken {
    /// The token of another account in kube-system.
    pub(crate) fn for_account(account: &str) -> ProjectedToken {
        let token = ProjectedToken::default();
        token.0.lock().unwrap_or_else(|e| e.into_inner()).account = Some(account.to_owned());
        token
    }

    fn account(&self) -> String {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .account
            .clone()
            .unwrap_or_else(|| "kube-proxy".into())
    }

    pub(crate) fn token(&self) -> Option<String> {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let account = state.account.clone().unwrap_or_else(|| "kube-proxy".into());
        if let (Some((_, issued, expires)), Some((keys, uid, clock))) = (&state.token, &state.renew)
        {
            let now = clock.now();
            let at = now.unix_timestamp();
            if at >= issued + (expires - issued) * 4 / 5 || at < *issued {
                let claims = kubecorp_apiserver::tokens::TokenKeys::claims(
                    "kube-system",
                    kubecorp_apiserver::tokens::Ref {
                        name: account,
                        uid: uid.clone(),
                    },
                    vec![kubecorp_apiserver::tokens::ISSUER.into()],
                    now,
                    PROJECTED_SECONDS,
                    None,
                );
                if let Ok(fresh) = keys.issue(&claims) {
                    state.token = Some((fresh, at, at + PROJECTED_SECONDS));
                }
            }
        }
        state.token.as_ref().map(|(t, _, _)| t.clone())
    }

    /// The first token, by TokenRequest with the node's badge (the Node authorizer lets a
    /// kubelet ask for its pods' tokens).
    pub(crate) async fn request(&self, api: &Api, node: &str, clock: &LabClock) {
        let Some(kubelet) = kubecorp_apiserver::user::UserInfo::from_cert(
            &format!("system:node:{node}"),
            ["system:nodes"],
        ) else {
            return;
        };
        self.request_as(api, &kubelet, clock).await
    }

    /// The first token, by TokenRequest as `requester`.
    pub(crate) async fn request_as(
        &self,
        api: &Api,
        requester: &kubecorp_apiserver::user::UserInfo,
        clock: &LabClock,
    ) {
        let kubelet = requester.clone();
        let request = serde_json::json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                         "spec": {"expirationSeconds": PROJECTED_SECONDS}});
        let (answer, _) = api
            .handle(kubecorp_apiserver::api::ApiRequest::json(
                &kubelet,
                "POST",
                &format!(
                    "/api/v1/namespaces/kube-system/serviceaccounts/{}/token",
                    self.account()
                ),
                Some(&request),
            ))
            .await;
        let Some(token) = answer.body_json()["status"]["token"]
            .as_str()
            .map(str::to_owned)
        else {
            return;
        };
        let keys = api.service_account_keys();
        let now = clock.now().unix_timestamp();
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let (Some(keys), Some(uid)) = (keys, account_uid(&token)) {
            state.renew = Some((keys, uid, clock.clone()));
        }
        state.token = Some((token, now, now + PROJECTED_SECONDS));
    }
}

/// The account uid a token's claims carry (`kubernetes.io.serviceaccount.uid`).
fn account_uid(token: &str) -> Option<String> {
    kubecorp_apiserver::tokens::unverified_claims(token).map(|c| c.kubernetes.serviceaccount.uid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubecorp_apiserver::tokens::{Ref, TokenAuthn, TokenKeys, ISSUER};
    use time::macros::datetime;

    /// A token made at the clock's present, as the TokenRequest would, with its keys kept.
    fn projected(clock: &LabClock) -> (ProjectedToken, TokenKeys) {
        let pair = rcgen::KeyPair::generate().unwrap();
        let keys = TokenKeys::from_key_pair(&pair, "https://127.0.0.1/openid/v1/jwks").unwrap();
        let account = Ref {
            name: "kube-proxy".into(),
            uid: "0b6c1f7e-0000-4000-8000-000000000001".into(),
        };
        let now = clock.now();
        let claims = TokenKeys::claims(
            "kube-system",
            account.clone(),
            vec![ISSUER.into()],
            now,
            PROJECTED_SECONDS,
            None,
        );
        let token = keys.issue(&claims).unwrap();
        let at = now.unix_timestamp();
        let projected = ProjectedToken::default();
        {
            let mut state = projected.0.lock().unwrap();
            state.token = Some((token, at, at + PROJECTED_SECONDS));
            state.renew = Some((keys.clone(), account.uid, clock.clone()));
        }
        (projected, keys)
    }

    fn verdict(keys: &TokenKeys, token: &str, clock: &LabClock) -> Result<i64, String> {
        match keys.authenticate(token, &[], clock.now()) {
            TokenAuthn::Valid { claims, .. } => Ok(claims.exp),
            TokenAuthn::Invalid(why) => Err(why),
            TokenAuthn::NotOurs => Err("not ours".into()),
        }
    }

    #[test]
    fn before_four_fifths_of_its_life_the_same_token_is_shown() {
        let clock = LabClock::fixed(datetime!(2026-06-01 09:00 UTC));
        let (projected, _) = projected(&clock);
        let first = projected.token().unwrap();
        clock.advance(time::Duration::minutes(47));
        assert_eq!(projected.token().unwrap(), first);
    }

    #[test]
    fn two_hours_later_on_the_lab_clock_a_fresh_token_is_shown_and_alice_would_accept_it() {
        let clock = LabClock::fixed(datetime!(2026-06-01 09:00 UTC));
        let (projected, keys) = projected(&clock);
        let first = projected.token().unwrap();
        clock.advance(time::Duration::hours(2));
        assert_eq!(
            verdict(&keys, &first, &clock),
            Err("service account token has expired".into()),
            "the first token is past its exp and leeway"
        );
        let fresh = projected.token().unwrap();
        assert_ne!(fresh, first);
        let exp = verdict(&keys, &fresh, &clock).unwrap();
        assert_eq!(exp, clock.now().unix_timestamp() + PROJECTED_SECONDS);
    }

    #[test]
    fn a_clock_moved_back_before_the_token_was_made_gets_a_new_one() {
        let clock = LabClock::fixed(datetime!(2026-06-01 09:00 UTC));
        let (projected, keys) = projected(&clock);
        let first = projected.token().unwrap();
        clock.advance(time::Duration::days(-1));
        let fresh = projected.token().unwrap();
        assert_ne!(fresh, first);
        assert!(verdict(&keys, &fresh, &clock).is_ok());
    }
}
