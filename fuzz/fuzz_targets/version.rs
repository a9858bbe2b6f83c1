//! Fuzzes the version grammar with untrusted text: parsing, ordering, linting, relations and
//! platform patterns must never panic, and the ordering invariants must hold for whatever
//! parses. The input is split in two so that pairs of versions get compared.

#![no_main]

use std::cmp::Ordering;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use esxlcm_version::{PlatformPattern, Relation, Version};
use libfuzzer_sys::fuzz_target;

fn hash_of(version: &Version) -> u64 {
    let mut hasher = DefaultHasher::new();
    version.hash(&mut hasher);
    hasher.finish()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut middle = text.len() / 2;
    while !text.is_char_boundary(middle) {
        middle -= 1;
    }
    let (left, right) = text.split_at(middle);

    for half in [left, right, text] {
        let _ = Relation::parse(half);
        if let Ok(pattern) = PlatformPattern::parse(half) {
            assert_eq!(pattern.as_str(), half);
            let _ = pattern.matches(left);
            let _ = pattern.matches(right);
        }
        match Version::parse(half) {
            Ok(version) => {
                assert_eq!(version.to_string(), half, "display keeps the spelling");
                assert_eq!(version.cmp(&version), Ordering::Equal);
                for lint in version.lint() {
                    let _ = lint.to_string();
                }
            }
            Err(error) => {
                let _ = error.to_string();
            }
        }
    }

    if let (Ok(a), Ok(b)) = (Version::parse(left), Version::parse(right)) {
        let ordering = a.cmp(&b);
        assert_eq!(ordering, b.cmp(&a).reverse(), "antisymmetry: {a} vs {b}");
        assert_eq!(a == b, ordering == Ordering::Equal, "Eq agrees with Ord");
        if a == b {
            assert_eq!(
                hash_of(&a),
                hash_of(&b),
                "equal versions hash equal: {a} vs {b}"
            );
        }
        for relation in Relation::ALL {
            let expected = match relation {
                Relation::Lt => ordering.is_lt(),
                Relation::Le => ordering.is_le(),
                Relation::Eq => ordering.is_eq(),
                Relation::Ge => ordering.is_ge(),
                Relation::Gt => ordering.is_gt(),
            };
            assert_eq!(relation.matches(&a, &b), expected, "{a} {relation} {b}");
        }
    }
});
