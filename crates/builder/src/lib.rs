//! The image builder: a vLCM software spec, resolved against depots, written as
//!
//! * **JSON** — the software spec as vLCM exports it ([`Image::write_json`]);
//! * **ZIP** — an offline bundle holding the image's content: base image, add-on and other
//!   release units, the components with their VIBs and metadata, and an image profile; it
//!   imports as a depot again and resolves to the same image ([`Image::write_bundle`],
//!   [`content`]);
//! * **ISO** — an ESXi installer ([`Image::write_iso`], depot-format §7): `BOOT.CFG`, the
//!   boot modules taken out of the VIBs ([`modules`]), `IMGDB.TGZ` ([`imgdb`]), `UPGRADE/`
//!   and the bootloader files, written by `esxlcm-iso`.
//!
//! Every output is streamed (VIBs and payloads never sit in memory whole), deterministic
//! (one timestamp, [`ImageOptions::timestamp`], for everything; sorted members) and atomic
//! (a temporary sibling, fsynced and renamed). Progress is reported in bytes through
//! [`Progress`]. [`inspect`] reads existing installer ISOs.
//!
//! A build starts from a [`Resolution`] with no errors: an image that does not validate is
//! never written ([`BuildError::Unresolved`]).

pub mod bootcfg;
pub mod content;
pub mod efiboot;
mod error;
pub mod imgdb;
pub mod inspect;
pub mod iso;
pub mod kickstart;
pub mod modules;
mod progress;
mod stage;
pub mod time;

use std::cell::RefCell;
use std::io::Read;
use std::path::Path;

use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::model::{AcceptanceLevel, ImageProfile, ReleaseKind, Vib};
use esxlcm_depot::write::{self, DepotContent, VibSource, WriteError, Written};
use esxlcm_solver::{EffectiveImage, Resolution, SoftwareSpec};

pub use error::BuildError;
pub use iso::{Bootloader, BootloaderFile, EfiImageBuilt, IsoBuilt, IsoOptions, UsbBoot};
pub use progress::{NoProgress, Progress, Stage};

use crate::progress::{Counter, ProgressReader};

/// Choices that are not in the spec.
#[derive(Debug, Clone, Default)]
pub struct ImageOptions {
    /// Unix seconds used for every timestamp in every output. Default: the base image's
    /// release date (midnight UTC when it has no time), or 1970-01-01 without one.
    pub timestamp: Option<i64>,
    /// The image profile's name. Default: `ESXi-<base image version>-custom`.
    pub profile_name: Option<String>,
}

/// A resolved image, ready to be written in any format.
pub struct Image<'a> {
    catalog: &'a Catalog,
    spec: &'a SoftwareSpec,
    image: &'a EffectiveImage,
    timestamp: i64,
    timestamp_text: String,
    profile: ImageProfile,
    content: DepotContent,
}

impl std::fmt::Debug for Image<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Image")
            .field("base_image", &self.image.base_image)
            .field("profile", &self.profile.name)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

impl<'a> Image<'a> {
    /// The image `resolution` (of `spec`'s main image against `catalog`). Refuses a
    /// resolution with errors, listing them.
    pub fn new(
        catalog: &'a Catalog,
        spec: &'a SoftwareSpec,
        resolution: &'a Resolution,
        options: &ImageOptions,
    ) -> Result<Self, BuildError> {
        if resolution.has_errors() {
            let errors = resolution.errors().map(|n| n.message.default_message.clone()).collect();
            return Err(BuildError::Unresolved { errors });
        }
        let image = &resolution.image;
        let base_unit = catalog.base_image(&image.base_image);
        let timestamp =
            options.timestamp.or_else(|| base_unit.and_then(|u| time::parse_iso8601(&u.release_date))).unwrap_or(0);
        let timestamp_text = time::to_iso8601(timestamp);
        let name = options.profile_name.clone().unwrap_or_else(|| format!("ESXi-{}-custom", image.base_image));
        let mut description = format!("Built by esxlcm from a software spec: base image {}", image.base_image);
        if let Some((addon, version)) = &image.add_on {
            description.push_str(&format!(", add-on {addon} {version}"));
        }
        description.push_str(&format!(", {} components", image.components.len()));
        let profile = imgdb::image_profile(&imgdb::ProfileInfo {
            name: &name,
            creator: content::VENDOR,
            description: &description,
            acceptance: image.acceptance_level().unwrap_or(AcceptanceLevel::Community),
            timestamp: &timestamp_text,
            vib_ids: image.vibs.keys().cloned().collect(),
        })?;
        let mut content = content::image_content(catalog, &spec.image, image, &timestamp_text);
        content.profiles = vec![profile.clone()];
        Ok(Self { catalog, spec, image, timestamp, timestamp_text, profile, content })
    }

    pub fn profile(&self) -> &ImageProfile {
        &self.profile
    }

    /// What the offline bundle holds (and `UPGRADE/METADATA.ZIP` describes).
    pub fn content(&self) -> &DepotContent {
        &self.content
    }

    pub fn image(&self) -> &EffectiveImage {
        self.image
    }

    /// The Unix seconds every output carries.
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// The image's VIBs (after `replaces`), by ID.
    pub fn vibs(&self) -> impl Iterator<Item = &Vib> {
        self.image.vibs.values().map(|v| &**v)
    }

    /// The base image's build string for `boot.cfg` and `UPGRADE/METADATA.XML`: its full
    /// version (`8.0.3-0.35.24280767`).
    pub fn build_string(&self) -> String {
        self.image.base_image.to_string()
    }

    /// Write the software spec as JSON (vLCM's export). It reads back equal to the spec;
    /// `null` component versions stay `null`.
    pub fn write_json(&self, dest: &Path, overwrite: bool, progress: &mut dyn Progress) -> Result<u64, BuildError> {
        let mut bytes = self.spec.to_json();
        bytes.push(b'\n');
        progress.start(Stage::Json, bytes.len() as u64);
        write_file(dest, overwrite, &bytes)?;
        progress.advance(bytes.len() as u64);
        Ok(bytes.len() as u64)
    }

    /// Write the offline bundle: the image's content, VIBs copied byte for byte and
    /// verified against their metadata on the way.
    pub fn write_bundle(
        &self,
        dest: &Path,
        overwrite: bool,
        progress: &mut dyn Progress,
    ) -> Result<Written, BuildError> {
        let total = self.content.vibs.iter().filter_map(|v| v.location.as_ref()).map(|l| l.packed_size).sum();
        progress.start(Stage::Bundle, total);
        let source = CountingSource { catalog: self.catalog, counter: RefCell::new(Counter { progress, done: 0 }) };
        write::write_bundle(&self.content, &source, dest, overwrite).map_err(|e| from_write(dest, e))
    }

    /// The base image's release unit.
    pub fn base_image_unit(&self) -> Option<&esxlcm_depot::model::ReleaseUnit> {
        self.content.release_units.iter().find(|u| u.kind == ReleaseKind::BaseImage)
    }
}

/// Streams VIBs from the catalog, counting their bytes as progress.
struct CountingSource<'c, 'p> {
    catalog: &'c Catalog,
    counter: RefCell<Counter<'p>>,
}

impl VibSource for CountingSource<'_, '_> {
    fn open_vib(&self, vib: &Vib) -> Result<Box<dyn Read + '_>, WriteError> {
        let inner = VibSource::open_vib(self.catalog, vib)?;
        Ok(Box::new(ProgressReader { inner, progress: &self.counter }))
    }
}

/// A file written atomically.
pub(crate) fn write_file(dest: &Path, overwrite: bool, bytes: &[u8]) -> Result<(), BuildError> {
    write::atomic::write_file(dest, overwrite, |file| {
        std::io::Write::write_all(file, bytes).map_err(|e| WriteError::Io { path: dest.to_path_buf(), source: e })
    })
    .map_err(|e| from_write(dest, e))
}

fn from_write(dest: &Path, e: WriteError) -> BuildError {
    match e {
        WriteError::Exists { path } => BuildError::Exists { path },
        WriteError::Io { path, source } => BuildError::Io { path, source },
        other => {
            tracing::debug!(dest = %dest.display(), "bundle write failed");
            BuildError::Bundle(Box::new(other))
        }
    }
}
