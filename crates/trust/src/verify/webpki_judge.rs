//! Judge 2: rustls-webpki, the verifier behind the lab's real TLS connections: if it refuses
//! a chain the replay let through, the verdict is still a refusal.

use super::*;

// ---------------------------------------------------------------------------------------------
// Judge 2: rustls-webpki, the verifier behind the lab's real TLS connections.
// ---------------------------------------------------------------------------------------------

/// Accepts any extended key usage: the request asked for none.
pub(super) struct AnyUsage;

impl webpki::ExtendedKeyUsageValidator for AnyUsage {
    fn validate(&self, _: webpki::KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        Ok(())
    }
}

/// The path webpki accepted, as DER from the request: leaf, intermediates, root.
pub(super) struct AcceptedPath<'c>(Vec<&'c [u8]>);

impl<'c> AcceptedPath<'c> {
    /// Each certificate with the one that signed it.
    pub(super) fn links(&self) -> Vec<(&'c [u8], &'c [u8])> {
        self.0.windows(2).map(|w| (w[0], w[1])).collect()
    }
}

pub(super) fn webpki_verify<'c>(
    req: &VerifyRequest<'c>,
    leaf: &Cert<'_>,
) -> Result<AcceptedPath<'c>, Refusal> {
    let end_entity = webpki::EndEntityCert::try_from(req.leaf).map_err(|e| Refusal::Malformed {
        which: "badge".into(),
        detail: format!("rustls-webpki: {e}"),
    })?;

    if let Some(host) = req.name.filter(|h| !h.is_empty()) {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        // A name webpki cannot even parse was judged by the Go replay alone.
        if let Ok(server_name) = ServerName::try_from(bare) {
            if end_entity
                .verify_is_valid_for_subject_name(&server_name)
                .is_err()
            {
                let shown = if bare.parse::<IpAddr>().is_ok() {
                    bare
                } else {
                    host
                };
                return Err(Refusal::Hostname(HostnameError::new(leaf, shown)));
            }
        }
    }

    // webpki takes a trust anchor as a subject and a key and nothing else: no dates, no
    // constraints of the root's own. That is why Go's date check on the root (above) is ours.
    let (anchors, anchor_roots): (Vec<_>, Vec<&'c [u8]>) = req
        .roots
        .iter()
        .filter_map(|der| Some((webpki::anchor_from_trusted_cert(der).ok()?, der.as_ref())))
        .unzip();
    let time = unix_time(req.at);
    let algs = webpki::ALL_VERIFICATION_ALGS;
    let result = match req.usage {
        Some(Usage::Server) => end_entity.verify_for_usage(
            algs,
            &anchors,
            req.intermediates,
            time,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        ),
        Some(Usage::Client) => end_entity.verify_for_usage(
            algs,
            &anchors,
            req.intermediates,
            time,
            webpki::KeyUsage::client_auth(),
            None,
            None,
        ),
        None => end_entity.verify_for_usage(
            algs,
            &anchors,
            req.intermediates,
            time,
            AnyUsage,
            None,
            None,
        ),
    };
    let path = result.map_err(|e| Refusal::from_webpki(e, leaf))?;
    let mut accepted = vec![req.leaf.as_ref()];
    for cert in path.intermediate_certificates() {
        let der = cert.der();
        // webpki hands back the intermediates it was given; find ours by their bytes.
        match req
            .intermediates
            .iter()
            .find(|i| i.as_ref() == der.as_ref())
        {
            Some(given) => accepted.push(given.as_ref()),
            None => return Ok(AcceptedPath(Vec::new())),
        }
    }
    match anchors.iter().position(|a| std::ptr::eq(a, path.anchor())) {
        Some(i) => accepted.push(anchor_roots[i]),
        None => return Ok(AcceptedPath(Vec::new())),
    }
    Ok(AcceptedPath(accepted))
}

pub(super) fn unix_time(t: OffsetDateTime) -> UnixTime {
    let seconds = u64::try_from(t.unix_timestamp()).unwrap_or(0);
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(seconds))
}

pub(super) fn from_unix_time(t: UnixTime) -> OffsetDateTime {
    i64::try_from(t.as_secs())
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
