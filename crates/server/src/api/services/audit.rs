//! `com.esxlcm.audit.list` (`GET /api/esxlcm/audit`): the audit log (crate::api::audit),
//! administrators only.

use std::sync::Arc;

use esxlcm_store::audit::AuditQuery;

use crate::api::errors::ApiError;
use crate::api::handler::{Ctx, HandlerFuture, Out};
use crate::api::typed::parse_datetime;

/// Rows answered at most; `esxlcm audit` reads more.
const MAX_LIMIT: i64 = 10_000;
const DEFAULT_LIMIT: usize = 100;

pub fn list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let since: Option<String> = ctx.input("since")?;
        let limit: Option<i64> = ctx.input("limit")?;
        let since_ms = since
            .map(|s| {
                parse_datetime(&s)
                    .map(|t| t.timestamp_millis())
                    .ok_or_else(|| ApiError::invalid_argument("input 'since': not an RFC 3339 time"))
            })
            .transpose()?;
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(n) if (1..=MAX_LIMIT).contains(&n) => usize::try_from(n).unwrap_or(DEFAULT_LIMIT),
            Some(_) => return Err(ApiError::invalid_argument(format!("input 'limit': 1 to {MAX_LIMIT}"))),
        };
        let store = Arc::clone(ctx.state.depots.store());
        let rows = tokio::task::spawn_blocking(move || store.audit(AuditQuery { since_ms, limit }))
            .await
            .map_err(|e| ApiError::internal(format!("reading the audit log: {e}")))?
            .map_err(|e| ApiError::internal(format!("reading the audit log: {e}")))?;
        serde_json::to_value(rows).map(Out::Plain).map_err(|e| ApiError::internal(e.to_string()))
    })
}
