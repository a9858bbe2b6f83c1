//! `esx.settings.depot_content.*`: base images, add-ons and components of all offline
//! depots, merged into one catalog (the view vLCM offers when composing an image).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::model::{Bulletin, ReleaseKind, ReleaseUnit};
use esxlcm_version::Version;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::errors::ApiError;
use crate::api::handler::{Ctx, HandlerFuture, Out};
use crate::api::typed::{format_datetime, is_valid_uri};

const RELEASE_CATEGORIES: &[&str] = &["BUGFIX", "ENHANCEMENT", "SECURITY"];
const COMPONENT_CATEGORIES: &[&str] =
    &["BUGFIX", "ENHANCEMENT", "GENERAL", "INFO", "MISC", "RECALL", "RECALL_FIX", "SECURITY"];
const URGENCIES: &[&str] = &["CRITICAL", "GENERAL", "IMPORTANT", "LOW", "MODERATE"];

/// Depot metadata spells enums loosely (`bugfix`, `Enhancement`, `recallfix`); the API has
/// fixed upper-case values. Unknown spellings map to `fallback`.
fn api_enum(text: &str, allowed: &[&str], fallback: &str) -> String {
    let upper = text.trim().to_ascii_uppercase().replace([' ', '-'], "_");
    let upper = if upper == "RECALLFIX" { "RECALL_FIX".to_owned() } else { upper };
    if allowed.contains(&upper.as_str()) { upper } else { fallback.to_owned() }
}

/// Release dates come with an offset, without one (UTC is meant) or as a bare date. One
/// that cannot be read is reported as the epoch rather than failing the whole listing.
pub(crate) fn release_date(text: &str) -> String {
    let t = text.trim();
    let parsed = DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|n| n.and_utc()))
        .or_else(|| {
            NaiveDate::parse_from_str(t.get(..10).unwrap_or(t), "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|n| n.and_utc())
        });
    format_datetime(parsed.unwrap_or(DateTime::<Utc>::UNIX_EPOCH))
}

/// `kb` is a `uri`; a malformed link in metadata must not break the whole listing.
fn kb_uri(text: &str) -> String {
    if is_valid_uri(text.trim()) { text.trim().to_owned() } else { String::new() }
}

fn parse_min_version(min: Option<&str>) -> Result<Option<Version>, ApiError> {
    min.map(|m| Version::parse(m).map_err(|e| ApiError::invalid_argument(format!("min_version '{m}': {e}"))))
        .transpose()
}

fn base_display_name(u: &ReleaseUnit) -> String {
    u.ui_name.clone().unwrap_or_else(|| "ESXi".to_owned())
}

// ---- base images ----

#[derive(Deserialize, Default)]
struct BaseImageFilter {
    min_version: Option<String>,
}

fn base_images(catalog: &Catalog) -> Vec<&ReleaseUnit> {
    let mut units: Vec<&ReleaseUnit> = catalog.release_units(ReleaseKind::BaseImage).collect();
    units.sort_by(|a, b| a.version.cmp(&b.version));
    units
}

pub fn base_images_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let filter: BaseImageFilter = ctx.input::<Option<_>>("filter")?.unwrap_or_default();
        let min = parse_min_version(filter.min_version.as_deref())?;
        let catalog = ctx.state.depots.catalog().await?;
        let list: Vec<Value> = base_images(&catalog)
            .into_iter()
            .filter(|u| min.as_ref().is_none_or(|m| &u.version >= m))
            .map(|u| {
                release_summary(u, json!({"display_name": base_display_name(u), "version": u.version.to_string()}))
            })
            .collect();
        Ok(Out::Plain(Value::Array(list)))
    })
}

/// What every base image and add-on answer says of a release: display version, summary,
/// category, KB (none in depots) and release date — plus `extra` fields.
fn release_summary(u: &ReleaseUnit, extra: Value) -> Value {
    let mut info = json!({
        "display_version": u.ui_version,
        "summary": u.summary,
        "category": api_enum(&u.category, RELEASE_CATEGORIES, "ENHANCEMENT"),
        "kb": "",
        "release_date": release_date(&u.release_date),
    });
    if let (Some(fields), Value::Object(more)) = (info.as_object_mut(), extra) {
        fields.extend(more);
    }
    info
}

/// A release unit's `removed_components`: each name with the display name of its newest
/// version in the catalog (the name itself when no depot has it).
pub(crate) fn removed_components(catalog: &Catalog, u: &ReleaseUnit) -> Vec<Value> {
    u.removed_components
        .iter()
        .map(|n| {
            let display = catalog
                .component_versions(n)
                .last()
                .and_then(|b| b.bulletin.component.as_ref().map(|c| c.ui_name.clone()))
                .unwrap_or_else(|| n.clone());
            json!({"name": n, "display_name": display})
        })
        .collect()
}

/// `name, display_name, version, display_version` of each component of a release unit.
pub(crate) fn unit_components(catalog: &Catalog, u: &ReleaseUnit) -> Vec<Value> {
    u.components
        .iter()
        .map(|(name, version)| {
            let spec = catalog.component(name, version).and_then(|b| b.bulletin.component.clone());
            json!({
                "name": name,
                "display_name": spec.as_ref().map_or(name.as_str(), |c| c.ui_name.as_str()),
                "version": version.to_string(),
                "display_version": spec.as_ref().map_or_else(|| version.to_string(), |c| c.ui_version.clone()),
            })
        })
        .collect()
}

fn parse_version(text: &str) -> Result<Version, ApiError> {
    Version::parse(text).map_err(|e| ApiError::invalid_argument(format!("version '{text}': {e}")))
}

pub fn base_image_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let version: String = ctx.input("version")?;
        let v = parse_version(&version)?;
        let catalog = ctx.state.depots.catalog().await?;
        let u = catalog.base_image(&v).ok_or_else(|| ApiError::not_found("base image", &version))?;
        Ok(Out::Plain(release_summary(
            u,
            json!({
                "display_name": base_display_name(u),
                "version": u.version.to_string(),
                "description": u.description,
                "components": unit_components(&catalog, u),
            }),
        )))
    })
}

// ---- add-ons ----

#[derive(Deserialize, Default)]
struct AddOnFilter {
    vendors: Option<BTreeSet<String>>,
    names: Option<BTreeSet<String>>,
    versions: Option<BTreeSet<String>>,
    min_version: Option<String>,
}

pub fn add_ons_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let filter: AddOnFilter = ctx.input::<Option<_>>("filter")?.unwrap_or_default();
        let min = parse_min_version(filter.min_version.as_deref())?;
        let catalog = ctx.state.depots.catalog().await?;
        let mut by_name: BTreeMap<String, Vec<&ReleaseUnit>> = BTreeMap::new();
        for u in catalog.release_units(ReleaseKind::Addon) {
            let name = u.name.clone().unwrap_or_default();
            let keep = filter.vendors.as_ref().is_none_or(|s| s.contains(&u.vendor))
                && filter.names.as_ref().is_none_or(|s| s.contains(&name))
                && filter.versions.as_ref().is_none_or(|s| s.contains(&u.version.to_string()))
                && min.as_ref().is_none_or(|m| &u.version >= m);
            if keep {
                by_name.entry(name).or_default().push(u);
            }
        }
        let list: Vec<Value> = by_name
            .into_iter()
            .map(|(name, mut units)| {
                units.sort_by(|a, b| a.version.cmp(&b.version));
                let first = units[0];
                json!({
                    "name": name,
                    "display_name": first.ui_name.clone().unwrap_or_else(|| name.clone()),
                    "vendor": first.vendor,
                    "versions": units.iter().map(|u| release_summary(u, json!({"version": u.version.to_string()}))).collect::<Vec<_>>(),
                })
            })
            .collect();
        Ok(Out::Plain(Value::Array(list)))
    })
}

pub fn add_on_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let name: String = ctx.input("name")?;
        let version: String = ctx.input("version")?;
        let v = parse_version(&version)?;
        let catalog = ctx.state.depots.catalog().await?;
        let u = catalog.addon(&name, &v).ok_or_else(|| ApiError::not_found("add-on", &format!("{name} {version}")))?;
        Ok(Out::Plain(release_summary(
            u,
            json!({
                "display_name": u.ui_name.clone().unwrap_or_else(|| name.clone()),
                "vendor": u.vendor,
                "description": u.description,
                "components": unit_components(&catalog, u),
                "removed_components": removed_components(&catalog, u),
            }),
        )))
    })
}

// ---- components ----

#[derive(Deserialize, Default)]
struct ComponentFilter {
    vendors: Option<BTreeSet<String>>,
    names: Option<BTreeSet<String>>,
    versions: Option<BTreeSet<String>>,
    min_version: Option<String>,
    bundle_types: Option<BTreeSet<String>>,
}

/// Which release units a (component, version) belongs to: BASE_IMAGE, ADD_ON or neither
/// (INDEPENDENT).
fn bundle_types(catalog: &Catalog) -> BTreeMap<(String, Version), BTreeSet<&'static str>> {
    let mut m: BTreeMap<(String, Version), BTreeSet<&'static str>> = BTreeMap::new();
    for u in catalog.all_release_units() {
        let t = match u.kind {
            ReleaseKind::BaseImage => "BASE_IMAGE",
            ReleaseKind::Addon => "ADD_ON",
            _ => continue,
        };
        for (n, v) in &u.components {
            m.entry((n.clone(), v.clone())).or_default().insert(t);
        }
    }
    m
}

fn component_version_summary(b: &Bulletin, version: &Version, display_version: &str) -> Value {
    json!({
        "version": version.to_string(),
        "display_version": display_version,
        "summary": b.summary,
        "category": api_enum(&b.category, COMPONENT_CATEGORIES, "ENHANCEMENT"),
        "urgency": api_enum(&b.urgency, URGENCIES, "GENERAL"),
        "kb": kb_uri(&b.kb_url),
        "release_date": release_date(&b.release_date),
    })
}

pub fn components_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let filter: ComponentFilter = ctx.input::<Option<_>>("filter")?.unwrap_or_default();
        let min = parse_min_version(filter.min_version.as_deref())?;
        let catalog = ctx.state.depots.catalog().await?;
        let types = bundle_types(&catalog);
        let independent: BTreeSet<&'static str> = ["INDEPENDENT"].into_iter().collect();
        let mut by_name: BTreeMap<String, (String, String, Vec<Value>)> = BTreeMap::new();
        for cb in catalog.components() {
            let b = &cb.bulletin;
            let Some(c) = &b.component else { continue };
            let t = types.get(&(c.name.clone(), c.version.clone())).unwrap_or(&independent);
            let keep = filter.vendors.as_ref().is_none_or(|s| s.contains(&b.vendor))
                && filter.names.as_ref().is_none_or(|s| s.contains(&c.name))
                && filter.versions.as_ref().is_none_or(|s| s.contains(&c.version.to_string()))
                && min.as_ref().is_none_or(|m| &c.version >= m)
                && filter.bundle_types.as_ref().is_none_or(|s| t.iter().any(|x| s.contains(*x)));
            if !keep {
                continue;
            }
            // Versions come lowest first (the catalog keeps them in version order).
            let e = by_name.entry(c.name.clone()).or_insert_with(|| (c.ui_name.clone(), b.vendor.clone(), Vec::new()));
            e.2.push(component_version_summary(b, &c.version, &c.ui_version));
        }
        let list: Vec<Value> = by_name
            .into_iter()
            .map(|(name, (display, vendor, versions))| {
                json!({"name": name, "display_name": display, "vendor": vendor, "versions": versions})
            })
            .collect();
        Ok(Out::Plain(Value::Array(list)))
    })
}

pub fn component_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let name: String = ctx.input("name")?;
        let version: String = ctx.input("version")?;
        let v = parse_version(&version)?;
        let catalog = ctx.state.depots.catalog().await?;
        let cb = catalog
            .component(&name, &v)
            .ok_or_else(|| ApiError::not_found("component", &format!("{name} {version}")))?;
        let b = &cb.bulletin;
        let (display_name, display_version) =
            b.component.as_ref().map_or((name.clone(), version.clone()), |c| (c.ui_name.clone(), c.ui_version.clone()));
        Ok(Out::Plain(json!({
            "display_name": display_name,
            "vendor": b.vendor,
            "display_version": display_version,
            "summary": b.summary,
            "description": b.description,
            "category": api_enum(&b.category, COMPONENT_CATEGORIES, "ENHANCEMENT"),
            "urgency": api_enum(&b.urgency, URGENCIES, "GENERAL"),
            "kb": kb_uri(&b.kb_url),
            "contact": b.contact,
            "release_date": release_date(&b.release_date),
        })))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn loose_metadata_spellings_map_to_api_values() {
        assert_eq!(api_enum("bugfix", COMPONENT_CATEGORIES, "X"), "BUGFIX");
        assert_eq!(api_enum("recallfix", COMPONENT_CATEGORIES, "X"), "RECALL_FIX");
        assert_eq!(api_enum("weird", URGENCIES, "GENERAL"), "GENERAL");
        assert_eq!(release_date("2024-06-25T00:00:00"), "2024-06-25T00:00:00.000Z");
        assert_eq!(release_date("2024-06-25T02:00:00+02:00"), "2024-06-25T00:00:00.000Z");
        assert_eq!(release_date("2024-06-25"), "2024-06-25T00:00:00.000Z");
    }
}
