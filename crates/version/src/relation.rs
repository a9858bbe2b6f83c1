//! [`Relation`]: the Debian-style operators of `<constraint relation="…">` (depot-format §4.3).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::excerpt;
use crate::version::Version;

/// A version relation in a VIB `depends`/`conflicts`/`replaces` constraint. The operators are
/// Debian's, where `<<`/`>>` are the strict ones; there is no single `<` or `>`, because in
/// Debian's history `<` meant `<=`, and guessing could silently flip a dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Relation {
    /// `<<`: strictly less.
    Lt,
    /// `<=`: less or equal.
    Le,
    /// `=`: equal under the version ordering (so `1.0` = `01.0`, but `1.0` ≠ `1.0.0`).
    Eq,
    /// `>=`: greater or equal.
    Ge,
    /// `>>`: strictly greater.
    Gt,
}

/// A `relation` attribute that is not one of the five valid spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid relation '{text}': expected one of '<<', '<=', '=', '>=', '>>'{hint}",
    hint = hint(text)
)]
pub struct RelationError {
    text: String,
}

impl RelationError {
    /// The rejected input, with control characters escaped and shortened for display.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Extra advice for the two spellings people most often mean.
fn hint(text: &str) -> &'static str {
    match text {
        "<" => " (write '<<' for strictly less, '<=' for less or equal)",
        ">" => " (write '>>' for strictly greater, '>=' for greater or equal)",
        "==" => " (equality is a single '=')",
        _ => "",
    }
}

impl Relation {
    /// All relations, in the order of [`Relation::as_str`]'s documentation.
    pub const ALL: [Self; 5] = [Self::Lt, Self::Le, Self::Eq, Self::Ge, Self::Gt];

    /// Accepts exactly `<<`, `<=`, `=`, `>=` or `>>`; no whitespace, no aliases.
    pub fn parse(text: &str) -> Result<Self, RelationError> {
        match text {
            "<<" => Ok(Self::Lt),
            "<=" => Ok(Self::Le),
            "=" => Ok(Self::Eq),
            ">=" => Ok(Self::Ge),
            ">>" => Ok(Self::Gt),
            _ => Err(RelationError { text: excerpt(text) }),
        }
    }

    /// The spelling used in descriptor XML.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lt => "<<",
            Self::Le => "<=",
            Self::Eq => "=",
            Self::Ge => ">=",
            Self::Gt => ">>",
        }
    }

    /// Whether `candidate` satisfies `candidate <relation> bound`, e.g. whether the installed
    /// `esx-version` 8.0.3 satisfies `>= 6.0.0`.
    pub fn matches(self, candidate: &Version, bound: &Version) -> bool {
        match self {
            Self::Lt => candidate < bound,
            Self::Le => candidate <= bound,
            Self::Eq => candidate == bound,
            Self::Ge => candidate >= bound,
            Self::Gt => candidate > bound,
        }
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Relation {
    type Err = RelationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl Serialize for Relation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Relation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn spellings_round_trip() {
        for relation in Relation::ALL {
            assert_eq!(Relation::parse(relation.as_str()), Ok(relation));
            assert_eq!(relation.to_string().parse::<Relation>(), Ok(relation));
            let json = serde_json::to_string(&relation).unwrap();
            assert_eq!(serde_json::from_str::<Relation>(&json).unwrap(), relation);
        }
    }

    #[test]
    fn rejects_other_spellings_and_says_which_are_valid() {
        for bad in ["<", ">", "==", "", " >=", ">= ", "=>", "<<=", "lt"] {
            assert!(Relation::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Relation::parse("<").unwrap_err().to_string(),
            "invalid relation '<': expected one of '<<', '<=', '=', '>=', '>>' \
             (write '<<' for strictly less, '<=' for less or equal)"
        );
        assert_eq!(
            Relation::parse("=>").unwrap_err().to_string(),
            "invalid relation '=>': expected one of '<<', '<=', '=', '>=', '>>'"
        );
        assert!(serde_json::from_str::<Relation>("\">\"").is_err());
    }

    #[test]
    fn matches_follow_the_version_order() {
        let (low, high) = (v("6.0.0"), v("8.0.3-0.35.24280767"));
        let table = [
            (Relation::Lt, [false, true, false]),
            (Relation::Le, [true, true, false]),
            (Relation::Eq, [true, false, false]),
            (Relation::Ge, [true, false, true]),
            (Relation::Gt, [false, false, true]),
        ];
        for (relation, [same, below, above]) in table {
            assert_eq!(relation.matches(&low, &low), same, "{relation} same");
            assert_eq!(relation.matches(&low, &high), below, "{relation} below");
            assert_eq!(relation.matches(&high, &low), above, "{relation} above");
        }
        assert!(Relation::Eq.matches(&v("1.0-01"), &v("1.00-1")));
        assert!(!Relation::Eq.matches(&v("1.0"), &v("1.0.0")));
    }
}
