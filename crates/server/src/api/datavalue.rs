//! vAPI DataValues and their JSON-RPC encoding (vlcm-api §1.3).
//!
//! A [`DataValue`] is self-describing: structures carry their canonical name, optionals
//! their wrapper, secrets and binaries their tag. That is exactly what the JSON-RPC wire
//! carries, so this codec needs no schema; the schema-driven conversions to and from plain
//! JSON (REST and the typed service inputs) live in [`super::typed`].

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Number, Value};

/// The canonical name of a map entry struct: maps travel as lists of these.
pub const MAP_ENTRY: &str = "map-entry";

#[derive(Debug, Clone, PartialEq)]
pub enum DataValue {
    /// `null`: a void result.
    Void,
    Bool(bool),
    Long(i64),
    Double(f64),
    /// Strings, ids, uris, enum values and datetimes.
    String(String),
    Secret(String),
    Binary(Vec<u8>),
    Optional(Option<Box<DataValue>>),
    List(Vec<DataValue>),
    Struct(StructValue),
    Error(StructValue),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct StructValue {
    pub name: String,
    pub fields: BTreeMap<String, DataValue>,
}

impl StructValue {
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), fields: BTreeMap::new() }
    }

    /// Builder: set a field.
    pub fn with(mut self, field: &str, value: DataValue) -> Self {
        self.fields.insert(field.to_owned(), value);
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid DataValue at {path}: {reason}")]
pub struct DecodeError {
    pub path: String,
    pub reason: String,
}

impl DataValue {
    pub fn some(value: DataValue) -> Self {
        Self::Optional(Some(Box::new(value)))
    }

    pub fn none() -> Self {
        Self::Optional(None)
    }

    pub fn string(s: impl Into<String>) -> Self {
        Self::String(s.into())
    }

    /// A map as vAPI sends it: a list of `map-entry` structures.
    pub fn map(entries: impl IntoIterator<Item = (DataValue, DataValue)>) -> Self {
        Self::List(
            entries
                .into_iter()
                .map(|(k, v)| Self::Struct(StructValue::new(MAP_ENTRY).with("key", k).with("value", v)))
                .collect(),
        )
    }

    /// The JSON-RPC wire form.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Void => Value::Null,
            Self::Bool(b) => Value::Bool(*b),
            Self::Long(n) => Value::Number((*n).into()),
            // Non-finite doubles have no JSON form; vAPI has none either.
            Self::Double(d) => Number::from_f64(*d).map_or(Value::Null, Value::Number),
            Self::String(s) => Value::String(s.clone()),
            Self::Secret(s) => tagged("SECRET", Value::String(s.clone())),
            Self::Binary(b) => tagged("BINARY", Value::String(base64::engine::general_purpose::STANDARD.encode(b))),
            Self::Optional(v) => tagged("OPTIONAL", v.as_ref().map_or(Value::Null, |v| v.to_json())),
            Self::List(items) => Value::Array(items.iter().map(Self::to_json).collect()),
            Self::Struct(s) => tagged("STRUCTURE", struct_json(s)),
            Self::Error(s) => tagged("ERROR", struct_json(s)),
        }
    }

    /// Parse the JSON-RPC wire form.
    pub fn from_json(value: &Value) -> Result<Self, DecodeError> {
        decode(value, "$")
    }
}

fn tagged(tag: &str, inner: Value) -> Value {
    let mut m = Map::new();
    m.insert(tag.to_owned(), inner);
    Value::Object(m)
}

fn struct_json(s: &StructValue) -> Value {
    let fields: Map<String, Value> = s.fields.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
    tagged(&s.name, Value::Object(fields))
}

fn err(path: &str, reason: impl Into<String>) -> DecodeError {
    DecodeError { path: path.to_owned(), reason: reason.into() }
}

fn decode(value: &Value, path: &str) -> Result<DataValue, DecodeError> {
    Ok(match value {
        Value::Null => DataValue::Void,
        Value::Bool(b) => DataValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => DataValue::Long(i),
            None => DataValue::Double(n.as_f64().ok_or_else(|| err(path, "number out of range"))?),
        },
        Value::String(s) => DataValue::String(s.clone()),
        Value::Array(items) => DataValue::List(
            items.iter().enumerate().map(|(i, v)| decode(v, &format!("{path}[{i}]"))).collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => {
            let mut it = m.iter();
            let (Some((tag, inner)), None) = (it.next(), it.next()) else {
                return Err(err(path, "an object must have exactly one tag (STRUCTURE, OPTIONAL, …)"));
            };
            match tag.as_str() {
                "OPTIONAL" => match inner {
                    Value::Null => DataValue::Optional(None),
                    v => DataValue::some(decode(v, &format!("{path}.OPTIONAL"))?),
                },
                "SECRET" => match inner {
                    Value::String(s) => DataValue::Secret(s.clone()),
                    _ => return Err(err(path, "SECRET must hold a string")),
                },
                "BINARY" => match inner {
                    Value::String(s) => DataValue::Binary(
                        base64::engine::general_purpose::STANDARD
                            .decode(s)
                            .map_err(|e| err(path, format!("BINARY is not base64: {e}")))?,
                    ),
                    _ => return Err(err(path, "BINARY must hold a string")),
                },
                "STRUCTURE" => DataValue::Struct(decode_struct(inner, path)?),
                "ERROR" => DataValue::Error(decode_struct(inner, path)?),
                other => return Err(err(path, format!("unknown tag '{other}'"))),
            }
        }
    })
}

fn decode_struct(value: &Value, path: &str) -> Result<StructValue, DecodeError> {
    let Value::Object(m) = value else { return Err(err(path, "a structure must be an object")) };
    let mut it = m.iter();
    let (Some((name, fields)), None) = (it.next(), it.next()) else {
        return Err(err(path, "a structure must have exactly one name"));
    };
    let Value::Object(fields) = fields else { return Err(err(path, "structure fields must be an object")) };
    let fields = fields
        .iter()
        .map(|(k, v)| Ok((k.clone(), decode(v, &format!("{path}.{k}"))?)))
        .collect::<Result<_, DecodeError>>()?;
    Ok(StructValue { name: name.clone(), fields })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    #[test]
    fn captured_session_response_decodes() {
        let v = DataValue::from_json(&json!({"SECRET": "sess-123"})).unwrap();
        assert_eq!(v, DataValue::Secret("sess-123".into()));
    }

    #[test]
    fn map_is_entry_list() {
        let m = DataValue::map([(DataValue::string("depot-1"), DataValue::Long(1))]);
        assert_eq!(m.to_json(), json!([{"STRUCTURE": {"map-entry": {"key": "depot-1", "value": 1}}}]));
    }

    #[test]
    fn rejects_untagged_objects() {
        assert!(DataValue::from_json(&json!({"a": 1, "b": 2})).is_err());
        assert!(DataValue::from_json(&json!({"WHAT": 1})).is_err());
        assert!(DataValue::from_json(&json!({"SECRET": 1})).is_err());
    }

    fn arb_dv() -> impl Strategy<Value = DataValue> {
        let leaf = prop_oneof![
            Just(DataValue::Void),
            any::<bool>().prop_map(DataValue::Bool),
            any::<i64>().prop_map(DataValue::Long),
            // Doubles that are not integral, so they do not come back as longs.
            (-1000i32..1000).prop_map(|i| DataValue::Double(f64::from(i) + 0.25)),
            ".*".prop_map(DataValue::String),
            ".*".prop_map(DataValue::Secret),
            proptest::collection::vec(any::<u8>(), 0..16).prop_map(DataValue::Binary),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                // `{"OPTIONAL":null}` is unset, so a set optional never holds a void.
                proptest::option::of(inner.clone())
                    .prop_map(|o| DataValue::Optional(o.filter(|v| *v != DataValue::Void).map(Box::new))),
                proptest::collection::vec(inner.clone(), 0..4).prop_map(DataValue::List),
                ("[a-z.]{1,12}", proptest::collection::btree_map("[a-z_]{1,8}", inner.clone(), 0..4))
                    .prop_map(|(name, fields)| DataValue::Struct(StructValue { name, fields })),
                ("[a-z.]{1,12}", proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..4))
                    .prop_map(|(name, fields)| DataValue::Error(StructValue { name, fields })),
            ]
        })
    }

    proptest! {
        #[test]
        fn json_round_trip(v in arb_dv()) {
            let text = serde_json::to_string(&v.to_json()).unwrap();
            let back = DataValue::from_json(&serde_json::from_str(&text).unwrap()).unwrap();
            prop_assert_eq!(back, v);
        }
    }
}
