//! Seeded randomness. Every decision draws from its own stream, keyed by the config seed
//! and a label (`"slot"`, slot index, release index, ...), so one decision never shifts
//! another: adding a release or an add-on leaves everything else generated identically.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

fn derive(seed: u64, label: &str, a: u64, b: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"esxlcm-generate\0");
    h.update(seed.to_le_bytes());
    h.update(label.as_bytes());
    h.update([0]);
    h.update(a.to_le_bytes());
    h.update(b.to_le_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(&h.finalize());
    out
}

/// One decision stream (ChaCha8: portable and stable across platforms and versions).
pub(crate) struct Stream(ChaCha8Rng);

impl Stream {
    pub fn new(seed: u64, label: &str, a: u64, b: u64) -> Self {
        Self(ChaCha8Rng::from_seed(derive(seed, label, a, b)))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `lo..=hi` (`lo` when `hi <= lo`); the modulo bias is irrelevant here.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        if hi <= lo {
            return lo;
        }
        let span = (hi - lo) as u64 + 1;
        lo + (self.next_u64() % span) as usize
    }

    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u8) -> bool {
        self.next_u64() % 100 < u64::from(percent)
    }
}

/// The 64-bit seed of the byte stream of one VIB's payload, from the config seed and the
/// VIB ID: what lets `open_vib` regenerate a VIB without keeping it.
pub(crate) fn payload_seed(seed: u64, vib_id: &str) -> u64 {
    let d = derive(seed, vib_id, u64::MAX, 0);
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    u64::from_le_bytes(first)
}

/// Payload filler bytes from a seed: ChaCha8, which fills bytes at memory speed, so the
/// generator needs no random-number code of its own.
pub(crate) struct Filler(ChaCha8Rng);

impl Filler {
    pub fn new(seed: u64) -> Self {
        Self(ChaCha8Rng::seed_from_u64(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        if hi <= lo {
            return lo;
        }
        lo + (self.next_u64() % ((hi - lo) as u64 + 1)) as usize
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        self.0.fill_bytes(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_stable_and_independent() {
        let a: Vec<u64> = (0..3).map(|_| Stream::new(7, "x", 1, 2).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Stream::new(7, "x", 1, 2).next_u64(), Stream::new(7, "x", 1, 3).next_u64());
        let mut s = Stream::new(1, "r", 0, 0);
        for _ in 0..100 {
            let v = s.range(3, 5);
            assert!((3..=5).contains(&v));
        }
        let mut buf = [0u8; 13];
        Filler::new(1).fill(&mut buf);
        let mut again = [0u8; 13];
        Filler::new(1).fill(&mut again);
        assert_eq!(buf, again);
    }
}
