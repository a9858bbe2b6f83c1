//! The depot data model and its XML/JSON mappings, one document kind per module.

pub mod bulletin;
pub mod common;
pub mod fields;
pub mod index;
pub mod metadata_response;
pub mod profile;
pub mod release_unit;
pub mod vib;

pub use bulletin::{Bulletin, ComponentSpec};
pub use common::{AcceptanceLevel, Checksum, Constraint, Provide, SoftwarePlatform};
pub use fields::ModelError;
pub use index::{MetadataEntry, VendorEntry, VendorIndex, VendorList};
pub use metadata_response::MetadataResponse;
pub use profile::ImageProfile;
pub use release_unit::{ReleaseKind, ReleaseUnit, ReleaseUnitSpec};
pub use vib::{HwPlatform, MaintenanceMode, Payload, Vib, VibLocation, VibUrl};
