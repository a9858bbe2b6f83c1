//! Which VIB payloads boot an installer, in what order, under which file names.
//!
//! The rule implemented here (depot-format §7.1/§7.2; marked \[I\] where inferred):
//!
//! * A payload is a boot module when its descriptor `type` is `boot`, `vgz`, `vzstd`,
//!   `tgz` or `installer`. Other types (`upgrade`, unknown ones) stay out of `boot.cfg`
//!   and are reported as skipped. \[I: the types real `boot.cfg` files reference\]
//! * The **kernel** is the first `boot` payload of the base VIB, `esx-base` (`b` →
//!   `b.b00`). Without one there is no installer to build.
//! * **Order**: `boot` payloads first, then `vgz`/`vzstd`/`installer`, then `tgz`, as in real
//!   `boot.cfg` files (`k.b00 … uc_intel.b00 … s.v00 … tools.t00`). Within each class the
//!   base VIB comes first, then the other VIBs by name (then ID), each VIB's payloads in
//!   descriptor order. \[I: VMware's order inside a class is not documented; the kernel and
//!   class order are what matters to the bootloader\] The image database `imgdb.tgz` is
//!   the last module (the builder appends it). Real 8.0 U3 and 7.0 `boot.cfg` files
//!   (testdata/iso/bootcfg/) refine "the other VIBs": first those of other vendors than
//!   `esx-base`'s (the drivers, `VMW_bootbank_…`), then `esx-base`'s vendor's own
//!   (`VMware_bootbank_…`: `bmcal` … `vsanhealth`), each by name. \[I: fits every recorded
//!   file except `xorg.v00 gc.v00`, which real files put after `tools.t00`\]
//! * **File names** are 8.3: the payload name lower-cased, anything but `a-z 0-9 _`
//!   replaced by `_` (ISO 9660 d-characters; real images have `vmkusb_n.v00`), cut to 8
//!   characters; the extension is `b` (boot), `v` (vgz/vzstd/installer) or `t` (tgz) plus a
//!   two-digit counter, `00` unless an earlier module already took the name (`b00`, `b01`,
//!   …) \[I: esximage's VFAT naming as seen in real names\]. `boot.cfg` uses the lower-case
//!   name; the ISO file is upper-case (§7.1).

use std::collections::BTreeSet;

use esxlcm_depot::model::{Payload, Vib};

use crate::error::BuildError;

/// The VIB that carries the kernel.
pub const BASE_VIB: &str = "esx-base";

/// Classes of boot modules, in boot order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModuleClass {
    Boot,
    Vgz,
    Tgz,
}

impl ModuleClass {
    /// The class of a payload type, `None` when it is not a boot module.
    pub fn of(payload_type: &str) -> Option<Self> {
        match payload_type.trim().to_ascii_lowercase().as_str() {
            "boot" => Some(Self::Boot),
            "vgz" | "vzstd" | "installer" => Some(Self::Vgz),
            "tgz" => Some(Self::Tgz),
            _ => None,
        }
    }

    fn extension_letter(self) -> char {
        match self {
            Self::Boot => 'b',
            Self::Vgz => 'v',
            Self::Tgz => 't',
        }
    }
}

/// One payload that becomes a file on the ISO.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BootModule {
    pub vib_id: String,
    /// The payload's name, which is also its `ar` member name.
    pub payload: String,
    pub payload_type: String,
    pub class: ModuleClass,
    /// The 8.3 name in `boot.cfg`, lower case (`b.b00`).
    pub file_name: String,
    /// Declared stored size.
    pub size: u64,
    /// Declared sha-256 of the stored bytes, lower case, when the descriptor gives one.
    pub sha256: Option<String>,
}

impl BootModule {
    /// The ISO file name: upper case (`B.B00`).
    pub fn iso_path(&self) -> String {
        self.file_name.to_ascii_uppercase()
    }
}

/// A payload left out of `boot.cfg` because its type is not a boot module type.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SkippedPayload {
    pub vib_id: String,
    pub payload: String,
    pub payload_type: String,
}

/// The boot modules of an image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ModulePlan {
    pub kernel: BootModule,
    /// Every other module in `boot.cfg` order (without `imgdb.tgz`).
    pub modules: Vec<BootModule>,
    pub skipped: Vec<SkippedPayload>,
}

impl ModulePlan {
    /// The kernel and the modules.
    pub fn all(&self) -> impl Iterator<Item = &BootModule> {
        std::iter::once(&self.kernel).chain(&self.modules)
    }
}

/// The declared sha-256 of a payload's stored bytes.
pub(crate) fn stored_sha256(p: &Payload) -> Option<String> {
    p.checksums
        .iter()
        .find(|c| {
            let t = c.checksum_type.trim().to_ascii_lowercase();
            (t == "sha-256" || t == "sha256") && c.verify_process.as_deref().is_none_or(|v| v.trim().is_empty())
        })
        .map(|c| c.value.trim().to_ascii_lowercase())
}

/// The 8.3 stem of a payload name.
fn stem(payload: &str) -> String {
    let s: String = payload
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .take(8)
        .collect();
    if s.is_empty() { "payload".into() } else { s }
}

/// Plan the boot modules of the image's VIBs (see the module docs for the rule).
pub fn plan_modules<'a>(vibs: impl IntoIterator<Item = &'a Vib>) -> Result<ModulePlan, BuildError> {
    let mut vibs: Vec<&Vib> = vibs.into_iter().collect();
    // The base VIB first, then the VIBs of other vendors (drivers: `VMW`, partners), then
    // those of the base VIB's vendor (`VMware`), each group by name and ID.
    let base_vendor = vibs.iter().find(|v| v.name == BASE_VIB).map(|v| v.vendor.clone());
    let key = |v: &&Vib| (v.name != BASE_VIB, Some(&v.vendor) == base_vendor.as_ref(), v.name.clone(), v.id());
    vibs.sort_by_key(key);
    let mut candidates: Vec<(ModuleClass, usize, &Vib, &Payload)> = Vec::new();
    let mut skipped = Vec::new();
    for (order, vib) in vibs.iter().enumerate() {
        for p in &vib.payloads {
            match ModuleClass::of(&p.payload_type) {
                Some(class) => candidates.push((class, order, vib, p)),
                None => skipped.push(SkippedPayload {
                    vib_id: vib.id(),
                    payload: p.name.clone(),
                    payload_type: p.payload_type.clone(),
                }),
            }
        }
    }
    // Stable: descriptor order is kept within one VIB.
    candidates.sort_by_key(|(class, order, _, _)| (*class, *order));
    let kernel_at = candidates
        .iter()
        .position(|(class, _, vib, _)| *class == ModuleClass::Boot && vib.name == BASE_VIB)
        .ok_or_else(|| NoKernelReason::explain(&vibs))?;
    let kernel = candidates.remove(kernel_at);
    let mut taken = BTreeSet::new();
    let kernel = module(kernel, &mut taken)?;
    let modules = candidates.into_iter().map(|c| module(c, &mut taken)).collect::<Result<Vec<_>, _>>()?;
    Ok(ModulePlan { kernel, modules, skipped })
}

struct NoKernelReason;

impl NoKernelReason {
    fn explain(vibs: &[&Vib]) -> BuildError {
        let reason = match vibs.iter().find(|v| v.name == BASE_VIB) {
            None => format!("no VIB named {BASE_VIB} is in the image"),
            Some(v) => format!("VIB {} has no payload of type 'boot'", v.id()),
        };
        BuildError::NoKernel { reason }
    }
}

fn module(
    (class, _, vib, p): (ModuleClass, usize, &Vib, &Payload),
    taken: &mut BTreeSet<String>,
) -> Result<BootModule, BuildError> {
    let stem = stem(&p.name);
    let letter = class.extension_letter();
    let file_name = (0..100)
        .map(|n| format!("{stem}.{letter}{n:02}"))
        .find(|name| !taken.contains(name))
        .ok_or_else(|| BuildError::ModuleNames { vib_id: vib.id(), payload: p.name.clone(), stem: stem.clone() })?;
    taken.insert(file_name.clone());
    Ok(BootModule {
        vib_id: vib.id(),
        payload: p.name.clone(),
        payload_type: p.payload_type.clone(),
        class,
        file_name,
        size: p.size,
        sha256: stored_sha256(p),
    })
}

#[cfg(test)]
mod tests {
    use esxlcm_depot::model::Checksum;

    use super::*;

    fn vib(name: &str, payloads: &[(&str, &str)]) -> Vib {
        let mut v = Vib::new(name, "1.0-1".parse().unwrap(), "VMW");
        v.payloads = payloads
            .iter()
            .map(|(n, t)| Payload {
                name: (*n).into(),
                payload_type: (*t).into(),
                size: 10,
                uncompressed_size: None,
                compression_option: None,
                checksums: vec![
                    Checksum {
                        checksum_type: "sha-256".into(),
                        verify_process: Some("gunzip".into()),
                        value: "AA".into(),
                    },
                    Checksum::sha256("BB"),
                ],
            })
            .collect();
        v
    }

    #[test]
    fn kernel_first_then_classes_in_boot_order_with_unique_8_3_names() {
        let vibs = [
            vib("tools-light", &[("tools", "tgz")]),
            vib("cpu-microcode", &[("uc_intel", "boot"), ("uc_amd", "boot")]),
            vib("esx-base", &[("b", "boot"), ("k", "boot"), ("s", "vgz"), ("sb", "vgz")]),
            vib("vmkusb-nic-fling", &[("vmkusb-nic-fling", "vzstd")]),
            vib("esx-update", &[("esxupdt", "installer"), ("upgr", "upgrade")]),
            vib("other", &[("S", "vgz"), ("b", "boot")]),
        ];
        let plan = plan_modules(&vibs).unwrap();
        assert_eq!(plan.kernel.file_name, "b.b00");
        assert_eq!(plan.kernel.vib_id, "VMW_bootbank_esx-base_1.0-1");
        assert_eq!(plan.kernel.sha256.as_deref(), Some("bb"), "the stored checksum, not the gunzip one");
        let names: Vec<&str> = plan.modules.iter().map(|m| m.file_name.as_str()).collect();
        assert_eq!(
            names,
            [
                "k.b00",
                "uc_intel.b00",
                "uc_amd.b00",
                "b.b01",
                "s.v00",
                "sb.v00",
                "esxupdt.v00",
                "s.v01",
                "vmkusb_n.v00",
                "tools.t00"
            ]
        );
        assert_eq!(plan.modules[8].iso_path(), "VMKUSB_N.V00");
        assert_eq!(
            plan.skipped,
            [SkippedPayload {
                vib_id: "VMW_bootbank_esx-update_1.0-1".into(),
                payload: "upgr".into(),
                payload_type: "upgrade".into()
            }]
        );
    }

    #[test]
    fn other_vendors_come_before_the_base_vendor() {
        let mut base = vib("esx-base", &[("b", "boot"), ("s", "vgz")]);
        base.vendor = "VMware".into();
        let mut loadesx = vib("loadesx", &[("loadesx", "vgz")]);
        loadesx.vendor = "VMware".into();
        let mut bmcal = vib("bmcal", &[("bmcal", "vgz")]);
        bmcal.vendor = "VMware".into();
        let driver = vib("vmkusb", &[("vmkusb", "vgz")]);
        let partner = {
            let mut v = vib("atlantic", &[("atlantic", "vgz")]);
            v.vendor = "MVL".into();
            v
        };
        let plan = plan_modules([&loadesx, &driver, &base, &bmcal, &partner]).unwrap();
        let names: Vec<&str> = plan.modules.iter().map(|m| m.file_name.as_str()).collect();
        assert_eq!(names, ["s.v00", "atlantic.v00", "vmkusb.v00", "bmcal.v00", "loadesx.v00"]);
    }

    #[test]
    fn no_kernel_is_an_error_that_says_why() {
        let err = plan_modules(&[vib("driver", &[("d", "vgz")])]).unwrap_err().to_string();
        assert!(err.contains("no VIB named esx-base is in the image"), "{err}");
        let err = plan_modules(&[vib("esx-base", &[("s", "vgz")])]).unwrap_err().to_string();
        assert!(err.contains("VIB VMW_bootbank_esx-base_1.0-1 has no payload of type 'boot'"), "{err}");
    }

    #[test]
    fn names_are_sanitised_and_collisions_counted() {
        assert_eq!(stem("Weird Name!"), "weird_na");
        assert_eq!(stem(""), "payload");
        let many: Vec<(String, &str)> = (0..101).map(|i| (format!("x{i}"), "vgz")).collect();
        let base = vib("esx-base", &[("b", "boot")]);
        let mut crowded = Vib::new("crowd", "1.0-1".parse().unwrap(), "VMW");
        crowded.payloads = many
            .iter()
            .map(|(n, t)| Payload {
                name: format!("samename{n}"),
                payload_type: (*t).into(),
                size: 1,
                uncompressed_size: None,
                compression_option: None,
                checksums: Vec::new(),
            })
            .collect();
        let err = plan_modules([&base, &crowded]).unwrap_err().to_string();
        assert!(err.contains("more than 100 boot modules would be named 'samename.*'"), "{err}");
    }
}
