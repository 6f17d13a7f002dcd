//! What the bench-only tools share: a server-certificate check that takes any chain but still
//! checks the server's handshake signature (as `curl -k` or kubectl's
//! `--insecure-skip-tls-verify`), so the tools measure the servers, not themselves. It is the
//! trust layer's own [`SkipChainCheck`], where the lab's other verifiers live.

pub use kubecorp_trust::tls::SkipChainCheck;
