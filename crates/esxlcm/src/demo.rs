//! The demo depot `esxlcm serve` runs on by default: synthetic content from the depot
//! crate's seeded generator (base images, an OEM add-on, components with dependencies,
//! real `.vib` files), written as an unpacked online depot directory.

use std::path::Path;

use anyhow::Context as _;
use esxlcm_depot::generate::{GeneratorConfig, generate_to_tree};

/// The demo's seed: the same demo depot on every machine.
pub const DEMO_SEED: u64 = 1;

/// Write the demo depot into `dir`, which must not exist yet.
pub fn generate(dir: &Path) -> anyhow::Result<()> {
    let written = generate_to_tree(&GeneratorConfig::tiny(DEMO_SEED), dir)
        .with_context(|| format!("writing the demo depot to {}", dir.display()))?;
    tracing::info!(vibs = written.vib_count, bytes = written.vib_bytes, "demo depot written");
    Ok(())
}
