//! Building images from a generated depot (with boot payloads) and from the real Fling
//! sample: the JSON reads back, the bundle re-imports and resolves to the same image, the
//! ISO holds exactly the VIBs' payloads under the names BOOT.CFG gives, and every output
//! is the same bytes when built twice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use esxlcm_builder::bootcfg::BootCfg;
use esxlcm_builder::imgdb::{ImgDbLimits, read_imgdb};
use esxlcm_builder::inspect::{EfiBootCfg, inspect_iso};
use esxlcm_builder::{
    Bootloader, BootloaderFile, BuildError, Image, ImageOptions, IsoOptions, NoProgress, Progress, Stage,
};
use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::generate::{GeneratorConfig, generate};
use esxlcm_depot::model::ReleaseKind;
use esxlcm_depot::source::{Depot, OpenOptions};
use esxlcm_depot::vib::ArReader;
use esxlcm_depot::write::{write_bundle, write_tree};
use esxlcm_iso::IsoImage;
use esxlcm_solver::spec::ImageSpec;
use esxlcm_solver::{Resolution, ResolveOptions, SoftwareSpec, resolve};

fn generated_bundle(dir: &Path) -> PathBuf {
    let depot = generate(&GeneratorConfig { boot_modules: true, ..GeneratorConfig::tiny(11) }).unwrap();
    let path = dir.join("generated.zip");
    write_bundle(depot.content(), &depot, &path, false).unwrap();
    path
}

fn catalog_of(paths: &[&Path]) -> Catalog {
    Catalog::from_depots(paths.iter().map(|p| Depot::open_path(p, &OpenOptions::default()).unwrap())).unwrap()
}

/// The newest base image with an add-on that supports it.
fn spec_with_addon(catalog: &Catalog) -> SoftwareSpec {
    let mut bases: Vec<_> = catalog.release_units(ReleaseKind::BaseImage).map(|u| u.version.clone()).collect();
    bases.sort();
    let (base, addon) = bases
        .iter()
        .rev()
        .find_map(|b| {
            catalog
                .release_units(ReleaseKind::Addon)
                .find(|a| a.supports_base_image(b.as_str()))
                .map(|a| (b.clone(), a.clone()))
        })
        .expect("a generated add-on supports a generated base image");
    let image = ImageSpec::of_base_image(base).with_add_on(addon.name.clone().unwrap(), addon.version.clone());
    SoftwareSpec { image, ..SoftwareSpec::default() }
}

fn resolved(catalog: &Catalog, spec: &SoftwareSpec) -> Resolution {
    let r = resolve(&spec.image, catalog, &ResolveOptions::default());
    assert!(!r.has_errors(), "{:#?}", r.notifications);
    r
}

/// The generated bundle (written into `dir`) as a catalog, with the spec of its newest base
/// image with an add-on and that spec's resolution.
fn generated_inputs(dir: &Path) -> (Catalog, SoftwareSpec, Resolution) {
    let source = generated_bundle(dir);
    let catalog = catalog_of(&[&source]);
    let spec = spec_with_addon(&catalog);
    let resolution = resolved(&catalog, &spec);
    (catalog, spec, resolution)
}

/// Stand-in bootloader binaries: the builder treats them as opaque files.
fn bootloader(dir: &Path) -> Bootloader {
    let bl = dir.join("bootloader");
    std::fs::create_dir_all(bl.join("EFI/BOOT")).unwrap();
    let pattern =
        |n: usize, seed: u8| (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect::<Vec<u8>>();
    std::fs::write(bl.join("isolinux.bin"), pattern(4096, 1)).unwrap();
    std::fs::write(bl.join("MBOOT.C32"), pattern(3000, 2)).unwrap();
    std::fs::write(bl.join("MENU.C32"), pattern(1500, 3)).unwrap();
    std::fs::write(bl.join("EFIBOOT.IMG"), pattern(64 * 1024, 4)).unwrap();
    std::fs::write(bl.join("EFI/BOOT/BOOTX64.EFI"), pattern(2048, 5)).unwrap();
    Bootloader::from_dir(&bl).unwrap()
}

/// The stored bytes of each payload of a VIB, by member name.
fn payloads_of(catalog: &Catalog, vib_id: &str) -> BTreeMap<String, Vec<u8>> {
    let mut ar = ArReader::new(catalog.open_vib(vib_id).unwrap()).unwrap();
    let mut out = BTreeMap::new();
    while let Some(mut m) = ar.next_member().unwrap() {
        let name = m.name().to_owned();
        let mut bytes = Vec::new();
        m.read_to_end(&mut bytes).unwrap();
        out.insert(name, bytes);
    }
    out
}

#[derive(Default)]
struct Recorder {
    stages: Vec<(Stage, u64)>,
    last: u64,
    backwards: bool,
}

impl Progress for Recorder {
    fn start(&mut self, stage: Stage, total: u64) {
        self.stages.push((stage, total));
        self.last = 0;
    }
    fn advance(&mut self, done: u64) {
        self.backwards |= done < self.last;
        self.last = done;
    }
}

struct Outputs {
    iso: PathBuf,
    zip: PathBuf,
    json: PathBuf,
}

fn build_all(image: &Image<'_>, boot: &Bootloader, dir: &Path, progress: &mut dyn Progress) -> Outputs {
    std::fs::create_dir_all(dir).unwrap();
    let out = Outputs { iso: dir.join("image.iso"), zip: dir.join("image.zip"), json: dir.join("image.json") };
    image.write_json(&out.json, false, progress).unwrap();
    image.write_bundle(&out.zip, false, progress).unwrap();
    let options = IsoOptions { bootloader: boot.clone(), ..IsoOptions::default() };
    image.write_iso(&out.iso, false, &options, progress).unwrap();
    out
}

#[test]
fn generated_image_builds_to_json_zip_and_iso() {
    let tmp = tempfile::tempdir().unwrap();
    let (catalog, spec, resolution) = generated_inputs(tmp.path());
    let image = Image::new(&catalog, &spec, &resolution, &ImageOptions::default()).unwrap();
    let boot = bootloader(tmp.path());
    let mut progress = Recorder::default();
    let out = build_all(&image, &boot, &tmp.path().join("a"), &mut progress);

    // Progress: every stage, in order, never backwards, ending at its total.
    let stages: Vec<Stage> = progress.stages.iter().map(|s| s.0).collect();
    assert_eq!(stages, [Stage::Json, Stage::Bundle, Stage::Payloads, Stage::Iso]);
    assert!(!progress.backwards);
    assert_eq!(progress.last, progress.stages.last().unwrap().1, "the ISO stage ends at its total");
    // Only the outputs are left: no staging directory, no temporary file.
    let mut left: Vec<String> = std::fs::read_dir(tmp.path().join("a"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(left, ["image.iso", "image.json", "image.zip"]);

    // JSON: reads back as the same spec.
    assert_eq!(SoftwareSpec::from_json(&std::fs::read(&out.json).unwrap()).unwrap(), spec);

    // ZIP: imports as a depot and resolves to the same effective image.
    let reimported = catalog_of(&[&out.zip]);
    let again = resolved(&reimported, &spec);
    let components = |r: &Resolution| -> Vec<(String, String, String)> {
        r.image
            .components
            .values()
            .map(|c| (c.name.clone(), c.version.to_string(), format!("{:?}", c.source)))
            .collect()
    };
    assert_eq!(components(&again), components(&resolution));
    assert_eq!(again.image.vibs.keys().collect::<Vec<_>>(), resolution.image.vibs.keys().collect::<Vec<_>>());
    assert_eq!(again.image.add_on, resolution.image.add_on);
    // Exactly the image's content: one base image, the add-on, the built profile.
    assert_eq!(reimported.release_units(ReleaseKind::BaseImage).count(), 1);
    assert_eq!(reimported.release_units(ReleaseKind::Addon).count(), 1);
    assert_eq!(reimported.profiles().len(), 1);
    assert_eq!(reimported.profiles()[0], *image.profile());
    assert!(reimported.vibs().count() < catalog.vibs().count());

    // ISO: BOOT.CFG names the kernel and modules; each is a file with the payload's bytes.
    let iso = IsoImage::open(&out.iso).unwrap();
    let cfg = BootCfg::parse(&String::from_utf8(iso.read_file("BOOT.CFG", 1 << 20).unwrap()).unwrap()).unwrap();
    assert_eq!(iso.read_file("EFI/BOOT/BOOT.CFG", 1 << 20).unwrap(), iso.read_file("BOOT.CFG", 1 << 20).unwrap());
    assert_eq!(cfg.kernel, "/b.b00");
    assert_eq!(cfg.kernelopt, "runweasel cdromBoot");
    assert_eq!(cfg.build, resolution.image.base_image.to_string());
    assert_eq!(cfg.modules.first().map(String::as_str), Some("/k.b00"));
    assert_eq!(cfg.modules.last().map(String::as_str), Some("/imgdb.tgz"));
    let plan = image.module_plan().unwrap();
    assert_eq!(cfg.modules.len(), plan.modules.len() + 1);
    assert_eq!(plan.all().count(), resolution.image.vibs.len() + 2, "every VIB's vgz, plus b and k of esx-base");
    let mut by_vib: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    for (file, module) in std::iter::once(&cfg.kernel).chain(&cfg.modules).zip(plan.all()) {
        assert_eq!(file.trim_start_matches('/'), module.file_name);
        let payloads = by_vib.entry(module.vib_id.clone()).or_insert_with(|| payloads_of(&catalog, &module.vib_id));
        let on_iso = iso.read_file(&cfg.iso_path(file), 1 << 30).unwrap();
        assert_eq!(&on_iso, &payloads[&module.payload], "{file} is {}'s payload {}", module.vib_id, module.payload);
    }
    // The image database: the profile and every VIB of the image.
    let db = read_imgdb(iso.open_file("IMGDB.TGZ").unwrap(), ImgDbLimits::default()).unwrap();
    assert_eq!(db.profiles, [image.profile().clone()]);
    let mut db_vibs: Vec<String> = db.vibs.iter().map(|v| v.id()).collect();
    db_vibs.sort();
    assert_eq!(db_vibs, resolution.image.vibs.keys().cloned().collect::<Vec<_>>());
    assert_eq!(db.bulletins.len(), resolution.image.components.len());
    // UPGRADE/ and the bootloader.
    let profile_xml = iso.read_file("UPGRADE/PROFILE.XML", 1 << 20).unwrap();
    assert_eq!(profile_xml, image.profile().to_xml());
    let meta = String::from_utf8(iso.read_file("UPGRADE/METADATA.XML", 1 << 20).unwrap()).unwrap();
    assert!(meta.contains("<esxVersion>8.0."), "{meta}");
    let metadata_zip = iso.read_file("UPGRADE/METADATA.ZIP", 1 << 26).unwrap();
    let archive = esxlcm_depot::metadata_zip::MetadataArchive::read(
        std::io::Cursor::new(metadata_zip),
        esxlcm_depot::archive::ArchiveLimits::default(),
    )
    .unwrap();
    assert_eq!(archive.vibs.len(), reimported.vibs().count());
    assert_eq!(iso.read_file("ISOLINUX.BIN", 1 << 20).unwrap().len(), 4096);
    let isolinux_cfg = String::from_utf8(iso.read_file("ISOLINUX.CFG", 1 << 20).unwrap()).unwrap();
    assert!(isolinux_cfg.contains("APPEND -c boot.cfg"), "{isolinux_cfg}");
    assert_eq!(
        iso.read_file("EFIBOOT.IMG", 1 << 20).unwrap(),
        std::fs::read(boot.get(BootloaderFile::EfibootImg).unwrap()).unwrap()
    );
    assert!(iso.files().iter().any(|f| f.path == "EFI/BOOT/BOOTX64.EFI"));
    let platforms: Vec<String> = iso.boot_entries().iter().map(|e| format!("{:?}", e.platform)).collect();
    assert_eq!(platforms, ["Bios", "Uefi"]);

    // The inspector agrees and finds nothing wrong.
    let inspection = inspect_iso(&out.iso, ImgDbLimits::default()).unwrap();
    assert!(inspection.problems.is_empty(), "{:?}", inspection.problems);
    assert_eq!(inspection.efi_boot_cfg, EfiBootCfg::Same);
    assert_eq!(inspection.boot_cfg.as_ref(), Some(&cfg));
    assert_eq!(inspection.image_db.as_ref().unwrap().vibs.len(), resolution.image.vibs.len());

    // xorriso (when installed) reads the same files.
    if let Ok(listing) =
        std::process::Command::new("xorriso").args(["-indev"]).arg(&out.iso).args(["-find", "/", "-type", "f"]).output()
    {
        let text = String::from_utf8_lossy(&listing.stdout);
        for module in std::iter::once(&cfg.kernel).chain(&cfg.modules) {
            let want = format!("'/{}'", cfg.iso_path(module));
            assert!(text.contains(&want), "xorriso does not list {want}:\n{text}");
        }
        assert!(text.contains("'/EFI/BOOT/BOOT.CFG'"), "{text}");
    }

    // Built again: the same bytes, everywhere.
    let again = build_all(&image, &boot, &tmp.path().join("b"), &mut NoProgress);
    for (a, b) in [(&out.iso, &again.iso), (&out.zip, &again.zip), (&out.json, &again.json)] {
        assert!(std::fs::read(a).unwrap() == std::fs::read(b).unwrap(), "{} differs between builds", a.display());
    }
    // The bootloader taken from the first ISO (ISOLINUX.CFG included) gives the same ISO.
    let from_iso = tmp.path().join("from-iso.iso");
    let options = IsoOptions { bootloader_iso: Some(out.iso.clone()), ..IsoOptions::default() };
    image.write_iso(&from_iso, false, &options, &mut NoProgress).unwrap();
    assert!(std::fs::read(&out.iso).unwrap() == std::fs::read(&from_iso).unwrap(), "--bootloader-iso");

    // A different timestamp changes the ISO.
    let later = Image::new(
        &catalog,
        &spec,
        &resolution,
        &ImageOptions { timestamp: Some(image.timestamp() + 86_400), ..ImageOptions::default() },
    )
    .unwrap();
    let c = build_all(&later, &boot, &tmp.path().join("c"), &mut NoProgress);
    assert!(std::fs::read(&out.iso).unwrap() != std::fs::read(&c.iso).unwrap());
}

#[test]
fn refusals_name_the_cause_and_leave_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let (catalog, spec, resolution) = generated_inputs(tmp.path());
    let image = Image::new(&catalog, &spec, &resolution, &ImageOptions::default()).unwrap();
    let out_dir = tmp.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let iso = out_dir.join("x.iso");

    // No bootloader at all.
    let err = image.write_iso(&iso, false, &IsoOptions::default(), &mut NoProgress).unwrap_err();
    assert!(matches!(err, BuildError::NoBootloader), "{err}");
    // BIOS without MBOOT.C32.
    let mut partial = Bootloader::default();
    partial.set(BootloaderFile::IsolinuxBin, tmp.path().join("x"));
    let err =
        image.write_iso(&iso, false, &IsoOptions { bootloader: partial, ..IsoOptions::default() }, &mut NoProgress);
    assert!(err.unwrap_err().to_string().contains("MBOOT.C32"));
    // An existing output is not replaced without overwrite.
    std::fs::write(&iso, b"keep").unwrap();
    let boot = bootloader(tmp.path());
    let options = IsoOptions { bootloader: boot.clone(), ..IsoOptions::default() };
    assert!(matches!(image.write_iso(&iso, false, &options, &mut NoProgress), Err(BuildError::Exists { .. })));
    assert_eq!(std::fs::read(&iso).unwrap(), b"keep");
    std::fs::remove_file(&iso).unwrap();

    // A spec that does not resolve is refused with its errors.
    let mut bad = spec.clone();
    bad.image.components.insert("No-Such-Component".into(), Some("1.0-1".parse().unwrap()));
    let bad_resolution = resolve(&bad.image, &catalog, &ResolveOptions::default());
    let err = Image::new(&catalog, &bad, &bad_resolution, &ImageOptions::default()).unwrap_err().to_string();
    assert!(err.contains("component No-Such-Component 1.0-1 is not in the depots"), "{err}");

    // A base image without boot payloads: no kernel, said before anything is written.
    let plain = generate(&GeneratorConfig::tiny(11)).unwrap();
    let plain_zip = tmp.path().join("plain.zip");
    write_bundle(plain.content(), &plain, &plain_zip, false).unwrap();
    let plain_catalog = catalog_of(&[&plain_zip]);
    let plain_resolution = resolved(&plain_catalog, &spec);
    let plain_image = Image::new(&plain_catalog, &spec, &plain_resolution, &ImageOptions::default()).unwrap();
    let err = plain_image.write_iso(&iso, false, &options, &mut NoProgress).unwrap_err().to_string();
    assert!(err.contains("has no payload of type 'boot'"), "{err}");

    // A corrupted kernel payload in the depot: the VIB and payload are named, nothing is left.
    let depot = generate(&GeneratorConfig { boot_modules: true, ..GeneratorConfig::tiny(11) }).unwrap();
    let tree = tmp.path().join("tree");
    write_tree(depot.content(), &depot, &tree, false).unwrap();
    let tree_catalog = catalog_of(&[&tree]);
    let tree_resolution = resolved(&tree_catalog, &spec);
    let tree_image = Image::new(&tree_catalog, &spec, &tree_resolution, &ImageOptions::default()).unwrap();
    let base = tree_image.module_plan().unwrap().kernel;
    let vib = tree_catalog.vib(&base.vib_id).unwrap();
    let vib_path = tree.join(&vib.origins[0].path);
    let mut bytes = std::fs::read(&vib_path).unwrap();
    // The kernel is the first payload: 60-byte header after the descriptor and signature.
    let payloads = payloads_of(&tree_catalog, &base.vib_id);
    let kernel = &payloads["b"];
    let at = bytes.windows(kernel.len()).position(|w| w == kernel.as_slice()).unwrap();
    bytes[at + kernel.len() / 2] ^= 0xff;
    std::fs::write(&vib_path, &bytes).unwrap();
    let err = tree_image.write_iso(&iso, false, &options, &mut NoProgress).unwrap_err().to_string();
    assert!(err.contains(&format!("VIB {}, payload 'b': sha-256 is", base.vib_id)), "{err}");
    let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().collect();
    assert!(left.is_empty(), "nothing is left after a failed build: {left:?}");
}

#[test]
fn the_real_fling_on_a_generated_base_image_builds_and_reimports() {
    let tmp = tempfile::tempdir().unwrap();
    // The generated 8.0.3 base provides vmkapi_2_13_0_0; the Fling also needs the
    // incompat level, which this test adds to the metadata of every esx-base.
    let depot = generate(&GeneratorConfig { boot_modules: true, ..GeneratorConfig::tiny(5) }).unwrap();
    let mut content = depot.content().clone();
    for vib in content.vibs.iter_mut().filter(|v| v.name == "esx-base") {
        vib.provides.push(esxlcm_depot::model::Provide { name: "vmkapi_incompat_2_13_0_0".into(), version: None });
    }
    let base_zip = tmp.path().join("base.zip");
    write_bundle(&content, &depot, &base_zip, false).unwrap();
    let fling = esxlcm_test_support::sample_bundle("ESXi80U3-VMKUSB");
    let catalog = catalog_of(&[&base_zip, &fling]);
    let spec = SoftwareSpec::from_json(include_bytes!("../../../testdata/solver/fling-on-8.0.3.json")).unwrap();
    let resolution = resolved(&catalog, &spec);
    let name = "VMware-vmkusb-nic-fling";
    assert!(resolution.image.components.contains_key(name));
    let image = Image::new(&catalog, &spec, &resolution, &ImageOptions::default()).unwrap();

    // The spec JSON keeps the `null` version it was given.
    let json = tmp.path().join("fling-image.json");
    image.write_json(&json, false, &mut NoProgress).unwrap();
    let read_back = SoftwareSpec::from_json(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(read_back, spec);
    assert_eq!(read_back.image.components.get(name), Some(&None));

    let zip = tmp.path().join("fling-image.zip");
    image.write_bundle(&zip, false, &mut NoProgress).unwrap();
    let reimported = catalog_of(&[&zip]);
    let again = resolved(&reimported, &spec);
    assert_eq!(again.image.components[name].version, resolution.image.components[name].version);
    assert_eq!(again.image.vibs.keys().collect::<Vec<_>>(), resolution.image.vibs.keys().collect::<Vec<_>>());
    // The Fling VIB is copied byte for byte (its signature stays valid).
    let fling_id = &resolution.image.components[name].vib_ids[0];
    let read = |c: &Catalog| {
        let mut v = Vec::new();
        c.open_vib(fling_id).unwrap().read_to_end(&mut v).unwrap();
        v
    };
    assert_eq!(read(&reimported), read(&catalog));

    // And an installer ISO that carries the Fling's real payload.
    let iso_path = tmp.path().join("fling.iso");
    let options = IsoOptions { bootloader: bootloader(tmp.path()), ..IsoOptions::default() };
    image.write_iso(&iso_path, false, &options, &mut NoProgress).unwrap();
    let plan = image.module_plan().unwrap();
    let module = plan.modules.iter().find(|m| &m.vib_id == fling_id).unwrap();
    assert_eq!(module.file_name, "vmkusb_n.v00");
    let iso = IsoImage::open(&iso_path).unwrap();
    let payloads = payloads_of(&catalog, fling_id);
    assert_eq!(iso.read_file(&module.iso_path(), 1 << 30).unwrap(), payloads[&module.payload]);
}
