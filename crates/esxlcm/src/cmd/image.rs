//! `esxlcm image resolve --spec SPEC.json --depot SOURCE…`: the effective image of a vLCM
//! software spec (components with version and source, like vLCM's effective components
//! view) and the validation findings with their explanations. The work is
//! `esxlcm_solver::resolve`; this module reads the inputs and renders the result.
//!
//! `alternative_images` are resolved too, each on its own, after the main image; a
//! compliance check uses the main image (host states carry no hardware identity yet).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::input::read_capped;
use esxlcm_depot::model::AcceptanceLevel;
use esxlcm_solver::alternatives::{AlternativeResolution, HostSelection};
use esxlcm_solver::{
    ComponentSource, Resolution, ResolveOptions, Severity, SoftwareSpec, SpecResolution, resolve_spec,
};
use serde::Serialize;

use super::{Context, Status};
use crate::output::{self, Table, count};

const AFTER_HELP: &str = "\
The spec is vLCM's desired-state JSON (base_image, add_on, components, hardware_support,
solutions, removed_components, alternative_images); a component version of null means \"the
highest version in the depots that fits\". Every --depot is read and merged into one catalog.
Alternative images are resolved after the main image, each with its host selection.

Examples:
  esxlcm image resolve --spec spec.json --depot ESXi-8.0U3-depot.zip --depot vendor-addon.zip
  esxlcm image resolve --spec spec.json --depot ./depot --min-acceptance partner --json

Exit status: 0 the image is valid (warnings allowed), 1 at least one error finding,
2 usage errors, an unreadable spec or depot, network errors.";

#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct ResolveArgs {
    /// The software spec (JSON)
    #[arg(long, value_name = "SPEC.json")]
    pub spec: PathBuf,

    /// Depots to resolve against: bundle .zip, depot directory or URL (repeatable)
    #[arg(long = "depot", value_name = "SOURCE", required = true, num_args = 1..)]
    pub depots: Vec<String>,

    /// Write one JSON object (schema esxlcm.image-resolve/1) instead of text
    #[arg(long)]
    pub json: bool,

    /// The lowest acceptance level the image may have
    #[arg(long, value_name = "LEVEL", ignore_case = true, value_parser = super::common::level_parser())]
    pub min_acceptance: Option<AcceptanceLevel>,

    /// Let spec components downgrade what the base image or add-on brings (a warning)
    #[arg(long)]
    pub allow_downgrades: bool,
}

pub fn run(args: &ResolveArgs, ctx: &Context) -> anyhow::Result<Status> {
    let resolved = resolve_all(args, ctx)?;
    let mut out = output::stdout();
    if args.json {
        output::write_json(&mut out, &SpecReport::new(&resolved))?;
    } else {
        write_resolution(&mut out, &resolved.main, false)?;
        for (id, alt) in &resolved.alternatives {
            writeln!(out, "\n{}", alternative_heading(id, alt))?;
            write_resolution(&mut out, &alt.resolution, false)?;
        }
    }
    out.flush()?;
    Ok(if resolved.has_errors() { Status::Findings } else { Status::Success })
}

/// `Alternative image r650 "Dell R650 hosts", for hosts with …:`
fn alternative_heading(id: &str, alt: &AlternativeResolution) -> String {
    let name = alt.display_name.as_ref().map(|n| format!(" \"{n}\"")).unwrap_or_default();
    let hosts = match &alt.selection {
        None => "no valid selection criteria".to_owned(),
        Some(HostSelection::HostUuid { host_uuids }) => format!("hosts {}", host_uuids.join(", ")),
        Some(HostSelection::HostHardwareSpec { host_hardware_spec: hw }) => {
            let mut parts = Vec::new();
            if let Some(vendor) = &hw.vendor {
                parts.push(format!("vendor {vendor}"));
            }
            for (what, list) in [("model", &hw.models), ("family", &hw.families), ("OEM string", &hw.oem_strings)] {
                if !list.is_empty() {
                    parts.push(format!("{what} {}", list.join(" or ")));
                }
            }
            format!("hosts with {}", parts.join(" and "))
        }
    };
    format!("Alternative image {id}{name}, for {hosts}:")
}

/// Read the spec and the depots and resolve the main image and the alternative images.
fn resolve_all(args: &ResolveArgs, ctx: &Context) -> anyhow::Result<SpecResolution> {
    let spec = read_spec(&args.spec)?;
    let catalog = open_catalog(&args.depots, ctx)?;
    let options = ResolveOptions { min_acceptance: args.min_acceptance, allow_downgrades: args.allow_downgrades };
    Ok(resolve_spec(&spec, &catalog, &options))
}

/// Largest software spec or host state read (the server's limit for spec uploads too); real
/// ones are a few KiB.
pub(crate) const MAX_DOCUMENT_BYTES: u64 = 4 << 20;

/// A software spec file; its unknown keys are logged (they are kept, not used).
pub(crate) fn read_spec(path: &Path) -> anyhow::Result<SoftwareSpec> {
    let bytes = read_capped(path, MAX_DOCUMENT_BYTES, "a software spec")
        .with_context(|| format!("cannot read spec {}", path.display()))?;
    let spec = SoftwareSpec::from_json(&bytes).with_context(|| format!("spec {}", path.display()))?;
    for key in spec.unknown_keys() {
        tracing::warn!("spec key {key} is not known; it is ignored");
    }
    Ok(spec)
}

/// Every `--depot` merged into one catalog; conflicts between them are logged.
pub(crate) fn open_catalog(depots: &[String], ctx: &Context) -> anyhow::Result<Catalog> {
    let mut catalog = Catalog::new();
    for source in depots {
        catalog.add(ctx.open_depot(source)?).with_context(|| format!("cannot read depot {source}"))?;
    }
    for conflict in catalog.conflicts() {
        tracing::warn!("{conflict}");
    }
    Ok(catalog)
}

/// The `--json` document: the main image's report, plus one per alternative image.
#[derive(Serialize)]
struct SpecReport<'a> {
    #[serde(flatten)]
    main: JsonReport<'a>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    alternative_images: std::collections::BTreeMap<&'a str, AlternativeReport<'a>>,
}

#[derive(Serialize)]
struct AlternativeReport<'a> {
    display_name: Option<&'a str>,
    selection_criteria: Option<&'a HostSelection>,
    #[serde(flatten)]
    report: JsonReport<'a>,
}

impl<'a> SpecReport<'a> {
    fn new(r: &'a SpecResolution) -> Self {
        let alternative_images = r
            .alternatives
            .iter()
            .map(|(id, alt)| {
                let report = AlternativeReport {
                    display_name: alt.display_name.as_deref(),
                    selection_criteria: alt.selection.as_ref(),
                    report: JsonReport::new(&alt.resolution),
                };
                (id.as_str(), report)
            })
            .collect();
        Self { main: JsonReport::new(&r.main), alternative_images }
    }
}

/// The `--json` report of one image.
#[derive(Serialize)]
struct JsonReport<'a> {
    schema: &'static str,
    valid: bool,
    acceptance_level: Option<AcceptanceLevel>,
    image: &'a esxlcm_solver::EffectiveImage,
    /// IDs of the image's VIBs after `replaces`.
    vibs: Vec<&'a str>,
    notifications: &'a [esxlcm_solver::Notification],
}

impl<'a> JsonReport<'a> {
    fn new(r: &'a Resolution) -> Self {
        JsonReport {
            schema: "esxlcm.image-resolve/1",
            valid: !r.has_errors(),
            acceptance_level: r.image.acceptance_level(),
            image: &r.image,
            vibs: r.image.vibs.keys().map(String::as_str).collect(),
            notifications: &r.notifications,
        }
    }
}

fn write_resolution(out: &mut dyn Write, r: &Resolution, json: bool) -> anyhow::Result<()> {
    if json {
        output::write_json(out, &JsonReport::new(r))?;
        return Ok(());
    }
    let image = &r.image;
    writeln!(out, "Base image: {}", image.base_image)?;
    if let Some((name, version)) = &image.add_on {
        writeln!(out, "Add-on: {name} {version}")?;
    }
    for (manager, pkg, version) in &image.hardware_support {
        writeln!(out, "Hardware support: {pkg} {version} ({manager})")?;
    }
    writeln!(out, "Components ({}):", image.components.len())?;
    let mut table = Table::new(["NAME", "VERSION", "SOURCE", "DISPLAY NAME"]);
    for c in image.components.values() {
        table.row([c.name.clone(), c.version.to_string(), source_label(c.source).to_owned(), c.display_name.clone()]);
    }
    table.write(out, "  ")?;
    if !image.removed_components.is_empty() {
        writeln!(out, "Removed components: {}", image.removed_components.join(", "))?;
    }
    let level = image.acceptance_level().map_or_else(|| "none".to_owned(), |l| l.display_name().to_owned());
    writeln!(out, "{}, acceptance level {level}", count(image.vibs.len(), "VIB", "VIBs"))?;
    if !r.notifications.is_empty() {
        writeln!(out)?;
        for n in &r.notifications {
            out.write_all(n.to_text().as_bytes())?;
        }
    }
    let errors = r.notifications.iter().filter(|n| n.severity == Severity::Error).count();
    let warnings = r.notifications.iter().filter(|n| n.severity == Severity::Warning).count();
    writeln!(out)?;
    if errors == 0 {
        writeln!(out, "The image is valid ({}).", count(warnings, "warning", "warnings"))?;
    } else {
        writeln!(
            out,
            "The image is not valid: {}, {}.",
            count(errors, "error", "errors"),
            count(warnings, "warning", "warnings")
        )?;
    }
    Ok(())
}

/// The names vLCM's effective components view uses for a component's source.
fn source_label(source: ComponentSource) -> &'static str {
    match source {
        ComponentSource::BaseImage => "base image",
        ComponentSource::AddOn => "add-on",
        ComponentSource::HardwareSupport => "hardware support",
        ComponentSource::User => "user",
        ComponentSource::Solution => "solution",
    }
}

#[cfg(test)]
mod tests {
    use esxlcm_depot::generate::{GeneratorConfig, generate_to_bundle};
    use esxlcm_depot::model::ReleaseKind;
    use esxlcm_depot::source::{Depot, OpenOptions};
    use esxlcm_solver::resolve;
    use esxlcm_solver::spec::{BaseImageSpec, ImageSpec};

    use super::*;

    #[test]
    fn renders_a_generated_base_image_and_a_missing_component() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gen.zip");
        generate_to_bundle(&GeneratorConfig::tiny(3), &path).unwrap();
        let catalog = Catalog::from_depots([Depot::open_path(&path, &OpenOptions::default()).unwrap()]).unwrap();
        let base = catalog.release_units(ReleaseKind::BaseImage).next().unwrap().version.clone();
        let mut spec = ImageSpec {
            base_image: Some(BaseImageSpec { version: base.clone(), unknown: Default::default() }),
            ..ImageSpec::default()
        };
        let ok = resolve(&spec, &catalog, &ResolveOptions::default());
        let mut text = Vec::new();
        write_resolution(&mut text, &ok, false).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.starts_with(&format!("Base image: {base}\nComponents (")), "{text}");
        assert!(text.contains("  ESXi "), "{text}");
        // Generated base images carry no kernel payload (unless asked): valid, not bootable.
        assert!(text.contains("warning [com.esxlcm.solver.image.not_bootable]"), "{text}");
        assert!(text.ends_with("The image is valid (1 warning).\n"), "{text}");

        spec.components.insert("No-Such".into(), Some("1.0-1".parse().unwrap()));
        let bad = resolve(&spec, &catalog, &ResolveOptions::default());
        let mut json = Vec::new();
        write_resolution(&mut json, &bad, true).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(value["valid"], false);
        assert_eq!(value["notifications"][0]["id"], "com.esxlcm.solver.component.missing");
        assert_eq!(value["image"]["components"]["ESXi"]["source"], "BASE_IMAGE");
    }
}

const COMPLIANCE_AFTER_HELP: &str = "\
Resolves the spec like `image resolve`, then compares each host's installed state with the
image. A host state is one JSON document made of what ESXi prints:
  {\"base_image\": <esxcli --formatter=json software baseimage get>,
   \"add_on\":     <esxcli --formatter=json software addon get, or null>,
   \"components\": <esxcli --formatter=json software component list>,
   \"vibs\":       <esxcli --formatter=json software vib list>}
(testdata/host-state/README.md has the details). Each --host-state file is one host, named
by its file name; with several, the cluster status aggregates them as vLCM does.

Host status: COMPLIANT, NON_COMPLIANT (remediation would install, upgrade or remove),
INCOMPATIBLE (the image would downgrade something), UNAVAILABLE. The impact says whether
remediation needs maintenance mode or a reboot, with the VIBs to install and remove.

Examples:
  esxlcm image compliance --spec spec.json --depot depot.zip --host-state esx01.json
  esxlcm image compliance --spec spec.json --depot ./depot --host-state hosts/*.json --json

Exit status: 0 every host is compliant and the image is valid, 1 a host is not compliant or
the image has errors, 2 usage errors, unreadable files or depots.";

#[derive(Debug, Clone, Args)]
#[command(after_help = COMPLIANCE_AFTER_HELP)]
pub struct ComplianceArgs {
    #[command(flatten)]
    pub resolve: ResolveArgs,

    /// A host's installed state (JSON, see below); repeat for a cluster
    #[arg(long = "host-state", value_name = "HOST.json", required = true, num_args = 1..)]
    pub host_states: Vec<PathBuf>,
}

/// The `--json` document of `image compliance`.
#[derive(Serialize)]
struct ComplianceReport<'a> {
    schema: &'static str,
    image_valid: bool,
    notifications: &'a [esxlcm_solver::Notification],
    cluster: &'a esxlcm_solver::compliance::ClusterCompliance,
}

pub fn run_compliance(args: &ComplianceArgs, ctx: &Context) -> anyhow::Result<Status> {
    let resolved = resolve_all(&args.resolve, ctx)?;
    let resolution = &resolved.main;
    let mut hosts = std::collections::BTreeMap::new();
    for path in &args.host_states {
        let bytes = read_capped(path, MAX_DOCUMENT_BYTES, "a host state")
            .with_context(|| format!("cannot read host state {}", path.display()))?;
        let state = esxlcm_solver::host_state::HostState::from_json(&bytes)
            .with_context(|| format!("host state {}", path.display()))?;
        for field in &state.unknown_fields {
            tracing::warn!("{}: field {field} is not known; it is ignored", path.display());
        }
        let name = path.file_stem().map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned());
        hosts.insert(name, esxlcm_solver::alternatives::check_host(&resolved, Some(&state)));
    }
    let cluster = esxlcm_solver::compliance::aggregate_cluster(hosts);
    let mut out = output::stdout();
    if args.resolve.json {
        let report = ComplianceReport {
            schema: "esxlcm.image-compliance/1",
            image_valid: !resolution.has_errors(),
            notifications: &resolution.notifications,
            cluster: &cluster,
        };
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        write_compliance(&mut out, resolution, &cluster)?;
    }
    out.flush()?;
    let compliant = cluster.status == esxlcm_solver::compliance::ComplianceStatus::Compliant;
    Ok(if compliant && !resolution.has_errors() { Status::Success } else { Status::Findings })
}

fn write_compliance(
    out: &mut dyn Write,
    resolution: &Resolution,
    cluster: &esxlcm_solver::compliance::ClusterCompliance,
) -> anyhow::Result<()> {
    use esxlcm_solver::compliance::ComponentChange;
    for n in resolution.errors() {
        writeln!(out, "image error: {}", n.to_text())?;
    }
    for (name, host) in &cluster.hosts {
        writeln!(out, "host {name}: {} (impact: {})", json_name(&host.status)?, json_name(&host.impact)?)?;
        if let Some(id) = &host.alternative_image {
            writeln!(out, "  checked against alternative image {id} (its selection criteria pick this host)")?;
        }
        for note in &host.notifications {
            writeln!(out, "  {note}")?;
        }
        writeln!(out, "  base image: {}", json_name(&host.base_image.status)?)?;
        let mut table = Table::new(["component", "change", "installed", "image"]);
        for (cname, c) in &host.components {
            if c.change == ComponentChange::None {
                continue;
            }
            table.row([
                cname.clone(),
                json_name(&c.change)?,
                c.current.as_ref().map_or_else(|| "-".to_owned(), |i| i.version.to_string()),
                c.target.as_ref().map_or_else(|| "-".to_owned(), |i| i.version.to_string()),
            ]);
        }
        if table.is_empty() {
            writeln!(out, "  every component is at the image's version")?;
        } else {
            table.write(out, "  ")?;
        }
        let d = &host.impact_details;
        writeln!(
            out,
            "  remediation: {} to install, {} to remove; reboot {}, maintenance mode {}",
            count(d.vibs_to_install.len(), "VIB", "VIBs"),
            count(d.vibs_to_remove.len(), "VIB", "VIBs"),
            if d.reboot_required { "required" } else { "not required" },
            if d.maintenance_mode_required { "required" } else { "not required" },
        )?;
    }
    if cluster.hosts.len() > 1 {
        writeln!(out, "cluster: {} (impact: {})", json_name(&cluster.status)?, json_name(&cluster.impact)?)?;
    }
    Ok(())
}

/// The API spelling of an enum value (`NON_COMPLIANT`), from its serde form.
fn json_name(value: &impl Serialize) -> anyhow::Result<String> {
    Ok(serde_json::to_value(value)?.as_str().unwrap_or_default().to_owned())
}
