//! Decoding what the collection script printed (untrusted bytes from a remote host): each
//! command's output between `@@esxlcm:begin KEY` and `@@esxlcm:end KEY STATUS` lines.
//! Bounded by the caller's byte cap; never panics; every refusal says what was wrong.

use std::collections::BTreeMap;

use crate::commands::{BEGIN, END};

/// One command's output and exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub status: i32,
    /// stdout and stderr as printed.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputError {
    #[error("the output is not UTF-8 text (byte {offset})")]
    NotText { offset: usize },
    #[error("line {line}: `{marker}` inside the output of `{open}`")]
    Nested { line: usize, marker: String, open: String },
    #[error("line {line}: `{marker}` closes nothing")]
    Unopened { line: usize, marker: String },
    #[error("line {line}: malformed marker `{marker}`")]
    Malformed { line: usize, marker: String },
    #[error("the output of `{key}` is cut off (no end marker): the session ended early")]
    Unterminated { key: String },
    #[error("`{key}` is printed twice")]
    Duplicate { key: String },
}

/// The sections of `bytes`, by key. Text outside sections (a login banner) is ignored.
pub fn parse(bytes: &[u8]) -> Result<BTreeMap<String, Section>, OutputError> {
    let text = std::str::from_utf8(bytes).map_err(|e| OutputError::NotText { offset: e.valid_up_to() })?;
    let mut out = BTreeMap::new();
    let mut open: Option<(String, Vec<&str>)> = None;
    for (i, line) in text.split('\n').enumerate() {
        let line_no = i + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(key) = line.strip_prefix(BEGIN) {
            if let Some((k, _)) = &open {
                return Err(OutputError::Nested { line: line_no, marker: line.to_owned(), open: k.clone() });
            }
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(OutputError::Malformed { line: line_no, marker: line.to_owned() });
            }
            open = Some((key.to_owned(), Vec::new()));
        } else if let Some(rest) = line.strip_prefix(END) {
            let Some((key, lines)) = open.take() else {
                return Err(OutputError::Unopened { line: line_no, marker: line.to_owned() });
            };
            let (k, status) = rest
                .split_once(' ')
                .and_then(|(k, s)| s.trim().parse::<i32>().ok().map(|s| (k, s)))
                .ok_or_else(|| OutputError::Malformed { line: line_no, marker: line.to_owned() })?;
            if k != key {
                return Err(OutputError::Nested { line: line_no, marker: line.to_owned(), open: key });
            }
            // The script's `printf '\n@@esxlcm:end'` ends the output's last line, so the
            // lines joined are the output exactly.
            let text = lines.join("\n");
            if out.insert(key.clone(), Section { status, text }).is_some() {
                return Err(OutputError::Duplicate { key });
            }
        } else if let Some((_, lines)) = &mut open {
            lines.push(line);
        }
    }
    match open {
        Some((key, _)) => Err(OutputError::Unterminated { key }),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn sections_with_statuses() {
        let out = "banner\n\n@@esxlcm:begin vibs\n[{\"Name\": \"a\"}]\n\n@@esxlcm:end vibs 0\n\n@@esxlcm:begin add_on\nno add-on\n\n@@esxlcm:end add_on 1\n";
        let s = parse(out.as_bytes()).unwrap();
        assert_eq!(s["vibs"], Section { status: 0, text: "[{\"Name\": \"a\"}]\n".into() });
        assert_eq!(s["add_on"].status, 1);
        assert_eq!(s["add_on"].text, "no add-on\n");
    }

    #[test]
    fn an_output_without_final_newline_still_ends() {
        let s = parse(b"\n@@esxlcm:begin x\n{}\n@@esxlcm:end x 0\n").unwrap();
        assert_eq!(s["x"].text, "{}");
    }

    #[test]
    fn broken_outputs_are_refused_with_the_reason() {
        assert_eq!(parse(b"@@esxlcm:begin vibs\n[").unwrap_err(), OutputError::Unterminated { key: "vibs".into() });
        assert!(matches!(parse(b"@@esxlcm:end vibs 0\n"), Err(OutputError::Unopened { line: 1, .. })));
        assert!(matches!(parse(b"@@esxlcm:begin a\n@@esxlcm:end a zero\n"), Err(OutputError::Malformed { .. })));
        assert!(matches!(parse(b"@@esxlcm:begin a\n@@esxlcm:begin b\n"), Err(OutputError::Nested { .. })));
        assert!(matches!(parse(b"\xff"), Err(OutputError::NotText { offset: 0 })));
        let twice = b"@@esxlcm:begin a\n@@esxlcm:end a 0\n@@esxlcm:begin a\n@@esxlcm:end a 0\n";
        assert_eq!(parse(twice).unwrap_err(), OutputError::Duplicate { key: "a".into() });
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn what_is_printed_is_read_back(
            sections in proptest::collection::btree_map("[a-z_]{1,12}", ("[ -~\n]{0,80}", -3i32..300), 0..6)
        ) {
            let mut out = String::from("welcome\n");
            for (key, (text, status)) in &sections {
                let text = text.replace("@@esxlcm", "@@x");
                out.push_str(&format!("\n{BEGIN}{key}\n{text}\n{END}{key} {status}\n"));
            }
            let parsed = parse(out.as_bytes()).unwrap();
            prop_assert_eq!(parsed.len(), sections.len());
            for (key, (text, status)) in &sections {
                prop_assert_eq!(&parsed[key].text, &text.replace("@@esxlcm", "@@x"));
                prop_assert_eq!(parsed[key].status, *status);
            }
        }
    }
}
