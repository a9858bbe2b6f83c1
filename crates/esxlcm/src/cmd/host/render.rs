//! The reports of `esxlcm host collect`: a progress line per host as it finishes, then a
//! table of hosts and a summary of failures by kind with what to do (text), or JSON.

use std::collections::BTreeMap;
use std::io::{self, Write};

use esxlcm_collect::{FailureKind, Outcome};
use serde_json::{Value, json};

use crate::output::{Table, count};

/// `[3/10] esx03: collected (base image 8.0.3-0.35.24280767) → host-4 at https://…`
pub fn progress_line(o: &Outcome, done: usize, total: usize) -> String {
    let secs = o.elapsed.as_secs_f64();
    match &o.result {
        Ok(d) => {
            let base = d.base_image.as_deref().map(|b| format!(" (base image {b})")).unwrap_or_default();
            format!("[{done}/{total}] {}: collected{base} → {} in {secs:.1} s", o.target.name, d.to)
        }
        Err(f) => format!("[{done}/{total}] {}: FAILED ({}): {}", o.target.name, f.kind.label(), f.message),
    }
}

pub fn report_text(out: &mut dyn Write, outcomes: &[Outcome]) -> io::Result<()> {
    let mut table = Table::new(["HOST", "DESTINATION", "RESULT", "BASE IMAGE", "TO"]);
    for o in outcomes {
        match &o.result {
            Ok(d) => table.row([
                o.target.name.as_str(),
                o.target.destination.as_str(),
                "collected",
                d.base_image.as_deref().unwrap_or("-"),
                d.to.as_str(),
            ]),
            Err(f) => {
                table.row([o.target.name.as_str(), o.target.destination.as_str(), f.kind.label(), "-", "-"]);
            }
        }
    }
    table.write(out, "")?;
    let notes: Vec<String> = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().ok().map(|d| (o, d)))
        .flat_map(|(o, d)| d.notes.iter().map(move |n| format!("{}: {n}", o.target.name)))
        .collect();
    if !notes.is_empty() {
        writeln!(out, "\nNotes:")?;
        for n in notes {
            writeln!(out, "  {n}")?;
        }
    }
    let ok = outcomes.iter().filter(|o| o.result.is_ok()).count();
    writeln!(out, "\n{} of {} collected.", ok, count(outcomes.len(), "host", "hosts"))?;
    failures_text(out, outcomes)
}

/// Failures grouped by kind, each with the hosts and what to do.
pub fn failures_text(out: &mut dyn Write, outcomes: &[Outcome]) -> io::Result<()> {
    let mut by_kind: BTreeMap<FailureKind, Vec<(&str, &str)>> = BTreeMap::new();
    for o in outcomes {
        if let Err(f) = &o.result {
            by_kind.entry(f.kind).or_default().push((o.target.name.as_str(), f.message.as_str()));
        }
    }
    for (kind, hosts) in by_kind {
        writeln!(out, "\n{} ({}):", kind.label(), count(hosts.len(), "host", "hosts"))?;
        for (name, message) in hosts {
            writeln!(out, "  {name}: {message}")?;
        }
        writeln!(out, "  what to do: {}", kind.advice())?;
    }
    Ok(())
}

pub fn report_json(outcomes: &[Outcome]) -> Value {
    let hosts: Vec<Value> = outcomes
        .iter()
        .map(|o| {
            let mut v = json!({
                "name": o.target.name,
                "destination": o.target.destination,
                "seconds": (o.elapsed.as_millis() as f64) / 1000.0,
            });
            match &o.result {
                Ok(d) => {
                    v["status"] = json!("collected");
                    v["to"] = json!(d.to);
                    v["base_image"] = json!(d.base_image);
                    v["notes"] = json!(d.notes);
                }
                Err(f) => {
                    v["status"] = json!("failed");
                    v["failure"] = json!({"kind": f.kind, "message": f.message, "advice": f.kind.advice()});
                }
            }
            v
        })
        .collect();
    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    json!({"schema": "esxlcm.host.collect/1", "hosts": hosts, "collected": outcomes.len() - failed, "failed": failed})
}
