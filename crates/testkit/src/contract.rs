//! Holds every answer a test receives to the API's OpenAPI document, so that the document cannot
//! lie: the operation must be documented, the status among its responses, the media type among
//! that response's, and a JSON body valid against its schema (JSON Schema 2020-12, as OpenAPI
//! 3.1 uses it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// An OpenAPI document and the validators compiled from it so far.
#[derive(Debug)]
pub struct Contract {
    document: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

/// One answer, as a test received it.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    pub method: &'a str,
    /// The request's path, with or without its query.
    pub path: &'a str,
    pub status: u16,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

impl Contract {
    pub fn new(document: Value) -> Self {
        Self {
            document,
            validators: Mutex::default(),
        }
    }

    /// The document's path template that `path` is an instance of: literal segments win over
    /// parameters (`/v1/persons/find` over `/v1/persons/{id}`).
    pub fn template_of(&self, path: &str) -> Option<&str> {
        let path = path.split('?').next().unwrap_or(path);
        let segments: Vec<&str> = path.split('/').collect();
        self.document["paths"]
            .as_object()?
            .keys()
            .filter_map(|template| {
                let parts: Vec<&str> = template.split('/').collect();
                if parts.len() != segments.len() {
                    return None;
                }
                let mut literal = 0;
                for (part, segment) in parts.iter().zip(&segments) {
                    if part.starts_with('{') && part.ends_with('}') {
                        if segment.is_empty() {
                            return None;
                        }
                    } else if part == segment {
                        literal += 1;
                    } else {
                        return None;
                    }
                }
                Some((literal, template.as_str()))
            })
            .max_by_key(|(literal, _)| *literal)
            .map(|(_, template)| template)
    }

    /// Checks one answer; `Err` says what the document does not allow.
    pub fn check(&self, answer: Answer<'_>) -> Result<(), String> {
        let Answer {
            method,
            path,
            status,
            content_type,
            body,
        } = answer;
        let what = format!("{method} {path} answered {status}");
        let media = content_type
            .and_then(|c| c.split(';').next())
            .map(|c| c.trim().to_ascii_lowercase());
        // No route, or not this method: the router's fallbacks answer those for any path.
        let fallback = is_problem(&media, body, status)
            && serde_json::from_slice::<Value>(body)
                .is_ok_and(|p| p["code"] == "no-route" || p["code"] == "method-not-allowed");
        let schema_pointer = if fallback {
            format!("/components/schemas/Problem{status}")
        } else {
            self.response_pointer(path, method, status, &what, &media)?
        };
        if media.is_none() && !body.is_empty() {
            return Err(format!("{what}: a body without a Content-Type"));
        }
        let Some(media) = media.filter(|m| m == "application/json" || m.ends_with("+json")) else {
            return Ok(());
        };
        if body.is_empty() {
            return Err(format!("{what} with an empty {media} body"));
        }
        let instance: Value = serde_json::from_slice(body)
            .map_err(|e| format!("{what}: the {media} body is not JSON: {e}"))?;
        let validator = self.validator(&schema_pointer)?;
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{what}: the body does not match the document ({schema_pointer}):\n  {}\nbody: {instance}",
                errors.join("\n  ")
            ))
        }
    }

    /// Checks one answer and panics, naming what is wrong, if the document does not allow it.
    #[track_caller]
    pub fn assert(&self, answer: Answer<'_>) {
        if let Err(e) = self.check(answer) {
            panic!("the API document does not allow an answer: {e}");
        }
    }

    /// Where the schema of this answer's body is, as a JSON pointer into the document.
    fn response_pointer(
        &self,
        path: &str,
        method: &str,
        status: u16,
        what: &str,
        media: &Option<String>,
    ) -> Result<String, String> {
        let template = self
            .template_of(path)
            .ok_or_else(|| format!("{what}: the document has no path {path}"))?;
        let method = method.to_ascii_lowercase();
        let operation = &self.document["paths"][template][&method];
        if operation.is_null() {
            return Err(format!(
                "{what}: the document has no {method} on {template}"
            ));
        }
        let status_key = status.to_string();
        if operation["responses"][&status_key].is_null() {
            return Err(format!(
                "{what}: the document does not list {status} among the answers of {method} {template}"
            ));
        }
        let content = &operation["responses"][&status_key]["content"];
        let Some(media) = media else {
            return Ok(String::new());
        };
        if content.is_null() {
            return Err(format!(
                "{what}: a {media} body, but the document gives this answer no body"
            ));
        }
        if content[media.as_str()].is_null() {
            return Err(format!(
                "{what}: a {media} body, but the document gives this answer only {:?}",
                content.as_object().map(|c| c.keys().collect::<Vec<_>>())
            ));
        }
        Ok(format!(
            "/paths/{}/{method}/responses/{status}/content/{}/schema",
            escape(template),
            escape(media)
        ))
    }

    fn validator(&self, pointer: &str) -> Result<Arc<jsonschema::Validator>, String> {
        let mut validators = self.validators.lock().expect("validators");
        if let Some(v) = validators.get(pointer) {
            return Ok(v.clone());
        }
        let schema = self
            .document
            .pointer(pointer)
            .ok_or_else(|| format!("no schema at {pointer}"))?;
        // The schema with the document's components beside it, where its `$ref`s point.
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.document["components"],
            "allOf": [schema],
        });
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            // `format` is an assertion here: a uuid, a date-time, a date must be one.
            .should_validate_formats(true)
            .build(&root)
            .map_err(|e| format!("the schema at {pointer} does not compile: {e}"))?;
        let validator = Arc::new(validator);
        validators.insert(pointer.to_owned(), validator.clone());
        Ok(validator)
    }
}

fn is_problem(media: &Option<String>, body: &[u8], status: u16) -> bool {
    matches!(status, 404 | 405)
        && media.as_deref() == Some("application/problem+json")
        && !body.is_empty()
}

/// A JSON pointer's escaping of one reference token.
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}
