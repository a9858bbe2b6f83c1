//! Streaming reader and writer for the Unix `ar` container that wraps every VIB.
//!
//! # Why a hand-written reader
//!
//! * The `ar` crate (0.9) rejects real VMware/Broadcom VIBs: the esximage writer puts a Python
//!   literal `0o0` into the octal mode field, and `ar` fails with "Invalid file mode field".
//! * `object`'s archive reader accepts them but needs random access (`ReadRef`), while VIBs are
//!   streamed straight out of ZIP entries and HTTP bodies, which cannot seek.
//!
//! So [`ArReader`] is a small, tolerant, strictly sequential reader over any [`Read`]. Following
//! depot-format §4.1 it parses only the member name (trailing `/` and spaces stripped, which
//! accepts V-Front's GNU-style `descriptor.xml/`) and the decimal size; mtime, uid, gid and mode
//! are ignored, so vibauthor (`0`), esximage (`0o0`) and V-Front (`100000`) headers all read.
//! GNU long-name tables, GNU symbol tables and BSD `#1/` names never occur in VIBs and are
//! rejected as unsupported rather than misread.
//!
//! Memory use is constant: member data is never buffered, and bytes a caller leaves unread are
//! skipped through a fixed buffer on the next [`ArReader::next_member`] call.
//!
//! # Writer
//!
//! [`ArWriter`] is a thin wrapper over `ar::Builder`: `ar::Header::new` already yields the
//! vibauthor header exactly (`mtime 0`, `uid 0`, `gid 0`, mode `0`, decimal size, name
//! left-justified in 16 bytes), so no hand-written header is needed. The wrapper adds what the
//! builder lacks: name validation (the builder silently switches to BSD `#1/` names for long
//! names or names with spaces, which ESXi does not read), a bound on the 10-digit size field,
//! exact-length checks on streamed member data, and the magic for an empty archive.

use std::io::{self, ErrorKind, Read, Write};

/// The global archive magic.
pub const AR_MAGIC: &[u8; 8] = b"!<arch>\n";
/// Length of a member header.
pub const HEADER_LEN: usize = 60;
/// Longest member name a classic header can carry.
pub const MAX_NAME_LEN: usize = 16;
/// Largest size the 10-digit decimal size field can express.
pub const MAX_MEMBER_SIZE: u64 = 9_999_999_999;
/// Default cap on the number of members [`ArReader`] accepts (a VIB has 3 or a few more).
pub const DEFAULT_MAX_MEMBERS: usize = 4096;

/// Errors reading or writing an `ar` archive.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArError {
    /// The underlying reader or writer failed.
    #[error("ar archive I/O error: {0}")]
    Io(#[from] io::Error),

    /// The input ended before the 8-byte magic.
    #[error("not an ar archive: input ends after {got} of the 8 magic bytes")]
    TruncatedMagic {
        /// Bytes available.
        got: usize,
    },

    /// The input does not start with `!<arch>\n`.
    #[error("not an ar archive: magic is {found:?}, expected \"!<arch>\\n\"")]
    BadMagic {
        /// The 8 bytes found, escaped.
        found: String,
    },

    /// The input ended inside a member header.
    #[error("truncated ar header of member #{index}: expected 60 bytes, got {got}")]
    TruncatedHeader {
        /// Zero-based member index.
        index: usize,
        /// Header bytes available.
        got: usize,
    },

    /// A header does not end with "`\n" (the archive is misaligned or corrupt).
    #[error("bad ar header of member #{index}: terminator is {found:?}, expected \"`\\n\"")]
    BadHeaderTerminator {
        /// Zero-based member index.
        index: usize,
        /// The two bytes found, escaped.
        found: String,
    },

    /// The size field is not a decimal number.
    #[error("bad ar header of member #{index}: size field {raw:?} is not a decimal number")]
    BadSize {
        /// Zero-based member index.
        index: usize,
        /// The raw 10-byte field, escaped.
        raw: String,
    },

    /// The name field is empty or not UTF-8.
    #[error("bad ar header of member #{index}: name field {raw:?} is {reason}")]
    BadName {
        /// Zero-based member index.
        index: usize,
        /// The raw 16-byte field, escaped.
        raw: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A GNU long-name table, GNU symbol table or BSD `#1/` long name.
    #[error("unsupported ar member #{index} {name:?}: {what} (never used in VIBs)")]
    Unsupported {
        /// Zero-based member index.
        index: usize,
        /// The raw name field, trimmed.
        name: String,
        /// Which extension it is.
        what: &'static str,
    },

    /// The input ended inside a member's data.
    #[error("truncated ar member #{index} {name:?}: expected {expected} data bytes, got {got}")]
    TruncatedData {
        /// Zero-based member index.
        index: usize,
        /// Member name.
        name: String,
        /// Size from the header.
        expected: u64,
        /// Bytes available.
        got: u64,
    },

    /// More members than the configured cap.
    #[error("ar archive has more than {limit} members")]
    TooManyMembers {
        /// The cap.
        limit: usize,
    },

    /// A previous call failed; the stream position is unknown.
    #[error("ar reader is unusable after an earlier error")]
    Poisoned,

    /// [`ArWriter`]: the name cannot be written as a classic header name.
    #[error("cannot write ar member {name:?}: {reason}")]
    InvalidMemberName {
        /// The rejected name.
        name: String,
        /// Why.
        reason: &'static str,
    },

    /// [`ArWriter`]: the size does not fit the 10-digit size field.
    #[error("cannot write ar member {name:?}: size {size} exceeds the 10-digit header field")]
    MemberTooLarge {
        /// Member name.
        name: String,
        /// Declared size.
        size: u64,
    },

    /// [`ArWriter`]: the data reader ended before the declared size.
    #[error("ar member {name:?}: data has {got} bytes, declared {declared}")]
    DataTooShort {
        /// Member name.
        name: String,
        /// Declared size.
        declared: u64,
        /// Bytes supplied.
        got: u64,
    },

    /// [`ArWriter`]: the data reader has more than the declared size.
    #[error("ar member {name:?}: data is longer than the declared {declared} bytes")]
    DataTooLong {
        /// Member name.
        name: String,
        /// Declared size.
        declared: u64,
    },
}

/// Escapes bytes for error messages (`b"0o0  "` → `0o0  `, `\x00` → `\0`).
fn escape(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// Reads until `buf` is full or EOF; returns how many bytes were read.
fn read_full<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Parses the 16-byte name field: trailing spaces, then one trailing `/`, are stripped.
fn parse_name(index: usize, field: &[u8]) -> Result<String, ArError> {
    let trimmed = field.trim_ascii_end();
    if trimmed.starts_with(b"#1/") {
        return Err(ArError::Unsupported { index, name: escape(trimmed), what: "BSD long member name (#1/)" });
    }
    if trimmed.starts_with(b"/") {
        let what = match trimmed {
            b"//" => "GNU long-name table",
            b"/" | b"/SYM64/" => "GNU symbol table",
            _ => "GNU long member name reference",
        };
        return Err(ArError::Unsupported { index, name: escape(trimmed), what });
    }
    let name = trimmed.strip_suffix(b"/").unwrap_or(trimmed);
    if name.is_empty() {
        return Err(ArError::BadName { index, raw: escape(field), reason: "empty" });
    }
    match std::str::from_utf8(name) {
        Ok(s) => Ok(s.to_owned()),
        Err(_) => Err(ArError::BadName { index, raw: escape(field), reason: "not UTF-8" }),
    }
}

/// Parses the 10-byte decimal size field (space padded; leading spaces tolerated).
fn parse_size(index: usize, field: &[u8]) -> Result<u64, ArError> {
    let digits = field.trim_ascii();
    let bad = || ArError::BadSize { index, raw: escape(field) };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let mut value: u64 = 0;
    for &d in digits {
        value = value.checked_mul(10).and_then(|v| v.checked_add(u64::from(d - b'0'))).ok_or_else(bad)?;
    }
    Ok(value)
}

/// A sequential, tolerant reader of `ar` archives over a non-seekable stream.
///
/// ```ignore
/// let mut ar = ArReader::new(reader)?;
/// while let Some(mut member) = ar.next_member()? {
///     println!("{} {}", member.name(), member.size());
///     std::io::copy(&mut member, &mut sink)?; // optional: unread bytes are skipped
/// }
/// ```
#[derive(Debug)]
pub struct ArReader<R> {
    inner: R,
    max_members: usize,
    /// Members whose header has been read.
    count: usize,
    /// Name of the current member (for errors and [`ArMember::name`]).
    name: String,
    /// Size of the current member.
    size: u64,
    /// Unread data bytes of the current member.
    remaining: u64,
    /// Whether an odd-size pad byte follows the current member's data.
    pad_pending: bool,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    Finished,
    Poisoned,
}

impl<R: Read> ArReader<R> {
    /// Reads and checks the magic, with the [`DEFAULT_MAX_MEMBERS`] cap.
    pub fn new(inner: R) -> Result<Self, ArError> {
        Self::with_max_members(inner, DEFAULT_MAX_MEMBERS)
    }

    /// Reads and checks the magic; more than `max_members` members is an error.
    pub fn with_max_members(mut inner: R, max_members: usize) -> Result<Self, ArError> {
        let mut magic = [0u8; 8];
        let got = read_full(&mut inner, &mut magic)?;
        if got < magic.len() {
            if magic[..got] == AR_MAGIC[..got] {
                return Err(ArError::TruncatedMagic { got });
            }
            return Err(ArError::BadMagic { found: escape(&magic[..got]) });
        }
        if &magic != AR_MAGIC {
            return Err(ArError::BadMagic { found: escape(&magic) });
        }
        Ok(Self {
            inner,
            max_members,
            count: 0,
            name: String::new(),
            size: 0,
            remaining: 0,
            pad_pending: false,
            state: State::Open,
        })
    }

    /// Advances to the next member, skipping whatever is left of the current one.
    ///
    /// Returns `Ok(None)` at the end of the archive. After an error every later call returns
    /// [`ArError::Poisoned`].
    pub fn next_member(&mut self) -> Result<Option<ArMember<'_, R>>, ArError> {
        match self.state {
            State::Finished => return Ok(None),
            State::Poisoned => return Err(ArError::Poisoned),
            State::Open => {}
        }
        match self.advance() {
            Ok(true) => Ok(Some(ArMember { archive: self })),
            Ok(false) => {
                self.state = State::Finished;
                Ok(None)
            }
            Err(e) => {
                self.state = State::Poisoned;
                Err(e)
            }
        }
    }

    /// Number of member headers read so far.
    pub fn members_read(&self) -> usize {
        self.count
    }

    /// Gives back the underlying reader (positioned wherever reading stopped).
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Skips the rest of the current member and reads the next header.
    fn advance(&mut self) -> Result<bool, ArError> {
        if self.remaining > 0 {
            let want = self.remaining;
            let skipped = io::copy(&mut (&mut self.inner).take(want), &mut io::sink())?;
            self.remaining -= skipped;
            if skipped < want {
                return Err(self.truncated_data_error());
            }
        }
        if self.pad_pending {
            self.pad_pending = false;
            // The pad byte's value is not checked, and a missing pad at EOF is tolerated.
            let mut pad = [0u8; 1];
            if read_full(&mut self.inner, &mut pad)? == 0 {
                return Ok(false);
            }
        }

        let index = self.count;
        let mut header = [0u8; HEADER_LEN];
        let got = read_full(&mut self.inner, &mut header)?;
        if got == 0 {
            return Ok(false);
        }
        if got < HEADER_LEN {
            // Some writers leave stray newlines at the very end: tolerate those.
            if header[..got].iter().all(|&b| b == b'\n') {
                return Ok(false);
            }
            return Err(ArError::TruncatedHeader { index, got });
        }
        if index >= self.max_members {
            return Err(ArError::TooManyMembers { limit: self.max_members });
        }
        if &header[58..60] != b"`\n" {
            return Err(ArError::BadHeaderTerminator { index, found: escape(&header[58..60]) });
        }
        let name = parse_name(index, &header[0..16])?;
        let size = parse_size(index, &header[48..58])?;
        self.count += 1;
        self.name = name;
        self.size = size;
        self.remaining = size;
        self.pad_pending = size % 2 == 1;
        Ok(true)
    }

    fn truncated_data_error(&self) -> ArError {
        ArError::TruncatedData {
            index: self.count.saturating_sub(1),
            name: self.name.clone(),
            expected: self.size,
            got: self.size - self.remaining,
        }
    }
}

/// One member of an archive being read: its name, size, and a [`Read`] of exactly its data.
///
/// Reading past the data returns EOF. If the archive ends early, `read` fails with
/// [`ErrorKind::UnexpectedEof`] wrapping an [`ArError::TruncatedData`] (get it back with
/// `err.get_ref().and_then(|e| e.downcast_ref::<ArError>())`).
#[derive(Debug)]
pub struct ArMember<'a, R> {
    archive: &'a mut ArReader<R>,
}

impl<R: Read> ArMember<'_, R> {
    /// Member name, with GNU-style trailing `/` and padding removed.
    pub fn name(&self) -> &str {
        &self.archive.name
    }

    /// Data size from the header.
    pub fn size(&self) -> u64 {
        self.archive.size
    }

    /// Zero-based position of the member in the archive.
    pub fn index(&self) -> usize {
        self.archive.count.saturating_sub(1)
    }

    /// Data bytes not yet read.
    pub fn remaining(&self) -> u64 {
        self.archive.remaining
    }
}

impl<R: Read> Read for ArMember<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let archive = &mut *self.archive;
        if archive.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let cap = usize::try_from(archive.remaining).unwrap_or(usize::MAX);
        let len = buf.len().min(cap);
        let n = match archive.inner.read(&mut buf[..len]) {
            Ok(n) => n,
            Err(e) => {
                if e.kind() != ErrorKind::Interrupted {
                    archive.state = State::Poisoned;
                }
                return Err(e);
            }
        };
        if n == 0 {
            archive.state = State::Poisoned;
            return Err(io::Error::new(ErrorKind::UnexpectedEof, archive.truncated_data_error()));
        }
        archive.remaining -= n as u64;
        Ok(n)
    }
}

/// Writes VIB-style `ar` archives: vibauthor headers (mtime, uid, gid and mode `0`, decimal
/// size), data streamed from readers, `\n` pad after odd sizes.
///
/// After an error the output holds a partial member and must be discarded.
pub struct ArWriter<W: Write> {
    builder: ar::Builder<W>,
    members: usize,
}

impl<W: Write> std::fmt::Debug for ArWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArWriter").field("members", &self.members).finish_non_exhaustive()
    }
}

/// Counts bytes passing through a reader and remembers whether the reader itself failed.
struct Counting<R> {
    inner: R,
    count: u64,
    failed: bool,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.count += n as u64;
                Ok(n)
            }
            Err(e) => {
                if e.kind() != ErrorKind::Interrupted {
                    self.failed = true;
                }
                Err(e)
            }
        }
    }
}

/// Checks that `name` can be written as a classic 16-byte header name that [`ArReader`] and
/// ESXi read back unchanged.
pub fn validate_member_name(name: &str) -> Result<(), ArError> {
    let reject = |reason| Err(ArError::InvalidMemberName { name: name.to_owned(), reason });
    if name.is_empty() {
        return reject("empty name");
    }
    if name.len() > MAX_NAME_LEN {
        return reject("longer than 16 bytes");
    }
    if !name.bytes().all(|b| b.is_ascii_graphic()) {
        return reject("only printable ASCII without spaces is allowed");
    }
    if name.contains('/') {
        return reject("'/' is not allowed");
    }
    if name.starts_with("#1") {
        return reject("'#1' prefix is reserved for BSD long names");
    }
    Ok(())
}

impl<W: Write> ArWriter<W> {
    /// Starts an archive on `writer` (the magic is written with the first member or by
    /// [`ArWriter::finish`]).
    pub fn new(writer: W) -> Self {
        Self { builder: ar::Builder::new(writer), members: 0 }
    }

    /// Appends a member named `name` with exactly `size` bytes read from `data`.
    ///
    /// `data` must yield exactly `size` bytes: fewer is [`ArError::DataTooShort`], more is
    /// [`ArError::DataTooLong`] (detected by reading one byte past `size`).
    pub fn append<R: Read>(&mut self, name: &str, size: u64, mut data: R) -> Result<(), ArError> {
        validate_member_name(name)?;
        if size > MAX_MEMBER_SIZE {
            return Err(ArError::MemberTooLarge { name: name.to_owned(), size });
        }
        let header = ar::Header::new(name.as_bytes().to_vec(), size);
        let mut counted = Counting { inner: (&mut data).take(size), count: 0, failed: false };
        let result = self.builder.append(&header, &mut counted);
        if !counted.failed && counted.count < size {
            return Err(ArError::DataTooShort { name: name.to_owned(), declared: size, got: counted.count });
        }
        result?;
        let mut probe = [0u8; 1];
        if read_full(&mut data, &mut probe)? > 0 {
            return Err(ArError::DataTooLong { name: name.to_owned(), declared: size });
        }
        self.members += 1;
        Ok(())
    }

    /// Appends a member from a byte slice.
    pub fn append_bytes(&mut self, name: &str, data: &[u8]) -> Result<(), ArError> {
        self.append(name, data.len() as u64, data)
    }

    /// Number of members written.
    pub fn members(&self) -> usize {
        self.members
    }

    /// Finishes the archive and returns the writer (flushed).
    pub fn finish(self) -> Result<W, ArError> {
        let mut writer = self.builder.into_inner()?;
        if self.members == 0 {
            // ar::Builder writes the magic lazily with the first member.
            writer.write_all(AR_MAGIC)?;
        }
        writer.flush()?;
        Ok(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header(name: &str, mtime: &str, mode: &str, size: &str) -> Vec<u8> {
        let h = format!("{name:<16}{mtime:<12}{:<6}{:<6}{mode:<8}{size:<10}`\n", "0", "0");
        assert_eq!(h.len(), HEADER_LEN, "{h:?}");
        h.into_bytes()
    }

    fn archive(members: &[(&str, &str, &str, &[u8])]) -> Vec<u8> {
        let mut out = AR_MAGIC.to_vec();
        for (name, mtime, mode, data) in members {
            out.extend(header(name, mtime, mode, &data.len().to_string()));
            out.extend_from_slice(data);
            if data.len() % 2 == 1 {
                out.push(b'\n');
            }
        }
        out
    }

    /// Reads every member fully.
    fn read_all(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, ArError> {
        let mut reader = ArReader::new(bytes)?;
        let mut out = Vec::new();
        while let Some(mut m) = reader.next_member()? {
            let mut data = Vec::new();
            m.read_to_end(&mut data)?;
            assert_eq!(data.len() as u64, m.size());
            out.push((m.name().to_owned(), data));
        }
        Ok(out)
    }

    fn names(members: &[(String, Vec<u8>)]) -> Vec<&str> {
        members.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn vibauthor_dialect() {
        let bytes = archive(&[
            ("descriptor.xml", "0", "0", b"<vib/>"),
            ("sig.pkcs7", "0", "0", b""),
            ("payload1", "0", "0", b"abc"),
        ]);
        let got = read_all(&bytes).unwrap();
        assert_eq!(names(&got), ["descriptor.xml", "sig.pkcs7", "payload1"]);
        assert_eq!(got[0].1, b"<vib/>");
        assert_eq!(got[2].1, b"abc");
    }

    #[test]
    fn esximage_dialect_mode_0o0() {
        let bytes = archive(&[
            ("descriptor.xml", "0", "0o0", b"<vib>x</vib>"),
            ("sig.pkcs7", "0", "0o0", b"-----BEGIN PKCS7-----"),
            ("vmkusb-n", "0", "0o0", b"\x1f\x8b\x08"),
        ]);
        let got = read_all(&bytes).unwrap();
        assert_eq!(names(&got), ["descriptor.xml", "sig.pkcs7", "vmkusb-n"]);
        assert_eq!(got[1].1, b"-----BEGIN PKCS7-----");
    }

    #[test]
    fn vfront_gnu_dialect() {
        let bytes = archive(&[
            ("descriptor.xml/", "1430509195", "100000", b"<vib/>\n"),
            ("sig.pkcs7/", "1430509095", "100000", b""),
            ("net51-r8/", "1430506184", "100000", b"data"),
        ]);
        let got = read_all(&bytes).unwrap();
        assert_eq!(names(&got), ["descriptor.xml", "sig.pkcs7", "net51-r8"]);
        assert_eq!(got[0].1, b"<vib/>\n");
    }

    #[test]
    fn literal_headers_from_real_vibs() {
        // Raw headers as found in the samples (extracted/*/vib-ar-members.txt).
        for (hdr, name, size) in [
            (&b"descriptor.xml  0           0     0     0       1471      `\n"[..], "descriptor.xml", 1471),
            (b"sig.pkcs7       0           0     0     0o0     3377      `\n", "sig.pkcs7", 3377),
            (b"descriptor.xml/ 1430509195  0     0     100000  1578      `\n", "descriptor.xml", 1578),
            (b"net51-r8/       1430506184  0     0     100000  25351     `\n", "net51-r8", 25351),
        ] {
            let mut bytes = AR_MAGIC.to_vec();
            bytes.extend_from_slice(hdr);
            bytes.extend(std::iter::repeat_n(b'x', size));
            let mut reader = ArReader::new(&bytes[..]).unwrap();
            let mut m = reader.next_member().unwrap().unwrap();
            assert_eq!((m.name(), m.size()), (name, size as u64));
            assert_eq!(io::copy(&mut m, &mut io::sink()).unwrap(), size as u64);
            // Odd sizes without the pad byte at EOF are tolerated.
            assert!(reader.next_member().unwrap().is_none());
        }
    }

    #[test]
    fn unread_members_are_skipped_and_partial_reads_work() {
        let bytes = archive(&[("a", "0", "0", b"12345"), ("b", "0", "0", b"xy"), ("c", "0", "0", b"odd")]);
        let mut reader = ArReader::new(&bytes[..]).unwrap();
        let mut a = reader.next_member().unwrap().unwrap();
        let mut two = [0u8; 2];
        a.read_exact(&mut two).unwrap();
        assert_eq!(&two, b"12");
        assert_eq!(a.remaining(), 3);
        let b = reader.next_member().unwrap().unwrap();
        assert_eq!((b.name(), b.size(), b.index()), ("b", 2, 1));
        let mut c = reader.next_member().unwrap().unwrap();
        let mut s = String::new();
        c.read_to_string(&mut s).unwrap();
        assert_eq!(s, "odd");
        assert!(reader.next_member().unwrap().is_none());
        assert!(reader.next_member().unwrap().is_none());
        assert_eq!(reader.members_read(), 3);
    }

    #[test]
    fn empty_archive_and_missing_final_pad() {
        assert!(read_all(AR_MAGIC).unwrap().is_empty());
        let mut bytes = archive(&[("a", "0", "0", b"odd")]);
        assert_eq!(bytes.pop(), Some(b'\n'));
        assert_eq!(read_all(&bytes).unwrap()[0].1, b"odd");
    }

    #[test]
    fn bad_magic() {
        let err = read_all(b"PK\x03\x04rest of a zip").unwrap_err();
        assert!(matches!(err, ArError::BadMagic { .. }));
        assert_eq!(err.to_string(), r#"not an ar archive: magic is "PK\\x03\\x04rest", expected "!<arch>\n""#);
        let err = read_all(b"!<ar").unwrap_err();
        assert_eq!(err.to_string(), "not an ar archive: input ends after 4 of the 8 magic bytes");
        assert!(matches!(read_all(b"").unwrap_err(), ArError::TruncatedMagic { got: 0 }));
    }

    #[test]
    fn bad_size() {
        let mut bytes = AR_MAGIC.to_vec();
        bytes.extend(header("descriptor.xml", "0", "0", "0x10"));
        let err = read_all(&bytes).unwrap_err();
        assert_eq!(err.to_string(), r#"bad ar header of member #0: size field "0x10      " is not a decimal number"#);
        let mut bytes = archive(&[("a", "0", "0", b"")]);
        bytes.extend(header("b", "0", "0", "-1"));
        assert!(matches!(read_all(&bytes).unwrap_err(), ArError::BadSize { index: 1, .. }));
        let mut bytes = AR_MAGIC.to_vec();
        bytes.extend(header("b", "0", "0", ""));
        assert!(matches!(read_all(&bytes).unwrap_err(), ArError::BadSize { .. }));
    }

    #[test]
    fn truncated_header_and_data() {
        let bytes = archive(&[("descriptor.xml", "0", "0", b"<vib/>")]);
        let err = read_all(&bytes[..8 + 30]).unwrap_err();
        assert_eq!(err.to_string(), "truncated ar header of member #0: expected 60 bytes, got 30");

        let cut = &bytes[..8 + 60 + 4];
        // Reading the member's data reports the truncation as an UnexpectedEof io::Error.
        let mut reader = ArReader::new(cut).unwrap();
        let mut m = reader.next_member().unwrap().unwrap();
        let err = m.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
        let inner = err.get_ref().and_then(|e| e.downcast_ref::<ArError>());
        assert!(matches!(inner, Some(ArError::TruncatedData { expected: 6, got: 4, .. })), "{err:?}");
        assert_eq!(err.to_string(), r#"truncated ar member #0 "descriptor.xml": expected 6 data bytes, got 4"#);
        assert!(matches!(reader.next_member(), Err(ArError::Poisoned)));

        // Skipping an unread truncated member reports it from next_member.
        let mut reader = ArReader::new(cut).unwrap();
        reader.next_member().unwrap().unwrap();
        let err = reader.next_member().unwrap_err();
        assert_eq!(err.to_string(), r#"truncated ar member #0 "descriptor.xml": expected 6 data bytes, got 4"#);
    }

    #[test]
    fn bad_terminator() {
        let mut bytes = archive(&[("a", "0", "0", b"xy")]);
        bytes[8 + 58] = b'!';
        let err = read_all(&bytes).unwrap_err();
        assert_eq!(err.to_string(), r#"bad ar header of member #0: terminator is "!\\n", expected "`\n""#);
    }

    #[test]
    fn unsupported_name_extensions() {
        for (name, what) in [
            ("//", "GNU long-name table"),
            ("/", "GNU symbol table"),
            ("/123", "GNU long member name reference"),
            ("#1/20", "BSD long member name (#1/)"),
        ] {
            let bytes = archive(&[(name, "0", "0", b"xxxx")]);
            let err = read_all(&bytes).unwrap_err();
            assert!(err.to_string().contains("unsupported"), "{err}");
            assert!(err.to_string().contains(what), "{err}");
        }
    }

    #[test]
    fn member_cap() {
        let bytes = archive(&[("a", "0", "0", b""), ("b", "0", "0", b""), ("c", "0", "0", b"")]);
        let mut reader = ArReader::with_max_members(&bytes[..], 2).unwrap();
        reader.next_member().unwrap();
        reader.next_member().unwrap();
        let err = reader.next_member().unwrap_err();
        assert_eq!(err.to_string(), "ar archive has more than 2 members");
        // Exactly at the cap is fine.
        let mut reader = ArReader::with_max_members(&bytes[..], 3).unwrap();
        while reader.next_member().unwrap().is_some() {}
    }

    #[test]
    fn writer_emits_vibauthor_headers() {
        let mut w = ArWriter::new(Vec::new());
        w.append_bytes("descriptor.xml", b"<vib/>").unwrap();
        w.append("sig.pkcs7", 0, io::empty()).unwrap();
        w.append_bytes("payload1", b"odd").unwrap();
        let out = w.finish().unwrap();
        let expected = archive(&[
            ("descriptor.xml", "0", "0", b"<vib/>"),
            ("sig.pkcs7", "0", "0", b""),
            ("payload1", "0", "0", b"odd"),
        ]);
        assert_eq!(out, expected);
        assert_eq!(&out[8..68], b"descriptor.xml  0           0     0     0       6         `\n");
    }

    #[test]
    fn writer_rejects_bad_input() {
        let mut w = ArWriter::new(Vec::new());
        for name in ["", "seventeen-chars-x", "has space", "a/b", "#1x", "caf\u{e9}"] {
            let err = w.append_bytes(name, b"").unwrap_err();
            assert!(matches!(err, ArError::InvalidMemberName { .. }), "{name}: {err}");
        }
        let err = w.append("a", 5, &b"abc"[..]).unwrap_err();
        assert_eq!(err.to_string(), r#"ar member "a": data has 3 bytes, declared 5"#);
        let mut w = ArWriter::new(Vec::new());
        let err = w.append("a", 2, &b"abc"[..]).unwrap_err();
        assert_eq!(err.to_string(), r#"ar member "a": data is longer than the declared 2 bytes"#);
        let err = w.append("a", MAX_MEMBER_SIZE + 1, io::empty()).unwrap_err();
        assert!(matches!(err, ArError::MemberTooLarge { .. }));
        assert_eq!(ArWriter::new(Vec::new()).finish().unwrap(), AR_MAGIC);
    }

    fn member_strategy() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
        let name = "[A-Za-z0-9_.-]{1,16}".prop_filter("not #1", |n| !n.starts_with("#1"));
        proptest::collection::vec((name, proptest::collection::vec(any::<u8>(), 0..300)), 0..8)
    }

    proptest! {
        #[test]
        fn round_trip(members in member_strategy()) {
            let mut w = ArWriter::new(Vec::new());
            for (name, data) in &members {
                w.append(name, data.len() as u64, &data[..]).unwrap();
            }
            let bytes = w.finish().unwrap();
            prop_assert_eq!(read_all(&bytes).unwrap(), members.clone());

            // Reading with 1-byte reads from a reader that never fills buffers also works.
            struct Trickle<'a>(&'a [u8]);
            impl Read for Trickle<'_> {
                fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                    if self.0.is_empty() || buf.is_empty() { return Ok(0); }
                    buf[0] = self.0[0];
                    self.0 = &self.0[1..];
                    Ok(1)
                }
            }
            let mut reader = ArReader::new(Trickle(&bytes)).unwrap();
            let mut i = 0;
            while let Some(mut m) = reader.next_member().unwrap() {
                // Read only every other member, to exercise skipping.
                if i % 2 == 0 {
                    let mut data = Vec::new();
                    m.read_to_end(&mut data).unwrap();
                    prop_assert_eq!(&data, &members[i].1);
                }
                prop_assert_eq!(m.name(), members[i].0.as_str());
                i += 1;
            }
            prop_assert_eq!(i, members.len());
        }

        #[test]
        fn arbitrary_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut bytes = AR_MAGIC.to_vec();
            bytes.extend(tail);
            let _ = read_all(&bytes);
        }
    }
}
