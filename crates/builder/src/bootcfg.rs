//! `boot.cfg`, the mboot configuration (depot-format §7.2): rendered for a built ISO,
//! parsed (leniently, bounded by the caller) when inspecting one.

use serde::Serialize;

/// The kernel options of an installer that boots from the CD.
pub const INSTALLER_KERNELOPT: &str = "runweasel cdromBoot";

/// The title real installer ISOs show.
pub const INSTALLER_TITLE: &str = "Loading ESXi installer";

/// The keys [`BootCfg`] has a field for.
const KEYS: [&str; 9] =
    ["bootstate", "title", "timeout", "prefix", "kernel", "kernelopt", "modules", "build", "updated"];

/// What a build may change in the installer's `boot.cfg`: the menu title and kernel options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootOptions {
    /// `title=` [default: [`INSTALLER_TITLE`]].
    pub title: Option<String>,
    /// `KEY=VALUE` options appended to `kernelopt=` in order (after `runweasel cdromBoot`
    /// and the kickstart option).
    pub kernel_opts: Vec<(String, String)>,
    /// Append [`crate::kickstart::KICKSTART_KERNELOPT`] (`ks=cdrom:/KS.CFG`).
    pub kickstart: bool,
}

impl BootOptions {
    /// Refuse what would break the line-based file or the kernel command line: line breaks
    /// anywhere, spaces or `=` in a key, spaces in a value, an empty key.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(title) = &self.title
            && (title.contains(['\n', '\r']) || title.trim().is_empty())
        {
            return Err(format!("title {title:?}: it must be one non-empty line"));
        }
        for (key, value) in &self.kernel_opts {
            if key.is_empty() || key.contains(|c: char| c.is_whitespace() || c == '=' || c.is_control()) {
                return Err(format!("kernel option key {key:?}: it must be non-empty, without spaces or '='"));
            }
            if value.contains(|c: char| c.is_whitespace() || c.is_control()) {
                return Err(format!("kernel option {key}={value:?}: the value must not contain spaces or line breaks"));
            }
        }
        Ok(())
    }

    /// The `kernelopt=` value.
    pub fn kernelopt(&self) -> String {
        let mut out = INSTALLER_KERNELOPT.to_owned();
        if self.kickstart {
            out.push(' ');
            out.push_str(crate::kickstart::KICKSTART_KERNELOPT);
        }
        for (key, value) in &self.kernel_opts {
            out.push_str(&format!(" {key}={value}"));
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootCfg {
    pub bootstate: String,
    pub title: String,
    pub timeout: String,
    pub prefix: String,
    /// As written, with its leading `/` (`/b.b00`).
    pub kernel: String,
    pub kernelopt: String,
    /// As written, in order (`/k.b00`, …).
    pub modules: Vec<String>,
    pub build: String,
    pub updated: String,
    /// Other `key=value` lines, kept in order.
    pub other: Vec<(String, String)>,
}

impl BootCfg {
    /// The installer `boot.cfg` for a kernel and modules given as 8.3 file names.
    pub fn installer<'a>(kernel: &str, modules: impl IntoIterator<Item = &'a str>, build: &str) -> Self {
        Self {
            bootstate: "0".into(),
            title: INSTALLER_TITLE.into(),
            timeout: "5".into(),
            prefix: String::new(),
            kernel: format!("/{kernel}"),
            kernelopt: INSTALLER_KERNELOPT.into(),
            modules: modules.into_iter().map(|m| format!("/{m}")).collect(),
            build: build.into(),
            updated: "0".into(),
            other: Vec::new(),
        }
    }

    /// Apply a build's title and kernel options.
    pub fn with_options(mut self, options: &BootOptions) -> Self {
        if let Some(title) = &options.title {
            self.title = title.trim().to_owned();
        }
        self.kernelopt = options.kernelopt();
        self
    }

    /// The file, lines in the order of real installer copies (§7.2), `\n` line ends.
    pub fn render(&self) -> String {
        let mut out = format!(
            "bootstate={}\ntitle={}\ntimeout={}\nprefix={}\nkernel={}\nkernelopt={}\nmodules={}\nbuild={}\nupdated={}\n",
            self.bootstate,
            self.title,
            self.timeout,
            self.prefix,
            self.kernel,
            self.kernelopt,
            self.modules.join(" --- "),
            self.build,
            self.updated
        );
        for (k, v) in &self.other {
            // A known key among the others came from a line without `=`; written as
            // `key=` it would read back as that key and override the line above.
            if KEYS.contains(&k.as_str()) {
                out.push_str(&format!("{k}\n"));
            } else {
                out.push_str(&format!("{k}={v}\n"));
            }
        }
        out
    }

    /// Read a `boot.cfg`: `key=value` lines, `#` comments and blank lines ignored, CRLF
    /// accepted, `modules` split on `---`. Fails only when there is no `kernel=` line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut cfg = Self {
            bootstate: String::new(),
            title: String::new(),
            timeout: String::new(),
            prefix: String::new(),
            kernel: String::new(),
            kernelopt: String::new(),
            modules: Vec::new(),
            build: String::new(),
            updated: String::new(),
            other: Vec::new(),
        };
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                cfg.other.push((line.to_owned(), String::new()));
                continue;
            };
            let (key, value) = (key.trim(), value.trim().to_owned());
            match key {
                "bootstate" => cfg.bootstate = value,
                "title" => cfg.title = value,
                "timeout" => cfg.timeout = value,
                "prefix" => cfg.prefix = value,
                "kernel" => cfg.kernel = value,
                "kernelopt" => cfg.kernelopt = value,
                "modules" => {
                    cfg.modules =
                        value.split("---").map(str::trim).filter(|m| !m.is_empty()).map(str::to_owned).collect();
                }
                "build" => cfg.build = value,
                "updated" => cfg.updated = value,
                _ => cfg.other.push((key.to_owned(), value)),
            }
        }
        if cfg.kernel.is_empty() {
            return Err("it has no kernel= line".into());
        }
        Ok(cfg)
    }

    /// The ISO path of a `boot.cfg` file reference: `prefix` joined, leading `/` removed,
    /// upper case (installer ISOs use upper-case 8.3 names, §7.1).
    pub fn iso_path(&self, file: &str) -> String {
        let joined = if file.starts_with('/') || self.prefix.is_empty() {
            file.to_owned()
        } else {
            format!("{}/{file}", self.prefix.trim_end_matches('/'))
        };
        joined.trim_start_matches('/').to_ascii_uppercase()
    }
}

/// `ISOLINUX.CFG` for the BIOS boot: a menu (when `MENU.C32` is there) whose default entry
/// chains `mboot.c32 -c boot.cfg`, as real installer ISOs do.
pub fn isolinux_cfg(profile_name: &str, with_menu: bool) -> String {
    let mut out = String::new();
    if with_menu {
        out.push_str(&format!("DEFAULT menu.c32\nMENU TITLE {profile_name} Boot Menu\n"));
    } else {
        out.push_str("DEFAULT install\n");
    }
    out.push_str("NOHALT 1\nPROMPT 0\nTIMEOUT 80\n");
    out.push_str("LABEL install\n  KERNEL mboot.c32\n  APPEND -c boot.cfg\n");
    if with_menu {
        out.push_str(&format!("  MENU LABEL ^{profile_name} Installer\n"));
    }
    out.push_str("LABEL hddboot\n  LOCALBOOT 0x80\n");
    if with_menu {
        out.push_str("  MENU LABEL ^Boot from local disk\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any text parses or is refused; what parses renders and parses back the same.
        #[test]
        fn parse_never_panics_and_round_trips(text in "(\\PC{0,40}\n){0,12}") {
            if let Ok(cfg) = BootCfg::parse(&text) {
                let again = BootCfg::parse(&cfg.render()).unwrap();
                prop_assert_eq!(again.kernel, cfg.kernel);
                prop_assert_eq!(again.modules, cfg.modules);
            }
        }
    }

    #[test]
    fn renders_like_a_real_installer_and_parses_back() {
        let cfg = BootCfg::installer("b.b00", ["k.b00", "s.v00", "imgdb.tgz"], "8.0.3-0.35.24280767");
        let text = cfg.render();
        insta::assert_snapshot!(text, @r"
        bootstate=0
        title=Loading ESXi installer
        timeout=5
        prefix=
        kernel=/b.b00
        kernelopt=runweasel cdromBoot
        modules=/k.b00 --- /s.v00 --- /imgdb.tgz
        build=8.0.3-0.35.24280767
        updated=0
        ");
        assert_eq!(BootCfg::parse(&text).unwrap(), cfg);
    }

    #[test]
    fn options_set_the_title_and_extend_kernelopt() {
        let options = BootOptions {
            title: Some("Site A installer".into()),
            kernel_opts: vec![("netdevice".into(), "vmnic1".into()), ("bootproto".into(), "dhcp".into())],
            kickstart: true,
        };
        options.validate().unwrap();
        let cfg = BootCfg::installer("b.b00", ["k.b00"], "8.0.3-0.35.24280767").with_options(&options);
        let text = cfg.render();
        assert!(text.contains("\ntitle=Site A installer\n"), "{text}");
        assert!(
            text.contains("\nkernelopt=runweasel cdromBoot ks=cdrom:/KS.CFG netdevice=vmnic1 bootproto=dhcp\n"),
            "{text}"
        );
        assert_eq!(BootCfg::parse(&text).unwrap(), cfg);
        let plain = BootCfg::installer("b.b00", ["k.b00"], "x").with_options(&BootOptions::default());
        assert_eq!(plain.kernelopt, "runweasel cdromBoot");
        assert_eq!(plain.title, INSTALLER_TITLE);
        for (bad, want) in [
            (BootOptions { title: Some("two\nlines".into()), ..BootOptions::default() }, "one non-empty line"),
            (BootOptions { kernel_opts: vec![("a b".into(), "1".into())], ..BootOptions::default() }, "without spaces"),
            (BootOptions { kernel_opts: vec![(String::new(), "1".into())], ..BootOptions::default() }, "non-empty"),
            (
                BootOptions { kernel_opts: vec![("k".into(), "1 2".into())], ..BootOptions::default() },
                "must not contain",
            ),
        ] {
            let err = bad.validate().unwrap_err();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn parses_real_variants() {
        let text = "bootstate=0\r\ntitle=Loading ESXi installer\r\n# comment\r\nkernel=/tboot.b00\r\n\
                    kernelopt=runweasel\r\nmodules=/b.b00 --- /useropts.gz---/k.b00\r\nbuild=\r\nnoquiet\r\n";
        let cfg = BootCfg::parse(text).unwrap();
        assert_eq!(cfg.kernel, "/tboot.b00");
        assert_eq!(cfg.modules, ["/b.b00", "/useropts.gz", "/k.b00"]);
        assert_eq!(cfg.other, [("noquiet".to_owned(), String::new())]);
        assert_eq!(cfg.iso_path("/useropts.gz"), "USEROPTS.GZ");
        let pxe = BootCfg { prefix: "esxi/8".into(), ..cfg.clone() };
        assert_eq!(pxe.iso_path("b.b00"), "ESXI/8/B.B00");
        assert_eq!(BootCfg::parse("title=x\n").unwrap_err(), "it has no kernel= line");
    }

    /// Found by fuzzing (fuzz/fuzz_targets/bootcfg.rs): a bare `modules` line after the real
    /// one rendered as `modules=` and emptied the module list when read back.
    #[test]
    fn bare_known_keys_round_trip() {
        let cfg = BootCfg::parse("kernel=/b.b00\nmodules=/k.b00 --- /imgdb.tgz\nmodules\nkernel\nx=\n").unwrap();
        assert_eq!(cfg.modules, ["/k.b00", "/imgdb.tgz"]);
        let rendered = cfg.render();
        assert!(rendered.ends_with("\nmodules\nkernel\nx=\n"), "{rendered}");
        assert_eq!(BootCfg::parse(&rendered).unwrap(), cfg);
    }

    #[test]
    fn isolinux_cfg_chains_mboot() {
        let with = isolinux_cfg("ESXi-8.0.3-custom", true);
        assert!(with.starts_with("DEFAULT menu.c32\nMENU TITLE ESXi-8.0.3-custom Boot Menu\n"), "{with}");
        assert!(with.contains("  KERNEL mboot.c32\n  APPEND -c boot.cfg\n"));
        let without = isolinux_cfg("x", false);
        assert!(without.starts_with("DEFAULT install\n") && !without.contains("MENU"), "{without}");
    }
}
