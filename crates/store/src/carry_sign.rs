//! Signed air-gap packages: `mirror export --sign-key KEY` signs the export's `SHA256SUMS`
//! (which names the manifest's and every chunk's sha-256) with ed25519, into
//! `SHA256SUMS.sig`; `mirror import --verify-key KEY.pub` refuses, before it writes
//! anything, an export without a signature, one signed by another key, or one whose
//! `SHA256SUMS` was changed; the import's own checks then tie the manifest and every chunk
//! to those sums, so no byte of the package can change unnoticed.
//!
//! Keys are PEM files any tool reads: the secret key as PKCS#8 (`openssl pkey -in KEY
//! -noout -text`), the public key as SubjectPublicKeyInfo (`KEY.pub`). A key's id is the
//! first 16 hex digits of the sha-256 of its 32 public bytes, shown in messages.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding,
};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::carry::SUMS;
use crate::error::StoreError;

/// The signature file beside `SHA256SUMS`.
pub const SIGNATURE: &str = "SHA256SUMS.sig";
const SCHEMA: &str = "esxlcm.mirror.export-signature/1";
/// Key files are small; anything larger is not one.
const MAX_KEY_FILE: u64 = 64 * 1024;

fn err(path: &Path, message: impl Into<String>) -> StoreError {
    StoreError::Carry { path: path.to_path_buf(), message: message.into() }
}

/// The first 16 hex digits of the sha-256 of the public key's bytes.
fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// A package signing key (secret). `Debug` shows its id only.
pub struct PackageKey {
    key: SigningKey,
}

impl fmt::Debug for PackageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PackageKey").field("id", &self.id()).finish_non_exhaustive()
    }
}

impl PackageKey {
    /// Read a PKCS#8 PEM secret key made by [`keygen`] (or `openssl genpkey -algorithm ed25519`).
    pub fn load(path: &Path) -> Result<Self, StoreError> {
        let text = read_small(path)?;
        let key = SigningKey::from_pkcs8_pem(&text)
            .map_err(|_| err(path, "not an ed25519 secret key in PKCS#8 PEM (make one with `esxlcm mirror keygen`)"))?;
        Ok(Self { key })
    }

    pub fn id(&self) -> String {
        key_id(&self.key.verifying_key())
    }
}

/// A package verification key (public).
#[derive(Debug, Clone)]
pub struct PackageVerifier {
    key: VerifyingKey,
}

impl PackageVerifier {
    /// Read a SubjectPublicKeyInfo PEM public key (`KEY.pub` of [`keygen`]).
    pub fn load(path: &Path) -> Result<Self, StoreError> {
        let text = read_small(path)?;
        let key = VerifyingKey::from_public_key_pem(&text).map_err(|_| {
            err(path, "not an ed25519 public key in PEM (give the KEY.pub that `esxlcm mirror keygen` made)")
        })?;
        Ok(Self { key })
    }

    pub fn id(&self) -> String {
        key_id(&self.key)
    }
}

fn read_small(path: &Path) -> Result<String, StoreError> {
    let meta = fs::metadata(path).map_err(|e| StoreError::io(path, e))?;
    if !meta.is_file() || meta.len() > MAX_KEY_FILE {
        return Err(err(path, "not a key file (a regular file of a few hundred bytes)"));
    }
    fs::read_to_string(path).map_err(|e| StoreError::io(path, e))
}

/// The key files [`keygen`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFiles {
    pub secret: PathBuf,
    pub public: PathBuf,
    pub id: String,
}

/// Make a new key pair: `secret` (PKCS#8 PEM, readable by the owner only) and
/// `secret` + `.pub`. Refuses to overwrite either file.
pub fn keygen(secret: &Path) -> Result<KeyFiles, StoreError> {
    let public = PathBuf::from(format!("{}.pub", secret.display()));
    for p in [secret, public.as_path()] {
        if p.exists() {
            return Err(err(p, "exists already; keys are never overwritten (choose another name)"));
        }
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| err(secret, format!("no randomness for a key: {e}")))?;
    let key = SigningKey::from_bytes(&seed);
    let secret_pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| err(secret, e.to_string()))?;
    let public_pem = key.verifying_key().to_public_key_pem(LineEnding::LF).map_err(|e| err(&public, e.to_string()))?;
    write_new(secret, secret_pem.as_bytes(), 0o600)?;
    write_new(&public, public_pem.as_bytes(), 0o644)?;
    Ok(KeyFiles { secret: secret.to_path_buf(), public, id: key_id(&key.verifying_key()) })
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StoreError> {
    use std::io::Write as _;
    let mut options = fs::File::options();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = options.open(path).map_err(|e| StoreError::io(path, e))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| StoreError::io(path, e))
}

#[derive(Serialize, Deserialize)]
struct SignatureFile {
    schema: String,
    algorithm: String,
    key_id: String,
    /// Hex, 64 bytes.
    signature: String,
}

/// Sign the export in `dir` (its `SHA256SUMS`, written already) into `SHA256SUMS.sig`.
pub(crate) fn sign(dir: &Path, key: &PackageKey) -> Result<(), StoreError> {
    let sums_path = dir.join(SUMS);
    let sums = fs::read(&sums_path).map_err(|e| StoreError::io(&sums_path, e))?;
    let signature = key.key.sign(&sums);
    let file = SignatureFile {
        schema: SCHEMA.into(),
        algorithm: "ed25519".into(),
        key_id: key.id(),
        signature: hex::encode(signature.to_bytes()),
    };
    let path = dir.join(SIGNATURE);
    let json = serde_json::to_vec_pretty(&file).map_err(|e| err(&path, e.to_string()))?;
    crate::carry::write_durable(&path, &json)
}

/// Check the export in `dir` is signed by `verifier`'s key and its `SHA256SUMS` unchanged.
pub(crate) fn verify(dir: &Path, verifier: &PackageVerifier) -> Result<(), StoreError> {
    let path = dir.join(SIGNATURE);
    let text = match fs::metadata(&path) {
        Ok(m) if m.is_file() && m.len() <= MAX_KEY_FILE => fs::read(&path).map_err(|e| StoreError::io(&path, e))?,
        Ok(_) => return Err(err(&path, "is not a signature file")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(err(
                &path,
                format!(
                    "missing: this export is not signed, and --verify-key asks for one signed by key {}; \
                     export it again with `esxlcm mirror export --sign-key KEY`",
                    verifier.id()
                ),
            ));
        }
        Err(e) => return Err(StoreError::io(&path, e)),
    };
    let file: SignatureFile =
        serde_json::from_slice(&text).map_err(|_| err(&path, "unreadable (not an esxlcm export signature)"))?;
    if file.schema != SCHEMA || file.algorithm != "ed25519" {
        return Err(err(&path, format!("schema '{}' / algorithm '{}' is not ours", file.schema, file.algorithm)));
    }
    if file.key_id != verifier.id() {
        return Err(err(
            &path,
            format!(
                "signed by key {}, not by key {} that --verify-key names; nothing is imported",
                file.key_id,
                verifier.id()
            ),
        ));
    }
    let bytes: [u8; 64] = hex::decode(&file.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| err(&path, "the signature is not 64 bytes of hex"))?;
    let sums_path = dir.join(SUMS);
    let sums = fs::read(&sums_path).map_err(|e| StoreError::io(&sums_path, e))?;
    verifier.key.verify(&sums, &Signature::from_bytes(&bytes)).map_err(|_| {
        err(
            &sums_path,
            format!("does not match its signature by key {}: the package was changed after it was signed; nothing is imported", verifier.id()),
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_signed_package_verifies_and_any_change_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let keys = keygen(&dir.path().join("site.key")).unwrap();
        assert!(keygen(&dir.path().join("site.key")).is_err(), "never overwritten");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(fs::metadata(&keys.secret).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let key = PackageKey::load(&keys.secret).unwrap();
        let verifier = PackageVerifier::load(&keys.public).unwrap();
        assert_eq!((key.id(), verifier.id()), (keys.id.clone(), keys.id.clone()));
        assert!(!format!("{key:?}").contains("BEGIN"), "the secret never shows");

        let pkg = dir.path().join("pkg");
        fs::create_dir(&pkg).unwrap();
        fs::write(pkg.join(SUMS), "aa  esxlcm-export.json\nbb  chunk-00001.bin\n").unwrap();
        let unsigned = verify(&pkg, &verifier).unwrap_err().to_string();
        assert!(unsigned.contains("not signed"), "{unsigned}");
        sign(&pkg, &key).unwrap();
        verify(&pkg, &verifier).unwrap();

        let other = keygen(&dir.path().join("other.key")).unwrap();
        let wrong = verify(&pkg, &PackageVerifier::load(&other.public).unwrap()).unwrap_err().to_string();
        assert!(wrong.contains(&keys.id) && wrong.contains(&other.id), "{wrong}");

        fs::write(pkg.join(SUMS), "aa  esxlcm-export.json\ncc  chunk-00001.bin\n").unwrap();
        let tampered = verify(&pkg, &verifier).unwrap_err().to_string();
        assert!(tampered.contains("changed after it was signed"), "{tampered}");

        let not_a_key = PackageKey::load(&keys.public).unwrap_err().to_string();
        assert!(not_a_key.contains("keygen"), "{not_a_key}");
    }
}
