//! What operation handlers see and return: services implement handlers against these
//! types, [`super::services::IMPLEMENTED`] registers them, and [`super::dispatch`] calls
//! them. Kept apart from the dispatcher so that services depend on this, never on it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::datavalue::DataValue;
use super::errors::ApiError;
use super::state::ApiState;
use super::tasks::Progress;
use super::users::Role;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: String,
    pub role: Role,
    /// The session token the call came with, if any.
    pub session: Option<String>,
}

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `cis.session.create`: user name and password.
    Login,
    /// Any authenticated user.
    Read,
    /// Administrators only: the operation changes state.
    Admin,
}

/// A handler's view of the call: typed inputs come from plain JSON checked against the
/// schema.
pub struct Ctx {
    pub state: Arc<ApiState>,
    pub caller: Caller,
    pub input: Map<String, Value>,
    /// Set when the call runs as a task.
    pub progress: Option<Progress>,
    /// `host[:port]` the client addressed (for download URLs we hand out).
    pub origin: Option<String>,
}

impl Ctx {
    /// One input, deserialized (an unset optional input reads as `null`).
    pub fn input<T: DeserializeOwned>(&self, name: &str) -> Result<T, ApiError> {
        let v = self.input.get(name).cloned().unwrap_or(Value::Null);
        serde_json::from_value(v).map_err(|e| ApiError::invalid_argument(format!("input '{name}': {e}")))
    }

    pub fn report(&self, completed: i64, total: i64, message: &str) {
        if let Some(p) = &self.progress {
            p.set(completed, total, message);
        }
    }
}

/// A handler's result: plain JSON (converted to the declared output type) or a DataValue
/// already built (task infos, whose `result` is opaque).
pub enum Out {
    Plain(Value),
    Dv(DataValue),
}

pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Out, ApiError>> + Send>>;
pub type Handler = fn(Ctx) -> HandlerFuture;

pub struct Implemented {
    pub service: &'static str,
    pub op: &'static str,
    pub access: Access,
    pub handler: Handler,
}
