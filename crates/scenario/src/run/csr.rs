//! A newcomer asks the Founder for a badge: a key and a CSR made here (as `openssl req` would),
//! submitted to Alice, and the signed certificate collected once someone approved it, with a
//! kubeconfig for `run:` steps made the way the seed article makes one.

use base64::Engine as _;
use kubecorp_pki::fs::{write_atomic, Mode};
use kubecorp_pki::Authority;
use kubecorp_trust::Stage;
use serde_json::json;

use super::caller::Made;
use super::{Caller, Runner, StepError};
use crate::expect::{Answer, Outcome, Refusal};
use crate::model::{Call, CsrSpec, Verb};

impl Runner<'_> {
    pub(super) async fn csr(
        &mut self,
        csr: &CsrSpec,
        caller: &Caller,
    ) -> Result<Outcome, StepError> {
        let users = self.dir.join("users");
        let key = match self.made.get(&csr.identity) {
            Some(made) => kubecorp_pki::keys::read_private_key(&made.key)?,
            None => {
                // A pooled lab's newcomer draws from the lab's pool, as its renewals do.
                let key =
                    kubecorp_pki::key_source::KeySource::of(&self.lab).key(self.key_algorithm)?;
                let pem = kubecorp_pki::keys::private_key_pem(&key)?;
                let path = users.join(format!("{}.key", csr.identity));
                write_atomic(&path, pem.as_bytes(), Mode::Secret)?;
                self.made.insert(
                    csr.identity.clone(),
                    Made {
                        key: path,
                        cert: None,
                    },
                );
                key
            }
        };
        let request = kubecorp_pki::csr::request_pem(&key, &csr.cn, &csr.groups)?;
        write_atomic(
            &users.join(format!("{}.csr", csr.identity)),
            request.as_bytes(),
            Mode::Public,
        )?;
        let mut spec = json!({
            "request": base64::engine::general_purpose::STANDARD.encode(request.as_bytes()),
            "signerName": csr.signer,
            "usages": csr.usages,
        });
        if let Some(s) = csr.expiration_seconds {
            spec["expirationSeconds"] = json!(s);
        }
        let object = json!({
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {"name": csr.name},
            "spec": spec,
        });
        let client = self.apiserver(caller)?;
        let (_, outcome) = self
            .api_call(
                &client,
                &Call::Verb {
                    verb: Verb::Create,
                    resource: "certificatesigningrequests".into(),
                    name: Some(csr.name.clone()),
                    namespace: None,
                    body: Some(object),
                    signer: None,
                },
                caller,
            )
            .await?;
        Ok(outcome)
    }

    pub(super) async fn certificate(
        &mut self,
        csr: &str,
        identity: &str,
    ) -> Result<Outcome, StepError> {
        let admin = self.admin()?;
        let path = format!("/apis/certificates.k8s.io/v1/certificatesigningrequests/{csr}");
        let object = match admin.get(&path).await {
            Ok(v) => v,
            Err(e) => {
                let stage = match e.phase() {
                    Some(kubecorp_client::Phase::Connect) => Stage::Tcp,
                    Some(kubecorp_client::Phase::TlsHandshake) => Stage::Tls,
                    _ => Stage::Request,
                };
                return Ok(Outcome::Refused(Refusal {
                    status: e.code(),
                    ..Refusal::at(stage, e.kubectl_text())
                }));
            }
        };
        let Some(b64) = object["status"]["certificate"].as_str() else {
            let conditions: Vec<String> = object["status"]["conditions"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .map(|c| {
                            format!(
                                "{} ({})",
                                c["type"].as_str().unwrap_or(""),
                                c["message"].as_str().unwrap_or("")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let text = if conditions.is_empty() {
                format!("CSR {csr} has no certificate yet (Pending: approve it first)")
            } else {
                format!("CSR {csr} has no certificate: {}", conditions.join("; "))
            };
            return Ok(Outcome::Refused(Refusal {
                status: Some(200),
                ..Refusal::at(Stage::Request, text)
            }));
        };
        let pem = base64::engine::general_purpose::STANDARD.decode(b64)?;
        let users = self.dir.join("users");
        let cert_path = users.join(format!("{identity}.crt"));
        write_atomic(&cert_path, &pem, Mode::Public)?;
        let chain = kubecorp_pki::cert::parse_cert_chain(&cert_path, &pem)?;
        let info = kubecorp_pki::cert::CertInfo::from_der(
            &cert_path,
            chain.first().ok_or(StepError::EmptyCertificate)?,
        )?;
        let made = self
            .made
            .entry(identity.to_owned())
            .or_insert_with(|| Made {
                key: users.join(format!("{identity}.key")),
                cert: None,
            });
        made.cert = Some(cert_path.clone());
        // A kubeconfig for `run` steps, made the way the seed article makes one.
        if let (Ok(key_pem), Ok(ca_pem)) = (
            std::fs::read_to_string(&made.key),
            std::fs::read_to_string(self.lab.ca_cert_path(Authority::Cluster)),
        ) {
            let config = kubecorp_pki::kubeconfig::Kubeconfig::with_client_cert(
                "kubernetes",
                &self.office.apiserver_url(),
                &ca_pem,
                identity,
                &String::from_utf8_lossy(&pem),
                &key_pem,
            );
            let _ = write_atomic(
                &users.join(format!("{identity}.conf")),
                config.to_yaml().as_bytes(),
                Mode::Secret,
            );
        }
        Ok(Outcome::Answered(Answer {
            status: Some(200),
            text: format!(
                "{} ({}), valid {} to {}",
                info.subject,
                info.issuer,
                kubecorp_trust::go_time(info.not_before),
                kubecorp_trust::go_time(info.not_after)
            ),
            lifetime: Some(info.not_after - info.not_before),
            also: Vec::new(),
        }))
    }
}
