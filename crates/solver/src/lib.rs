//! From a desired-state software spec to an image.
//!
//! Built so far: the software spec document itself ([`spec`]). The effective-image
//! computation, dependency validation and compliance are not built yet (see the README's
//! status table).

pub mod image;
pub mod spec;

pub use image::{ComponentSource, EffectiveImage, ImageComponent};
pub use spec::{SoftwareSpec, SpecError};
