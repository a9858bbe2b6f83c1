//! The one dispatcher both dialects call: (service id, operation id, credentials, input
//! DataValues) → an output DataValue of the operation's declared type, or a vAPI error.
//! Authentication, roles, `op$task` handling and the schema checks of inputs and outputs
//! happen here once, so JSON-RPC and REST cannot disagree.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::datavalue::DataValue;
use super::errors::ApiError;
use super::handler::{Access, Caller, Ctx, Implemented, Out};
pub use super::outcome::{Answer, Outcome, OutcomeKind};
use super::schema::{OpDef, TaskType, Ty};
use super::session::Refusal;
use super::state::ApiState;
use super::typed::{from_plain, input_to_plain};
use super::users::Role;

/// What the request carried to say who it is.
#[derive(Clone, Default)]
pub enum Credentials {
    #[default]
    None,
    UserPass {
        user: String,
        password: String,
        /// The client's address, for throttling failed logins.
        client: Option<IpAddr>,
    },
    Session(String),
}

impl Credentials {
    /// User credentials from `client` (the address is only kept for login throttling).
    pub fn with_client(self, addr: Option<IpAddr>) -> Self {
        match self {
            Self::UserPass { user, password, .. } => Self::UserPass { user, password, client: addr },
            other => other,
        }
    }
}

/// The peer address of the connection a request came on, when the listener recorded it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Peer(pub Option<IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0.ip())))
    }
}

impl std::fmt::Debug for Credentials {
    // Never print passwords or session ids.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::UserPass { user, .. } => write!(f, "UserPass({user})"),
            Self::Session(_) => f.write_str("Session(..)"),
        }
    }
}

/// The handler registered for an operation ([`super::services::IMPLEMENTED`]).
pub fn find_impl(service: &str, op: &str) -> Option<&'static Implemented> {
    super::services::IMPLEMENTED.iter().find(|i| i.service == service && i.op == op)
}

/// Resolve an operation id (`x` or `x$task`) to its definition and whether it runs as a task.
pub fn resolve<'a>(state: &'a ApiState, service: &str, operation: &str) -> Result<(&'a OpDef, bool), ApiError> {
    let (base, as_task) = match operation.strip_suffix("$task") {
        Some(b) => (b, true),
        None => (operation, false),
    };
    let def = state.registry.op(service, base).ok_or_else(|| ApiError::operation_not_found(service, operation))?;
    let allowed = match def.task_type {
        TaskType::No => !as_task,
        TaskType::Both => true,
        TaskType::TaskOnly => as_task,
    };
    if !allowed || find_impl(service, base).is_none() {
        return Err(ApiError::operation_not_found(service, operation));
    }
    Ok((def, as_task))
}

/// The authority the request was sent to: `Host` (HTTP/1.1) or the URI's (HTTP/2).
pub fn origin(headers: &axum::http::HeaderMap, uri: &axum::http::Uri) -> Option<String> {
    headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(ToString::to_string))
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)))
}

/// The caller of a session: user names and passwords are taken only where a session is
/// created ([`login`]), so a flood of guessed passwords costs one bounded check per login
/// call, not one per request of every endpoint.
pub async fn authenticate(state: &Arc<ApiState>, creds: Credentials) -> Result<Caller, ApiError> {
    match creds {
        Credentials::None => Err(ApiError::unauthenticated(
            "this operation needs a session: create one (POST /api/session with a user name and password) \
             and send its id in the vmware-api-session-id header",
        )),
        Credentials::Session(token) => match state.sessions.touch(&token) {
            // The role as `config.json` says now: a removed or demoted user's sessions
            // follow (`esxlcm users` on a running server).
            Some(s) => match state.users.role_of(&s.user) {
                Some(role) => Ok(Caller { user: s.user, role, session: Some(token) }),
                None => {
                    state.sessions.delete(&token);
                    Err(ApiError::unauthenticated("the user of this session no longer exists"))
                }
            },
            None => Err(ApiError::unauthenticated("the session is unknown or has expired; log in again")),
        },
        Credentials::UserPass { .. } => Err(ApiError::unauthenticated(
            "a user name and password are taken only to create a session (POST /api/session); \
             send the session id in the vmware-api-session-id header",
        )),
    }
}

/// Check a user name and password (session creation only): throttled by the sessions'
/// [`LoginGuard`](super::session::LoginGuard), Argon2 off the async threads.
pub async fn login(
    state: &Arc<ApiState>,
    user: String,
    password: String,
    client: Option<IpAddr>,
) -> Result<Caller, ApiError> {
    let guard = &state.sessions.login;
    let permit = guard.admit(&user, client).await.map_err(|refusal| match refusal {
        Refusal::Throttled(wait) => {
            tracing::warn!(user = %user, client = ?client, retry_after_s = wait.as_secs(), "login throttled after repeated failures");
            ApiError::retry_later("too many failed logins for this user or address; try again later", retry_secs(wait))
        }
        Refusal::Busy(wait) => {
            tracing::warn!(user = %user, client = ?client, "login refused: every password check slot is busy");
            ApiError::retry_later("the server is busy checking other logins; try again shortly", retry_secs(wait))
        }
    })?;
    let st = Arc::clone(state);
    let name = user.clone();
    // Argon2 is deliberately slow: keep it off the async threads.
    let role = guard
        .run(&permit, move || st.users.verify(&name, &password))
        .await
        .ok_or_else(|| ApiError::internal("the password check stopped unexpectedly"))?;
    drop(permit);
    match role {
        Some(role) => {
            guard.succeeded(&user, client);
            Ok(Caller { user, role, session: None })
        }
        None => {
            let backoff = guard.failed(&user, client);
            tracing::info!(user = %user, client = ?client, backoff_s = backoff.as_secs(), "login refused: wrong user name or password");
            Err(ApiError::unauthenticated("wrong user name or password"))
        }
    }
}

fn retry_secs(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

const DEPOT_CONTENT: &str = "com.vmware.esx.settings.depot_content.";

/// Run one call from `client`; logins and mutating calls are written to the audit log.
pub async fn dispatch(
    state: &Arc<ApiState>,
    service: &str,
    operation: &str,
    creds: Credentials,
    input: BTreeMap<String, DataValue>,
    origin: Option<String>,
    client: Option<IpAddr>,
) -> Result<Outcome, ApiError> {
    let audit = resolve(state, service, operation).ok().and_then(|(def, _)| {
        let access = find_impl(service, &def.op)?.access;
        super::audit::AuditCall::begin(def, access, service, operation, &input, client)
    });
    let mut who = None;
    let result = call(state, service, operation, creds, input, origin, &mut who).await;
    if let Some(audit) = audit {
        audit.finish(state, who, &result).await;
    }
    result
}

async fn call(
    state: &Arc<ApiState>,
    service: &str,
    operation: &str,
    creds: Credentials,
    input: BTreeMap<String, DataValue>,
    origin: Option<String>,
    who: &mut Option<String>,
) -> Result<Outcome, ApiError> {
    let (def, as_task) = resolve(state, service, operation)?;
    let imp = find_impl(service, &def.op).ok_or_else(|| ApiError::operation_not_found(service, operation))?;
    let caller = match (imp.access, creds) {
        (Access::Login, Credentials::UserPass { user, password, client }) => {
            *who = Some(user.clone());
            login(state, user, password, client).await?
        }
        (Access::Login, _) => return Err(ApiError::unauthenticated("log in with a user name and password")),
        (_, creds) => authenticate(state, creds).await?,
    };
    *who = Some(caller.user.clone());
    crate::access_log::note_user(&caller.user);
    if imp.access == Access::Admin && caller.role != Role::Admin {
        return Err(ApiError::unauthorized(format!(
            "user '{}' is read-only and may not call {service}.{}",
            caller.user, def.op
        )));
    }
    let mut plain = Map::new();
    for (name, ty) in &def.inputs {
        match input.get(name) {
            Some(dv) => {
                plain.insert(name.clone(), input_to_plain(&state.registry, dv, ty, name)?);
            }
            None if ty.is_optional() => {}
            None => return Err(ApiError::invalid_argument(format!("input '{name}' is required"))),
        }
    }
    tracing::debug!(service, operation, user = %caller.user, "call");

    if as_task {
        let (id, progress) = state.tasks.start(service, &def.op, &caller.user)?;
        let ctx = Ctx { state: Arc::clone(state), caller, input: plain, progress: Some(progress), origin };
        let st = Arc::clone(state);
        let result_ty = def.task_result.clone();
        let task_id = id.clone();
        let service_name = service.to_owned();
        tokio::spawn(async move {
            // Run the work as its own task so that a panic ends the task FAILED instead of
            // leaving it RUNNING forever.
            let joined = tokio::spawn((imp.handler)(ctx)).await;
            let result =
                joined.unwrap_or_else(|e| Err(ApiError::internal(format!("the task stopped unexpectedly: {e}"))));
            let outcome = result.and_then(|out| match (out, &result_ty) {
                (_, None | Some(Ty::Void)) => Ok(None),
                (Out::Dv(dv), Some(_)) => Ok(Some(dv)),
                (Out::Plain(v), Some(ty)) => from_plain(&st.registry, &v, ty, "result").map(Some).map_err(|e| {
                    tracing::error!(service = %service_name, error = %e, "task result does not match its declared type");
                    ApiError::internal(format!("the task result is malformed: {e}"))
                }),
            });
            if let Err(e) = &outcome {
                tracing::info!(service = %service_name, error = %e, "task failed");
            }
            let outcome = outcome.map_err(|e| e.for_client());
            st.tasks.finish(&task_id, outcome);
        });
        return Ok(Outcome {
            value: Arc::new(DataValue::String(id)),
            ty: Ty::Id,
            kind: OutcomeKind::TaskStarted,
            remembered: None,
        });
    }

    let ty = def.output.clone().unwrap_or(Ty::Void);
    // Depot content depends on the catalog and the input only: answer repeats from memory.
    let memo = service.starts_with(DEPOT_CONTENT).then(|| {
        (format!("{service}.{operation}:{}", Value::Object(plain.clone())), state.depots.catalog_generation())
    });
    if let Some(answer) = memo.as_ref().and_then(|(key, _)| state.depots.answer(key)) {
        return Ok(Outcome {
            value: Arc::clone(&answer.value),
            ty,
            kind: OutcomeKind::Value,
            remembered: Some(answer),
        });
    }
    let ctx = Ctx { state: Arc::clone(state), caller, input: plain, progress: None, origin };
    let out = (imp.handler)(ctx).await?;
    let value = Arc::new(match out {
        Out::Dv(dv) => dv,
        Out::Plain(v) => from_plain(&state.registry, &v, &ty, "output").map_err(|e| {
            tracing::error!(service, operation, error = %e, "output does not match its declared type");
            ApiError::internal(format!("the server built a malformed result: {e}"))
        })?,
    });
    let remembered = memo.map(|(key, generation)| {
        let answer = Arc::new(Answer::new(Arc::clone(&value)));
        state.depots.remember(key, generation, &answer);
        answer
    });
    let kind = if ty == Ty::Void { OutcomeKind::Void } else { OutcomeKind::Value };
    Ok(Outcome { value, ty, kind, remembered })
}
