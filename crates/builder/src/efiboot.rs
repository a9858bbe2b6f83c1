//! `EFIBOOT.IMG`, the UEFI El Torito image: a FAT filesystem whose `EFI/BOOT/BOOTX64.EFI`
//! UEFI firmware runs when it boots the ISO (from optical media through the El Torito
//! entry with platform 0xEF, from a USB stick through the GPT's EFI system partition, which
//! covers the same bytes).
//!
//! * [`make_efi_image`] formats a FAT image (FAT12 or FAT16, 2 KiB clusters, as small as the
//!   files allow) holding the given files, deterministically: the volume serial number and
//!   every directory-entry time come from the build timestamp.
//! * [`check_efi_image`] reads a given image — untrusted bytes, at most [`MAX_EFI_IMAGE`] —
//!   and refuses it unless it is a FAT filesystem holding a PE executable at
//!   `EFI/BOOT/BOOTX64.EFI`. [`list_efi_image`] lists its files (bounded: depth, entries).
//!
//! The FAT code is the `fatfs` crate; this module only decides the layout and the limits.

use std::cell::Cell;
use std::io::{self, Cursor, Read, Write};

use fatfs::{Date, DateTime, FatType, FileSystem, FormatVolumeOptions, FsOptions, Time, TimeProvider};
use serde::Serialize;

/// Where UEFI firmware looks for the x86-64 loader on removable media (UEFI spec 3.5.1.1).
pub const EFI_LOADER: &str = "EFI/BOOT/BOOTX64.EFI";
/// The largest EFI boot image read. The El Torito load size field counts 512-byte sectors in
/// 16 bits, so 32 MiB is all firmware can be told to load; VMware's images are a few MiB.
pub const MAX_EFI_IMAGE: u64 = 32 << 20;
/// The most directory entries [`list_efi_image`] visits (a corrupt image can chain a
/// directory into itself).
pub const MAX_ENTRIES: usize = 4096;
/// The deepest directory [`list_efi_image`] descends into.
pub const MAX_DEPTH: usize = 8;

const SECTOR: u64 = 512;
const CLUSTER: u64 = 2048;

/// What is wrong with an EFI boot image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EfiImageError {
    #[error("it has {size} bytes; an EFI boot image may have at most {limit}")]
    TooLarge { size: u64, limit: u64 },
    #[error("it is not a FAT filesystem ({detail})")]
    NotFat { detail: String },
    #[error("the FAT filesystem has no {EFI_LOADER}: UEFI firmware would find nothing to boot")]
    NoLoader,
    #[error("{EFI_LOADER} in the FAT filesystem is {what}")]
    BadLoader { what: String },
    #[error("the FAT filesystem cannot be read at {path}: {detail}")]
    Unreadable { path: String, detail: String },
    #[error("the FAT filesystem has more than {MAX_ENTRIES} entries or directories deeper than {MAX_DEPTH}")]
    TooManyEntries,
    #[error("file {path} for the EFI boot image: {detail}")]
    Content { path: String, detail: String },
}

/// One file of an EFI boot image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EfiFile {
    /// `/`-separated, as stored (FAT names are case-insensitive).
    pub path: String,
    pub size: u64,
}

/// What an EFI boot image holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EfiImageInfo {
    /// `FAT12`, `FAT16` or `FAT32`.
    pub fat_type: String,
    pub size: u64,
    pub files: Vec<EfiFile>,
}

impl EfiImageInfo {
    /// The file at `path`, compared case-insensitively as FAT does.
    pub fn file(&self, path: &str) -> Option<&EfiFile> {
        self.files.iter().find(|f| f.path.eq_ignore_ascii_case(path))
    }
}

thread_local! {
    /// The time every entry written on this thread gets: `fatfs` asks a `'static` provider,
    /// so the build's timestamp reaches it through here while [`make_efi_image`] runs.
    static FAT_TIME: Cell<DateTime> = const { Cell::new(DOS_EPOCH) };
}

const DOS_EPOCH: DateTime =
    DateTime { date: Date { year: 1980, month: 1, day: 1 }, time: Time { hour: 0, min: 0, sec: 0, millis: 0 } };

#[derive(Debug)]
struct BuildTime;

impl TimeProvider for BuildTime {
    fn get_current_date(&self) -> Date {
        FAT_TIME.with(|t| t.get().date)
    }

    fn get_current_date_time(&self) -> DateTime {
        FAT_TIME.with(Cell::get)
    }
}

static BUILD_TIME: BuildTime = BuildTime;

/// A Unix time as a FAT date-time (FAT counts from 1980 to 2107, in 2-second steps).
fn fat_time(unix: i64) -> DateTime {
    let Some(t) = chrono::DateTime::from_timestamp(unix, 0) else { return DOS_EPOCH };
    use chrono::{Datelike, Timelike};
    if !(1980..=2107).contains(&t.year()) {
        return DOS_EPOCH;
    }
    // Each field is in range for u16 (year checked above).
    DateTime {
        date: Date { year: t.year() as u16, month: t.month() as u16, day: t.day() as u16 },
        time: Time { hour: t.hour() as u16, min: t.minute() as u16, sec: (t.second() & !1) as u16, millis: 0 },
    }
}

/// Sets the FAT time for the current thread and restores the epoch when dropped.
struct TimeGuard;

impl TimeGuard {
    fn set(unix: i64) -> Self {
        FAT_TIME.with(|t| t.set(fat_time(unix)));
        Self
    }
}

impl Drop for TimeGuard {
    fn drop(&mut self) {
        FAT_TIME.with(|t| t.set(DOS_EPOCH));
    }
}

/// A file to put into an image: its path inside (`EFI/BOOT/BOOTX64.EFI`) and its bytes.
pub struct EfiSource<'a> {
    pub path: String,
    pub reader: Box<dyn Read + 'a>,
    pub size: u64,
}

/// The image size for files of these sizes: every file rounded up to whole clusters, a
/// cluster per directory, the boot sector, two FATs and the root directory, plus 25 % slack
/// so the FAT type's cluster-count rules leave room; rounded up to 64 KiB.
fn image_size(sizes: impl IntoIterator<Item = u64>, dirs: u64) -> u64 {
    let data: u64 = sizes.into_iter().map(|s| s.div_ceil(CLUSTER).max(1) * CLUSTER).sum::<u64>() + dirs * CLUSTER;
    let overhead = 64 * 1024;
    let total = (data + overhead) + (data + overhead) / 4;
    total.div_ceil(64 * 1024) * (64 * 1024)
}

/// Format a FAT image holding `files` (parent directories are created), every time stamp
/// `timestamp` (Unix seconds). The same files and timestamp give the same bytes.
pub fn make_efi_image(files: Vec<EfiSource<'_>>, timestamp: i64) -> Result<Vec<u8>, EfiImageError> {
    let mut dirs: Vec<String> = files
        .iter()
        .flat_map(|f| {
            let parts: Vec<&str> = f.path.split('/').collect();
            (1..parts.len()).map(move |n| parts[..n].join("/")).collect::<Vec<_>>()
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    let size = image_size(files.iter().map(|f| f.size), dirs.len() as u64);
    if size > MAX_EFI_IMAGE {
        return Err(EfiImageError::TooLarge { size, limit: MAX_EFI_IMAGE });
    }
    let fat_err = |path: &str, e: io::Error| EfiImageError::Content { path: path.to_owned(), detail: e.to_string() };
    let _time = TimeGuard::set(timestamp);
    let mut disk = Cursor::new(vec![0u8; size as usize]);
    // A volume serial number from the timestamp, as mkfs tools derive it from the clock.
    let volume_id = (timestamp as u64 ^ (timestamp as u64 >> 32)) as u32;
    let format = FormatVolumeOptions::new()
        .bytes_per_cluster(CLUSTER as u32)
        .fat_type(if size / CLUSTER < 4000 { FatType::Fat12 } else { FatType::Fat16 })
        .volume_id(volume_id)
        .volume_label(*b"EFIBOOT    ");
    fatfs::format_volume(&mut disk, format).map_err(|e| fat_err("(format)", e))?;
    disk.set_position(0);
    {
        let fs = FileSystem::new(&mut disk, FsOptions::new().time_provider(&BUILD_TIME))
            .map_err(|e| fat_err("(mount)", e))?;
        for dir in &dirs {
            fs.root_dir().create_dir(dir).map_err(|e| fat_err(dir, e))?;
        }
        for mut file in files {
            let mut out = fs.root_dir().create_file(&file.path).map_err(|e| fat_err(&file.path, e))?;
            let copied = io::copy(&mut file.reader, &mut out).map_err(|e| fat_err(&file.path, e))?;
            if copied != file.size {
                return Err(EfiImageError::Content {
                    path: file.path.clone(),
                    detail: format!("{copied} bytes were read, {} were expected (did it change?)", file.size),
                });
            }
            out.flush().map_err(|e| fat_err(&file.path, e))?;
        }
        fs.unmount().map_err(|e| fat_err("(unmount)", e))?;
    }
    Ok(disk.into_inner())
}

fn open_fat(bytes: &[u8]) -> Result<FileSystem<Cursor<Vec<u8>>>, EfiImageError> {
    if bytes.len() as u64 > MAX_EFI_IMAGE {
        return Err(EfiImageError::TooLarge { size: bytes.len() as u64, limit: MAX_EFI_IMAGE });
    }
    if (bytes.len() as u64) < SECTOR {
        return Err(EfiImageError::NotFat { detail: format!("{} bytes, less than one sector", bytes.len()) });
    }
    // fatfs may write (the dirty flag) while mounted: it gets a copy, never the caller's bytes.
    FileSystem::new(Cursor::new(bytes.to_vec()), FsOptions::new())
        .map_err(|e| EfiImageError::NotFat { detail: e.to_string() })
}

/// fatfs trusts a directory entry's cluster number: in a damaged image (a cluster below 2)
/// it subtracts past zero, a panic where overflow checks are on (debug and fuzz builds) and
/// wild offsets where they are off. The image is untrusted input, so that panic is the
/// image's defect and is reported as one, never passed on.
fn guarded<T>(read: impl FnOnce() -> Result<T, EfiImageError>) -> Result<T, EfiImageError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|_| {
        Err(EfiImageError::NotFat {
            detail: "a directory entry points outside the filesystem: the image is damaged".into(),
        })
    })
}

/// Every file of a FAT image, directories walked depth-first in stored order, bounded by
/// [`MAX_ENTRIES`] and [`MAX_DEPTH`].
pub fn list_efi_image(bytes: &[u8]) -> Result<EfiImageInfo, EfiImageError> {
    guarded(|| list_unguarded(bytes))
}

fn list_unguarded(bytes: &[u8]) -> Result<EfiImageInfo, EfiImageError> {
    let fs = open_fat(bytes)?;
    let fat_type = match fs.fat_type() {
        FatType::Fat12 => "FAT12",
        FatType::Fat16 => "FAT16",
        FatType::Fat32 => "FAT32",
    };
    let mut files = Vec::new();
    let mut seen = 0usize;
    let mut stack = vec![(String::new(), fs.root_dir(), 0usize)];
    while let Some((prefix, dir, depth)) = stack.pop() {
        for entry in dir.iter() {
            seen += 1;
            if seen > MAX_ENTRIES {
                return Err(EfiImageError::TooManyEntries);
            }
            let entry = entry.map_err(|e| EfiImageError::Unreadable {
                path: if prefix.is_empty() { "/".into() } else { prefix.clone() },
                detail: e.to_string(),
            })?;
            let name = entry.file_name();
            if name == "." || name == ".." {
                continue;
            }
            let path = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
            if entry.is_dir() {
                if depth + 1 > MAX_DEPTH {
                    return Err(EfiImageError::TooManyEntries);
                }
                stack.push((path, entry.to_dir(), depth + 1));
            } else {
                files.push(EfiFile { path, size: entry.len() });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(EfiImageInfo { fat_type: fat_type.to_owned(), size: bytes.len() as u64, files })
}

/// Check a given EFI boot image: a FAT filesystem with a PE executable (`MZ`) at
/// [`EFI_LOADER`]. Returns what it holds.
pub fn check_efi_image(bytes: &[u8]) -> Result<EfiImageInfo, EfiImageError> {
    guarded(|| check_unguarded(bytes))
}

fn check_unguarded(bytes: &[u8]) -> Result<EfiImageInfo, EfiImageError> {
    let info = list_unguarded(bytes)?;
    let loader = info.file(EFI_LOADER).ok_or(EfiImageError::NoLoader)?;
    if loader.size < 64 {
        return Err(EfiImageError::BadLoader { what: format!("{} bytes, too small for a PE executable", loader.size) });
    }
    let fs = open_fat(bytes)?;
    let mut head = [0u8; 2];
    fs.root_dir()
        .open_file(&loader.path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map_err(|e| EfiImageError::Unreadable { path: loader.path.clone(), detail: e.to_string() })?;
    if &head != b"MZ" {
        return Err(EfiImageError::BadLoader { what: "not a PE/COFF executable (it does not start with MZ)".into() });
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn pe(len: usize) -> Vec<u8> {
        let mut v = vec![0x90; len];
        v[..2].copy_from_slice(b"MZ");
        v
    }

    fn image(files: &[(&str, Vec<u8>)], timestamp: i64) -> Vec<u8> {
        let sources = files
            .iter()
            .map(|(p, b)| EfiSource { path: (*p).to_owned(), reader: Box::new(&b[..]), size: b.len() as u64 })
            .collect();
        make_efi_image(sources, timestamp).unwrap()
    }

    #[test]
    fn made_images_hold_the_files_and_pass_the_check() {
        let loader = pe(300_000);
        let bytes =
            image(&[(EFI_LOADER, loader.clone()), ("EFI/BOOT/BOOT.CFG", b"kernel=/b.b00\n".to_vec())], 1_719_300_000);
        assert_eq!(bytes.len() % 65536, 0);
        assert!(bytes.len() <= 512 * 1024, "{} bytes for 300 kB", bytes.len());
        let info = check_efi_image(&bytes).unwrap();
        assert_eq!(info.fat_type, "FAT12");
        let paths: Vec<(&str, u64)> = info.files.iter().map(|f| (f.path.as_str(), f.size)).collect();
        assert_eq!(paths, [("EFI/BOOT/BOOT.CFG", 14), ("EFI/BOOT/BOOTX64.EFI", 300_000)]);
        // The content reads back.
        let fs = open_fat(&bytes).unwrap();
        let mut back = Vec::new();
        fs.root_dir().open_file(EFI_LOADER).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, loader);
    }

    /// A directory entry whose first cluster is 1 (below the first data cluster) made fatfs
    /// subtract past zero and panic (found by the efiboot fuzz target): it is a damaged image.
    #[test]
    fn an_entry_pointing_below_the_data_area_is_a_damaged_image_not_a_panic() {
        let mut bytes = image(&[(EFI_LOADER, pe(5000))], 1_719_300_000);
        // The root directory's entry for `EFI` (8.3 name "EFI" padded with spaces): its
        // first cluster (low word, bytes 26..28 of the 32-byte entry) set to 1.
        let at = bytes.windows(11).position(|w| w == b"EFI        ").unwrap();
        bytes[at + 26] = 1;
        bytes[at + 27] = 0;
        let e = check_efi_image(&bytes).unwrap_err();
        assert!(
            matches!(e, EfiImageError::NotFat { .. } | EfiImageError::Unreadable { .. } | EfiImageError::NoLoader),
            "{e}"
        );
        assert!(list_efi_image(&bytes).is_ok_and(|i| i.file(EFI_LOADER).is_none()) || list_efi_image(&bytes).is_err());
    }

    #[test]
    fn same_input_same_bytes_and_the_timestamp_is_used() {
        let files = [(EFI_LOADER, pe(5000))];
        let a = image(&files, 1_719_300_000);
        assert_eq!(a, image(&files, 1_719_300_000));
        let b = image(&files, 1_719_400_000);
        assert_ne!(a, b, "the volume id and entry times follow the timestamp");
        let fs = open_fat(&a).unwrap();
        let entry = fs
            .root_dir()
            .open_dir("EFI/BOOT")
            .unwrap()
            .iter()
            .find_map(|e| e.ok().filter(|e| e.file_name() == "BOOTX64.EFI"))
            .unwrap();
        let modified = entry.modified();
        assert_eq!((modified.date.year, modified.date.month, modified.date.day), (2024, 6, 25));
    }

    #[test]
    fn larger_loaders_get_fat16() {
        let bytes = image(&[(EFI_LOADER, pe(9 << 20))], 0);
        assert_eq!(check_efi_image(&bytes).unwrap().fat_type, "FAT16");
    }

    #[test]
    fn random_bytes_are_refused_as_not_fat() {
        // The case: 64 KiB of random bytes given as EFIBOOT.IMG.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let random: Vec<u8> = (0..65536)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let err = check_efi_image(&random).unwrap_err();
        assert!(matches!(err, EfiImageError::NotFat { .. }), "{err}");
        assert!(err.to_string().starts_with("it is not a FAT filesystem"), "{err}");
        assert!(matches!(check_efi_image(&[0; 100]).unwrap_err(), EfiImageError::NotFat { .. }));
    }

    #[test]
    fn fat_without_the_loader_or_with_a_non_pe_loader_is_refused() {
        let bytes = image(&[("EFI/BOOT/GRUBX64.EFI", pe(1000))], 0);
        let err = check_efi_image(&bytes).unwrap_err();
        assert!(matches!(err, EfiImageError::NoLoader), "{err}");
        assert!(err.to_string().contains("no EFI/BOOT/BOOTX64.EFI"), "{err}");
        let bytes = image(&[(EFI_LOADER, vec![7; 1000])], 0);
        let err = check_efi_image(&bytes).unwrap_err();
        assert!(err.to_string().contains("does not start with MZ"), "{err}");
        let bytes = image(&[(EFI_LOADER, b"MZ".to_vec())], 0);
        assert!(check_efi_image(&bytes).unwrap_err().to_string().contains("too small"));
    }

    /// FAT images written by another implementation (fuzz/make_seeds.py, checked with mtools'
    /// `mdir`) read the same way.
    #[test]
    fn images_from_another_writer_are_checked_alike() {
        let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/efiboot");
        let read = |name: &str| std::fs::read(seeds.join(name)).unwrap();
        let info = check_efi_image(&read("loader.img")).unwrap();
        assert_eq!(info.fat_type, "FAT12");
        assert_eq!(info.file(EFI_LOADER).map(|f| f.size), Some(770));
        assert!(matches!(check_efi_image(&read("no-loader.img")), Err(EfiImageError::NoLoader)));
        assert!(matches!(check_efi_image(&read("not-pe.img")), Err(EfiImageError::BadLoader { .. })));
    }

    #[test]
    fn oversized_inputs_are_refused_before_reading() {
        let err = check_efi_image(&vec![0; MAX_EFI_IMAGE as usize + 1]).unwrap_err();
        assert!(matches!(err, EfiImageError::TooLarge { .. }), "{err}");
        let err = make_efi_image(
            vec![EfiSource { path: EFI_LOADER.into(), reader: Box::new(io::empty()), size: MAX_EFI_IMAGE }],
            0,
        )
        .unwrap_err();
        assert!(matches!(err, EfiImageError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn a_short_source_is_an_error_naming_the_file() {
        let err =
            make_efi_image(vec![EfiSource { path: EFI_LOADER.into(), reader: Box::new(&b"MZ"[..]), size: 10 }], 0)
                .unwrap_err();
        assert!(
            err.to_string().contains("EFI/BOOT/BOOTX64.EFI") && err.to_string().contains("2 bytes were read"),
            "{err}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Mutated images never panic: they list, or are refused with a reason.
        #[test]
        fn mutated_images_never_panic(flips in proptest::collection::vec((0usize..65536, any::<u8>()), 1..64)) {
            let mut bytes = image(&[(EFI_LOADER, pe(20_000)), ("EFI/BOOT/BOOT.CFG", b"x".to_vec())], 0);
            for (at, value) in flips {
                let at = at % bytes.len();
                bytes[at] = value;
            }
            let _ = check_efi_image(&bytes);
        }
    }
}
