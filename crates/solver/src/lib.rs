//! From a desired-state software spec to an image.
//!
//! Built so far: the software spec document itself ([`spec`]). The effective-image
//! computation, dependency validation and compliance are not built yet (see the README's
//! status table).

pub mod spec;

pub use spec::{SoftwareSpec, SpecError};
