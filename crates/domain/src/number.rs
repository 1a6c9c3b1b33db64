//! The human case number: kind prefix, filing year, and a per-tenant sequence.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{CaseKind, InvalidId};

/// The human case number: kind prefix, filing year, and a per-tenant sequence (`HZ-2025-000123`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CaseNumber {
    pub kind: CaseKind,
    pub year: i16,
    pub sequence: u32,
}

impl CaseNumber {
    pub fn new(kind: CaseKind, year: i16, sequence: u32) -> Self {
        Self {
            kind,
            year,
            sequence,
        }
    }
}

impl fmt::Display for CaseNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{:04}-{:06}",
            self.kind.number_prefix(),
            self.year,
            self.sequence
        )
    }
}

impl FromStr for CaseNumber {
    type Err = InvalidId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| InvalidId {
            what: "case number",
            value: s.to_owned(),
            reason,
        };
        let mut parts = s.split('-');
        let (Some(prefix), Some(year), Some(seq), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("expected PREFIX-YYYY-NNNNNN"));
        };
        let kind = CaseKind::ALL
            .iter()
            .copied()
            .find(|k| k.number_prefix() == prefix)
            .ok_or_else(|| invalid("unknown kind prefix"))?;
        if year.len() != 4 || seq.len() < 6 {
            return Err(invalid("expected PREFIX-YYYY-NNNNNN"));
        }
        let year = year.parse().map_err(|_| invalid("year is not a number"))?;
        let sequence: u32 = seq
            .parse()
            .map_err(|_| invalid("sequence is not a number"))?;
        if sequence == 0 {
            return Err(invalid("sequences start at 1"));
        }
        Ok(Self::new(kind, year, sequence))
    }
}

impl Serialize for CaseNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CaseNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_numbers_round_trip() {
        let n = CaseNumber::new(CaseKind::Hazard, 2025, 123);
        assert_eq!(n.to_string(), "HZ-2025-000123");
        assert_eq!("HZ-2025-000123".parse::<CaseNumber>().unwrap(), n);
        assert!("XX-2025-000001".parse::<CaseNumber>().is_err());
        assert!("HZ-2025-000000".parse::<CaseNumber>().is_err());
        assert!("HZ-25-000001".parse::<CaseNumber>().is_err());
    }
}
