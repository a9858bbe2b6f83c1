//! The command line as a tool among others (issue #17): shell completions and man pages
//! made from the command definition, fixed choices listed and refused by clap, `--dry-run`
//! that changes nothing, a versioned `--json` document from every mutating command, and
//! logs that follow `--color`, `NO_COLOR` and `--log-format`.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::mirror_support::*;

#[test]
fn completions_name_every_command_in_each_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let r = ok(&["completions", shell]);
        for word in ["depot", "image", "mirror", "serve", "users", "audit", "completions", "man", "rollback"] {
            assert!(r.stdout.contains(word), "{shell} completions lack {word}");
        }
        // The fixed choices complete too, where the shell's generator completes values.
        if matches!(shell, "bash" | "zsh" | "fish") {
            assert!(r.stdout.contains("on-demand"), "{shell} completions lack --payloads' values");
        }
    }
    let r = run(&["completions", "tcsh"]);
    assert_eq!(r.code, 2, "an unknown shell is a usage error");
    assert!(r.stderr.contains("possible values") && r.stderr.contains("powershell"), "{}", r.stderr);
}

#[test]
fn man_pages_render_for_every_subcommand() {
    let page = ok(&["man"]).stdout;
    assert!(page.contains(".TH esxlcm 1"), "{page}");
    assert!(page.contains("mirror") && page.contains("completions"), "{page}");

    let dir = tempfile::tempdir().unwrap();
    let r = ok(&["man", "--out", dir.path().to_str().unwrap()]);
    assert!(r.stdout.contains("man pages"), "{}", r.stdout);
    for name in ["esxlcm.1", "esxlcm-depot-inspect.1", "esxlcm-mirror-gc.1", "esxlcm-mirror-view-add.1"] {
        assert!(dir.path().join(name).is_file(), "{name} not written");
    }
    let gc = fs::read_to_string(dir.path().join("esxlcm-mirror-gc.1")).unwrap();
    assert!(gc.contains(".TH esxlcm-mirror-gc 1") && gc.contains("dry"), "{gc}");

    // groff renders every page without a warning (CI installs it; elsewhere it may be absent).
    if std::process::Command::new("groff").arg("-v").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "groff is missing in CI (.ci/run installs groff-base)");
        eprintln!("skipped: groff is not installed");
        return;
    }
    for entry in fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let out = std::process::Command::new("groff")
            .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "groff failed on {}", path.display());
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(warnings.trim().is_empty(), "{}: {warnings}", path.display());
    }
}

#[test]
fn fixed_choices_are_listed_by_help_and_checked_by_clap() {
    let help = ok(&["mirror", "add", "--help"]).stdout;
    for value in ["online", "bundle", "umds", "prefetch", "on-demand", "require", "warn", "off"] {
        assert!(help.contains(value), "mirror add --help does not list {value}");
    }
    let help = ok(&["image", "build", "--help"]).stdout;
    assert!(help.contains("community") && help.contains("[possible values"), "{help}");
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("store");
    let r = run(&["mirror", "--store", s.to_str().unwrap(), "add", "x", "file:///x/index.xml", "--payloads", "lazy"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("invalid value 'lazy'") && r.stderr.contains("on-demand"), "{}", r.stderr);
    // The descriptor spellings of acceptance levels are still taken.
    let r = run(&["depot", "inspect", "missing.zip", "--min-acceptance", "PartnerSupported"]);
    assert!(!r.stderr.contains("invalid value"), "{}", r.stderr);
}

/// Every file under `dir` (symlinks as their targets, not followed), with its bytes.
fn state(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let meta = fs::symlink_metadata(&p).unwrap();
            if meta.file_type().is_symlink() {
                out.insert(rel, fs::read_link(&p).unwrap().to_string_lossy().into_owned().into_bytes());
            } else if meta.is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn dry_runs_report_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (upstream, v2, store) = upstream_and_release(dir.path());
    let s = store.to_str().unwrap();
    ok(&["mirror", "--store", s, "add", "up", &file_url(&upstream)]);
    ok(&["mirror", "--store", s, "sync"]);
    update_upstream(&v2, &upstream);
    ok(&["mirror", "--store", s, "sync"]);
    ok(&["mirror", "--store", s, "view", "add", "all", "--source", "up"]);
    // Garbage for gc: a stray blob-like file in staging (a partial download).
    fs::write(store.join("staging").join("x.part"), b"partial").unwrap();
    let before = state(&store);

    let gc = json(&ok(&["mirror", "--store", s, "gc", "--dry-run", "--json"]));
    assert_eq!(gc["schema"], "esxlcm.mirror.gc/1");
    assert_eq!(gc["dry_run"], true);
    assert_eq!(gc["partial_removed"], 1, "{gc}");
    let text = ok(&["mirror", "--store", s, "gc", "--dry-run"]).stdout;
    assert!(text.contains("would delete") && text.contains("nothing changed"), "{text}");

    let rb = json(&ok(&["mirror", "--store", s, "rollback", "up", "--dry-run", "--json"]));
    assert_eq!(
        (rb["schema"].as_str(), rb["from"].as_i64(), rb["to"].as_i64()),
        (Some("esxlcm.mirror.rollback/1"), Some(2), Some(1))
    );
    assert_eq!(rb["views"], serde_json::json!(["all"]));
    let text = ok(&["mirror", "--store", s, "rollback", "up", "--dry-run"]).stdout;
    assert!(text.contains("would publish snapshot 1") && text.contains("nothing changed"), "{text}");

    let rm = json(&ok(&["mirror", "--store", s, "remove", "up", "--dry-run", "--json"]));
    assert_eq!(rm["schema"], "esxlcm.mirror.remove/1");
    assert_eq!(rm["snapshots"], serde_json::json!([1, 2]));
    assert_eq!(rm["published_snapshot"], 2);
    let text = ok(&["mirror", "--store", s, "remove", "up", "--dry-run"]).stdout;
    assert!(text.contains("would remove source 'up'") && text.contains("nothing changed"), "{text}");

    // A dry run of something that cannot be done fails as the real one would.
    let r = run(&["mirror", "--store", s, "rollback", "up", "--to", "9", "--dry-run"]);
    assert_eq!(r.code, 2, "{}", r.stderr);

    let after = state(&store);
    let changed: Vec<&String> = before.keys().chain(after.keys()).filter(|k| before.get(*k) != after.get(*k)).collect();
    assert!(changed.is_empty(), "dry runs changed the store: {changed:?}");
    assert_eq!(published_snapshot(s, "up"), 2);

    // The real operations do what their dry runs said.
    let gc_done = json(&ok(&["mirror", "--store", s, "gc", "--json"]));
    assert_eq!(gc_done["dry_run"], false);
    for key in ["blobs_deleted", "partial_removed", "quarantine_removed", "bytes_freed"] {
        assert_eq!(gc_done[key], gc[key], "{key}");
    }
    let rb_done = json(&ok(&["mirror", "--store", s, "rollback", "up", "--json"]));
    assert_eq!((rb_done["from"].as_i64(), rb_done["to"].as_i64()), (Some(2), Some(1)));
    assert_eq!(published_snapshot(s, "up"), 1);
    let rm_done = json(&ok(&["mirror", "--store", s, "remove", "up", "--json"]));
    assert_eq!(rm_done["snapshots"], serde_json::json!([1, 2]));
    assert!(json(&ok(&["mirror", "--store", s, "list", "--json"]))["sources"].as_array().unwrap().is_empty());
}

fn schema_of(r: &Run) -> String {
    let v: Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("not one JSON document ({e}): {}", r.stdout));
    v["schema"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn mutating_commands_write_one_versioned_json_document() {
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let (upstream, store, bundle) = (d("up"), d("store"), d("b.zip"));
    let s = store.as_str();

    let r = ok(&["depot", "generate", "--preset", "tiny", "--seed", "3", "--out", &upstream, "--json"]);
    assert_eq!(schema_of(&r), "esxlcm.depot-generate/1");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!((v["kind"].as_str(), v["seed"].as_u64()), (Some("tree"), Some(3)));
    assert!(v["vibs"].as_u64().unwrap() > 0);

    let r = ok(&["depot", "export", &upstream, "--out", &bundle, "--json", "--no-progress"]);
    assert_eq!(schema_of(&r), "esxlcm.depot-export/1");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["kind"], "bundle");
    assert!(v["vib_bytes"].as_u64().unwrap() > 0);

    let url = format!("file://{upstream}/");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["add", "up", &url, "--json"], "esxlcm.mirror.add/1"),
        (vec!["sync", "--json"], "esxlcm.mirror.sync/1"),
        (vec!["push", "drivers", &bundle, "--json"], "esxlcm.mirror.push/1"),
        (vec!["schedule", "up", "--daily", "02:30", "--json"], "esxlcm.mirror.source/1"),
        (vec!["disable", "up", "--json"], "esxlcm.mirror.source/1"),
        (vec!["enable", "up", "--json"], "esxlcm.mirror.source/1"),
        (vec!["view", "add", "all", "--source", "up", "--json"], "esxlcm.mirror.view-change/1"),
        (vec!["view", "refresh", "--json"], "esxlcm.mirror.view-change/1"),
        (vec!["view", "list", "--json"], "esxlcm.mirror.view-list/1"),
        (vec!["view", "remove", "all", "--json"], "esxlcm.mirror.view-change/1"),
        (vec!["gc", "--json"], "esxlcm.mirror.gc/1"),
    ];
    for (args, schema) in cases {
        let mut full = vec!["mirror", "--store", s];
        full.extend(&args);
        assert_eq!(schema_of(&ok(&full)), schema, "{args:?}");
    }
    let sync = json(&ok(&["mirror", "--store", s, "sync", "up", "--json"]));
    assert_eq!(sync["runs"][0]["outcome"], "unchanged", "{sync}");
    let push = json(&ok(&["mirror", "--store", s, "push", "drivers", &bundle, "--json"]));
    assert_eq!(push["report"]["source"], "drivers");
    let key = d("site.key");
    let keygen = json(&ok(&["mirror", "keygen", &key, "--json"]));
    assert_eq!(keygen["schema"], "esxlcm.mirror.keygen/1");
    assert!(Path::new(&format!("{key}.pub")).is_file());
    // Nothing to sync is still one document.
    ok(&["mirror", "--store", s, "disable", "up"]);
    let none = json(&ok(&["mirror", "--store", s, "sync", "--json"]));
    assert_eq!(none["runs"], serde_json::json!([]));
}

#[test]
fn logs_follow_color_no_color_and_log_format() {
    // A sync of a source whose upstream is missing logs an error.
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("store");
    let s = s.to_str().unwrap();
    ok(&["mirror", "--store", s, "add", "gone", "file:///nonexistent/esxlcm-test/index.xml"]);
    let failing = |extra: &[&str], no_color: Option<&str>| {
        let mut cmd = esxlcm();
        cmd.args(["mirror", "--store", s, "sync"]).args(extra);
        match no_color {
            Some(v) => cmd.env("NO_COLOR", v),
            None => cmd.env_remove("NO_COLOR"),
        };
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(failing(&["--color", "always"], None).contains("\x1b["), "--color always colours logs");
    assert!(failing(&["--color", "always"], Some("1")).contains("\x1b["), "--color always wins over NO_COLOR");
    assert!(!failing(&["--color", "never"], None).contains("\x1b["));
    // Not a terminal: auto means none (and NO_COLOR keeps it so).
    assert!(!failing(&[], Some("1")).contains("\x1b["));
    let logs = failing(&["--log-format", "json"], None);
    let line = logs.lines().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no JSON log line: {logs}"));
    let event: Value = serde_json::from_str(line).unwrap();
    assert_eq!(event["level"], "ERROR", "{event}");
    assert!(event["timestamp"].is_string() && event["fields"]["message"].is_string(), "{event}");
}
