//! From a software spec to an [`EffectiveImage`], in the override order of depot-format
//! §6.2, then validated ([`crate::validate`]):
//!
//! 1. the base image's components;
//! 2. the add-on: it must list the base image version as supported; it adds and overrides
//!    components and deletes its `removedComponents`;
//! 3. hardware support packages (manifests), the same way;
//! 4. the spec's `components`: a version, or `null` (see below);
//! 5. the spec's `removed_components`;
//! 6. solution components.
//!
//! Every component records where its version came from ([`ComponentSource`]).
//!
//! **`null` components** are resolved after everything else (so against the whole rest
//! of the image, solutions included). First all of them at their highest versions
//! together: when that adds no validation error, it is the best assignment and costs two
//! validations. Otherwise a SAT search ([`crate::search`]) finds the assignment no other
//! valid one beats (at least as high everywhere, higher somewhere), checked on the whole
//! image. When none exists, a notification names the smallest set of `null` components
//! that cannot hold together with the search's explanation, and the components are taken
//! one at a time (highest version that adds no error, else the highest) so that
//! validation reports what fails.

use std::collections::BTreeSet;

use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::model::{ReleaseKind, ReleaseUnit};
use esxlcm_version::Version;
use serde::Serialize;

use crate::image::{ComponentSource, EffectiveImage, ImageComponent, source_text};
use crate::notification::{Notification, Severity, ids};
use crate::options::ResolveOptions;
use crate::search::{self, NullChoice};
use crate::spec::ImageSpec;
use crate::validate;

/// The image and everything found while building and validating it.
#[derive(Debug, Clone, Serialize)]
pub struct Resolution {
    pub image: EffectiveImage,
    pub notifications: Vec<Notification>,
}

impl Resolution {
    pub fn has_errors(&self) -> bool {
        self.notifications.iter().any(Notification::is_error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Notification> {
        self.notifications.iter().filter(|n| n.is_error())
    }
}

/// Resolve and validate one image spec against a catalog.
pub fn resolve(spec: &ImageSpec, catalog: &Catalog, options: &ResolveOptions) -> Resolution {
    let mut notes = Vec::new();
    let Some(base) = &spec.base_image else {
        let n = Notification::new(
            ids::BASE_IMAGE_MISSING,
            Severity::Error,
            "the spec names no base image; every image needs one",
            Vec::new(),
        );
        return Resolution { image: empty_image(zero_version()), notifications: vec![n] };
    };
    let mut b = Builder { catalog, image: empty_image(base.version.clone()), notes: &mut notes };
    b.base_image(&base.version);
    if let Some(addon) = &spec.add_on {
        b.addon(&addon.name, &addon.version);
    }
    if let Some(hw) = &spec.hardware_support {
        for (manager, pkg) in &hw.packages {
            b.hardware_support(manager, &pkg.pkg, &pkg.version);
        }
    }
    let brought = b.image.components.clone();
    for (name, version) in &spec.components {
        if let Some(v) = version {
            b.user_component(name, v, &brought, options);
        }
    }
    for name in &spec.removed_components {
        b.remove(name);
    }
    for (name, solution) in &spec.solutions {
        b.solution(name, &solution.version, solution.components.iter().map(|c| c.component.as_str()));
    }
    // Null components are chosen last, against the rest of the image; one the spec also
    // removes stays removed (step 5 comes after step 4).
    let free: Vec<&str> = spec
        .components
        .iter()
        .filter(|(name, version)| version.is_none() && !spec.removed_components.contains(name))
        .map(|(name, _)| name.as_str())
        .collect();
    if !b.all_highest_fit(&free, options) {
        b.search_nulls(&free, options);
    }
    let mut image = b.image;
    notes.extend(validate::validate(&mut image, catalog, options));
    Resolution { image, notifications: notes }
}

fn empty_image(base_image: Version) -> EffectiveImage {
    EffectiveImage {
        base_image,
        add_on: None,
        hardware_support: Vec::new(),
        components: Default::default(),
        removed_components: Vec::new(),
        vibs: Default::default(),
    }
}

/// The placeholder base image version of a spec without a base image.
#[allow(clippy::expect_used)] // `0` is a valid version
fn zero_version() -> Version {
    Version::parse("0").expect("'0' is a version")
}

struct Builder<'a> {
    catalog: &'a Catalog,
    image: EffectiveImage,
    notes: &'a mut Vec<Notification>,
}

impl Builder<'_> {
    fn base_image(&mut self, version: &Version) {
        let Some(unit) = self.catalog.base_image(version) else {
            self.notes.push(
                Notification::new(
                    ids::BASE_IMAGE_MISSING,
                    Severity::Error,
                    format!("base image {version} is not in the depots"),
                    vec![version.to_string()],
                )
                .with_explanation(nearby_base_images(self.catalog, version))
                .with_resolution(
                    "add a depot that has this base image (sync or import it), or pick one of the depots' base images",
                    Vec::new(),
                ),
            );
            return;
        };
        for (name, v) in &unit.components {
            self.put(name, v, ComponentSource::BaseImage);
        }
    }

    fn addon(&mut self, name: &str, version: &Version) {
        let Some(unit) = self.catalog.addon(name, version) else {
            let known: Vec<String> = self
                .catalog
                .release_units(ReleaseKind::Addon)
                .filter(|u| u.name.as_deref() == Some(name))
                .map(|u| u.version.to_string())
                .collect();
            let mut n = Notification::new(
                ids::ADDON_MISSING,
                Severity::Error,
                format!("add-on {name} {version} is not in the depots"),
                vec![name.to_owned(), version.to_string()],
            )
            .with_resolution("add a depot that has this add-on (sync or import it)", Vec::new());
            if !known.is_empty() {
                n.explanation = vec![format!("the depots have {name} {}", known.join(", "))];
            }
            self.notes.push(n);
            return;
        };
        self.check_supported(unit, ids::ADDON_UNSUPPORTED_BASE_IMAGE, "add-on");
        self.image.add_on = Some((name.to_owned(), version.clone()));
        self.apply_unit(unit, ComponentSource::AddOn);
    }

    fn hardware_support(&mut self, manager: &str, pkg: &str, version: &str) {
        let unit = self.catalog.release_units(ReleaseKind::Manifest).find(|u| match &u.hardware_support {
            Some((m, p, v)) => m == manager && p == pkg && v == version,
            None => u.name.as_deref() == Some(pkg) && (u.version.as_str() == version || u.ui_version == version),
        });
        let Some(unit) = unit else {
            self.notes.push(
                Notification::new(
                    ids::HSP_MISSING,
                    Severity::Error,
                    format!("hardware support package {pkg} {version} of {manager} is not in the depots"),
                    vec![manager.to_owned(), pkg.to_owned(), version.to_owned()],
                )
                .with_resolution("add the vendor's depot that has this hardware support package", Vec::new()),
            );
            return;
        };
        self.check_supported(unit, ids::HSP_UNSUPPORTED_BASE_IMAGE, "hardware support package");
        self.image.hardware_support.push((manager.to_owned(), pkg.to_owned(), version.to_owned()));
        self.apply_unit(unit, ComponentSource::HardwareSupport);
    }

    fn check_supported(&mut self, unit: &ReleaseUnit, id: &str, what: &str) {
        let base = self.image.base_image.to_string();
        if unit.supports_base_image(&base) {
            return;
        }
        let name = unit.name.clone().unwrap_or_default();
        let supported = if unit.supported_base_images.is_empty() {
            "it lists no supported base image".to_owned()
        } else {
            format!("it supports base images {}", unit.supported_base_images.join(", "))
        };
        self.notes.push(
            Notification::new(
                id,
                Severity::Error,
                format!("{what} {name} {} does not support base image {base}", unit.version),
                vec![name.clone(), unit.version.to_string(), base.clone()],
            )
            .with_explanation(vec![supported])
            .with_resolution(
                format!("use a base image that {name} supports, or another version of {name}"),
                Vec::new(),
            ),
        );
    }

    fn apply_unit(&mut self, unit: &ReleaseUnit, source: ComponentSource) {
        for (name, v) in &unit.components {
            self.put(name, v, source);
        }
        for name in &unit.removed_components {
            // A unit made for several base images may remove what this one lacks.
            if self.image.components.remove(name).is_some() {
                self.image.removed_components.push(name.clone());
            }
        }
    }

    fn user_component(
        &mut self,
        name: &str,
        version: &Version,
        brought: &std::collections::BTreeMap<String, ImageComponent>,
        options: &ResolveOptions,
    ) {
        if let Some(prev) = brought.get(name).filter(|p| &p.version > version) {
            let (severity, fix) = if options.allow_downgrades {
                (Severity::Warning, "downgrades are allowed for this run")
            } else {
                (Severity::Error, "use a version at least as new, remove the override, or allow downgrades")
            };
            self.notes.push(
                Notification::new(
                    ids::COMPONENT_DOWNGRADE,
                    severity,
                    format!(
                        "component {name} {version} downgrades {} brought by the {}",
                        prev.version,
                        source_text(prev.source)
                    ),
                    vec![name.to_owned(), version.to_string(), prev.version.to_string()],
                )
                .with_resolution(fix, Vec::new()),
            );
        }
        self.put(name, version, ComponentSource::User);
    }

    /// The common case first: every `null` component at its highest version, checked with
    /// two validations instead of two per component. When that adds no error, it is also
    /// the best assignment there is; otherwise the caller falls back to one at a time.
    fn all_highest_fit(&mut self, names: &[&str], options: &ResolveOptions) -> bool {
        let mut highest = Vec::with_capacity(names.len());
        for name in names {
            let top = self.catalog.component_versions(name).last().and_then(|b| b.bulletin.component.clone());
            match top {
                Some(c) => highest.push((*name, c.version)),
                None => return false,
            }
        }
        if highest.is_empty() {
            return true;
        }
        let mut without = self.image.clone();
        let mut trial = self.image.clone();
        for (name, version) in &highest {
            without.components.remove(*name);
            put_component(self.catalog, &mut trial, name, version, ComponentSource::User);
        }
        let baseline = error_keys(&mut without, self.catalog, options);
        if !error_keys(&mut trial, self.catalog, options).is_subset(&baseline) {
            return false;
        }
        for (name, version) in highest {
            self.notes.push(Notification::new(
                ids::COMPONENT_RESOLVED,
                Severity::Info,
                format!("component {name} resolved to {version}, the highest version in the depots"),
                vec![name.to_owned(), version.to_string()],
            ));
            self.put(name, &version, ComponentSource::User);
        }
        true
    }

    /// When the highest versions do not fit together: the best assignment the search
    /// finds, checked on the whole image. When there is none (or the whole image has
    /// errors the search's model does not see), the components are taken one at a time,
    /// after a notification that names the smallest set that cannot hold together.
    fn search_nulls(&mut self, names: &[&str], options: &ResolveOptions) {
        let (known, unknown): (Vec<&str>, Vec<&str>) =
            names.iter().partition(|name| !self.catalog.component_versions(name).is_empty());
        for name in unknown {
            self.missing_component(name, None, ComponentSource::User);
        }
        let mut without = self.image.clone();
        for name in &known {
            without.components.remove(*name);
        }
        match search::choose(self.catalog, &without, &known, options) {
            NullChoice::Assigned(choice) => {
                let mut trial = without.clone();
                for (name, version) in &choice {
                    put_component(self.catalog, &mut trial, name, version, ComponentSource::User);
                }
                let baseline = error_keys(&mut without, self.catalog, options);
                if error_keys(&mut trial, self.catalog, options).is_subset(&baseline) {
                    for (name, version) in &choice {
                        self.resolved_note(name, version);
                        self.put(name, version, ComponentSource::User);
                    }
                    return;
                }
            }
            NullChoice::Unsatisfiable(note) => self.notes.push(note),
        }
        for name in known {
            self.null_component(name, options);
        }
    }

    fn resolved_note(&mut self, name: &str, version: &Version) {
        let highest = self
            .catalog
            .component_versions(name)
            .last()
            .and_then(|b| b.bulletin.component.as_ref())
            .map(|c| c.version.clone());
        let text = match highest {
            Some(h) if &h != version => {
                format!("component {name} resolved to {version}: higher versions (up to {h}) do not fit this image")
            }
            _ => format!("component {name} resolved to {version}, the highest version in the depots"),
        };
        self.notes.push(Notification::new(
            ids::COMPONENT_RESOLVED,
            Severity::Info,
            text,
            vec![name.to_owned(), version.to_string()],
        ));
    }

    fn null_component(&mut self, name: &str, options: &ResolveOptions) {
        let versions: Vec<Version> = self
            .catalog
            .component_versions(name)
            .iter()
            .filter_map(|b| b.bulletin.component.as_ref())
            .map(|c| c.version.clone())
            .collect();
        let Some(highest) = versions.last().cloned() else {
            self.missing_component(name, None, ComponentSource::User);
            return;
        };
        let mut without = self.image.clone();
        without.components.remove(name);
        let baseline: BTreeSet<String> = error_keys(&mut without, self.catalog, options);
        let mut chosen = None;
        for v in versions.iter().rev() {
            let mut trial = self.image.clone();
            put_component(self.catalog, &mut trial, name, v, ComponentSource::User);
            if error_keys(&mut trial, self.catalog, options).is_subset(&baseline) {
                chosen = Some(v.clone());
                break;
            }
        }
        let (version, text) = match chosen {
            Some(v) if v == highest => {
                (v, format!("component {name} resolved to {highest}, the highest version in the depots"))
            }
            Some(v) => (
                v.clone(),
                format!("component {name} resolved to {v}: higher versions (up to {highest}) do not fit this image"),
            ),
            None => (
                highest.clone(),
                format!("no version of component {name} fits this image; taking the highest, {highest}"),
            ),
        };
        self.notes.push(Notification::new(
            ids::COMPONENT_RESOLVED,
            Severity::Info,
            text,
            vec![name.to_owned(), version.to_string()],
        ));
        self.put(name, &version, ComponentSource::User);
    }

    fn remove(&mut self, name: &str) {
        if self.image.components.remove(name).is_some() {
            self.image.removed_components.push(name.to_owned());
        } else {
            self.notes.push(
                Notification::new(
                    ids::REMOVED_COMPONENT_ABSENT,
                    Severity::Warning,
                    format!("removed component {name} is not in the image"),
                    vec![name.to_owned()],
                )
                .with_resolution("drop it from removed_components (check the spelling)", Vec::new()),
            );
        }
    }

    fn solution(&mut self, name: &str, version: &str, components: impl Iterator<Item = impl AsRef<str>>) {
        let unit = self
            .catalog
            .release_units(ReleaseKind::Solution)
            .find(|u| u.name.as_deref() == Some(name) && (u.version.as_str() == version || u.ui_version == version));
        if unit.is_none() {
            self.notes.push(Notification::new(
                ids::SOLUTION_MISSING,
                Severity::Warning,
                format!("solution {name} {version} is not in the depots; its components take their highest versions"),
                vec![name.to_owned(), version.to_owned()],
            ));
        }
        for c in components {
            let c = c.as_ref();
            let v = unit.and_then(|u| u.components.get(c).cloned()).or_else(|| {
                self.catalog
                    .component_versions(c)
                    .last()
                    .and_then(|b| b.bulletin.component.as_ref())
                    .map(|s| s.version.clone())
            });
            match v {
                Some(v) => self.put(c, &v, ComponentSource::Solution),
                None => self.missing_component(c, None, ComponentSource::Solution),
            }
        }
    }

    fn put(&mut self, name: &str, version: &Version, source: ComponentSource) {
        if !put_component(self.catalog, &mut self.image, name, version, source) {
            self.image.components.remove(name);
            self.missing_component(name, Some(version), source);
        }
    }

    fn missing_component(&mut self, name: &str, version: Option<&Version>, source: ComponentSource) {
        let known: Vec<String> = self
            .catalog
            .component_versions(name)
            .iter()
            .filter_map(|b| b.bulletin.component.as_ref())
            .map(|c| c.version.to_string())
            .collect();
        let what = match version {
            Some(v) => format!("component {name} {v}"),
            None => format!("component {name}"),
        };
        let explanation = if known.is_empty() {
            vec![format!("the {} asks for it; no depot has any version of {name}", source_text(source))]
        } else {
            vec![format!("the {} asks for it; the depots have {name} {}", source_text(source), known.join(", "))]
        };
        self.notes.push(
            Notification::new(
                ids::COMPONENT_MISSING,
                Severity::Error,
                format!("{what} is not in the depots"),
                vec![name.to_owned(), version.map(ToString::to_string).unwrap_or_default()],
            )
            .with_explanation(explanation)
            .with_resolution("add a depot that has it (sync or import it), or change the spec", Vec::new()),
        );
    }
}

/// Put a component into the image if the catalog has it; false if it does not.
pub(crate) fn put_component(
    catalog: &Catalog,
    image: &mut EffectiveImage,
    name: &str,
    version: &Version,
    source: ComponentSource,
) -> bool {
    let Some(entry) = catalog.component(name, version) else {
        return false;
    };
    let (display_name, display_version) =
        entry.bulletin.component.as_ref().map(|c| (c.ui_name.clone(), c.ui_version.clone())).unwrap_or_default();
    image.components.insert(
        name.to_owned(),
        ImageComponent {
            name: name.to_owned(),
            version: version.clone(),
            display_name,
            display_version,
            source,
            vib_ids: entry.bulletin.vib_ids.clone(),
        },
    );
    true
}

/// What a trial image's errors are, compared by (ID, message) across trials.
fn error_keys(image: &mut EffectiveImage, catalog: &Catalog, options: &ResolveOptions) -> BTreeSet<String> {
    validate::validate(image, catalog, options)
        .into_iter()
        .filter(Notification::is_error)
        .map(|n| format!("{} {}", n.id, n.message.default_message))
        .collect()
}

fn nearby_base_images(catalog: &Catalog, version: &Version) -> Vec<String> {
    let all: Vec<String> = catalog.release_units(ReleaseKind::BaseImage).map(|u| u.version.to_string()).collect();
    if all.is_empty() {
        vec!["the depots have no base image at all".to_owned()]
    } else {
        let _ = version;
        vec![format!("the depots have base images {}", all.join(", "))]
    }
}
