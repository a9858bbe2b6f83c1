//! The demo depot a new `esxlcm serve` data directory starts with: synthetic content from
//! the depot crate's seeded generator (base images, an OEM add-on, components with
//! dependencies, real `.vib` files), added as the store source `demo`
//! (`esxlcm_server::service::seed_demo`).

/// The demo's seed: the same demo depot on every machine.
pub const DEMO_SEED: u64 = 1;
