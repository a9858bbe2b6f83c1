//! Inputs a hostile user hands the depot reader (issue #12): FIFOs and devices where a file
//! is expected, ZIPs with a symbolic link entry or one name twice. Each must be refused with
//! a clear error, quickly, and `depot check` must report it as an error finding.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use esxlcm_depot::archive::{ArchiveLimits, DeterministicZip, SafeZip};
use esxlcm_depot::check::{CheckError, CheckOptions, NoProgress, Rule, check_depot, check_sources};
use esxlcm_depot::source::{Depot, OpenOptions};
use esxlcm_test_support::sample_bundle;

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Runs `f` on a thread and fails the test if it has not returned within 10 s (a FIFO
/// opened for reading blocks until a writer comes: a hang, not a failure, without this).
fn within_10s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(10)).expect("still blocked after 10 s (opened a FIFO?)")
}

fn clean_fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/check/clean.zip")
}

/// Every entry of a ZIP, in order.
fn entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut zip = SafeZip::open(std::fs::File::open(path).unwrap(), ArchiveLimits::default()).unwrap();
    let names: Vec<String> = zip.names().iter().filter(|n| !n.ends_with('/')).cloned().collect();
    names.into_iter().map(|n| (n.clone(), zip.read_to_vec(&n, 1 << 30).unwrap())).collect()
}

#[test]
fn a_fifo_source_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("bundle.zip");
    mkfifo(&fifo);
    let spec = fifo.to_string_lossy().into_owned();
    let err = within_10s({
        let spec = spec.clone();
        move || Depot::open(&spec, &OpenOptions::default()).unwrap_err()
    });
    assert_eq!(err.to_string(), format!("{spec}: not a regular file (it is a FIFO)"));
    // depot check: not a finding about a depot, a source that cannot be read (exit 2).
    let err = within_10s(move || {
        check_sources(&[spec], &OpenOptions::default(), &CheckOptions::default(), &NoProgress).unwrap_err()
    });
    assert!(matches!(err, CheckError::Open { .. }), "{err}");
    let err = within_10s(|| Depot::open("/dev/zero", &OpenOptions::default()).unwrap_err());
    assert_eq!(err.to_string(), "/dev/zero: not a regular file (it is a character device)");
}

#[test]
fn a_fifo_in_a_depot_directory_is_reported_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut vib = None;
    for (name, data) in entries(&clean_fixture()) {
        let path = dir.path().join(&name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        if name.ends_with(".vib") {
            mkfifo(&path);
            vib = Some(name);
        } else {
            std::fs::write(&path, data).unwrap();
        }
    }
    let vib = vib.expect("clean.zip holds a VIB");
    let root = dir.path().to_string_lossy().into_owned();
    let report = within_10s(move || {
        let depot = Depot::open(&root, &OpenOptions::default()).unwrap();
        check_depot(&depot, &CheckOptions::default())
    });
    let findings: Vec<_> = report.by_rule(Rule::VibUnreadable).collect();
    assert_eq!(findings.len(), 1, "{:?}", report.findings);
    assert_eq!(findings[0].file.as_deref(), Some(vib.as_str()));
    assert!(
        findings[0].message.contains(&format!("'{vib}': not a regular file (it is a FIFO)")),
        "{}",
        findings[0].message
    );
    assert!(report.has_errors());
}

/// A real sample bundle rewritten with a bogus copy of its first VIB before the genuine
/// one. The ZIP writer refuses a name twice, so the bogus copy is written under a name of
/// the same length and renamed in the bytes afterwards.
fn sample_with_duplicate_vib() -> (Vec<u8>, String) {
    let members = entries(&sample_bundle("nvme-community-driver_1.0.1.0-3vmw"));
    let vib = members.iter().map(|(n, _)| n.clone()).find(|n| n.ends_with(".vib")).unwrap();
    let placeholder = format!("{}X", &vib[..vib.len() - 1]);
    let mut zip = DeterministicZip::new(Cursor::new(Vec::new()));
    zip.add_bytes(&placeholder, b"not the VIB the metadata describes").unwrap();
    for (name, data) in &members {
        zip.add_bytes(name, data).unwrap();
    }
    let mut bytes = zip.finish().unwrap().into_inner();
    let (from, to) = (placeholder.as_bytes(), vib.as_bytes());
    let mut renamed = 0;
    for i in 0..bytes.len() - from.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            renamed += 1;
        }
    }
    assert_eq!(renamed, 2, "the local and the central header");
    (bytes, vib)
}

#[test]
fn a_bundle_with_a_duplicate_vib_entry_is_refused_and_checked_as_an_error() {
    let (bytes, vib) = sample_with_duplicate_vib();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dup.zip");
    std::fs::write(&path, bytes).unwrap();
    let spec = path.to_string_lossy().into_owned();
    let err = Depot::open(&spec, &OpenOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{spec}: entry '{vib}' appears more than once; readers disagree on which copy counts")
    );
    let run =
        check_sources(std::slice::from_ref(&spec), &OpenOptions::default(), &CheckOptions::default(), &NoProgress)
            .unwrap();
    assert!(run.has_errors());
    let findings = &run.reports[0].findings;
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].rule, "zip-duplicate-entry");
    assert_eq!(findings[0].field.as_deref(), Some(vib.as_str()));
    assert!(findings[0].message.starts_with(&format!("{spec} holds more than one entry named '{vib}'")));
}

#[test]
fn a_bundle_with_a_symlink_entry_is_refused_and_checked_as_an_error() {
    let members = entries(&sample_bundle("nvme-community-driver_1.0.1.0-3vmw"));
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in &members {
        zip.start_file(name.as_str(), zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.add_symlink("vib20/passwd/passwd.vib", "/etc/passwd", zip::write::SimpleFileOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("link.zip");
    std::fs::write(&path, zip.finish().unwrap().into_inner()).unwrap();
    let spec = path.to_string_lossy().into_owned();
    let err = Depot::open(&spec, &OpenOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{spec}: entry 'vib20/passwd/passwd.vib' is a symbolic link (to '/etc/passwd'); archives are read as \
             plain files only"
        )
    );
    let run = check_sources(&[spec], &OpenOptions::default(), &CheckOptions::default(), &NoProgress).unwrap();
    assert!(run.has_errors());
    let rules: Vec<&str> = run.reports[0].findings.iter().map(|f| f.rule).collect();
    assert_eq!(rules, ["zip-symlink-entry"]);
    // Nothing of /etc/passwd is read: the entry's content (the target) is all that is seen.
    let mut passwd = String::new();
    if std::fs::File::open("/etc/passwd").and_then(|mut f| f.read_to_string(&mut passwd)).is_ok() {
        let first = passwd.lines().next().unwrap_or_default();
        assert!(first.is_empty() || !run.reports[0].findings[0].message.contains(first));
    }
}
