//! The on-host agent: a Python 3 script with no dependencies (ESXi's own Python, 3.8+) that
//! gathers the same document with `localcli` and posts it to the service (a session from
//! `--user` and a password file, or `--token`), or writes it to a file on a datastore.
//! Printed by `esxlcm host agent-script`, for hosts where SSH is off.

/// The script, with this build's version in it.
pub fn script() -> String {
    include_str!("agent.py").replace("@VERSION@", env!("CARGO_PKG_VERSION"))
}

#[cfg(test)]
mod tests {
    use crate::commands::COMMANDS;

    #[test]
    fn the_script_runs_the_same_commands() {
        let s = super::script();
        for c in COMMANDS {
            assert!(
                s.contains(&format!("(\"{}\", \"{}\", {})", c.key, c.args, if c.optional { "True" } else { "False" })),
                "{}",
                c.key
            );
        }
        assert!(!s.contains("@VERSION@"));
        // Python 3.8 on ESXi 7/8: no match statements, no walrus in the script.
        assert!(!s.contains("match ") && !s.contains(":="));
    }
}
