//! The read-only esxcli commands a host state is made of, and the one POSIX `sh` script
//! that runs them all in one SSH session, each output between marker lines with its exit
//! status (decoded by [`crate::output`]).

/// One command of the collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command {
    /// The key of the host-state document its output goes to.
    pub key: &'static str,
    /// Its arguments after `esxcli --formatter=json`.
    pub args: &'static str,
    /// Whether a host may lack it (then the document's value is `null`/empty).
    pub optional: bool,
}

/// In document order. Every one of them only reads.
pub const COMMANDS: [Command; 6] = [
    Command { key: "base_image", args: "software baseimage get", optional: true },
    Command { key: "add_on", args: "software addon get", optional: true },
    Command { key: "components", args: "software component list", optional: true },
    Command { key: "vibs", args: "software vib list", optional: false },
    Command { key: "hardware_platform", args: "hardware platform get", optional: false },
    Command { key: "system_version", args: "system version get", optional: false },
];

/// Which CLI runs the commands: `esxcli` over SSH, `localcli` (no hostd needed) on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tool {
    #[default]
    Esxcli,
    Localcli,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Self::Esxcli => "esxcli",
            Self::Localcli => "localcli",
        }
    }
}

/// The marker opening a command's output: `@@esxlcm:begin <key>`.
pub const BEGIN: &str = "@@esxlcm:begin ";
/// The marker closing it: `@@esxlcm:end <key> <exit status>`.
pub const END: &str = "@@esxlcm:end ";

/// The script run on the host (by its login shell, BusyBox `sh` on ESXi): each command
/// with stderr joined to stdout, between markers; the markers start on a line of their own
/// even when an output lacks its final newline.
pub fn remote_script(tool: Tool) -> String {
    let mut s = String::new();
    for c in COMMANDS {
        s.push_str(&format!(
            "printf '\\n{BEGIN}{key}\\n'; {tool} --formatter=json {args} 2>&1; printf '\\n{END}{key} %s\\n' \"$?\"; ",
            key = c.key,
            tool = tool.name(),
            args = c.args,
        ));
    }
    s.push_str("exit 0");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_runs_every_command_read_only() {
        let s = remote_script(Tool::Esxcli);
        for c in COMMANDS {
            assert!(s.contains(&format!("esxcli --formatter=json {} 2>&1", c.args)), "{s}");
            assert!(c.args.ends_with(" get") || c.args.ends_with(" list"), "{} only reads", c.args);
        }
        assert!(remote_script(Tool::Localcli).contains("localcli --formatter=json software vib list"));
    }
}
