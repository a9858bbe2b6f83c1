//! Fuzz the `BOOT.CFG` parser of the image builder (what `esxlcm image inspect` reads from an
//! untrusted ISO) on arbitrary bytes, decoded as `inspect` does (lossy UTF-8). What parses
//! is rendered and must parse back the same, and every file it names maps to an ISO path.
//! Errors are fine; panics and hangs are not.
#![no_main]

use esxlcm_builder::bootcfg::BootCfg;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(cfg) = BootCfg::parse(&text) else {
        return;
    };
    for file in std::iter::once(&cfg.kernel).chain(&cfg.modules) {
        let _ = cfg.iso_path(file);
    }
    let rendered = cfg.render();
    match BootCfg::parse(&rendered) {
        Ok(again) => assert_eq!(again, cfg, "renders as\n{rendered}"),
        Err(e) => panic!("{e}; it renders as\n{rendered}"),
    }
});
