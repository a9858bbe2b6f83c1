//! The wire contract of the served operations, declared once: `schema.json` is the subset of
//! the reference catalogue (`vlcm-types.json`, generated from the official bindings) for
//! the services this server offers, with every struct and enum they reach. Both dialects
//! route and convert through it, so field names, optionality, unions and REST URLs cannot
//! drift between JSON-RPC and REST.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

const SCHEMA_JSON: &str = include_str!("schema.json");

/// A vAPI type (vlcm-types.json `type_notation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ty {
    String,
    Long,
    Double,
    Bool,
    DateTime,
    Uri,
    Id,
    Secret,
    Binary,
    Opaque,
    AnyError,
    DynStruct,
    Void,
    Optional(Box<Ty>),
    List(Box<Ty>),
    Set(Box<Ty>),
    Map(Box<Ty>, Box<Ty>),
    Struct(String),
    Enum(String),
}

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("embedded API schema is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("embedded API schema: bad type '{0}'")]
    Type(String),
    #[error("embedded API schema: {0}")]
    Missing(String),
}

impl Ty {
    pub fn parse(text: &str) -> Result<Self, SchemaError> {
        let bad = || SchemaError::Type(text.to_owned());
        if let Some(inner) = text.strip_suffix('?') {
            return Ok(Self::Optional(Box::new(Self::parse(inner)?)));
        }
        let generic = |prefix: &str| text.strip_prefix(prefix).and_then(|r| r.strip_suffix('>'));
        if let Some(inner) = generic("list<") {
            return Ok(Self::List(Box::new(Self::parse(inner)?)));
        }
        if let Some(inner) = generic("set<") {
            return Ok(Self::Set(Box::new(Self::parse(inner)?)));
        }
        if let Some(inner) = generic("map<") {
            let split = top_level_comma(inner).ok_or_else(bad)?;
            return Ok(Self::Map(Box::new(Self::parse(&inner[..split])?), Box::new(Self::parse(&inner[split + 1..])?)));
        }
        if let Some(name) = text.strip_prefix("S:") {
            return Ok(Self::Struct(name.to_owned()));
        }
        if let Some(name) = text.strip_prefix("E:") {
            return Ok(Self::Enum(name.to_owned()));
        }
        Ok(match text {
            "string" => Self::String,
            "long" => Self::Long,
            "double" => Self::Double,
            "boolean" => Self::Bool,
            "datetime" => Self::DateTime,
            "uri" => Self::Uri,
            "id" => Self::Id,
            "secret" => Self::Secret,
            "binary" => Self::Binary,
            "opaque" => Self::Opaque,
            "any_error" => Self::AnyError,
            "dynamic_struct" => Self::DynStruct,
            "void" => Self::Void,
            _ => return Err(bad()),
        })
    }

    pub fn is_optional(&self) -> bool {
        matches!(self, Self::Optional(_))
    }
}

fn top_level_comma(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

/// A union rule: the discriminant field and, per case, the (field, required) pairs allowed.
#[derive(Debug, Clone)]
pub struct Union {
    pub discriminant: String,
    pub cases: BTreeMap<String, Vec<(String, bool)>>,
}

#[derive(Debug, Clone)]
pub struct StructDef {
    pub name: String,
    pub fields: Vec<(String, Ty)>,
    pub unions: Vec<Union>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskType {
    No,
    Both,
    TaskOnly,
}

/// One operation as both dialects see it.
#[derive(Debug, Clone)]
pub struct OpDef {
    pub service: String,
    pub op: String,
    pub http: String,
    /// The URL path template under `/api`, without its fixed query.
    pub url_path: String,
    /// Fixed query parts of the template (`action=sync`).
    pub fixed_query: Vec<(String, String)>,
    /// URL variable → input name.
    pub path: BTreeMap<String, String>,
    /// Query name → input name.
    pub query: BTreeMap<String, String>,
    /// The input whose value is the REST body.
    pub body: Option<String>,
    pub inputs: Vec<(String, Ty)>,
    /// `None` for task-only operations (they have no sync output).
    pub output: Option<Ty>,
    pub task_result: Option<Ty>,
    pub task_type: TaskType,
    pub errors: Vec<String>,
}

impl OpDef {
    pub fn input(&self, name: &str) -> Option<&Ty> {
        self.inputs.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

#[derive(Debug)]
pub struct Registry {
    pub structs: HashMap<String, StructDef>,
    pub enums: HashMap<String, Vec<String>>,
    pub ops: Vec<OpDef>,
}

#[derive(Deserialize)]
struct RawSchema {
    operations: Vec<RawOp>,
    structs: BTreeMap<String, RawStruct>,
    enums: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
struct RawOp {
    service: String,
    op: String,
    http: String,
    url: String,
    path: BTreeMap<String, String>,
    query: BTreeMap<String, String>,
    body: Option<String>,
    inputs: Vec<(String, String)>,
    output: Option<String>,
    task_result: Option<String>,
    task_type: String,
    errors: Vec<String>,
}

/// Per case: (field, required).
type RawCases = BTreeMap<String, Vec<(String, bool)>>;

#[derive(Deserialize)]
struct RawStruct {
    fields: Vec<(String, String)>,
    unions: Vec<(String, RawCases)>,
}

impl Registry {
    /// Parse the embedded schema.
    pub fn load() -> Result<Self, SchemaError> {
        let raw: RawSchema = serde_json::from_str(SCHEMA_JSON)?;
        let mut structs = HashMap::new();
        for (name, s) in raw.structs {
            let fields =
                s.fields.iter().map(|(f, t)| Ok((f.clone(), Ty::parse(t)?))).collect::<Result<_, SchemaError>>()?;
            let unions = s.unions.into_iter().map(|(discriminant, cases)| Union { discriminant, cases }).collect();
            structs.insert(name.clone(), StructDef { name, fields, unions });
        }
        let mut ops = Vec::new();
        for o in raw.operations {
            let (url_path, query_text) = o.url.split_once('?').unwrap_or((o.url.as_str(), ""));
            let fixed_query = query_text
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (k.to_owned(), v.to_owned())
                })
                .collect();
            let opt_ty = |t: &Option<String>| t.as_deref().map(Ty::parse).transpose();
            ops.push(OpDef {
                url_path: url_path.to_owned(),
                fixed_query,
                inputs: o
                    .inputs
                    .iter()
                    .map(|(n, t)| Ok((n.clone(), Ty::parse(t)?)))
                    .collect::<Result<_, SchemaError>>()?,
                output: opt_ty(&o.output)?,
                task_result: opt_ty(&o.task_result)?,
                task_type: match o.task_type.as_str() {
                    "no" => TaskType::No,
                    "both" => TaskType::Both,
                    "task_only" => TaskType::TaskOnly,
                    other => return Err(SchemaError::Type(other.to_owned())),
                },
                service: o.service,
                op: o.op,
                http: o.http,
                path: o.path,
                query: o.query,
                body: o.body,
                errors: o.errors,
            });
        }
        let registry = Self { structs, enums: raw.enums.into_iter().collect(), ops };
        registry.check()?;
        Ok(registry)
    }

    /// Every struct and enum a type names is declared (inputs' enum values are checked
    /// against the declared values).
    fn check(&self) -> Result<(), SchemaError> {
        fn walk(r: &Registry, t: &Ty) -> Result<(), SchemaError> {
            match t {
                Ty::Optional(i) | Ty::List(i) | Ty::Set(i) => walk(r, i),
                Ty::Map(k, v) => walk(r, k).and_then(|()| walk(r, v)),
                Ty::Struct(n) if !r.structs.contains_key(n) => Err(SchemaError::Missing(format!("struct {n}"))),
                Ty::Enum(n) if !r.enums.contains_key(n) => Err(SchemaError::Missing(format!("enum {n}"))),
                _ => Ok(()),
            }
        }
        for s in self.structs.values() {
            for (_, t) in &s.fields {
                walk(self, t)?;
            }
        }
        for o in &self.ops {
            for (_, t) in &o.inputs {
                walk(self, t)?;
            }
        }
        Ok(())
    }

    pub fn op(&self, service: &str, op: &str) -> Option<&OpDef> {
        self.ops.iter().find(|o| o.service == service && o.op == op)
    }

    pub fn struct_def(&self, name: &str) -> Option<&StructDef> {
        self.structs.get(name)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn embedded_schema_loads() {
        let r = Registry::load().unwrap();
        let op = r.op("com.vmware.esx.settings.depots.offline", "create").unwrap();
        assert_eq!(op.task_type, TaskType::TaskOnly);
        assert_eq!(op.body.as_deref(), Some("spec"));
        assert!(op.output.is_none());
        let sync = r.op("com.vmware.esx.settings.depots", "sync").unwrap();
        assert_eq!(sync.url_path, "/esx/settings/depots");
        assert_eq!(sync.fixed_query, vec![("action".to_owned(), "sync".to_owned())]);
        let info = r.struct_def("com.vmware.cis.task.info").unwrap();
        assert_eq!(info.unions[0].discriminant, "status");
    }

    #[test]
    fn nested_types_parse() {
        assert_eq!(
            Ty::parse("map<id,list<S:a.b>>?").unwrap(),
            Ty::Optional(Box::new(Ty::Map(Box::new(Ty::Id), Box::new(Ty::List(Box::new(Ty::Struct("a.b".into())))))))
        );
        assert!(Ty::parse("strang").is_err());
    }
}
