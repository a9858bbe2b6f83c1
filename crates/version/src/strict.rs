//! VMware's VIB authoring rules for versions (depot-format §5.1), as lints.
//!
//! ESXi itself loads versions that break these rules (`0.19.0` without a release installs
//! fine), so they are reported rather than enforced by the parser: `depot lint` shows them to
//! partners, and our own writer refuses [`Severity::Error`] lints before emitting metadata.

use std::fmt;

use crate::version::Version;

/// Longest version VMware's authoring rules allow, in characters.
pub const MAX_STRICT_LEN: usize = 35;

/// Which side of the first `-` a lint points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// Before the first `-`.
    Version,
    /// After the first `-`.
    Release,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Version => "version number",
            Self::Release => "release number",
        })
    }
}

/// How much a lint matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Breaks the authoring rules, but ESXi accepts it.
    Warning,
    /// Breaks the authoring rules in a way VMware's tooling may reject.
    Error,
}

/// One violation of VMware's version authoring rules. Positions are 0-based character
/// offsets into the whole version string. At most one lint is reported per rule and part,
/// pointing at the first offence, so a badly broken string does not flood the report.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum VersionLint {
    /// Longer than [`MAX_STRICT_LEN`] characters.
    #[error(
        "version '{version}' is {len} characters long; VMware allows at most {max}",
        max = MAX_STRICT_LEN
    )]
    TooLong {
        /// The whole version.
        version: String,
        /// Its length in characters.
        len: usize,
    },
    /// No `-<release>`: required by the authoring rules, accepted by ESXi.
    #[error(
        "version '{version}' has no release number; VMware's rules require \
         '<version>-<release>', e.g. '1.0.0-1OEM.800.1.0.20613240'"
    )]
    MissingRelease {
        /// The whole version.
        version: String,
    },
    /// An empty group: a part that is empty, starts or ends with `.`, or contains `..`.
    #[error(
        "version '{version}' has an empty group in its {part} at character {position}; \
         groups of letters and digits must be separated by single periods"
    )]
    EmptyGroup {
        /// The whole version.
        version: String,
        /// The part holding the empty group.
        part: Part,
        /// Where the empty group starts.
        position: usize,
    },
    /// A character other than `A-Z`, `a-z`, `0-9` and `.` (including a second `-`).
    #[error(
        "version '{version}' has '{ch}' in its {part} at character {position}; \
         VMware allows only letters A-Z, a-z, digits and '.'"
    )]
    InvalidCharacter {
        /// The whole version.
        version: String,
        /// The part holding the character.
        part: Part,
        /// The offending character.
        ch: char,
        /// Where it is.
        position: usize,
    },
}

impl VersionLint {
    /// A stable identifier of the rule, for filtering and machine-readable reports.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::TooLong { .. } => "version-too-long",
            Self::MissingRelease { .. } => "version-missing-release",
            Self::EmptyGroup { .. } => "version-empty-group",
            Self::InvalidCharacter { .. } => "version-invalid-character",
        }
    }

    /// Missing releases are warnings (ESXi accepts them); everything else is an error.
    pub fn severity(&self) -> Severity {
        match self {
            Self::MissingRelease { .. } => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

impl Version {
    /// Checks VMware's authoring rules (depot-format §5.1): at most [`MAX_STRICT_LEN`]
    /// characters, `<version>-<release>`, each part one or more `[A-Za-z0-9]+` groups joined
    /// by single periods. An empty result means the version is fully conformant.
    pub fn lint(&self) -> Vec<VersionLint> {
        let text = self.as_str();
        let mut lints = Vec::new();
        let len = text.chars().count();
        if len > MAX_STRICT_LEN {
            lints.push(VersionLint::TooLong { version: text.to_owned(), len });
        }
        if self.has_release() {
            let version_len = self.version_part().chars().count();
            check_part(text, Part::Version, self.version_part(), 0, &mut lints);
            check_part(text, Part::Release, self.release_part(), version_len + 1, &mut lints);
        } else {
            lints.push(VersionLint::MissingRelease { version: text.to_owned() });
            check_part(text, Part::Version, text, 0, &mut lints);
        }
        lints
    }
}

/// Lints one part, whose first character sits at character `offset` of `whole`.
fn check_part(whole: &str, part: Part, text: &str, offset: usize, lints: &mut Vec<VersionLint>) {
    let mut empty_group = None;
    let mut invalid = None;
    let mut group_len = 0;
    let mut group_start = offset;
    for (index, ch) in text.chars().enumerate() {
        let position = offset + index;
        if ch == '.' {
            if group_len == 0 {
                empty_group.get_or_insert(group_start);
            }
            group_len = 0;
            group_start = position + 1;
        } else {
            group_len += 1;
            if !ch.is_ascii_alphanumeric() {
                invalid.get_or_insert((ch, position));
            }
        }
    }
    if group_len == 0 {
        empty_group.get_or_insert(group_start);
    }
    if let Some(position) = empty_group {
        lints.push(VersionLint::EmptyGroup { version: whole.to_owned(), part, position });
    }
    if let Some((ch, position)) = invalid {
        lints.push(VersionLint::InvalidCharacter { version: whole.to_owned(), part, ch, position });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lint(text: &str) -> Vec<VersionLint> {
        Version::parse(text).unwrap().lint()
    }

    fn rules(text: &str) -> Vec<&'static str> {
        lint(text).iter().map(VersionLint::rule).collect()
    }

    #[test]
    fn real_versions_are_clean() {
        for text in [
            "1.14-1vmw.803.0.0.75399077",
            "1.12.3.0-1OEM.700.1.0.15843807",
            "7.0.3-0.55.20328353",
            "5.0.0-1.0vmw",
            "2.0-2vft.510.0.0.799733",
        ] {
            assert_eq!(lint(text), [], "{text}");
        }
    }

    #[test]
    fn too_long() {
        let text = "1.12.3.0-1OEM.700.1.0.15843807.12345"; // 36 characters
        assert_eq!(lint(text), [VersionLint::TooLong { version: text.to_owned(), len: 36 }]);
        let text = "1.12.3.0-1OEM.700.1.0.15843807.1234"; // exactly 35
        assert_eq!(lint(text), []);
        let long = "1.12.3.0-1OEM.700.1.0.15843807.123456789A";
        assert_eq!(
            lint(long)[0].to_string(),
            format!("version '{long}' is 41 characters long; VMware allows at most 35")
        );
    }

    #[test]
    fn missing_release_is_a_warning() {
        let lints = lint("0.19.0");
        assert_eq!(lints, [VersionLint::MissingRelease { version: "0.19.0".to_owned() }]);
        assert_eq!(lints[0].severity(), Severity::Warning);
        assert_eq!(lint("9.0.0.0.12345678")[0].rule(), "version-missing-release");
    }

    #[test]
    fn empty_groups() {
        let empty_at = |text: &str| -> Vec<(Part, usize)> {
            lint(text)
                .into_iter()
                .filter_map(|l| match l {
                    VersionLint::EmptyGroup { part, position, .. } => Some((part, position)),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(empty_at(".1-1"), [(Part::Version, 0)]);
        assert_eq!(empty_at("1.-1"), [(Part::Version, 2)]);
        assert_eq!(empty_at("1..2-1"), [(Part::Version, 2)]);
        assert_eq!(empty_at("-1"), [(Part::Version, 0)]);
        assert_eq!(empty_at("1.0-"), [(Part::Release, 4)]);
        assert_eq!(empty_at("1.0-1."), [(Part::Release, 6)]);
        assert_eq!(empty_at("1.0-1..2.."), [(Part::Release, 6)], "first only");
        assert_eq!(empty_at("1..0-.1"), [(Part::Version, 2), (Part::Release, 5)]);
        assert_eq!(
            lint("1..2-1")[0].to_string(),
            "version '1..2-1' has an empty group in its version number at character 2; \
             groups of letters and digits must be separated by single periods"
        );
    }

    #[test]
    fn invalid_characters() {
        assert_eq!(
            lint("1.0-1-2"),
            [VersionLint::InvalidCharacter {
                version: "1.0-1-2".to_owned(),
                part: Part::Release,
                ch: '-',
                position: 5
            }]
        );
        assert_eq!(
            lint("1.0_beta-1")[0].to_string(),
            "version '1.0_beta-1' has '_' in its version number at character 3; \
             VMware allows only letters A-Z, a-z, digits and '.'"
        );
        assert_eq!(rules("ü.1-1"), ["version-invalid-character"]);
        assert_eq!(rules("1_0"), ["version-missing-release", "version-invalid-character"]);
        assert!(lint("1_0").iter().any(|l| l.severity() == Severity::Error));
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        assert_eq!(
            lint("ü-1_"),
            [
                VersionLint::InvalidCharacter {
                    version: "ü-1_".to_owned(), part: Part::Version, ch: 'ü', position: 0
                },
                VersionLint::InvalidCharacter {
                    version: "ü-1_".to_owned(), part: Part::Release, ch: '_', position: 3
                },
            ]
        );
    }
}
