//! Fuzz the EFI boot image check of the image builder (what `esxlcm image build --efiboot`
//! and `esxlcm image inspect` read: a FAT filesystem from an untrusted file or ISO) on
//! arbitrary bytes. An image that passes the check lists its loader; a listing never exceeds
//! the entry cap. Errors are fine; panics and hangs are not.
#![no_main]

use esxlcm_builder::efiboot::{EFI_LOADER, MAX_ENTRIES, check_efi_image, list_efi_image};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = list_efi_image(data) {
        assert!(info.files.len() <= MAX_ENTRIES);
    }
    if let Ok(info) = check_efi_image(data) {
        assert!(info.file(EFI_LOADER).is_some(), "passed without {EFI_LOADER}");
    }
});
