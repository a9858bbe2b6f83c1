//! Name tables and ESXi release versions, modelled on real 8.0 depots so generated
//! output reads like the real thing (and exercises the same version orderings).

/// Short names of real inbox drivers, used as driver VIB names. Beyond the table,
/// `drv<index>`. None is another's name plus a `-suffix` from [`SECONDARY_SUFFIXES`].
pub(crate) const DRIVER_WORDS: &[&str] = &[
    "i40en",
    "ixgben",
    "ntg3",
    "nvme-pcie",
    "vmkusb",
    "lsi-msgpt3",
    "lsi-msgpt35",
    "lsi-mr3",
    "lpfc",
    "qlnativefc",
    "bnxtnet",
    "bnxtroce",
    "nmlx5-core",
    "nmlx5-rdma",
    "ionic-en",
    "iavmd",
    "icen",
    "irdman",
    "igbn",
    "ne1000",
    "nenic",
    "nfnic",
    "nhpsa",
    "pvscsi",
    "vmw-ahci",
    "elxnet",
    "elxiscsi",
    "mtip32xx",
    "smartpqi",
    "qedentv",
    "qedrntv",
    "qedi",
    "qedf",
    "qcnic",
    "qfle3",
    "qfle3f",
    "qfle3i",
    "qflge",
    "atlantic",
    "brcmfcoe",
    "brcmnvmefc",
    "cndi-igc",
    "iser",
    "nvmerdma",
    "nvmetcp",
    "sfvmk",
    "vmkata",
    "vmksdhci",
    "vmkfcoe",
    "rste",
    "nvmxnet3",
    "ipmi",
    "usbcore",
    "nmlx4-core",
    "nmlx4-en",
    "nvme-ns",
    "hpe-nmi",
    "lsuv2-hpv2",
    "lsuv2-lsiv2",
    "lsuv2-smartpqi",
    "bcm-mpi3",
    "mlnx-bfbootctl",
];

/// Hardware vendors that prefix component names (`Intel-i40en`).
pub(crate) const COMPONENT_VENDORS: &[&str] = &[
    "VMware",
    "Intel",
    "Broadcom",
    "Marvell",
    "Mellanox",
    "Cisco",
    "Microchip",
    "Pensando",
    "Solarflare",
    "Aquantia",
    "Emulex",
    "QLogic",
];

/// Suffixes of a component's second and later VIBs (`i40en-esxio`); beyond, `x<k>`.
pub(crate) const SECONDARY_SUFFIXES: &[&str] = &["esxio", "tools", "cim", "fwupd", "mgmt", "plugin", "uplink", "stats"];

/// The VIBs of a real ESXi 8.0 U3 base image's `ESXi` component (and `tools-light`) with
/// their payloads `(name, type)` in descriptor order, `esx-base` first. The payload names are
/// those of the 8.0 U3b installer `boot.cfg` (testdata/iso/bootcfg/); which VIB carries which
/// payload is taken from the VIB names (`loadesx`, `vsan`, …) and, for `esx-base`
/// (`b k vmx vim tpm sb s`) and `esx-update` (`esxupdt tpmesxup weaselin`), inferred from
/// the module order [I]. Payloads whose VIB is not known (`procfs`, `btldr`) are left out.
pub(crate) const REAL_8_0_U3: &[(&str, &[(&str, &str)])] = &[
    (
        "esx-base",
        &[("b", "boot"), ("k", "boot"), ("vmx", "vgz"), ("vim", "vgz"), ("tpm", "vgz"), ("sb", "vgz"), ("s", "vgz")],
    ),
    ("cpu-microcode", &[("uc_intel", "boot"), ("uc_amd", "boot"), ("uc_hygon", "boot")]),
    ("bmcal", &[("bmcal", "vgz")]),
    ("clusterstore", &[("clusters", "vgz")]),
    ("crx", &[("crx", "vgz")]),
    ("drivervm-gpu", &[("drivervm", "vgz")]),
    ("esx-dvfilter-generic-fastpath", &[("dvfilter", "vgz")]),
    ("esx-ui", &[("esx-ui", "vgz")]),
    ("esx-update", &[("esxupdt", "vgz"), ("tpmesxup", "vgz"), ("weaselin", "vgz")]),
    ("esx-xserver", &[("xorg", "vgz")]),
    ("esxio-combiner", &[("esxio-co", "vgz")]),
    ("gc", &[("gc", "vgz")]),
    ("infravisor", &[("infravis", "vgz")]),
    ("loadesx", &[("loadesx", "vgz")]),
    ("native-misc-drivers", &[("native-m", "vgz")]),
    ("tools-light", &[("tools", "tgz")]),
    ("trx", &[("trx", "vgz")]),
    ("vdfs", &[("vdfs", "vgz")]),
    ("vsan", &[("vsan", "vgz")]),
    ("vsanhealth", &[("vsanheal", "vgz")]),
];

/// The vendor of VMware's own base-image VIBs (`VMware_bootbank_esx-base_…`); driver VIBs
/// are `VMW`.
pub(crate) const REAL_ESXI_VENDOR: &str = "VMware";

/// VIBs of the ESXi component, `esx-base` first; beyond the table, `esx-core<k>`.
pub(crate) const ESXI_VIBS: &[&str] = &[
    "esx-base",
    "esx-update",
    "vsan",
    "vsanhealth",
    "bmcal",
    "crx",
    "gc",
    "trx",
    "esx-xserver",
    "cpu-microcode",
    "vdfs",
    "esxio-combiner",
    "loadesx",
    "drivervm-gpu",
    "esx-dvfilter-generic-fastpath",
    "native-misc-drivers",
    "clusterstore",
    "infravisor",
];

/// OEM vendors of add-ons: (code, display name), after UMDS's vendor codes (§1.5).
pub(crate) const OEMS: &[(&str, &str)] = &[
    ("DEL", "Dell"),
    ("HPE", "Hewlett Packard Enterprise"),
    ("LVO", "Lenovo"),
    ("FJT", "Fujitsu"),
    ("CIS", "Cisco"),
    ("NEC", "NEC"),
    ("HTI", "Hitachi"),
    ("INP", "Inspur"),
];

/// OEM management components' words (`DEL-ism`).
pub(crate) const OEM_WORDS: &[&str] = &[
    "ism",
    "smx-provider",
    "amsd",
    "ilorest",
    "sut",
    "fc-enablement",
    "bmc-agent",
    "raid-cli",
    "nic-tools",
    "fw-updater",
    "xclarity",
    "sensor-agent",
    "perccli",
    "storcli",
    "cim-provider",
    "osc-agent",
];

/// One base-image release.
#[derive(Debug, Clone)]
pub(crate) struct Release {
    pub index: usize,
    /// `8.0.3-0.35.24280767`.
    pub version: String,
    /// `8.0.3`: what add-ons list in `supportedBaseImageVersions`.
    pub short: String,
    pub update: u32,
    /// `803`: the `<MMU>` of VMware release strings (`1vmw.803.0.35.24280767`).
    pub mmu: String,
    pub rollup: u32,
    pub patch: u32,
    pub build: u64,
    /// `2024-06-25`.
    pub date: String,
}

impl Release {
    /// The vmkapi level this release introduces; it also provides all earlier ones.
    pub fn vmkapi(&self) -> String {
        vmkapi(self.index)
    }

    /// `8.0 U3 - 24280767` (`8.0 U3 P35 - ...` for patches).
    pub fn ui_version(&self) -> String {
        if self.patch == 0 {
            format!("8.0 U{} - {}", self.update, self.build)
        } else {
            format!("8.0 U{} P{} - {}", self.update, self.patch, self.build)
        }
    }

    /// The VMware release tail of packages built for this release: `803.0.35.24280767`.
    pub fn tail(&self) -> String {
        format!("{}.{}.{}.{}", self.mmu, self.rollup, self.patch, self.build)
    }
}

/// `vmkapi_2_<11+level>_0_0`.
pub(crate) fn vmkapi(level: usize) -> String {
    format!("vmkapi_2_{}_0_0", 11 + level)
}

/// The first `n` releases: 8.0 U1, U2, U3 as shipped, then 8.0 U3 patches.
pub(crate) fn releases(n: usize) -> Vec<Release> {
    const SHIPPED: [(u32, u32, u32, u64); 3] = [(1, 0, 0, 21_495_797), (2, 0, 0, 22_380_479), (3, 0, 35, 24_280_767)];
    (0..n)
        .map(|index| {
            let (update, rollup, patch, build) = match SHIPPED.get(index) {
                Some(&s) => s,
                None => {
                    let k = (index - 2) as u64;
                    (3, 0, 35 + 15 * k as u32, 24_280_767 + 150_001 * k)
                }
            };
            // Months since January 2023: U1 in April 2023, then one release every 5 months.
            let month = 3 + 5 * index;
            Release {
                index,
                version: format!("8.0.{update}-{rollup}.{patch}.{build}"),
                short: format!("8.0.{update}"),
                update,
                mmu: format!("80{update}"),
                rollup,
                patch,
                build,
                date: format!("{:04}-{:02}-18", 2023 + month / 12, month % 12 + 1),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use esxlcm_version::Version;

    #[test]
    fn releases_are_realistic_and_ordered() {
        let r = releases(5);
        let v: Vec<&str> = r.iter().map(|r| r.version.as_str()).collect();
        assert_eq!(v[..3], ["8.0.1-0.0.21495797", "8.0.2-0.0.22380479", "8.0.3-0.35.24280767"]);
        let parsed: Vec<Version> = v.iter().map(|s| Version::parse(s).unwrap()).collect();
        assert!(parsed.windows(2).all(|w| w[0] < w[1]), "{v:?}");
        assert_eq!(r[0].date, "2023-04-18");
        assert_eq!(r[2].tail(), "803.0.35.24280767");
        assert_eq!(r[1].vmkapi(), "vmkapi_2_12_0_0");
    }
}
