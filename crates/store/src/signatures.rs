//! Signature policy on every ingest (sync, push, import of bundles into sources): each VIB
//! that enters the store is checked against the store's trust — VMware's built-in VIB
//! signing certificate plus the anchors in `STORE/trust/*.pem` (the API's trusted root
//! chains are written there too) — per its source's [`SignaturePolicy`]:
//!
//! * `require` (the default): a VIB of acceptance level VMwareCertified, VMwareAccepted or
//!   PartnerSupported must carry a signature that verifies over its descriptor and chains
//!   to an anchor; a CommunitySupported VIB may be unsigned, but a signature it carries must
//!   verify. A refused VIB is quarantined and named, and nothing new is published, as for a
//!   checksum mismatch.
//! * `warn`: the same judgement, logged, the VIB kept.
//! * `off`: no signature is read.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use esxlcm_depot::model::{AcceptanceLevel, Vib};
use esxlcm_depot::vib::signature::{TrustStore, VibVerdict, verify_vib};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// What a source does about VIB signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignaturePolicy {
    #[default]
    Require,
    Warn,
    Off,
}

impl SignaturePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Require => "require",
            Self::Warn => "warn",
            Self::Off => "off",
        }
    }
}

impl fmt::Display for SignaturePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SignaturePolicy {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        match s {
            "require" => Ok(Self::Require),
            "warn" => Ok(Self::Warn),
            "off" => Ok(Self::Off),
            other => Err(StoreError::InvalidSource(format!("unknown signature policy '{other}' (require, warn, off)"))),
        }
    }
}

/// `STORE/trust/`: PEM files of the anchors the store trusts besides VMware's.
pub fn trust_dir(store_root: &Path) -> PathBuf {
    store_root.join("trust")
}

/// The largest anchor file read.
const MAX_ANCHOR_FILE: u64 = 1 << 20;

/// The store's trust: the built-in anchors and every `*.pem` of [`trust_dir`].
pub fn trust_store(store_root: &Path) -> Result<TrustStore, StoreError> {
    let mut pem = Vec::new();
    let dir = trust_dir(store_root);
    match fs::read_dir(&dir) {
        Ok(entries) => {
            let mut files: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "pem"))
                .collect();
            files.sort();
            for f in files {
                let meta = fs::metadata(&f).map_err(|e| StoreError::io(&f, e))?;
                if !meta.is_file() || meta.len() > MAX_ANCHOR_FILE {
                    return Err(StoreError::InvalidSource(format!(
                        "{}: not a PEM certificate file (a regular file under 1 MiB)",
                        f.display()
                    )));
                }
                pem.extend(fs::read(&f).map_err(|e| StoreError::io(&f, e))?);
                pem.push(b'\n');
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(&dir, e)),
    }
    if pem.iter().all(u8::is_ascii_whitespace) {
        return Ok(TrustStore::builtin().clone());
    }
    TrustStore::from_pem(&pem)
        .map(TrustStore::with_builtin)
        .map_err(|e| StoreError::InvalidSource(format!("{}: {e}", dir.display())))
}

/// What the policy says of one VIB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    Accepted,
    /// Kept, with why it would have been refused (policy `warn`).
    Warned(String),
    /// Quarantined: why.
    Refused(String),
}

/// Judge the VIB file at `path` (verified against its checksum already).
pub fn judge(path: &Path, policy: SignaturePolicy, trust: &TrustStore) -> Judgement {
    if policy == SignaturePolicy::Off {
        return Judgement::Accepted;
    }
    let problem = match problem(path, trust) {
        Ok(None) => return Judgement::Accepted,
        Ok(Some(p)) | Err(p) => p,
    };
    match policy {
        SignaturePolicy::Warn => Judgement::Warned(problem),
        _ => Judgement::Refused(problem),
    }
}

/// Why the VIB at `path` may not enter, if it may not.
fn problem(path: &Path, trust: &TrustStore) -> Result<Option<String>, String> {
    let file = fs::File::open(path).map_err(|e| format!("signature: cannot read the VIB: {e}"))?;
    let summary = esxlcm_depot::vib::read_vib_file(std::io::BufReader::new(file))
        .map_err(|e| format!("signature: not a readable VIB: {e}"))?;
    let vib = Vib::parse(&summary.descriptor).map_err(|e| format!("signature: unreadable descriptor: {e}"))?;
    let level = vib.acceptance_level;
    let needs_trust = level != AcceptanceLevel::Community;
    let sig = summary.signature.unwrap_or_default();
    Ok(match verify_vib(&sig, &summary.descriptor, trust) {
        VibVerdict::Verified { .. } => None,
        VibVerdict::Unsigned if !needs_trust => None,
        VibVerdict::Unsigned => Some(format!(
            "signature-missing: the VIB is unsigned, but acceptance level {} requires a trusted signature",
            level.as_str()
        )),
        VibVerdict::Invalid(e) => Some(format!("signature-invalid: {e}")),
        VibVerdict::Untrusted { .. } if !needs_trust => None,
        VibVerdict::Untrusted { failure, .. } => Some(format!(
            "signature-untrusted: {} (acceptance level {}; add the signer's CA to the store's trust: \
             STORE/trust/NAME.pem, or the API's trusted root chains)",
            failure.message,
            level.as_str()
        )),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn policies_read_and_print() {
        for p in [SignaturePolicy::Require, SignaturePolicy::Warn, SignaturePolicy::Off] {
            assert_eq!(p.as_str().parse::<SignaturePolicy>().unwrap(), p);
        }
        assert!("maybe".parse::<SignaturePolicy>().unwrap_err().to_string().contains("require, warn, off"));
        assert_eq!(SignaturePolicy::default(), SignaturePolicy::Require);
    }

    #[test]
    fn without_anchor_files_vmware_is_trusted_and_a_broken_anchor_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        trust_store(dir.path()).unwrap();
        fs::create_dir(trust_dir(dir.path())).unwrap();
        fs::write(trust_dir(dir.path()).join("junk.pem"), "not a certificate").unwrap();
        assert!(trust_store(dir.path()).is_err(), "a broken anchor file is an error, not silently ignored");
    }

    #[test]
    fn garbage_is_refused_under_require_and_kept_under_warn_and_off() {
        let dir = tempfile::tempdir().unwrap();
        let vib = dir.path().join("x.vib");
        fs::write(&vib, b"not an ar archive").unwrap();
        let trust = TrustStore::builtin();
        assert!(
            matches!(judge(&vib, SignaturePolicy::Require, trust), Judgement::Refused(r) if r.contains("not a readable VIB"))
        );
        assert!(matches!(judge(&vib, SignaturePolicy::Warn, trust), Judgement::Warned(_)));
        assert_eq!(judge(&vib, SignaturePolicy::Off, trust), Judgement::Accepted);
    }
}
