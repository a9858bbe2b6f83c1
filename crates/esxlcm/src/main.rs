//! The esxlcm command line (being built).
fn main() {}
