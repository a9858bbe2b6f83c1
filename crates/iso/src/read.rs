//! A small, bounded reader of ISO 9660 images: volume descriptors, the directory tree with
//! the best names available (Rock Ridge `NM`, else Joliet, else ISO 9660 without `;1`), and
//! the El Torito boot catalog. It is written here, not taken from the writer library, so the
//! tests of the writer do not trust the writer's own reader, and so every bound is ours.
//!
//! The bytes are untrusted: every offset is checked against the image end before it is read,
//! and directory depth, record counts, directory sizes, name lengths, SUSP continuation
//! chains and multi-extent chains are capped. A directory reached twice (a loop) is an error.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::IsoError;

const SECTOR: u64 = 2048;
/// Volume descriptors start at this sector.
const FIRST_DESCRIPTOR: u64 = 16;
/// Descriptors read before a missing terminator is an error.
const MAX_DESCRIPTORS: u64 = 64;
/// Directory nesting (ISO 9660 allows 8, Rock Ridge relocation more).
const MAX_DEPTH: usize = 64;
/// Directory records in the whole tree.
const MAX_RECORDS: usize = 500_000;
/// One directory's extent.
const MAX_DIR_BYTES: u64 = 16 << 20;
/// All directory extents together.
const MAX_TREE_BYTES: u64 = 256 << 20;
/// A decoded name (Rock Ridge names may be split over many `NM` entries).
const MAX_NAME: usize = 1024;
/// A whole path.
const MAX_PATH: usize = 4096;
/// All paths of the listing together: many files under long names would otherwise turn a
/// small image into a large allocation.
const MAX_PATH_BYTES: usize = 64 << 20;
/// SUSP continuation areas followed for one record.
const MAX_CONTINUATIONS: usize = 16;
/// Extents of one multi-extent file.
const MAX_EXTENTS: usize = 1024;
/// Bytes of the boot catalog read (64 entries of 32 bytes per sector).
const MAX_CATALOG: u64 = 4 * SECTOR;

/// One regular file of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoEntry {
    /// The best name: Rock Ridge, else Joliet, else ISO 9660 without `;1`; `/`-separated,
    /// without a leading `/`.
    pub path: String,
    pub size: u64,
    /// The first logical block (2048 bytes) of its data.
    pub lba: u32,
}

/// The platform of an El Torito entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootPlatform {
    /// 0x00, x86 BIOS.
    Bios,
    /// 0xEF, UEFI.
    Uefi,
    Other(u8),
}

impl BootPlatform {
    fn from_byte(byte: u8) -> Self {
        match byte {
            0x00 => Self::Bios,
            0xEF => Self::Uefi,
            other => Self::Other(other),
        }
    }
}

/// One El Torito boot entry: the default entry first, then section entries in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootEntry {
    pub platform: BootPlatform,
    pub bootable: bool,
    /// 512-byte sectors the firmware loads.
    pub load_size: u16,
    pub lba: u32,
    /// The file whose data starts at `lba`, if any.
    pub path: Option<String>,
}

/// The first 16 sectors' partition tables: what makes an image boot from a USB stick.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemArea {
    /// The MBR boot code (bytes 0..432) when the MBR has the 0x55AA signature and the code
    /// is not all zeros (e.g. `isohdpfx.bin`).
    pub mbr_boot_code: Option<Vec<u8>>,
    /// The four MBR entries that are in use.
    pub mbr_partitions: Vec<MbrPartition>,
    /// Sector 1 (512-byte) starts with a GPT header (`EFI PART`).
    pub gpt: bool,
}

/// One MBR partition entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MbrPartition {
    /// 1 to 4.
    pub number: u8,
    pub active: bool,
    /// The type byte: 0x00/0x17/0xCD ISO data, 0xEF EFI system, 0xEE GPT protective.
    pub kind: u8,
    /// First 512-byte sector and count.
    pub start: u32,
    pub sectors: u32,
}

impl SystemArea {
    fn parse(first: &[u8]) -> Self {
        let mut area = Self::default();
        if first.len() < 1024 || first[510..512] != [0x55, 0xAA] {
            return area;
        }
        if first[..432].iter().any(|&b| b != 0) {
            area.mbr_boot_code = Some(first[..432].to_vec());
        }
        for (i, entry) in first[446..510].chunks_exact(16).enumerate() {
            let (kind, start, sectors) = (entry[4], le_u32(entry, 8), le_u32(entry, 12));
            if kind != 0 || sectors != 0 {
                area.mbr_partitions.push(MbrPartition {
                    number: i as u8 + 1,
                    active: entry[0] == 0x80,
                    kind,
                    start,
                    sectors,
                });
            }
        }
        area.gpt = &first[512..520] == b"EFI PART";
        area
    }
}

/// Where the image bytes come from.
#[derive(Debug)]
enum Backing {
    File { file: File, path: PathBuf },
    Memory(Vec<u8>),
}

impl Backing {
    fn len(&self) -> Result<u64, IsoError> {
        match self {
            Self::File { file, path } => {
                file.metadata().map(|m| m.len()).map_err(|e| IsoError::io("stat", path.clone(), e))
            }
            Self::Memory(bytes) => Ok(bytes.len() as u64),
        }
    }

    /// Fill `buf` from `offset`; the caller has checked the range against the image end.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), IsoError> {
        match self {
            Self::File { file, path } => read_exact_at(file, buf, offset).map_err(|e| IsoError::io("read", path, e)),
            Self::Memory(bytes) => {
                let slice = usize::try_from(offset)
                    .ok()
                    .and_then(|start| bytes.get(start..start.checked_add(buf.len())?))
                    .ok_or_else(|| IsoError::corrupt("image", format!("read at byte {offset} past the end")))?;
                buf.copy_from_slice(slice);
                Ok(())
            }
        }
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(file, buf, offset) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A file's data: (byte offset, length) pieces in order.
type Extents = Vec<(u64, u64)>;

/// An ISO image opened for reading; see the module docs.
#[derive(Debug)]
pub struct IsoImage {
    backing: Backing,
    volume_id: String,
    files: Vec<IsoEntry>,
    extents: Vec<Extents>,
    boot: Vec<BootEntry>,
    system_area: SystemArea,
}

impl IsoImage {
    /// Open and index the image at `path`: descriptors, the whole tree and the boot catalog.
    pub fn open(path: &Path) -> Result<Self, IsoError> {
        let file = File::open(path).map_err(|e| IsoError::io("open", path, e))?;
        Self::index(Backing::File { file, path: path.to_path_buf() })
    }

    /// Index an image held in memory (tests, fuzzing, small images).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, IsoError> {
        Self::index(Backing::Memory(bytes))
    }

    /// The primary volume descriptor's volume identifier, without trailing spaces.
    pub fn volume_id(&self) -> &str {
        &self.volume_id
    }

    /// Every regular file, sorted by path.
    pub fn files(&self) -> &[IsoEntry] {
        &self.files
    }

    /// The El Torito entries (empty when the image is not bootable).
    pub fn boot_entries(&self) -> &[BootEntry] {
        &self.boot
    }

    /// The MBR/GPT of a USB-bootable (hybrid) image; empty for a CD-only image.
    pub fn system_area(&self) -> &SystemArea {
        &self.system_area
    }

    fn find(&self, path: &str) -> Result<usize, IsoError> {
        let want = path.trim_start_matches('/');
        // An exact match wins over one that differs in case (names may differ only in case).
        self.files
            .iter()
            .position(|f| f.path == want)
            .or_else(|| self.files.iter().position(|f| f.path.eq_ignore_ascii_case(want)))
            .ok_or_else(|| IsoError::NotFound { path: path.to_owned() })
    }

    /// Stream a file's bytes. The path matches case-insensitively, with or without a
    /// leading `/` (`BOOT.CFG`, `/boot.cfg`).
    pub fn open_file(&self, path: &str) -> Result<impl Read + '_, IsoError> {
        let index = self.find(path)?;
        Ok(FileReader { backing: &self.backing, extents: &self.extents[index], extent: 0, pos: 0 })
    }

    /// Read a whole file; an error when it is larger than `limit` bytes.
    pub fn read_file(&self, path: &str, limit: u64) -> Result<Vec<u8>, IsoError> {
        let index = self.find(path)?;
        let entry = &self.files[index];
        if entry.size > limit {
            return Err(IsoError::TooLarge { path: entry.path.clone(), size: entry.size, limit });
        }
        let size = usize::try_from(entry.size).map_err(|_| IsoError::TooLarge {
            path: entry.path.clone(),
            size: entry.size,
            limit: usize::MAX as u64,
        })?;
        let mut out = vec![0; size];
        let mut at = 0;
        for &(offset, len) in &self.extents[index] {
            // Sizes were summed into entry.size, so these slices are in range.
            let len = len as usize;
            self.backing.read_exact_at(offset, &mut out[at..at + len])?;
            at += len;
        }
        Ok(out)
    }

    fn index(backing: Backing) -> Result<Self, IsoError> {
        let len = backing.len()?;
        let image = Image { backing: &backing, len };
        let descriptors = image.descriptors()?;
        let raw = Walker::walk(&image, &descriptors)?;
        let mut files: Vec<(IsoEntry, Extents)> = raw;
        files.sort_by(|a, b| a.0.path.cmp(&b.0.path));
        let boot = match descriptors.catalog {
            Some(lba) => image.boot_catalog(lba, &files)?,
            None => Vec::new(),
        };
        let (files, extents) = files.into_iter().unzip();
        // The descriptors were read, so the image has more than these two sectors.
        let system_area = SystemArea::parse(&image.read(|| "system area".into(), 0, 1024)?);
        Ok(Self { volume_id: descriptors.volume_id, files, extents, boot, system_area, backing })
    }
}

/// A streaming reader over a file's extents.
struct FileReader<'a> {
    backing: &'a Backing,
    extents: &'a [(u64, u64)],
    extent: usize,
    pos: u64,
}

impl Read for FileReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while let Some(&(offset, len)) = self.extents.get(self.extent) {
            if self.pos >= len {
                self.extent += 1;
                self.pos = 0;
                continue;
            }
            let n = (len - self.pos).min(buf.len() as u64) as usize;
            if n == 0 {
                return Ok(0);
            }
            self.backing.read_exact_at(offset + self.pos, &mut buf[..n]).map_err(io::Error::other)?;
            self.pos += n as u64;
            return Ok(n);
        }
        Ok(0)
    }
}

/// What the volume descriptors say.
struct Descriptors {
    volume_id: String,
    /// Root directory (extent LBA, size) of the primary tree.
    primary_root: (u32, u32),
    joliet_root: Option<(u32, u32)>,
    catalog: Option<u32>,
}

struct Image<'a> {
    backing: &'a Backing,
    len: u64,
}

fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Image<'_> {
    /// Read `len` bytes at `offset`, or say which structure points past the end.
    fn read(&self, structure: impl FnOnce() -> String, offset: u64, len: u64) -> Result<Vec<u8>, IsoError> {
        let end = offset.checked_add(len);
        if end.is_none_or(|end| end > self.len) {
            return Err(IsoError::OutOfBounds { structure: structure(), offset, len, image_len: self.len });
        }
        let mut buf = vec![0; len as usize];
        self.backing.read_exact_at(offset, &mut buf)?;
        Ok(buf)
    }

    fn descriptors(&self) -> Result<Descriptors, IsoError> {
        if self.len < (FIRST_DESCRIPTOR + 1) * SECTOR {
            return Err(IsoError::corrupt(
                "volume descriptors",
                format!("the image has {} bytes, too few for ISO 9660 (at least {})", self.len, 17 * SECTOR),
            ));
        }
        let mut primary = None;
        let mut joliet_root = None;
        let mut catalog = None;
        let mut terminated = false;
        for index in 0..MAX_DESCRIPTORS {
            let sector = FIRST_DESCRIPTOR + index;
            if (sector + 1) * SECTOR > self.len {
                break;
            }
            let d = self.read(|| format!("volume descriptor {index}"), sector * SECTOR, SECTOR)?;
            if &d[1..6] != b"CD001" {
                return Err(IsoError::corrupt(
                    "volume descriptors",
                    format!("no \"CD001\" in sector {sector}: not an ISO 9660 image"),
                ));
            }
            match d[0] {
                0 if d[7..30] == *b"EL TORITO SPECIFICATION" => catalog = catalog.or(Some(le_u32(&d, 71))),
                1 if primary.is_none() => {
                    check_block_size(&d, "primary volume descriptor")?;
                    // A shorter file than the volume it declares is a truncated image.
                    let blocks = u64::from(le_u32(&d, 80));
                    self.check(|| "volume (space size of the primary volume descriptor)".into(), 0, blocks * SECTOR)?;
                    let volume_id = String::from_utf8_lossy(&d[40..72]).trim_end_matches([' ', '\0']).to_owned();
                    primary = Some((volume_id, root_record(&d)));
                }
                2 if joliet_root.is_none() && is_joliet(&d[88..120]) => {
                    check_block_size(&d, "Joliet volume descriptor")?;
                    joliet_root = Some(root_record(&d));
                }
                255 => {
                    terminated = true;
                    break;
                }
                _ => {}
            }
        }
        if !terminated {
            return Err(IsoError::corrupt("volume descriptors", "no set terminator"));
        }
        let (volume_id, primary_root) =
            primary.ok_or_else(|| IsoError::corrupt("volume descriptors", "no primary volume descriptor"))?;
        Ok(Descriptors { volume_id, primary_root, joliet_root, catalog })
    }

    fn boot_catalog(&self, lba: u32, files: &[(IsoEntry, Extents)]) -> Result<Vec<BootEntry>, IsoError> {
        let offset = u64::from(lba) * SECTOR;
        let available = self.len.saturating_sub(offset).min(MAX_CATALOG);
        if available < 64 {
            return Err(IsoError::OutOfBounds {
                structure: "El Torito boot catalog".into(),
                offset,
                len: 64,
                image_len: self.len,
            });
        }
        let cat = self.read(|| "El Torito boot catalog".into(), offset, available)?;
        let validation = &cat[..32];
        if validation[0] != 1 || validation[30..32] != [0x55, 0xAA] {
            return Err(IsoError::corrupt("El Torito boot catalog", "no validation entry (header 01, key 55 AA)"));
        }
        let sum = (0..16).fold(0u16, |sum, i| sum.wrapping_add(le_u16(validation, i * 2)));
        if sum != 0 {
            return Err(IsoError::corrupt(
                "El Torito boot catalog",
                format!("validation entry checksum is {sum:#06x}"),
            ));
        }
        let by_lba: HashMap<u32, &str> =
            files.iter().filter(|(e, _)| e.size > 0).map(|(e, _)| (e.lba, e.path.as_str())).rev().collect();
        let entry = |e: &[u8], platform: u8| {
            let lba = le_u32(e, 8);
            BootEntry {
                platform: BootPlatform::from_byte(platform),
                bootable: e[0] == 0x88,
                load_size: le_u16(e, 6),
                lba,
                path: by_lba.get(&lba).map(|p| (*p).to_owned()),
            }
        };
        let mut entries = vec![entry(&cat[32..64], validation[1])];
        // Section headers (0x90 more follow, 0x91 last), each with its entries; extension
        // entries (0x44) are skipped. Every step consumes 32 bytes of a bounded buffer.
        let mut slots = cat[64..].chunks_exact(32);
        'sections: while let Some(header) = slots.next() {
            if header[0] != 0x90 && header[0] != 0x91 {
                break;
            }
            let mut count = le_u16(header, 2);
            while count > 0 {
                let Some(slot) = slots.next() else { break 'sections };
                if slot[0] == 0x44 {
                    continue;
                }
                entries.push(entry(slot, header[1]));
                count -= 1;
            }
            if header[0] == 0x91 {
                break;
            }
        }
        Ok(entries)
    }
}

fn check_block_size(d: &[u8], which: &'static str) -> Result<(), IsoError> {
    let size = le_u16(d, 128);
    if u64::from(size) != SECTOR {
        return Err(IsoError::Unsupported(format!("{which} has logical block size {size}; only 2048 is read")));
    }
    Ok(())
}

fn root_record(d: &[u8]) -> (u32, u32) {
    (le_u32(d, 156 + 2), le_u32(d, 156 + 10))
}

/// Joliet's UCS-2 level escape sequences.
fn is_joliet(escapes: &[u8]) -> bool {
    escapes.windows(3).any(|w| w == b"%/@" || w == b"%/C" || w == b"%/E")
}

/// One directory record, borrowed from its directory's extent.
struct Record<'a> {
    lba: u32,
    size: u32,
    flags: u8,
    interleaved: bool,
    name: &'a [u8],
    system_use: &'a [u8],
}

const FLAG_ASSOCIATED: u8 = 0x04;
const FLAG_DIRECTORY: u8 = 0x02;
const FLAG_MULTI_EXTENT: u8 = 0x80;

/// The records of a directory extent. Zero length bytes pad to the next sector.
fn records(dir: &[u8]) -> impl Iterator<Item = Result<Record<'_>, IsoError>> + '_ {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        loop {
            if pos >= dir.len() {
                return None;
            }
            let len = usize::from(dir[pos]);
            if len == 0 {
                pos = (pos / SECTOR as usize + 1) * SECTOR as usize;
                continue;
            }
            let at = pos;
            let Some(rec) = dir.get(at..at + len).filter(|_| len >= 34) else {
                pos = dir.len();
                return Some(Err(IsoError::corrupt(
                    "directory record",
                    format!("record at byte {at} of a directory has length {len}, which does not fit"),
                )));
            };
            pos += len;
            let name_len = usize::from(rec[32]);
            if 33 + name_len > len {
                pos = dir.len();
                return Some(Err(IsoError::corrupt(
                    "directory record",
                    format!("name of {name_len} bytes overruns a record of {len} bytes"),
                )));
            }
            let su_start = (33 + name_len + usize::from(name_len % 2 == 0)).min(len);
            return Some(Ok(Record {
                lba: le_u32(rec, 2),
                size: le_u32(rec, 10),
                flags: rec[25],
                interleaved: rec[26] != 0 || rec[27] != 0,
                name: &rec[33..33 + name_len],
                system_use: &rec[su_start..],
            }));
        }
    })
}

/// What the Rock Ridge entries of one record say.
#[derive(Default)]
struct RockRidge {
    name: Option<Vec<u8>>,
    /// `CL`: a relocated directory lives at this block.
    child_link: Option<u32>,
    /// `RE`: this is a relocated directory; it is listed where its `CL` points from.
    relocated: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Names {
    RockRidge { skip: usize },
    Joliet,
    Plain,
}

/// A directory to visit.
struct Pending {
    lba: u32,
    size: u32,
    prefix: String,
    depth: usize,
}

struct Walker<'i, 'b> {
    image: &'i Image<'b>,
    names: Names,
    records: usize,
    tree_bytes: u64,
    path_bytes: usize,
    visited: HashSet<u32>,
    out: Vec<(IsoEntry, Extents)>,
}

impl<'i, 'b> Walker<'i, 'b> {
    fn walk(image: &'i Image<'b>, d: &Descriptors) -> Result<Vec<(IsoEntry, Extents)>, IsoError> {
        let mut walker = Walker {
            image,
            names: Names::Plain,
            records: 0,
            tree_bytes: 0,
            path_bytes: 0,
            visited: HashSet::new(),
            out: Vec::new(),
        };
        let (lba, size) = d.primary_root;
        let root = walker.read_dir(lba, size, "")?;
        let (lba, size) = match (walker.rock_ridge_skip(&root)?, d.joliet_root) {
            (Some(skip), _) => {
                walker.names = Names::RockRidge { skip };
                (lba, size)
            }
            (None, Some(joliet)) => {
                walker.names = Names::Joliet;
                walker.visited.clear();
                joliet
            }
            (None, None) => (lba, size),
        };
        let mut stack = vec![Pending { lba, size, prefix: String::new(), depth: 1 }];
        // Reuse the primary root already read when it is the tree we walk.
        let mut first = (walker.names != Names::Joliet).then_some(root);
        while let Some(dir) = stack.pop() {
            let bytes = match first.take() {
                Some(bytes) => bytes,
                None => walker.read_dir(dir.lba, dir.size, &dir.prefix)?,
            };
            walker.dir(&bytes, &dir, &mut stack)?;
        }
        Ok(walker.out)
    }

    fn read_dir(&mut self, lba: u32, size: u32, path: &str) -> Result<Vec<u8>, IsoError> {
        let size = u64::from(size);
        if size > MAX_DIR_BYTES {
            return Err(IsoError::LimitExceeded { what: "bytes in one directory", limit: MAX_DIR_BYTES });
        }
        self.tree_bytes += size;
        if self.tree_bytes > MAX_TREE_BYTES {
            return Err(IsoError::LimitExceeded { what: "bytes in all directories", limit: MAX_TREE_BYTES });
        }
        if !self.visited.insert(lba) {
            return Err(IsoError::corrupt(
                "directory tree",
                format!("directory {path:?} at block {lba} is reached twice (a loop)"),
            ));
        }
        self.image.read(
            || format!("directory {:?}", if path.is_empty() { "/" } else { path }),
            u64::from(lba) * SECTOR,
            size,
        )
    }

    /// The SUSP skip length when the root's `.` record starts with an `SP` entry.
    fn rock_ridge_skip(&self, root: &[u8]) -> Result<Option<usize>, IsoError> {
        let Some(first) = records(root).next().transpose()? else {
            return Ok(None);
        };
        let su = first.system_use;
        Ok((su.len() >= 7 && &su[..2] == b"SP" && su[4..6] == [0xBE, 0xEF]).then(|| usize::from(su[6])))
    }

    fn dir(&mut self, bytes: &[u8], dir: &Pending, stack: &mut Vec<Pending>) -> Result<(), IsoError> {
        // A multi-extent file: its name and the extents so far.
        let mut chain: Option<(Vec<u8>, Extents, u32)> = None;
        for record in records(bytes) {
            let record = record?;
            self.records += 1;
            if self.records > MAX_RECORDS {
                return Err(IsoError::LimitExceeded { what: "directory records", limit: MAX_RECORDS as u64 });
            }
            if record.name == [0] || record.name == [1] {
                continue; // `.` and `..`
            }
            let rr = match self.names {
                Names::RockRidge { skip } => self.rock_ridge(&record, skip)?,
                _ => RockRidge::default(),
            };
            if rr.relocated || record.flags & FLAG_ASSOCIATED != 0 {
                continue;
            }
            let name = self.name(&record, rr.name)?;
            let path = if dir.prefix.is_empty() { name.clone() } else { format!("{}/{name}", dir.prefix) };
            if path.len() > MAX_PATH {
                return Err(IsoError::LimitExceeded { what: "path length", limit: MAX_PATH as u64 });
            }
            self.path_bytes += path.len();
            if self.path_bytes > MAX_PATH_BYTES {
                return Err(IsoError::LimitExceeded { what: "bytes of all paths", limit: MAX_PATH_BYTES as u64 });
            }
            let child = match rr.child_link {
                Some(lba) => Some((lba, None)),
                None if record.flags & FLAG_DIRECTORY != 0 => Some((record.lba, Some(record.size))),
                None => None,
            };
            if let Some((lba, size)) = child {
                if dir.depth >= MAX_DEPTH {
                    return Err(IsoError::LimitExceeded { what: "directory depth", limit: MAX_DEPTH as u64 });
                }
                // A CL target's size is in its own `.` record: read its first sector to learn it.
                let size = match size {
                    Some(size) => size,
                    None => self.relocated_size(lba, &path)?,
                };
                stack.push(Pending { lba, size, prefix: path, depth: dir.depth + 1 });
                continue;
            }
            if record.interleaved {
                return Err(IsoError::Unsupported(format!("file {path:?} is interleaved")));
            }
            let extent = (u64::from(record.lba) * SECTOR, u64::from(record.size));
            let (name_bytes, mut extents, first_lba) = match chain.take() {
                Some((chain_name, extents, lba)) if chain_name == name.as_bytes() => (chain_name, extents, lba),
                Some((chain_name, ..)) => {
                    return Err(IsoError::corrupt(
                        "directory record",
                        format!("multi-extent file {:?} is not continued", String::from_utf8_lossy(&chain_name)),
                    ));
                }
                None => (name.clone().into_bytes(), Vec::new(), record.lba),
            };
            if extents.len() >= MAX_EXTENTS {
                return Err(IsoError::LimitExceeded { what: "extents of one file", limit: MAX_EXTENTS as u64 });
            }
            if extent.1 > 0 {
                self.image.check(|| format!("file {path:?}"), extent.0, extent.1)?;
                extents.push(extent);
            }
            if record.flags & FLAG_MULTI_EXTENT != 0 {
                chain = Some((name_bytes, extents, first_lba));
                continue;
            }
            let size = extents.iter().map(|e| e.1).sum();
            self.out.push((IsoEntry { path, size, lba: first_lba }, extents));
        }
        if let Some((name, ..)) = chain {
            return Err(IsoError::corrupt(
                "directory record",
                format!("multi-extent file {:?} has no last extent", String::from_utf8_lossy(&name)),
            ));
        }
        Ok(())
    }

    fn relocated_size(&self, lba: u32, path: &str) -> Result<u32, IsoError> {
        let first = self.image.read(|| format!("relocated directory {path:?}"), u64::from(lba) * SECTOR, 34)?;
        Ok(le_u32(&first, 10))
    }

    /// Decode the name of `record` in the walked namespace.
    fn name(&self, record: &Record<'_>, rr_name: Option<Vec<u8>>) -> Result<String, IsoError> {
        let name = match (rr_name, self.names) {
            (Some(name), _) => String::from_utf8_lossy(&name).into_owned(),
            (None, Names::Joliet) => {
                if !record.name.len().is_multiple_of(2) {
                    return Err(IsoError::corrupt("Joliet name", format!("odd length {}", record.name.len())));
                }
                let units = record.name.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                let name: String =
                    char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect();
                strip_version(&name, record.flags).to_owned()
            }
            (None, _) => strip_version(&String::from_utf8_lossy(record.name), record.flags).to_owned(),
        };
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
            return Err(IsoError::corrupt("directory record", format!("invalid file name {name:?}")));
        }
        Ok(name)
    }

    /// Parse the SUSP/RRIP entries of `record`, following `CE` continuation areas.
    fn rock_ridge(&self, record: &Record<'_>, skip: usize) -> Result<RockRidge, IsoError> {
        let mut rr = RockRidge::default();
        let mut name: Vec<u8> = Vec::new();
        let mut has_name = false;
        let mut area: Vec<u8> = record.system_use.get(skip..).unwrap_or_default().to_vec();
        for _ in 0..=MAX_CONTINUATIONS {
            let mut next = None;
            let mut pos = 0;
            while pos + 4 <= area.len() {
                let len = usize::from(area[pos + 2]);
                if len < 4 || pos + len > area.len() {
                    break; // padding or a damaged entry ends the area
                }
                let entry = &area[pos..pos + len];
                pos += len;
                match &entry[..2] {
                    b"NM" if len >= 5 => {
                        let flags = entry[4];
                        if flags & 0x06 == 0 {
                            has_name = true;
                            name.extend_from_slice(&entry[5..]);
                            if name.len() > MAX_NAME {
                                return Err(IsoError::LimitExceeded {
                                    what: "Rock Ridge name length",
                                    limit: MAX_NAME as u64,
                                });
                            }
                        }
                    }
                    b"CL" if len >= 12 => rr.child_link = Some(le_u32(entry, 4)),
                    b"RE" => rr.relocated = true,
                    b"CE" if len >= 28 => {
                        next = Some((le_u32(entry, 4), le_u32(entry, 12), le_u32(entry, 20)));
                    }
                    b"ST" => break,
                    _ => {}
                }
            }
            let Some((lba, offset, len)) = next else {
                rr.name = has_name.then_some(name);
                return Ok(rr);
            };
            if u64::from(len) > SECTOR {
                return Err(IsoError::corrupt(
                    "Rock Ridge continuation area",
                    format!("{len} bytes, more than a block"),
                ));
            }
            area = self.image.read(
                || "Rock Ridge continuation area".into(),
                u64::from(lba) * SECTOR + u64::from(offset),
                u64::from(len),
            )?;
        }
        Err(IsoError::LimitExceeded {
            what: "Rock Ridge continuation areas per record",
            limit: MAX_CONTINUATIONS as u64,
        })
    }
}

impl Image<'_> {
    fn check(&self, structure: impl FnOnce() -> String, offset: u64, len: u64) -> Result<(), IsoError> {
        if offset.checked_add(len).is_none_or(|end| end > self.len) {
            return Err(IsoError::OutOfBounds { structure: structure(), offset, len, image_len: self.len });
        }
        Ok(())
    }
}

/// `NAME.EXT;1` -> `NAME.EXT`, `NAME.;1` -> `NAME` (directories have no version).
fn strip_version(name: &str, flags: u8) -> &str {
    if flags & FLAG_DIRECTORY != 0 {
        return name;
    }
    let name = name.rsplit_once(';').map_or(name, |(base, _)| base);
    name.strip_suffix('.').unwrap_or(name)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::{IsoFile, IsoSource, IsoSpec, write_iso};

    /// A small valid image: two files in the root, one in `DIR`, BIOS and UEFI boot.
    fn image() -> Vec<u8> {
        let spec = IsoSpec {
            volume_id: "TEST".into(),
            files: vec![
                IsoFile { path: "BIOS.BIN".into(), source: IsoSource::Bytes(vec![7; 4096]) },
                IsoFile { path: "EFI.IMG".into(), source: IsoSource::Bytes(vec![9; 8192]) },
                IsoFile { path: "DIR/FILE.TXT".into(), source: IsoSource::Bytes(b"hello".to_vec()) },
            ],
            bios_boot: Some("BIOS.BIN".into()),
            uefi_boot: Some("EFI.IMG".into()),
            catalog_path: "BOOT.CAT".into(),
            hybrid: None,
            modified: 0,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.iso");
        write_iso(&spec, &path, &mut |_, _| {}).unwrap();
        std::fs::read(path).unwrap()
    }

    /// Byte offset of the directory record named `name` in the primary root directory.
    fn root_record_offset(img: &[u8], name: &[u8]) -> usize {
        let pvd = 16 * 2048;
        let root = le_u32(img, pvd + 158) as usize * 2048;
        let size = le_u32(img, pvd + 166) as usize;
        let dir = &img[root..root + size];
        let mut pos = 0;
        while pos < dir.len() && dir[pos] != 0 {
            let len = dir[pos] as usize;
            let n = dir[pos + 32] as usize;
            if dir[pos + 33..pos + 33 + n].starts_with(name) {
                return root + pos;
            }
            pos += len;
        }
        panic!("no record {name:?}");
    }

    fn set_both_u32(img: &mut [u8], at: usize, value: u32) {
        img[at..at + 4].copy_from_slice(&value.to_le_bytes());
        img[at + 4..at + 8].copy_from_slice(&value.to_be_bytes());
    }

    #[test]
    fn reads_a_valid_image() {
        let iso = IsoImage::from_bytes(image()).unwrap();
        assert_eq!(iso.volume_id(), "TEST");
        let paths: Vec<_> = iso.files().iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["BIOS.BIN", "BOOT.CAT", "DIR/FILE.TXT", "EFI.IMG"]);
        assert_eq!(iso.read_file("dir/file.txt", 5).unwrap(), b"hello");
        assert_eq!(iso.boot_entries().len(), 2);
    }

    #[test]
    fn garbage_and_short_inputs_are_errors() {
        for bytes in [Vec::new(), vec![0; 100], vec![0xAB; 17 * 2048], vec![0; 40 * 2048]] {
            let err = IsoImage::from_bytes(bytes).unwrap_err();
            assert!(matches!(err, IsoError::Corrupt { structure: "volume descriptors", .. }), "{err}");
        }
        // The terminator turned into an unknown descriptor: the set never ends properly.
        let mut img = image();
        let terminator = (16..32).find(|s| img[s * 2048] == 255 && &img[s * 2048 + 1..s * 2048 + 6] == b"CD001");
        img[terminator.unwrap() * 2048] = 3;
        let err = IsoImage::from_bytes(img).unwrap_err();
        assert!(matches!(err, IsoError::Corrupt { structure: "volume descriptors", .. }), "{err}");
    }

    #[test]
    fn truncated_image_is_an_error_naming_what_lies_past_the_end() {
        let img = image();
        let len = img.len();
        let mut saw_out_of_bounds = false;
        // Cut anywhere past the first descriptor: never a panic, always an error.
        for cut in (17 * 2048..len).step_by(1000) {
            match IsoImage::from_bytes(img[..cut].to_vec()) {
                Err(IsoError::OutOfBounds { structure, offset, len, image_len }) => {
                    assert!(offset + len > image_len, "{structure}");
                    assert_eq!(image_len, cut as u64);
                    saw_out_of_bounds = true;
                }
                Err(_) => {}
                Ok(iso) => panic!("cut at {cut} of {len} still lists {:?}", iso.files()),
            }
        }
        assert!(saw_out_of_bounds);
        // Extra bytes after the volume are fine (e.g. an image padded by a copy tool).
        let mut padded = img.clone();
        padded.extend_from_slice(&[0; 4096]);
        assert_eq!(IsoImage::from_bytes(padded).unwrap().files().len(), 4);
    }

    #[test]
    fn directory_record_past_the_end() {
        let mut img = image();
        let at = root_record_offset(&img, b"DIR");
        set_both_u32(&mut img, at + 2, 0x00FF_FFFF);
        let err = IsoImage::from_bytes(img).unwrap_err();
        match err {
            IsoError::OutOfBounds { structure, .. } => assert!(structure.contains("DIR"), "{structure}"),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn file_past_the_end_and_huge_directory() {
        let mut img = image();
        let at = root_record_offset(&img, b"EFI.IMG");
        set_both_u32(&mut img, at + 10, u32::MAX);
        let err = IsoImage::from_bytes(img).unwrap_err();
        assert!(matches!(&err, IsoError::OutOfBounds { structure, .. } if structure.contains("EFI.IMG")), "{err}");

        let mut img = image();
        let at = root_record_offset(&img, b"DIR");
        set_both_u32(&mut img, at + 10, u32::MAX);
        let err = IsoImage::from_bytes(img).unwrap_err();
        assert!(matches!(err, IsoError::LimitExceeded { what: "bytes in one directory", .. }), "{err}");
    }

    #[test]
    fn directory_loop_is_an_error() {
        let mut img = image();
        let root = le_u32(&img, 16 * 2048 + 158);
        let at = root_record_offset(&img, b"DIR");
        set_both_u32(&mut img, at + 2, root);
        let err = IsoImage::from_bytes(img).unwrap_err();
        assert!(err.to_string().contains("reached twice"), "{err}");
    }

    #[test]
    fn bad_record_length_is_an_error() {
        let mut img = image();
        let at = root_record_offset(&img, b"DIR");
        img[at] = 20; // shorter than a record header
        let err = IsoImage::from_bytes(img).unwrap_err();
        assert!(matches!(err, IsoError::Corrupt { structure: "directory record", .. }), "{err}");
        let mut img = image();
        let at = root_record_offset(&img, b"DIR");
        img[at + 32] = 200; // name longer than the record
        let err = IsoImage::from_bytes(img).unwrap_err();
        assert!(matches!(err, IsoError::Corrupt { structure: "directory record", .. }), "{err}");
    }

    #[test]
    fn boot_catalog_damage() {
        let img = image();
        let catalog = le_u32(&img, 17 * 2048 + 71) as usize * 2048;
        let mut bad = img.clone();
        bad[catalog + 4] ^= 1; // breaks the validation checksum
        let err = IsoImage::from_bytes(bad).unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");
        let mut bad = img.clone();
        bad[17 * 2048 + 71..17 * 2048 + 75].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = IsoImage::from_bytes(bad).unwrap_err();
        assert!(matches!(err, IsoError::OutOfBounds { .. }), "{err}");
        // A section header claiming 65535 entries stops at the end of the catalog buffer.
        let mut bad = img;
        bad[catalog + 66..catalog + 68].copy_from_slice(&u16::MAX.to_le_bytes());
        let iso = IsoImage::from_bytes(bad).unwrap();
        assert!(iso.boot_entries().len() <= (MAX_CATALOG / 32) as usize);
    }

    #[test]
    fn unsupported_block_size() {
        let mut img = image();
        img[16 * 2048 + 128..16 * 2048 + 130].copy_from_slice(&512u16.to_le_bytes());
        assert!(matches!(IsoImage::from_bytes(img), Err(IsoError::Unsupported(_))));
    }

    #[test]
    fn names() {
        assert_eq!(strip_version("BOOT.CFG;1", 0), "BOOT.CFG");
        assert_eq!(strip_version("README.;1", 0), "README");
        assert_eq!(strip_version("DIR", FLAG_DIRECTORY), "DIR");
        assert!(is_joliet(b"%/E"));
        assert!(!is_joliet(b"   "));
    }
}
