//! One host: its SSH destination and name, and its collection (ssh, decode, document).

use chrono::{SecondsFormat, Utc};

use crate::commands::Tool;
use crate::document::{self, Document, Origin};
use crate::output;
use crate::ssh::{self, Failure, FailureKind, SshOptions};

/// A host to collect from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// What ssh connects to: `root@esx01`, `esx01` (user from ~/.ssh/config), `ssh://root@esx01:2222`.
    pub destination: String,
    /// The host's name in the document and in the service's inventory.
    pub name: String,
}

impl Target {
    /// A target named after its destination's host part.
    pub fn new(destination: &str) -> Self {
        Self { destination: destination.to_owned(), name: host_name(destination) }
    }
}

/// `ssh://root@esx01:2222` → `esx01`; `root@esx01.example.com` → `esx01.example.com`;
/// `root@[fe80::1]` → `fe80::1`.
pub fn host_name(destination: &str) -> String {
    let d = destination.strip_prefix("ssh://").unwrap_or(destination);
    let d = d.rsplit_once('@').map_or(d, |(_, h)| h);
    if let Some(inner) = d.strip_prefix('[') {
        return inner.split(']').next().unwrap_or(inner).to_owned();
    }
    if destination.starts_with("ssh://") {
        return d.split(':').next().unwrap_or(d).to_owned();
    }
    d.to_owned()
}

/// Collect `target`'s state over SSH.
pub fn collect(target: &Target, options: &SshOptions) -> Result<Document, Failure> {
    let stdout = ssh::run(&target.destination, options)?;
    let sections = output::parse(&stdout).map_err(|e| {
        Failure::new(FailureKind::Esxcli, format!("the host's answer cannot be read: {e} (is this an ESXi host?)"))
    })?;
    let origin = Origin {
        host: target.name.clone(),
        method: "ssh",
        tool: Tool::Esxcli,
        at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
    };
    document::build(&sections, &origin).map_err(|e| Failure::new(FailureKind::Esxcli, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_destination() {
        assert_eq!(host_name("root@esx01.example.com"), "esx01.example.com");
        assert_eq!(host_name("esx01"), "esx01");
        assert_eq!(host_name("ssh://root@esx01:2222"), "esx01");
        assert_eq!(host_name("ssh://root@[fe80::1]:22"), "fe80::1");
        assert_eq!(host_name("admin@corp@esx02"), "esx02");
    }
}
