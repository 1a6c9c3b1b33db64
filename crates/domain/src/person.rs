//! People named in cases (parties, petitioners) and their personal information (PIPL).
//!
//! A person's identifying details (name, resident ID number, phone, address) are decided in clear
//! and sealed with the person's own key before the commit is written: the log holds a `Sealed`
//! person only, so destroying the key erases the details everywhere without rewriting the log.
//! Who sees them in clear, masked or not at all is each kind's `Kind::disclosure`, asked through
//! `CaseState::disclosure`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One person across cases: the same resident ID number is the same person.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
pub struct PersonId(Uuid);

impl PersonId {
    pub fn new() -> PersonId {
        PersonId(Uuid::now_v7())
    }

    pub fn as_uuid(self) -> Uuid {
        self.0
    }

    pub fn from_uuid(id: Uuid) -> PersonId {
        PersonId(id)
    }
}

impl Default for PersonId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for PersonId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(PersonId)
    }
}

/// Whether `id` is a resident ID number: 17 digits and the check character GB 11643 derives
/// from them (a digit, or X for 10; x is taken as X).
pub fn is_resident_id_number(id: &str) -> bool {
    let bytes = id.as_bytes();
    bytes.len() == 18
        && bytes[..17].iter().all(u8::is_ascii_digit)
        && check_character(&id[..17]) == Some(bytes[17].to_ascii_uppercase())
}

/// The check character of a resident ID number's first 17 digits (GB 11643-1999, ISO 7064
/// MOD 11-2): their sum weighted by 2^(17-i) mod 11, mapped to 1 0 X 9 8 7 6 5 4 3 2.
pub fn check_character(first_17: &str) -> Option<u8> {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    if first_17.len() != 17 {
        return None;
    }
    let mut sum = 0;
    for (digit, weight) in first_17.bytes().zip(WEIGHTS) {
        sum += u32::from(digit.checked_sub(b'0').filter(|d| *d <= 9)?) * weight;
    }
    Some(CHECK[(sum % 11) as usize])
}

/// A person's identifying details: personal information.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonalDetails {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// An email address, as a resident's app gives it (Open311).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// A person's details sealed with the person's own key: what the log holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedPerson {
    pub person: PersonId,
    /// The details, encrypted and authenticated (`v1.` and base64 of nonce and ciphertext).
    pub sealed: String,
}

/// A person as an event records them: in clear only between deciding and sealing the commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Personal {
    Sealed(SealedPerson),
    Clear(PersonalDetails),
}

impl Personal {
    /// The person, once sealed.
    pub fn person(&self) -> Option<PersonId> {
        match self {
            Personal::Sealed(s) => Some(s.person),
            Personal::Clear(_) => None,
        }
    }
}

/// How much of the people in a case a viewer is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Disclosure {
    /// Everything: the roles that work with the people.
    Clear,
    /// Masked (张**, 138****5678): everyone else who reaches the case.
    Masked,
    /// Nothing, not even a masked name: the unit a report or accusation names.
    Withheld,
}

/// A name masked to its first character: 张三丰 → 张**.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
        None => String::new(),
    }
}

/// A number (phone, ID number) masked but for its first three and last four characters:
/// 13812345678 → 138****5678; shorter ones are masked whole.
pub fn mask_number(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() < 8 {
        return "*".repeat(chars.len());
    }
    let n = chars.len();
    chars[..3]
        .iter()
        .copied()
        .chain(std::iter::repeat_n('*', n - 7))
        .chain(chars[n - 4..].iter().copied())
        .collect()
}

/// An address masked after its first six characters (the district and street, not the door).
pub fn mask_address(address: &str) -> String {
    let keep: String = address.chars().take(6).collect();
    if keep.chars().count() == address.chars().count() {
        return "*".repeat(keep.chars().count());
    }
    format!("{keep}***")
}

/// An email address masked: its first character and its domain (`z***@example.cn`).
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "*".repeat(email.chars().count()),
    }
}

impl PersonalDetails {
    /// The details as a viewer who may not see them in clear is shown them.
    pub fn masked(&self) -> PersonalDetails {
        PersonalDetails {
            name: mask_name(&self.name),
            id_number: self.id_number.as_deref().map(mask_number),
            phone: self.phone.as_deref().map(mask_number),
            address: self.address.as_deref().map(mask_address),
            email: self.email.as_deref().map(mask_email),
        }
    }
}

/// The fields of an event's data, by name, that hold free text a person may be named in: a
/// description, a note, a hazard's responsible party, a unit's record of its part, a mediation's
/// summary and terms, the party who withdrew, a petition's opinion, a supervision's notice and
/// answer, a risk's situation, measures, responsible person and the basis for striking it off.
/// The command service seals them under the case's own key before the commit is written, so that
/// the log and the read model never hold them in clear, and erasing a person of the case erases
/// them. Every field of these names in every event is a string: the command service reads each
/// event back after sealing it, so a field of another type would fail the command rather than be
/// stored. `reason`, a fixed list of values in some events, and the names of places, staff and
/// institutions are not sealed.
pub const FREE_TEXT_FIELDS: &[&str] = &[
    "description",
    "note",
    "responsible_party",
    "text",
    "summary",
    "terms",
    "party",
    "opinion",
    "notice",
    "answer",
    "situation",
    "measures",
    "responsible_person",
    "basis",
];

/// How a sealed text begins: a control character, which no text a user gives may hold (text
/// fields refuse them), then the scheme; the case's id and the sealed bytes follow.
pub const SEALED_TEXT: &str = "\u{1}t1.";

/// Whether a text is sealed.
pub fn is_sealed_text(text: &str) -> bool {
    text.starts_with(SEALED_TEXT)
}

/// The free texts of an event's data that are not sealed yet (empty ones need no seal).
pub fn free_texts_mut(data: &mut serde_json::Value) -> Vec<&mut String> {
    fn walk<'a>(value: &'a mut serde_json::Value, found: &mut Vec<&'a mut String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map.iter_mut() {
                    let free = FREE_TEXT_FIELDS.contains(&key.as_str());
                    match value {
                        serde_json::Value::String(text) => {
                            if free && !text.is_empty() && !is_sealed_text(text) {
                                found.push(text);
                            }
                        }
                        other => walk(other, found),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(data, &mut found);
    found
}

/// The sealed people a value holds (a case's state, an event's data), each once.
pub fn sealed_people(value: &serde_json::Value) -> Vec<PersonId> {
    fn walk(value: &serde_json::Value, found: &mut Vec<PersonId>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Ok(sealed) = serde_json::from_value::<SealedPerson>(value.clone()) {
                    found.push(sealed.person);
                    return;
                }
                map.values().for_each(|v| walk(v, found));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(value, &mut found);
    found.sort();
    found.dedup();
    found
}

/// A free text masked: its first character, then an ellipsis.
pub fn mask_text(text: &str) -> String {
    match text.chars().next() {
        Some(first) => format!("{first}…"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resident_id_number_is_seventeen_digits_and_their_check_character() {
        assert!(is_resident_id_number("11010519491231002X"));
        assert!(is_resident_id_number("11010519491231002x"));
        assert!(is_resident_id_number("110105194912310038"));
        assert!(!is_resident_id_number("1101051949123100Y1"));
        // The shape of one, with a check character that does not follow from the digits.
        assert!(!is_resident_id_number("110105194912310021"));
        assert!(!is_resident_id_number("11010519491231002Y"));
        assert_eq!(check_character("11010519491231002"), Some(b'X'));
        assert_eq!(check_character("1101051949123100"), None);
        assert!(!is_resident_id_number("11010519491231002"));
        // Eighteen bytes but six characters: refused, not sliced inside a character.
        assert!(!is_resident_id_number("中中中中中中"));
        assert!(!is_resident_id_number("11010519491231002中"));
    }

    #[test]
    fn masks_keep_the_first_character_of_a_name_and_the_ends_of_a_number() {
        assert_eq!(mask_name("张三丰"), "张**");
        assert_eq!(mask_name("李四"), "李*");
        assert_eq!(mask_number("13812345678"), "138****5678");
        assert_eq!(mask_number("11010519491231002X"), "110***********002X");
        assert_eq!(mask_number("12345"), "*****");
        assert_eq!(mask_address("北京市海淀区清河路12号"), "北京市海淀区***");
        assert_eq!(mask_address("清河路"), "***");
    }

    #[test]
    fn a_sealed_person_and_clear_details_decode_as_what_they_are() {
        let sealed: Personal = serde_json::from_value(serde_json::json!({
            "person": "6f1c1b9e-0a4c-4a83-9bb2-2e8f5f6d8a11", "sealed": "v1.AAAA"
        }))
        .unwrap();
        assert!(matches!(sealed, Personal::Sealed(_)));
        let clear: Personal =
            serde_json::from_value(serde_json::json!({"name": "张三", "phone": "13800000000"}))
                .unwrap();
        assert!(matches!(clear, Personal::Clear(_)));
    }
}
