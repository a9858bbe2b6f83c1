//! A whole spec: its main image and its `alternative_images` (API 9.0, depot-format §6.1),
//! each resolved on its own, and which image a host gets from the selection criteria.
//!
//! An alternative image is a complete image (base image, add-on, components, …) plus a
//! `display_name` and `selection_criteria`: by host UUID, or by hardware (vendor, models,
//! families, OEM strings). Selection is AND across the hardware attributes given and OR
//! within one; names compare case-insensitively. Image IDs are `[A-Za-z0-9-]`,
//! case-insensitive, so `Img-1` and `img-1` are the same ID. A host that no alternative
//! selects gets the main image; one that several select is an error that names them.

use std::collections::BTreeMap;

use esxlcm_depot::catalog::Catalog;
use serde::Serialize;
use serde_json::Value;

use crate::host_state::{HostIdentity, HostState};
use crate::notification::{Notification, Severity, ids};
use crate::options::ResolveOptions;
use crate::resolve::{Resolution, resolve};
use crate::spec::SoftwareSpec;

/// Which hosts an alternative image is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "selection_type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HostSelection {
    HostUuid { host_uuids: Vec<String> },
    HostHardwareSpec { host_hardware_spec: HardwareSpec },
}

/// Hardware attributes; an empty list or absent vendor does not restrict.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct HardwareSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    pub models: Vec<String>,
    pub families: Vec<String>,
    pub oem_strings: Vec<String>,
}

impl HostSelection {
    /// Read `selection_criteria`; the error says which field is wrong.
    pub fn parse(value: &Value) -> Result<Self, String> {
        let strings = |v: Option<&Value>, field: &str| -> Result<Vec<String>, String> {
            match v {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| i.as_str().map(str::to_owned).ok_or_else(|| format!("{field} must hold strings")))
                    .collect(),
                Some(_) => Err(format!("{field} must be a list of strings")),
            }
        };
        match value.get("selection_type").and_then(Value::as_str) {
            Some("HOST_UUID") => {
                let host_uuids = strings(value.get("host_uuids"), "host_uuids")?;
                if host_uuids.is_empty() {
                    return Err("selection_type HOST_UUID needs host_uuids".into());
                }
                Ok(Self::HostUuid { host_uuids })
            }
            Some("HOST_HARDWARE_SPEC") => {
                let spec = value
                    .get("host_hardware_spec")
                    .ok_or("selection_type HOST_HARDWARE_SPEC needs host_hardware_spec")?;
                let vendor = match spec.get("vendor") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(_) => return Err("host_hardware_spec.vendor must be a string".into()),
                };
                let hw = HardwareSpec {
                    vendor,
                    models: strings(spec.get("models"), "host_hardware_spec.models")?,
                    families: strings(spec.get("families"), "host_hardware_spec.families")?,
                    oem_strings: strings(spec.get("oem_strings"), "host_hardware_spec.oem_strings")?,
                };
                if hw == HardwareSpec::default() {
                    return Err("host_hardware_spec names no vendor, model, family or OEM string".into());
                }
                Ok(Self::HostHardwareSpec { host_hardware_spec: hw })
            }
            Some(other) => Err(format!("selection_type {other} is not HOST_UUID or HOST_HARDWARE_SPEC")),
            None => Err("selection_criteria has no selection_type".into()),
        }
    }

    /// Does this selection take the host?
    pub fn selects(&self, host: &HostIdentity) -> bool {
        let same = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
        match self {
            Self::HostUuid { host_uuids } => host_uuids.iter().any(|u| same(u, &host.uuid)),
            Self::HostHardwareSpec { host_hardware_spec: hw } => {
                let any_of = |list: &[String], value: &str| list.is_empty() || list.iter().any(|x| same(x, value));
                hw.vendor.as_deref().is_none_or(|v| same(v, &host.vendor))
                    && any_of(&hw.models, &host.model)
                    && any_of(&hw.families, &host.family)
                    && (hw.oem_strings.is_empty()
                        || hw.oem_strings.iter().any(|o| host.oem_strings.iter().any(|h| same(o, h))))
            }
        }
    }
}

/// One alternative image, resolved.
#[derive(Debug, Clone, Serialize)]
pub struct AlternativeResolution {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `None` when the criteria are missing or malformed (then an error says why).
    pub selection: Option<HostSelection>,
    #[serde(flatten)]
    pub resolution: Resolution,
}

impl AlternativeResolution {
    pub fn has_errors(&self) -> bool {
        self.resolution.has_errors()
    }
}

/// The main image and every alternative image of a spec.
#[derive(Debug, Clone, Serialize)]
pub struct SpecResolution {
    pub main: Resolution,
    /// By image ID as the spec writes it.
    pub alternatives: BTreeMap<String, AlternativeResolution>,
}

impl SpecResolution {
    pub fn has_errors(&self) -> bool {
        self.main.has_errors() || self.alternatives.values().any(AlternativeResolution::has_errors)
    }

    /// The image a host gets: `None` for the main image, else the alternative's ID; an
    /// error lists the alternatives when more than one selects the host.
    pub fn image_for(&self, host: &HostIdentity) -> Result<Option<&str>, Vec<String>> {
        let chosen: Vec<&str> = self
            .alternatives
            .iter()
            .filter(|(_, alt)| alt.selection.as_ref().is_some_and(|s| s.selects(host)))
            .map(|(id, _)| id.as_str())
            .collect();
        match chosen.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            _ => Err(chosen.iter().map(|s| (*s).to_owned()).collect()),
        }
    }
}

/// What compliance checks a host against: its image (main or alternative) by the spec's
/// selection criteria. A host that several alternatives select is checked against the
/// main image and marked INCOMPATIBLE with a note naming them.
pub fn check_host(spec: &SpecResolution, state: Option<&HostState>) -> crate::compliance::HostCompliance {
    let identity = state.and_then(|s| s.hardware.as_ref()).map(|h| h.identity()).unwrap_or_default();
    match spec.image_for(&identity) {
        Ok(None) => crate::compliance::check_host(&spec.main.image, state),
        Ok(Some(id)) => {
            let mut c = crate::compliance::check_host(&spec.alternatives[id].resolution.image, state);
            c.alternative_image = Some(id.to_owned());
            c
        }
        Err(ids) => {
            let mut c = crate::compliance::check_host(&spec.main.image, state);
            c.status = crate::compliance::ComplianceStatus::Incompatible;
            c.notifications.insert(
                0,
                format!("alternative images {} all select this host; the spec must select one", ids.join(", ")),
            );
            c
        }
    }
}

/// Resolve the main image and each alternative image.
pub fn resolve_spec(spec: &SoftwareSpec, catalog: &Catalog, options: &ResolveOptions) -> SpecResolution {
    let main = resolve(&spec.image, catalog, options);
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    let mut alternatives = BTreeMap::new();
    for (id, alt) in &spec.alternative_images {
        let mut resolution = resolve(&alt.image, catalog, options);
        let mut problems = Vec::new();
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            problems.push(format!("image ID {id:?} may only hold letters, digits and '-'"));
        }
        if let Some(first) = seen.insert(id.to_ascii_lowercase(), id) {
            problems.push(format!("image ID {id} is the same as {first} (IDs are case-insensitive)"));
        }
        let selection = match &alt.selection_criteria {
            None => {
                problems.push("it has no selection_criteria: no host would get it".to_owned());
                None
            }
            Some(value) => HostSelection::parse(value).map_err(|e| problems.push(e)).ok(),
        };
        let found: Vec<Notification> = problems
            .into_iter()
            .map(|problem| {
                Notification::new(
                    ids::ALTERNATIVE_IMAGE_INVALID,
                    Severity::Error,
                    format!("alternative image {id}: {problem}"),
                    vec![id.clone(), problem],
                )
                .with_resolution("fix the alternative image's ID or selection_criteria in the spec", Vec::new())
            })
            .collect();
        resolution.notifications.splice(0..0, found);
        alternatives.insert(
            id.clone(),
            AlternativeResolution { display_name: alt.display_name.clone(), selection, resolution },
        );
    }
    SpecResolution { main, alternatives }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn host() -> HostIdentity {
        HostIdentity {
            uuid: "4C4C4544-0042-3510-8052-B4C04F564433".into(),
            vendor: "Dell Inc.".into(),
            model: "PowerEdge R650".into(),
            family: "PowerEdge".into(),
            oem_strings: vec!["Dell System".into(), "5[0000]".into()],
        }
    }

    #[test]
    fn hardware_selection_is_and_across_attributes_and_or_within() {
        let sel = |v: Value| HostSelection::parse(&v).unwrap();
        let by_model = sel(json!({"selection_type": "HOST_HARDWARE_SPEC",
            "host_hardware_spec": {"vendor": "dell inc.", "models": ["PowerEdge R750", "PowerEdge R650"]}}));
        assert!(by_model.selects(&host()));
        let wrong_family = sel(json!({"selection_type": "HOST_HARDWARE_SPEC",
            "host_hardware_spec": {"vendor": "Dell Inc.", "models": ["PowerEdge R650"], "families": ["Precision"]}}));
        assert!(!wrong_family.selects(&host()));
        let by_oem = sel(json!({"selection_type": "HOST_HARDWARE_SPEC",
            "host_hardware_spec": {"oem_strings": ["Other", "Dell System"]}}));
        assert!(by_oem.selects(&host()));
        let by_uuid =
            sel(json!({"selection_type": "HOST_UUID", "host_uuids": ["4c4c4544-0042-3510-8052-b4c04f564433"]}));
        assert!(by_uuid.selects(&host()));
        assert!(!by_uuid.selects(&HostIdentity::default()));
    }

    #[test]
    fn malformed_criteria_say_which_field() {
        let err = |v: Value| HostSelection::parse(&v).unwrap_err();
        assert_eq!(err(json!({})), "selection_criteria has no selection_type");
        assert_eq!(err(json!({"selection_type": "HOST_UUID"})), "selection_type HOST_UUID needs host_uuids");
        assert_eq!(
            err(json!({"selection_type": "HOST_HARDWARE_SPEC", "host_hardware_spec": {"models": "R650"}})),
            "host_hardware_spec.models must be a list of strings"
        );
        assert_eq!(
            err(json!({"selection_type": "HOST_HARDWARE_SPEC", "host_hardware_spec": {}})),
            "host_hardware_spec names no vendor, model, family or OEM string"
        );
        assert_eq!(
            err(json!({"selection_type": "CLUSTER"})),
            "selection_type CLUSTER is not HOST_UUID or HOST_HARDWARE_SPEC"
        );
    }
}
