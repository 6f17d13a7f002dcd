//! How Alice says no: metav1.Status bodies in the exact words and key order of kube-apiserver.
//!
//! kubectl prints `Error from server (<reason>): <message>` from these bodies, so the message
//! text *is* the user interface. The builders follow apimachinery's `pkg/api/errors/errors.go`
//! and apiserver's `endpoints/handlers/responsewriters/errors.go`. Keys are serialized in Go's
//! struct order (`kind, apiVersion, metadata, status, message, reason, details, code`) by a
//! derived struct, and `<`, `>`, `&` are escaped as Go's `encoding/json` does.

use serde::{Deserialize, Serialize};

use crate::rbac::Attributes;

/// The message kube-apiserver sends with a 409 on a stale resourceVersion.
pub const OPTIMISTIC_LOCK: &str =
    "the object has been modified; please apply your changes to the latest version and try again";
/// The request body limit of kube-apiserver (3 MiB).
pub const MAX_REQUEST_BODY_BYTES: usize = 3 * 1024 * 1024;

/// A metav1.Status failure body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub kind: String,
    pub api_version: String,
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub status: String,
    #[serde(default)]
    pub message: String,
    /// `omitempty` in Go: an error that is not an API status (a 500 from a storage error)
    /// has none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Details>,
    pub code: u16,
}

/// metav1.StatusDetails; every field is `omitempty` in Go.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Details {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<Cause>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retry_after_seconds: i32,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// One field error of a 422 (metav1.StatusCause, built from apimachinery's `field.Error`).
///
/// `message` is Go's `ErrorBody()` (`Invalid value: 300: may not …`); [`Cause::error`] adds
/// the field in front, which is how the error appears inside the Status message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    pub reason: String,
    pub message: String,
    /// `omitempty` in Go (a cause about no field, e.g. `ResourceVersionTooLarge`, has none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field: String,
}

impl Cause {
    /// `field.Invalid`: `bad_value` is already rendered Go-style (see [`go_quote`], [`go_bytes`]).
    pub fn invalid(field: &str, bad_value: &str, detail: &str) -> Cause {
        Cause::new(
            "FieldValueInvalid",
            field,
            format!("Invalid value: {bad_value}"),
            detail,
        )
    }

    /// `field.Required`.
    pub fn required(field: &str, detail: &str) -> Cause {
        Cause::new("FieldValueRequired", field, "Required value".into(), detail)
    }

    /// `field.NotSupported`: the supported values are quoted and joined as Go does.
    pub fn not_supported(field: &str, bad_value: &str, supported: &[&str]) -> Cause {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Cause::new(
            "FieldValueNotSupported",
            field,
            format!("Unsupported value: {bad_value}"),
            &detail,
        )
    }

    /// `field.Duplicate`.
    pub fn duplicate(field: &str, bad_value: &str) -> Cause {
        Cause::new(
            "FieldValueDuplicate",
            field,
            format!("Duplicate value: {bad_value}"),
            "",
        )
    }

    /// `field.Forbidden`.
    pub fn forbidden(field: &str, detail: &str) -> Cause {
        Cause::new("FieldValueForbidden", field, "Forbidden".into(), detail)
    }

    fn new(reason: &str, field: &str, body: String, detail: &str) -> Cause {
        let message = if detail.is_empty() {
            body
        } else {
            format!("{body}: {detail}")
        };
        Cause {
            reason: reason.to_string(),
            message,
            field: field.to_string(),
        }
    }

    /// The error as Go prints it: `<field>: <body>`.
    pub fn error(&self) -> String {
        format!("{}: {}", self.field, self.message)
    }
}

pub use kubecorp_trust::go_quote;

/// Go's `%#v` for a `[]byte`: `[]byte{0x2d, 0x2d}`.
pub fn go_bytes(bytes: &[u8]) -> String {
    let inner: Vec<String> = bytes.iter().map(|b| format!("0x{b:x}")).collect();
    format!("[]byte{{{}}}", inner.join(", "))
}

/// apimachinery's `utilerrors.NewAggregate(errs).Error()`: one error as is, several as
/// `[e1, e2]` with duplicates dropped.
pub fn aggregate(messages: &[String]) -> String {
    let mut seen: Vec<&String> = Vec::new();
    for m in messages {
        if !seen.contains(&m) {
            seen.push(m);
        }
    }
    match seen.as_slice() {
        [] => String::new(),
        [one] => (*one).clone(),
        many => {
            let joined: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
            format!("[{}]", joined.join(", "))
        }
    }
}

/// `schema.GroupResource.String()`: `pods`, `certificatesigningrequests.certificates.k8s.io`.
pub fn qualified(resource: &str, group: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

impl Status {
    fn failure(code: u16, reason: &str, message: String, details: Option<Details>) -> Status {
        Status {
            kind: "Status".to_string(),
            api_version: "v1".to_string(),
            metadata: serde_json::Map::new(),
            status: "Failure".to_string(),
            message,
            reason: reason.to_string(),
            details,
            code,
        }
    }

    /// The body as kube-apiserver writes it (Go key order, HTML characters escaped).
    pub fn to_json(&self) -> String {
        kubecorp_trust::gohttp::json_html_escape(&serde_json::to_string(self).unwrap_or_default())
    }

    /// `(HTTP code, JSON body)`.
    pub fn response(&self) -> (u16, String) {
        (self.code, self.to_json())
    }

    /// Reads a Status body back (for tests and clients).
    pub fn parse(body: &str) -> Option<Status> {
        serde_json::from_str(body).ok()
    }
}

fn details(name: &str, group: &str, kind: &str) -> Option<Details> {
    Some(Details {
        name: name.to_string(),
        group: group.to_string(),
        kind: kind.to_string(),
        ..Details::default()
    })
}

/// 401: always the bare word, never the reason (that goes only to the apiserver log).
pub fn unauthorized() -> (u16, String) {
    Status::failure(401, "Unauthorized", "Unauthorized".into(), None).response()
}

/// The apiserver's description of what was refused (`forbiddenMessage` in responsewriters).
pub fn forbidden_message(attrs: &Attributes) -> String {
    let user = &attrs.user.name;
    let text = if !attrs.resource_request {
        format!(
            "User {} cannot {} path {}",
            go_quote(user),
            attrs.verb,
            go_quote(&attrs.path)
        )
    } else {
        let mut resource = attrs.resource.clone();
        if !attrs.subresource.is_empty() {
            resource = format!("{resource}/{}", attrs.subresource);
        }
        let scope = if attrs.namespace.is_empty() {
            "at the cluster scope".to_string()
        } else {
            format!("in the namespace {}", go_quote(&attrs.namespace))
        };
        format!(
            "User {} cannot {} resource {} in API group {} {scope}",
            go_quote(user),
            attrs.verb,
            go_quote(&resource),
            go_quote(&attrs.api_group),
        )
    };
    // The apiserver HTML-escapes this part (not the authorizer's reason).
    kubecorp_trust::gohttp::html_entities(&text)
}

/// 403 for a request the authorizers did not allow. `reason` is what the authorizer said
/// (e.g. the Node authorizer's `no relationship found …`); it is appended after `: `.
pub fn forbidden(attrs: &Attributes, reason: &str) -> (u16, String) {
    let mut text = forbidden_message(attrs);
    if !reason.is_empty() {
        text = format!("{text}: {reason}");
    }
    let resource = if attrs.resource_request {
        attrs.resource.as_str()
    } else {
        ""
    };
    let group = if attrs.resource_request {
        attrs.api_group.as_str()
    } else {
        ""
    };
    forbidden_with(resource, group, &attrs.name, &text)
}

/// 403 with a free text, as admission plugins answer (`apierrors.NewForbidden`):
/// `<resource>[.<group>] ["<name>" ]is forbidden: <text>`, or `forbidden: <text>` without a
/// resource (non-resource URLs).
pub fn forbidden_with(resource: &str, group: &str, name: &str, text: &str) -> (u16, String) {
    let message = if resource.is_empty() && group.is_empty() {
        format!("forbidden: {text}")
    } else if name.is_empty() {
        format!("{} is forbidden: {text}", qualified(resource, group))
    } else {
        format!(
            "{} {} is forbidden: {text}",
            qualified(resource, group),
            go_quote(name)
        )
    };
    Status::failure(403, "Forbidden", message, details(name, group, resource)).response()
}

/// 404 for a named object: `pods "nginx" not found`.
pub fn not_found(resource: &str, group: &str, name: &str) -> (u16, String) {
    let message = format!(
        "{} {} not found",
        qualified(resource, group),
        go_quote(name)
    );
    Status::failure(404, "NotFound", message, details(name, group, resource)).response()
}

/// 404 for a path the server does not serve.
pub fn not_found_path() -> (u16, String) {
    Status::failure(
        404,
        "NotFound",
        "the server could not find the requested resource".into(),
        Some(Details::default()),
    )
    .response()
}

/// 409 AlreadyExists on create.
pub fn already_exists(resource: &str, group: &str, name: &str) -> (u16, String) {
    let message = format!(
        "{} {} already exists",
        qualified(resource, group),
        go_quote(name)
    );
    Status::failure(
        409,
        "AlreadyExists",
        message,
        details(name, group, resource),
    )
    .response()
}

/// 409 Conflict: `Operation cannot be fulfilled on <res> "<name>": <detail>`. Pass
/// [`OPTIMISTIC_LOCK`] for a stale resourceVersion.
pub fn conflict(resource: &str, group: &str, name: &str, detail: &str) -> (u16, String) {
    let message = format!(
        "Operation cannot be fulfilled on {} {}: {detail}",
        qualified(resource, group),
        go_quote(name)
    );
    Status::failure(409, "Conflict", message, details(name, group, resource)).response()
}

/// The message of a 422: `<Kind>[.<group>] "<name>" is invalid: <errors>`.
pub fn invalid_message(kind: &str, group: &str, name: &str, causes: &[Cause]) -> String {
    let errors: Vec<String> = causes.iter().map(Cause::error).collect();
    let head = format!("{} {} is invalid", qualified(kind, group), go_quote(name));
    if errors.is_empty() {
        head
    } else {
        format!("{head}: {}", aggregate(&errors))
    }
}

/// 422 Invalid. `details.kind` is the **Kind** here, not the resource.
pub fn invalid(kind: &str, group: &str, name: &str, causes: &[Cause]) -> (u16, String) {
    let mut d = details(name, group, kind).unwrap_or_default();
    d.causes = causes.to_vec();
    Status::failure(
        422,
        "Invalid",
        invalid_message(kind, group, name, causes),
        Some(d),
    )
    .response()
}

/// 422 for a JSON patch that does not apply, as apimachinery's `NewGenericServerResponse`
/// builds it: the fixed message, and the patch library's error as an `UnexpectedServerResponse`
/// cause (kubectl prints `The request is invalid: <cause>`).
pub fn json_patch_failed(problem: &str) -> (u16, String) {
    let details = Details {
        causes: vec![Cause {
            reason: "UnexpectedServerResponse".into(),
            message: problem.to_string(),
            field: String::new(),
        }],
        ..Details::default()
    };
    Status::failure(
        422,
        "Invalid",
        "the server rejected our request due to an error in our request".into(),
        Some(details),
    )
    .response()
}

/// 410 Expired (`errors.NewResourceExpired`): what a watch from a resourceVersion the watch
/// cache no longer holds gets, as its one ERROR event.
pub fn expired(message: &str) -> Status {
    Status::failure(410, "Expired", message.to_string(), None)
}

/// 504 Timeout (`storage.NewTooLargeResourceVersionError`): the watch cache did not reach the
/// resourceVersion asked for within its wait, so the client should retry after a second.
pub fn too_large_resource_version(asked: u64, current: u64) -> Status {
    let details = Details {
        causes: vec![Cause {
            reason: "ResourceVersionTooLarge".into(),
            message: "Too large resource version".into(),
            field: String::new(),
        }],
        retry_after_seconds: 1,
        ..Details::default()
    };
    Status::failure(
        504,
        "Timeout",
        format!("Timeout: Too large resource version: {asked}, current: {current}"),
        Some(details),
    )
}

/// An error that is not an API status, as `responsewriters.ErrorToAPIStatus` turns it into one:
/// 500, and no reason (kube-apiserver 1.32 answers an unparsable watch `resourceVersion` so).
pub fn internal_unknown(message: &str) -> (u16, String) {
    Status::failure(500, "", message.to_string(), None).response()
}

/// 400 BadRequest with the message as given.
pub fn bad_request(message: &str) -> (u16, String) {
    Status::failure(400, "BadRequest", message.to_string(), None).response()
}

/// 413: the body exceeded [`MAX_REQUEST_BODY_BYTES`].
pub fn request_entity_too_large() -> (u16, String) {
    let message = format!("Request entity too large: limit is {MAX_REQUEST_BODY_BYTES}");
    Status::failure(413, "RequestEntityTooLarge", message, None).response()
}

/// 405: `<action> is not supported on resources of kind "<res>"` (e.g. action `delete`).
pub fn method_not_supported(resource: &str, group: &str, action: &str) -> (u16, String) {
    let message = format!(
        "{action} is not supported on resources of kind {}",
        go_quote(&qualified(resource, group))
    );
    Status::failure(
        405,
        "MethodNotAllowed",
        message,
        details("", group, resource),
    )
    .response()
}

/// 415: a body in a format the endpoint does not read.
pub fn unsupported_media_type(accepted: &[&str]) -> (u16, String) {
    let message = format!(
        "the body of the request was in an unknown format - accepted media types include: {}",
        accepted.join(", ")
    );
    Status::failure(415, "UnsupportedMediaType", message, None).response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::UserInfo;

    fn john() -> UserInfo {
        UserInfo::from_cert("john", ["developers"]).unwrap()
    }

    #[test]
    fn unauthorized_is_the_bare_word_in_go_key_order() {
        assert_eq!(
            unauthorized(),
            (401, r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#.to_string())
        );
    }

    #[test]
    fn forbidden_list_pods_matches_the_apiserver_body_byte_for_byte() {
        let attrs = Attributes::resource(&john(), "list", "default", "", "pods");
        assert_eq!(
            forbidden(&attrs, ""),
            (403, r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods is forbidden: User \"john\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"","reason":"Forbidden","details":{"kind":"pods"},"code":403}"#.to_string())
        );
    }

    #[test]
    fn forbidden_on_a_named_cluster_scoped_object_names_it_and_its_group() {
        let attrs = Attributes::resource(
            &john(),
            "get",
            "",
            "certificates.k8s.io",
            "certificatesigningrequests",
        )
        .with_name("alice");
        let (_, body) = forbidden(&attrs, "");
        let s = Status::parse(&body).unwrap();
        assert_eq!(s.message, "certificatesigningrequests.certificates.k8s.io \"alice\" is forbidden: User \"john\" cannot get resource \"certificatesigningrequests\" in API group \"certificates.k8s.io\" at the cluster scope");
        let d = s.details.unwrap();
        assert_eq!(
            (d.name.as_str(), d.group.as_str(), d.kind.as_str()),
            ("alice", "certificates.k8s.io", "certificatesigningrequests")
        );
    }

    #[test]
    fn forbidden_on_a_path_says_cannot_get_path() {
        let attrs = Attributes::non_resource(&john(), "get", "/x");
        let (_, body) = forbidden(&attrs, "");
        assert_eq!(
            Status::parse(&body).unwrap().message,
            r#"forbidden: User "john" cannot get path "/x""#
        );
    }

    #[test]
    fn not_found_already_exists_and_conflict_use_the_qualified_resource() {
        let (code, body) = not_found("pods", "", "nginx");
        assert_eq!(code, 404);
        assert_eq!(
            body,
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"nginx\" not found","reason":"NotFound","details":{"name":"nginx","kind":"pods"},"code":404}"#
        );
        let (code, body) =
            already_exists("certificatesigningrequests", "certificates.k8s.io", "john");
        assert_eq!(code, 409);
        assert_eq!(
            body,
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"certificatesigningrequests.certificates.k8s.io \"john\" already exists","reason":"AlreadyExists","details":{"name":"john","group":"certificates.k8s.io","kind":"certificatesigningrequests"},"code":409}"#
        );
        let (_, body) = conflict(
            "certificatesigningrequests",
            "certificates.k8s.io",
            "john",
            OPTIMISTIC_LOCK,
        );
        assert_eq!(Status::parse(&body).unwrap().message, "Operation cannot be fulfilled on certificatesigningrequests.certificates.k8s.io \"john\": the object has been modified; please apply your changes to the latest version and try again");
    }

    #[test]
    fn invalid_with_one_cause_matches_the_fact_sheet_body() {
        let cause = Cause::invalid(
            "spec.expirationSeconds",
            "300",
            "may not specify a duration less than 600 seconds (10 minutes)",
        );
        let (code, body) = invalid(
            "CertificateSigningRequest",
            "certificates.k8s.io",
            "john",
            &[cause],
        );
        assert_eq!(code, 422);
        assert_eq!(
            body,
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"CertificateSigningRequest.certificates.k8s.io \"john\" is invalid: spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 600 seconds (10 minutes)","reason":"Invalid","details":{"name":"john","group":"certificates.k8s.io","kind":"CertificateSigningRequest","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: 300: may not specify a duration less than 600 seconds (10 minutes)","field":"spec.expirationSeconds"}]},"code":422}"#
        );
    }

    #[test]
    fn invalid_with_several_causes_joins_them_in_brackets() {
        let causes = [
            Cause::required("spec.usages", ""),
            Cause::duplicate("spec.usages[1]", &go_quote("client auth")),
        ];
        assert_eq!(
            invalid_message(
                "CertificateSigningRequest",
                "certificates.k8s.io",
                "j",
                &causes
            ),
            r#"CertificateSigningRequest.certificates.k8s.io "j" is invalid: [spec.usages: Required value, spec.usages[1]: Duplicate value: "client auth"]"#
        );
    }

    #[test]
    fn the_small_statuses_have_their_fixed_texts() {
        let (code, body) = request_entity_too_large();
        assert_eq!(code, 413);
        assert_eq!(
            Status::parse(&body).unwrap().message,
            "Request entity too large: limit is 3145728"
        );
        let (code, body) = not_found_path();
        assert_eq!(code, 404);
        assert_eq!(
            body,
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","details":{},"code":404}"#
        );
        let (code, body) = bad_request("bad");
        assert_eq!(
            (code, Status::parse(&body).unwrap().reason),
            (400, "BadRequest".to_string())
        );
        let (code, body) =
            method_not_supported("certificatesigningrequests", "certificates.k8s.io", "patch");
        assert_eq!(code, 405);
        assert_eq!(Status::parse(&body).unwrap().message, "patch is not supported on resources of kind \"certificatesigningrequests.certificates.k8s.io\"");
        let (code, body) = unsupported_media_type(&["application/json"]);
        assert_eq!(code, 415);
        assert_eq!(Status::parse(&body).unwrap().reason, "UnsupportedMediaType");
    }

    #[test]
    fn html_characters_are_escaped_like_go() {
        let (_, body) = bad_request("a<b>&c");
        assert!(body.contains(r#""a\u003cb\u003e\u0026c""#), "{body}");
        assert_eq!(Status::parse(&body).unwrap().message, "a<b>&c");
    }

    #[test]
    fn go_renderings_match_fmt() {
        assert_eq!(go_quote("a\"b\\c\u{1}"), r#""a\"b\\c\x01""#);
        assert_eq!(go_bytes(b"-\n"), "[]byte{0x2d, 0xa}");
        assert_eq!(go_bytes(b""), "[]byte{}");
    }
}
