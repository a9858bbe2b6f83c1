//! The `esxlcm` binary against inputs a hostile user hands it (issue #12): FIFOs and
//! devices where a file is expected (must not hang), documents past the size cap (must not
//! be read whole), and bundles with a symbolic link entry, a duplicate VIB entry or a
//! metadata member that inflates past its declared size (must fail `depot check`).

use std::io::{Cursor, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;

use esxlcm_test_support::sample_bundle;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs esxlcm, killing it (and failing the test) if it has not exited within 20 s: a
/// command that opens a FIFO for reading blocks until a writer comes.
fn run(args: &[&str]) -> Run {
    let mut child = Command::cargo_bin("esxlcm")
        .unwrap()
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("esxlcm {} still running after 20 s", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn mkfifo(path: &Path) -> String {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
    path.to_string_lossy().into_owned()
}

fn sample() -> String {
    sample_bundle("nvme-community-driver_1.0.1.0-3vmw").to_string_lossy().into_owned()
}

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/check").join(name);
    assert!(path.is_file(), "{}", path.display());
    path.to_string_lossy().into_owned()
}

#[test]
fn depot_inspect_and_check_refuse_a_fifo() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = mkfifo(&tmp.path().join("bundle.zip"));
    for cmd in ["inspect", "check"] {
        let r = run(&["depot", cmd, &fifo]);
        assert_eq!(r.code, 2, "depot {cmd}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(&format!("{fifo}: not a regular file (it is a FIFO)")), "depot {cmd}: {}", r.stderr);
    }
}

#[test]
fn image_resolve_refuses_a_fifo_or_device_spec() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = mkfifo(&tmp.path().join("spec.json"));
    let depot = sample();
    let r = run(&["image", "resolve", "--spec", &fifo, "--depot", &depot]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(&format!("cannot read spec {fifo}")), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("{fifo} is not a regular file (it is a FIFO); only regular files are read")),
        "{}",
        r.stderr
    );
    // /dev/zero never ends: refused before a byte is read.
    let r = run(&["image", "resolve", "--spec", "/dev/zero", "--depot", &depot]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("/dev/zero is not a regular file (it is a character device)"), "{}", r.stderr);
}

#[test]
fn image_resolve_caps_the_bytes_read_from_a_spec() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("spec.json");
    // Valid JSON up to the end, one byte over 4 MiB: refused for its size, not its content.
    let mut big = vec![b' '; (4 << 20) - 1];
    big.extend_from_slice(b"{}");
    std::fs::write(&spec, big).unwrap();
    let spec = spec.to_string_lossy().into_owned();
    let r = run(&["image", "resolve", "--spec", &spec, "--depot", &sample()]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!("{spec} is larger than the 4194304-byte limit for a software spec")),
        "{}",
        r.stderr
    );
}

#[test]
fn image_compliance_refuses_a_fifo_or_oversized_host_state() {
    let tmp = tempfile::tempdir().unwrap();
    let depot = tmp.path().join("tiny.zip");
    let depot = depot.to_string_lossy().into_owned();
    assert_eq!(run(&["depot", "generate", "--preset", "tiny", "--out", &depot]).code, 0);
    let spec = tmp.path().join("spec.json");
    std::fs::write(&spec, r#"{"base_image": {"version": "8.0.1-0.0.21495797"}}"#).unwrap();
    let spec = spec.to_string_lossy().into_owned();
    let fifo = mkfifo(&tmp.path().join("host.json"));
    let r = run(&["image", "compliance", "--spec", &spec, "--depot", &depot, "--host-state", &fifo]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(&format!("cannot read host state {fifo}")), "{}", r.stderr);
    assert!(r.stderr.contains(&format!("{fifo} is not a regular file (it is a FIFO)")), "{}", r.stderr);
    let big = tmp.path().join("big.json");
    std::fs::write(&big, vec![b' '; (4 << 20) + 1]).unwrap();
    let big = big.to_string_lossy().into_owned();
    let r = run(&["image", "compliance", "--spec", &spec, "--depot", &depot, "--host-state", &big]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!("{big} is larger than the 4194304-byte limit for a host state")),
        "{}",
        r.stderr
    );
}

#[test]
fn depot_check_trust_refuses_a_fifo() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = mkfifo(&tmp.path().join("ca.pem"));
    let r = run(&["depot", "check", &sample(), "--trust", &fifo]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(&format!("{fifo} is not a regular file (it is a FIFO)")), "{}", r.stderr);
}

#[test]
fn image_inspect_refuses_a_fifo() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = mkfifo(&tmp.path().join("esxi.iso"));
    let r = run(&["image", "inspect", &fifo]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(&format!("{fifo} is not a regular file (it is a FIFO)")), "{}", r.stderr);
}

/// `depot check --json` of one source: the (rule, field) of each finding, and the exit code.
fn check_rules(source: &str) -> (i32, Vec<(String, String)>) {
    let r = run(&["depot", "check", source, "--json"]);
    let json: serde_json::Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", r.stdout, r.stderr));
    let findings = json["reports"][0]["findings"].as_array().unwrap_or_else(|| panic!("{json}"));
    let rules = findings
        .iter()
        .map(|f| (f["rule"].as_str().unwrap().to_owned(), f["field"].as_str().unwrap_or("-").to_owned()))
        .collect();
    (r.code, rules)
}

#[test]
fn depot_check_fails_hostile_bundles() {
    for (fixture_name, rule, field) in [
        ("zip-symlink-entry.zip", "zip-symlink-entry", "vib20/demo/passwd.vib"),
        ("zip-duplicate-entry.zip", "zip-duplicate-entry", "vib20/demo/ESXLCM_bootbank_demo_1.0.0-1OEM.800.1.0.1.vib"),
        ("zip-size-mismatch.zip", "zip-size-mismatch", "vmware.xml"),
    ] {
        let (code, rules) = check_rules(&fixture(fixture_name));
        assert_eq!(code, 1, "{fixture_name}: {rules:?}");
        assert_eq!(rules, [(rule.to_owned(), field.to_owned())], "{fixture_name}");
        // And nothing else reads them either.
        let r = run(&["depot", "inspect", &fixture(fixture_name)]);
        assert_eq!(r.code, 1, "inspect {fixture_name}: {}{}", r.stdout, r.stderr);
    }
}

/// A real sample with a bogus first copy of its VIB before the genuine last one; the ZIP
/// writer refuses a name twice, so the copy is written under a same-length name and renamed.
#[test]
fn depot_check_fails_a_real_bundle_with_a_duplicate_vib_entry() {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(sample()).unwrap()).unwrap();
    let mut members = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).unwrap();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        members.push((entry.name().unwrap().into_owned(), data));
    }
    let vib = members.iter().map(|(n, _)| n.clone()).find(|n| n.ends_with(".vib")).unwrap();
    let placeholder = format!("{}X", &vib[..vib.len() - 1]);
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    out.start_file(placeholder.as_str(), options).unwrap();
    std::io::Write::write_all(&mut out, b"bogus").unwrap();
    for (name, data) in &members {
        out.start_file(name.as_str(), options).unwrap();
        std::io::Write::write_all(&mut out, data).unwrap();
    }
    let mut bytes = out.finish().unwrap().into_inner();
    let mut renamed = 0;
    for i in 0..bytes.len() - vib.len() {
        if &bytes[i..i + vib.len()] == placeholder.as_bytes() {
            bytes[i..i + vib.len()].copy_from_slice(vib.as_bytes());
            renamed += 1;
        }
    }
    assert_eq!(renamed, 2, "the local and the central header");
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("dup.zip");
    std::fs::write(&path, bytes).unwrap();
    let (code, rules) = check_rules(&path.to_string_lossy());
    assert_eq!(code, 1, "{rules:?}");
    assert_eq!(rules, [("zip-duplicate-entry".to_owned(), vib)]);
}
