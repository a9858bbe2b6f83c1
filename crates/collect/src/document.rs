//! The host-state document (`testdata/host-state/README.md`) built from the commands'
//! outputs: each esxcli JSON output kept verbatim under its key, plus `collected` (who,
//! where, when). Checked with the solver's reader before it is written or posted, so what
//! leaves here is what compliance can read.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use esxlcm_solver::host_state::{HostState, HostStateError};
use serde_json::{Map, Value, json};

use crate::commands::{COMMANDS, Command, Tool};
use crate::output::Section;

/// Where and how a document was collected (its `collected` block).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The host as the admin named it.
    pub host: String,
    /// `ssh` or `agent`.
    pub method: &'static str,
    pub tool: Tool,
    /// RFC 3339.
    pub at: String,
}

/// A document ready to write or post.
#[derive(Debug, Clone)]
pub struct Document {
    pub value: Value,
    /// The document as compliance reads it.
    pub state: HostState,
    /// What was absent and why (`software addon get`: no add-on), for the report.
    pub notes: Vec<String>,
}

impl Document {
    /// Pretty JSON with a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(&self.value).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Write the document to `path` atomically: a temporary sibling, fsynced, renamed.
    pub fn write_to(&self, path: &Path) -> std::io::Result<()> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(&self.to_bytes())?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// Why the outputs do not make a document. Each names the command.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("`{command}` printed nothing the collector recognises (its output is missing)")]
    Missing { command: String },
    #[error("`{command}` failed with exit status {status}: {output}")]
    Esxcli { command: String, status: i32, output: String },
    #[error("`{command}` did not print JSON ({error}); its output begins: {start}")]
    NotJson { command: String, error: String, start: String },
    #[error("the collected state is not usable: {0}")]
    State(#[from] HostStateError),
}

/// At most `max` characters of `s`, on one line, for messages.
pub(crate) fn excerpt(s: &str, max: usize) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

fn command_line(tool: Tool, c: &Command) -> String {
    format!("{} {}", tool.name(), c.args)
}

/// esxcli's answer for a namespace an older release lacks (ESXi 6.7 has no `software
/// component`, `baseimage` or `addon`).
fn is_unknown_command(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("unknown command or namespace") || t.contains("invalid command")
}

/// The document of one host from the decoded outputs.
pub fn build(sections: &BTreeMap<String, Section>, origin: &Origin) -> Result<Document, DocumentError> {
    let mut doc = Map::new();
    let mut notes = Vec::new();
    for c in &COMMANDS {
        let command = command_line(origin.tool, c);
        let section = sections.get(c.key).ok_or_else(|| DocumentError::Missing { command: command.clone() })?;
        let absent = if c.key == "components" { json!([]) } else { Value::Null };
        let text = section.text.trim();
        let value = if section.status != 0 {
            if c.optional && (c.key == "add_on" || is_unknown_command(text)) {
                notes.push(format!("`{command}` answered with status {}: {}", section.status, excerpt(text, 200)));
                absent
            } else {
                return Err(DocumentError::Esxcli { command, status: section.status, output: excerpt(text, 500) });
            }
        } else if text.is_empty() && c.optional {
            notes.push(format!("`{command}` printed nothing"));
            absent
        } else {
            match serde_json::from_str(text) {
                Ok(v) => v,
                // ESXi 7.0 prints the base image as one line, `ESXi:7.0.1-0.0.16850804`; if
                // its JSON formatter passes it through unquoted, it is kept as that string
                // (the host-state reader checks the version in it).
                Err(_) if c.key == "base_image" && !text.contains('\n') && text.contains(':') => {
                    Value::String(text.to_owned())
                }
                Err(e) => {
                    return Err(DocumentError::NotJson { command, error: e.to_string(), start: excerpt(text, 120) });
                }
            }
        };
        doc.insert(c.key.to_owned(), value);
    }
    doc.insert(
        "collected".to_owned(),
        json!({
            "host": origin.host,
            "at": origin.at,
            "method": origin.method,
            "tool": origin.tool.name(),
            "by": concat!("esxlcm ", env!("CARGO_PKG_VERSION")),
        }),
    );
    let value = Value::Object(doc);
    let state = HostState::from_value(&value)?;
    Ok(Document { value, state, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin { host: "esx01".into(), method: "ssh", tool: Tool::Esxcli, at: "2025-01-01T00:00:00Z".into() }
    }

    fn ok(text: &str) -> Section {
        Section { status: 0, text: text.into() }
    }

    fn sections() -> BTreeMap<String, Section> {
        let mut s = BTreeMap::new();
        s.insert("base_image".into(), ok(r#"{"Version": "8.0.1-0.0.21495797", "DisplayName": "ESXi"}"#));
        s.insert("add_on".into(), Section { status: 1, text: "no add-on".into() });
        s.insert("components".into(), ok(r#"[{"Name": "ESXi", "Version": "8.0.1-0.0.21495797"}]"#));
        s.insert("vibs".into(), ok(r#"[{"ID": "V_bootbank_x_1.0-1", "Name": "x", "Version": "1.0-1"}]"#));
        s.insert("hardware_platform".into(), ok(r#"{"VendorName": "Dell Inc.", "ProductName": "PowerEdge R650"}"#));
        s.insert("system_version".into(), ok(r#"{"Product": "VMware ESXi", "Version": "8.0.1"}"#));
        s
    }

    #[test]
    fn a_document_of_every_output() {
        let d = build(&sections(), &origin()).unwrap();
        assert_eq!(d.state.base_image.as_ref().unwrap().version.to_string(), "8.0.1-0.0.21495797");
        assert!(d.state.add_on.is_none());
        assert_eq!(d.notes.len(), 1, "{:?}", d.notes);
        let hw = d.state.hardware.as_ref().unwrap();
        assert_eq!((hw.vendor.as_deref(), hw.model.as_deref()), (Some("Dell Inc."), Some("PowerEdge R650")));
        assert_eq!(d.value["collected"]["method"], "ssh");
        assert!(d.state.unknown_fields.is_empty(), "{:?}", d.state.unknown_fields);
    }

    #[test]
    fn a_written_document_reads_back_as_the_same_state() {
        let mut s = sections();
        s.insert("vibs".into(), ok(r#"[{"ID": "V_bootbank_x_1.0-1", "Name": "x", "Version": "1.0-1", "Extra": 7}]"#));
        let d = build(&s, &origin()).unwrap();
        let again = HostState::from_json(&d.to_bytes()).unwrap();
        assert_eq!(again, d.state);
        assert_eq!(again.unknown_fields, ["vibs[0].Extra"]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("esx01.json");
        d.write_to(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), d.to_bytes());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }

    #[test]
    fn the_fuzz_seeds_cover_success_and_each_failure() {
        let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/host_output");
        let read = |name: &str| std::fs::read(seeds.join(name)).unwrap();
        let built = |name: &str| crate::output::parse(&read(name)).map(|s| build(&s, &origin()));
        let complete = built("complete.txt").unwrap().unwrap();
        assert_eq!(complete.state.hardware.unwrap().uuid.as_deref(), Some("4c4c4544-0042-3510-8052-b4c04f4a4d33"));
        let govc = built("govc-and-esxi70.txt").unwrap().unwrap();
        assert_eq!(govc.state.base_image.unwrap().version.to_string(), "7.0.1-0.0.16850804");
        assert!(matches!(built("esxcli-error.txt").unwrap(), Err(DocumentError::Esxcli { status: 1, .. })));
        assert!(built("cut-off.txt").is_err());
    }

    #[test]
    fn an_older_release_without_components_is_a_note() {
        let mut s = sections();
        s.insert(
            "components".into(),
            Section { status: 1, text: "Error: Unknown command or namespace software component list".into() },
        );
        s.insert(
            "base_image".into(),
            Section { status: 1, text: "Error: Unknown command or namespace software baseimage get".into() },
        );
        let d = build(&s, &origin()).unwrap();
        assert!(d.state.components.is_empty() && d.state.base_image.is_none());
        assert_eq!(d.notes.len(), 3);
    }

    #[test]
    fn failures_name_the_command() {
        let mut s = sections();
        s.insert("vibs".into(), Section { status: 1, text: "Error: Connection failed\n".into() });
        let e = build(&s, &origin()).unwrap_err().to_string();
        assert_eq!(e, "`esxcli software vib list` failed with exit status 1: Error: Connection failed");
        let mut s = sections();
        s.insert("system_version".into(), ok("Product: VMware ESXi"));
        let e = build(&s, &origin()).unwrap_err().to_string();
        assert!(e.starts_with("`esxcli system version get` did not print JSON"), "{e}");
        let mut s = sections();
        s.remove("hardware_platform");
        assert!(matches!(build(&s, &origin()), Err(DocumentError::Missing { .. })));
        let mut s = sections();
        s.insert("vibs".into(), ok(r#"[{"Name": "x"}]"#));
        assert_eq!(
            build(&s, &origin()).unwrap_err().to_string(),
            "the collected state is not usable: vibs[0]: required field `Version` is missing"
        );
    }
}
