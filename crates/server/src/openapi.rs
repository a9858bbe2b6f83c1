//! The REST dialect as an OpenAPI 3.0 document, generated from the same declarations the
//! dialect routes by (`api/schema.json` through [`Registry`], the implemented operations
//! of `api::services`): served at `GET /api/openapi.json` and checked in CI by
//! `openapi-spec-validator`.
//!
//! Mapping (what `api/rest.rs` does with a request):
//!
//! * one path per URL template; operations that share a template and method and differ by
//!   their fixed query (`?action=sync`) get a path key with that query, as VMware's own
//!   published specifications do (`/esx/settings/depots?action=sync`);
//! * inputs: URL variables are path parameters; the body input is the JSON request body;
//!   declared query inputs are query parameters; a filter structure without a mapping
//!   gives each of its fields as a query parameter (lists repeat the parameter);
//! * `vmw-task=true` starts an operation as a task (202 and the task id; `GET
//!   /cis/tasks/{task}` follows it); task-only operations require it;
//! * answers: 200 with the output (201 for a `POST` create), 204 for none, errors as
//!   `{error_type, messages}` with their HTTP status;
//! * types: vAPI maps are JSON objects, sets unique arrays, optional fields are not
//!   `required`; union fields (valid for some values of a discriminant) are optional.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::api::schema::{OpDef, Registry, SchemaError, TaskType, Ty};

/// The session header every operation but the login takes.
const SESSION_HEADER: &str = "vmware-api-session-id";

/// The document for every operation of `registry` this server implements.
pub fn document(registry: &Registry) -> Value {
    let mut paths: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    let mut used: BTreeMap<String, ()> = BTreeMap::new();
    for def in registry.ops.iter().filter(|o| crate::api::dispatch::find_impl(&o.service, &o.op).is_some()) {
        let mut key = def.url_path.clone();
        if !def.fixed_query.is_empty() {
            let q: Vec<String> = def.fixed_query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            key = format!("{key}?{}", q.join("&"));
        }
        collect_refs(def, &mut used);
        paths.entry(key).or_default().insert(def.http.to_ascii_lowercase(), operation(registry, def));
    }
    let mut schemas = Map::new();
    // Every structure and enumeration the operations reach, and those they reach.
    let mut todo: Vec<String> = used.keys().cloned().collect();
    while let Some(name) = todo.pop() {
        if schemas.contains_key(&name) {
            continue;
        }
        if let Some(values) = registry.enums.get(&name) {
            schemas.insert(name, json!({ "type": "string", "enum": values }));
        } else if let Some(s) = registry.struct_def(&name) {
            let mut props = Map::new();
            let mut required = Vec::new();
            let in_union: Vec<&str> =
                s.unions.iter().flat_map(|u| u.cases.values().flatten().map(|(f, _)| f.as_str())).collect();
            for (field, ty) in &s.fields {
                props.insert(field.clone(), schema_of(ty));
                if !ty.is_optional() && !in_union.contains(&field.as_str()) {
                    required.push(Value::String(field.clone()));
                }
                let mut reached = BTreeMap::new();
                refs_of(ty, &mut reached);
                todo.extend(reached.into_keys());
            }
            let mut schema = json!({ "type": "object", "properties": props });
            if !required.is_empty() {
                schema["required"] = Value::Array(required);
            }
            if !s.unions.is_empty() {
                let rules: Vec<String> = s
                    .unions
                    .iter()
                    .map(|u| {
                        let cases: Vec<String> = u
                            .cases
                            .iter()
                            .filter(|(_, fields)| !fields.is_empty())
                            .map(|(case, fields)| {
                                let f: Vec<&str> = fields.iter().map(|(f, _)| f.as_str()).collect();
                                format!("{case}: {}", f.join(", "))
                            })
                            .collect();
                        format!("by `{}` — {}", u.discriminant, cases.join("; "))
                    })
                    .collect();
                schema["description"] = Value::String(format!("Fields that depend on a value: {}", rules.join(" | ")));
            }
            schemas.insert(name, schema);
        }
    }
    schemas.insert(
        "Error".to_owned(),
        json!({
            "type": "object",
            "description": "An error: its type (the HTTP status says the same) and messages",
            "required": ["error_type", "messages"],
            "properties": {
                "error_type": { "type": "string", "example": "NOT_FOUND" },
                "messages": { "type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "id": { "type": "string" },
                        "default_message": { "type": "string" },
                        "args": { "type": "array", "items": { "type": "string" } }
                    }
                } }
            }
        }),
    );
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "esxlcm REST API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The REST dialect of esxlcm's vLCM-compatible API: the vSphere Automation \
                esx/settings subset esxlcm serves, and esxlcm's own operations (com.esxlcm.*). \
                Log in with POST /session (HTTP Basic); send the answered id as the \
                vmware-api-session-id header. The same operations are served as vAPI JSON-RPC \
                at POST /api. Generated from the operation schema (docs/API.md)."
        },
        "servers": [{ "url": "/api" }],
        "security": [{ "session": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": { "type": "apiKey", "in": "header", "name": SESSION_HEADER },
                "basic": { "type": "http", "scheme": "basic" }
            },
            "schemas": schemas,
            "responses": {
                "Error": {
                    "description": "The operation failed; error_type names why",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
                }
            }
        }
    })
}

/// `GET /api/openapi.json`: the document, made once (no session needed: it is the
/// contract, not data).
pub async fn serve() -> axum::response::Response {
    use axum::response::IntoResponse as _;
    static DOC: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
    let doc = DOC.get_or_init(|| embedded().map(|d| d.to_string()).map_err(|e| e.to_string()));
    match doc {
        Ok(text) => ([(axum::http::header::CONTENT_TYPE, "application/json")], text.clone()).into_response(),
        Err(e) => {
            tracing::error!("the OpenAPI document: {e}");
            axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// [`document`] for the embedded schema.
pub fn embedded() -> Result<Value, SchemaError> {
    Ok(document(&Registry::load()?))
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// A vAPI type as a JSON schema of its plain-JSON form.
fn schema_of(ty: &Ty) -> Value {
    match ty {
        Ty::String | Ty::Id => json!({ "type": "string" }),
        Ty::Secret => json!({ "type": "string", "format": "password" }),
        Ty::Uri => json!({ "type": "string", "format": "uri" }),
        Ty::DateTime => json!({ "type": "string", "format": "date-time" }),
        Ty::Binary => json!({ "type": "string", "format": "byte" }),
        Ty::Long => json!({ "type": "integer", "format": "int64" }),
        Ty::Double => json!({ "type": "number", "format": "double" }),
        Ty::Bool => json!({ "type": "boolean" }),
        Ty::Opaque | Ty::DynStruct | Ty::AnyError => json!({ "type": "object", "additionalProperties": true }),
        Ty::Void => json!({}),
        Ty::Optional(inner) => schema_of(inner),
        Ty::List(inner) => json!({ "type": "array", "items": schema_of(inner) }),
        Ty::Set(inner) => json!({ "type": "array", "uniqueItems": true, "items": schema_of(inner) }),
        Ty::Map(_, value) => json!({ "type": "object", "additionalProperties": schema_of(value) }),
        Ty::Struct(name) | Ty::Enum(name) => schema_ref(name),
    }
}

/// The structures and enumerations a type names.
fn refs_of(ty: &Ty, out: &mut BTreeMap<String, ()>) {
    match ty {
        Ty::Optional(i) | Ty::List(i) | Ty::Set(i) => refs_of(i, out),
        Ty::Map(k, v) => {
            refs_of(k, out);
            refs_of(v, out);
        }
        Ty::Struct(n) | Ty::Enum(n) => {
            out.insert(n.clone(), ());
        }
        _ => {}
    }
}

fn collect_refs(def: &OpDef, out: &mut BTreeMap<String, ()>) {
    for (_, ty) in &def.inputs {
        refs_of(ty, out);
    }
    for ty in def.output.iter().chain(&def.task_result) {
        refs_of(ty, out);
    }
}

fn strip_optional(ty: &Ty) -> &Ty {
    match ty {
        Ty::Optional(inner) => inner,
        t => t,
    }
}

/// A query parameter's schema: what `rest.rs` coerces its text to.
fn query_schema(ty: &Ty) -> Value {
    match strip_optional(ty) {
        t @ (Ty::Long | Ty::Double | Ty::Bool) => schema_of(t),
        Ty::List(inner) | Ty::Set(inner) => json!({ "type": "array", "items": query_schema(inner) }),
        Ty::Enum(name) => schema_ref(name),
        _ => json!({ "type": "string" }),
    }
}

fn query_param(name: &str, ty: &Ty, description: Option<String>) -> Value {
    let mut p = json!({ "name": name, "in": "query", "required": false, "schema": query_schema(ty) });
    if matches!(strip_optional(ty), Ty::List(_) | Ty::Set(_)) {
        p["style"] = json!("form");
        p["explode"] = json!(true);
    }
    if let Some(d) = description {
        p["description"] = Value::String(d);
    }
    p
}

fn operation(registry: &Registry, def: &OpDef) -> Value {
    let mut parameters = Vec::new();
    let mut body = None;
    let get = def.http == "GET";
    for (name, ty) in &def.inputs {
        if let Some(var) = def.path.get(name) {
            parameters.push(json!({ "name": var, "in": "path", "required": true, "schema": { "type": "string" } }));
        } else if def.body.as_deref() == Some(name.as_str()) && !get {
            body = Some((ty, name));
        } else if let Some((qname, _)) = def.query.iter().find(|(_, p)| *p == name) {
            let mut p = query_param(qname, ty, None);
            p["required"] = Value::Bool(!ty.is_optional());
            parameters.push(p);
        } else if let Ty::Struct(sname) = strip_optional(ty)
            && let Some(s) = registry.struct_def(sname)
        {
            // A filter (or a GET's body structure): its fields as query parameters.
            for (field, fty) in &s.fields {
                parameters.push(query_param(field, fty, Some(format!("{name}.{field}"))));
            }
        }
    }
    let as_task = match def.task_type {
        TaskType::No => None,
        TaskType::Both => Some(false),
        TaskType::TaskOnly => Some(true),
    };
    if let Some(required) = as_task {
        parameters.push(json!({
            "name": "vmw-task",
            "in": "query",
            "required": required,
            "description": "true: run as a task; the answer (202) is the task id, followed with GET /cis/tasks/{task}",
            "schema": { "type": "string", "enum": ["true"] }
        }));
    }
    let mut responses = Map::new();
    let login = def.service == "com.vmware.cis.session" && def.op == "create";
    if as_task != Some(true) {
        match &def.output {
            Some(Ty::Void) | None => {
                responses.insert("204".into(), json!({ "description": "Done; no content" }));
            }
            Some(ty) => {
                let created = def.http == "POST" && def.fixed_query.is_empty() && def.op == "create";
                responses.insert(
                    if created { "201" } else { "200" }.into(),
                    json!({ "description": "The result", "content": { "application/json": { "schema": schema_of(ty) } } }),
                );
            }
        }
    }
    if as_task.is_some() {
        let result = def.task_result.as_ref().map_or_else(String::new, |t| match strip_optional(t) {
            Ty::Struct(n) | Ty::Enum(n) => format!("; its result is a {n}"),
            _ => String::new(),
        });
        responses.insert(
            "202".into(),
            json!({
                "description": format!("Started as a task (vmw-task=true): the task id{result}"),
                "content": { "application/json": { "schema": { "type": "string" } } }
            }),
        );
    }
    responses.insert("default".into(), json!({ "$ref": "#/components/responses/Error" }));
    let mut op = json!({
        "operationId": format!("{}.{}", def.service, def.op),
        "tags": [def.service],
        "summary": format!("{} {}", def.service, def.op),
        "parameters": parameters,
        "responses": responses,
    });
    if let Some((ty, name)) = body {
        op["requestBody"] = json!({
            "required": !ty.is_optional(),
            "description": name,
            "content": { "application/json": { "schema": schema_of(ty) } }
        });
    }
    if login {
        op["security"] = json!([{ "basic": [] }]);
    }
    op
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_operation_is_in_the_document_once() {
        let registry = Registry::load().unwrap();
        let doc = document(&registry);
        let mut ids = Vec::new();
        for (_, methods) in doc["paths"].as_object().unwrap() {
            for (_, op) in methods.as_object().unwrap() {
                ids.push(op["operationId"].as_str().unwrap().to_owned());
            }
        }
        let served = registry.ops.iter().filter(|o| crate::api::dispatch::find_impl(&o.service, &o.op).is_some());
        assert_eq!(ids.len(), served.count());
        let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "operation ids are unique");
        let sync = &doc["paths"]["/esx/settings/depots?action=sync"]["post"];
        assert_eq!(sync["operationId"], "com.vmware.esx.settings.depots.sync");
        let login = &doc["paths"]["/session"]["post"];
        assert_eq!(login["security"], json!([{ "basic": [] }]));
        // Every $ref resolves.
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("\"#/components/schemas/").skip(1) {
            let name = part.split('"').next().unwrap();
            assert!(schemas.contains_key(name), "unresolved $ref {name}");
        }
    }
}
