//! End-to-end tests of `esxlcm image build` and `esxlcm image inspect` on a generated depot
//! whose base images carry boot payloads: outputs, determinism, the inspect report (text
//! snapshot and JSON), and the refusals (no output, an image with errors, existing files,
//! no bootloader, a file that is not an ISO).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;
use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::generate::{GeneratorConfig, generate};
use esxlcm_depot::model::ReleaseKind;
use esxlcm_depot::source::{Depot, OpenOptions};
use esxlcm_depot::write::write_bundle;
use serde_json::Value;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::cargo_bin("esxlcm").unwrap();
    cmd.env_remove("RUST_LOG").env_remove("SOURCE_DATE_EPOCH").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn run(args: &[&str]) -> Run {
    run_env(args, &[])
}

/// `esxlcm image build --spec SPEC --depot DEPOT REST...` with `env` set.
fn image_build(spec: &Path, depot: &Path, rest: &[&str], env: &[(&str, &str)]) -> Run {
    let mut args = vec!["image", "build", "--spec", Fixture::s(spec), "--depot", Fixture::s(depot)];
    args.extend_from_slice(rest);
    run_env(&args, env)
}

/// A generated depot with boot payloads, a spec (newest base image with a supporting
/// add-on) and stand-in bootloader files.
struct Fixture {
    dir: tempfile::TempDir,
    depot: PathBuf,
    spec: PathBuf,
    bootloader: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let generated = generate(&GeneratorConfig { boot_modules: true, ..GeneratorConfig::tiny(11) }).unwrap();
        let depot = dir.path().join("depot.zip");
        write_bundle(generated.content(), &generated, &depot, false).unwrap();
        let catalog = Catalog::from_depots([Depot::open_path(&depot, &OpenOptions::default()).unwrap()]).unwrap();
        let mut bases: Vec<_> = catalog.release_units(ReleaseKind::BaseImage).map(|u| u.version.clone()).collect();
        bases.sort();
        let (base, addon) = bases
            .iter()
            .rev()
            .find_map(|b| {
                catalog.release_units(ReleaseKind::Addon).find(|a| a.supports_base_image(b.as_str())).map(|a| (b, a))
            })
            .unwrap();
        let spec = dir.path().join("spec.json");
        let doc = serde_json::json!({
            "base_image": {"version": base.as_str()},
            "add_on": {"name": addon.name.as_deref().unwrap(), "version": addon.version.as_str()},
            "components": {}
        });
        std::fs::write(&spec, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
        let bootloader = dir.path().join("bootloader");
        std::fs::create_dir_all(&bootloader).unwrap();
        for (name, size) in [("ISOLINUX.BIN", 4096), ("MBOOT.C32", 3000), ("MENU.C32", 1500), ("BOOTX64.EFI", 65536)] {
            let mut bytes: Vec<u8> = (0..size).map(|i: usize| (i % 251) as u8).collect();
            // The EFI loader only has to look like a PE file: the builder makes EFIBOOT.IMG.
            bytes[..2].copy_from_slice(b"MZ");
            std::fs::write(bootloader.join(name), bytes).unwrap();
        }
        Self { dir, depot, spec, bootloader }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn s(p: &Path) -> &str {
        p.to_str().unwrap()
    }

    fn build(&self, outputs: &[&str], env: &[(&str, &str)]) -> Run {
        let mut rest = vec!["--bootloader-dir", Self::s(&self.bootloader)];
        rest.extend_from_slice(outputs);
        image_build(&self.spec, &self.depot, &rest, env)
    }
}

#[test]
fn build_writes_every_output_and_inspect_reads_the_iso() {
    let f = Fixture::new();
    let (iso, zip, json) = (f.path("out.iso"), f.path("out.zip"), f.path("out.json"));
    let r = f.build(&["--iso", Fixture::s(&iso), "--bundle", Fixture::s(&zip), "--spec-out", Fixture::s(&json)], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("wrote software spec"), "{}", r.stdout);
    assert!(r.stdout.contains("wrote offline bundle"), "{}", r.stdout);
    assert!(r.stdout.contains("wrote installer ISO"), "{}", r.stdout);
    assert!(r.stdout.contains("kernel /b.b00"), "{}", r.stdout);
    assert!(r.stdout.contains("BIOS and UEFI boot"), "{}", r.stdout);

    // The bundle is a depot the resolver accepts with the same spec.
    let again = run(&["image", "resolve", "--spec", Fixture::s(&f.spec), "--depot", Fixture::s(&zip)]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);

    // inspect: text (snapshot) and JSON.
    let text = run(&["image", "inspect", Fixture::s(&iso)]);
    assert_eq!(text.code, 0, "{}{}", text.stdout, text.stderr);
    insta::assert_snapshot!("inspect_generated_iso", text.stdout);
    let r = run(&["image", "inspect", Fixture::s(&iso), "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["schema"], "esxlcm.image-inspect/1");
    assert_eq!(v["boot_cfg"]["kernel"], "/b.b00");
    assert_eq!(v["boot_cfg"]["modules"].as_array().unwrap().last().unwrap(), "/imgdb.tgz");
    assert_eq!(v["efi_boot_cfg"], "same");
    assert_eq!(v["boot_entries"][0]["platform"], "bios");
    assert_eq!(v["boot_entries"][1]["platform"], "uefi");
    let profile = &v["image_db"]["profiles"][0];
    assert!(profile["name"].as_str().unwrap().starts_with("ESXi-8.0."), "{profile}");
    assert_eq!(profile["vib_count"].as_u64().unwrap(), v["image_db"]["vibs"].as_array().unwrap().len() as u64);
    assert!(v["problems"].as_array().unwrap().is_empty());
    assert!(v["files"].as_array().unwrap().iter().any(|f| f["path"] == "UPGRADE/METADATA.ZIP"));

    // Same inputs, same bytes; another SOURCE_DATE_EPOCH, another ISO.
    let iso2 = f.path("again.iso");
    let r = f.build(&["--iso", Fixture::s(&iso2)], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(std::fs::read(&iso).unwrap() == std::fs::read(&iso2).unwrap(), "the ISO is reproducible");
    let r = f.build(&["--iso", Fixture::s(&iso2), "--overwrite"], &[("SOURCE_DATE_EPOCH", "1700000000")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(std::fs::read(&iso).unwrap() != std::fs::read(&iso2).unwrap(), "SOURCE_DATE_EPOCH is used");
    let r = f.build(&["--iso", Fixture::s(&iso2), "--overwrite", "--timestamp", "2024-06-25"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The bootloader of an existing ISO, without --bootloader-dir: the first ISO again.
    let iso3 = f.path("third.iso");
    let r = image_build(&f.spec, &f.depot, &["--iso", Fixture::s(&iso3), "--bootloader-iso", Fixture::s(&iso)], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(std::fs::read(&iso).unwrap() == std::fs::read(&iso3).unwrap(), "--bootloader-iso");
}

#[test]
fn build_refuses_what_it_cannot_build() {
    let f = Fixture::new();
    let iso = f.path("out.iso");

    // No output asked for: a usage error that names the options.
    let r = f.build(&[], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("--iso") && r.stderr.contains("--bundle") && r.stderr.contains("--spec-out"),
        "{}",
        r.stderr
    );

    // An image with errors: exit 1, the error text, nothing written.
    let bad = f.path("bad.json");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&f.spec).unwrap()).unwrap();
    doc["components"]["No-Such-Component"] = Value::from("1.0-1");
    std::fs::write(&bad, serde_json::to_vec(&doc).unwrap()).unwrap();
    let r = image_build(&bad, &f.depot, &["--bundle", Fixture::s(&f.path("bad.zip"))], &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("component No-Such-Component 1.0-1 is not in the depots"), "{}", r.stderr);
    assert!(r.stderr.contains("the image does not resolve (1 error); nothing was built"), "{}", r.stderr);
    assert!(!f.path("bad.zip").exists());

    // An ISO without any bootloader file: a usage error saying what is needed.
    let r = image_build(&f.spec, &f.depot, &["--iso", Fixture::s(&iso)], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("ISOLINUX.BIN and MBOOT.C32 (BIOS) and/or EFIBOOT.IMG or BOOTX64.EFI (UEFI)"),
        "{}",
        r.stderr
    );
    assert!(!iso.exists());

    // The case: 64 KiB of random bytes as EFIBOOT.IMG is refused, naming the file.
    let random = f.path("random.img");
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let bytes: Vec<u8> = (0..65536)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(&random, bytes).unwrap();
    let r = image_build(&f.spec, &f.depot, &["--iso", Fixture::s(&iso), "--efiboot", Fixture::s(&random)], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("random.img") && r.stderr.contains("it is not a FAT filesystem"), "{}", r.stderr);
    assert!(!iso.exists());

    // A kickstart that would stop the install is refused with every reason.
    let ks = f.path("ks.cfg");
    std::fs::write(&ks, "rootpw x\ninstall\n").unwrap();
    let r = f.build(&["--iso", Fixture::s(&iso), "--kickstart", Fixture::s(&ks)], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no vmaccepteula") && r.stderr.contains("install without a target disk"), "{}", r.stderr);
    assert!(!iso.exists());
    // A good one lands in KS.CFG with the kernel option, the title and --kernel-opt.
    std::fs::write(&ks, "vmaccepteula\nrootpw VMware1!\ninstall --firstdisk\n").unwrap();
    let r = f.build(
        &[
            "--iso",
            Fixture::s(&iso),
            "--kickstart",
            Fixture::s(&ks),
            "--kernel-opt",
            "netdevice=vmnic1",
            "--title",
            "Site A",
        ],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("kickstart KS.CFG"), "{}", r.stdout);
    let r = run(&["image", "inspect", Fixture::s(&iso), "--json"]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["boot_cfg"]["kernelopt"], "runweasel cdromBoot ks=cdrom:/KS.CFG netdevice=vmnic1");
    assert_eq!(v["boot_cfg"]["title"], "Site A");
    assert_eq!(v["efi_boot_cfg"], "same");
    assert!(v["files"].as_array().unwrap().iter().any(|f| f["path"] == "KS.CFG"));
    std::fs::remove_file(&iso).unwrap();

    // An existing output is kept unless --overwrite.
    std::fs::write(&iso, b"keep").unwrap();
    let r = f.build(&["--iso", Fixture::s(&iso)], &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("already exists; pass --overwrite"), "{}", r.stderr);
    assert_eq!(std::fs::read(&iso).unwrap(), b"keep");

    // A bad --timestamp is a usage error.
    let r = f.build(&["--spec-out", Fixture::s(&f.path("x.json")), "--timestamp", "yesterday"], &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("neither Unix seconds nor an ISO-8601 date"), "{}", r.stderr);

    // inspect: a file that is not an ISO, and one that does not exist.
    let r = run(&["image", "inspect", Fixture::s(&f.spec)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("is not a readable ISO image"), "{}", r.stderr);
    let r = run(&["image", "inspect", Fixture::s(&f.path("missing.iso"))]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn help_teaches_with_examples() {
    let r = run(&["image", "build", "--help"]);
    assert_eq!(r.code, 0);
    for want in ["--bootloader-dir", "SOURCE_DATE_EPOCH", "Examples:", "esxlcm image build --spec spec.json"] {
        assert!(r.stdout.contains(want), "build --help lacks {want}:\n{}", r.stdout);
    }
    let r = run(&["image", "inspect", "--help"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("esxlcm image inspect custom.iso --json"), "{}", r.stdout);
}

/// `depot generate --boot-modules` makes a depot an installer ISO builds from (the same bytes
/// as the library's `boot_modules` option); without the flag the ISO build has no kernel.
#[test]
fn generate_with_boot_modules_builds_an_iso() {
    let f = Fixture::new();
    let with = f.path("with.zip");
    let r =
        run(&["depot", "generate", "--preset", "tiny", "--seed", "11", "--boot-modules", "--out", Fixture::s(&with)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The fixture's depot is the library's generator with boot_modules, same preset and seed.
    assert!(std::fs::read(&with).unwrap() == std::fs::read(&f.depot).unwrap(), "--boot-modules sets boot_modules");
    let without = f.path("without.zip");
    let r = run(&["depot", "generate", "--preset", "tiny", "--seed", "11", "--out", Fixture::s(&without)]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    let build = |depot: &Path, iso: &Path| {
        image_build(&f.spec, depot, &["--bootloader-dir", Fixture::s(&f.bootloader), "--iso", Fixture::s(iso)], &[])
    };
    let iso = f.path("generated.iso");
    let r = build(&with, &iso);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(&["image", "inspect", Fixture::s(&iso), "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["boot_cfg"]["kernel"], "/b.b00");
    assert_eq!(v["boot_cfg"]["modules"][0], "/k.b00");
    assert!(v["problems"].as_array().unwrap().is_empty(), "{}", r.stdout);

    let no_kernel = f.path("no-kernel.iso");
    let r = build(&without, &no_kernel);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("the image has no kernel"), "{}", r.stderr);
    assert!(!no_kernel.exists());
}

#[test]
fn ldlinux_is_copied_and_the_image_drops_rock_ridge_for_it() {
    let f = Fixture::new();
    let ldlinux = f.path("ldlinux.c32");
    std::fs::write(&ldlinux, vec![0x5a; 2048]).unwrap();
    let iso = f.path("isolinux6.iso");
    let r = f.build(&["--ldlinux", Fixture::s(&ldlinux), "--iso", Fixture::s(&iso), "--json"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["iso"]["rock_ridge"], false, "{report}");
    let v: Value = serde_json::from_str(&run(&["image", "inspect", Fixture::s(&iso), "--json"]).stdout).unwrap();
    let file = v["files"].as_array().unwrap().iter().find(|x| x["path"] == "LDLINUX.C32").cloned();
    assert_eq!(file.map(|x| x["size"].clone()), Some(serde_json::json!(2048)), "{v}");
    // Without it, Rock Ridge stays.
    let plain = f.path("plain.iso");
    let r = f.build(&["--iso", Fixture::s(&plain)], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains("no Rock Ridge"), "{}", r.stdout);
}
