//! Between the HTTP API's JSON and protobuf: `google.protobuf.Struct` both ways, and a problem
//! document as a gRPC status.

use std::collections::HashMap;

use prost_types::value::Kind;
use serde_json::{Map, Number, Value};
use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::ERROR_DOMAIN;

/// A JSON object as a `Struct`; anything else is wrapped in `{"value": …}`.
pub(crate) fn to_struct(value: Value) -> prost_types::Struct {
    match value {
        Value::Object(fields) => prost_types::Struct {
            fields: fields.into_iter().map(|(k, v)| (k, to_value(v))).collect(),
        },
        other => prost_types::Struct {
            fields: [("value".to_owned(), to_value(other))].into(),
        },
    }
}

fn to_value(value: Value) -> prost_types::Value {
    let kind = match value {
        Value::Null => Kind::NullValue(prost_types::NullValue::NullValue.into()),
        Value::Bool(b) => Kind::BoolValue(b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s),
        Value::Array(items) => Kind::ListValue(prost_types::ListValue {
            values: items.into_iter().map(to_value).collect(),
        }),
        Value::Object(_) => Kind::StructValue(to_struct(value)),
    };
    prost_types::Value { kind: Some(kind) }
}

/// A `Struct` as a JSON object. A whole number is written as an integer, as the JSON the HTTP
/// API takes would have it (a `Struct` holds every number as a double).
pub(crate) fn from_struct(s: prost_types::Struct) -> Value {
    Value::Object(
        s.fields
            .into_iter()
            .map(|(k, v)| (k, from_value(v)))
            .collect::<Map<String, Value>>(),
    )
}

fn from_value(value: prost_types::Value) -> Value {
    match value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::BoolValue(b)) => Value::Bool(b),
        Some(Kind::NumberValue(n)) => {
            // 2^53: beyond it a double no longer holds every integer.
            if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
                Value::Number(Number::from(n as i64))
            } else {
                Number::from_f64(n).map_or(Value::Null, Value::Number)
            }
        }
        Some(Kind::StringValue(s)) => Value::String(s),
        Some(Kind::ListValue(list)) => {
            Value::Array(list.values.into_iter().map(from_value).collect())
        }
        Some(Kind::StructValue(s)) => from_struct(s),
    }
}

/// The gRPC code for an HTTP problem.
fn code_for(status: u16, code: &str) -> Code {
    match (status, code) {
        (412, _) => Code::Aborted,
        (409, _) => Code::FailedPrecondition,
        (400 | 413 | 415 | 422, _) => Code::InvalidArgument,
        (401, _) => Code::Unauthenticated,
        (403, _) => Code::PermissionDenied,
        (404, "no-route") | (405, _) => Code::Unimplemented,
        (404, _) => Code::NotFound,
        (429, _) => Code::ResourceExhausted,
        (503, _) => Code::Unavailable,
        _ => Code::Internal,
    }
}

/// A problem document (RFC 9457) as a gRPC status: its detail as the message, an ErrorInfo with
/// its code as the reason and its other fields (the HTTP status among them) as the metadata.
pub(crate) fn problem_status(
    http_status: u16,
    problem: &Value,
    retry_after: Option<&str>,
) -> tonic::Status {
    let code = problem["code"].as_str().unwrap_or("internal");
    let detail = problem["detail"].as_str().unwrap_or("the call failed");
    let mut metadata: HashMap<String, String> = HashMap::new();
    metadata.insert("http_status".to_owned(), http_status.to_string());
    if let Some(fields) = problem.as_object() {
        for (name, value) in fields {
            if matches!(
                name.as_str(),
                "type" | "title" | "status" | "code" | "detail"
            ) {
                continue;
            }
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            metadata.insert(name.clone(), text);
        }
    }
    if let Some(seconds) = retry_after {
        metadata.insert("retry_after".to_owned(), seconds.to_owned());
    }
    tonic::Status::with_error_details(
        code_for(http_status, code),
        detail,
        ErrorDetails::with_error_info(code, ERROR_DOMAIN, metadata),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_goes_through_a_struct_and_back_with_its_integers() {
        let value = json!({
            "title": "燃气泄漏", "rating": 3, "share": 0.5, "ok": true, "none": null,
            "items": [1, "two", {"three": 3}],
        });
        assert_eq!(from_struct(to_struct(value.clone())), value);
    }

    #[test]
    fn a_problem_keeps_its_code_and_fields_in_the_error_info() {
        let problem = json!({
            "type": "urn:docket:problem:not-allowed-in-state", "title": "t", "status": 409,
            "code": "not-allowed-in-state", "detail": "verify is not allowed in closed",
            "state": "closed", "allowed_actions": [],
        });
        let status = problem_status(409, &problem, None);
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(status.message(), "verify is not allowed in closed");
        let info = status.get_details_error_info().expect("an ErrorInfo");
        assert_eq!(info.reason, "not-allowed-in-state");
        assert_eq!(info.domain, "docket");
        assert_eq!(info.metadata["state"], "closed");
        assert_eq!(info.metadata["allowed_actions"], "[]");
        assert_eq!(info.metadata["http_status"], "409");
    }

    #[test]
    fn each_status_maps_to_the_grpc_code_a_client_retries_or_not_by() {
        for (status, code, expected) in [
            (400, "invalid-query", Code::InvalidArgument),
            (401, "missing-token", Code::Unauthenticated),
            (403, "outside-reach", Code::PermissionDenied),
            (404, "case-not-found", Code::NotFound),
            (404, "no-route", Code::Unimplemented),
            (409, "case-quarantined", Code::FailedPrecondition),
            (412, "version-mismatch", Code::Aborted),
            (422, "invalid-input", Code::InvalidArgument),
            (429, "rate-limited", Code::ResourceExhausted),
            (500, "internal", Code::Internal),
            (503, "unavailable", Code::Unavailable),
        ] {
            let problem = json!({"status": status, "code": code, "detail": "d"});
            let s = problem_status(status, &problem, Some("3"));
            assert_eq!(s.code(), expected, "{status} {code}");
            let info = s.get_details_error_info().unwrap();
            assert_eq!(info.reason, code);
            assert_eq!(info.metadata["retry_after"], "3");
        }
    }
}
