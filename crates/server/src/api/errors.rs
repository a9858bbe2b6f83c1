//! vAPI standard errors (vlcm-api §1.5) and their two wire forms: an `ERROR` DataValue in
//! JSON-RPC's `result.error`, and an HTTP status with `{error_type, messages, data}` in REST.

use serde_json::{Value, json};

use super::datavalue::{DataValue, StructValue};
use super::typed::{ConvError, untyped_plain};

const MESSAGE_STRUCT: &str = "com.vmware.vapi.std.localizable_message";

/// The standard error kinds this server raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Error,
    AlreadyExists,
    Canceled,
    ConcurrentChange,
    InternalServerError,
    InvalidArgument,
    InvalidRequest,
    NotAllowedInCurrentState,
    NotFound,
    OperationNotFound,
    ResourceInUse,
    ResourceInaccessible,
    ServiceUnavailable,
    Unauthenticated,
    Unauthorized,
    Unsupported,
}

impl ErrorKind {
    /// The error's name as in `com.vmware.vapi.std.errors.<name>`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::AlreadyExists => "already_exists",
            Self::Canceled => "canceled",
            Self::ConcurrentChange => "concurrent_change",
            Self::InternalServerError => "internal_server_error",
            Self::InvalidArgument => "invalid_argument",
            Self::InvalidRequest => "invalid_request",
            Self::NotAllowedInCurrentState => "not_allowed_in_current_state",
            Self::NotFound => "not_found",
            Self::OperationNotFound => "operation_not_found",
            Self::ResourceInUse => "resource_in_use",
            Self::ResourceInaccessible => "resource_inaccessible",
            Self::ServiceUnavailable => "service_unavailable",
            Self::Unauthenticated => "unauthenticated",
            Self::Unauthorized => "unauthorized",
            Self::Unsupported => "unsupported",
        }
    }

    pub fn canonical(self) -> String {
        format!("com.vmware.vapi.std.errors.{}", self.name())
    }

    /// `Error.Type`: the upper-snake form of the name.
    pub fn error_type(self) -> String {
        self.name().to_ascii_uppercase()
    }

    pub fn from_error_type(t: &str) -> Option<Self> {
        [
            Self::Error,
            Self::AlreadyExists,
            Self::Canceled,
            Self::ConcurrentChange,
            Self::InternalServerError,
            Self::InvalidArgument,
            Self::InvalidRequest,
            Self::NotAllowedInCurrentState,
            Self::NotFound,
            Self::OperationNotFound,
            Self::ResourceInUse,
            Self::ResourceInaccessible,
            Self::ServiceUnavailable,
            Self::Unauthenticated,
            Self::Unauthorized,
            Self::Unsupported,
        ]
        .into_iter()
        .find(|k| k.error_type() == t)
    }

    /// The REST status (vlcm-api §3.1).
    pub fn http_status(self) -> u16 {
        match self {
            Self::AlreadyExists
            | Self::Canceled
            | Self::InvalidArgument
            | Self::InvalidRequest
            | Self::NotAllowedInCurrentState
            | Self::ResourceInUse
            | Self::ResourceInaccessible
            | Self::Unsupported => 400,
            Self::ConcurrentChange => 409,
            Self::Unauthenticated => 401,
            Self::Unauthorized => 403,
            Self::NotFound | Self::OperationNotFound => 404,
            Self::Error | Self::InternalServerError => 500,
            Self::ServiceUnavailable => 503,
        }
    }
}

/// A `LocalizableMessage` without localisation parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub default_message: String,
    pub args: Vec<String>,
}

impl Message {
    pub fn new(id: &str, default_message: impl Into<String>) -> Self {
        Self { id: id.to_owned(), default_message: default_message.into(), args: Vec::new() }
    }

    pub fn to_data_value(&self) -> DataValue {
        DataValue::Struct(
            StructValue::new(MESSAGE_STRUCT)
                .with("id", DataValue::string(&self.id))
                .with("default_message", DataValue::string(&self.default_message))
                .with("args", DataValue::List(self.args.iter().map(DataValue::string).collect()))
                .with("params", DataValue::none())
                .with("localized", DataValue::none()),
        )
    }

    pub fn to_plain(&self) -> Value {
        json!({"id": self.id, "default_message": self.default_message, "args": self.args})
    }
}

/// An error an operation ends with.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub messages: Vec<Message>,
    /// Extra structured data (for `already_exists` on offline depots: the existing depot).
    pub data: Option<DataValue>,
    /// Seconds after which a retry may succeed (REST: `Retry-After`), for throttled logins.
    pub retry_after: Option<u64>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text: Vec<&str> = self.messages.iter().map(|m| m.default_message.as_str()).collect();
        write!(f, "{}: {}", self.kind.name(), text.join("; "))
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    pub fn new(kind: ErrorKind, id: &str, message: impl Into<String>) -> Self {
        Self { kind, messages: vec![Message::new(id, message)], data: None, retry_after: None }
    }

    /// Busy or throttled: try again after `seconds` (503 with `Retry-After` over REST).
    pub fn retry_later(message: impl Into<String>, seconds: u64) -> Self {
        let mut e = Self::new(ErrorKind::ServiceUnavailable, "com.vmware.esxlcm.retry_later", message);
        e.retry_after = Some(seconds.max(1));
        e
    }

    /// What a client may see: an internal error's text (paths, OS errors, panics) goes to the
    /// log under a reference, the client gets the reference only.
    pub fn for_client(&self) -> Self {
        if !matches!(self.kind, ErrorKind::InternalServerError | ErrorKind::Error) {
            return self.clone();
        }
        Self::new(self.kind, "com.vmware.esxlcm.internal", logged_under_reference(self))
    }

    pub fn with_data(mut self, data: DataValue) -> Self {
        self.data = Some(data);
        self
    }

    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(ErrorKind::NotFound, "com.vmware.esxlcm.not_found", format!("{what} '{id}' does not exist"))
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, "com.vmware.esxlcm.invalid_argument", message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthenticated, "com.vmware.esxlcm.unauthenticated", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unauthorized, "com.vmware.esxlcm.unauthorized", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InternalServerError, "com.vmware.esxlcm.internal", message)
    }

    pub fn operation_not_found(service: &str, op: &str) -> Self {
        Self::new(
            ErrorKind::OperationNotFound,
            "com.vmware.esxlcm.operation_not_found",
            format!("operation '{op}' of service '{service}' is not provided by this server"),
        )
    }

    /// The JSON-RPC form: an `ERROR` value.
    pub fn to_data_value(&self) -> DataValue {
        DataValue::Error(self.to_struct())
    }

    fn to_struct(&self) -> StructValue {
        StructValue::new(self.kind.canonical())
            .with("messages", DataValue::List(self.messages.iter().map(Message::to_data_value).collect()))
            .with("data", DataValue::Optional(self.data.clone().map(Box::new)))
            .with("error_type", DataValue::some(DataValue::String(self.kind.error_type())))
    }

    /// The REST body.
    pub fn to_plain(&self) -> Value {
        let mut body = json!({
            "error_type": self.kind.error_type(),
            "messages": self.messages.iter().map(Message::to_plain).collect::<Vec<_>>(),
        });
        if let (Some(data), Some(obj)) = (&self.data, body.as_object_mut()) {
            obj.insert("data".into(), untyped_plain(data));
        }
        body
    }
}

impl From<ConvError> for ApiError {
    fn from(e: ConvError) -> Self {
        Self::new(ErrorKind::InvalidArgument, "com.vmware.esxlcm.invalid_input", e.to_string())
    }
}

/// Log an internal failure's detail under a fresh reference; the text a client sees
/// instead names the reference only, never paths, OS errors or panics. Shared by the API's
/// errors and the store server's 5xx answers.
pub fn logged_under_reference(detail: impl std::fmt::Display) -> String {
    let reference = super::random::random_hex(4).unwrap_or_else(|_| "-".into());
    tracing::error!(reference = %reference, error = %detail, "internal error");
    format!("the server failed to handle the request; its log has the details under reference {reference}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn not_found_json_rpc_shape() {
        let e = ApiError::not_found("depot", "x");
        let j = e.to_data_value().to_json();
        let inner = &j["ERROR"]["com.vmware.vapi.std.errors.not_found"];
        assert_eq!(inner["error_type"], json!({"OPTIONAL": "NOT_FOUND"}));
        assert_eq!(inner["data"], json!({"OPTIONAL": null}));
        let msg = &inner["messages"][0]["STRUCTURE"]["com.vmware.vapi.std.localizable_message"];
        assert_eq!(msg["params"], json!({"OPTIONAL": null}));
        assert_eq!(ErrorKind::from_error_type("NOT_FOUND"), Some(ErrorKind::NotFound));
        assert_eq!(e.kind.http_status(), 404);
    }

    #[test]
    fn internal_errors_reach_clients_without_their_details() {
        let e = ApiError::internal("/srv/esxlcm/data/uploads/x.zip: Permission denied (os error 13)");
        let shown = e.for_client();
        assert_eq!(shown.kind, ErrorKind::InternalServerError);
        let text = shown.to_plain().to_string();
        assert!(!text.contains("/srv") && !text.contains("os error"), "{text}");
        assert!(text.contains("reference"), "{text}");
        let nf = ApiError::not_found("depot", "x");
        assert_eq!(nf.for_client(), nf);
    }
}
