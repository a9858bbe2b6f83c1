//! The audit log of the API: every login (success or failure) and every call that changes
//! state (administrator operations other than GETs, bundle uploads) is one row of the
//! store's `audit` table (`esxlcm_store::audit`): who, from which address, what
//! (`service.operation` and the ids the input names), when and the result. Read with
//! `esxlcm audit` or `GET /api/esxlcm/audit`. Session ids, passwords and request bodies are
//! never recorded.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use esxlcm_store::audit::AuditRecord;

use super::datavalue::DataValue;
use super::errors::ApiError;
use super::handler::Access;
use super::outcome::{Outcome, OutcomeKind};
use super::schema::{OpDef, Ty};
use super::state::ApiState;

/// A call being audited, from before it runs to its result.
#[derive(Debug)]
pub struct AuditCall {
    action: String,
    target: Option<String>,
    client: Option<IpAddr>,
    /// Logins answer a session id: never recorded.
    login: bool,
}

impl AuditCall {
    /// `Some` for the calls the log records: logins and mutating administrator operations.
    pub fn begin(
        def: &OpDef,
        access: Access,
        service: &str,
        operation: &str,
        input: &BTreeMap<String, DataValue>,
        client: Option<IpAddr>,
    ) -> Option<Self> {
        let audited = access == Access::Login || (access == Access::Admin && def.http != "GET");
        if !audited {
            return None;
        }
        // The ids the call is about (`cluster=domain-c7 draft=2`), from its id inputs.
        let ids: Vec<String> = def
            .inputs
            .iter()
            .filter(|(_, ty)| *ty == Ty::Id)
            .filter_map(|(name, _)| match input.get(name) {
                Some(DataValue::String(v)) => Some(format!("{name}={}", clip(v))),
                _ => None,
            })
            .collect();
        Some(Self {
            action: format!("{service}.{operation}"),
            target: (!ids.is_empty()).then(|| ids.join(" ")),
            client,
            login: access == Access::Login,
        })
    }

    /// Append the row: `user` is the caller (or the name a login tried).
    pub async fn finish(self, state: &Arc<ApiState>, user: Option<String>, result: &Result<Outcome, ApiError>) {
        let (result, mut target, detail) = match result {
            Ok(o) => {
                let id = match (&*o.value, o.kind, self.login) {
                    (DataValue::String(id), OutcomeKind::TaskStarted, _) => Some(format!("task {id}")),
                    _ => None,
                };
                // What a create made, when the call named nothing else.
                let created = match (&*o.value, &o.ty, o.kind, self.login) {
                    (DataValue::String(id), Ty::Id, OutcomeKind::Value, false) => Some(format!("created={}", clip(id))),
                    _ => None,
                };
                ("ok".to_owned(), created, id)
            }
            Err(e) => {
                if self.login {
                    crate::metrics::global().login_failed();
                }
                (e.kind.name().to_owned(), None, None)
            }
        };
        if self.target.is_some() {
            target = self.target;
        }
        let record = AuditRecord {
            user,
            client: self.client.map(|a| a.to_string()),
            action: self.action,
            target,
            result,
            detail,
        };
        append(state, record).await;
    }
}

/// Append a row off the async threads; a failure is logged, never the caller's error (the
/// call itself already happened).
pub async fn append(state: &Arc<ApiState>, record: AuditRecord) {
    let store = Arc::clone(state.depots.store());
    let action = record.action.clone();
    match tokio::task::spawn_blocking(move || store.append_audit(&record)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(%action, "the audit log cannot be written: {e}"),
        Err(e) => tracing::error!(%action, "the audit log cannot be written: {e}"),
    }
}

/// Ids come from clients: bounded, so one row stays small.
fn clip(text: &str) -> String {
    text.chars().take(200).collect()
}
