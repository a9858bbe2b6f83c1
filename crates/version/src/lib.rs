//! VMware version strings and their ordering (depot-format.md §5), plus the two small grammars
//! that always travel with them: dependency relations (`<<`, `<=`, `=`, `>=`, `>>`, §4.3) and
//! the platform version patterns of vendor indexes (`8.*`, `7.0.0`, §1.3).
//!
//! Parsing is lenient by design: depots written by others must be readable even when they
//! bend VMware's authoring rules, so [`Version::parse`] accepts any short printable string and
//! [`Version::lint`] reports the rule violations separately (for `depot lint` and for our own
//! writer). Every type keeps the spelling it was parsed from, because metadata we re-emit must
//! be byte-identical to what we read.

mod order;
mod platform;
mod relation;
mod strict;
mod version;

pub use platform::{PatternError, PatternErrorKind, PlatformPattern};
pub use relation::{Relation, RelationError};
pub use strict::{MAX_STRICT_LEN, Part, Severity, VersionLint};
pub use version::{MAX_LEN, Version, VersionError, VersionErrorKind};

/// Longest excerpt of an input that an error message repeats, in characters.
const EXCERPT_CHARS: usize = 64;

/// Renders untrusted input for an error message: control characters escaped and long input
/// shortened, so one bad attribute cannot flood a log line or corrupt a terminal.
pub(crate) fn excerpt(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().take(EXCERPT_CHARS) {
        if c.is_control() || (c.is_whitespace() && c != ' ') {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if text.chars().nth(EXCERPT_CHARS).is_some() {
        out.push('…');
    }
    out
}
