//! `esxlcm depot inspect SOURCE…`: what depots hold, per source and merged.
//!
//! One [`Report`] is built from the catalog and either rendered for people or written as
//! JSON (`esxlcm.inspect/1`, documented in `docs/cli-json.md`), so both always agree.

use std::collections::HashSet;
use std::io::Write;

use anyhow::Context as _;
use clap::Args;
use esxlcm_depot::catalog::{Catalog, CatalogBulletin, Filter};
use esxlcm_depot::model::{AcceptanceLevel, ReleaseKind, ReleaseUnit};
use esxlcm_depot::source::{Depot, SourceKind};
use serde::Serialize;

use super::{Context, Status};
use crate::fetch::{redact_text, redact_url_str};
use crate::output::{self, Table, count, date_only, human_size};

/// The `schema` value of the JSON output; bump the number on incompatible changes.
pub const SCHEMA: &str = "esxlcm.inspect/1";

const AFTER_HELP: &str = "\
A SOURCE is an offline bundle (.zip, also a ZIP that wraps one), a single .vib, an unpacked
depot directory, or the URL of an online depot: its index.xml / vmw-depot-index.xml, or the
directory that holds it (http://, https:// or file://). Several sources are merged into one
catalog, as esxcli and vLCM would see them together; an ID that means different content in
two sources is reported as a conflict (exit status 1).

Examples:
  esxlcm depot inspect ghettoVCB-2020_12_28-offline-bundle.zip
  esxlcm depot inspect ./depot-dir --vibs --min-acceptance partner
  esxlcm depot inspect http://127.0.0.1:8080/index.xml --json | jq '.components[].name'
  esxlcm depot inspect https://dl.broadcom.com/TOKEN/PROD/COMP/ESX_HOST/main/vmw-depot-index.xml \\
      --platform 8.0.3

The --json output is a stable object with \"schema\": \"esxlcm.inspect/1\" (docs/cli-json.md).";

#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct InspectArgs {
    /// Depots to read: bundle .zip, .vib, depot directory, or URL (see below)
    #[arg(value_name = "SOURCE", required = true)]
    pub sources: Vec<String>,

    /// Write one JSON object (schema esxlcm.inspect/1) instead of text
    #[arg(long)]
    pub json: bool,

    /// Also list every VIB with its acceptance level and size
    #[arg(long)]
    pub vibs: bool,

    /// Only entries of this vendor (case-insensitive; components by bulletin vendor)
    #[arg(long, value_name = "VENDOR")]
    pub vendor: Option<String>,

    /// Only entries at or above this acceptance level
    #[arg(long, value_name = "LEVEL", ignore_case = true, value_parser = super::common::level_parser())]
    pub min_acceptance: Option<AcceptanceLevel>,

    /// Only entries for this ESXi platform version, e.g. 8.0.3
    #[arg(long, value_name = "VERSION")]
    pub platform: Option<String>,
}

pub fn run(args: &InspectArgs, ctx: &Context) -> anyhow::Result<Status> {
    let mut catalog = Catalog::new();
    for source in &args.sources {
        let depot = ctx.open_depot(source)?;
        tracing::info!(source = %redact_url_str(source), kind = ?depot.kind, "read depot");
        catalog.add(depot).with_context(|| format!("cannot merge depot {}", redact_url_str(source)))?;
    }
    let report = Report::build(&catalog, &args.sources, args);
    let mut out = output::stdout();
    if args.json {
        output::write_json(&mut out, &report)?;
    } else {
        report.write_text(&mut out)?;
    }
    out.flush()?;
    Ok(if report.conflicts.is_empty() { Status::Success } else { Status::Findings })
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub sources: Vec<SourceReport>,
    pub filter: FilterReport,
    pub base_images: Vec<ReleaseUnitReport>,
    pub addons: Vec<ReleaseUnitReport>,
    pub manifests: Vec<ReleaseUnitReport>,
    pub solutions: Vec<ReleaseUnitReport>,
    pub image_profiles: Vec<ProfileReport>,
    pub components: Vec<ComponentReport>,
    pub legacy_bulletins: Vec<BulletinReport>,
    pub vib_count: usize,
    pub acceptance_levels: AcceptanceCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vibs: Option<Vec<VibReport>>,
    pub conflicts: Vec<ConflictReport>,
}

#[derive(Debug, Serialize)]
pub struct SourceReport {
    pub index: usize,
    /// As given on the command line (URL secrets redacted).
    pub source: String,
    pub kind: SourceKind,
    pub vendors: Vec<VendorReport>,
    pub metadata: Vec<MetadataReport>,
    pub loose_vibs: usize,
    pub notes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct VendorReport {
    pub name: String,
    pub code: String,
    pub index_path: String,
}

#[derive(Debug, Serialize)]
pub struct MetadataReport {
    pub path: String,
    pub vendor_code: String,
    pub platforms: Vec<PlatformReport>,
    pub bulletins: usize,
    pub components: usize,
    pub vibs: usize,
}

#[derive(Debug, Serialize)]
pub struct PlatformReport {
    pub product: String,
    pub version: String,
    pub channel: String,
}

#[derive(Debug, Serialize)]
pub struct FilterReport {
    pub vendor: Option<String>,
    pub min_acceptance: Option<AcceptanceLevel>,
    pub platform: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ReleaseUnitReport {
    pub release_id: String,
    pub name: Option<String>,
    pub ui_name: Option<String>,
    pub version: String,
    pub ui_version: String,
    pub vendor: String,
    pub release_date: String,
    pub summary: String,
    pub components: std::collections::BTreeMap<String, String>,
    pub removed_components: Vec<String>,
    pub supported_base_images: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ProfileReport {
    pub name: String,
    pub creator: String,
    pub acceptance_level: String,
    pub vibs: usize,
}

#[derive(Debug, Serialize)]
pub struct ComponentReport {
    pub name: String,
    pub ui_name: String,
    /// Lowest first.
    pub versions: Vec<ComponentVersionReport>,
}

#[derive(Debug, Serialize)]
pub struct ComponentVersionReport {
    pub version: String,
    pub ui_version: String,
    pub bulletin_id: String,
    pub vendor: String,
    pub summary: String,
    pub release_date: String,
    pub acceptance: Option<AcceptanceLevel>,
    pub vibs: Vec<String>,
    pub sources: Vec<usize>,
}

#[derive(Debug, Serialize)]
pub struct BulletinReport {
    pub id: String,
    pub vendor: String,
    pub summary: String,
    pub release_date: String,
    pub severity: String,
    pub category: String,
    pub acceptance: Option<AcceptanceLevel>,
    pub vibs: Vec<String>,
    pub sources: Vec<usize>,
}

#[derive(Debug, Default, Serialize)]
pub struct AcceptanceCounts {
    pub certified: usize,
    pub accepted: usize,
    pub partner: usize,
    pub community: usize,
}

impl AcceptanceCounts {
    fn add(&mut self, level: AcceptanceLevel) {
        match level {
            AcceptanceLevel::Certified => self.certified += 1,
            AcceptanceLevel::Accepted => self.accepted += 1,
            AcceptanceLevel::Partner => self.partner += 1,
            AcceptanceLevel::Community => self.community += 1,
        }
    }

    fn get(&self, level: AcceptanceLevel) -> usize {
        match level {
            AcceptanceLevel::Certified => self.certified,
            AcceptanceLevel::Accepted => self.accepted,
            AcceptanceLevel::Partner => self.partner,
            AcceptanceLevel::Community => self.community,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct VibReport {
    pub id: String,
    pub name: String,
    pub version: String,
    pub vendor: String,
    #[serde(rename = "type")]
    pub vib_type: String,
    pub acceptance: AcceptanceLevel,
    pub packed_size: Option<u64>,
    pub path: Option<String>,
    pub sources: Vec<usize>,
}

#[derive(Debug, Serialize)]
pub struct ConflictReport {
    pub kind: String,
    pub id: String,
    pub first: String,
    pub second: String,
    pub field: String,
}

impl Report {
    pub fn build(catalog: &Catalog, given: &[String], args: &InspectArgs) -> Self {
        let filter = Filter {
            vendor: args.vendor.clone(),
            min_acceptance: args.min_acceptance,
            platform: args.platform.clone(),
            ..Filter::default()
        };
        let sources = catalog
            .depots()
            .iter()
            .enumerate()
            .map(|(i, d)| source_report(i, given.get(i).map_or(d.label.as_str(), String::as_str), d))
            .collect();

        let vendor_ok = |u: &ReleaseUnit| filter.vendor.as_ref().is_none_or(|v| u.vendor.eq_ignore_ascii_case(v));
        let units = |kind| catalog.release_units(kind).filter(|u| vendor_ok(u)).map(unit_report).collect();

        let kept: Vec<&CatalogBulletin> = catalog.filter_bulletins(&filter).collect();
        let kept_set: HashSet<*const CatalogBulletin> = kept.iter().map(|e| std::ptr::from_ref(*e)).collect();
        let mut components: Vec<ComponentReport> = Vec::new();
        let mut legacy_bulletins = Vec::new();
        for entry in kept {
            let b = &entry.bulletin;
            match &b.component {
                Some(spec) => {
                    if components.last().is_some_and(|c| c.name == spec.name) {
                        continue;
                    }
                    // Every kept version of this name, lowest first.
                    let versions: Vec<ComponentVersionReport> = catalog
                        .component_versions(&spec.name)
                        .into_iter()
                        .filter(|e| kept_set.contains(&std::ptr::from_ref(*e)))
                        .map(|e| component_version_report(catalog, e))
                        .collect();
                    components.push(ComponentReport {
                        name: spec.name.clone(),
                        ui_name: spec.ui_name.clone(),
                        versions,
                    });
                }
                None => legacy_bulletins.push(BulletinReport {
                    id: b.id.clone(),
                    vendor: b.vendor.clone(),
                    summary: b.summary.clone(),
                    release_date: b.release_date.clone(),
                    severity: b.severity.clone(),
                    category: b.category.clone(),
                    acceptance: catalog.acceptance_of(b),
                    vibs: b.vib_ids.clone(),
                    sources: entry.depots.clone(),
                }),
            }
        }

        let mut acceptance_levels = AcceptanceCounts::default();
        let mut vib_count = 0;
        let mut vibs = Vec::new();
        for v in catalog.filter_vibs(&filter) {
            vib_count += 1;
            acceptance_levels.add(v.vib.acceptance_level);
            if args.vibs {
                let mut sources: Vec<usize> = v.origins.iter().map(|o| o.depot).collect();
                sources.dedup();
                vibs.push(VibReport {
                    id: v.vib.id(),
                    name: v.vib.name.clone(),
                    version: v.vib.version.to_string(),
                    vendor: v.vib.vendor.clone(),
                    vib_type: v.vib.vib_type.clone(),
                    acceptance: v.vib.acceptance_level,
                    packed_size: v.vib.location.as_ref().map(|l| l.packed_size),
                    path: v.origins.first().map(|o| redact_url_str(&o.path)),
                    sources,
                });
            }
        }

        Self {
            schema: SCHEMA,
            sources,
            filter: FilterReport {
                vendor: args.vendor.clone(),
                min_acceptance: args.min_acceptance,
                platform: args.platform.clone(),
            },
            base_images: units(ReleaseKind::BaseImage),
            addons: units(ReleaseKind::Addon),
            manifests: units(ReleaseKind::Manifest),
            solutions: units(ReleaseKind::Solution),
            image_profiles: catalog
                .profiles()
                .iter()
                .map(|p| ProfileReport {
                    name: p.name.clone(),
                    creator: p.creator.clone(),
                    acceptance_level: p.acceptance_level.clone(),
                    vibs: p.vib_ids.len(),
                })
                .collect(),
            components,
            legacy_bulletins,
            vib_count,
            acceptance_levels,
            vibs: args.vibs.then_some(vibs),
            conflicts: catalog
                .conflicts()
                .iter()
                .map(|c| ConflictReport {
                    kind: c.kind.clone(),
                    id: c.id.clone(),
                    first: redact_url_str(&c.first),
                    second: redact_url_str(&c.second),
                    field: c.field.clone(),
                })
                .collect(),
        }
    }

    pub fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        for s in &self.sources {
            write_source(out, s)?;
            writeln!(out)?;
        }
        if self.sources.len() > 1 {
            writeln!(out, "Merged catalog of {} sources", self.sources.len())?;
        }
        let mut parts = Vec::new();
        if let Some(v) = &self.filter.vendor {
            parts.push(format!("vendor {v}"));
        }
        if let Some(a) = self.filter.min_acceptance {
            parts.push(format!("acceptance {a} or higher"));
        }
        if let Some(p) = &self.filter.platform {
            parts.push(format!("platform {p}"));
        }
        if !parts.is_empty() {
            writeln!(out, "Showing only: {}", parts.join(", "))?;
        }

        write_units(out, "Base images", &self.base_images, true)?;
        write_units(out, "Add-ons", &self.addons, true)?;
        write_units(out, "Hardware support manifests", &self.manifests, false)?;
        write_units(out, "Solutions", &self.solutions, false)?;
        if !self.image_profiles.is_empty() {
            writeln!(out, "Image profiles: {}", self.image_profiles.len())?;
            let mut t = Table::new(["NAME", "CREATOR", "ACCEPTANCE", "VIBS"]);
            for p in &self.image_profiles {
                t.row([p.name.clone(), p.creator.clone(), p.acceptance_level.clone(), p.vibs.to_string()]);
            }
            t.write(out, "  ")?;
        }

        let versions: usize = self.components.iter().map(|c| c.versions.len()).sum();
        if self.components.is_empty() {
            writeln!(out, "Components: none")?;
        } else {
            writeln!(
                out,
                "Components: {}, {}",
                count(self.components.len(), "name", "names"),
                count(versions, "version", "versions")
            )?;
            let mut t =
                Table::new(["NAME", "VERSION", "DISPLAY VERSION", "RELEASED", "ACCEPTANCE", "VENDOR", "SUMMARY"]);
            for c in &self.components {
                for v in &c.versions {
                    t.row([
                        c.name.clone(),
                        v.version.clone(),
                        v.ui_version.clone(),
                        date_only(&v.release_date).to_owned(),
                        level_text(v.acceptance),
                        v.vendor.clone(),
                        v.summary.clone(),
                    ]);
                }
            }
            t.write(out, "  ")?;
        }

        if self.legacy_bulletins.is_empty() {
            writeln!(out, "Legacy bulletins: none")?;
        } else {
            writeln!(
                out,
                "Legacy bulletins (no component name/version; vLCM cannot use them): {}",
                self.legacy_bulletins.len()
            )?;
            let mut t = Table::new(["ID", "RELEASED", "ACCEPTANCE", "VENDOR", "VIBS", "SUMMARY"]);
            for b in &self.legacy_bulletins {
                t.row([
                    b.id.clone(),
                    date_only(&b.release_date).to_owned(),
                    level_text(b.acceptance),
                    b.vendor.clone(),
                    b.vibs.len().to_string(),
                    b.summary.clone(),
                ]);
            }
            t.write(out, "  ")?;
        }

        let levels: Vec<String> = AcceptanceLevel::ALL
            .iter()
            .filter(|l| self.acceptance_levels.get(**l) > 0)
            .map(|l| format!("{} {}", l, self.acceptance_levels.get(*l)))
            .collect();
        if levels.is_empty() {
            writeln!(out, "VIBs: {}", self.vib_count)?;
        } else {
            writeln!(out, "VIBs: {} ({})", self.vib_count, levels.join(", "))?;
        }
        if let Some(vibs) = &self.vibs {
            let mut t = Table::new(["VIB ID", "ACCEPTANCE", "SIZE"]);
            for v in vibs {
                t.row([
                    v.id.clone(),
                    v.acceptance.to_string(),
                    v.packed_size.map(human_size).unwrap_or_else(|| "?".into()),
                ]);
            }
            if !t.is_empty() {
                t.write(out, "  ")?;
            }
        }

        if self.conflicts.is_empty() {
            return Ok(());
        }
        writeln!(out, "Conflicts: {}", self.conflicts.len())?;
        for c in &self.conflicts {
            writeln!(
                out,
                "  {} {} differs between {} and {} ({} differs); one ID must always mean the same content",
                c.kind, c.id, c.first, c.second, c.field
            )?;
        }
        Ok(())
    }
}

fn source_report(index: usize, given: &str, d: &Depot) -> SourceReport {
    let metadata = d
        .metadata
        .iter()
        .map(|m| MetadataReport {
            path: redact_url_str(&m.path),
            vendor_code: m.vendor_code.clone(),
            platforms: m
                .entries
                .iter()
                .map(|e| PlatformReport {
                    product: e.product_id.clone(),
                    version: e.version.clone(),
                    channel: e.channel_name.clone(),
                })
                .collect(),
            bulletins: m.archive.bulletins.len(),
            components: m.archive.bulletins.iter().filter(|b| b.is_component()).count(),
            vibs: m.archive.vibs.len(),
        })
        .collect();
    SourceReport {
        index,
        source: redact_url_str(given),
        kind: d.kind,
        vendors: d
            .vendors
            .iter()
            .map(|v| VendorReport {
                name: v.entry.name.clone(),
                code: v.entry.code.clone(),
                index_path: v.index_path.clone(),
            })
            .collect(),
        metadata,
        loose_vibs: d.loose_vibs.len(),
        notes: d.notes.iter().map(|n| redact_text(n)).collect(),
    }
}

fn unit_report(u: &ReleaseUnit) -> ReleaseUnitReport {
    ReleaseUnitReport {
        release_id: u.release_id.clone(),
        name: u.name.clone(),
        ui_name: u.ui_name.clone(),
        version: u.version.to_string(),
        ui_version: u.ui_version.clone(),
        vendor: u.vendor.clone(),
        release_date: u.release_date.clone(),
        summary: u.summary.clone(),
        components: u.components.iter().map(|(k, v)| (k.clone(), v.to_string())).collect(),
        removed_components: u.removed_components.clone(),
        supported_base_images: u.supported_base_images.clone(),
    }
}

fn component_version_report(catalog: &Catalog, e: &CatalogBulletin) -> ComponentVersionReport {
    let b = &e.bulletin;
    let (version, ui_version) =
        b.component.as_ref().map(|c| (c.version.to_string(), c.ui_version.clone())).unwrap_or_default();
    ComponentVersionReport {
        version,
        ui_version,
        bulletin_id: b.id.clone(),
        vendor: b.vendor.clone(),
        summary: b.summary.clone(),
        release_date: b.release_date.clone(),
        acceptance: catalog.acceptance_of(b),
        vibs: b.vib_ids.clone(),
        sources: e.depots.clone(),
    }
}

fn kind_text(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Bundle => "offline bundle",
        SourceKind::Vib => "VIB file",
        SourceKind::Directory => "depot directory",
        SourceKind::Online => "online depot",
    }
}

fn level_text(level: Option<AcceptanceLevel>) -> String {
    level.map_or_else(|| "?".to_owned(), |l| l.to_string())
}

fn write_source(out: &mut dyn Write, s: &SourceReport) -> std::io::Result<()> {
    writeln!(out, "Source {}: {} ({})", s.index + 1, s.source, kind_text(s.kind))?;
    if !s.vendors.is_empty() {
        let vendors: Vec<String> = s.vendors.iter().map(|v| format!("{} ({})", v.name, v.code)).collect();
        writeln!(out, "  vendors:  {}", vendors.join(", "))?;
    }
    for m in &s.metadata {
        let mut platforms: Vec<String> = m
            .platforms
            .iter()
            .map(|p| {
                if p.version.is_empty() {
                    format!("{} (any version)", p.product)
                } else {
                    format!("{} {}", p.product, p.version)
                }
            })
            .collect();
        platforms.dedup();
        writeln!(
            out,
            "  metadata: {} — {}, {}, {}",
            m.path,
            count(m.components, "component", "components"),
            count(m.bulletins - m.components, "legacy bulletin", "legacy bulletins"),
            count(m.vibs, "VIB", "VIBs"),
        )?;
        writeln!(
            out,
            "            platforms: {}",
            if platforms.is_empty() { "none listed".into() } else { platforms.join(", ") }
        )?;
    }
    if s.loose_vibs > 0 {
        writeln!(out, "  {} without depot metadata", count(s.loose_vibs, "VIB", "VIBs"))?;
    }
    for n in &s.notes {
        writeln!(out, "  note: {n}")?;
    }
    Ok(())
}

fn write_units(out: &mut dyn Write, title: &str, units: &[ReleaseUnitReport], always: bool) -> std::io::Result<()> {
    if units.is_empty() {
        if always {
            writeln!(out, "{title}: none")?;
        }
        return Ok(());
    }
    writeln!(out, "{title}: {}", units.len())?;
    let mut t =
        Table::new(["NAME", "VERSION", "DISPLAY VERSION", "RELEASED", "VENDOR", "COMPONENTS", "FOR BASE IMAGES"]);
    for u in units {
        t.row([
            u.name.clone().unwrap_or_else(|| "ESXi".into()),
            u.version.clone(),
            u.ui_version.clone(),
            date_only(&u.release_date).to_owned(),
            u.vendor.clone(),
            u.components.len().to_string(),
            u.supported_base_images.join(", "),
        ]);
    }
    t.write(out, "  ")
}
