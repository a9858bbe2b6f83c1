//! From a desired-state software spec to an image.
//!
//! Built so far: the software spec document ([`spec`]); the effective image computation
//! ([`resolve()`], depot-format §6.2); VIB-level validation on a dependency graph
//! ([`validate`], §8) with findings as vSphere-style [`Notification`]s whose
//! explanations ([`explain`]) walk the chain of causes. `null` components take their
//! highest versions when those fit together, else the best assignment a SAT search
//! finds (`search`), which also names the smallest set that cannot hold together.

pub mod alternatives;
pub mod compliance;
pub mod content;
pub mod explain;
pub mod graph;
pub mod host_state;
pub mod image;
pub mod notification;
pub mod options;
pub mod resolve;
pub(crate) mod search;
pub mod spec;
pub mod validate;

pub use alternatives::{HostSelection, SpecResolution, resolve_spec};
pub use host_state::HostIdentity;
pub use image::{ComponentSource, EffectiveImage, ImageComponent};
pub use notification::{LocalizableMessage, Notification, Severity};
pub use options::ResolveOptions;
pub use resolve::{Resolution, resolve};
pub use spec::{SoftwareSpec, SpecError};
