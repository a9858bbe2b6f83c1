//! What a UI request that cannot be served shows: a page naming the problem and what to do,
//! with the HTTP status the API would answer (an internal failure shows a log reference
//! only).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::layout;
use crate::api::errors::{ApiError, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// A service refused or failed.
    #[error("{0}")]
    Api(#[from] ApiError),
    /// A form field is missing or wrong: the message says which and why.
    #[error("{0}")]
    Input(String),
    #[error("the form is stale or did not come from this site: reload the page and try again")]
    Csrf,
    #[error("{0}")]
    NotFound(String),
}

impl UiError {
    pub fn internal(text: impl Into<String>) -> Self {
        Self::Api(ApiError::internal(text))
    }

    pub fn input(text: impl Into<String>) -> Self {
        Self::Input(text.into())
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Api(e) => StatusCode::from_u16(e.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Self::Input(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Csrf => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
        }
    }

    fn text(&self) -> (String, &'static str) {
        match self {
            Self::Api(e) => {
                let e = e.for_client();
                let text = e.messages.iter().map(|m| m.default_message.as_str()).collect::<Vec<_>>().join("; ");
                let hint = match e.kind {
                    ErrorKind::Unauthorized => "Your user is read-only: ask an administrator to make this change.",
                    ErrorKind::Unauthenticated => "Log in again.",
                    ErrorKind::NotFound => "It may have been removed meanwhile.",
                    ErrorKind::InvalidArgument | ErrorKind::InvalidRequest => {
                        "Go back, correct the form and send it again."
                    }
                    ErrorKind::InternalServerError | ErrorKind::Error => {
                        "The server's log has the details under this reference."
                    }
                    _ => "Go back and try again.",
                };
                (text, hint)
            }
            Self::Input(_) => (self.to_string(), "Go back, correct the form and send it again."),
            Self::Csrf => (self.to_string(), "Forms stay valid while your session lasts."),
            Self::NotFound(_) => (self.to_string(), "Follow the links from the home page."),
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "UI request failed");
        }
        let (text, hint) = self.text();
        let title = status.canonical_reason().unwrap_or("Error");
        let page = layout::bare(
            title,
            html! {
                h1 { (title) }
                p.error role="alert" { (text) }
                p { (hint) }
                p { a href="/ui/" { "Home" } }
            },
        );
        layout::html_response(status, page)
    }
}
