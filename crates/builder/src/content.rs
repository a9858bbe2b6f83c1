//! What a built image holds, as depot content: computed by the solver
//! (`esxlcm_solver::content`, pure), so that the store's image views use the same
//! function without depending on the builder.

pub use esxlcm_solver::content::{VENDOR, image_content, release_units};
