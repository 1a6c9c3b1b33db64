//! Value objects shared by every kind of case.

use serde::{Deserialize, Serialize};

use crate::Refusal;

/// A photo or document attached to a case: the blob itself lives elsewhere, the case keeps
/// what proves which blob it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// `sha256:` followed by 64 lower-case hex digits.
    pub content_hash: String,
    /// The media type, such as `image/jpeg`.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Where the blob is kept (an object key or URL).
    pub blob: String,
}

/// Where a case is, as the grid worker's phone reports it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
}

pub(crate) const MAX_TITLE: usize = 200;
pub(crate) const MAX_TEXT: usize = 10_000;
pub(crate) const MAX_SHORT_TEXT: usize = 500;
pub(crate) const MAX_EVIDENCE: usize = 50;

/// Checks a required text: not blank, at most `max` characters.
pub(crate) fn required_text(field: &'static str, value: &str, max: usize) -> Result<(), Refusal> {
    if value.trim().is_empty() {
        return Err(Refusal::invalid(field, "must not be empty"));
    }
    optional_text(field, Some(value), max)
}

/// Checks an optional text: at most `max` characters, none of them a control character but line
/// breaks and tabs.
pub(crate) fn optional_text(
    field: &'static str,
    value: Option<&str>,
    max: usize,
) -> Result<(), Refusal> {
    match value {
        Some(v) if v.chars().count() > max => Err(Refusal::invalid(
            field,
            format!("must be at most {max} characters"),
        )),
        // Line breaks and tabs are text; NUL and the other control characters are not.
        Some(v)
            if v.chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) =>
        {
            Err(Refusal::invalid(
                field,
                "must not contain control characters (NUL and the like)",
            ))
        }
        _ => Ok(()),
    }
}

pub(crate) fn check_location(location: Option<&Location>) -> Result<(), Refusal> {
    if let Some(l) = location {
        if !(-90.0..=90.0).contains(&l.latitude) {
            return Err(Refusal::invalid(
                "location.latitude",
                "must be between -90 and 90",
            ));
        }
        if !(-180.0..=180.0).contains(&l.longitude) {
            return Err(Refusal::invalid(
                "location.longitude",
                "must be between -180 and 180",
            ));
        }
    }
    Ok(())
}

/// The longest media URL a filing gives.
pub const MAX_MEDIA_URL: usize = 2000;

/// Checks a media URL: http or https, at most `MAX_MEDIA_URL` characters.
pub(crate) fn check_media_url(url: Option<&str>) -> Result<(), Refusal> {
    let Some(url) = url.map(str::trim) else {
        return Ok(());
    };
    let (scheme, rest) = url.split_once("://").unwrap_or_default();
    let ok = matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https")
        && !rest.is_empty()
        && url.chars().count() <= MAX_MEDIA_URL
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(Refusal::invalid(
            "media_url",
            format!("must be an http or https URL of at most {MAX_MEDIA_URL} characters"),
        ))
    }
}

/// Checks evidence: `required` says whether at least one item must be given.
pub(crate) fn check_evidence(evidence: &[Evidence], required: bool) -> Result<(), Refusal> {
    if required && evidence.is_empty() {
        return Err(Refusal::invalid(
            "evidence",
            "at least one photo or document is required",
        ));
    }
    if evidence.len() > MAX_EVIDENCE {
        return Err(Refusal::invalid(
            "evidence",
            format!("at most {MAX_EVIDENCE} items"),
        ));
    }
    for item in evidence {
        let hex = item.content_hash.strip_prefix("sha256:").unwrap_or("");
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(Refusal::invalid(
                "evidence.content_hash",
                "must be sha256: followed by 64 lower-case hex digits",
            ));
        }
        required_text("evidence.media_type", &item.media_type, 100)?;
        required_text("evidence.blob", &item.blob, 1000)?;
    }
    Ok(())
}

/// Checks a person's contact details as a party or petitioner gives them: a name, and where
/// given, a resident ID number (18 characters, the last a digit or X), a phone number (digits,
/// optionally a leading + and hyphens, 5 to 20 digits) and an address.
#[allow(
    dead_code,
    reason = "used by the dispute and petition modules, which are being added"
)]
pub(crate) fn check_person(
    field: &'static str,
    name: &str,
    id_number: Option<&str>,
    phone: Option<&str>,
    address: Option<&str>,
) -> Result<(), Refusal> {
    if name.trim().is_empty() {
        return Err(Refusal::invalid(field, "every person needs a name"));
    }
    optional_text(field, Some(name), 100)?;
    if let Some(id) = id_number
        && !crate::person::is_resident_id_number(id)
    {
        return Err(Refusal::invalid(
            field,
            "id_number must be a resident ID number: 17 digits and their check character (GB 11643)",
        ));
    }
    if let Some(phone) = phone {
        let digits = phone.bytes().filter(u8::is_ascii_digit).count();
        let ok = phone
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_digit() || b == b'-' || (i == 0 && b == b'+'))
            && (5..=20).contains(&digits);
        if !ok {
            return Err(Refusal::invalid(
                field,
                "phone must be a phone number (digits, optionally + and hyphens)",
            ));
        }
    }
    optional_text(field, address, MAX_SHORT_TEXT)
}
