//! Everything that can stop a build, each naming what it was working on (the VIB, the
//! payload, the file).

use std::io;
use std::path::PathBuf;

use esxlcm_depot::model::ModelError;
use esxlcm_depot::source::SourceError;
use esxlcm_depot::vib::ArError;
use esxlcm_depot::write::WriteError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    #[error("the image does not resolve ({} error(s)); nothing is built:\n{}", errors.len(), errors.join("\n"))]
    Unresolved { errors: Vec<String> },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} already exists; refusing to replace it without the overwrite flag", path.display())]
    Exists { path: PathBuf },
    #[error("writing the offline bundle: {0}")]
    Bundle(Box<WriteError>),
    #[error(
        "the image has no kernel: {reason}; an installer ISO boots the base image's first payload of type \
         'boot' (b.b00)"
    )]
    NoKernel { reason: String },
    #[error(
        "no bootloader: an installer ISO needs ISOLINUX.BIN and MBOOT.C32 (BIOS) and/or EFIBOOT.IMG or \
         BOOTX64.EFI (UEFI); give them with --bootloader-iso, --bootloader-dir or the \
         --isolinux/--mboot/--efiboot/--bootx64 options"
    )]
    NoBootloader,
    #[error("bootloader: {what}")]
    Bootloader { what: String },
    #[error("EFI boot image from {}: {source}", path.display())]
    EfiImage {
        path: PathBuf,
        #[source]
        source: crate::efiboot::EfiImageError,
    },
    #[error("kickstart {}: {}", path.display(), problems.join("; "))]
    Kickstart { path: PathBuf, problems: Vec<String> },
    #[error("boot options: {what}")]
    BootOptions { what: String },
    #[error("VIB {vib_id}, payload '{payload}': more than 100 boot modules would be named '{stem}.*'")]
    ModuleNames { vib_id: String, payload: String, stem: String },
    #[error("VIB {vib_id}: cannot open it: {source}")]
    VibOpen {
        vib_id: String,
        #[source]
        source: Box<SourceError>,
    },
    #[error("VIB {vib_id}: reading its ar archive: {source}")]
    VibArchive {
        vib_id: String,
        #[source]
        source: ArError,
    },
    #[error("VIB {vib_id}: {what}")]
    VibContent { vib_id: String, what: String },
    #[error("VIB {vib_id}, payload '{payload}': {what}")]
    Payload { vib_id: String, payload: String, what: String },
    #[error("VIB {vib_id}, payload '{payload}': staging it to {}: {source}", path.display())]
    Stage {
        vib_id: String,
        payload: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the generated {what} does not read back: {source}")]
    Model {
        what: &'static str,
        #[source]
        source: ModelError,
    },
    #[error("building {what}: {source}")]
    Archive {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("writing the ISO {}: {source}", path.display())]
    Iso {
        path: PathBuf,
        #[source]
        source: Box<esxlcm_iso::IsoError>,
    },
}

impl BuildError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
}
