//! `export` of an image (a cluster's, a standalone host's or a library spec): built with
//! esxlcm_builder in a staging directory of the store's, kept as the store's shared files
//! `export/<uuid>/<file>` and handed out as download URLs served at `/api/esxlcm/exports/…`
//! by any replica.

use esxlcm_depot::write::DepotContent;
use esxlcm_solver::SoftwareSpec;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::image::{committed, image_as_spec, resolve};
use super::owner::Owner;
use crate::api::errors::{ApiError, ErrorKind};
use crate::api::handler::{Ctx, HandlerFuture, Out};

#[derive(Deserialize)]
struct ExportSpec {
    export_software_spec: bool,
    export_iso_image: bool,
    export_offline_bundle: bool,
    /// Clusters and library specs: unset or false exports the alternative images too
    /// (in the spec, and their content in the offline bundle).
    #[serde(default)]
    export_only_default_image: Option<bool>,
}

/// One offline bundle holding several images' content: each release unit, component and
/// VIB once, and each image's profile (named apart).
fn merged_content(images: &[esxlcm_builder::Image<'_>]) -> Option<DepotContent> {
    let (first, rest) = images.split_first()?;
    let mut out = first.content().clone();
    for image in rest {
        let c = image.content();
        for p in &c.platforms {
            if !out.platforms.contains(p) {
                out.platforms.push(p.clone());
            }
        }
        for b in &c.bulletins {
            if !out.bulletins.iter().any(|x| x.id == b.id) {
                out.bulletins.push(b.clone());
            }
        }
        for v in &c.vibs {
            if !out.vibs.iter().any(|x| x.id() == v.id()) {
                out.vibs.push(v.clone());
            }
        }
        for u in &c.release_units {
            if !out.release_units.iter().any(|x| x.release_id == u.release_id) {
                out.release_units.push(u.clone());
            }
        }
        for p in &c.profiles {
            if !out.profiles.iter().any(|x| x.name == p.name) {
                out.profiles.push(p.clone());
            }
        }
    }
    Some(out)
}

/// Exports kept: older ones are removed when a new one is made.
const KEEP_EXPORTS: usize = 20;

/// Export files: `export/<uuid>/<name>` in the store's shared files, served by any replica.
pub const EXPORT_FILES: [&str; 3] = ["software-spec.json", "offline-bundle.zip", "image.iso"];

/// The shared file (`esxlcm_store::shared_file`) of file `file` of export `id`.
pub fn export_key(id: &str, file: &str) -> String {
    format!("export/{id}/{file}")
}

/// Remove all but the newest [`KEEP_EXPORTS`] exports (best effort: a failure only leaves
/// their bytes to `mirror gc`).
fn prune_exports(store: &esxlcm_store::Store) -> Result<(), esxlcm_store::StoreError> {
    let files = store.shared_files("export/")?;
    let export_of = |key: &str| key.split('/').nth(1).unwrap_or_default().to_owned();
    // Each export's newest file, then the exports newest first.
    let mut newest: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    for (key, record) in &files {
        let at = newest.entry(export_of(key)).or_insert(record.created);
        *at = (*at).max(record.created);
    }
    let mut exports: Vec<(i64, String)> = newest.into_iter().map(|(id, at)| (at, id)).collect();
    exports.sort_by(|a, b| b.cmp(a));
    let old: std::collections::HashSet<String> = exports.into_iter().skip(KEEP_EXPORTS).map(|(_, id)| id).collect();
    let keys: Vec<String> = files.into_iter().map(|(key, _)| key).filter(|key| old.contains(&export_of(key))).collect();
    if keys.is_empty() {
        return Ok(());
    }
    store.unshare_files(&keys)
}

fn build_error(e: &esxlcm_builder::BuildError) -> ApiError {
    ApiError::new(ErrorKind::Error, "com.esxlcm.export.failed", format!("building the image failed: {e}"))
}

/// `clusters.software.export`, `hosts.software.export`: the committed image (or one of
/// its alternative images: `clusters.software.alternative_images.software.export`).
pub fn export(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let owner = Owner::of(&ctx)?;
        let image: Option<String> = ctx.input("image")?;
        let (_, spec) = committed(&*ctx.state.depots.snapshot().await, &owner)?;
        let what = match &image {
            Some(id) => format!("alternative image '{id}' of {owner}"),
            None => owner.to_string(),
        };
        export_spec(&ctx, &what, image_as_spec(&spec, image.as_deref())?).await
    })
}

/// Build `spec` as the call's `spec` input asks; answers `map<export_type, uri>`.
pub async fn export_spec(ctx: &Ctx, what: &str, spec: SoftwareSpec) -> Result<Out, ApiError> {
    let spec_in: ExportSpec = ctx.input("spec")?;
    if !(spec_in.export_software_spec || spec_in.export_iso_image || spec_in.export_offline_bundle) {
        return Err(ApiError::invalid_argument(
            "nothing to export: set export_software_spec, export_offline_bundle or export_iso_image",
        ));
    }
    let origin = ctx
        .origin
        .clone()
        .ok_or_else(|| ApiError::invalid_argument("the request names no host, so no download URL can be made"))?;
    let bootloader = match (spec_in.export_iso_image, &ctx.state.bootloader_dir) {
        (false, _) => None,
        (true, None) => {
            return Err(ApiError::new(
                ErrorKind::Unsupported,
                "com.esxlcm.export.iso_unconfigured",
                "exporting an ISO needs the ESXi bootloader files (ISOLINUX.BIN, MBOOT.C32, EFIBOOT.IMG, \
                 BOOTX64.EFI): set \"bootloader_dir\" in the data dir's config.json to a directory holding them \
                 and restart the server",
            ));
        }
        (true, Some(dir)) => Some(dir.clone()),
    };
    // The default (main) image alone, or with its alternative images.
    let mut spec = spec;
    if spec_in.export_only_default_image == Some(true) {
        spec.alternative_images.clear();
    }
    let (catalog, r) = resolve(&ctx.state, spec.clone()).await?;
    let id = crate::api::tasks::uuid_v4().map_err(|e| ApiError::internal(e.to_string()))?;
    // Built in a staging directory of the store's, then kept as shared files: whichever
    // replica the download reaches serves it.
    let staging = ctx.state.depots.staging_dir(".export-")?;
    let out_dir = staging.path().to_path_buf();
    let flags = (spec_in.export_software_spec, spec_in.export_offline_bundle);
    let built = tokio::task::spawn_blocking(move || -> Result<Vec<(&'static str, &'static str)>, ApiError> {
        let invalid = |what: &str, e: esxlcm_builder::BuildError| {
            ApiError::new(ErrorKind::NotAllowedInCurrentState, "com.esxlcm.image.invalid", format!("{what}{e}"))
        };
        let image = esxlcm_builder::Image::new(&catalog, &spec, &r.main, &esxlcm_builder::ImageOptions::default())
            .map_err(|e| invalid("", e))?;
        // Each alternative image as a spec of its own, its profile named after it.
        let alternatives: Vec<(String, SoftwareSpec, String)> = spec
            .alternative_images
            .iter()
            .map(|(alt_id, a)| {
                let name = format!(
                    "ESXi-{}-custom-{alt_id}",
                    r.alternatives.get(alt_id).map_or_else(String::new, |x| x.resolution.image.base_image.to_string())
                );
                (alt_id.clone(), SoftwareSpec { image: a.image.clone(), ..SoftwareSpec::default() }, name)
            })
            .collect();
        let mut images = vec![image];
        // Their content goes into the offline bundle; the spec names them anyway, and an
        // installer ISO holds one image: the default one.
        for (alt_id, alt_spec, profile_name) in alternatives.iter().filter(|_| flags.1) {
            let resolution = r
                .alternatives
                .get(alt_id)
                .map(|a| &a.resolution)
                .ok_or_else(|| ApiError::internal(format!("alternative image '{alt_id}' was not resolved")))?;
            let options =
                esxlcm_builder::ImageOptions { profile_name: Some(profile_name.clone()), ..Default::default() };
            let alt = esxlcm_builder::Image::new(&catalog, alt_spec, resolution, &options)
                .map_err(|e| invalid(&format!("alternative image '{alt_id}': "), e))?;
            images.push(alt);
        }
        std::fs::create_dir_all(&out_dir).map_err(|e| ApiError::internal(format!("{}: {e}", out_dir.display())))?;
        let mut progress = esxlcm_builder::NoProgress;
        let mut made = Vec::new();
        let image = &images[0];
        if flags.0 {
            image.write_json(&out_dir.join(EXPORT_FILES[0]), true, &mut progress).map_err(|e| build_error(&e))?;
            made.push(("SOFTWARE_SPEC", EXPORT_FILES[0]));
        }
        if flags.1 {
            let dest = out_dir.join(EXPORT_FILES[1]);
            if images.len() == 1 {
                image.write_bundle(&dest, true, &mut progress).map_err(|e| build_error(&e))?;
            } else {
                let content = merged_content(&images).ok_or_else(|| ApiError::internal("no image to export"))?;
                esxlcm_depot::write::write_bundle(&content, &*catalog, &dest, true).map_err(|e| {
                    ApiError::new(
                        ErrorKind::Error,
                        "com.esxlcm.export.failed",
                        format!("writing the offline bundle failed: {e}"),
                    )
                })?;
            }
            made.push(("OFFLINE_BUNDLE", EXPORT_FILES[1]));
        }
        if let Some(bdir) = bootloader {
            let bootloader = esxlcm_builder::Bootloader::from_dir(&bdir).map_err(|e| build_error(&e))?;
            let options = esxlcm_builder::IsoOptions { bootloader, ..Default::default() };
            image
                .write_iso(&out_dir.join(EXPORT_FILES[2]), true, &options, &mut progress)
                .map_err(|e| build_error(&e))?;
            made.push(("ISO_IMAGE", EXPORT_FILES[2]));
        }
        Ok(made)
    })
    .await
    .map_err(|e| ApiError::internal(format!("building the image: {e}")))?;
    // Nothing half-built stays behind: the staging directory goes when dropped.
    let made = built?;
    let (export_id, files) = (id.clone(), made.iter().map(|(_, f)| *f).collect::<Vec<_>>());
    ctx.state
        .depots
        .blocking(move |store| {
            for file in files {
                store.share_file(&export_key(&export_id, file), &staging.path().join(file))?;
            }
            if let Err(e) = prune_exports(store) {
                tracing::warn!("could not remove old exports: {e}");
            }
            Ok(())
        })
        .await
        .map_err(crate::api::services::depots::store_error)?;
    tracing::info!(image = %what, export = %id, user = %ctx.caller.user, "image exported");
    let map: Map<String, Value> = made
        .into_iter()
        .map(|(kind, file)| {
            (kind.to_owned(), Value::String(format!("https://{origin}/api/esxlcm/exports/{id}/{file}")))
        })
        .collect();
    Ok(Out::Plain(Value::Object(map)))
}
