//! Seeded, deterministic synthetic depots for tests and benchmarks.
//!
//! [`generate`] builds a [`DepotContent`] that looks like a real ESXi 8.0 depot:
//!
//! * base images `8.0.1-0.0.21495797`, `8.0.2-0.0.22380479`, `8.0.3-0.35.24280767`, then
//!   8.0 U3 patches, each a [`ReleaseKind::BaseImage`](crate::model::ReleaseKind) unit
//!   listing `components_per_base_image` components (with an image profile each);
//! * an `ESXi` component whose `esx-base` VIB provides `vmkapi_2_11_0_0`,
//!   `vmkapi_2_12_0_0`, ... (one more level per release) and a versioned `esx-version`;
//!   its other VIBs depend on `esx-base = <version>`;
//! * driver components whose VIBs depend on vmkapi levels (most on the newest, so they
//!   need newer releases), some on `esx-version >= 8.0.x`, some on a neighbour driver's
//!   versioned API; secondary VIBs depend on their primary with `>=` and `<<`; renamed
//!   drivers `replaces` and `conflicts` with their predecessors in chains;
//! * OEM add-ons ([`ReleaseKind::Addon`](crate::model::ReleaseKind)) with a name spec,
//!   their own components, a newer build of a base driver, a removed base component
//!   replaced by an OEM driver, and `supportedBaseImageVersions` such as `8.0.2`/`8.0.3`.
//!
//! Every VIB is a real `ar` file whose descriptor checksums are correct (sha-256 of the
//! stored gzip; sha-256 and sha-1 of the gunzipped visor tar). By default all VIBs are
//! **community** acceptance with an empty `sig.pkcs7`: community is the only level that
//! needs no signature, so generated images pass a signature-requirement check without
//! keys. [`GeneratorConfig::signer`] signs them instead (tests of signature policy give it
//! a throwaway key). VIB bytes are never kept: [`GeneratedDepot`] regenerates each one from the seed
//! when it is opened, so a 20,000-VIB depot costs only its metadata in memory.

mod build;
mod names;
mod rng;
mod vibfile;

use std::collections::HashMap;
use std::io::{self, Cursor, Read};
use std::path::Path;
use std::sync::Arc;

use esxlcm_version::{VersionError, VersionLint};

use crate::model::{ModelError, Vib};
use crate::vib::ArError;
use crate::write::{DepotContent, VibSource, WriteError, Written, write_bundle, write_tree};

/// What to generate. Start from [`GeneratorConfig::default`], [`GeneratorConfig::tiny`]
/// or [`GeneratorConfig::benchmark`] and adjust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorConfig {
    pub seed: u64,
    /// Base-image releases (8.0 U1, U2, U3, then U3 patches).
    pub base_images: usize,
    /// Components in each base image, including `ESXi`.
    pub components_per_base_image: usize,
    /// Chance (0–100) that a driver gets a new version in a release; otherwise the
    /// previous release's component is shared.
    pub update_percent: u8,
    pub addons: usize,
    /// OEM components of each add-on (plus one updated and one replacement driver).
    pub components_per_addon: usize,
    /// VIBs per component, inclusive range.
    pub vibs_per_component: (usize, usize),
    /// Bytes of payload content per VIB before compression, inclusive range.
    pub payload_bytes: (usize, usize),
    /// One `ESXi-...-standard` image profile per base image.
    pub image_profiles: bool,
    /// Give `esx-base` two `boot` payloads (`b`, the kernel, and `k`) before its `vgz`
    /// payload, as real base images have, so that installer ISOs can be built from the
    /// depot. Off by default: existing generated depots stay byte for byte the same.
    pub boot_modules: bool,
    /// The `ESXi` component gets the VIBs and payloads of a real ESXi 8.0 U3 base image
    /// ([`names::REAL_8_0_U3`]: `esx-base` with `b k vmx vim tpm sb s`, `cpu-microcode`,
    /// `esx-update` with `esxupdt tpmesxup weaselin`, `loadesx`, `tools-light`, …; vendor
    /// `VMware`), so the installer `boot.cfg` built from it can be compared with a real
    /// one. Implies [`Self::boot_modules`]. Off by default.
    pub real_esxi_payloads: bool,
    /// Hardware support packages: manifests ([`ReleaseKind::Manifest`](crate::model::ReleaseKind))
    /// with `hardwareSupportInfo` (manager, package, version) and a firmware driver
    /// component each; two versions per OEM's package. 0 by default: existing generated
    /// depots stay byte for byte the same.
    pub hardware_support: usize,
    pub vendor_name: String,
    pub vendor_code: String,
    /// The VIBs' acceptance level. Generated VIBs are unsigned unless [`Self::signer`]
    /// is set, so any level but the default, community, makes VIBs that a signature policy
    /// refuses (what tests of that policy need).
    pub acceptance: crate::model::AcceptanceLevel,
    /// Signs every VIB (its `sig.pkcs7` member); none, the default: every `sig.pkcs7` is
    /// empty, and generated depots stay byte for byte the same.
    pub signer: Option<VibSigner>,
    /// The metadata timestamp (fixed, so output is reproducible).
    pub timestamp: String,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            base_images: 3,
            components_per_base_image: 150,
            update_percent: 50,
            addons: 2,
            components_per_addon: 5,
            vibs_per_component: (1, 3),
            payload_bytes: (256, 4096),
            image_profiles: true,
            boot_modules: false,
            real_esxi_payloads: false,
            hardware_support: 0,
            vendor_name: "VMware".into(),
            vendor_code: "vmw".into(),
            acceptance: crate::model::AcceptanceLevel::Community,
            signer: None,
            timestamp: "2024-06-25T07:22:11.326293".into(),
        }
    }
}

impl GeneratorConfig {
    /// An installer preset: a tiny depot whose base images carry the real ESXi 8.0 U3 VIB
    /// and payload names ([`Self::real_esxi_payloads`]).
    pub fn installer_8_0_u3(seed: u64) -> Self {
        Self { boot_modules: true, real_esxi_payloads: true, ..Self::tiny(seed) }
    }

    /// A few dozen VIBs: fast enough for unit tests, still with every feature.
    pub fn tiny(seed: u64) -> Self {
        Self {
            seed,
            base_images: 3,
            components_per_base_image: 12,
            addons: 1,
            components_per_addon: 2,
            vibs_per_component: (1, 2),
            payload_bytes: (64, 512),
            ..Self::default()
        }
    }

    /// About 5,000 components and 20,000 VIBs, for benchmarks.
    pub fn benchmark(seed: u64) -> Self {
        Self {
            seed,
            base_images: 10,
            components_per_base_image: 520,
            update_percent: 90,
            addons: 10,
            components_per_addon: 20,
            vibs_per_component: (3, 5),
            payload_bytes: (256, 1024),
            ..Self::default()
        }
    }

    /// Reject configs that would produce something meaningless, rather than guess.
    pub fn validate(&self) -> Result<(), GenerateError> {
        let bad = |field, reason: &str| Err(GenerateError::Config { field, reason: reason.to_owned() });
        let (vmin, vmax) = self.vibs_per_component;
        if vmin == 0 || vmin > vmax {
            return bad("vibs_per_component", "needs 1 <= min <= max (a component holds at least one VIB)");
        }
        if vmax > 64 {
            return bad("vibs_per_component", "at most 64 VIBs per component");
        }
        let (pmin, pmax) = self.payload_bytes;
        if pmin > pmax || pmax > 64 << 20 {
            return bad("payload_bytes", "needs min <= max <= 64 MiB");
        }
        if self.update_percent > 100 {
            return bad("update_percent", "is a percentage (0-100)");
        }
        if self.base_images > 0 && self.components_per_base_image == 0 {
            return bad("components_per_base_image", "a base image holds at least the ESXi component");
        }
        // Caps that keep every generated version within VMware's 35 characters.
        if self.base_images > 64 {
            return bad("base_images", "at most 64 releases");
        }
        if self.addons > 64 {
            return bad("addons", "at most 64 add-ons");
        }
        if self.hardware_support > 64 {
            return bad("hardware_support", "at most 64 hardware support packages");
        }
        if self.hardware_support > 0 && self.base_images == 0 {
            return bad("hardware_support", "hardware support packages need a base image to support");
        }
        if self.components_per_addon > 999 {
            return bad("components_per_addon", "at most 999");
        }
        Ok(())
    }
}

/// What signs a generated VIB: given the exact `descriptor.xml` bytes, the `sig.pkcs7`
/// member's bytes (a detached CMS SignedData over them, PEM or DER).
///
/// It must be deterministic, the same descriptor always giving the same bytes: each VIB is
/// built twice, once for the size and checksum the metadata declares and again when it is
/// written. (A fixed signing time and a deterministic algorithm such as Ed25519 do it.)
/// Two signers are equal only when they are clones of one another.
#[derive(Clone)]
pub struct VibSigner(Arc<SignFn>);

/// Descriptor bytes in, `sig.pkcs7` bytes out.
type SignFn = dyn Fn(&[u8]) -> Vec<u8> + Send + Sync;

impl VibSigner {
    pub fn new(sign: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static) -> Self {
        Self(Arc::new(sign))
    }

    /// The `sig.pkcs7` bytes for these `descriptor.xml` bytes.
    pub fn sign(&self, descriptor: &[u8]) -> Vec<u8> {
        (self.0)(descriptor)
    }
}

impl std::fmt::Debug for VibSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VibSigner(..)")
    }
}

impl PartialEq for VibSigner {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for VibSigner {}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    #[error("invalid generator config: {field} {reason}")]
    Config { field: &'static str, reason: String },
    #[error("generated version '{text}' is invalid: {source}")]
    Version {
        text: String,
        #[source]
        source: VersionError,
    },
    #[error("generated version breaks VMware's authoring rules: {lint}")]
    VersionLint { lint: VersionLint },
    #[error("building VIB {vib_id}: {source}")]
    Vib {
        vib_id: String,
        #[source]
        source: ArError,
    },
    #[error("building the payload of VIB {vib_id}: {source}")]
    Payload {
        vib_id: String,
        #[source]
        source: io::Error,
    },
    #[error("generated {what} does not read back: {source}")]
    Model {
        what: String,
        #[source]
        source: ModelError,
    },
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// A generated depot: its content, and the means to rebuild any of its VIB files.
/// The content is read-only here (clone it to alter it), so the VIB index stays valid.
#[derive(Debug, Clone)]
pub struct GeneratedDepot {
    content: DepotContent,
    seed: u64,
    payload_bytes: (usize, usize),
    signer: Option<VibSigner>,
    real_esxi_payloads: bool,
    by_id: HashMap<String, usize>,
}

impl GeneratedDepot {
    /// What to hand to a writer, with this depot as its [`VibSource`].
    pub fn content(&self) -> &DepotContent {
        &self.content
    }

    pub fn into_content(self) -> DepotContent {
        self.content
    }

    /// The bytes of the generated VIB with this ID (rebuilt from the seed).
    pub fn vib_bytes(&self, vib_id: &str) -> Result<Vec<u8>, WriteError> {
        let vib = self
            .by_id
            .get(vib_id)
            .and_then(|&i| self.content.vibs.get(i))
            .ok_or_else(|| WriteError::from_source(vib_id, "not a VIB of this generated depot".to_owned()))?;
        let (gz, _) = vibfile::payload_bytes(self.seed, vib, self.payload_bytes)
            .map_err(|e| WriteError::from_source(vib_id, e))?;
        let mut stored = Vec::with_capacity(vib.payloads.len());
        // The real-name preset's VIBs: every payload is seeded filler, like a `boot` one.
        let real = self.real_esxi_payloads && names::REAL_8_0_U3.iter().any(|(name, _)| *name == vib.name);
        for p in &vib.payloads {
            if real || p.payload_type == "boot" {
                let boot = vibfile::boot_payload_bytes(self.seed, vib_id, &p.name, self.payload_bytes)
                    .map_err(|e| WriteError::from_source(vib_id, e))?;
                stored.push(boot);
            } else {
                stored.push(gz.clone());
            }
        }
        let parts: Vec<&[u8]> = stored.iter().map(Vec::as_slice).collect();
        vibfile::vib_file(vib, &parts, self.signer.as_ref()).map_err(|e| WriteError::from_source(vib_id, e))
    }
}

impl VibSource for GeneratedDepot {
    /// Rebuilds the VIB generated under this ID; the metadata passed in only selects it,
    /// so a caller that altered it still gets the original bytes (and the writer's
    /// location check reports the difference).
    fn open_vib(&self, vib: &Vib) -> Result<Box<dyn Read + '_>, WriteError> {
        Ok(Box::new(Cursor::new(self.vib_bytes(&vib.id())?)))
    }
}

/// Generate a depot. Same config, same depot, byte for byte.
pub fn generate(config: &GeneratorConfig) -> Result<GeneratedDepot, GenerateError> {
    config.validate()?;
    let content = build::build(config)?;
    let by_id = content.vibs.iter().enumerate().map(|(i, v)| (v.id(), i)).collect();
    Ok(GeneratedDepot {
        content,
        seed: config.seed,
        payload_bytes: config.payload_bytes,
        signer: config.signer.clone(),
        real_esxi_payloads: config.real_esxi_payloads,
        by_id,
    })
}

/// Generate and write an offline bundle at `path` (refusing to replace an existing file;
/// use [`write_bundle`] directly to overwrite).
pub fn generate_to_bundle(config: &GeneratorConfig, path: &Path) -> Result<Written, GenerateError> {
    let depot = generate(config)?;
    Ok(write_bundle(&depot.content, &depot, path, false)?)
}

/// Generate and write an online depot tree at `dir` (refusing to replace an existing
/// one; use [`write_tree`] directly to overwrite).
pub fn generate_to_tree(config: &GeneratorConfig, dir: &Path) -> Result<Written, GenerateError> {
    let depot = generate(config)?;
    Ok(write_tree(&depot.content, &depot, dir, false)?)
}

#[cfg(test)]
mod tests;
