//! Write a directory tree as an ESXi-shaped ISO image, for benchmarks and manual checks.
//!
//! `tree_to_iso SRC_DIR OUT.iso [VOLUME_ID [MBR_BOOT_CODE]]`: every file under SRC_DIR keeps its relative
//! path (which must already be an upper-case 8.3 ISO path); `ISOLINUX.BIN` and `EFIBOOT.IMG`
//! at the top become the BIOS and UEFI boot images, the catalog is `BOOT.CAT`. With
//! MBR_BOOT_CODE (e.g. `isohdpfx.bin`) the image is USB-hybrid (GPT + hybrid MBR, as the
//! builder writes by default). Prints the
//! size and SHA-256. The image builder CLI (`esxlcm image build`) is the product's front door.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};

use esxlcm_iso::{IsoFile, IsoSource, IsoSpec, write_iso};

fn collect(root: &Path, dir: &Path, out: &mut Vec<IsoFile>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            out.push(IsoFile { path: rel, source: IsoSource::File(path) });
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(src), Some(out)) = (args.get(1), args.get(2)) else {
        return Err("usage: tree_to_iso SRC_DIR OUT.iso [VOLUME_ID [MBR_BOOT_CODE]]".into());
    };
    let src = PathBuf::from(src);
    let mut files = Vec::new();
    collect(&src, &src, &mut files)?;
    let has = |name: &str| files.iter().any(|f| f.path == name).then(|| name.to_owned());
    let spec = IsoSpec {
        volume_id: args.get(3).cloned().unwrap_or_else(|| "ESXLCM".into()),
        bios_boot: has("ISOLINUX.BIN"),
        uefi_boot: has("EFIBOOT.IMG"),
        files,
        catalog_path: "BOOT.CAT".into(),
        hybrid: match args.get(4) {
            Some(code) => Some(esxlcm_iso::IsoHybrid { mbr_boot_code: Some(std::fs::read(code)?) }),
            None => None,
        },
        modified: 1_700_000_000,
    };
    let written = write_iso(&spec, Path::new(out), &mut |_, _| {})?;
    println!("{out}: {} bytes, sha256 {}", written.size, written.sha256);
    Ok(())
}
