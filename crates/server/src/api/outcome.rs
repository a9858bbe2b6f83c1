//! What a call produced, as the dialects need it to answer: the value, its type, and
//! whether it is a value, nothing, or a started task; for a remembered answer, also its
//! encodings as each dialect last sent them.

use std::sync::{Arc, OnceLock};

use axum::body::Bytes;

use super::datavalue::DataValue;
use super::schema::Ty;

/// What the dialect needs to answer.
#[derive(Debug)]
pub struct Outcome {
    /// Shared: remembered depot-content answers are handed out without a deep copy.
    pub value: Arc<DataValue>,
    pub ty: Ty,
    pub kind: OutcomeKind,
    /// Set when the value is a remembered answer: its encodings are kept with it.
    pub remembered: Option<Arc<Answer>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeKind {
    Value,
    Void,
    TaskStarted,
}

/// A remembered depot-content answer and its encodings, made once each: browsing clients
/// ask the same questions again and again, and encoding a list of hundreds of components
/// costs more than every other step of the request.
#[derive(Debug)]
pub struct Answer {
    pub value: Arc<DataValue>,
    /// The REST body.
    pub rest: OnceLock<Bytes>,
    /// The JSON-RPC `output` (spliced into each response with its id).
    pub jsonrpc_output: OnceLock<Bytes>,
}

impl Answer {
    pub fn new(value: Arc<DataValue>) -> Self {
        Self { value, rest: OnceLock::new(), jsonrpc_output: OnceLock::new() }
    }

    /// `cell`'s encoding, made by `encode` the first time.
    pub fn encoded<E>(cell: &OnceLock<Bytes>, encode: impl FnOnce() -> Result<Vec<u8>, E>) -> Result<Bytes, E> {
        if let Some(b) = cell.get() {
            return Ok(b.clone());
        }
        let bytes = Bytes::from(encode()?);
        // Another request may have set it meanwhile: the same bytes either way.
        Ok(cell.get_or_init(|| bytes).clone())
    }
}
