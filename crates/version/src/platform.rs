//! [`PlatformPattern`]: the platform `version` of a vendor-index `metadata` entry
//! (depot-format §1.3) or of a `softwarePlatform`, e.g. `8.*`, `7.0`, `7.0.0`, or empty.

use std::fmt;
use std::str::FromStr;

use crate::excerpt;
use crate::order::cmp_field;

/// Which ESXi platform versions a piece of metadata applies to.
///
/// Matching rules (depot-format §1.3 marks them [I], so they are lenient on purpose):
///
/// * empty (or a lone `*`): any platform;
/// * `X.*`, `X.Y.*`: the platform's leading fields equal `X` (`X.Y`), any rest;
/// * `X.Y`: the whole X.Y line, i.e. the platform's first fields equal the pattern's;
/// * `X.Y.0`, `X.Y.0.0`: **also the whole X.Y line.** Trailing `.0` fields after the second
///   are ignored, because real depots declare `7.0.0` or `6.7.0` for bundles that ESXi 7.0 U3
///   and 6.7 U3 hosts consume, and a stricter reading would hide those bundles. A non-zero
///   field keeps its meaning: `8.0.2` matches `8.0.2` and `8.0.2-0.40.23825572`, not `8.0.3`.
///
/// Fields compare like version fields, so `08.0` and `8.0` are the same pattern. The platform
/// side may be a short form (`8.0`, `8.0.3`) or a full base-image version
/// (`8.0.3-0.35.24280767`); only the part before the first `-` is looked at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlatformPattern {
    text: String,
    /// Fields that must equal the platform's leading fields; empty means any platform.
    fields: Vec<String>,
}

/// Why [`PlatformPattern::parse`] rejected a pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform version pattern '{text}': {kind}")]
pub struct PatternError {
    text: String,
    kind: PatternErrorKind,
}

/// The pattern rule that was broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternErrorKind {
    /// `..`, a leading or trailing `.`.
    #[error("empty field at character {position}; fields are separated by single periods")]
    EmptyField {
        /// 0-based character offset of the empty field.
        position: usize,
    },
    /// `*` anywhere but as the whole last field, e.g. `8*` or `*.0`.
    #[error("'*' at character {position} must be the whole last field, as in '8.*'")]
    MisplacedWildcard {
        /// 0-based character offset of the `*`.
        position: usize,
    },
    /// Anything but letters, digits, `.` and a final `*`.
    #[error("'{ch}' at character {position}; only letters, digits, '.' and a final '*' are allowed")]
    InvalidCharacter {
        /// The offending character.
        ch: char,
        /// Its 0-based character offset.
        position: usize,
    },
}

impl PatternError {
    /// The rejected input, with control characters escaped and shortened for display.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The rule that was broken.
    pub fn kind(&self) -> PatternErrorKind {
        self.kind
    }
}

impl PlatformPattern {
    /// The pattern that matches every platform (an empty `version` element).
    pub fn any() -> Self {
        Self { text: String::new(), fields: Vec::new() }
    }

    /// Parses a pattern. Surrounding whitespace is ignored, since it comes from XML text
    /// content; [`PlatformPattern::as_str`] still returns the text as given.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let fail = |kind| Err(PatternError { text: excerpt(text), kind });
        let trimmed = text.trim();
        // Character offset of `trimmed` within `text`, so positions point into the input.
        let lead = text.chars().count() - text.trim_start().chars().count();
        let mut fields = Vec::new();
        let mut position = lead;
        let mut wildcard = false;
        if !trimmed.is_empty() {
            for field in trimmed.split('.') {
                if wildcard {
                    // A field after `*`: the wildcard was not last.
                    return fail(PatternErrorKind::MisplacedWildcard { position: position - 2 });
                }
                if field.is_empty() {
                    return fail(PatternErrorKind::EmptyField { position });
                }
                for (index, ch) in field.chars().enumerate() {
                    if ch == '*' {
                        if field != "*" {
                            return fail(PatternErrorKind::MisplacedWildcard { position: position + index });
                        }
                        wildcard = true;
                    } else if !ch.is_ascii_alphanumeric() {
                        return fail(PatternErrorKind::InvalidCharacter { ch, position: position + index });
                    }
                }
                if !wildcard {
                    fields.push(field.to_owned());
                }
                position += field.chars().count() + 1;
            }
        }
        if !wildcard {
            // `7.0.0` means the 7.0 line; see the type documentation.
            while fields.len() > 2 && fields.last().is_some_and(|f| is_zero(f)) {
                fields.pop();
            }
        }
        Ok(Self { text: text.to_owned(), fields })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this pattern places no restriction at all.
    pub fn is_any(&self) -> bool {
        self.fields.is_empty()
    }

    /// Whether `platform` (`8.0`, `8.0.3`, `8.0.3-0.35.24280767`, `9.0.0.0.12345678`) falls
    /// under this pattern. A platform with fewer fields than the pattern needs does not match.
    pub fn matches(&self, platform: &str) -> bool {
        let version = platform.split_once('-').map_or(platform, |(v, _)| v);
        let mut platform_fields = version.split('.');
        self.fields.iter().all(|wanted| platform_fields.next().is_some_and(|have| cmp_field(wanted, have).is_eq()))
    }
}

/// A field of only zeros: trailing ones do not narrow a pattern.
fn is_zero(field: &str) -> bool {
    field.bytes().all(|b| b == b'0')
}

impl Default for PlatformPattern {
    fn default() -> Self {
        Self::any()
    }
}

impl fmt::Display for PlatformPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for PlatformPattern {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, platform: &str) -> bool {
        PlatformPattern::parse(pattern).unwrap().matches(platform)
    }

    #[test]
    fn empty_matches_anything() {
        for pattern in ["", "  ", "*"] {
            assert!(PlatformPattern::parse(pattern).unwrap().is_any());
            assert!(matches(pattern, "8.0.3"));
            assert!(matches(pattern, "5.5"));
        }
        assert!(PlatformPattern::default().matches("9.0.0.0.12345678"));
    }

    #[test]
    fn prefix_wildcard() {
        assert!(matches("8.*", "8.0"));
        assert!(matches("8.*", "8.0.3"));
        assert!(matches("8.*", "8.0.3-0.35.24280767"));
        assert!(matches("8.*", "8"));
        assert!(!matches("8.*", "80.0"));
        assert!(!matches("6.*", "7.0.3"));
        assert!(matches("6.7.*", "6.7.0"));
        assert!(!matches("6.7.*", "6.5.0"));
    }

    #[test]
    fn major_minor_is_the_whole_line() {
        assert!(matches("7.0", "7.0"));
        assert!(matches("7.0", "7.0.3"));
        assert!(matches("7.0", "7.0.3-0.55.20328353"));
        assert!(!matches("7.0", "7.1.0"));
        assert!(!matches("7.0", "8.0.3"));
        assert!(matches("9.0", "9.0.0.0.12345678"));
        assert!(!matches("7.0", "7"), "too few platform fields");
    }

    /// Our documented lenient choice: `X.Y.0` is the X.Y line, not just the GA release.
    #[test]
    fn trailing_zero_fields_mean_the_whole_line() {
        assert!(matches("7.0.0", "7.0.0"));
        assert!(matches("7.0.0", "7.0"));
        assert!(matches("7.0.0", "7.0.3"));
        assert!(matches("7.0.0", "7.0.3-0.55.20328353"));
        assert!(matches("5.5.0", "5.5.0"));
        assert!(matches("6.7.0", "6.7.0-0.0.8169922"));
        assert!(matches("8.0.0.0", "8.0.3"));
        assert!(!matches("7.0.0", "8.0.0"));
        assert!(!matches("5.5.0", "6.0.0"));
        // A non-zero update keeps its meaning.
        assert!(matches("8.0.2", "8.0.2-0.40.23825572"));
        assert!(!matches("8.0.2", "8.0.3"));
        // Fields compare numerically, like versions.
        assert!(matches("08.0", "8.0.3"));
    }

    #[test]
    fn keeps_spelling() {
        let pattern = PlatformPattern::parse(" 7.0.0\n").unwrap();
        assert_eq!(pattern.as_str(), " 7.0.0\n");
        assert_eq!(pattern.to_string(), " 7.0.0\n");
        assert_eq!("8.*".parse::<PlatformPattern>().unwrap().as_str(), "8.*");
    }

    #[test]
    fn rejections_name_the_rule() {
        let kind = |text: &str| PlatformPattern::parse(text).unwrap_err().kind();
        assert_eq!(kind("7..0"), PatternErrorKind::EmptyField { position: 2 });
        assert_eq!(kind(".7"), PatternErrorKind::EmptyField { position: 0 });
        assert_eq!(kind("7.0."), PatternErrorKind::EmptyField { position: 4 });
        assert_eq!(kind("8*"), PatternErrorKind::MisplacedWildcard { position: 1 });
        assert_eq!(kind("*.0"), PatternErrorKind::MisplacedWildcard { position: 0 });
        assert_eq!(kind(" 8.*.1"), PatternErrorKind::MisplacedWildcard { position: 3 });
        assert_eq!(kind("7.0-1"), PatternErrorKind::InvalidCharacter { ch: '-', position: 3 });
        assert_eq!(
            PlatformPattern::parse("8*").unwrap_err().to_string(),
            "invalid platform version pattern '8*': '*' at character 1 must be the whole \
             last field, as in '8.*'"
        );
        assert_eq!(PlatformPattern::parse("7.0\t1").unwrap_err().text(), "7.0\\t1");
    }
}
