//! Kept connections ([`KubeClient::keep_alive`]): idle ones are reused until the peer closes
//! them, they idle too long, or the badge or trust bundle they were made with changes on disk.

use crate::*;

/// A connection that finished its last exchange, and the badge and trust bundle it was made
/// with: when either changes on disk the connection is not used again.
pub(crate) struct Idle {
    pub(crate) sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    pub(crate) notes: HandshakeNotes,
    pub(crate) made_with: Versions,
    /// When its last exchange ended.
    pub(crate) since: std::time::Instant,
}

/// How long an idle connection is kept: well inside the lab servers' 30 s wait for the next
/// request head, so a kept connection is not closed under a request being sent on it.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Which version of the badge and of the trust bundle a connection was made with.
#[derive(Clone)]
pub(crate) struct Versions {
    pub(crate) badge: Option<Arc<tokio_rustls::rustls::sign::CertifiedKey>>,
    pub(crate) trust: Option<Arc<Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>>>>,
}

impl Versions {
    pub(crate) fn same(&self, other: &Versions) -> bool {
        fn eq<T>(a: &Option<Arc<T>>, b: &Option<Arc<T>>) -> bool {
            match (a, b) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
        }
        eq(&self.badge, &other.badge) && eq(&self.trust, &other.trust)
    }
}

/// How many idle connections a keep-alive client holds (Go's `MaxIdleConnsPerHost` is 2; the
/// apiserver's storage calls come in bursts when the office opens).
pub(crate) const MAX_IDLE: usize = 8;

#[derive(Default)]
pub(crate) struct Pool {
    pub(crate) idle: std::sync::Mutex<Vec<Idle>>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pool")
    }
}

impl Pool {
    pub(crate) fn take(&self, now: &Versions) -> Option<Idle> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        // Connections made with an older badge or bundle, or closed by the peer, go.
        idle.retain(|i| {
            i.made_with.same(now) && !i.sender.is_closed() && i.since.elapsed() < IDLE_TIMEOUT
        });
        idle.pop()
    }

    pub(crate) fn put(&self, mut connection: Idle) {
        connection.since = std::time::Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE && !connection.sender.is_closed() {
            idle.push(connection);
        }
    }
}
