//! Kept connections ([`KubeClient::keep_alive`]): idle ones are reused until the peer closes
//! them, they idle too long, or the badge or trust bundle they were made with changes on disk.

use crate::*;
use kubecorp_trust::tls::Versions;

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
