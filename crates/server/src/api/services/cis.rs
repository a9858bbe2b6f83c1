//! `com.vmware.cis.session` and `com.vmware.cis.tasks`.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::datavalue::DataValue;
use crate::api::errors::ApiError;
use crate::api::handler::{Ctx, HandlerFuture, Out};
use crate::api::typed::format_datetime;

pub fn session_create(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let token = ctx
            .state
            .sessions
            .create(&ctx.caller.user, ctx.caller.role)
            .map_err(|e| ApiError::internal(format!("no randomness for a session id: {e}")))?;
        tracing::info!(user = %ctx.caller.user, "session created");
        Ok(Out::Plain(Value::String(token)))
    })
}

fn session_token(ctx: &Ctx) -> Result<&str, ApiError> {
    ctx.caller.session.as_deref().ok_or_else(|| ApiError::unauthenticated("this operation needs a session"))
}

pub fn session_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let token = session_token(&ctx)?;
        let s = ctx.state.sessions.touch(token).ok_or_else(|| ApiError::unauthenticated("the session has expired"))?;
        Ok(Out::Plain(json!({
            "user": s.user,
            "created_time": format_datetime(s.created),
            "last_accessed_time": format_datetime(s.last_accessed),
        })))
    })
}

pub fn session_delete(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let token = session_token(&ctx)?;
        ctx.state.sessions.delete(token);
        Ok(Out::Plain(Value::Null))
    })
}

#[derive(Deserialize, Default)]
struct GetSpec {
    exclude_result: Option<bool>,
}

pub fn tasks_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("task")?;
        let spec: Option<GetSpec> = ctx.input("spec")?;
        let exclude = spec.unwrap_or_default().exclude_result.unwrap_or(false);
        let task = ctx.state.tasks.get(&id).ok_or_else(|| ApiError::not_found("task", &id))?;
        Ok(Out::Dv(task.to_info(exclude)))
    })
}

#[derive(Deserialize, Default)]
struct FilterSpec {
    tasks: Option<BTreeSet<String>>,
    services: Option<BTreeSet<String>>,
    operations: Option<BTreeSet<String>>,
    status: Option<BTreeSet<String>>,
    users: Option<BTreeSet<String>>,
}

pub fn tasks_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let filter: FilterSpec = ctx.input::<Option<FilterSpec>>("filter_spec")?.unwrap_or_default();
        let result_spec: GetSpec = ctx.input::<Option<GetSpec>>("result_spec")?.unwrap_or_default();
        let exclude = result_spec.exclude_result.unwrap_or(false);
        let keep = |set: &Option<BTreeSet<String>>, v: &str| set.as_ref().is_none_or(|s| s.contains(v));
        let entries = ctx
            .state
            .tasks
            .list()
            .into_iter()
            .filter(|t| {
                keep(&filter.tasks, &t.id)
                    && keep(&filter.services, &t.service)
                    && keep(&filter.operations, &t.operation)
                    && keep(&filter.status, t.status.as_str())
                    && keep(&filter.users, &t.user)
            })
            .map(|t| (DataValue::String(t.id.clone()), t.to_info(exclude)))
            .collect::<Vec<_>>();
        Ok(Out::Dv(DataValue::map(entries)))
    })
}

pub fn tasks_cancel(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("task")?;
        ctx.state.tasks.cancel(&id)?;
        Ok(Out::Plain(Value::Null))
    })
}
