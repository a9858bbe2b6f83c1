//! `esxlcm mirror export`, `import` and `keygen`: snapshots carried across an air gap as
//! checksummed chunk files (`Store::export`, `Store::import`), signed with an ed25519 key
//! the site makes once (`esxlcm_store::carry_sign`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use esxlcm_store::ops::LockWait;
use esxlcm_store::{Store, carry, carry_sign};

use super::render::{refresh_lines, report_refreshes, views_status};
use super::sync::BytesBar;
use crate::cmd::Status;
use crate::output::{self, count, human_size};

const EXPORT_HELP: &str = "\
DIR receives esxlcm-export.json (the manifest: sources, snapshots, blobs, chunks),
SHA256SUMS (`sha256sum -c SHA256SUMS` checks the copy with standard tools) and
chunk-00001.bin, chunk-00002.bin, …: every payload the exported snapshots need,
concatenated and cut every --chunk-size bytes (copy chunks to several media if needed;
put them back in one directory to import).

Without --since, every snapshot of the sources and every file they need. With
--since N, the snapshots newer than N and only the files no snapshot up to N references:
the receiving store must have imported the export that held snapshot N. The output names
the newest snapshot exported, the --since of the next incremental export.

With --sign-key KEY (made once with `esxlcm mirror keygen`), SHA256SUMS.sig signs the
package; the other side imports it with --verify-key KEY.pub and refuses it if anything
in it changed.

Examples:
  esxlcm mirror export --to /media/usb/esxlcm-full --sign-key ~/.esxlcm/site.key
  esxlcm mirror export --to /media/usb/esxlcm-2026-12 --since 7 --chunk-size 4095M   # FAT32";

const IMPORT_HELP: &str = "\
Checks the manifest against SHA256SUMS, each chunk's size and sha-256 (a bad chunk is
named), and each payload's sha-256, before storing it. Each snapshot is recorded only once
every file it names is stored, then the snapshot the exporting store published is
published here. An interrupted import (a killed process, a bad or missing chunk) continues
where it stopped when run again; running it twice records nothing twice.

Sources an import creates are disabled (`mirror sync` skips them: their upstream is on the
other side of the gap) and carry no tokens, headers, proxy or CA settings.

With --verify-key KEY.pub, the package must be signed by that key (SHA256SUMS.sig) and
unchanged since: an unsigned package, one signed by another key, or one with any changed
byte is refused before anything is stored.

Example:
  esxlcm mirror import /media/usb/esxlcm-2026-12 --verify-key site.key.pub";

const KEYGEN_HELP: &str = "\
Writes KEY (the secret key, PKCS#8 PEM, readable by you only: keep it on the connected
side, with whoever exports) and KEY.pub (the public key, SubjectPublicKeyInfo PEM: carry
it to the air-gapped side once, by a channel you trust, and give it to `mirror import
--verify-key`). Existing files are never overwritten. Both are standard PEM files:
`openssl pkey -in KEY -noout -text` reads the secret key.

Example:
  esxlcm mirror keygen ~/.esxlcm/site.key";

#[derive(Debug, Args)]
#[command(after_help = EXPORT_HELP)]
pub struct ExportArgs {
    /// Sources to export (default: every source with snapshots)
    pub names: Vec<String>,
    /// The directory to write (created; must be empty)
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Only snapshots newer than this one, and only files they add
    #[arg(long, value_name = "SNAPSHOT")]
    pub since: Option<i64>,
    /// Largest chunk file: bytes, or with K, M, G, T (binary: 4G = 4 GiB; FAT32 needs 4095M)
    #[arg(long, value_name = "SIZE", default_value = "4G")]
    pub chunk_size: String,
    /// Sign the package with this secret key (`esxlcm mirror keygen`)
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = IMPORT_HELP)]
pub struct ImportArgs {
    /// The export directory (esxlcm-export.json, SHA256SUMS, chunk-*.bin)
    pub dir: PathBuf,
    /// Refuse the package unless it is signed by this public key and unchanged
    #[arg(long, value_name = "KEY.pub")]
    pub verify_key: Option<PathBuf>,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = KEYGEN_HELP)]
pub struct KeygenArgs {
    /// The secret key file to write (KEY.pub is written beside it)
    pub key: PathBuf,
    /// Write one JSON object (schema esxlcm.mirror.keygen/1) instead of text
    #[arg(long)]
    pub json: bool,
}

pub fn keygen(a: &KeygenArgs, out: &mut dyn Write) -> anyhow::Result<Status> {
    let keys = carry_sign::keygen(&a.key)?;
    if a.json {
        output::write_json(
            out,
            &serde_json::json!({
                "schema": "esxlcm.mirror.keygen/1",
                "key_id": keys.id.to_string(),
                "secret": keys.secret.display().to_string(),
                "public": keys.public.display().to_string(),
            }),
        )?;
        return Ok(Status::Success);
    }
    writeln!(
        out,
        "key {}: secret {} (keep it private), public {}",
        keys.id,
        keys.secret.display(),
        keys.public.display()
    )?;
    writeln!(
        out,
        "export with --sign-key {}; import with --verify-key {}",
        keys.secret.display(),
        keys.public.display()
    )?;
    Ok(Status::Success)
}

pub fn export(store: &Store, a: &ExportArgs, out: &mut dyn Write) -> anyhow::Result<Status> {
    let Some(chunk_size) = carry::parse_size(&a.chunk_size) else {
        bail!("--chunk-size {}: give bytes or a size such as 700M, 4G, 4095M", a.chunk_size);
    };
    let sign = a.sign_key.as_deref().map(carry_sign::PackageKey::load).transpose()?;
    let signed_by = sign.as_ref().map(carry_sign::PackageKey::id);
    let options = carry::ExportOptions { since: a.since, chunk_size, sources: a.names.clone(), sign };
    let bar = BytesBar::new("exporting");
    let r = store.export(&a.to, &options, LockWait::NONE, &bar)?;
    drop(bar);
    if a.json {
        let snapshots: Vec<_> =
            r.snapshots.iter().map(|(s, id)| serde_json::json!({ "source": s, "snapshot": id })).collect();
        output::write_json(
            out,
            &serde_json::json!({
                "schema": "esxlcm.mirror.export-report/1",
                "dir": a.to.display().to_string(),
                "since": r.since,
                "upto": r.upto,
                "snapshots": snapshots,
                "blobs": r.blobs,
                "bytes": r.bytes,
                "chunks": r.chunks,
            }),
        )?;
        return Ok(Status::Success);
    }
    let mut by_source: Vec<(String, Vec<String>)> = Vec::new();
    for (s, id) in &r.snapshots {
        match by_source.iter_mut().find(|(n, _)| n == s) {
            Some((_, ids)) => ids.push(id.to_string()),
            None => by_source.push((s.clone(), vec![id.to_string()])),
        }
    }
    for (s, ids) in &by_source {
        writeln!(out, "{s}: snapshot(s) {}", ids.join(", "))?;
    }
    writeln!(
        out,
        "exported {} ({}) in {} to {}{}",
        count(r.blobs, "file", "files"),
        human_size(r.bytes),
        count(r.chunks, "chunk", "chunks"),
        a.to.display(),
        r.since.map_or_else(String::new, |n| format!(" (new since snapshot {n})"))
    )?;
    if let Some(id) = &signed_by {
        writeln!(out, "signed with key {id} ({})", carry_sign::SIGNATURE)?;
    }
    if let Some(upto) = r.upto {
        writeln!(out, "next incremental export: esxlcm mirror export --since {upto} --to DIR")?;
    }
    Ok(Status::Success)
}

pub fn import(store: &Store, a: &ImportArgs, out: &mut dyn Write) -> anyhow::Result<Status> {
    let verify = a.verify_key.as_deref().map(carry_sign::PackageVerifier::load).transpose()?;
    let bar = BytesBar::new("importing");
    let imported = store.import(&a.dir, verify.as_ref(), LockWait::NONE, &bar)?;
    drop(bar);
    let r = &imported.report;
    if a.json {
        let created: Vec<_> = r
            .snapshots_created
            .iter()
            .map(|(s, o, l)| serde_json::json!({ "source": s, "origin_snapshot": o, "snapshot": l }))
            .collect();
        let published: Vec<_> =
            r.published.iter().map(|(s, l)| serde_json::json!({ "source": s, "snapshot": l })).collect();
        // The views' report lines go into the document (`all: published build 2 (…)`).
        let (views, failed) = refresh_lines(&imported.views);
        output::write_json(
            out,
            &serde_json::json!({
                "schema": "esxlcm.mirror.import-report/1",
                "blobs_in_export": r.blobs_in_export,
                "blobs_written": r.blobs_written,
                "bytes_written": r.bytes_written,
                "blobs_present": r.blobs_present,
                "chunks_read": r.chunks_read,
                "chunks_skipped": r.chunks_skipped,
                "snapshots_created": created,
                "snapshots_existing": r.snapshots_existing,
                "published": published,
                "expired": r.expired,
                "views": views,
            }),
        )?;
        return Ok(views_status(failed));
    }
    writeln!(
        out,
        "stored {} ({}) from {}; {} of {} already in the store{}",
        count(r.blobs_written, "file", "files"),
        human_size(r.bytes_written),
        count(r.chunks_read, "chunk", "chunks"),
        r.blobs_present,
        r.blobs_in_export,
        if r.chunks_skipped > 0 { format!(" ({} chunk(s) not needed)", r.chunks_skipped) } else { String::new() }
    )?;
    for (s, o, l) in &r.snapshots_created {
        writeln!(out, "{s}: recorded snapshot {l} (snapshot {o} of the exporting store)")?;
    }
    if r.snapshots_existing > 0 {
        writeln!(out, "{} snapshot(s) were imported before", r.snapshots_existing)?;
    }
    for (s, l) in &r.published {
        writeln!(out, "{s}: published snapshot {l}")?;
    }
    if r.snapshots_created.is_empty() && r.published.is_empty() {
        writeln!(out, "nothing new: this export was imported already")?;
    }
    // Views of the sources the import published followed, as after a sync.
    report_refreshes(&imported.views, out)
}
