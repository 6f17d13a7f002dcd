//! The kubelet's log lines: klog's structured messages and client-go's error wording, shared
//! with the rest of the staff in `kubecorp_client::klog`.

pub use kubecorp_client::klog::{quote, structured as line};

use kubecorp_client::{ClientError, KubeClient};

/// What client-go's error says for a failed call: `Post "https://…/api/v1/nodes": dial tcp …`
/// for a connection that failed, the Status message (`Unauthorized`) for an answer.
pub fn request_error(client: &KubeClient, method: &str, path: &str, error: &ClientError) -> String {
    kubecorp_client::klog::go_error(client, method, path, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_klog_line_quotes_its_values_as_go_does() {
        assert_eq!(
            line(
                "Unable to register node with API server",
                &[
                    ("err", "Post \"https://x/api/v1/nodes\": EOF"),
                    ("node", "n1")
                ]
            ),
            r#""Unable to register node with API server" err="Post \"https://x/api/v1/nodes\": EOF" node="n1""#
        );
    }
}
