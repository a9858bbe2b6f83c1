//! Typed errors and small readers shared by the model's XML mappings.
//!
//! Every error names the element path (`vib/payloads/payload[1]/@size`) so that, with the
//! file name the caller adds, a user can find the exact field.

use crate::xml::{Element, XmlError};
use esxlcm_version::Version;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("expected root element <{expected}>, found <{found}>")]
    UnexpectedRoot { expected: &'static str, found: String },
    #[error("{path}: required field is missing or empty")]
    Missing { path: String },
    #[error("{path}: invalid value '{value}': {reason}")]
    Invalid { path: String, value: String, reason: String },
    #[error("{path}: invalid JSON: {reason}")]
    Json { path: String, reason: String },
}

pub(crate) fn expect_root(root: &Element, expected: &'static str) -> Result<(), ModelError> {
    if root.name == expected { Ok(()) } else { Err(ModelError::UnexpectedRoot { expected, found: root.name.clone() }) }
}

pub(crate) fn required(el: &Element, name: &str, path: &str) -> Result<String, ModelError> {
    match el.child_text(name) {
        Some(t) if !t.is_empty() => Ok(t),
        _ => Err(ModelError::Missing { path: format!("{path}/{name}") }),
    }
}

pub(crate) fn optional(el: &Element, name: &str) -> String {
    el.child_text(name).unwrap_or_default()
}

pub(crate) fn version(text: &str, path: &str) -> Result<Version, ModelError> {
    Version::parse(text).map_err(|e| ModelError::Invalid {
        path: path.to_owned(),
        value: text.to_owned(),
        reason: e.to_string(),
    })
}

pub(crate) fn required_version(el: &Element, name: &str, path: &str) -> Result<Version, ModelError> {
    let text = required(el, name, path)?;
    version(&text, &format!("{path}/{name}"))
}

/// Booleans: `true`/`false` as VMware writes them; `True`, `1`, `0` accepted leniently.
pub(crate) fn parse_bool(text: &str, path: &str) -> Result<bool, ModelError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ModelError::Invalid {
            path: path.to_owned(),
            value: text.to_owned(),
            reason: "expected true or false".into(),
        }),
    }
}

pub(crate) fn optional_bool(el: &Element, name: &str, path: &str, default: bool) -> Result<bool, ModelError> {
    match el.child_text(name) {
        Some(t) if !t.is_empty() => parse_bool(&t, &format!("{path}/{name}")),
        _ => Ok(default),
    }
}

pub(crate) fn parse_u64(text: &str, path: &str) -> Result<u64, ModelError> {
    text.trim().parse().map_err(|_| ModelError::Invalid {
        path: path.to_owned(),
        value: text.to_owned(),
        reason: "expected a non-negative whole number".into(),
    })
}

pub(crate) fn bool_text(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}
