//! Metadata-level lint: what the index chain and the metadata zips say, without reading a
//! VIB file. Also the findings for a source that could not be opened at all, and the
//! cross-source conflicts of a [`Catalog`].

use std::collections::{BTreeMap, BTreeSet};

use esxlcm_version::{Severity as LintSeverity, Version};

use crate::archive::ArchiveError;
use crate::catalog::Catalog;
use crate::metadata_zip::MetadataError;
use crate::model::{Bulletin, ReleaseKind, ReleaseUnit, Vib};
use crate::source::{ContainerError, Depot, FetchError, LoadedMetadata, SourceError};

use super::findings::{Finding, Rule};
use super::verify::Claim;

/// Metadata findings of one opened depot.
pub(crate) fn lint_depot(depot: &Depot) -> Vec<Finding> {
    let mut out = Vec::new();
    for note in &depot.notes {
        out.push(Finding::new(Rule::SourceNote, note.clone()));
    }
    for meta in &depot.metadata {
        for member in &meta.archive.unknown_members {
            out.push(
                Finding::new(
                    Rule::MetadataUnknownMember,
                    format!(
                        "metadata zip member '{member}' is not a document esxlcm knows (vmware.xml, \
                         vendor-index.xml, bulletins/, vibs/, profiles/, baseimages/, addons/, \
                         manifests/, solutions/); it is ignored"
                    ),
                )
                .file(format!("{}!{member}", meta.path)),
            );
        }
    }
    let claims = claims(depot);
    if claims.is_empty() {
        out.push(Finding::new(
            Rule::DepotEmpty,
            "the depot describes no VIB, so there is nothing to install; check that its metadata zip \
             holds a vibs/*.xml record for every VIB",
        ));
        return out;
    }
    lint_vibs(depot, &claims, &mut out);
    lint_bulletins(depot, &claims, &mut out);
    lint_release_units(depot, &mut out);
    out
}

/// Every VIB record of the depot, with where it came from.
pub(crate) fn claims(depot: &Depot) -> Vec<Claim<'_>> {
    let mut out = Vec::new();
    for meta in &depot.metadata {
        let aligned = meta.archive.vib_members.len() == meta.archive.vibs.len();
        for (i, vib) in meta.archive.vibs.iter().enumerate() {
            let member = if aligned { meta.archive.vib_members.get(i).map(String::as_str) } else { None };
            out.push(Claim { meta: Some(meta), member, vib });
        }
    }
    for vib in &depot.loose_vibs {
        out.push(Claim { meta: None, member: None, vib });
    }
    out
}

fn lint_vibs(depot: &Depot, claims: &[Claim<'_>], out: &mut Vec<Finding>) {
    let referenced: BTreeSet<&str> =
        depot.metadata.iter().flat_map(|m| &m.archive.bulletins).flat_map(|b| &b.vib_ids).map(String::as_str).collect();
    let mut first: BTreeMap<String, &Claim<'_>> = BTreeMap::new();
    for claim in claims {
        let vib = claim.vib;
        let id = vib.id();
        let file = claim.origin();
        if claim.meta.is_some() && vib.location.is_none() {
            out.push(
                Finding::new(
                    Rule::VibLocationMissing,
                    format!(
                        "{file} has no relative-path, packed-size and checksum, so no client can download or \
                         verify the VIB file; regenerate the metadata with the VIB's location, e.g. \
                         <relative-path>{}</relative-path>",
                        vib.default_relative_path()
                    ),
                )
                .file(file.clone())
                .vib(id.clone())
                .field("relative-path"),
            );
        }
        if let Err(SourceError::EscapingPath { path, .. }) = depot.vib_path(claim.meta, vib) {
            out.push(
                Finding::new(
                    Rule::PathEscapesDepot,
                    format!(
                        "relative-path '{path}' in {file} leads outside the depot (it climbs above the \
                         vendor index's directory with '..', or is absolute), so no client will fetch \
                         it: use a path inside the depot, e.g. '{}'",
                        vib.default_relative_path()
                    ),
                )
                .file(file.clone())
                .vib(id.clone())
                .field("relative-path"),
            );
        }
        if let Some(earlier) = first.get(&id) {
            let fields = vib_differences(earlier.vib, vib);
            if !fields.is_empty() {
                out.push(
                    Finding::new(
                        Rule::VibIdConflict,
                        format!(
                            "VIB {id} is described differently in {} and {file} ({} differ{}); one VIB ID \
                             must always mean the same file, or hosts and caches mix them up: give the \
                             rebuilt VIB a new version (which changes its ID), or remove the stale record",
                            earlier.origin(),
                            fields.join(", "),
                            if fields.len() == 1 { "s" } else { "" }
                        ),
                    )
                    .file(file.clone())
                    .vib(id.clone()),
                );
            }
            continue;
        }
        first.insert(id.clone(), claim);
        lint_version(&vib.version, &format!("VIB {id}"), "version", out, |f| f.file(file.clone()).vib(id.clone()));
        if claim.meta.is_some() && !referenced.contains(id.as_str()) {
            out.push(
                Finding::new(
                    Rule::VibUnreferenced,
                    format!(
                        "VIB {id} is described in {file}, but no bulletin or component lists it in its \
                         vibList, so neither vLCM nor esxcli will ever install it: add it to a \
                         component's vibList, or remove it from the metadata"
                    ),
                )
                .file(file.clone())
                .vib(id.clone()),
            );
        }
    }
}

/// What makes two records of one VIB ID different content (descriptive text may be
/// re-serialised differently by writers; it does not count).
pub(crate) fn vib_differences(a: &Vib, b: &Vib) -> Vec<&'static str> {
    let mut out = Vec::new();
    if let (Some(la), Some(lb)) = (&a.location, &b.location) {
        if la.packed_size != lb.packed_size {
            out.push("packed-size");
        }
        if !la.checksum.matches_hex(&lb.checksum.value) {
            out.push("checksum");
        }
    }
    if a.payloads != b.payloads {
        out.push("payloads");
    }
    if a.acceptance_level != b.acceptance_level {
        out.push("acceptance-level");
    }
    let rel = |v: &Vib| {
        let s = |cs: &[crate::model::Constraint]| cs.iter().map(ToString::to_string).collect::<Vec<_>>();
        (s(&v.depends), s(&v.conflicts), s(&v.replaces), v.provides.clone())
    };
    if rel(a) != rel(b) {
        out.push("relationships");
    }
    out
}

fn bulletin_key(b: &Bulletin) -> String {
    match &b.component {
        Some(c) => format!("component {} {}", c.name, c.version.as_str()),
        None => format!("bulletin {}", b.id),
    }
}

fn lint_bulletins(depot: &Depot, claims: &[Claim<'_>], out: &mut Vec<Finding>) {
    let ids: BTreeSet<String> = claims.iter().map(|c| c.vib.id()).collect();
    let mut first: BTreeMap<String, (&LoadedMetadata, &Bulletin)> = BTreeMap::new();
    for meta in &depot.metadata {
        for b in &meta.archive.bulletins {
            let key = bulletin_key(b);
            let file = meta.path.clone();
            if let Some((m, earlier)) = first.get(&key) {
                let x: BTreeSet<&String> = earlier.vib_ids.iter().collect();
                let y: BTreeSet<&String> = b.vib_ids.iter().collect();
                if x != y {
                    let show = |s: &BTreeSet<&String>| s.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ");
                    out.push(
                        Finding::new(
                            Rule::ComponentConflict,
                            format!(
                                "{key} lists VIBs [{}] in {} but [{}] in {file}; one component version \
                                 must always mean the same VIBs: give the changed one a new version, or \
                                 remove the stale bulletin",
                                show(&x),
                                m.path,
                                show(&y)
                            ),
                        )
                        .file(file)
                        .field(format!("bulletin[{}]/vibList", b.id)),
                    );
                }
                continue;
            }
            first.insert(key, (meta, b));
            for id in &b.vib_ids {
                if !ids.contains(id) {
                    out.push(
                        Finding::new(
                            Rule::ViblistUnknownId,
                            format!(
                                "bulletin '{}' lists VIB '{id}' in its vibList, but no VIB with that ID is \
                                 described in the depot (vibs/*.xml), so installing it fails: add the \
                                 VIB's record and file, or correct the ID (it is \
                                 <vendor>_<type>_<name>_<version>, case-sensitive)",
                                b.id
                            ),
                        )
                        .file(file.clone())
                        .vib(id.clone())
                        .field(format!("bulletin[{}]/vibList", b.id)),
                    );
                }
            }
            match &b.component {
                Some(c) => {
                    let subject = format!("component {}", c.name);
                    lint_version(&c.version, &subject, "componentVersionSpec/@version", out, |f| {
                        f.file(file.clone()).field(format!("bulletin[{}]/componentVersionSpec/@version", b.id))
                    });
                }
                None => out.push(
                    Finding::new(
                        Rule::BulletinWithoutComponentSpec,
                        format!(
                            "bulletin '{}' has no componentNameSpec/componentVersionSpec, so it is a \
                             legacy bulletin: esxcli can still install its VIBs, but vSphere Lifecycle \
                             Manager (7.0 and later) works with components only and will not offer it; \
                             add <componentNameSpec name=\"...\" uiString=\"...\"/> and \
                             <componentVersionSpec version=\"...\" uiString=\"...\"/>",
                            b.id
                        ),
                    )
                    .file(file.clone())
                    .field(format!("bulletin[{}]", b.id)),
                ),
            }
        }
    }
}

fn unit_name(u: &ReleaseUnit) -> String {
    let kind = match u.kind {
        ReleaseKind::BaseImage => "base image",
        ReleaseKind::Addon => "add-on",
        ReleaseKind::Manifest => "manifest",
        ReleaseKind::Solution => "solution",
    };
    match &u.name {
        Some(n) => format!("{kind} {n} {}", u.version.as_str()),
        None => format!("{kind} {}", u.version.as_str()),
    }
}

fn lint_release_units(depot: &Depot, out: &mut Vec<Finding>) {
    let components: BTreeSet<(&str, &str)> = depot
        .metadata
        .iter()
        .flat_map(|m| &m.archive.bulletins)
        .filter_map(|b| b.component.as_ref())
        .map(|c| (c.name.as_str(), c.version.as_str()))
        .collect();
    let mut first: BTreeMap<(ReleaseKind, &str), (&LoadedMetadata, &ReleaseUnit)> = BTreeMap::new();
    for meta in &depot.metadata {
        for u in &meta.archive.release_units {
            let file = meta.path.clone();
            let at = |field: &str| format!("{}[{}]/{field}", u.kind.directory(), u.release_id);
            let what = unit_name(u);
            if let Some((m, earlier)) = first.get(&(u.kind, u.release_id.as_str())) {
                if earlier.document != u.document {
                    out.push(
                        Finding::new(
                            Rule::ReleaseUnitConflict,
                            format!(
                                "{what} (release ID {}) has different documents in {} and {}; one release \
                                 ID must always mean the same content: give the changed one a new \
                                 version, or remove the stale document",
                                u.release_id, m.path, meta.path
                            ),
                        )
                        .file(file)
                        .field(format!("{}[{}]", u.kind.directory(), u.release_id)),
                    );
                }
                continue;
            }
            first.insert((u.kind, u.release_id.as_str()), (meta, u));
            lint_version(&u.version, &what, "versionSpec/version", out, |f| {
                f.file(file.clone()).field(at("versionSpec/version"))
            });
            if u.kind == ReleaseKind::Addon && u.supported_base_images.is_empty() {
                out.push(
                    Finding::new(
                        Rule::AddonWithoutBaseImages,
                        format!(
                            "{what} lists no supportedBaseImageVersions, so vLCM cannot combine it with any \
                             base image; list the base image versions it supports, e.g. \
                             \"supportedBaseImageVersions\": [\"8.0.3\"]"
                        ),
                    )
                    .file(file.clone())
                    .field(at("supportedBaseImageVersions")),
                );
            }
            if u.kind != ReleaseKind::Solution {
                for (name, version) in &u.components {
                    if !components.contains(&(name.as_str(), version.as_str())) {
                        out.push(
                            Finding::new(
                                Rule::ReleaseUnitUnknownComponent,
                                format!(
                                    "{what} includes component {name} {version}, which this depot does not \
                                     carry; vLCM needs it to build the image: add the component to the \
                                     depot, or correct the version"
                                ),
                            )
                            .file(file.clone())
                            .field(at(&format!("components/{name}"))),
                        );
                    }
                }
            }
        }
    }
}

/// VMware's version authoring rules (depot-format §5.1) as findings.
fn lint_version(
    version: &Version,
    subject: &str,
    field: &str,
    out: &mut Vec<Finding>,
    place: impl Fn(Finding) -> Finding,
) {
    for lint in version.lint() {
        let f = match lint.severity() {
            LintSeverity::Warning => Finding::new(
                Rule::VersionMissingRelease,
                format!(
                    "{subject}: {lint}; ESXi accepts it, but tools that compare versions by release \
                     (vLCM, esxcli upgrades) may order it wrongly: add a release number"
                ),
            ),
            LintSeverity::Error => Finding::new(
                Rule::VersionMalformed,
                format!(
                    "{subject}: {lint} (rule {}); VMware's tooling may refuse it: rebuild with a \
                     conforming version",
                    lint.rule()
                ),
            ),
        };
        let f = place(f);
        out.push(if f.field.is_none() { f.field(field.to_owned()) } else { f });
    }
}

/// What could not be opened, as findings. `None` for failures to read the source at all
/// (a missing file, a network error): those are not findings about the depot.
pub(crate) fn open_failure_findings(error: &SourceError) -> Option<Vec<Finding>> {
    let f = match error {
        SourceError::Io { .. } => return None,
        SourceError::Container(c) => container_finding(c)?,
        // A bare .vib whose own descriptor does not parse.
        SourceError::Document { file, source } if file.ends_with("!descriptor.xml") => Finding::new(
            Rule::DescriptorUnreadable,
            format!(
                "{file} cannot be read: {source}; ESXi reads this descriptor to install the VIB: rebuild the VIB \
                 with a valid descriptor"
            ),
        )
        .file(file.clone()),
        SourceError::Document { file, source } => Finding::new(
            Rule::MetadataUnreadable,
            format!("{file} cannot be parsed: {source}; fix the document (it must follow depot-format §1–2)"),
        )
        .file(file.clone()),
        SourceError::Metadata { file, source } => match source {
            MetadataError::Archive(a) => archive_finding(a, file),
            MetadataError::Document { member, source } => Finding::new(
                Rule::MetadataUnreadable,
                format!(
                    "metadata zip member '{member}' cannot be parsed: {source}; the whole metadata zip \
                     is unusable until it is fixed: regenerate it, or correct the member"
                ),
            )
            .file(format!("{file}!{member}")),
        },
        SourceError::NotADepot { location, reason } => Finding::new(
            Rule::NotADepot,
            format!(
                "{location} is not a depot: {reason}; an offline bundle needs index.xml, vendor-index.xml \
                 and a metadata zip at its root"
            ),
        ),
        SourceError::EscapingPath { file, path } => Finding::new(
            Rule::PathEscapesDepot,
            format!(
                "'{path}' in {file} leads outside the depot (it climbs above the directory with '..', \
                 or is absolute), so the depot cannot be read: use a path inside the depot"
            ),
        )
        .file(file.clone()),
        SourceError::Vib { location, message } => Finding::new(
            Rule::VibUnreadable,
            format!("{location} is not a readable VIB: {message}; rebuild it with VIB tooling"),
        )
        .file(location.clone()),
    };
    Some(vec![f])
}

fn container_finding(c: &ContainerError) -> Option<Finding> {
    Some(match c {
        ContainerError::NotFound { container, path } => Finding::new(
            Rule::DepotFileMissing,
            format!(
                "{container} has no file '{path}', which the index chain names; add it, or correct the \
                 index that points at it"
            ),
        )
        .file(path.clone()),
        // The vendor list itself: the URL given does not lead to a depot at all.
        ContainerError::Fetch(FetchError::NotFound { url })
            if url.ends_with("/index.xml") || url.ends_with("/vmw-depot-index.xml") =>
        {
            return None;
        }
        ContainerError::Fetch(FetchError::NotFound { url }) => Finding::new(
            Rule::DepotFileMissing,
            format!("{url} does not exist, but the index chain names it; publish it, or correct the index"),
        )
        .file(url.clone()),
        // The source itself could not be read (a file error, a network error).
        ContainerError::Io { path, .. } if path.is_empty() => return None,
        ContainerError::Fetch(_) => return None,
        ContainerError::Io { path, source, .. } => Finding::new(
            Rule::ArchiveUnreadable,
            format!("'{path}' cannot be read: {source}; the archive is damaged: download or build it again"),
        )
        .file(path.clone()),
        ContainerError::Archive { container, source } => archive_finding(source, container),
        ContainerError::UnsupportedCompression { path, method, .. } => Finding::new(
            Rule::ArchiveUnreadable,
            format!(
                "'{path}' is compressed with {method}, which ESXi tools do not read; store the entry \
                 with deflate (or uncompressed)"
            ),
        )
        .file(path.clone()),
    })
}

fn archive_finding(a: &ArchiveError, zip: &str) -> Finding {
    match a {
        ArchiveError::UnsafePath { name } => Finding::new(
            Rule::ZipUnsafeEntry,
            format!(
                "{zip} has an entry named '{name}', which is absolute or climbs out of the archive with \
                 '..'; extracting it would write outside the target directory, so the archive is \
                 refused: rebuild it with relative entry names only"
            ),
        )
        .file(zip.to_owned())
        .field(name.clone()),
        ArchiveError::Symlink { name, target } => Finding::new(
            Rule::ZipSymlinkEntry,
            format!(
                "{zip} has an entry '{name}' that is a symbolic link to '{target}'; extracting it (or serving \
                 the extracted tree) would expose whatever it points at, so the archive is refused: rebuild \
                 it with regular files only"
            ),
        )
        .file(zip.to_owned())
        .field(name.clone()),
        ArchiveError::SpecialFile { name, mode } => Finding::new(
            Rule::ZipSymlinkEntry,
            format!(
                "{zip} has an entry '{name}' that is not a regular file (unix file type {mode:#o}: a FIFO, a \
                 device or a socket), so the archive is refused: rebuild it with regular files only"
            ),
        )
        .file(zip.to_owned())
        .field(name.clone()),
        ArchiveError::DuplicateName { name } => Finding::new(
            Rule::ZipDuplicateEntry,
            format!(
                "{zip} holds more than one entry named '{name}'; unzip, ESXi and vLCM may each take a different \
                 copy, so what is checked need not be what is installed: the archive is refused; rebuild it \
                 with each name once"
            ),
        )
        .file(zip.to_owned())
        .field(name.clone()),
        ArchiveError::SizeMismatch { name, .. } | ArchiveError::Truncated { name, .. } => Finding::new(
            Rule::ZipSizeMismatch,
            format!(
                "{zip}: {a}; clients that trust the declared size misread it, and a small header over a \
                 large stream is a ZIP bomb, so the archive is refused: rebuild it"
            ),
        )
        .file(zip.to_owned())
        .field(name.clone()),
        other => Finding::new(
            Rule::ArchiveUnreadable,
            format!("{zip}: {other}; the archive is damaged or not a ZIP: download or build it again"),
        )
        .file(zip.to_owned()),
    }
}

/// Conflicts between sources: the same VIB ID, component or release unit with different
/// content in two of them, as a [`Catalog`] of all of them sees it.
///
/// Within-source duplicates are reported by [`lint_depot`]; VIBs whose path leaves the
/// depot cannot be added to a catalog. Both are left out of the catalog's copies.
pub(crate) fn cross_source(depots: &[&Depot]) -> Vec<Finding> {
    let mut catalog = Catalog::new();
    for depot in depots {
        // The catalog takes depots by value: give it a copy that shares the container.
        if catalog.add(catalog_copy(depot)).is_err() {
            continue;
        }
    }
    catalog
        .conflicts()
        .iter()
        .filter(|c| c.first != c.second && !c.first.is_empty())
        .map(|c| {
            let rule = match c.kind.as_str() {
                "VIB" => Rule::VibIdConflict,
                "component" | "bulletin" => Rule::ComponentConflict,
                _ => Rule::ReleaseUnitConflict,
            };
            let f = Finding::new(
                rule,
                format!(
                    "{c}: give the rebuilt one a new version (which changes its ID), or do not use \
                     both sources together"
                ),
            )
            .field(c.field.clone());
            if rule == Rule::VibIdConflict { f.vib(c.id.clone()) } else { f }
        })
        .collect()
}

fn catalog_copy(depot: &Depot) -> Depot {
    let mut seen_vibs = BTreeSet::new();
    let mut seen_bulletins = BTreeSet::new();
    let mut seen_units = BTreeSet::new();
    let metadata = depot
        .metadata
        .iter()
        .map(|original| {
            let keep: Vec<bool> = original
                .archive
                .vibs
                .iter()
                .map(|v| depot.vib_path(Some(original), v).is_ok() && seen_vibs.insert(v.id()))
                .collect();
            let mut m = original.clone();
            let mut keep = keep.into_iter();
            m.archive.vibs.retain(|_| keep.next().unwrap_or(false));
            m.archive.vib_members.clear();
            m.archive.bulletins.retain(|b| seen_bulletins.insert(bulletin_key(b)));
            m.archive.release_units.retain(|u| seen_units.insert((u.kind, u.release_id.clone())));
            m
        })
        .collect();
    Depot {
        label: depot.label.clone(),
        kind: depot.kind,
        vendor_list: depot.vendor_list.clone(),
        vendor_list_path: depot.vendor_list_path.clone(),
        vendors: depot.vendors.clone(),
        metadata,
        loose_vibs: depot.loose_vibs.clone(),
        notes: depot.notes.clone(),
        container: std::sync::Arc::clone(&depot.container),
    }
}
