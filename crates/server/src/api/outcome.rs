//! What a call produced, as the dialects need it to answer: the value, its type, and
//! whether it is a value, nothing, or a started task.

use std::sync::Arc;

use super::datavalue::DataValue;
use super::schema::Ty;

/// What the dialect needs to answer.
#[derive(Debug)]
pub struct Outcome {
    /// Shared: remembered depot-content answers are handed out without a deep copy.
    pub value: Arc<DataValue>,
    pub ty: Ty,
    pub kind: OutcomeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeKind {
    Value,
    Void,
    TaskStarted,
}
