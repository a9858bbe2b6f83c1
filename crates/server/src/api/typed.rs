//! Schema-driven conversion between DataValues and plain JSON.
//!
//! Plain JSON is the REST dialect's form (objects for structs and maps, optionals omitted or
//! `null`, secrets and datetimes as strings) and also what the services deserialize their
//! typed inputs from and serialize their outputs to. Every value crossing this boundary is
//! checked against the schema: required fields, union rules (a response that breaks one is
//! rejected by the official client), datetimes with an offset, and uris.

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use super::datavalue::{DataValue, MAP_ENTRY, StructValue};
use super::schema::{Registry, StructDef, Ty};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ConvError {
    pub path: String,
    pub reason: String,
}

fn err(path: &str, reason: impl Into<String>) -> ConvError {
    ConvError { path: path.to_owned(), reason: reason.into() }
}

/// A datetime as the client sends it: RFC 3339 in UTC with milliseconds and `Z`.
pub fn format_datetime(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Accept RFC 3339 with any fraction and `Z` or an offset; no offset is refused (§1.3).
pub fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

/// An approximation of the RFC 3987 IRI-reference grammar the client checks: no whitespace,
/// no control characters and none of the characters IRIs exclude.
pub fn is_valid_uri(text: &str) -> bool {
    !text.chars().any(|c| {
        c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | '{' | '}' | '|' | '\\' | '^' | '`')
    })
}

/// How strictly enum values are read. vAPI enums are open to clients (a newer server may
/// answer a value an older client does not know), so outputs pass any value through; a
/// value a caller sends must be one this server declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Enums {
    Open,
    Checked,
}

/// DataValue (JSON-RPC input, or an output) → plain JSON, checked against `ty`; enum
/// values pass unchecked (see [`input_to_plain`] for inputs).
pub fn to_plain(reg: &Registry, dv: &DataValue, ty: &Ty, path: &str) -> Result<Value, ConvError> {
    convert_to_plain(reg, dv, ty, path, Enums::Open)
}

/// An operation's input (both dialects reach the dispatcher as DataValues) → plain JSON,
/// checked against `ty`, with every enum value checked against the schema's values.
pub fn input_to_plain(reg: &Registry, dv: &DataValue, ty: &Ty, path: &str) -> Result<Value, ConvError> {
    convert_to_plain(reg, dv, ty, path, Enums::Checked)
}

/// `value` is one of enum `name`'s declared values.
fn check_enum(reg: &Registry, name: &str, value: &str, path: &str) -> Result<(), ConvError> {
    let Some(allowed) = reg.enums.get(name) else {
        return Err(err(path, format!("enum {name} is not declared in the schema")));
    };
    if allowed.iter().any(|a| a == value) {
        return Ok(());
    }
    Err(err(path, format!("'{value}' is not a known value; use one of {}", allowed.join(", "))))
}

fn convert_to_plain(reg: &Registry, dv: &DataValue, ty: &Ty, path: &str, enums: Enums) -> Result<Value, ConvError> {
    // Nested values are converted in the same mode.
    let to_plain = |reg: &Registry, dv: &DataValue, ty: &Ty, path: &str| convert_to_plain(reg, dv, ty, path, enums);
    match ty {
        Ty::Optional(inner) => match dv {
            DataValue::Optional(None) | DataValue::Void => Ok(Value::Null),
            DataValue::Optional(Some(v)) => to_plain(reg, v, inner, path),
            // Lenient on input: a bare value where an optional is declared.
            other => to_plain(reg, other, inner, path),
        },
        Ty::Struct(name) => {
            let DataValue::Struct(sv) = dv else { return Err(err(path, format!("expected structure {name}"))) };
            let def = reg.struct_def(name).ok_or_else(|| err(path, format!("unknown structure {name}")))?;
            check_unions(def, &sv.fields, path)?;
            let mut out = Map::new();
            for (field, fty) in &def.fields {
                let fpath = format!("{path}.{field}");
                match sv.fields.get(field) {
                    Some(v) => {
                        let plain = match task_result_type(reg, name, field, sv) {
                            // A task's result is declared opaque in cis.task.info, but its
                            // operation declares the type: a map must be a JSON object
                            // even when empty, as the operation's own output would be.
                            Some(rty) => to_plain(reg, v, &Ty::Optional(Box::new(rty.clone())), &fpath)
                                .unwrap_or_else(|_| untyped_plain(v)),
                            None => to_plain(reg, v, fty, &fpath)?,
                        };
                        if !plain.is_null() {
                            out.insert(field.clone(), plain);
                        }
                    }
                    None if fty.is_optional() => {}
                    None => return Err(err(&fpath, "required field is missing")),
                }
            }
            Ok(Value::Object(out))
        }
        Ty::Map(kty, vty) => {
            let DataValue::List(entries) = dv else { return Err(err(path, "expected a map (a list of map-entry)")) };
            let mut out = Map::new();
            for (i, e) in entries.iter().enumerate() {
                let epath = format!("{path}[{i}]");
                let DataValue::Struct(StructValue { fields, .. }) = e else {
                    return Err(err(&epath, "a map entry must be a map-entry structure"));
                };
                let (Some(k), Some(v)) = (fields.get("key"), fields.get("value")) else {
                    return Err(err(&epath, "a map entry needs key and value"));
                };
                let Value::String(key) = to_plain(reg, k, kty, &epath)? else {
                    return Err(err(&epath, "map keys must be strings"));
                };
                out.insert(key, to_plain(reg, v, vty, &format!("{epath}.value"))?);
            }
            Ok(Value::Object(out))
        }
        Ty::List(ity) | Ty::Set(ity) => {
            let DataValue::List(items) = dv else { return Err(err(path, "expected a list")) };
            items
                .iter()
                .enumerate()
                .map(|(i, v)| to_plain(reg, v, ity, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()
                .map(Value::Array)
        }
        Ty::Enum(name) => match dv {
            DataValue::String(s) => {
                if enums == Enums::Checked {
                    check_enum(reg, name, s, path)?;
                }
                Ok(Value::String(s.clone()))
            }
            _ => Err(err(path, format!("expected a value of enum {name} (a string)"))),
        },
        Ty::String | Ty::Id => match dv {
            DataValue::String(s) | DataValue::Secret(s) => Ok(Value::String(s.clone())),
            _ => Err(err(path, "expected a string")),
        },
        Ty::Uri => match dv {
            DataValue::String(s) if is_valid_uri(s) => Ok(Value::String(s.clone())),
            DataValue::String(s) => Err(err(path, format!("'{s}' is not a valid URI"))),
            _ => Err(err(path, "expected a URI string")),
        },
        Ty::DateTime => match dv {
            DataValue::String(s) => parse_datetime(s)
                .map(|t| Value::String(format_datetime(t)))
                .ok_or_else(|| err(path, format!("'{s}' is not an RFC 3339 datetime with Z or an offset"))),
            _ => Err(err(path, "expected a datetime string")),
        },
        Ty::Long => match dv {
            DataValue::Long(n) => Ok(Value::from(*n)),
            _ => Err(err(path, "expected an integer")),
        },
        Ty::Double => match dv {
            DataValue::Double(d) => Ok(Value::from(*d)),
            DataValue::Long(n) => Ok(Value::from(*n)),
            _ => Err(err(path, "expected a number")),
        },
        Ty::Bool => match dv {
            DataValue::Bool(b) => Ok(Value::Bool(*b)),
            _ => Err(err(path, "expected a boolean")),
        },
        Ty::Secret => match dv {
            DataValue::Secret(s) | DataValue::String(s) => Ok(Value::String(s.clone())),
            _ => Err(err(path, "expected a secret")),
        },
        Ty::Binary => match dv {
            DataValue::Binary(b) => Ok(Value::String(base64::engine::general_purpose::STANDARD.encode(b))),
            _ => Err(err(path, "expected binary")),
        },
        Ty::Void => match dv {
            DataValue::Void => Ok(Value::Null),
            _ => Err(err(path, "expected nothing (void)")),
        },
        Ty::Opaque | Ty::DynStruct | Ty::AnyError => Ok(untyped_plain(dv)),
    }
}

/// The declared result type of the task a `cis.task.info` describes, for its `result`.
fn task_result_type<'r>(reg: &'r Registry, struct_name: &str, field: &str, sv: &StructValue) -> Option<&'r Ty> {
    if struct_name != "com.vmware.cis.task.info" || field != "result" {
        return None;
    }
    let text = |f: &str| match sv.fields.get(f) {
        Some(DataValue::String(s)) => Some(s.as_str()),
        _ => None,
    };
    reg.op(text("service")?, text("operation")?)?.task_result.as_ref()
}

/// Plain form of a value whose type is not declared (opaque task results, error data):
/// structure names are dropped, map-entry lists become objects.
pub fn untyped_plain(dv: &DataValue) -> Value {
    match dv {
        DataValue::Void | DataValue::Optional(None) => Value::Null,
        DataValue::Bool(b) => Value::Bool(*b),
        DataValue::Long(n) => Value::from(*n),
        DataValue::Double(d) => Value::from(*d),
        DataValue::String(s) | DataValue::Secret(s) => Value::String(s.clone()),
        DataValue::Binary(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        DataValue::Optional(Some(v)) => untyped_plain(v),
        DataValue::List(items) => {
            let entries: Option<Map<String, Value>> = (!items.is_empty())
                .then(|| {
                    items
                        .iter()
                        .map(|i| match i {
                            DataValue::Struct(s) if s.name == MAP_ENTRY => {
                                match (s.fields.get("key"), s.fields.get("value")) {
                                    (Some(DataValue::String(k)), Some(v)) => Some((k.clone(), untyped_plain(v))),
                                    _ => None,
                                }
                            }
                            _ => None,
                        })
                        .collect()
                })
                .flatten();
            entries.map_or_else(|| Value::Array(items.iter().map(untyped_plain).collect()), Value::Object)
        }
        DataValue::Struct(s) => plain_fields(s),
        DataValue::Error(s) => {
            let mut v = plain_fields(s);
            // REST errors carry `error_type` rather than the struct name.
            if let (Value::Object(m), Some(kind)) = (&mut v, s.name.rsplit('.').next()) {
                m.entry("error_type").or_insert_with(|| Value::String(kind.to_ascii_uppercase()));
            }
            v
        }
    }
}

fn plain_fields(s: &StructValue) -> Value {
    Value::Object(s.fields.iter().map(|(k, v)| (k.clone(), untyped_plain(v))).filter(|(_, v)| !v.is_null()).collect())
}

/// Plain JSON (REST input, or a service's output) → DataValue, checked against `ty`.
pub fn from_plain(reg: &Registry, json: &Value, ty: &Ty, path: &str) -> Result<DataValue, ConvError> {
    match ty {
        Ty::Optional(inner) => match json {
            Value::Null => Ok(DataValue::none()),
            v => Ok(DataValue::some(from_plain(reg, v, inner, path)?)),
        },
        Ty::Struct(name) => {
            let Value::Object(obj) = json else { return Err(err(path, format!("expected an object ({name})"))) };
            let def = reg.struct_def(name).ok_or_else(|| err(path, format!("unknown structure {name}")))?;
            let mut sv = StructValue::new(name.clone());
            for (field, fty) in &def.fields {
                let fpath = format!("{path}.{field}");
                let v = match obj.get(field) {
                    Some(v) => from_plain(reg, v, fty, &fpath)?,
                    None if fty.is_optional() => DataValue::none(),
                    None => return Err(err(&fpath, "required field is missing")),
                };
                sv.fields.insert(field.clone(), v);
            }
            check_unions(def, &sv.fields, path)?;
            Ok(DataValue::Struct(sv))
        }
        Ty::Map(kty, vty) => {
            let entries: Vec<(DataValue, DataValue)> = match json {
                Value::Object(obj) => obj
                    .iter()
                    .map(|(k, v)| {
                        let p = format!("{path}.{k}");
                        Ok((from_plain(reg, &Value::String(k.clone()), kty, &p)?, from_plain(reg, v, vty, &p)?))
                    })
                    .collect::<Result<_, ConvError>>()?,
                // The legacy vAPI-REST form: `[{"key": k, "value": v}]`.
                Value::Array(items) => items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let p = format!("{path}[{i}]");
                        let k = item.get("key").ok_or_else(|| err(&p, "map entry without key"))?;
                        let v = item.get("value").unwrap_or(&Value::Null);
                        Ok((from_plain(reg, k, kty, &p)?, from_plain(reg, v, vty, &p)?))
                    })
                    .collect::<Result<_, ConvError>>()?,
                _ => return Err(err(path, "expected a map (an object)")),
            };
            Ok(DataValue::map(entries))
        }
        Ty::List(ity) | Ty::Set(ity) => {
            let Value::Array(items) = json else { return Err(err(path, "expected a list")) };
            items
                .iter()
                .enumerate()
                .map(|(i, v)| from_plain(reg, v, ity, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()
                .map(DataValue::List)
        }
        Ty::String | Ty::Id | Ty::Enum(_) => match json {
            Value::String(s) => Ok(DataValue::String(s.clone())),
            _ => Err(err(path, "expected a string")),
        },
        Ty::Uri => match json {
            Value::String(s) if is_valid_uri(s) => Ok(DataValue::String(s.clone())),
            Value::String(s) => Err(err(path, format!("'{s}' is not a valid URI"))),
            _ => Err(err(path, "expected a URI string")),
        },
        Ty::DateTime => match json {
            Value::String(s) => parse_datetime(s)
                .map(|t| DataValue::String(format_datetime(t)))
                .ok_or_else(|| err(path, format!("'{s}' is not an RFC 3339 datetime with Z or an offset"))),
            _ => Err(err(path, "expected a datetime string")),
        },
        Ty::Long => json.as_i64().map(DataValue::Long).ok_or_else(|| err(path, "expected an integer")),
        Ty::Double => json.as_f64().map(DataValue::Double).ok_or_else(|| err(path, "expected a number")),
        Ty::Bool => json.as_bool().map(DataValue::Bool).ok_or_else(|| err(path, "expected a boolean")),
        Ty::Secret => match json {
            Value::String(s) => Ok(DataValue::Secret(s.clone())),
            _ => Err(err(path, "expected a string (secret)")),
        },
        Ty::Binary => match json {
            Value::String(s) => base64::engine::general_purpose::STANDARD
                .decode(s)
                .map(DataValue::Binary)
                .map_err(|e| err(path, format!("not base64: {e}"))),
            _ => Err(err(path, "expected a base64 string")),
        },
        Ty::Void => match json {
            Value::Null => Ok(DataValue::Void),
            _ => Err(err(path, "expected nothing (void)")),
        },
        // Our own documents (a host's esxcli state) travel as opaque JSON.
        Ty::Opaque => Ok(untyped_from_plain(json)),
        Ty::DynStruct | Ty::AnyError => Err(err(path, "a value of undeclared type cannot be read from plain JSON")),
    }
}

/// Any JSON as a DataValue (objects as structures, `null` as an unset optional); the
/// inverse of [`untyped_plain`] except that `null` object members are dropped.
pub fn untyped_from_plain(json: &Value) -> DataValue {
    match json {
        Value::Null => DataValue::none(),
        Value::Bool(b) => DataValue::Bool(*b),
        Value::Number(n) => n.as_i64().map_or_else(|| DataValue::Double(n.as_f64().unwrap_or(0.0)), DataValue::Long),
        Value::String(s) => DataValue::String(s.clone()),
        Value::Array(items) => DataValue::List(items.iter().map(untyped_from_plain).collect()),
        Value::Object(obj) => {
            let mut sv = StructValue::new("com.esxlcm.json");
            for (k, v) in obj {
                sv.fields.insert(k.clone(), untyped_from_plain(v));
            }
            DataValue::Struct(sv)
        }
    }
}

fn is_set(v: Option<&DataValue>) -> bool {
    !matches!(v, None | Some(DataValue::Optional(None) | DataValue::Void))
}

/// Union rules (§1.3): for the active case its required fields are set, and union fields
/// of the other cases are unset.
fn check_unions(
    def: &StructDef,
    fields: &std::collections::BTreeMap<String, DataValue>,
    path: &str,
) -> Result<(), ConvError> {
    for u in &def.unions {
        let tag = match fields.get(&u.discriminant) {
            Some(DataValue::String(s)) => Some(s.as_str()),
            Some(DataValue::Optional(Some(b))) => match b.as_ref() {
                DataValue::String(s) => Some(s.as_str()),
                _ => None,
            },
            _ => None,
        };
        let active: &[(String, bool)] = match tag {
            Some(t) => match u.cases.get(t) {
                Some(c) => c,
                // An enum value this schema does not know: no rule to apply.
                None => continue,
            },
            None => &[],
        };
        for (field, required) in active {
            if *required && !is_set(fields.get(field)) {
                return Err(err(
                    path,
                    format!("{field} must be set when {} is {}", u.discriminant, tag.unwrap_or("unset")),
                ));
            }
        }
        for case in u.cases.values() {
            for (field, _) in case {
                if !active.iter().any(|(f, _)| f == field) && is_set(fields.get(field)) {
                    return Err(err(
                        path,
                        format!("{field} must be unset when {} is {}", u.discriminant, tag.unwrap_or("unset")),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn reg() -> Registry {
        Registry::load().unwrap()
    }

    fn ty(s: &str) -> Ty {
        Ty::parse(s).unwrap()
    }

    #[test]
    fn online_summary_map_round_trip() {
        let r = reg();
        let t = ty("map<id,S:com.vmware.esx.settings.depots.online.summary>");
        let plain = json!({"depot-1": {"description": "VMware depot", "location": "https://x/index.xml",
            "enabled": true, "system_defined": true, "owner": "VMW"}});
        let dv = from_plain(&r, &plain, &t, "$").unwrap();
        // The captured wire form of §1.7.
        assert_eq!(
            dv.to_json(),
            json!([{"STRUCTURE":{"map-entry":{"key":"depot-1","value":{"STRUCTURE":{
                "com.vmware.esx.settings.depots.online.summary":{"description":"VMware depot",
                "location":"https://x/index.xml","enabled":true,"system_defined":true,
                "owner":{"OPTIONAL":"VMW"},"ownerdata":{"OPTIONAL":null}}}}}}}])
        );
        assert_eq!(to_plain(&r, &dv, &t, "$").unwrap(), plain);
    }

    #[test]
    fn optional_wrappers_and_omission_both_decode() {
        let r = reg();
        let t = ty("S:com.vmware.esx.settings.depots.online.create_spec");
        let wrapped = DataValue::from_json(&json!({"STRUCTURE":{"com.vmware.esx.settings.depots.online.create_spec":{
            "description":{"OPTIONAL":"d"},"location":"https://example.com/index.xml",
            "enabled":{"OPTIONAL":true},"ownerdata":{"OPTIONAL":null}}}}))
        .unwrap();
        let omitted =
            DataValue::from_json(&json!({"STRUCTURE":{"x":{"location":"https://example.com/index.xml"}}})).unwrap();
        assert_eq!(
            to_plain(&r, &wrapped, &t, "$").unwrap(),
            json!({"description": "d", "location": "https://example.com/index.xml", "enabled": true})
        );
        assert_eq!(to_plain(&r, &omitted, &t, "$").unwrap(), json!({"location": "https://example.com/index.xml"}));
        let missing = DataValue::from_json(&json!({"STRUCTURE":{"x":{}}})).unwrap();
        assert!(to_plain(&r, &missing, &t, "$").unwrap_err().reason.contains("required"));
    }

    #[test]
    fn datetimes_need_an_offset_and_come_out_with_z() {
        let r = reg();
        let t = Ty::DateTime;
        let v = from_plain(&r, &json!("2024-05-01T14:30:45.123456+02:00"), &t, "$").unwrap();
        assert_eq!(v, DataValue::string("2024-05-01T12:30:45.123Z"));
        assert!(from_plain(&r, &json!("2024-05-01T12:30:45"), &t, "$").is_err());
    }

    #[test]
    fn task_info_union_rules() {
        let r = reg();
        let t = ty("S:com.vmware.cis.task.info");
        let msg = json!({"id": "a", "default_message": "b", "args": []});
        let pending = json!({"description": msg, "service": "s", "operation": "o", "status": "PENDING",
            "cancelable": false, "start_time": "2024-05-01T12:30:45.123Z"});
        assert!(from_plain(&r, &pending, &t, "$").unwrap_err().reason.contains("start_time must be unset"));
        let running = json!({"description": msg, "service": "s", "operation": "o", "status": "RUNNING",
            "cancelable": false});
        assert!(from_plain(&r, &running, &t, "$").unwrap_err().reason.contains("progress must be set"));
    }

    #[test]
    fn input_enum_values_are_checked_outputs_stay_open() {
        let r = reg();
        let t = ty("S:com.vmware.esx.settings.clusters.policies.apply.configured_policy_spec");
        let fa = "com.vmware.esx.settings.clusters.policies.apply.failure_action";
        let bad = DataValue::from_json(&json!({"STRUCTURE": {"x": {
            "failure_action": {"OPTIONAL": {"STRUCTURE": {fa: {"action": "IGNORE"}}}}}}}))
        .unwrap();
        let e = input_to_plain(&r, &bad, &t, "spec").unwrap_err();
        assert_eq!(e.path, "spec.failure_action.action");
        assert!(e.reason.contains("'IGNORE'") && e.reason.contains("use one of FAIL, RETRY"), "{e}");
        // Outputs (and any other conversion) pass values a newer schema may have.
        assert!(to_plain(&r, &bad, &t, "spec").is_ok());
        let good = DataValue::from_json(&json!({"STRUCTURE": {"x": {
            "failure_action": {"OPTIONAL": {"STRUCTURE": {fa: {"action": "FAIL"}}}}}}}))
        .unwrap();
        assert_eq!(input_to_plain(&r, &good, &t, "spec").unwrap(), json!({"failure_action": {"action": "FAIL"}}));
        // Lists and map keys of enums are checked too.
        let list = ty("list<E:com.vmware.esx.settings.depots.sync_schedule.day_of_week>");
        let days = DataValue::List(vec![DataValue::string("MONDAY"), DataValue::string("FUNDAY")]);
        assert_eq!(input_to_plain(&r, &days, &list, "days").unwrap_err().path, "days[1]");
        let map = ty("map<E:com.vmware.esx.settings.clusters.software.export_type,string>");
        let m = DataValue::map(vec![(DataValue::string("TARBALL"), DataValue::string("x"))]);
        assert!(input_to_plain(&r, &m, &map, "m").unwrap_err().reason.contains("ISO_IMAGE"));
        // An enum is a string, never another kind of value.
        let e = input_to_plain(&r, &DataValue::Long(1), &Ty::Enum("com.vmware.cis.task.status".into()), "s");
        assert!(e.is_err());
    }

    #[test]
    fn invalid_uri_is_refused() {
        let r = reg();
        assert!(from_plain(&r, &json!("has space"), &Ty::Uri, "$").is_err());
    }

    proptest! {
        /// A components filter of any content survives plain → DataValue → JSON-RPC → plain.
        #[test]
        fn filter_spec_round_trip(
            vendors in proptest::option::of(proptest::collection::vec("[A-Za-z ]{1,8}", 0..3)),
            names in proptest::option::of(proptest::collection::vec("[A-Za-z_-]{1,8}", 0..3)),
            min_version in proptest::option::of("[0-9.-]{1,8}"),
        ) {
            let r = reg();
            let t = ty("S:com.vmware.esx.settings.depot_content.components.filter_spec");
            let mut plain = Map::new();
            if let Some(v) = vendors { plain.insert("vendors".into(), json!(v)); }
            if let Some(v) = names { plain.insert("names".into(), json!(v)); }
            if let Some(v) = min_version { plain.insert("min_version".into(), json!(v)); }
            let plain = Value::Object(plain);
            let dv = from_plain(&r, &plain, &t, "$").unwrap();
            let wire = serde_json::to_string(&dv.to_json()).unwrap();
            let back = DataValue::from_json(&serde_json::from_str(&wire).unwrap()).unwrap();
            prop_assert_eq!(to_plain(&r, &back, &t, "$").unwrap(), plain);
        }

        /// Maps with optional values (`map<id,string?>`) keep their nulls through both forms.
        #[test]
        fn optional_valued_map_round_trip(
            m in proptest::collection::btree_map("[a-z]{1,6}", proptest::option::of("[a-z0-9.]{1,6}"), 0..5)
        ) {
            let r = reg();
            let t = ty("map<id,string?>");
            let plain = json!(m);
            let dv = from_plain(&r, &plain, &t, "$").unwrap();
            let back = DataValue::from_json(&dv.to_json()).unwrap();
            prop_assert_eq!(to_plain(&r, &back, &t, "$").unwrap(), plain);
        }

        /// What fuzz/fuzz_targets/api_request.rs fuzzes, for CI (which does not build that
        /// target): any JSON body, as a JSON-RPC `input` and as a REST body, against the
        /// inputs of any operation, decodes or is refused, and never panics.
        #[test]
        fn any_json_against_any_operation_never_panics(pick in any::<usize>(), body in any_json()) {
            let r = reg();
            let op = &r.ops[pick % r.ops.len()];
            if let Ok(dv) = DataValue::from_json(&body) {
                let _ = dv.to_json();
                for (name, ty) in &op.inputs {
                    if let DataValue::Struct(st) = &dv
                        && let Some(field) = st.fields.get(name.as_str())
                    {
                        let _ = input_to_plain(&r, field, ty, "$");
                    }
                }
            }
            for (name, ty) in &op.inputs {
                let value = body.get(name.as_str()).unwrap_or(&body);
                if let Ok(dv) = from_plain(&r, value, ty, "$") {
                    let _ = input_to_plain(&r, &dv, ty, "$");
                }
            }
        }
    }

    /// JSON values of any shape, with the vAPI wire form's keys among the object keys so
    /// that bodies reach the structure, optional and map decoders.
    fn any_json() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            "[a-z_]{1,8}",
            Just("STRUCTURE".to_owned()),
            Just("OPTIONAL".to_owned()),
            Just("map-entry".to_owned()),
            Just("key".to_owned()),
            Just("value".to_owned()),
            Just("spec".to_owned()),
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[ -~]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(key.clone(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
