//! Findings of resolution and validation, shaped like the vSphere API's `Notification`
//! (`{id, time?, message: {id, default_message, args}, resolution?: {…}}`), plus a
//! severity and an explanation: the chain of causes, one step per line, from the spec
//! down to the rule that failed (peers.md §6.4: name the exact component and rule, show
//! the chain, offer concrete fixes, same text for people and for JSON).

use serde::Serialize;

/// Stable notification IDs. Each names one rule; `docs` and tests refer to them.
pub mod ids {
    pub const BASE_IMAGE_MISSING: &str = "com.esxlcm.solver.base_image.missing";
    pub const ADDON_MISSING: &str = "com.esxlcm.solver.addon.missing";
    pub const ADDON_UNSUPPORTED_BASE_IMAGE: &str = "com.esxlcm.solver.addon.unsupported_base_image";
    pub const HSP_MISSING: &str = "com.esxlcm.solver.hardware_support.missing";
    pub const HSP_UNSUPPORTED_BASE_IMAGE: &str = "com.esxlcm.solver.hardware_support.unsupported_base_image";
    pub const COMPONENT_MISSING: &str = "com.esxlcm.solver.component.missing";
    pub const COMPONENT_DOWNGRADE: &str = "com.esxlcm.solver.component.downgrade";
    pub const COMPONENT_RESOLVED: &str = "com.esxlcm.solver.component.resolved";
    pub const COMPONENTS_UNSATISFIABLE: &str = "com.esxlcm.solver.component.null_unsatisfiable";
    pub const REMOVED_COMPONENT_ABSENT: &str = "com.esxlcm.solver.component.removed_absent";
    pub const SOLUTION_MISSING: &str = "com.esxlcm.solver.solution.missing";
    pub const VIB_MISSING: &str = "com.esxlcm.solver.vib.missing";
    pub const VIB_REPLACED: &str = "com.esxlcm.solver.vib.replaced";
    pub const VIB_DUPLICATE_NAME: &str = "com.esxlcm.solver.vib.duplicate_name";
    pub const DEPENDENCY_UNMET: &str = "com.esxlcm.solver.dependency.unmet";
    pub const CONFLICT: &str = "com.esxlcm.solver.conflict";
    pub const ACCEPTANCE_TOO_LOW: &str = "com.esxlcm.solver.acceptance.too_low";
    pub const PLATFORM_MISMATCH: &str = "com.esxlcm.solver.platform.mismatch";
    pub const IMAGE_NOT_BOOTABLE: &str = "com.esxlcm.solver.image.not_bootable";
    pub const ALTERNATIVE_IMAGE_INVALID: &str = "com.esxlcm.solver.alternative_image.invalid";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
        })
    }
}

/// vSphere's `LocalizableMessage`: a message ID, its English text with the arguments
/// already filled in, and the arguments (for translations).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalizableMessage {
    pub id: String,
    pub default_message: String,
    pub args: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    pub id: String,
    pub severity: Severity,
    /// When the finding was made; the solver is deterministic and leaves it unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    pub message: LocalizableMessage,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<LocalizableMessage>,
    /// The chain of causes, outermost first; empty for findings that need none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub explanation: Vec<String>,
}

impl Notification {
    /// A notification whose message ID is its own ID.
    pub fn new(id: &str, severity: Severity, text: impl Into<String>, args: Vec<String>) -> Self {
        Self {
            id: id.to_owned(),
            severity,
            time: None,
            message: LocalizableMessage { id: id.to_owned(), default_message: text.into(), args },
            resolution: None,
            explanation: Vec::new(),
        }
    }

    /// Add a resolution (message ID `<id>.resolution`).
    pub fn with_resolution(mut self, text: impl Into<String>, args: Vec<String>) -> Self {
        self.resolution =
            Some(LocalizableMessage { id: format!("{}.resolution", self.id), default_message: text.into(), args });
        self
    }

    pub fn with_explanation(mut self, lines: Vec<String>) -> Self {
        self.explanation = lines;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Text for people: `error [id]: message`, the explanation indented, then the fix.
    pub fn to_text(&self) -> String {
        let mut out = format!("{} [{}]: {}\n", self.severity, self.id, self.message.default_message);
        for line in &self.explanation {
            out.push_str("    - ");
            out.push_str(line);
            out.push('\n');
        }
        if let Some(r) = &self.resolution {
            out.push_str("    fix: ");
            out.push_str(&r.default_message);
            out.push('\n');
        }
        out
    }
}
