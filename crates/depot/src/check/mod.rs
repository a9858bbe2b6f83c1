//! Partner packaging checks (`esxlcm depot check`): everything ESXi, esxcli and vLCM would
//! trip over in a depot, reported as [`Finding`]s with stable rule ids (see `docs/check.md`).
//!
//! * [`lint`](self) (metadata level): the index chain and metadata zips, without reading VIB
//!   files: unknown vibList IDs, conflicting duplicates, escaping paths, malformed versions,
//!   legacy bulletins, add-ons without base images, unreferenced VIBs.
//! * [`verify`](self) (file level): every VIB file streamed once (in parallel over
//!   [`CheckOptions::jobs`] workers): its sha-256 and size against the metadata, each
//!   payload's checksums against the VIB's own `descriptor.xml`, that descriptor against the
//!   metadata copy, and `sig.pkcs7` over the exact descriptor bytes.
//!
//! Entry points: [`check_depot`] / [`check_depot_with_progress`] for an opened [`Depot`],
//! [`check_sources`] to open and check several sources (with cross-source conflicts), and
//! [`open_failure_report`] to turn a depot that cannot be opened into findings.

pub mod findings;
mod lint;
mod verify;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use findings::{
    CheckReport, CheckRun, Finding, Rule, SCHEMA, Severity, SignatureStatus, SignerInfo, Summary, VibReport,
};

use crate::source::{Depot, OpenOptions, SourceError};
use crate::vib::signature::TrustStore;
use verify::{Job, Outcome};

/// Default cap on one payload's decompressed size (real payloads are far smaller).
pub const DEFAULT_DECOMPRESSED_LIMIT: u64 = 8 << 30;

/// How thoroughly to check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Decompress payloads to verify their gunzip checksums and uncompressed sizes. Without
    /// it (`--no-payloads`) only the stored sha-256 and size of each payload are checked.
    pub verify_payloads: bool,
    /// Trust anchors (`--trust FILE.pem`), added to the built-in VMware one: every signer must
    /// then chain to one of them. Without it, VMware's levels (certified, accepted) must chain
    /// to VMware's anchor, and other signers are checked cryptographically only.
    pub trust: Option<Arc<TrustStore>>,
    /// VIB files verified at once (at least 1).
    pub jobs: usize,
    /// Cap on any decompressed payload stream, against decompression bombs.
    pub decompressed_limit: u64,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self { verify_payloads: true, trust: None, jobs: 2, decompressed_limit: DEFAULT_DECOMPRESSED_LIMIT }
    }
}

/// Progress of a check, for a progress bar. Called from worker threads.
pub trait CheckProgress: Sync {
    /// A source is about to be verified: `vib_files` files of `bytes` declared bytes.
    fn source_started(&self, _label: &str, _vib_files: usize, _bytes: u64) {}
    fn vib_started(&self, _vib: &str, _file: &str) {}
    /// `bytes`: the declared size of the file (what `source_started` counted).
    fn vib_finished(&self, _vib: &str, _file: &str, _bytes: u64) {}
    fn source_finished(&self, _label: &str) {}
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl CheckProgress for NoProgress {}

/// A source that could not be read at all (as opposed to a depot with defects, which is
/// reported as findings).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("cannot read {spec}")]
    Open {
        spec: String,
        #[source]
        error: Box<SourceError>,
    },
}

/// Check an opened depot.
pub fn check_depot(depot: &Depot, options: &CheckOptions) -> CheckReport {
    check_depot_with_progress(depot, options, &NoProgress)
}

/// Check an opened depot, reporting progress per VIB file.
pub fn check_depot_with_progress(depot: &Depot, options: &CheckOptions, progress: &dyn CheckProgress) -> CheckReport {
    let mut report = CheckReport::new(&depot.label, &depot.label, Some(depot.kind));
    report.findings = lint::lint_depot(depot);

    let claims = lint::claims(depot);
    let mut levels: BTreeMap<String, String> =
        claims.iter().map(|c| (c.vib.id(), c.vib.acceptance_level.as_str().to_owned())).collect();

    let jobs = jobs(depot, &claims);
    progress.source_started(&depot.label, jobs.len(), jobs.iter().map(Job::declared_size).sum());
    let mut unanchored = 0;
    for outcome in run_jobs(depot, &jobs, options, progress) {
        report.findings.extend(outcome.findings);
        unanchored += usize::from(outcome.signature_unanchored);
        report.vibs_checked += usize::from(outcome.read);
        report.signatures_verified += usize::from(outcome.signature_verified);
        levels.insert(outcome.report.id.clone(), outcome.report.acceptance_level.clone());
        report.vibs.push(outcome.report);
    }
    progress.source_finished(&depot.label);

    for level in levels.into_values() {
        *report.acceptance_levels.entry(level).or_default() += 1;
    }
    if options.trust.is_none() && unanchored > 0 {
        let n = unanchored;
        report.findings.push(Finding::new(
            Rule::SignatureTrustNotChecked,
            format!(
                "{n} signature{} verified over descriptor.xml, but the signer certificates do not chain to \
                 VMware's (built in) and no --trust anchors were given, so who signed is not established; \
                 pass --trust FILE.pem with the issuing CA certificates to check it",
                if n == 1 { "" } else { "s" }
            ),
        ));
    }
    report.finish();
    report
}

/// One job per VIB file, with every record pointing at it; records whose path leaves the
/// depot are left out (lint reports them).
fn jobs<'a>(depot: &Depot, claims: &[verify::Claim<'a>]) -> Vec<Job<'a>> {
    let mut jobs: Vec<Job<'a>> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for claim in claims {
        let Ok(path) = depot.vib_path(claim.meta, claim.vib) else { continue };
        match index.get(&path) {
            Some(&i) => {
                if let Some(job) = jobs.get_mut(i) {
                    job.claims.push(*claim);
                }
            }
            None => {
                index.insert(path.clone(), jobs.len());
                jobs.push(Job { path, claims: vec![*claim] });
            }
        }
    }
    jobs
}

fn run_jobs(depot: &Depot, jobs: &[Job<'_>], options: &CheckOptions, progress: &dyn CheckProgress) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let work = || {
        let mut mine = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(job) = jobs.get(i) else { break };
            let id = job.claims.first().map(|c| c.vib.id()).unwrap_or_default();
            progress.vib_started(&id, &job.path);
            let outcome = verify::verify_job(depot, job, options);
            progress.vib_finished(&id, &job.path, job.declared_size());
            mine.push((i, outcome));
        }
        mine
    };
    let workers = options.jobs.clamp(1, jobs.len().max(1));
    let mut results: Vec<(usize, Outcome)> = if workers == 1 {
        work()
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers).map(|_| s.spawn(work)).collect();
            handles
                .into_iter()
                .flat_map(|h| match h.join() {
                    Ok(v) => v,
                    Err(panic) => std::panic::resume_unwind(panic),
                })
                .collect()
        })
    };
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, o)| o).collect()
}

/// A source that failed to open, as a report of findings (a broken index, a ZIP entry with
/// `..`, an unparsable metadata member). `None` when the failure is not about the depot's
/// content (the file does not exist or cannot be read, a network error).
pub fn open_failure_report(spec: &str, error: &SourceError) -> Option<CheckReport> {
    let findings = lint::open_failure_findings(error)?;
    let mut report = CheckReport::new(spec, spec, None);
    report.findings = findings;
    report.finish();
    Some(report)
}

/// Conflicts between opened sources (the same VIB ID, component or release unit with
/// different content), as a catalog of all of them sees them.
pub fn cross_source_findings(depots: &[&Depot]) -> Vec<Finding> {
    if depots.len() < 2 {
        return Vec::new();
    }
    lint::cross_source(depots)
}

/// Open every source, check each, and look for conflicts between them.
///
/// A source whose content is broken yields a report of findings; a source that cannot be
/// read at all (missing file, network failure) is an error.
pub fn check_sources(
    specs: &[String],
    open: &OpenOptions,
    options: &CheckOptions,
    progress: &dyn CheckProgress,
) -> Result<CheckRun, CheckError> {
    let mut opened: Vec<Result<Depot, CheckReport>> = Vec::with_capacity(specs.len());
    for spec in specs {
        match Depot::open(spec, open) {
            Ok(d) => opened.push(Ok(d)),
            Err(error) => match open_failure_report(spec, &error) {
                Some(report) => opened.push(Err(report)),
                None => return Err(CheckError::Open { spec: spec.clone(), error: Box::new(error) }),
            },
        }
    }
    let mut reports = Vec::with_capacity(specs.len());
    for (spec, entry) in specs.iter().zip(&opened) {
        match entry {
            Ok(depot) => {
                let mut report = check_depot_with_progress(depot, options, progress);
                report.source.clone_from(spec);
                reports.push(report);
            }
            Err(report) => reports.push(report.clone()),
        }
    }
    let depots: Vec<&Depot> = opened.iter().filter_map(|o| o.as_ref().ok()).collect();
    Ok(CheckRun::new(reports, cross_source_findings(&depots)))
}
