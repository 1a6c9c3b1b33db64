//! How events go on the log: a type name `<prefix>.<name>` (`hazard.reported`,
//! `case.note_added`, `directory.unit_added`), a schema version, and the event's data.
//!
//! Each event type has a version, 1 until its data changes shape. Then the type's version goes
//! up by one, and an upcaster reads the data of the version before as the new one (a field added
//! with its default, say): events of every earlier version stay in the log as written (their
//! commits' hashes cover them) and are read through the upcasters in turn, by the domain deciding
//! commands and by the projector alike. An event of a version newer than this release knows is
//! not guessed at: it is an unknown event.

use std::borrow::Cow;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::UnknownEvent;

/// One step in an event type's history: reads data of version `from` as version `from + 1`.
struct Upcaster {
    event_type: &'static str,
    from: u32,
    up: fn(&mut Map<String, Value>),
}

/// Every step, oldest first within a type. A type's version now is one past its last step's.
const UPCASTERS: &[Upcaster] = &[
    // Version 2: a 督办 notice names the unit it is addressed to, `null` for the lead unit.
    // Version 1 named a co-handling unit only, and said nothing for the lead unit.
    Upcaster {
        event_type: "case.supervision_noticed",
        from: 1,
        up: |data| {
            data.entry("unit").or_insert(Value::Null);
        },
    },
];

/// The schema version an event type is written at now.
pub(crate) fn version_of(event_type: &str) -> u32 {
    UPCASTERS
        .iter()
        .filter(|u| u.event_type == event_type)
        .map(|u| u.from + 1)
        .max()
        .unwrap_or(1)
}

/// The event's data as the type's version now, through the upcasters from `schema_version`.
fn upcast<'a>(
    event_type: &str,
    schema_version: u32,
    data: &'a Value,
) -> Result<Cow<'a, Value>, UnknownEvent> {
    let now = version_of(event_type);
    if schema_version == now {
        return Ok(Cow::Borrowed(data));
    }
    if schema_version == 0 || schema_version > now {
        return Err(unknown(
            event_type,
            schema_version,
            &format!("this release reads versions 1 to {now} of this event"),
        ));
    }
    let mut data = data.clone();
    for from in schema_version..now {
        let step = UPCASTERS
            .iter()
            .find(|u| u.event_type == event_type && u.from == from)
            .ok_or_else(|| {
                unknown(
                    event_type,
                    schema_version,
                    &format!("no upcaster from version {from}"),
                )
            })?;
        let Value::Object(fields) = &mut data else {
            return Err(unknown(event_type, schema_version, "data is not an object"));
        };
        (step.up)(fields);
    }
    Ok(Cow::Owned(data))
}

/// An event tagged `{"type", "data"}`, as it goes on the log under `prefix`.
pub(crate) fn to_record<E: Serialize>(prefix: &str, event: &E) -> (String, u32, Value) {
    let tagged = serde_json::to_value(event).expect("events serialize to JSON");
    let name = tagged["type"]
        .as_str()
        .expect("events are tagged with type");
    let event_type = format!("{prefix}.{name}");
    let version = version_of(&event_type);
    (
        event_type,
        version,
        tagged.get("data").cloned().unwrap_or(Value::Null),
    )
}

/// A recorded event's type, split into its prefix and name.
pub(crate) fn split(event_type: &str, schema_version: u32) -> Result<(&str, &str), UnknownEvent> {
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
    let data = upcast(event_type, schema_version, data)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CaseEvent;
    use crate::common::CommonEvent;

    #[test]
    fn a_first_version_supervision_notice_reads_as_the_second() {
        let first = json!({"number": 1, "notice": "限期核实", "due": "2025-03-10T00:00:00Z"});
        let event = CaseEvent::from_record("case.supervision_noticed", 1, &first).unwrap();
        assert!(matches!(
            event,
            CaseEvent::Common(CommonEvent::SupervisionNoticed { unit: None, .. })
        ));
        // Written now at version 2, with the lead unit's notice saying so.
        let (event_type, version, data) = event.to_record();
        assert_eq!(
            (event_type.as_str(), version),
            ("case.supervision_noticed", 2)
        );
        assert_eq!(data["unit"], Value::Null);
        // A co-handling unit's notice of version 1 keeps its unit.
        let addressed = json!({"number": 2, "notice": "请协办", "due": "2025-03-10T00:00:00Z",
                               "unit": "qinghe-housing"});
        let event = CaseEvent::from_record("case.supervision_noticed", 1, &addressed).unwrap();
        assert_eq!(event.to_record().2["unit"], "qinghe-housing");
        // A version this release does not know is not guessed at.
        let newer = CaseEvent::from_record("case.supervision_noticed", 3, &data).unwrap_err();
        assert!(newer.reason.contains("versions 1 to 2"), "{newer}");
        assert!(CaseEvent::from_record("case.note_added", 0, &json!({"text": "x"})).is_err());
        assert_eq!(version_of("case.note_added"), 1);
    }
}
