//! [`Version`]: a VMware version that compares by meaning and displays as written.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Serialize, Serializer};

use crate::excerpt;
use crate::order::{cmp_dotted, hash_dotted};

/// Longest version the lenient parser accepts, in characters. Real versions stay under 40;
/// the cap only keeps hostile input from turning into huge keys and error messages.
pub const MAX_LEN: usize = 256;

/// A VIB, component or base-image version such as `1.14-1vmw.803.0.0.75399077`,
/// `7.0.3-0.55.20328353` or `9.0.0.0.12345678`.
///
/// The original spelling is kept and is what [`Display`](fmt::Display), [`Version::as_str`]
/// and serde produce, so metadata can be written back unchanged. Comparison follows
/// depot-format §5.3 (split at the first `-`, compare the version part, then the release part,
/// field by field), and `Eq`/`Hash` follow the comparison: `010` and `10` are equal and hash
/// alike although they print differently. For that reason `Version` deliberately does not
/// implement `Borrow<str>`: a `HashMap<Version, _>` must not be probed with a raw `&str`.
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct Version {
    text: String,
}

/// Why [`Version::parse`] rejected a string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version '{text}': {kind}")]
pub struct VersionError {
    text: String,
    kind: VersionErrorKind,
}

/// The lenient grammar rule a rejected version broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionErrorKind {
    /// Nothing to compare: an empty `version` attribute is a metadata error, not "any".
    #[error("a version must not be empty")]
    Empty,
    /// Longer than [`MAX_LEN`] characters.
    #[error("it is {len} characters long; at most {max} are accepted", max = MAX_LEN)]
    TooLong {
        /// Length of the input in characters.
        len: usize,
    },
    /// Whitespace would make the version ambiguous in file names and command lines.
    #[error("whitespace {ch:?} at character {position}")]
    Whitespace {
        /// The offending character.
        ch: char,
        /// Its 0-based character offset.
        position: usize,
    },
    /// Control characters never occur in real versions and corrupt logs.
    #[error("control character {ch:?} at character {position}")]
    Control {
        /// The offending character.
        ch: char,
        /// Its 0-based character offset.
        position: usize,
    },
}

impl VersionError {
    /// The rejected input, with control characters escaped and shortened for display.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The rule that was broken.
    pub fn kind(&self) -> VersionErrorKind {
        self.kind
    }
}

impl Version {
    /// Parses leniently: any non-empty string of at most [`MAX_LEN`] characters without
    /// whitespace or control characters. VMware's stricter authoring rules are checked by
    /// [`Version::lint`] instead, because real depots break them and must still load.
    pub fn parse(text: &str) -> Result<Self, VersionError> {
        check_lenient(text)?;
        Ok(Self { text: text.to_owned() })
    }

    /// The version exactly as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The part before the first `-` (PowerCLI's `Version`), e.g. `1.14` in `1.14-1vmw.803…`.
    pub fn version_part(&self) -> &str {
        self.split().0
    }

    /// The part after the first `-` (PowerCLI's `Release`); empty when there is no `-`.
    /// Any later `-` belongs to the release, unlike Debian, which splits at the last one.
    pub fn release_part(&self) -> &str {
        self.split().1
    }

    /// Whether the string contains a `-` at all; `1.0-` has an (empty) release, `1.0` none.
    pub fn has_release(&self) -> bool {
        self.text.contains('-')
    }

    fn split(&self) -> (&str, &str) {
        self.text.split_once('-').unwrap_or((&self.text, ""))
    }
}

fn check_lenient(text: &str) -> Result<(), VersionError> {
    let fail = |kind| Err(VersionError { text: excerpt(text), kind });
    if text.is_empty() {
        return fail(VersionErrorKind::Empty);
    }
    let mut len = 0;
    for (position, ch) in text.chars().enumerate() {
        if ch.is_control() {
            return fail(VersionErrorKind::Control { ch, position });
        }
        if ch.is_whitespace() {
            return fail(VersionErrorKind::Whitespace { ch, position });
        }
        len = position + 1;
    }
    if len > MAX_LEN {
        return fail(VersionErrorKind::TooLong { len });
    }
    Ok(())
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let (version_a, release_a) = self.split();
        let (version_b, release_b) = other.split();
        cmp_dotted(version_a, version_b).then_with(|| cmp_dotted(release_a, release_b))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl Hash for Version {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let (version, release) = self.split();
        hash_dotted(version, state);
        hash_dotted(release, state);
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({:?})", self.text)
    }
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl TryFrom<String> for Version {
    type Error = VersionError;

    /// Like [`Version::parse`], reusing the allocation.
    fn try_from(text: String) -> Result<Self, Self::Error> {
        check_lenient(&text)?;
        Ok(Self { text })
    }
}

impl TryFrom<&str> for Version {
    type Error = VersionError;

    fn try_from(text: &str) -> Result<Self, Self::Error> {
        Self::parse(text)
    }
}

impl From<Version> for String {
    fn from(version: Version) -> Self {
        version.text
    }
}

impl AsRef<str> for Version {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::hash_map::DefaultHasher;

    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    fn hash_of(version: &Version) -> u64 {
        let mut hasher = DefaultHasher::new();
        version.hash(&mut hasher);
        hasher.finish()
    }

    /// Every real upgrade path of depot-format §5.3, oldest first.
    const REAL_SEQUENCES: &[&[&str]] = &[
        // nvme-community
        &["1.0.1.0-1vmw.670.0.0.8169922", "1.0.1.0-3vmw.700.1.0.15843807"],
        // USB NIC Fling
        &[
            "1.12-1vmw.800.1.20.64098182",
            "1.12-1vmw.801.0.0.64098092",
            "1.12-2vmw.802.0.0.67561870",
            "1.14-1vmw.803.0.0.75399077",
            "1.14-2vmw.803.0.0.76444229",
            "1.14-7vmw.803.0.95.93415869",
            "1.15-1vmw.900.0.84947163",
        ],
        // ESXi 8.0 U2 patches
        &["8.0.2-0.25.23305545", "8.0.2-0.30.23305546", "8.0.2-0.40.23825572"],
        // ESXi 7.0 updates
        &["7.0.0-1.0.15843807", "7.0.2-0.0.17867351", "7.0.3-0.5.18825058", "7.0.3-0.55.20328353"],
    ];

    #[test]
    fn real_sequences_adjacent_pairs() {
        for sequence in REAL_SEQUENCES {
            for pair in sequence.windows(2) {
                let (older, newer) = (v(pair[0]), v(pair[1]));
                assert!(older < newer, "{older} < {newer}");
                assert!(newer > older, "{newer} > {older}");
                assert_ne!(older, newer);
            }
        }
    }

    #[test]
    fn real_sequences_sort_back_into_order() {
        for sequence in REAL_SEQUENCES {
            let mut shuffled: Vec<Version> = sequence.iter().rev().map(|s| v(s)).collect();
            shuffled.rotate_left(1);
            shuffled.sort();
            let sorted: Vec<&str> = shuffled.iter().map(Version::as_str).collect();
            assert_eq!(&sorted, sequence);
        }
    }

    #[test]
    fn other_base_image_versions_order() {
        let chain = [
            "8.0.0-1.0.20513097",
            "8.0.2-0.0.22380479",
            "8.0.2-0.25.23305545",
            "8.0.2-0.30.23305546",
            "8.0.3-0.35.24280767",
            "8.0.3-0.70.24674464",
            "9.0.0.0.12345678",
            "9.0.1-0101.12345678",
            "9.2.1.0100.45678901",
        ];
        for pair in chain.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn edge_cases() {
        assert!(v("1.0") < v("1.0.0"), "more fields win");
        assert_eq!(v("010"), v("10"));
        assert_eq!(hash_of(&v("010")), hash_of(&v("10")));
        assert_eq!(v("1.010-01vmw"), v("1.10-1vmw"));
        assert_eq!(hash_of(&v("1.010-01vmw")), hash_of(&v("1.10-1vmw")));
        assert!(v("1-1vmw") < v("1-3vmw") && v("1-3vmw") < v("1-10vmw"));
        assert!(v("0.19.0") < v("0.19.0-1"), "missing release sorts first");
        assert!(v("0.19.0") < v("0.19.1"));
        assert_eq!(v("1.0-"), v("1.0"), "an empty release equals a missing one");
        assert!(v("1.0-1-2") < v("1.0-2"), "split at the first hyphen");
        let huge = "1.123456789012345678901234567890123456789-1";
        assert!(v(huge) > v("1.18446744073709551615-1"));
        assert_eq!(v(huge), v("1.000123456789012345678901234567890123456789-1"));
    }

    #[test]
    fn parts() {
        let version = v("1.14-1vmw.803.0.0.75399077");
        assert_eq!(version.version_part(), "1.14");
        assert_eq!(version.release_part(), "1vmw.803.0.0.75399077");
        assert!(version.has_release());
        let bare = v("0.19.0");
        assert_eq!(bare.version_part(), "0.19.0");
        assert_eq!(bare.release_part(), "");
        assert!(!bare.has_release());
        assert_eq!(v("9.0.1-0101-x").release_part(), "0101-x");
    }

    #[test]
    fn keeps_spelling() {
        let version = v("010.0-01vmw");
        assert_eq!(version.to_string(), "010.0-01vmw");
        assert_eq!(format!("{version:?}"), "Version(\"010.0-01vmw\")");
        let json = serde_json::to_string(&version).unwrap();
        assert_eq!(json, "\"010.0-01vmw\"");
        let back: Version = serde_json::from_str(&json).unwrap();
        assert_eq!(back.as_str(), "010.0-01vmw");
        assert!(serde_json::from_str::<Version>("\"\"").is_err());
    }

    #[test]
    fn lenient_rejections_name_the_rule() {
        let err = Version::parse("").unwrap_err();
        assert_eq!(err.kind(), VersionErrorKind::Empty);
        assert_eq!(err.to_string(), "invalid version '': a version must not be empty");

        let err = Version::parse("1.0 -1").unwrap_err();
        assert_eq!(err.kind(), VersionErrorKind::Whitespace { ch: ' ', position: 3 });
        assert_eq!(err.to_string(), "invalid version '1.0 -1': whitespace ' ' at character 3");

        let err = Version::parse("1.0\n").unwrap_err();
        assert_eq!(err.text(), "1.0\\n");
        assert!(matches!(err.kind(), VersionErrorKind::Control { .. }));

        let long = "1".repeat(MAX_LEN + 1);
        let err = Version::parse(&long).unwrap_err();
        assert_eq!(err.kind(), VersionErrorKind::TooLong { len: MAX_LEN + 1 });
        assert!(err.text().ends_with('…') && err.text().len() < 80);
        assert!(Version::parse(&"1".repeat(MAX_LEN)).is_ok());

        // Lenient means lenient: odd but printable spellings load.
        for odd in ["1.0_beta", "a", "-", "1..2", "1.0-1-2", "ü.1"] {
            assert!(Version::parse(odd).is_ok(), "{odd}");
        }
    }
}
