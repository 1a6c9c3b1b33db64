//! Identifiers, parsed once at the boundary and trusted afterwards.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why an identifier could not be parsed. Its message shows at most the first 64 characters of
/// the value: an error never echoes a long value back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {:?} is invalid: {reason}", shown(value))]
pub struct InvalidId {
    pub what: &'static str,
    pub value: String,
    pub reason: &'static str,
}

/// A value as an error message may show it: its first 64 characters, and how long it was.
pub fn shown(value: &str) -> String {
    const SHOWN: usize = 64;
    let n = value.chars().count();
    if n <= SHOWN {
        value.to_owned()
    } else {
        format!(
            "{}… ({n} characters)",
            value.chars().take(SHOWN).collect::<String>()
        )
    }
}

/// A case's identity: a UUIDv7, so cases sort by filing time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct CaseId(Uuid);

impl CaseId {
    /// A new time-ordered case id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    /// A new case id for a case filed at `at`: the id sorts by that time, as the list's filing
    /// ranges expect, whatever clock the filing was decided by. The 12 bits after the millisecond
    /// carry the time's fraction of a millisecond (RFC 9562's method 3, steps of 244 ns) and the
    /// remaining 62 are random, so that cases filed within one millisecond still list in the
    /// order they were filed; nothing is shared between calls (a shared counter would stamp a
    /// clock set back with the latest time seen). A UUIDv7 cannot carry times before 1970: those
    /// all take 1970's first millisecond.
    pub fn filed_at(at: jiff::Timestamp) -> Self {
        let secs = u64::try_from(at.as_second()).unwrap_or(0);
        let nanos = u32::try_from(at.subsec_nanosecond()).unwrap_or(0);
        let fraction = u128::from(nanos % 1_000_000) * 4096 / 1_000_000;
        let ts = uuid::Timestamp::from_unix_time(secs, nanos, fraction, 12);
        Self(Uuid::new_v7(ts))
    }

    pub fn from_uuid(uuid: Uuid) -> Result<Self, InvalidId> {
        if uuid.get_version_num() == 7 {
            Ok(Self(uuid))
        } else {
            Err(InvalidId {
                what: "case id",
                value: uuid.to_string(),
                reason: "a case id is a UUID version 7",
            })
        }
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for CaseId {
    fn default() -> Self {
        Self::new()
    }
}

impl FromStr for CaseId {
    type Err = InvalidId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let uuid = Uuid::try_parse(s)
            .ok()
            // One form only: lowercase, hyphenated, as case ids are written; not braced, not
            // `urn:uuid:`, not without hyphens.
            .filter(|u| u.hyphenated().to_string() == s)
            .ok_or_else(|| InvalidId {
                what: "case id",
                value: s.to_owned(),
                reason: "not a UUID written as 8-4-4-4-12 lowercase hex digits",
            })?;
        Self::from_uuid(uuid)
    }
}

impl<'de> Deserialize<'de> for CaseId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for CaseId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Uuid,
            )))
            .pattern(Some(CASE_ID_PATTERN))
            .description(Some(
                "A case id: a UUID version 7, lowercase and hyphenated.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for CaseId {}

/// What `CaseId::from_str` lets in: a lowercase, hyphenated UUID of version 7.
pub(crate) const CASE_ID_PATTERN: &str =
    "^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$";

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Checks a slug: lower-case ASCII letters, digits, `-` and `_`, 1 to 63 characters.
/// Slugs end up in NATS subjects and URLs, so nothing else is let in.
fn parse_slug(what: &'static str, s: &str) -> Result<String, InvalidId> {
    let invalid = |reason| InvalidId {
        what,
        value: s.to_owned(),
        reason,
    };
    if s.is_empty() || s.len() > 63 {
        return Err(invalid("must be 1 to 63 characters"));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(invalid("only a-z, 0-9, '-' and '_' are allowed"));
    }
    Ok(s.to_owned())
}

macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_slug($what, s).map(Self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                slug_schema($what)
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

/// A slug as the API document describes it: what `parse_slug` lets in.
fn slug_schema(what: &str) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(SLUG_PATTERN))
        .min_length(Some(1))
        .max_length(Some(63))
        .description(Some(format!(
            "A {what} id: a-z, 0-9, '-' and '_', 1 to 63 characters."
        )))
        .into()
}

/// The pattern `parse_slug` checks.
pub(crate) const SLUG_PATTERN: &str = "^[a-z0-9_-]{1,63}$";

slug_id!(
    /// A tenant: one sub-district office (街道).
    TenantId,
    "tenant"
);
slug_id!(
    /// A community (社区) within a tenant.
    CommunityId,
    "community"
);
slug_id!(
    /// A grid (网格) within a community.
    GridId,
    "grid"
);
slug_id!(
    /// A responsible unit (责任单位) or the mediation room.
    UnitId,
    "unit"
);
slug_id!(
    /// A category in a kind's taxonomy.
    CategoryId,
    "category"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_ids_must_be_version_7() {
        assert!(CaseId::new().to_string().parse::<CaseId>().is_ok());
        let v4 = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        let err = v4.parse::<CaseId>().unwrap_err();
        assert_eq!(err.reason, "a case id is a UUID version 7");
        let not_one = "not a UUID written as 8-4-4-4-12 lowercase hex digits";
        assert_eq!("nope".parse::<CaseId>().unwrap_err().reason, not_one);
        // One form: the hyphenated lowercase one a case id is written in.
        let id = CaseId::new().to_string();
        let uuid: Uuid = id.parse().unwrap();
        for other in [
            format!("{{{id}}}"),
            format!("urn:uuid:{id}"),
            id.to_uppercase(),
            uuid.simple().to_string(),
        ] {
            assert_eq!(
                other.parse::<CaseId>().unwrap_err().reason,
                not_one,
                "{other}"
            );
        }
    }

    #[test]
    fn an_invalid_ids_message_shows_a_long_value_cut_short() {
        let long = "x".repeat(10_000);
        let message = long.parse::<TenantId>().unwrap_err().to_string();
        assert!(message.len() < 200, "{message}");
        assert!(message.contains("10000 characters"), "{message}");
    }

    #[test]
    fn case_ids_sort_by_filing_time_within_a_millisecond_and_whatever_the_clock() {
        let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        // Filings a microsecond apart in one millisecond, minted in either order.
        let later = CaseId::filed_at(at("2025-03-01T08:00:00.000002Z"));
        let earlier = CaseId::filed_at(at("2025-03-01T08:00:00.000001Z"));
        assert!(earlier < later);
        // A clock set back a year mints an id a year back, not one after the latest seen.
        let last_year = CaseId::filed_at(at("2024-03-01T08:00:00Z"));
        assert!(last_year < earlier);
        assert_eq!(
            last_year.as_uuid().get_timestamp().unwrap().to_unix().0,
            at("2024-03-01T08:00:00Z").as_second() as u64
        );
        // Before 1970 a UUIDv7 has no time to carry; the ids are still distinct.
        let (a, b) = (at("1926-03-01T08:00:00Z"), at("1926-03-01T08:00:00Z"));
        let (a, b) = (CaseId::filed_at(a), CaseId::filed_at(b));
        assert_ne!(a, b);
        assert_eq!(a.as_uuid().get_timestamp().unwrap().to_unix(), (0, 0));
    }

    #[test]
    fn slugs_reject_what_a_subject_cannot_carry() {
        assert!("east-lake_3".parse::<TenantId>().is_ok());
        for bad in ["", "East", "a.b", "a b", "*", ">", &"x".repeat(64)] {
            assert!(bad.parse::<GridId>().is_err(), "{bad:?} accepted");
        }
    }
}
