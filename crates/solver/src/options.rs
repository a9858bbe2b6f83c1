//! Policy knobs of resolution and validation, apart from both so that validation and the
//! search can take them without depending on resolution.

use esxlcm_depot::model::AcceptanceLevel;

/// Policy knobs of resolution and validation.
#[derive(Debug, Clone, Default)]
pub struct ResolveOptions {
    /// The image's acceptance level (its lowest VIB's) must be at least this.
    pub min_acceptance: Option<AcceptanceLevel>,
    /// A user component older than what the base image, add-on or hardware support package
    /// brings is a warning instead of an error.
    pub allow_downgrades: bool,
}
