//! `esxlcm depot export SOURCE… --out OUT`: write all or part of one or more depots as
//! one offline bundle or online depot tree (the ROBO and mirror use case).

use std::io::{Read, Write as _};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::model::Vib;
use esxlcm_depot::selection::Selection;
use esxlcm_depot::write::{VibSource, WriteError, write_bundle, write_tree};
use indicatif::ProgressBar;

use super::{ContentError, Context, Status};
use crate::output::{self, count, human_size};

const AFTER_HELP: &str = "\
Reads every SOURCE (bundle .zip, .vib, depot directory or URL), merges them, and writes
the selected content with its VIB files as one depot. With no --component or --bulletin,
everything is exported. VIB files are copied byte for byte (signatures stay valid) and
verified against their sha-256 and size on the way; a mismatch stops the export and
leaves nothing at OUT. The same input always gives the same bytes.

OUT ending in .zip is an offline bundle; anything else an online depot tree.

Examples:
  esxlcm depot export a.zip b.zip --out merged.zip
  esxlcm depot export https://depot.example/index.xml --component VMware-Re-Driver --out branch-depot
  esxlcm depot export mirror/ --component Intel-i40en=1.12.3.0-1OEM.700.1.0.15843807 --out i40en.zip";

#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct ExportArgs {
    /// Depots to read: bundle .zip, .vib, depot directory, or URL
    #[arg(value_name = "SOURCE", required = true)]
    pub sources: Vec<String>,

    /// Where to write: FILE.zip for an offline bundle, a directory for an online tree
    #[arg(long, short = 'o', value_name = "OUT")]
    pub out: PathBuf,

    /// Export this component, all versions or NAME=VERSION (repeatable)
    #[arg(long = "component", value_name = "NAME[=VERSION]")]
    pub components: Vec<String>,

    /// Export this legacy bulletin by ID (repeatable)
    #[arg(long = "bulletin", value_name = "ID")]
    pub bulletins: Vec<String>,

    /// Vendor name of the written depot [default: the first source's vendor]
    #[arg(long, value_name = "NAME")]
    pub vendor_name: Option<String>,

    /// Vendor code of the written depot [default: the first source's vendor]
    #[arg(long, value_name = "CODE")]
    pub vendor_code: Option<String>,

    /// The vmware.xml timestamp; fixed by default so that output is reproducible
    #[arg(long, default_value = "2000-01-01T00:00:00.000000")]
    pub timestamp: String,

    /// Replace OUT if it exists (atomically)
    #[arg(long)]
    pub overwrite: bool,

    /// Write one JSON object (schema esxlcm.depot-export/1) instead of text
    #[arg(long)]
    pub json: bool,
}

/// The catalog as a [`VibSource`] that moves a progress bar by the bytes read of each VIB.
struct Counted<'a> {
    inner: &'a dyn VibSource,
    bar: &'a ProgressBar,
}

impl VibSource for Counted<'_> {
    fn open_vib(&self, vib: &Vib) -> Result<Box<dyn Read + '_>, WriteError> {
        let reader = self.inner.open_vib(vib)?;
        Ok(Box::new(CountingReader { reader, bar: self.bar }))
    }
}

struct CountingReader<'a, R> {
    reader: R,
    bar: &'a ProgressBar,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.reader.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

pub fn run(args: &ExportArgs, ctx: &Context) -> anyhow::Result<Status> {
    let mut catalog = Catalog::new();
    for source in &args.sources {
        catalog.add(ctx.open_depot(source)?)?;
    }
    if let Some(conflict) = catalog.conflicts().first() {
        return Err(ContentError(conflict.to_string()).into());
    }
    let first_vendor = catalog.depots().iter().flat_map(|d| d.vendors.first()).next().map(|v| v.entry.clone());
    let vendor_name = args.vendor_name.clone().or_else(|| first_vendor.as_ref().map(|v| v.name.clone()));
    let vendor_code = args.vendor_code.clone().or_else(|| first_vendor.as_ref().map(|v| v.code.clone()));
    let selection = if args.components.is_empty() && args.bulletins.is_empty() {
        Selection::everything()
    } else {
        Selection {
            components: args
                .components
                .iter()
                .map(|c| match c.split_once('=') {
                    Some((name, version)) => (name.to_owned(), Some(version.to_owned())),
                    None => (c.clone(), None),
                })
                .collect(),
            bulletins: args.bulletins.clone(),
            all: false,
        }
    };
    let content = catalog.select(
        &selection,
        vendor_name.as_deref().unwrap_or("esxlcm"),
        vendor_code.as_deref().unwrap_or("esxlcm"),
        &args.timestamp,
    );
    let missing: Vec<&String> = args
        .components
        .iter()
        .filter(|c| {
            let name = c.split_once('=').map_or(c.as_str(), |(n, _)| n);
            !content.bulletins.iter().any(|b| b.component.as_ref().is_some_and(|s| s.name == name))
        })
        .chain(args.bulletins.iter().filter(|id| !content.bulletins.iter().any(|b| &b.id == *id)))
        .collect();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        return Err(ContentError(format!(
            "not in the sources: {} (esxlcm depot inspect lists what they hold)",
            names.join(", ")
        ))
        .into());
    }
    let bundle = args.out.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    // The bar's total is what the metadata declares; VIBs without a declared size add none.
    let declared: u64 = content.vibs.iter().filter_map(|v| v.location.as_ref()).map(|l| l.packed_size).sum();
    let bar = output::bytes_bar("exporting VIBs", Some(declared));
    let source = Counted { inner: &catalog, bar: &bar };
    let written = if bundle {
        write_bundle(&content, &source, &args.out, args.overwrite)
    } else {
        write_tree(&content, &source, &args.out, args.overwrite)
    }
    .with_context(|| format!("cannot write {}", args.out.display()));
    bar.finish_and_clear();
    let written = written?;
    let mut out = output::stdout();
    if args.json {
        output::write_json(
            &mut out,
            &serde_json::json!({
                "schema": "esxlcm.depot-export/1",
                "out": args.out.display().to_string(),
                "kind": if bundle { "bundle" } else { "tree" },
                "bulletins": content.bulletins.len(),
                "vibs": written.vib_count,
                "vib_bytes": written.vib_bytes,
            }),
        )?;
        out.flush()?;
        return Ok(Status::Success);
    }
    writeln!(
        out,
        "wrote {} {}: {}, {} ({})",
        if bundle { "offline bundle" } else { "depot tree" },
        args.out.display(),
        count(content.bulletins.len(), "bulletin", "bulletins"),
        count(written.vib_count, "VIB", "VIBs"),
        human_size(written.vib_bytes),
    )?;
    out.flush()?;
    Ok(Status::Success)
}
