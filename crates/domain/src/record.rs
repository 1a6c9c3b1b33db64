//! How events go on the log: a type name `<prefix>.<name>` (`hazard.reported`,
//! `case.note_added`, `directory.unit_added`), a schema version, and the event's data.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::UnknownEvent;

/// The schema version every event type is at now.
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// An event tagged `{"type", "data"}`, as it goes on the log under `prefix`.
pub(crate) fn to_record<E: Serialize>(prefix: &str, event: &E) -> (String, u32, Value) {
    let tagged = serde_json::to_value(event).expect("events serialize to JSON");
    let name = tagged["type"]
        .as_str()
        .expect("events are tagged with type");
    (
        format!("{prefix}.{name}"),
        SCHEMA_VERSION,
        tagged.get("data").cloned().unwrap_or(Value::Null),
    )
}

/// A recorded event's type, split into its prefix and name, once its schema version is known.
pub(crate) fn split(event_type: &str, schema_version: u32) -> Result<(&str, &str), UnknownEvent> {
    if schema_version != SCHEMA_VERSION {
        return Err(unknown(
            event_type,
            schema_version,
            "unsupported schema version",
        ));
    }
    event_type
        .split_once('.')
        .ok_or_else(|| unknown(event_type, schema_version, "no kind prefix"))
}

/// The event of this name and data.
pub(crate) fn read<E: DeserializeOwned>(
    event_type: &str,
    schema_version: u32,
    name: &str,
    data: &Value,
) -> Result<E, UnknownEvent> {
    serde_json::from_value(json!({ "type": name, "data": data }))
        .map_err(|e| unknown(event_type, schema_version, &e.to_string()))
}

pub(crate) fn unknown(event_type: &str, schema_version: u32, reason: &str) -> UnknownEvent {
    UnknownEvent {
        event_type: event_type.to_owned(),
        schema_version,
        reason: reason.to_owned(),
    }
}
