//! `esxlcm depot generate`: write a realistic synthetic depot, seeded and deterministic,
//! for tests, demos and benchmarks (`esxlcm_depot::generate`).

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use esxlcm_depot::generate::{GeneratorConfig, generate};
use esxlcm_depot::write::{write_bundle, write_tree};

use super::{Context, Status};
use crate::output::{self, count, human_size};

const AFTER_HELP: &str = "\
The depot looks like an ESXi 8.0 depot: base images (8.0 U1, U2, U3, then U3 patches) of
about 150 components, an ESXi component whose esx-base VIB provides vmkapi levels, drivers
that depend on them, replace and conflict chains, and OEM add-ons with removed components
and supported base images. Every VIB is a real ar file with correct checksums; all VIBs are
community acceptance and unsigned. The same seed and options always give the same bytes.

OUT ending in .zip is written as an offline bundle; anything else as an online depot tree
(index.xml and vmw-depot-index.xml at its root) that `esxlcm serve --dir OUT` publishes.

Examples:
  esxlcm depot generate --out demo.zip
  esxlcm depot generate --preset benchmark --out /tmp/depot-20k      # 20,074 VIBs
  esxlcm depot generate --seed 7 --base-images 5 --addons 3 --payload-bytes 1000000 --out big.zip
  esxlcm depot generate --preset tiny --boot-modules --out bootable.zip   # for `esxlcm image build --iso`";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Preset {
    /// 3 base images of a dozen components (fast; for tests)
    Tiny,
    /// 3 base images of ~150 components and 2 add-ons
    Default,
    /// ~20,000 VIBs and ~5,000 components
    Benchmark,
}

#[derive(Debug, Clone, Args)]
#[command(after_help = AFTER_HELP)]
pub struct GenerateArgs {
    /// Where to write: FILE.zip for an offline bundle, a directory for an online tree
    #[arg(long, short = 'o', value_name = "OUT")]
    pub out: PathBuf,

    /// Starting point for the options below
    #[arg(long, value_enum, default_value = "default")]
    pub preset: Preset,

    /// Seed: different seeds give different (but equally realistic) depots
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Base-image releases
    #[arg(long, value_name = "N")]
    pub base_images: Option<usize>,

    /// Components per base image
    #[arg(long, value_name = "N")]
    pub components: Option<usize>,

    /// OEM add-ons
    #[arg(long, value_name = "N")]
    pub addons: Option<usize>,

    /// Payload content per VIB before compression, in bytes
    #[arg(long, value_name = "BYTES")]
    pub payload_bytes: Option<usize>,

    /// Give every esx-base VIB two `boot` payloads (`b`, the kernel, and `k`), so that
    /// `esxlcm image build --iso` can build an installer ISO from the depot. Off by default:
    /// without it the same seed and options give the same bytes as before
    #[arg(long)]
    pub boot_modules: bool,

    /// Replace OUT if it exists (atomically: readers see the old or the new depot)
    #[arg(long)]
    pub overwrite: bool,

    /// Write one JSON object (schema esxlcm.depot-generate/1) instead of text
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &GenerateArgs, _ctx: &Context) -> anyhow::Result<Status> {
    let mut config = match args.preset {
        Preset::Tiny => GeneratorConfig::tiny(args.seed),
        Preset::Default => GeneratorConfig { seed: args.seed, ..GeneratorConfig::default() },
        Preset::Benchmark => GeneratorConfig::benchmark(args.seed),
    };
    if let Some(n) = args.base_images {
        config.base_images = n;
    }
    if let Some(n) = args.components {
        config.components_per_base_image = n;
    }
    if let Some(n) = args.addons {
        config.addons = n;
    }
    if let Some(n) = args.payload_bytes {
        config.payload_bytes = (n, n);
    }
    config.boot_modules = args.boot_modules;
    let depot = generate(&config).context("cannot generate the depot with these options")?;
    let bundle = args.out.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    let content = depot.content();
    let written = if bundle {
        write_bundle(content, &depot, &args.out, args.overwrite)
    } else {
        write_tree(content, &depot, &args.out, args.overwrite)
    }
    .with_context(|| format!("cannot write {}", args.out.display()))?;
    let mut out = output::stdout();
    if args.json {
        output::write_json(
            &mut out,
            &serde_json::json!({
                "schema": "esxlcm.depot-generate/1",
                "out": args.out.display().to_string(),
                "kind": if bundle { "bundle" } else { "tree" },
                "seed": args.seed,
                "release_units": content.release_units.len(),
                "components": content.bulletins.len(),
                "vibs": written.vib_count,
                "vib_bytes": written.vib_bytes,
            }),
        )?;
        out.flush()?;
        return Ok(Status::Success);
    }
    writeln!(
        out,
        "wrote {} {}: {}, {}, {} ({})",
        if bundle { "offline bundle" } else { "depot tree" },
        args.out.display(),
        count(content.release_units.len(), "release unit", "release units"),
        count(content.bulletins.len(), "component", "components"),
        count(written.vib_count, "VIB", "VIBs"),
        human_size(written.vib_bytes),
    )?;
    out.flush()?;
    Ok(Status::Success)
}
