//! What can go wrong for Charlie himself (the server), as opposed to his visitors.

use std::net::SocketAddr;

/// Why the vault stopped serving.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EtcdError {
    /// Accepting connections kept failing (out of file descriptors, the socket closed).
    #[error("etcd: accepting connections on {} kept failing: {reason}", addr.map_or_else(|| "?".to_owned(), |a| a.to_string()))]
    Accept {
        addr: Option<SocketAddr>,
        reason: String,
    },
}
