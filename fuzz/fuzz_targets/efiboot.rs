//! Fuzz the EFI boot image check of the image builder (what `esxlcm image build --efiboot`
//! and `esxlcm image inspect` read: a FAT filesystem from an untrusted file or ISO) on
//! arbitrary bytes. An image that passes the check lists its loader; a listing never exceeds
//! the entry cap. Errors are fine; panics and hangs are not.
#![no_main]

use esxlcm_builder::efiboot::{EFI_LOADER, MAX_ENTRIES, check_efi_image, list_efi_image};
use libfuzzer_sys::fuzz_target;

/// fatfs panics on some damaged images (a cluster number below 2, where overflow checks are
/// on); the builder catches that and reports a damaged image. Such a panic must not count as
/// a crash here, every other panic still does (libFuzzer's own hook aborts on it).
fn tolerate_fatfs_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.location().is_some_and(|l| l.file().contains("/fatfs-")) {
                abort(info);
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    tolerate_fatfs_panics();
    if let Ok(info) = list_efi_image(data) {
        assert!(info.files.len() <= MAX_ENTRIES);
    }
    if let Ok(info) = check_efi_image(data) {
        assert!(info.file(EFI_LOADER).is_some(), "passed without {EFI_LOADER}");
    }
});
