//! The image lifecycle, shared by every owner of an image (`owner`): a cluster
//! (`esx.settings.clusters.software`), a standalone host (`esx.settings.hosts.software`)
//! and the image library (`esx.settings.repository.software`, `library`). An owner's
//! desired image is its latest commit; it changes only through a draft, edited by one
//! user, validated with esxlcm_solver and committed (refused when another commit landed
//! since the draft began). Scans check hosts' posted states (`image`); `export` builds an
//! image with esxlcm_builder into files served at `/api/esxlcm/exports/…`. `hardware`:
//! hardware support packages in images and the managers' catalogue from the depots'
//! manifests; `solutions`: solution changes committed directly, as vLCM does.

pub mod alternatives;
pub mod drafts;
pub mod export;
pub mod hardware;
pub mod image;
pub mod library;
pub mod owner;
pub mod solutions;

pub use drafts::*;
pub use export::export;
pub use image::*;
