//! Many hosts at once: an inventory file (one SSH destination per line, optionally followed
//! by the host's name; `#` comments) collected by N workers, each host delivered (written
//! or posted) as soon as it is collected, and a report of every host's outcome.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::document::Document;
use crate::host::{Target, collect};
use crate::ssh::{Failure, SshOptions};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryError {
    #[error("line {line}: {problem}")]
    Line { line: usize, problem: String },
    #[error("the inventory lists no hosts")]
    Empty,
    #[error("host '{name}' is listed twice (lines {first} and {second})")]
    Duplicate { name: String, first: usize, second: usize },
}

/// The hosts of an inventory file.
pub fn parse_inventory(text: &str) -> Result<Vec<Target>, InventoryError> {
    let mut out: Vec<(usize, Target)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(destination), name, None) = (words.next(), words.next(), words.next()) else {
            return Err(InventoryError::Line {
                line: line_no,
                problem: format!("expected `DESTINATION [NAME]`, found `{line}`"),
            });
        };
        if destination.starts_with('-') {
            return Err(InventoryError::Line {
                line: line_no,
                problem: format!("`{destination}` is not an SSH destination"),
            });
        }
        let mut target = Target::new(destination);
        if let Some(name) = name {
            target.name = name.to_owned();
        }
        if let Some((first, _)) = out.iter().find(|(_, t)| t.name == target.name) {
            return Err(InventoryError::Duplicate { name: target.name, first: *first, second: line_no });
        }
        out.push((line_no, target));
    }
    if out.is_empty() {
        return Err(InventoryError::Empty);
    }
    Ok(out.into_iter().map(|(_, t)| t).collect())
}

/// What happened to one host.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub target: Target,
    /// What the delivery said (the file written, the service's host id) and the document's notes.
    pub result: Result<Delivered, Failure>,
    pub elapsed: Duration,
}

/// A host collected and delivered.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// Where it went: a file path or `host-12 at https://…`.
    pub to: String,
    /// The installed base image version, when the host has one.
    pub base_image: Option<String>,
    /// Notes of the document (absent optional outputs).
    pub notes: Vec<String>,
}

/// Collect every target with `jobs` workers (at least 1); `deliver` writes or posts each
/// document and says where it went; `progress` hears of each outcome as it happens (done,
/// total). Outcomes come back in the targets' order.
pub fn collect_all<D, P>(targets: &[Target], options: &SshOptions, jobs: usize, deliver: D, progress: P) -> Vec<Outcome>
where
    D: Fn(&Target, &Document) -> Result<String, Failure> + Sync,
    P: Fn(&Outcome, usize, usize) + Sync,
{
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; targets.len()]);
    let workers = jobs.clamp(1, targets.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(target) = targets.get(i) else { break };
                    let start = Instant::now();
                    let result = collect(target, options).and_then(|doc| {
                        let to = deliver(target, &doc)?;
                        Ok(Delivered {
                            to,
                            base_image: doc.state.base_image.as_ref().map(|b| b.version.to_string()),
                            notes: doc.notes,
                        })
                    });
                    let outcome = Outcome { target: target.clone(), result, elapsed: start.elapsed() };
                    let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                    progress(&outcome, n, targets.len());
                    if let Ok(mut r) = results.lock() {
                        r[i] = Some(outcome);
                    }
                }
            });
        }
    });
    results.into_inner().unwrap_or_default().into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_lines() {
        let t = parse_inventory("# site A\nroot@esx01\n\nssh://root@10.0.0.2:2222 esx02  # lab\nesx03\n").unwrap();
        let names: Vec<&str> = t.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["esx01", "esx02", "esx03"]);
        assert_eq!(t[1].destination, "ssh://root@10.0.0.2:2222");
    }

    #[test]
    fn bad_inventories_say_where() {
        assert_eq!(parse_inventory("# nothing\n").unwrap_err(), InventoryError::Empty);
        assert!(matches!(parse_inventory("a b c\n"), Err(InventoryError::Line { line: 1, .. })));
        assert!(matches!(parse_inventory("ok\n-oProxyCommand=x\n"), Err(InventoryError::Line { line: 2, .. })));
        assert_eq!(
            parse_inventory("root@esx01\nesx01\n").unwrap_err(),
            InventoryError::Duplicate { name: "esx01".into(), first: 1, second: 2 }
        );
    }

    #[test]
    fn every_host_has_an_outcome_in_order() {
        let targets: Vec<Target> = (0..5).map(|i| Target::new(&format!("root@h{i}"))).collect();
        let options = SshOptions { program: "/nonexistent/ssh".into(), ..SshOptions::default() };
        let seen = AtomicUsize::new(0);
        let outcomes = collect_all(
            &targets,
            &options,
            3,
            |_, _| Ok(String::new()),
            |_, _, total| {
                assert_eq!(total, 5);
                seen.fetch_add(1, Ordering::SeqCst);
            },
        );
        assert_eq!(seen.load(Ordering::SeqCst), 5);
        let names: Vec<&str> = outcomes.iter().map(|o| o.target.name.as_str()).collect();
        assert_eq!(names, ["h0", "h1", "h2", "h3", "h4"]);
        assert!(outcomes.iter().all(|o| o.result.is_err()));
    }
}
