//! What a request asks for, read off its method and path as Kubernetes' RequestInfo does.

/// The parsed request: either a resource request (`/api/v1/namespaces/default/pods/web`) or a
/// non-resource URL (`/healthz`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestInfo {
    pub resource_request: bool,
    pub path: String,
    /// Kubernetes verb: get, list, watch, create, update, patch, delete, deletecollection
    /// (or the lower-case HTTP method for non-resource URLs).
    pub verb: String,
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub subresource: String,
    pub name: String,
}

/// Parses like `k8s.io/apiserver/pkg/endpoints/request.RequestInfoFactory`.
pub fn parse(method: &str, path: &str, query: &str) -> RequestInfo {
    let mut info = RequestInfo {
        path: path.to_string(),
        verb: method.to_ascii_lowercase(),
        ..Default::default()
    };
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let rest: &[&str] = match parts.as_slice() {
        ["api", version, rest @ ..] if !rest.is_empty() => {
            info.version = version.to_string();
            rest
        }
        ["apis", group, version, rest @ ..] if !rest.is_empty() => {
            info.group = group.to_string();
            info.version = version.to_string();
            rest
        }
        _ => return info,
    };
    info.resource_request = true;
    let rest: &[&str] = match rest {
        // `namespaces/NS/RESOURCE…`, but `namespaces/NS` alone is the namespace object itself.
        ["namespaces", ns, more @ ..] if !more.is_empty() => {
            info.namespace = Some(ns.to_string());
            more
        }
        other => other,
    };
    match rest {
        [res] => info.resource = res.to_string(),
        [res, name] => {
            info.resource = res.to_string();
            info.name = name.to_string();
        }
        [res, name, sub, ..] => {
            info.resource = res.to_string();
            info.name = name.to_string();
            info.subresource = sub.to_string();
        }
        [] => {}
    }
    let watch = query_param(query, "watch").is_some_and(|v| v == "true" || v == "1");
    info.verb = match method {
        "POST" => "create",
        "GET" | "HEAD" if watch => "watch",
        "GET" | "HEAD" if info.name.is_empty() => "list",
        "GET" | "HEAD" => "get",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" if info.name.is_empty() => "deletecollection",
        "DELETE" => "delete",
        other => {
            return RequestInfo {
                verb: other.to_ascii_lowercase(),
                ..info
            }
        }
    }
    .to_string();
    info
}

/// One query parameter, percent-decoded.
pub fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then(|| percent_decode(v))
    })
}

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_as_kubernetes_reads_them() {
        let i = parse("GET", "/api/v1/namespaces/default/pods", "limit=500");
        assert_eq!(
            (i.verb.as_str(), i.namespace.as_deref(), i.resource.as_str()),
            ("list", Some("default"), "pods")
        );
        let i = parse(
            "PUT",
            "/apis/certificates.k8s.io/v1/certificatesigningrequests/john/approval",
            "",
        );
        assert_eq!(
            (i.verb.as_str(), i.name.as_str(), i.subresource.as_str()),
            ("update", "john", "approval")
        );
        let i = parse("GET", "/api/v1/namespaces/kube-system", "");
        assert_eq!(
            (i.verb.as_str(), i.resource.as_str(), i.name.as_str()),
            ("get", "namespaces", "kube-system")
        );
        let i = parse("GET", "/api/v1/pods", "watch=true");
        assert_eq!(i.verb, "watch");
        let i = parse("GET", "/healthz", "");
        assert!(!i.resource_request);
        assert_eq!(i.verb, "get");
        assert_eq!(
            query_param(
                "labelSelector=kubernetes.io%2Fcluster-service%3Dtrue",
                "labelSelector"
            )
            .unwrap(),
            "kubernetes.io/cluster-service=true"
        );
    }
}
