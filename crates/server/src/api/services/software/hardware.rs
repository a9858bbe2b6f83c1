//! Hardware support packages (HSPs) in images, and the managers and packages the depots
//! offer (`esx.settings.hardware_support.managers…`).
//!
//! What the depots offer comes from their manifests (`hardwareSupportInfo`: manager,
//! package, version; depot-format §2.6): a package is known when a manifest names it. An
//! image names at most one package per manager (`hardware_support.packages`, manager →
//! package and version); the solver adds the manifest's components when it resolves the
//! image and checks that the package supports the base image. esxlcm runs no hardware
//! support manager, so firmware is neither inventoried nor updated: only the packages'
//! components reach hosts.

use std::collections::{BTreeMap, BTreeSet};

use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::model::{ReleaseKind, ReleaseUnit};
use esxlcm_solver::spec::{HardwareSupportPackage, HardwareSupportSpec};
use serde::Deserialize;
use serde_json::{Value, json};

use super::drafts::{draft_spec_of, edit_spec};
use super::image::committed_of;
use crate::api::errors::{ApiError, ErrorKind};
use crate::api::handler::{Ctx, HandlerFuture, Out};
use crate::api::services::depot_content::{removed_components, unit_components};
use crate::api::services::image_wire;

/// A manifest's hardware support triple, when it has one.
fn hsp(u: &ReleaseUnit) -> Option<(&str, &str, &str)> {
    u.hardware_support.as_ref().map(|(m, p, v)| (m.as_str(), p.as_str(), v.as_str()))
}

/// The manifests of the depots that name a hardware support package, in catalog order.
fn manifests(catalog: &Catalog) -> impl Iterator<Item = (&ReleaseUnit, (&str, &str, &str))> {
    catalog.release_units(ReleaseKind::Manifest).filter_map(|u| hsp(u).map(|t| (u, t)))
}

/// manager → package → versions, as the depots' manifests name them.
type Offer<'a> = BTreeMap<&'a str, BTreeMap<&'a str, BTreeSet<&'a str>>>;

fn offer(catalog: &Catalog) -> Offer<'_> {
    let mut out: Offer<'_> = BTreeMap::new();
    for (_, (m, p, v)) in manifests(catalog) {
        out.entry(m).or_default().entry(p).or_default().insert(v);
    }
    out
}

fn listing<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let all: Vec<&str> = items.into_iter().collect();
    if all.is_empty() { "none".to_owned() } else { all.join(", ") }
}

#[derive(Deserialize)]
struct PackageIn {
    pkg: Option<String>,
    version: Option<String>,
}

#[derive(Deserialize)]
struct SpecIn {
    #[serde(default)]
    packages: BTreeMap<String, PackageIn>,
}

/// The `hardware_support_spec` a caller sent, checked against the depots' manifests. A
/// manager with neither package nor version is left out of the image.
fn checked_spec(catalog: &Catalog, spec: SpecIn) -> Result<Option<HardwareSupportSpec>, ApiError> {
    let offer = offer(catalog);
    let mut packages = BTreeMap::new();
    for (manager, p) in spec.packages {
        let (pkg, version) = match (p.pkg, p.version) {
            (None, None) => continue,
            (Some(pkg), Some(version)) => (pkg, version),
            (None, Some(_)) => {
                return Err(ApiError::invalid_argument(format!(
                    "hardware support manager '{manager}': a version without a package; name the package (pkg)"
                )));
            }
            (Some(pkg), None) => {
                let versions = offer.get(manager.as_str()).and_then(|m| m.get(pkg.as_str()));
                return Err(ApiError::invalid_argument(format!(
                    "hardware support package '{pkg}' of '{manager}' needs a version; the depots have: {}",
                    listing(versions.into_iter().flatten().copied())
                )));
            }
        };
        let Some(pkgs) = offer.get(manager.as_str()) else {
            return Err(ApiError::invalid_argument(format!(
                "no depot has hardware support manager '{manager}'; the depots have managers: {} (add the \
                 vendor's depot with its hardware support packages)",
                listing(offer.keys().copied())
            )));
        };
        let Some(versions) = pkgs.get(pkg.as_str()) else {
            return Err(ApiError::invalid_argument(format!(
                "hardware support manager '{manager}' has no package '{pkg}' in the depots; its packages: {}",
                listing(pkgs.keys().copied())
            )));
        };
        if !versions.contains(version.as_str()) {
            return Err(ApiError::invalid_argument(format!(
                "hardware support package '{pkg}' of '{manager}' has no version '{version}' in the depots; its \
                 versions: {}",
                listing(versions.iter().copied())
            )));
        }
        packages.insert(manager, HardwareSupportPackage { pkg, version, unknown: Default::default() });
    }
    Ok((!packages.is_empty()).then(|| HardwareSupportSpec { packages, unknown: Default::default() }))
}

/// `clusters.software.hardware_support.get` (and of an alternative image): what the
/// committed image names; no packages when it names none.
pub fn get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec = committed_of(&ctx).await?;
        Ok(Out::Plain(image_wire::hardware_support_info(&spec.image)))
    })
}

/// `…drafts…hardware_support.get`.
pub fn draft_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec = draft_spec_of(&ctx).await?;
        Ok(Out::Plain(image_wire::hardware_support_info(&spec.image)))
    })
}

/// `…drafts…hardware_support.set`: the packages the draft's image uses (all of them: the
/// spec replaces what was set), each checked against the depots' manifests.
pub fn draft_set(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let input: SpecIn = ctx.input("spec")?;
        edit_spec(&ctx, |image, catalog| {
            image.hardware_support = checked_spec(catalog, input)?;
            Ok(())
        })
        .await
    })
}

/// `…drafts…hardware_support.delete`: the image uses no hardware support package.
pub fn draft_delete(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        edit_spec(&ctx, |image, _| match image.hardware_support.take() {
            Some(h) if !h.packages.is_empty() => Ok(()),
            _ => Err(ApiError::new(
                ErrorKind::NotFound,
                "com.esxlcm.draft.no_hardware_support",
                "the draft's image has no hardware support package",
            )),
        })
        .await
    })
}

/// `hardware_support.managers.list`: every manager a manifest names. esxlcm knows a
/// manager only by name, so the name is also its display name; the vendor is its newest
/// manifest's.
pub fn managers_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let catalog = ctx.state.depots.catalog().await?;
        let mut by_manager: BTreeMap<&str, (&ReleaseUnit, BTreeSet<&str>)> = BTreeMap::new();
        for (u, (m, p, _)) in manifests(&catalog) {
            let entry = by_manager.entry(m).or_insert_with(|| (u, BTreeSet::new()));
            if u.version > entry.0.version {
                entry.0 = u;
            }
            entry.1.insert(p);
        }
        let list: Vec<Value> = by_manager
            .into_iter()
            .map(|(m, (u, pkgs))| {
                json!({
                    "manager": m,
                    "display_name": m,
                    "vendor": u.vendor,
                    "description": format!("Hardware support manager of the packages {}", listing(pkgs)),
                })
            })
            .collect();
        Ok(Out::Plain(Value::Array(list)))
    })
}

#[derive(Deserialize, Default)]
struct Filter {
    base_image_version: Option<String>,
}

fn description(u: &ReleaseUnit) -> String {
    if u.description.is_empty() { u.summary.clone() } else { u.description.clone() }
}

fn no_manager(manager: &str) -> ApiError {
    ApiError::new(
        ErrorKind::NotFound,
        "com.esxlcm.hardware_support.no_manager",
        format!("no depot has hardware support manager '{manager}'"),
    )
}

/// `hardware_support.managers.packages.list`: every (package, version) of a manager,
/// only those supporting `filter.base_image_version` when it is given.
pub fn packages_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let manager: String = ctx.input("manager")?;
        let filter: Option<Filter> = ctx.input("filter")?;
        let base = filter.unwrap_or_default().base_image_version;
        let catalog = ctx.state.depots.catalog().await?;
        let mut seen = BTreeSet::new();
        let mut list = Vec::new();
        let mut known = false;
        for (u, (m, p, v)) in manifests(&catalog) {
            if m != manager {
                continue;
            }
            known = true;
            if base.as_deref().is_some_and(|b| !u.supports_base_image(b)) || !seen.insert((p, v)) {
                continue;
            }
            list.push(json!({
                "pkg": p, "version": v, "description": description(u),
                "supported_releases": u.supported_base_images,
            }));
        }
        if !known {
            return Err(no_manager(&manager));
        }
        Ok(Out::Plain(Value::Array(list)))
    })
}

/// `hardware_support.managers.packages.versions.get`: one package version with its
/// components and the components it removes.
pub fn versions_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let manager: String = ctx.input("manager")?;
        let pkg: String = ctx.input("pkg")?;
        let version: String = ctx.input("version")?;
        let filter: Option<Filter> = ctx.input("filter")?;
        let catalog = ctx.state.depots.catalog().await?;
        if !manifests(&catalog).any(|(_, (m, _, _))| m == manager) {
            return Err(no_manager(&manager));
        }
        let u = manifests(&catalog)
            .find(|(_, t)| *t == (manager.as_str(), pkg.as_str(), version.as_str()))
            .map(|(u, _)| u)
            .ok_or_else(|| ApiError::not_found("hardware support package", &format!("{pkg} {version} of {manager}")))?;
        if let Some(base) = filter.unwrap_or_default().base_image_version
            && !u.supports_base_image(&base)
        {
            return Err(ApiError::invalid_argument(format!(
                "hardware support package '{pkg}' {version} does not support base image {base}; it supports {}",
                listing(u.supported_base_images.iter().map(String::as_str))
            )));
        }
        Ok(Out::Plain(json!({
            "pkg": pkg, "version": version, "description": description(u),
            "supported_releases": u.supported_base_images,
            "components": unit_components(&catalog, u),
            "removed_components": removed_components(&catalog, u),
        })))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use esxlcm_depot::generate::{GeneratorConfig, generate_to_tree};
    use esxlcm_depot::source::{Depot, OpenOptions};

    use super::*;

    fn catalog(hsps: usize) -> Catalog {
        let dir = tempfile::tempdir().unwrap();
        let config = GeneratorConfig { hardware_support: hsps, ..GeneratorConfig::tiny(4) };
        let tree = dir.path().join("depot");
        generate_to_tree(&config, &tree).unwrap();
        Catalog::from_depots([Depot::open_path(&tree, &OpenOptions::default()).unwrap()]).unwrap()
    }

    fn spec(v: Value) -> SpecIn {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn packages_are_checked_against_the_manifests() {
        let c = catalog(2);
        let ok = checked_spec(&c, spec(json!({"packages": {"del-hsm": {"pkg": "del-hsp", "version": "2.0.0"}}})));
        let ok = ok.unwrap().unwrap();
        assert_eq!(ok.packages["del-hsm"].pkg, "del-hsp");
        assert_eq!(ok.packages["del-hsm"].version, "2.0.0");
        // Managers without a package are left out; nothing left is no hardware support.
        assert!(checked_spec(&c, spec(json!({"packages": {"del-hsm": {}}}))).unwrap().is_none());
        let cases = [
            (json!({"x-hsm": {"pkg": "del-hsp", "version": "2.0.0"}}), "managers: del-hsm"),
            (json!({"del-hsm": {"pkg": "nope", "version": "2.0.0"}}), "its packages: del-hsp"),
            (json!({"del-hsm": {"pkg": "del-hsp", "version": "9.9"}}), "its versions: 1.0.0, 2.0.0"),
            (json!({"del-hsm": {"pkg": "del-hsp"}}), "needs a version; the depots have: 1.0.0, 2.0.0"),
            (json!({"del-hsm": {"version": "1.0.0"}}), "name the package"),
        ];
        for (packages, wanted) in cases {
            let e = checked_spec(&c, spec(json!({"packages": packages}))).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidArgument);
            assert!(e.to_string().contains(wanted), "{e} (wanted '{wanted}')");
        }
        // A catalog without manifests says there are none.
        let e = checked_spec(&catalog(0), spec(json!({"packages": {"del-hsm": {"pkg": "p", "version": "1"}}})));
        assert!(e.unwrap_err().to_string().contains("managers: none"));
    }
}
