//! Fuzzes what a remote host prints to `esxlcm host collect`: the marker-delimited outputs
//! of the collection script (untrusted bytes), then each section as esxcli JSON made into a
//! host-state document. Nothing may panic; a decoded section must round-trip.

#![no_main]

use esxlcm_collect::commands::Tool;
use esxlcm_collect::{Origin, document, output};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(sections) = output::parse(data) else {
        return;
    };
    for (key, section) in &sections {
        assert!(!key.is_empty() && !key.contains(char::is_whitespace));
        let _ = section.text.len();
    }
    let origin = Origin { host: "fuzz".into(), method: "ssh", tool: Tool::Esxcli, at: "2025-01-01T00:00:00Z".into() };
    match document::build(&sections, &origin) {
        Ok(doc) => {
            // What was accepted reads back as the same state.
            let again = esxlcm_solver::host_state::HostState::from_json(&doc.to_bytes()).expect("a built document reads back");
            assert_eq!(again, doc.state);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
