//! Fuzz the XML reader and every document parser of the depot model on arbitrary bytes:
//! vendor lists, vendor indexes, `vmware.xml`, bulletins, VIB descriptors, image
//! profiles, and (as JSON) the four release unit kinds. Errors are fine; panics, hangs
//! and unbounded allocations are not. What parses is written back out, so the writers
//! see odd values too.
#![no_main]

use esxlcm_depot::model::{
    Bulletin, ImageProfile, MetadataResponse, ReleaseKind, ReleaseUnit, VendorIndex, VendorList, Vib,
};
use esxlcm_depot::xml::{self, XmlLimits};
use libfuzzer_sys::fuzz_target;

const KINDS: [ReleaseKind; 4] =
    [ReleaseKind::BaseImage, ReleaseKind::Addon, ReleaseKind::Manifest, ReleaseKind::Solution];

fuzz_target!(|data: &[u8]| {
    match xml::parse(data, XmlLimits::default()) {
        Ok(root) => {
            let _ = root.to_bytes();
            let _ = root.to_bytes_pretty();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    match Vib::parse(data) {
        Ok(vib) => {
            let _ = vib.id();
            let _ = vib.default_relative_path();
            let _ = vib.to_xml();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    match Bulletin::parse(data) {
        Ok(b) => {
            let _ = b.to_xml();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if let Ok(list) = VendorList::parse(data) {
        for v in &list.vendors {
            let _ = v.index_path();
            let _ = v.is_esx();
        }
    }
    if let Ok(index) = VendorIndex::parse(data) {
        let _ = index.to_xml();
    }
    if let Ok(resp) = MetadataResponse::parse(data) {
        let _ = MetadataResponse::write(&resp.timestamp, &resp.bulletins, |_| None);
    }
    if let Ok(profile) = ImageProfile::parse(data) {
        let _ = profile.to_xml();
    }
    for kind in KINDS {
        if let Ok(unit) = ReleaseUnit::parse(kind, data) {
            let _ = unit.to_json();
            let _ = unit.supports_base_image("8.0.3-0.35.24280767");
        }
    }
});
