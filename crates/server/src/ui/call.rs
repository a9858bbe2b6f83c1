//! The UI's one way to the services: an operation called through the API's dispatcher with
//! the viewer's session, inputs and output as the REST dialect's plain JSON. Roles,
//! validation and the audit log are therefore exactly the API's.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Ui;
use super::auth::Viewer;
use crate::api::dispatch::{self, OutcomeKind};
use crate::api::errors::ApiError;
use crate::api::typed::{from_plain, to_plain};

impl Ui {
    /// `service.operation` (`op$task` starts a task: the answer is its id) with `input`, a
    /// JSON object of the operation's inputs by name (absent or `null`: not given).
    pub async fn call(&self, viewer: &Viewer, service: &str, operation: &str, input: Value) -> Result<Value, ApiError> {
        let (def, _) = dispatch::resolve(&self.api, service, operation)?;
        let reg = &self.api.registry;
        let mut values = BTreeMap::new();
        for (name, ty) in &def.inputs {
            if let Some(v) = input.get(name).filter(|v| !v.is_null()) {
                values.insert(name.clone(), from_plain(reg, v, ty, name)?);
            }
        }
        let outcome = dispatch::dispatch(
            &self.api,
            service,
            operation,
            viewer.credentials(),
            values,
            viewer.origin.clone(),
            viewer.peer,
        )
        .await?;
        match outcome.kind {
            OutcomeKind::Void => Ok(Value::Null),
            OutcomeKind::TaskStarted => match &*outcome.value {
                crate::api::datavalue::DataValue::String(id) => Ok(Value::String(id.clone())),
                _ => Err(ApiError::internal("a task id of an unexpected type")),
            },
            OutcomeKind::Value => {
                to_plain(reg, &outcome.value, &outcome.ty, "output").map_err(|e| ApiError::internal(e.to_string()))
            }
        }
    }
}
