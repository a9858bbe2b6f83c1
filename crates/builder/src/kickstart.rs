//! Kickstart (`ks.cfg`) files for scripted installs: a lint for the mistakes that stop an
//! unattended install before it starts, and the `boot.cfg` options that point the
//! installer at the copy on the ISO.
//!
//! The commands checked are those of VMware's "Installation and Upgrade Script Commands"
//! (vSphere installation guide): `vmaccepteula` (or `accepteula`) is required, an install
//! needs a target (`--firstdisk`, `--disk=`/`--drive=`), and an install (not an upgrade)
//! needs `rootpw`. Only the command section is read: everything from the first `%pre`,
//! `%post` or `%firstboot` line on is script.

use serde::Serialize;

/// The name of the kickstart on the ISO, and the kernel option that makes the installer
/// read it (vSphere guide: "ks=cdrom:/path").
pub const KICKSTART_ISO_PATH: &str = "KS.CFG";
pub const KICKSTART_KERNELOPT: &str = "ks=cdrom:/KS.CFG";
/// The largest kickstart accepted (real ones are a few KiB).
pub const MAX_KICKSTART: u64 = 1 << 20;

/// One problem of a kickstart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KickstartProblem {
    /// 1-based line of the command, when one command is at fault.
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for KickstartProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The command words of the command section, with their 1-based line numbers.
fn commands(text: &str) -> Vec<(usize, Vec<&str>)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('%') {
            break;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push((i + 1, line.split_whitespace().collect()));
    }
    out
}

/// Whether an install/upgrade command names its target disk.
fn has_target(args: &[&str]) -> bool {
    args.iter().enumerate().any(|(i, a)| {
        let a = a.to_ascii_lowercase();
        a == "--firstdisk"
            || a.starts_with("--firstdisk=")
            || ((a.starts_with("--disk=") || a.starts_with("--drive="))
                && a.split_once('=').is_some_and(|(_, v)| !v.is_empty()))
            || ((a == "--disk" || a == "--drive") && args.get(i + 1).is_some_and(|v| !v.starts_with("--")))
    })
}

/// The problems that stop an unattended install, in line order; empty when none is found.
pub fn lint(text: &str) -> Vec<KickstartProblem> {
    let cmds = commands(text);
    let mut problems = Vec::new();
    let find = |names: &[&str]| cmds.iter().find(|(_, words)| names.contains(&words[0].to_ascii_lowercase().as_str()));
    if find(&["vmaccepteula", "accepteula"]).is_none() {
        problems.push(KickstartProblem {
            line: None,
            message: "no vmaccepteula (or accepteula) command: the installer stops at the licence agreement".into(),
        });
    }
    let install = find(&["install", "installorupgrade"]);
    let upgrade = find(&["upgrade"]);
    match (install, upgrade) {
        (None, None) => problems.push(KickstartProblem {
            line: None,
            message: "no install, installorupgrade or upgrade command: the installer does not know what to do".into(),
        }),
        (Some(_), Some((line, _))) => problems.push(KickstartProblem {
            line: Some(*line),
            message: "both an install and an upgrade command; give one".into(),
        }),
        _ => {}
    }
    for (line, words) in [install, upgrade].into_iter().flatten() {
        if !has_target(&words[1..]) {
            problems.push(KickstartProblem {
                line: Some(*line),
                message: format!("{} without a target disk: add --firstdisk or --disk=<device>", words[0]),
            });
        }
    }
    if install.is_some() {
        match find(&["rootpw"]) {
            None => problems.push(KickstartProblem {
                line: None,
                message: "no rootpw command: an install needs the root password".into(),
            }),
            Some((line, words)) if !words[1..].iter().any(|w| !w.starts_with("--")) => {
                problems.push(KickstartProblem { line: Some(*line), message: "rootpw has no password".into() })
            }
            Some(_) => {}
        }
    }
    problems.sort_by_key(|p| p.line.unwrap_or(0));
    problems
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const GOOD: &str = "# Sample scripted installation\nvmaccepteula\nrootpw VMware1!\n\
                        install --firstdisk --overwritevmfs\nnetwork --bootproto=dhcp --device=vmnic0\nreboot\n\
                        %firstboot --interpreter=busybox\nvim-cmd hostsvc/enable_ssh\n";

    fn messages(text: &str) -> Vec<String> {
        lint(text).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_complete_kickstart_passes() {
        assert_eq!(messages(GOOD), Vec::<String>::new());
        assert!(lint("accepteula\nrootpw --iscrypted $6$abc\ninstall --disk=mpx.vmhba0:C0:T0:L0\n").is_empty());
        assert!(lint("vmaccepteula\nupgrade --diskBootedFrom --firstdisk\n").is_empty(), "upgrades keep the password");
        assert!(lint("VMAcceptEULA\nrootpw x\ninstallorupgrade --drive t10.ATA_x\n").is_empty());
    }

    #[test]
    fn each_mistake_is_named() {
        let m = messages("rootpw VMware1!\ninstall --firstdisk\n");
        assert_eq!(m, ["no vmaccepteula (or accepteula) command: the installer stops at the licence agreement"]);
        let m = messages("vmaccepteula\nrootpw VMware1!\ninstall --overwritevmfs\n");
        assert_eq!(m, ["line 3: install without a target disk: add --firstdisk or --disk=<device>"]);
        let m = messages("vmaccepteula\ninstall --firstdisk\n");
        assert_eq!(m, ["no rootpw command: an install needs the root password"]);
        let m = messages("vmaccepteula\nrootpw --iscrypted\ninstall --disk=\n");
        assert_eq!(
            m,
            [
                "line 2: rootpw has no password",
                "line 3: install without a target disk: add --firstdisk or --disk=<device>"
            ]
        );
        let m = messages("vmaccepteula\nrootpw x\n");
        assert!(m[0].starts_with("no install, installorupgrade or upgrade command"), "{m:?}");
    }

    #[test]
    fn script_sections_are_not_commands() {
        // The only accepteula is inside %post: it does not count.
        let m = messages("rootpw x\ninstall --firstdisk\n%post\nvmaccepteula\n");
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].contains("vmaccepteula"));
    }

    proptest! {
        #[test]
        fn lint_never_panics(text in "(\\PC{0,30}\n){0,10}") {
            let _ = lint(&text);
        }
    }
}
