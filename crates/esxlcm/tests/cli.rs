//! End-to-end tests of the `esxlcm` binary: `depot inspect` on the real sample bundles
//! (found through `ESXLCM_SAMPLES`, see the README), exit codes, and `serve` followed by
//! `inspect` over HTTP, which must see what inspecting the directory sees.

#![allow(clippy::expect_used, reason = "test helpers: a failed expectation is a failed test")]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

use esxlcm_test_support::samples_dir;

fn bundle(name: &str) -> PathBuf {
    let path = samples_dir().join("bundles").join(name);
    assert!(path.is_file(), "sample bundle missing: {}", path.display());
    path
}

fn esxlcm() -> Command {
    let mut cmd = Command::cargo_bin("esxlcm").expect("the esxlcm binary is built for integration tests");
    cmd.env_remove("RUST_LOG").env_remove("ESXLCM_HTTP_HEADER");
    cmd
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    let out = esxlcm().args(args).output().expect("esxlcm runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn inspect_json(source: &str) -> Value {
    let r = run(&["depot", "inspect", source, "--json", "--vibs"]);
    assert_eq!(r.code, 0, "inspect {source} --json failed:\n{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).expect("--json prints one JSON object");
    assert_eq!(v["schema"], "esxlcm.inspect/1");
    v
}

/// Text output with runs of blanks collapsed, so table rows read `NAME VERSION …`.
fn squeezed(text: &str) -> String {
    text.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect::<Vec<_>>().join("\n")
}

/// (component name, version) pairs of a JSON report.
fn components(report: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for c in report["components"].as_array().expect("components array") {
        for v in c["versions"].as_array().expect("versions array") {
            out.push((
                c["name"].as_str().unwrap_or_default().to_owned(),
                v["version"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    out
}

fn legacy_ids(report: &Value) -> Vec<String> {
    report["legacy_bulletins"]
        .as_array()
        .expect("legacy_bulletins array")
        .iter()
        .map(|b| b["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Each sample: file, components (name, version), legacy bulletin IDs, acceptance level.
type Sample = (&'static str, &'static [(&'static str, &'static str)], &'static [&'static str], &'static str);

const SAMPLES: &[Sample] = &[
    (
        "ESXi80U3-VMKUSB-NIC-FLING-75399077-component-24052746.zip",
        &[("VMware-vmkusb-nic-fling", "1.14-1vmw.803.0.0.75399077")],
        &[],
        "certified",
    ),
    (
        "ESXi90-VMKUSB-NIC-FLING-84947163_24739691-component.zip",
        &[("VMware-vmkusb-nic-fling", "1.15-1vmw.900.0.84947163")],
        &[],
        "certified",
    ),
    (
        "VMware-Re-Driver_1.101.01-5vmw.800.1.0.20613240.zip",
        &[("VMware-Re-Driver", "1.101.01-5vmw.800.1.0.20613240")],
        &[],
        "certified",
    ),
    ("ghettoVCB-2020_12_28-offline-bundle.zip", &[], &["ghettoVCB"], "community"),
    (
        "net51-r8169-6.011.00-2vft.510.0.0.799733-offline_bundle.zip",
        &[],
        &["net51-r8169-6.011.00-2vft.510.0.0.799733"],
        "community",
    ),
    (
        "nvme-community-driver_1.0.1.0-1vmw.670.0.0.8169922-offline_bundle-17658145.zip",
        &[("nvme-community-driver", "1.0.1.0-1vmw.670.0.0.8169922")],
        &[],
        "certified",
    ),
    (
        "nvme-community-driver_1.0.1.0-3vmw.700.1.0.15843807-component-18902434.zip",
        &[("VMware-nvme-community", "1.0.1.0-3vmw.700.1.0.15843807")],
        &[],
        "certified",
    ),
];

#[test]
fn inspect_every_sample_bundle() {
    for (file, comps, legacy, level) in SAMPLES {
        let path = bundle(file);
        let source = path.to_str().expect("UTF-8 path");

        let r = run(&["depot", "inspect", source]);
        assert_eq!(r.code, 0, "inspect {file} failed:\n{}", r.stderr);
        let text = squeezed(&r.stdout);
        assert!(text.contains("(offline bundle)"), "{file}: kind not shown:\n{}", r.stdout);
        for (name, version) in *comps {
            assert!(
                text.contains(&format!("{name} {version}")),
                "{file}: component {name} {version} not listed:\n{}",
                r.stdout
            );
        }
        for id in *legacy {
            assert!(text.contains("Legacy bulletins"), "{file}: no legacy bulletin section:\n{}", r.stdout);
            assert!(
                text.lines().any(|l| l.starts_with(&format!("{id} "))),
                "{file}: legacy bulletin {id} not listed:\n{}",
                r.stdout
            );
        }
        assert!(text.contains(&format!("VIBs: 1 ({level} 1)")), "{file}: VIB count/level not shown:\n{}", r.stdout);

        let report = inspect_json(source);
        let expected: Vec<(String, String)> = comps.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
        assert_eq!(components(&report), expected, "{file}: components in JSON");
        assert_eq!(
            legacy_ids(&report),
            legacy.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
            "{file}: legacy bulletins in JSON"
        );
        assert_eq!(report["vib_count"], 1, "{file}");
        assert_eq!(report["acceptance_levels"][level], 1, "{file}");
        assert_eq!(report["sources"][0]["kind"], "bundle", "{file}");
        let vibs = report["vibs"].as_array().expect("--vibs lists VIBs");
        assert_eq!(vibs.len(), 1, "{file}");
        assert!(vibs[0]["packed_size"].as_u64().is_some_and(|s| s > 0), "{file}: VIB size");
    }
}

#[test]
fn inspect_merges_sources_and_orders_versions() {
    let a = bundle("ESXi90-VMKUSB-NIC-FLING-84947163_24739691-component.zip");
    let b = bundle("ESXi80U3-VMKUSB-NIC-FLING-75399077-component-24052746.zip");
    let report = inspect_json_many(&[a.to_str().unwrap_or_default(), b.to_str().unwrap_or_default()]);
    assert_eq!(
        components(&report),
        [
            ("VMware-vmkusb-nic-fling".to_owned(), "1.14-1vmw.803.0.0.75399077".to_owned()),
            ("VMware-vmkusb-nic-fling".to_owned(), "1.15-1vmw.900.0.84947163".to_owned()),
        ],
        "versions of one component, lowest first, whatever the order of the sources"
    );
    assert_eq!(report["sources"].as_array().map(Vec::len), Some(2));
    assert_eq!(report["conflicts"].as_array().map(Vec::len), Some(0));
}

fn inspect_json_many(sources: &[&str]) -> Value {
    let mut args = vec!["depot", "inspect", "--json"];
    args.extend_from_slice(sources);
    let r = run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    serde_json::from_str(&r.stdout).expect("JSON")
}

#[test]
fn inspect_filters() {
    let ghetto = bundle("ghettoVCB-2020_12_28-offline-bundle.zip");
    let r = run(&["depot", "inspect", ghetto.to_str().unwrap_or_default(), "--json", "--min-acceptance", "certified"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(legacy_ids(&v), Vec::<String>::new(), "a community bulletin is below certified");
    assert_eq!(v["vib_count"], 0);
    assert_eq!(v["filter"]["min_acceptance"], "certified");

    let r = run(&["depot", "inspect", ghetto.to_str().unwrap_or_default(), "--min-acceptance", "gold"]);
    assert_eq!(r.code, 2, "a bad level is a usage error");
    assert!(r.stderr.contains("invalid value 'gold'") && r.stderr.contains("partner"), "{}", r.stderr);
}

#[test]
fn inspect_missing_path_exits_2_and_names_it() {
    let missing = "/nonexistent/esxlcm-test/no-such-bundle.zip";
    let r = run(&["depot", "inspect", missing]);
    assert_eq!(r.code, 2, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains(missing), "the message names the path:\n{}", r.stderr);
    assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
}

#[test]
fn inspect_of_a_non_depot_file_is_a_content_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "not a depot").expect("write");
    let r = run(&["depot", "inspect", file.to_str().unwrap_or_default()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("is not a depot"), "{}", r.stderr);
}

#[test]
fn help_teaches() {
    let r = run(&["--help"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("Exit status"), "{}", r.stdout);
    assert!(r.stdout.contains("esxlcm depot inspect"), "{}", r.stdout);
    let r = run(&["depot", "inspect", "--help"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("esxlcm.inspect/1"), "{}", r.stdout);
    let r = run(&["depot", "inspect"]);
    assert_eq!(r.code, 2, "a missing SOURCE is a usage error");
}

use crate::mirror_support::{Served as Server, start_serving};

fn start_server(args: &[&str]) -> Server {
    let mut serve = esxlcm();
    serve.arg("serve").args(args).args(["--listen", "127.0.0.1:0"]);
    start_serving(serve)
}

fn unpack(zip_path: &Path, into: &Path) {
    let file = std::fs::File::open(zip_path).expect("open bundle");
    let mut archive = zip::ZipArchive::new(file).expect("read bundle");
    archive.extract(into).expect("unpack bundle");
}

#[test]
fn serve_directory_then_inspect_over_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let depot = dir.path().join("depot");
    unpack(&bundle("ESXi80U3-VMKUSB-NIC-FLING-75399077-component-24052746.zip"), &depot);

    let server = start_server(&["--dir", depot.to_str().unwrap_or_default()]);
    let url = format!("{}index.xml", server.base);

    let local = inspect_json(depot.to_str().unwrap_or_default());
    let online = inspect_json(&url);
    assert!(!components(&local).is_empty());
    assert_eq!(components(&online), components(&local), "HTTP and directory views agree");
    assert_eq!(online["sources"][0]["kind"], "online");
    assert_eq!(online["vib_count"], local["vib_count"]);
    assert_eq!(online["vibs"][0]["packed_size"], local["vibs"][0]["packed_size"]);

    // Text output too, and a missing file on the server is a clear error.
    let r = run(&["depot", "inspect", &url]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(squeezed(&r.stdout).contains("VMware-vmkusb-nic-fling 1.14-1vmw.803.0.0.75399077"), "{}", r.stdout);
    let r = run(&["depot", "inspect", &format!("{}nope/index.xml", server.base)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("not found"), "{}", r.stderr);
}

#[test]
fn serve_refuses_a_directory_without_a_depot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = run(&["serve", "--dir", dir.path().to_str().unwrap_or_default(), "--listen", "127.0.0.1:0"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no index.xml"), "{}", r.stderr);
}

#[test]
fn serve_without_dir_runs_the_service_with_the_demo_depot() {
    let data = tempfile::tempdir().expect("tempdir");
    let mut child = esxlcm()
        .args(["serve", "--data-dir", data.path().to_str().unwrap_or_default()])
        .args(["--listen", "127.0.0.1:0", "--hosts-listen", "127.0.0.1:0"])
        .env("ESXLCM_ADMIN_USER", "admin")
        .env("ESXLCM_ADMIN_PASSWORD", "Adm1n!pass")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("esxlcm serve starts");
    let mut reader = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut banner = Vec::new();
    for _ in 0..20 {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let done = line.starts_with("press Ctrl-C");
        banner.push(line.trim_end().to_owned());
        if done {
            break;
        }
    }
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    let server = Server { child, base: String::new() };
    assert!(banner[0].starts_with("listening on https://127.0.0.1:"), "{banner:?}");
    assert!(
        banner.iter().any(|l| l.contains("demo depot (synthetic")),
        "the banner says what is synthetic: {banner:?}"
    );
    assert!(banner.iter().any(|l| l.contains("ESXLCM_ADMIN_USER")), "and how to log in: {banner:?}");
    let hosts = banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("http://").and_then(|r| r.split('/').next()))
        .unwrap_or_else(|| panic!("the hosts' plain-HTTP address is in the banner: {banner:?}"))
        .to_owned();

    // The demo depot is the store source `demo`, served to hosts under /depots/.
    let online = inspect_json(&format!("http://{hosts}/depots/demo/index.xml"));
    let expected = data.path().join("expected.zip");
    let r =
        run(&["depot", "generate", "--preset", "tiny", "--seed", "1", "--out", expected.to_str().unwrap_or_default()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let local = inspect_json(expected.to_str().unwrap_or_default());
    assert!(components(&local).len() > 3, "the demo depot has components");
    assert_eq!(components(&online), components(&local));
    assert_eq!(online["base_images"], local["base_images"]);

    // `esxlcm mirror` sees the same store, and says where each source is served.
    let store = data.path().join("store");
    let r = run(&["mirror", "--store", store.to_str().unwrap_or_default(), "list", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let list: Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(list["sources"][0]["name"], "demo");
    assert_eq!(list["sources"][0]["served_at"], "/depots/demo/index.xml");
    drop(server);
}

/// A one-shot HTTP server that answers every request with `status`; returns its address.
fn answer_with(status: &'static str) -> String {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(stream, "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    addr.to_string()
}

#[test]
fn refused_token_is_explained_and_not_shown() {
    let addr = answer_with("401 Unauthorized");
    let token = "Zq8xW2vK9mP4nR7tY3bL6cH1";
    let url = format!("http://user:hunter2@{addr}/{token}/PROD/COMP/ESX_HOST/main/vmw-depot-index.xml");
    let r = run(&["depot", "inspect", &url, "--header", "Authorization: Bearer sekrit-header"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("HTTP 401"), "{}", r.stderr);
    assert!(r.stderr.contains("download tokens expire"), "{}", r.stderr);
    for secret in [token, "hunter2", "sekrit-header"] {
        assert!(!r.stderr.contains(secret), "{secret} leaked:\n{}", r.stderr);
        assert!(!r.stdout.contains(secret), "{secret} leaked:\n{}", r.stdout);
    }
}

#[test]
fn generate_is_deterministic_and_checks_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a.zip");
    let b = tmp.path().join("b.zip");
    for out in [&a, &b] {
        let r = run(&["depot", "generate", "--preset", "tiny", "--seed", "3", "--out", out.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stdout.contains("wrote offline bundle"), "{}", r.stdout);
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let again = run(&["depot", "generate", "--preset", "tiny", "--out", a.to_str().unwrap()]);
    assert_eq!(again.code, 2, "refuses to replace without --overwrite");
    let check = run(&["depot", "check", a.to_str().unwrap()]);
    assert_eq!(check.code, 0, "{}", check.stdout);
    assert!(check.stdout.contains("0 errors"), "{}", check.stdout);
}

#[test]
fn export_a_selection_of_the_samples() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("branch");
    let sources: Vec<String> = SAMPLES.iter().map(|s| bundle(s.0).to_string_lossy().into_owned()).collect();
    let mut args = vec!["depot", "export"];
    args.extend(sources.iter().map(String::as_str));
    args.extend(["--component", "VMware-Re-Driver", "--out", out.to_str().unwrap()]);
    let r = run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = inspect_json(out.to_str().unwrap());
    assert_eq!(components(&report), [("VMware-Re-Driver".to_owned(), "1.101.01-5vmw.800.1.0.20613240".to_owned())]);
    let check = run(&["depot", "check", out.to_str().unwrap()]);
    assert_eq!(check.code, 0, "{}", check.stdout);
    assert!(
        check.stdout.contains("1 signature verified") || check.stdout.contains("1 signatures verified"),
        "{}",
        check.stdout
    );

    let mut missing = vec!["depot", "export"];
    missing.extend(sources.iter().map(String::as_str));
    let nowhere = tmp.path().join("nowhere.zip");
    missing.extend(["--component", "No-Such-Component", "--out", nowhere.to_str().unwrap()]);
    let r = run(&missing);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("not in the sources: No-Such-Component"), "{}", r.stderr);
    assert!(!nowhere.exists());
}

/// A host state document (the esxcli shapes) that matches a resolved image exactly.
#[allow(clippy::unwrap_used)] // a test helper outside #[test]
fn host_state_of(resolved: &Value, base_image: &str) -> Value {
    let components: Vec<Value> = resolved["image"]["components"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| serde_json::json!({"Name": c["name"], "Version": c["version"]}))
        .collect();
    let vibs: Vec<Value> = resolved["vibs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| {
            // <vendor>_<type>_<name>_<version>; names have no '_' in generated depots.
            let parts: Vec<&str> = id.as_str().unwrap().splitn(4, '_').collect();
            serde_json::json!({"ID": id, "Vendor": parts[0], "Name": parts[2], "Version": parts[3]})
        })
        .collect();
    serde_json::json!({"base_image": {"Version": base_image}, "add_on": null, "components": components, "vibs": vibs})
}

/// `esxlcm image compliance --spec SPEC --depot DEPOT --host-state HOSTS… EXTRA…`
fn compliance(spec: &str, depot: &str, hosts: &[&str], extra: &[&str]) -> Run {
    let mut args = vec!["image", "compliance", "--spec", spec, "--depot", depot, "--host-state"];
    args.extend_from_slice(hosts);
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn image_resolve_and_compliance_on_a_generated_depot() {
    let tmp = tempfile::tempdir().unwrap();
    let depot = tmp.path().join("tiny.zip");
    assert_eq!(run(&["depot", "generate", "--preset", "tiny", "--out", depot.to_str().unwrap()]).code, 0);
    let base = "8.0.1-0.0.21495797";
    let spec = tmp.path().join("spec.json");
    std::fs::write(&spec, format!(r#"{{"base_image": {{"version": "{base}"}}}}"#)).unwrap();
    let (spec_s, depot_s) = (spec.to_str().unwrap(), depot.to_str().unwrap());

    let r = run(&["image", "resolve", "--spec", spec_s, "--depot", depot_s, "--json"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let resolved: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(resolved["valid"], true);

    // A host with exactly the image's content is compliant.
    let mut state = host_state_of(&resolved, base);
    let compliant = tmp.path().join("esx01.json");
    std::fs::write(&compliant, serde_json::to_vec(&state).unwrap()).unwrap();
    let r = compliance(spec_s, depot_s, &[compliant.to_str().unwrap()], &[]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("host esx01: COMPLIANT"), "{}", r.stdout);

    // Without one component it must be installed: NON_COMPLIANT, and the cluster says so.
    let removed = state["components"].as_array_mut().unwrap().remove(0);
    let name = removed["Name"].as_str().unwrap().to_owned();
    let missing = tmp.path().join("esx02.json");
    std::fs::write(&missing, serde_json::to_vec(&state).unwrap()).unwrap();
    let r = compliance(spec_s, depot_s, &[compliant.to_str().unwrap(), missing.to_str().unwrap()], &["--json"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["schema"], "esxlcm.image-compliance/1");
    assert_eq!(report["cluster"]["status"], "NON_COMPLIANT");
    assert_eq!(report["cluster"]["hosts"]["esx01"]["status"], "COMPLIANT");
    assert_eq!(report["cluster"]["hosts"]["esx02"]["components"][&name]["change"], "INSTALL");

    // A base image the depots do not have is an image error that names it.
    std::fs::write(&spec, r#"{"base_image": {"version": "7.0.3-0.5.18825058"}}"#).unwrap();
    let r = run(&["image", "resolve", "--spec", spec_s, "--depot", depot_s]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("7.0.3-0.5.18825058"), "{}", r.stdout);
}

#[test]
fn image_resolve_resolves_alternative_images_with_their_hosts() {
    let tmp = tempfile::tempdir().unwrap();
    let depot = tmp.path().join("tiny.zip");
    assert_eq!(run(&["depot", "generate", "--preset", "tiny", "--out", depot.to_str().unwrap()]).code, 0);
    let spec = tmp.path().join("spec.json");
    std::fs::write(
        &spec,
        r#"{"base_image": {"version": "8.0.1-0.0.21495797"},
            "alternative_images": {
              "r650": {"display_name": "Dell R650", "base_image": {"version": "8.0.1-0.0.21495797"},
                       "selection_criteria": {"selection_type": "HOST_HARDWARE_SPEC",
                         "host_hardware_spec": {"vendor": "Dell Inc.", "models": ["PowerEdge R650", "PowerEdge R750"]}}},
              "old": {"base_image": {"version": "7.0.3-0.5.18825058"},
                      "selection_criteria": {"selection_type": "HOST_UUID", "host_uuids": ["uuid-1"]}}}}"#,
    )
    .unwrap();
    let (spec_s, depot_s) = (spec.to_str().unwrap(), depot.to_str().unwrap());
    let r = run(&["image", "resolve", "--spec", spec_s, "--depot", depot_s]);
    // The alternative "old" names a base image the depot lacks: the whole spec has errors.
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("\nAlternative image old, for hosts uuid-1:\nBase image: 7.0.3-0.5.18825058\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(
            "\nAlternative image r650 \"Dell R650\", for hosts with vendor Dell Inc. and model PowerEdge R650 or \
             PowerEdge R750:\nBase image: 8.0.1-0.0.21495797\n"
        ),
        "{}",
        r.stdout
    );
    let r = run(&["image", "resolve", "--spec", spec_s, "--depot", depot_s, "--json"]);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["valid"], true);
    assert_eq!(report["alternative_images"]["r650"]["valid"], true);
    assert_eq!(report["alternative_images"]["r650"]["selection_criteria"]["selection_type"], "HOST_HARDWARE_SPEC");
    assert_eq!(report["alternative_images"]["old"]["valid"], false);
    assert_eq!(report["alternative_images"]["old"]["notifications"][0]["id"], "com.esxlcm.solver.base_image.missing");

    // Compliance picks a host's image by its hardware: the R650 gets "r650", another the main.
    let mut dell = host_state_of(&report["alternative_images"]["r650"], "8.0.1-0.0.21495797");
    dell["hardware"] = serde_json::json!({"vendor": "Dell Inc.", "model": "PowerEdge R650"});
    let dell_path = tmp.path().join("r650-01.json");
    std::fs::write(&dell_path, serde_json::to_vec(&dell).unwrap()).unwrap();
    let other = host_state_of(&report, "8.0.1-0.0.21495797");
    let other_path = tmp.path().join("hpe-01.json");
    std::fs::write(&other_path, serde_json::to_vec(&other).unwrap()).unwrap();
    let (dell_s, other_s) = (dell_path.to_str().unwrap(), other_path.to_str().unwrap());
    let r = compliance(spec_s, depot_s, &[dell_s, other_s], &[]);
    assert!(
        r.stdout.contains("host r650-01: COMPLIANT (impact: NO_IMPACT)\n  checked against alternative image r650"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("host hpe-01: COMPLIANT"), "{}", r.stdout);
    assert!(!r.stdout.contains("host hpe-01: COMPLIANT (impact: NO_IMPACT)\n  checked against"), "{}", r.stdout);
}

#[test]
fn serve_over_https_with_a_generated_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let depot = dir.path().join("depot");
    unpack(&bundle("ESXi80U3-VMKUSB-NIC-FLING-75399077-component-24052746.zip"), &depot);
    let data = dir.path().join("data");
    let (depot_s, data_s) = (depot.to_str().unwrap(), data.to_str().unwrap());
    let server = start_server(&["--dir", depot_s, "--https", "--data-dir", data_s]);
    assert!(server.base.starts_with("https://127.0.0.1:"), "{}", server.base);
    let url = format!("{}index.xml", server.base);
    let ca = data.join("tls/ca.pem");
    assert!(ca.is_file(), "the generated CA is kept in DATA_DIR/tls");

    // Trusting the generated CA, the HTTPS view is the directory's view.
    let r = run(&["depot", "inspect", &url, "--json", "--ca-file", ca.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let online: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(components(&online), components(&inspect_json(depot_s)));
    // Without it the certificate is refused, and the message says so.
    let r = run(&["depot", "inspect", &url]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("signed by a CA this machine does not trust"), "{}", r.stderr);
    assert!(r.stderr.contains("--ca-file FILE.pem"), "says what to do: {}", r.stderr);
}
