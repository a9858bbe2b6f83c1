//! What is installed on a host: base image, add-on, components and VIBs, read from the JSON
//! that ESXi's `esxcli --formatter=json` prints. The other half of a compliance check
//! ([`crate::compliance`]).
//!
//! # Inputs
//!
//! Each esxcli command's output has its own parser:
//!
//! | Command | Shape | Parser |
//! |---|---|---|
//! | `esxcli --formatter=json software baseimage get` | object: `Version`, `DisplayName`, `DisplayVersion`, `Vendor`, `ReleaseDate`, `Components`, … | [`InstalledBaseImage::from_value`] |
//! | `esxcli --formatter=json software addon get` | object: `Name`, `Version`, `DisplayName`, `DisplayVersion`, `Vendor`, `RemovedComponents`, … | [`InstalledAddOn::from_value`] |
//! | `esxcli --formatter=json software component list` | array of objects: `Name`, `DisplayName`, `Version`, `DisplayVersion`, `Vendor`, `AcceptanceLevel`, `ReleaseDate` | [`parse_component_list`] |
//! | `esxcli --formatter=json software vib list` | array of objects: `ID`, `Name`, `Version`, `Vendor`, `AcceptanceLevel`, `InstallDate`, `Platforms`, `Status` | [`parse_vib_list`] |
//! | `esxcli --formatter=json hardware platform get` | object: `UUID`, `ProductName`, `VendorName`, `SerialNumber`, `EnclosureSerialNumber`, `BIOSAssetTag`, `IPMISupported` | [`PlatformInfo::from_value`] |
//! | `esxcli --formatter=json system version get` | object: `Product`, `Version`, `Build`, `Update`, `Patch` | (document key `system_version`) |
//!
//! Real `software vib get` data (ESXi 8.0.1, recorded by govmomi) reads unchanged; for the
//! other commands no verbatim JSON capture was found in public material
//! (`testdata/host-state/README.md` says which fixtures are real and which reconstructed),
//! and spellings drift between releases and between the text formatter (`Acceptance Level`)
//! and the JSON one (`AcceptanceLevel`), so the reader
//! is lenient: keys match case-insensitively with `_`, `-` and spaces ignored (`DisplayName`,
//! `display_name` and `Display Name` are one key), optional keys may be missing or `null`,
//! numbers are accepted where a string is expected, booleans may be JSON booleans or the
//! strings `true`/`false` (any case). Each output may also come as govc's `host.esxcli
//! -json` prints it (`{"values": [{"Name": ["esx-ui"], …}]}`), and ESXi 7.0's one-line
//! `software baseimage get` (`ESXi:7.0.1-0.0.16850804`) as a JSON string. Keys the reader does not know are not errors; they are
//! reported by JSON path in [`HostState::unknown_fields`]. A known key with a value of the
//! wrong type, a missing required key (`Name`, `Version`; `Version` of the base image) or an
//! unparseable version is a [`HostStateError`] naming the path (`components[2].Version`).
//!
//! # The combined host-state document
//!
//! `esxlcm image compliance --host-state host.json` reads one JSON object that bundles the
//! outputs verbatim (described also in `testdata/host-state/README.md`; `esxlcm host
//! collect` and its agent script write it):
//!
//! ```json
//! {
//!   "base_image": { "Version": "8.0.3-0.35.24280767", "DisplayName": "ESXi", ... },
//!   "add_on":     { "Name": "DEL-ESXi", "Version": "803.24280767-A01", ... } | null,
//!   "components": [ { "Name": "ESXi", "Version": "8.0.3-0.35.24280767", ... }, ... ],
//!   "vibs":       [ { "ID": "VMware_bootbank_esx-base_8.0.3-0.35.24280767", ... }, ... ],
//!   "hardware":   { "vendor": "Dell Inc.", "model": "PowerEdge R650", "family": "PowerEdge",
//!                   "uuid": "4c4c4544-…", "oem_strings": ["Dell System", …],
//!                   "hardware_support": { "<HSM name>": { "pkg": "<HSP>", "version": "<v>" } } }
//! }
//! ```
//!
//! `base_image`, `components` and `vibs` are required (`base_image` may be `null` for a host
//! that predates base images); `add_on`, `hardware_platform`, `system_version`, `collected`
//! (who collected it, how, when) and `hardware` are optional and may be `null`. The host's
//! identity comes from `hardware_platform` (its SMBIOS UUID turned into vCenter's form);
//! `hardware` is ours (esxcli has no command for hardware support packages), and where both
//! are given its values win; its `hardware_support` map has the shape
//! of the software spec's `hardware_support.packages` (depot-format §6.1). Its vendor,
//! model, family, UUID and OEM strings are what an alternative image's selection criteria
//! look at ([`crate::alternatives`]).
//!
//! The esxcli field names above agree with the field lists of esxcli's own command model
//! (`software vib list`: ID header, Name, Version, Vendor, Acceptance Level, Install Date,
//! Platforms; `software vib get` adds Maintenance Mode Required, Live Install Allowed, Live
//! Remove Allowed) as dumped by `govc host.esxcli.model` into govmomi's ESX simulator; the
//! JSON formatter's spelling of multi-word names (`AcceptanceLevel`) is why keys match with
//! spaces ignored.
//!
//! Besides the esxcli keys, a VIB entry may carry the `software vib get` fields
//! `LiveInstallAllowed`, `LiveRemoveAllowed` and `MaintenanceModeRequired`; compliance uses
//! them for the impact of removing that VIB and assumes the worst when they are absent.

use std::collections::{BTreeMap, BTreeSet};

use esxlcm_version::Version;
use serde::Serialize;
use serde_json::Value;

/// Why a host-state document could not be read. Every variant names the JSON path.
#[derive(Debug, thiserror::Error)]
pub enum HostStateError {
    #[error("host state is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{path}: expected {expected}, found {found}")]
    WrongType { path: String, expected: &'static str, found: &'static str },
    #[error("{path}: required field `{field}` is missing")]
    MissingField { path: String, field: &'static str },
    #[error("{path}: invalid version `{value}`: {reason}")]
    InvalidVersion { path: String, value: String, reason: String },
    #[error("{path}: invalid boolean `{value}`")]
    InvalidBool { path: String, value: String },
    #[error("{path}: keys `{first}` and `{second}` are the same field (keys are case-insensitive)")]
    DuplicateKey { path: String, first: String, second: String },
    #[error("{path}: component `{name}` is listed twice")]
    DuplicateComponent { path: String, name: String },
}

/// `software baseimage get`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstalledBaseImage {
    pub version: Version,
    pub display_name: Option<String>,
    pub display_version: Option<String>,
    pub vendor: Option<String>,
    pub release_date: Option<String>,
    /// Component names of the base image when the output lists them (`Components`, as an
    /// array of names, an array of objects with `Name`, or an object keyed by name).
    pub components: Vec<String>,
}

/// `software addon get`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstalledAddOn {
    pub name: String,
    pub version: Version,
    pub display_name: Option<String>,
    pub display_version: Option<String>,
    pub vendor: Option<String>,
    pub release_date: Option<String>,
    /// Base-image components the add-on removed.
    pub removed_components: Vec<String>,
}

/// One entry of `software component list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstalledComponent {
    pub name: String,
    pub version: Version,
    pub display_name: Option<String>,
    pub display_version: Option<String>,
    pub vendor: Option<String>,
    pub acceptance_level: Option<String>,
    pub release_date: Option<String>,
}

/// One entry of `software vib list` (plus the optional `software vib get` flags).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstalledVib {
    /// `ID`; when absent, [`InstalledVib::key`] falls back to vendor, name and version.
    pub id: Option<String>,
    pub name: String,
    pub version: Version,
    pub vendor: Option<String>,
    pub acceptance_level: Option<String>,
    pub install_date: Option<String>,
    pub platforms: Vec<String>,
    pub status: Option<String>,
    pub live_install_allowed: Option<bool>,
    pub live_remove_allowed: Option<bool>,
    pub maintenance_mode_required: Option<bool>,
}

impl InstalledVib {
    /// The VIB ID used to compare with an image: `ID` when the host reported it, otherwise
    /// `<vendor>_<name>_<version>` (the VIB type is not in `vib list`'s columns).
    pub fn key(&self) -> String {
        match &self.id {
            Some(id) => id.clone(),
            None => format!("{}_{}_{}", self.vendor.as_deref().unwrap_or(""), self.name, self.version),
        }
    }
}

/// A hardware support package installed on the host: HSM name → package and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstalledHardwareSupport {
    pub pkg: String,
    pub version: String,
}

/// The host's hardware, from our combined document's `hardware` key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HardwareInfo {
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub family: Option<String>,
    pub uuid: Option<String>,
    pub oem_strings: Vec<String>,
    /// HSM name → installed package.
    pub hardware_support: BTreeMap<String, InstalledHardwareSupport>,
}

/// Everything compliance needs to know about one host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostState {
    pub base_image: Option<InstalledBaseImage>,
    pub add_on: Option<InstalledAddOn>,
    pub components: Vec<InstalledComponent>,
    pub vibs: Vec<InstalledVib>,
    /// The host's hardware: our `hardware` block, completed (or, without it, made) from
    /// `hardware platform get`.
    pub hardware: Option<HardwareInfo>,
    /// `hardware platform get`, as the host printed it.
    pub platform: Option<PlatformInfo>,
    /// `system version get`.
    pub system_version: Option<SystemVersion>,
    /// Who collected the document, from where, when (`esxlcm host collect`, the agent script).
    pub collected: Option<Collected>,
    /// JSON paths of keys the reader did not know (`components[0].Foo`), for a warning.
    pub unknown_fields: Vec<String>,
}

impl HostState {
    /// Reads the combined host-state document (module docs).
    pub fn from_json(bytes: &[u8]) -> Result<Self, HostStateError> {
        let value: Value = serde_json::from_slice(bytes)?;
        Self::from_value(&value)
    }

    pub fn from_value(value: &Value) -> Result<Self, HostStateError> {
        let mut unknown = Vec::new();
        let mut obj = Obj::new(value, "$")?;
        let base_image = match obj.take_required("base_image", "base_image")? {
            Value::Null => None,
            v => Some(InstalledBaseImage::read(&govc::one(v, "base_image")?, "base_image", &mut unknown)?),
        };
        let add_on = match obj.take("add_on") {
            None | Some(Value::Null) => None,
            Some(v) => match govc::one(v, "add_on")? {
                Value::Null => None,
                v => Some(InstalledAddOn::read(&v, "add_on", &mut unknown)?),
            },
        };
        let components = obj.take_required("components", "components")?;
        let components = read_component_list(&govc::list(components), "components", &mut unknown)?;
        let vibs = read_vib_list(&govc::list(obj.take_required("vibs", "vibs")?), "vibs", &mut unknown)?;
        let platform = match obj.take("hardware_platform") {
            None | Some(Value::Null) => None,
            Some(v) => {
                Some(PlatformInfo::read(&govc::one(v, "hardware_platform")?, "hardware_platform", &mut unknown)?)
            }
        };
        let system_version = match obj.take("system_version") {
            None | Some(Value::Null) => None,
            Some(v) => Some(SystemVersion::read(&govc::one(v, "system_version")?, "system_version", &mut unknown)?),
        };
        let collected = match obj.take("collected") {
            None | Some(Value::Null) => None,
            Some(v) => Some(Collected::read(v, "collected", &mut unknown)?),
        };
        let hardware = match obj.take("hardware") {
            None | Some(Value::Null) => None,
            Some(v) => Some(HardwareInfo::read(v, "hardware", &mut unknown)?),
        };
        let hardware = match (hardware, &platform) {
            (Some(h), Some(p)) => Some(h.completed_from(p)),
            (None, Some(p)) => Some(HardwareInfo::default().completed_from(p)),
            (h, None) => h,
        };
        obj.finish(&mut unknown);
        Ok(Self {
            base_image,
            add_on,
            components,
            vibs,
            hardware,
            platform,
            system_version,
            collected,
            unknown_fields: unknown,
        })
    }

    /// The installed component called `name`.
    pub fn component(&self, name: &str) -> Option<&InstalledComponent> {
        self.components.iter().find(|c| c.name == name)
    }
}

impl InstalledBaseImage {
    /// Reads `software baseimage get` output; unknown keys are appended to `unknown`.
    pub fn from_value(value: &Value, unknown: &mut Vec<String>) -> Result<Self, HostStateError> {
        Self::read(value, "$", unknown)
    }

    fn read(value: &Value, path: &str, unknown: &mut Vec<String>) -> Result<Self, HostStateError> {
        if let Value::String(text) = value {
            return Self::from_text(text, path);
        }
        let mut o = Obj::new(value, path)?;
        let version = o.required_version("Version")?;
        let components = match o.take("Components") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => name_list(v, &format!("{path}.Components"))?,
        };
        let r = Self {
            version,
            display_name: o.string("DisplayName")?,
            display_version: o.string("DisplayVersion")?,
            vendor: o.string("Vendor")?,
            release_date: o.string("ReleaseDate")?,
            components,
        };
        // The release unit's id (`VMware-ESXi-8.0.3-…`); the version already names it.
        let _ = o.string("ReleaseID")?;
        o.finish(unknown);
        Ok(r)
    }
}

impl InstalledBaseImage {
    /// ESXi 7.0's `esxcli software baseimage get` prints one line, `ESXi:7.0.1-0.0.16850804`
    /// (display name, a colon, the version); a bare version is taken too.
    fn from_text(text: &str, path: &str) -> Result<Self, HostStateError> {
        let text = text.trim();
        let (name, version) = match text.rsplit_once(':') {
            Some((name, version)) => (Some(name.trim().to_owned()).filter(|n| !n.is_empty()), version.trim()),
            None => (None, text),
        };
        let version = Version::parse(version).map_err(|e| HostStateError::InvalidVersion {
            path: path.to_owned(),
            value: text.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            version,
            display_name: name,
            display_version: None,
            vendor: None,
            release_date: None,
            components: Vec::new(),
        })
    }
}

impl InstalledAddOn {
    /// Reads `software addon get` output; unknown keys are appended to `unknown`.
    pub fn from_value(value: &Value, unknown: &mut Vec<String>) -> Result<Self, HostStateError> {
        Self::read(value, "$", unknown)
    }

    fn read(value: &Value, path: &str, unknown: &mut Vec<String>) -> Result<Self, HostStateError> {
        let mut o = Obj::new(value, path)?;
        let name = o.required_string("Name")?;
        let version = o.required_version("Version")?;
        let removed_components = match o.take("RemovedComponents") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => name_list(v, &format!("{path}.RemovedComponents"))?,
        };
        let r = Self {
            name,
            version,
            display_name: o.string("DisplayName")?,
            display_version: o.string("DisplayVersion")?,
            vendor: o.string("Vendor")?,
            release_date: o.string("ReleaseDate")?,
            removed_components,
        };
        let _ = o.string("ReleaseID")?;
        o.finish(unknown);
        Ok(r)
    }
}

/// What an alternative image's selection criteria ([`crate::alternatives`]) look at on a
/// host.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostIdentity {
    pub uuid: String,
    pub vendor: String,
    pub model: String,
    pub family: String,
    pub oem_strings: Vec<String>,
}

impl HardwareInfo {
    /// This block with what it leaves out taken from `hardware platform get` (vendor,
    /// model, UUID): what the host printed fills in, what the document states wins.
    pub fn completed_from(mut self, platform: &PlatformInfo) -> Self {
        let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
        if self.vendor.is_none() {
            self.vendor = given(&platform.vendor_name);
        }
        if self.model.is_none() {
            self.model = given(&platform.product_name);
        }
        if self.uuid.is_none() {
            self.uuid = platform.canonical_uuid();
        }
        self
    }

    /// What an alternative image's selection criteria compare.
    pub fn identity(&self) -> HostIdentity {
        HostIdentity {
            uuid: self.uuid.clone().unwrap_or_default(),
            vendor: self.vendor.clone().unwrap_or_default(),
            model: self.model.clone().unwrap_or_default(),
            family: self.family.clone().unwrap_or_default(),
            oem_strings: self.oem_strings.clone(),
        }
    }

    fn read(value: &Value, path: &str, unknown: &mut Vec<String>) -> Result<Self, HostStateError> {
        let mut o = Obj::new(value, path)?;
        let mut hardware_support = BTreeMap::new();
        if let Some(v) = o.take("hardware_support").filter(|v| !v.is_null()) {
            let p = format!("{path}.hardware_support");
            let Value::Object(map) = v else {
                return Err(wrong_type(&p, "object", v));
            };
            for (manager, pkg) in map {
                let pp = format!("{p}.{manager}");
                let mut po = Obj::new(pkg, &pp)?;
                let pkg = po.required_string("pkg")?;
                let version = po.string("version")?.unwrap_or_default();
                po.finish(unknown);
                hardware_support.insert(manager.clone(), InstalledHardwareSupport { pkg, version });
            }
        }
        let oem_strings = match o.take("oem_strings") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => name_list(v, &format!("{path}.oem_strings"))?,
        };
        let r = Self {
            vendor: o.string("vendor")?,
            model: o.string("model")?,
            family: o.string("family")?,
            uuid: o.string("uuid")?,
            oem_strings,
            hardware_support,
        };
        o.finish(unknown);
        Ok(r)
    }
}

/// `esxcli hardware platform get`: the host's SMBIOS identity. The text formatter prints
/// `UUID`, `Product Name`, `Vendor Name`, `Serial Number`, `Enclosure Serial Number`,
/// `BIOS Asset Tag`, `IPMI Supported`; the JSON formatter the same names without spaces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlatformInfo {
    /// As printed: 16 bytes `0xff 0x0 0x33 …` (SMBIOS order) or a UUID string.
    pub uuid: Option<String>,
    pub product_name: Option<String>,
    pub vendor_name: Option<String>,
    pub serial_number: Option<String>,
    pub enclosure_serial_number: Option<String>,
    pub bios_asset_tag: Option<String>,
    pub ipmi_supported: Option<bool>,
}

impl PlatformInfo {
    /// Reads `hardware platform get` output; unknown keys are appended to `unknown`.
    pub fn from_value(value: &Value, unknown: &mut Vec<String>) -> Result<Self, HostStateError> {
        Self::read(value, "$", unknown)
    }

    fn read(value: &Value, path: &str, unknown: &mut Vec<String>) -> Result<Self, HostStateError> {
        let mut o = Obj::new(value, path)?;
        let r = Self {
            uuid: o.string("UUID")?,
            product_name: o.string("ProductName")?,
            vendor_name: o.string("VendorName")?,
            serial_number: o.string("SerialNumber")?,
            enclosure_serial_number: o.string("EnclosureSerialNumber")?,
            bios_asset_tag: o.string("BIOSAssetTag")?,
            ipmi_supported: o.boolean("IPMISupported")?,
        };
        o.finish(unknown);
        Ok(r)
    }

    /// The UUID in the form vCenter shows (`423300ff-d6dc-ba71-0a6a-f91c57132599`): esxcli
    /// prints the 16 SMBIOS bytes, whose first three fields are little-endian (SMBIOS 2.6+).
    /// A UUID already in text form is lower-cased; anything else is kept as printed.
    pub fn canonical_uuid(&self) -> Option<String> {
        let raw = self.uuid.as_deref()?.trim();
        if raw.is_empty() {
            return None;
        }
        let bytes: Option<Vec<u8>> = raw
            .split_whitespace()
            .map(|b| b.strip_prefix("0x").or_else(|| b.strip_prefix("0X")).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect();
        match bytes {
            Some(b) if b.len() == 16 => {
                let order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
                let mut out = String::with_capacity(36);
                for (i, idx) in order.iter().enumerate() {
                    if matches!(i, 4 | 6 | 8 | 10) {
                        out.push('-');
                    }
                    out.push_str(&format!("{:02x}", b[*idx]));
                }
                Some(out)
            }
            _ => Some(raw.to_ascii_lowercase()),
        }
    }
}

/// `esxcli system version get`: `Product`, `Version`, `Build`, `Update`, `Patch`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SystemVersion {
    pub product: Option<String>,
    pub version: Option<String>,
    pub build: Option<String>,
    pub update: Option<String>,
    pub patch: Option<String>,
}

impl SystemVersion {
    fn read(value: &Value, path: &str, unknown: &mut Vec<String>) -> Result<Self, HostStateError> {
        let mut o = Obj::new(value, path)?;
        let r = Self {
            product: o.string("Product")?,
            version: o.string("Version")?,
            build: o.string("Build")?,
            update: o.string("Update")?,
            patch: o.string("Patch")?,
        };
        // ESXi 9 adds `Maintenance`; older releases do not print it.
        let _ = o.string("Maintenance")?;
        o.finish(unknown);
        Ok(r)
    }
}

/// Where a document came from (written by `esxlcm host collect` and the agent script).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Collected {
    /// The host as the collector named it (`esx01.example.com`).
    pub host: Option<String>,
    /// RFC 3339 time of the collection.
    pub at: Option<String>,
    /// `ssh` or `agent`.
    pub method: Option<String>,
    /// `esxcli` or `localcli`.
    pub tool: Option<String>,
    /// The collector and its version (`esxlcm 0.1.0`).
    pub by: Option<String>,
}

impl Collected {
    fn read(value: &Value, path: &str, unknown: &mut Vec<String>) -> Result<Self, HostStateError> {
        let mut o = Obj::new(value, path)?;
        let r = Self {
            host: o.string("host")?,
            at: o.string("at")?,
            method: o.string("method")?,
            tool: o.string("tool")?,
            by: o.string("by")?,
        };
        o.finish(unknown);
        Ok(r)
    }
}

/// govc's `host.esxcli -json` prints the same data as esxcli, wrapped:
/// `{"info": …, "values": [{"Name": ["esx-ui"], "Tags": ["a", "b"], …}], "string": ""}`
/// (every field a list of strings). These helpers unwrap it: one-element lists become their
/// string, empty lists `null`; anything else passes through unchanged.
mod govc {
    use serde_json::{Map, Value};

    use super::{HostStateError, normalize, wrong_type};

    /// The `values` list of a govc document, or `None` when `value` is not one.
    fn values(value: &Value) -> Option<&Vec<Value>> {
        let Value::Object(map) = value else { return None };
        if !map.keys().all(|k| matches!(normalize(k).as_str(), "values" | "info" | "string")) {
            return None;
        }
        map.iter().find(|(k, _)| normalize(k) == "values").and_then(|(_, v)| v.as_array())
    }

    fn unwrap_entry(entry: &Value) -> Value {
        match entry {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Value::Array(items) if items.is_empty() => Value::Null,
                            Value::Array(items) if items.len() == 1 => items[0].clone(),
                            other => other.clone(),
                        };
                        (k.clone(), v)
                    })
                    .collect::<Map<String, Value>>(),
            ),
            other => other.clone(),
        }
    }

    /// A list command's output (`vib list`): the array itself, or govc's `values` unwrapped.
    pub(super) fn list(value: &Value) -> Value {
        match values(value) {
            Some(items) => Value::Array(items.iter().map(unwrap_entry).collect()),
            None => value.clone(),
        }
    }

    /// A `get` command's output: the object itself, or the one entry of govc's `values`
    /// (`null` when there is none, as for a host without an add-on).
    pub(super) fn one(value: &Value, path: &str) -> Result<Value, HostStateError> {
        match values(value) {
            None => Ok(value.clone()),
            Some(items) => match items.as_slice() {
                [] => Ok(Value::Null),
                [entry] => Ok(unwrap_entry(entry)),
                _ => Err(wrong_type(&format!("{path}.values"), "one entry", value)),
            },
        }
    }
}

/// Reads `software component list` output; unknown keys are appended to `unknown`.
pub fn parse_component_list(
    value: &Value,
    unknown: &mut Vec<String>,
) -> Result<Vec<InstalledComponent>, HostStateError> {
    read_component_list(value, "$", unknown)
}

/// Reads `software vib list` output; unknown keys are appended to `unknown`.
pub fn parse_vib_list(value: &Value, unknown: &mut Vec<String>) -> Result<Vec<InstalledVib>, HostStateError> {
    read_vib_list(value, "$", unknown)
}

fn read_component_list(
    value: &Value,
    path: &str,
    unknown: &mut Vec<String>,
) -> Result<Vec<InstalledComponent>, HostStateError> {
    let Value::Array(items) = value else {
        return Err(wrong_type(path, "array", value));
    };
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let mut o = Obj::new(item, &p)?;
        let c = InstalledComponent {
            name: o.required_string("Name")?,
            version: o.required_version("Version")?,
            display_name: o.string("DisplayName")?,
            display_version: o.string("DisplayVersion")?,
            vendor: o.string("Vendor")?,
            acceptance_level: o.string("AcceptanceLevel")?,
            release_date: o.string("ReleaseDate")?,
        };
        o.finish(unknown);
        if !seen.insert(c.name.clone()) {
            return Err(HostStateError::DuplicateComponent { path: p, name: c.name });
        }
        out.push(c);
    }
    Ok(out)
}

fn read_vib_list(value: &Value, path: &str, unknown: &mut Vec<String>) -> Result<Vec<InstalledVib>, HostStateError> {
    let Value::Array(items) = value else {
        return Err(wrong_type(path, "array", value));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let mut o = Obj::new(item, &p)?;
        let platforms = match o.take("Platforms") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => {
                s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
            }
            Some(v) => name_list(v, &format!("{p}.Platforms"))?,
        };
        let v = InstalledVib {
            id: o.string("ID")?,
            name: o.required_string("Name")?,
            version: o.required_version("Version")?,
            vendor: o.string("Vendor")?,
            acceptance_level: o.string("AcceptanceLevel")?,
            install_date: o.string("InstallDate")?,
            platforms,
            status: o.string("Status")?,
            live_install_allowed: o.boolean("LiveInstallAllowed")?,
            live_remove_allowed: o.boolean("LiveRemoveAllowed")?,
            maintenance_mode_required: o.boolean("MaintenanceModeRequired")?,
        };
        // A column of `vib list` (the VIB's build date); compliance does not use it.
        let _ = o.string("CreationDate")?;
        o.finish(unknown);
        out.push(v);
    }
    Ok(out)
}

/// A list of names: `["a", "b"]`, `[{"Name": "a"}, …]`, or `{"a": …, "b": …}` (keys).
fn name_list(value: &Value, path: &str) -> Result<Vec<String>, HostStateError> {
    match value {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let p = format!("{path}[{i}]");
                match item {
                    Value::String(s) => Ok(s.clone()),
                    Value::Object(_) => {
                        // Only the name matters here; other keys of the entry are not reported.
                        let mut o = Obj::new(item, &p)?;
                        o.required_string("Name")
                    }
                    other => Err(wrong_type(&p, "string or object", other)),
                }
            })
            .collect(),
        Value::Object(map) => Ok(map.keys().cloned().collect()),
        other => Err(wrong_type(path, "array", other)),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn wrong_type(path: &str, expected: &'static str, found: &Value) -> HostStateError {
    HostStateError::WrongType { path: path.to_owned(), expected, found: type_name(found) }
}

/// `DisplayName`, `display_name`, `Display Name` → `displayname`.
fn normalize(key: &str) -> String {
    key.chars().filter(|c| !matches!(c, '_' | '-' | ' ')).flat_map(char::to_lowercase).collect()
}

/// A JSON object read with case-insensitive keys; remembers which keys were taken so the
/// rest can be reported as unknown.
struct Obj<'a> {
    path: String,
    /// normalized key → (original key, value); `None` once taken.
    fields: BTreeMap<String, (&'a str, Option<&'a Value>)>,
}

impl<'a> Obj<'a> {
    fn new(value: &'a Value, path: &str) -> Result<Self, HostStateError> {
        let Value::Object(map) = value else {
            return Err(wrong_type(path, "object", value));
        };
        let mut fields = BTreeMap::new();
        for (k, v) in map {
            if let Some((first, _)) = fields.insert(normalize(k), (k.as_str(), Some(v))) {
                return Err(HostStateError::DuplicateKey {
                    path: path.to_owned(),
                    first: first.to_owned(),
                    second: k.clone(),
                });
            }
        }
        Ok(Self { path: path.to_owned(), fields })
    }

    fn field_path(&self, key: &str) -> String {
        let original = self.fields.get(&normalize(key)).map_or(key, |(k, _)| *k);
        format!("{}.{original}", self.path)
    }

    fn take(&mut self, key: &str) -> Option<&'a Value> {
        self.fields.get_mut(&normalize(key)).and_then(|(_, v)| v.take())
    }

    fn take_required(&mut self, key: &str, field: &'static str) -> Result<&'a Value, HostStateError> {
        self.take(key).ok_or_else(|| HostStateError::MissingField { path: self.path.clone(), field })
    }

    fn string(&mut self, key: &str) -> Result<Option<String>, HostStateError> {
        let path = self.field_path(key);
        match self.take(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(other) => Err(wrong_type(&path, "string", other)),
        }
    }

    fn required_string(&mut self, key: &'static str) -> Result<String, HostStateError> {
        self.string(key)?.ok_or_else(|| HostStateError::MissingField { path: self.path.clone(), field: key })
    }

    fn required_version(&mut self, key: &'static str) -> Result<Version, HostStateError> {
        let path = self.field_path(key);
        let text = self.required_string(key)?;
        Version::parse(&text).map_err(|e| HostStateError::InvalidVersion { path, value: text, reason: e.to_string() })
    }

    fn boolean(&mut self, key: &str) -> Result<Option<bool>, HostStateError> {
        let path = self.field_path(key);
        match self.take(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                _ => Err(HostStateError::InvalidBool { path, value: s.clone() }),
            },
            Some(other) => Err(wrong_type(&path, "boolean", other)),
        }
    }

    /// Appends the paths of the keys nobody took.
    fn finish(self, unknown: &mut Vec<String>) {
        for (key, value) in self.fields.values() {
            if value.is_some() {
                unknown.push(format!("{}.{key}", self.path));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_and_separator_insensitive() {
        let v: Value = serde_json::from_str(
            r#"[{"name": "A", "VERSION": "1.0-1", "display_name": "a", "Acceptance Level": "VMwareCertified", "X": 1}]"#,
        )
        .unwrap();
        let mut unknown = Vec::new();
        let list = parse_component_list(&v, &mut unknown).unwrap();
        assert_eq!(list[0].name, "A");
        assert_eq!(list[0].display_name.as_deref(), Some("a"));
        assert_eq!(list[0].acceptance_level.as_deref(), Some("VMwareCertified"));
        assert_eq!(unknown, ["$[0].X"]);
    }

    #[test]
    fn duplicate_keys_after_normalization_are_errors() {
        let v: Value = serde_json::from_str(r#"{"Version": "1", "version": "2"}"#).unwrap();
        let err = InstalledBaseImage::from_value(&v, &mut Vec::new()).unwrap_err();
        assert!(matches!(err, HostStateError::DuplicateKey { .. }), "{err}");
    }

    #[test]
    fn vib_without_id_falls_back_to_vendor_name_version() {
        let v: Value = serde_json::from_str(
            r#"[{"Name": "x", "Version": "1.0-1", "Vendor": "V", "Platforms": "host, embeddedEsx"}]"#,
        )
        .unwrap();
        let vibs = parse_vib_list(&v, &mut Vec::new()).unwrap();
        assert_eq!(vibs[0].key(), "V_x_1.0-1");
        assert_eq!(vibs[0].platforms, ["host", "embeddedEsx"]);
    }

    #[test]
    fn booleans_accept_strings() {
        let v: Value =
            serde_json::from_str(r#"[{"ID": "i", "Name": "x", "Version": "1", "LiveRemoveAllowed": "True"}]"#).unwrap();
        assert_eq!(parse_vib_list(&v, &mut Vec::new()).unwrap()[0].live_remove_allowed, Some(true));
        let v: Value =
            serde_json::from_str(r#"[{"Name": "x", "Version": "1", "LiveRemoveAllowed": "maybe"}]"#).unwrap();
        let err = parse_vib_list(&v, &mut Vec::new()).unwrap_err();
        assert_eq!(err.to_string(), "$[0].LiveRemoveAllowed: invalid boolean `maybe`");
    }
}
