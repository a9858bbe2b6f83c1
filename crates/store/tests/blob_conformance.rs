//! One conformance suite for the `BlobStore` trait: every check runs against local disk
//! (`LocalBlobs`), an S3-compatible bucket on a real server (`S3Blobs` on Garage, started
//! by the test harness) and the read cache in front of that bucket (`CachedBlobs`). The
//! S3 backends are skipped with a printed reason when Garage is not installed, unless `CI`
//! is set (then they fail).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use esxlcm_store::StoreError;
use esxlcm_store::blob::{BlobId, BlobStore, CachedBlobs, LocalBlobs, PART_SIZE, S3Blobs};
use esxlcm_test_support::s3::S3Server;

/// One backend under test, with the directories it lives in.
struct Backend {
    name: &'static str,
    blobs: Box<dyn BlobStore>,
    staging: PathBuf,
    _dir: tempfile::TempDir,
}

impl Backend {
    /// A staged file with `bytes`, where callers write before ingesting.
    fn stage(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.staging.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

fn local() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging");
    let blobs = LocalBlobs::new(dir.path().join("blobs"), staging.clone()).unwrap();
    Backend { name: "local", blobs: Box::new(blobs), staging, _dir: dir }
}

fn s3(server: &S3Server, prefix: &str) -> (S3Blobs, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging");
    let blobs = S3Blobs::from_url_with_env(&server.url(prefix), staging.clone(), &server.env_refs()).unwrap();
    (blobs, staging, dir)
}

/// Local disk, and, when the S3 server is there, a bucket prefix of its own for this test
/// and the cache in front of another one.
fn backends(test: &str) -> Vec<Backend> {
    let mut out = vec![local()];
    if let Some(server) = S3Server::shared_or_skip(test) {
        let (blobs, staging, dir) = s3(server, &format!("{test}/s3"));
        out.push(Backend { name: "s3", blobs: Box::new(blobs), staging, _dir: dir });
        let (inner, staging, dir) = s3(server, &format!("{test}/cached"));
        let cached = CachedBlobs::new(Box::new(inner), dir.path().join("cache"), 64 * 1024 * 1024).unwrap();
        out.push(Backend { name: "cached-s3", blobs: Box::new(cached), staging, _dir: dir });
    }
    out
}

fn read_all(mut reader: Box<dyn Read + Send>) -> Vec<u8> {
    let mut out = Vec::new();
    reader.read_to_end(&mut out).unwrap();
    out
}

/// Deterministic bytes that do not compress or repeat.
fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

#[test]
fn ingest_contains_open_size_list_delete() {
    for b in backends("roundtrip") {
        let name = b.name;
        let id = BlobId::of_bytes(b"payload one");
        assert!(!b.blobs.contains(&id).unwrap(), "{name}");
        let staged = b.stage("one.part", b"payload one");
        b.blobs.ingest(&staged, &id).unwrap();
        assert!(!staged.exists(), "{name}: the staged file is consumed");
        assert!(b.blobs.contains(&id).unwrap(), "{name}");
        assert_eq!(read_all(b.blobs.open(&id).unwrap()), b"payload one", "{name}");
        assert_eq!(b.blobs.size(&id).unwrap(), 11, "{name}");
        let two = b.blobs.put_bytes(b"payload two").unwrap();
        assert_eq!(two, BlobId::of_bytes(b"payload two"), "{name}");
        assert_eq!(b.blobs.put_bytes(b"payload two").unwrap(), two, "{name}: idempotent");
        // The same content ingested again: accepted, consumed, stored once.
        let again = b.stage("again.part", b"payload one");
        b.blobs.ingest(&again, &id).unwrap();
        assert!(!again.exists(), "{name}");
        let mut expected = vec![id.clone(), two.clone()];
        expected.sort();
        assert_eq!(b.blobs.list().unwrap(), expected, "{name}");
        b.blobs.delete(&id).unwrap();
        b.blobs.delete(&id).unwrap(); // deleting what is gone is not an error
        assert!(!b.blobs.contains(&id).unwrap(), "{name}");
        assert_eq!(b.blobs.list().unwrap(), vec![two], "{name}");
        assert!(b.blobs.open(&id).is_err(), "{name}: a deleted blob cannot be opened");
        assert!(b.blobs.size(&id).is_err(), "{name}");
        if name != "local" {
            assert!(b.blobs.local_path(&id).is_none(), "{name}: no local file to hand out");
        }
    }
}

#[test]
fn content_that_does_not_hash_to_its_name_is_refused_and_nothing_appears() {
    for b in backends("mismatch") {
        let name = b.name;
        let claimed = BlobId::of_bytes(b"what the index says");
        let staged = b.stage("evil.part", b"what the mirror sent");
        let err = b.blobs.ingest(&staged, &claimed).unwrap_err();
        assert!(matches!(err, StoreError::BlobMismatch { .. }), "{name}: {err}");
        assert!(!b.blobs.contains(&claimed).unwrap(), "{name}");
        assert!(!b.blobs.contains(&BlobId::of_bytes(b"what the mirror sent")).unwrap(), "{name}");
        assert!(b.blobs.list().unwrap().is_empty(), "{name}");
        assert!(staged.exists(), "{name}: the staged file stays for quarantine");
    }
}

#[test]
fn a_verified_batch_is_stored_once_per_content_and_consumed() {
    for b in backends("batch") {
        let name = b.name;
        let present = b.blobs.put_bytes(b"already there").unwrap();
        let files: Vec<(PathBuf, BlobId)> =
            [("a", &b"alpha"[..]), ("b", b"beta"), ("c", b"alpha"), ("d", b"already there")]
                .iter()
                .map(|(file, bytes)| (b.stage(file, bytes), BlobId::of_bytes(bytes)))
                .collect();
        b.blobs.ingest_verified(&files).unwrap();
        assert!(files.iter().all(|(f, _)| !f.exists()), "{name}: every staged file is consumed");
        let mut expected = vec![BlobId::of_bytes(b"alpha"), BlobId::of_bytes(b"beta"), present];
        expected.sort();
        assert_eq!(b.blobs.list().unwrap(), expected, "{name}");
        assert_eq!(read_all(b.blobs.open(&BlobId::of_bytes(b"beta")).unwrap()), b"beta", "{name}");
        b.blobs.ingest_verified(&[]).unwrap();
    }
}

#[test]
fn a_failed_upload_leaves_nothing_visible() {
    for b in backends("failed-upload") {
        let name = b.name;
        let good = b.stage("good.part", b"good bytes");
        let vanished = b.staging.join("vanished.part");
        let unreadable = b.staging.join("a-directory.part");
        std::fs::create_dir(&unreadable).unwrap();
        let missing_id = BlobId::of_bytes(b"never staged");
        let dir_id = BlobId::of_bytes(b"a directory is not a payload");
        assert!(b.blobs.ingest_verified(&[(vanished, missing_id.clone())]).is_err(), "{name}");
        if name != "local" {
            // An upload whose reading fails midway. (Local disk renames what it is handed:
            // `ingest_verified` trusts its caller's files, so this case is not its.)
            assert!(b.blobs.ingest_verified(&[(unreadable, dir_id.clone())]).is_err(), "{name}");
        }
        assert!(!b.blobs.contains(&missing_id).unwrap() && !b.blobs.contains(&dir_id).unwrap(), "{name}");
        assert!(b.blobs.list().unwrap().is_empty(), "{name}: {:?}", b.blobs.list().unwrap());
        // The store is still usable afterwards.
        b.blobs.ingest_verified(&[(good, BlobId::of_bytes(b"good bytes"))]).unwrap();
        assert_eq!(b.blobs.list().unwrap(), vec![BlobId::of_bytes(b"good bytes")], "{name}");
    }
}

#[test]
fn open_at_reads_from_any_offset_up_to_the_end() {
    for b in backends("open-at") {
        let name = b.name;
        let id = b.blobs.put_bytes(b"0123456789").unwrap();
        // Twice: the second time the cache (when there is one) answers.
        for round in 0..2 {
            assert_eq!(read_all(b.blobs.open_at(&id, 0).unwrap()), b"0123456789", "{name} {round}");
            assert_eq!(read_all(b.blobs.open_at(&id, 3).unwrap()), b"3456789", "{name} {round}");
            assert_eq!(read_all(b.blobs.open_at(&id, 9).unwrap()), b"9", "{name} {round}");
            assert_eq!(read_all(b.blobs.open_at(&id, 10).unwrap()), b"", "{name} {round}: at the end, nothing");
            let err = b.blobs.open_at(&id, 11).err().expect("past the end is an error").to_string();
            assert!(err.contains("offset 11 is past the end of the blob (10 bytes)"), "{name} {round}: {err}");
            let missing = BlobId::of_bytes(b"never stored");
            assert!(b.blobs.open_at(&missing, 1).is_err(), "{name}");
        }
    }
}

#[test]
fn a_blob_larger_than_a_part_round_trips_with_its_hash() {
    let len = 2 * PART_SIZE + 12_345; // three parts, the last one short
    let payload = pseudo_random(7, len);
    let id = BlobId::of_bytes(&payload);
    for b in backends("multipart") {
        let name = b.name;
        let staged = b.stage("big.part", &payload);
        b.blobs.ingest(&staged, &id).unwrap();
        assert!(!staged.exists(), "{name}");
        assert_eq!(b.blobs.size(&id).unwrap(), len as u64, "{name}");
        let (hash, read) = esxlcm_store::blob::hash_reader(&mut b.blobs.open(&id).unwrap()).unwrap();
        assert_eq!((hash, read), (id.clone(), len as u64), "{name}");
        // A range across the first part boundary.
        let offset = PART_SIZE as u64 - 3;
        let mut head = vec![0u8; 6];
        b.blobs.open_at(&id, offset).unwrap().read_exact(&mut head).unwrap();
        assert_eq!(head, payload[offset as usize..offset as usize + 6], "{name}");
        let tail = read_all(b.blobs.open_at(&id, len as u64 - 100).unwrap());
        assert_eq!(tail, payload[len - 100..], "{name}");
    }
}

#[test]
fn listing_pages_through_more_objects_than_one_page() {
    // S3 lists at most 1000 keys per request: 1100 blobs take two pages.
    let contents: Vec<Vec<u8>> = (0..1100u32).map(|i| format!("blob number {i}").into_bytes()).collect();
    let mut expected: Vec<BlobId> = contents.iter().map(|c| BlobId::of_bytes(c)).collect();
    expected.sort();
    // The cache passes listings through: local and the bucket are the two listings.
    for b in backends("paging").into_iter().filter(|b| b.name != "cached-s3") {
        let name = b.name;
        let files: Vec<(PathBuf, BlobId)> =
            contents.iter().enumerate().map(|(i, c)| (b.stage(&format!("{i}.part"), c), BlobId::of_bytes(c))).collect();
        b.blobs.ingest_verified(&files).unwrap();
        let listed = b.blobs.list().unwrap();
        assert_eq!(listed.len(), 1100, "{name}");
        assert_eq!(listed, expected, "{name}");
    }
}

#[test]
fn foreign_objects_under_the_prefix_are_not_blobs() {
    let Some(server) = S3Server::shared_or_skip("foreign_objects_under_the_prefix_are_not_blobs") else { return };
    let (blobs, _staging, _dir) = s3(server, "foreign");
    let id = blobs.put_bytes(b"real").unwrap();
    // Another prefix's blob is not listed here.
    let (other, _s, _d) = s3(server, "foreign-other");
    other.put_bytes(b"someone else's").unwrap();
    assert_eq!(blobs.list().unwrap(), vec![id]);
}

/// The server calls the store from async handlers: every call must work on a tokio
/// worker thread (a blocking wait there would panic if it were a nested `block_on`).
fn exercise_inside_a_runtime(b: &Backend) {
    let name = b.name;
    let id = b.blobs.put_bytes(b"from a worker").unwrap();
    assert!(b.blobs.contains(&id).unwrap(), "{name}");
    assert_eq!(read_all(b.blobs.open(&id).unwrap()), b"from a worker", "{name}");
    assert_eq!(read_all(b.blobs.open_at(&id, 5).unwrap()), b"a worker", "{name}");
    assert_eq!(b.blobs.size(&id).unwrap(), 13, "{name}");
    assert!(b.blobs.list().unwrap().contains(&id), "{name}");
    let staged = b.stage("w.part", b"staged in a worker");
    b.blobs.ingest(&staged, &BlobId::of_bytes(b"staged in a worker")).unwrap();
    b.blobs.delete(&id).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_from_a_multi_thread_runtime_worker_work() {
    for b in backends("in-runtime-mt") {
        exercise_inside_a_runtime(&b);
        // Dropping the store on a worker thread must not panic either.
        drop(b);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn calls_from_a_current_thread_runtime_work() {
    for b in backends("in-runtime-ct") {
        exercise_inside_a_runtime(&b);
        drop(b);
    }
}

#[test]
fn calls_from_many_plain_threads_at_once_work() {
    for b in backends("threads") {
        let name = b.name;
        let contents: Vec<Vec<u8>> = (0..8u64).map(|i| pseudo_random(i, 100_000 + i as usize)).collect();
        let ids: Vec<BlobId> = contents.iter().map(|c| b.blobs.put_bytes(c).unwrap()).collect();
        std::thread::scope(|s| {
            for (id, bytes) in ids.iter().zip(&contents) {
                let blobs = &b.blobs;
                s.spawn(move || {
                    for _ in 0..3 {
                        assert_eq!(&read_all(blobs.open(id).unwrap()), bytes, "{name}");
                    }
                });
            }
        });
    }
}

#[test]
fn a_reader_dropped_halfway_does_not_disturb_the_next_one() {
    for b in backends("dropped-reader") {
        let name = b.name;
        let payload = pseudo_random(3, 3 * 1024 * 1024);
        let id = b.blobs.put_bytes(&payload).unwrap();
        for _ in 0..5 {
            let mut r = b.blobs.open(&id).unwrap();
            let mut part = vec![0u8; 4096];
            r.read_exact(&mut part).unwrap();
            assert_eq!(part, payload[..4096], "{name}");
        }
        assert_eq!(read_all(b.blobs.open(&id).unwrap()), payload, "{name}");
    }
}

// --- S3-specific: configuration and errors -------------------------------------------

#[test]
fn refused_credentials_name_the_bucket_and_what_to_do_but_not_the_secret() {
    let Some(server) = S3Server::shared_or_skip("refused_credentials") else { return };
    let dir = tempfile::tempdir().unwrap();
    let wrong_secret = "0000000000000000000000000000000000000000000000000000000000000bad";
    let mut vars = server.env_refs();
    vars.retain(|(k, _)| *k != "AWS_SECRET_ACCESS_KEY");
    vars.push(("AWS_SECRET_ACCESS_KEY", wrong_secret));
    let err = S3Blobs::from_url_with_env(&server.url("creds"), dir.path().join("staging"), &vars).unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&format!("s3://{}/creds/", server.bucket())), "{text}");
    assert!(text.contains("AWS_SECRET_ACCESS_KEY"), "names what to check: {text}");
    assert!(!text.contains(wrong_secret) && !text.contains(server.secret()), "no secret in: {text}");
    assert!(!format!("{err:?}").contains(wrong_secret), "no secret in the debug form either");
}

#[test]
fn a_missing_object_is_reported_as_missing_with_its_key() {
    let Some(server) = S3Server::shared_or_skip("missing_object") else { return };
    let (blobs, _staging, _dir) = s3(server, "missing");
    let id = BlobId::of_bytes(b"not there");
    let err = blobs.open(&id).err().expect("missing");
    match &err {
        StoreError::ObjectStore { url, missing, .. } => {
            assert!(*missing, "{err}");
            let key = format!("s3://{}/missing/sha256/{}/{}", server.bucket(), &id.as_str()[..2], id.as_str());
            assert_eq!(url, &key);
        }
        other => panic!("expected an object store error, got {other}"),
    }
    assert!(format!("{:?}", blobs).contains("S3Blobs"));
}

#[test]
fn an_unreachable_endpoint_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let vars = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "GK00"),
        ("AWS_SECRET_ACCESS_KEY", "sekrit-value-42"),
        ("AWS_REGION", "garage"),
        ("AWS_ALLOW_HTTP", "true"),
    ];
    let err = S3Blobs::from_url_with_env("s3://nowhere/p", dir.path().join("staging"), &vars).unwrap_err().to_string();
    assert!(err.starts_with("s3://nowhere/p/"), "{err}");
    assert!(err.contains("AWS_ENDPOINT_URL"), "{err}");
    assert!(!err.contains("sekrit-value-42"), "{err}");
    let err =
        S3Blobs::from_url_with_env("https://nowhere/p", dir.path().join("staging"), &vars).unwrap_err().to_string();
    assert!(err.contains("expected s3://BUCKET"), "{err}");
}

// --- the cache in front of the bucket ------------------------------------------------

/// Counts the inner store's whole-object reads.
struct Counting {
    inner: Box<dyn BlobStore>,
    opens: Arc<AtomicUsize>,
}

impl BlobStore for Counting {
    fn contains(&self, id: &BlobId) -> Result<bool, StoreError> {
        self.inner.contains(id)
    }
    fn open(&self, id: &BlobId) -> Result<Box<dyn Read + Send>, StoreError> {
        self.opens.fetch_add(1, Ordering::SeqCst);
        self.inner.open(id)
    }
    fn open_at(&self, id: &BlobId, offset: u64) -> Result<Box<dyn Read + Send>, StoreError> {
        self.inner.open_at(id, offset)
    }
    fn ingest(&self, staged: &Path, id: &BlobId) -> Result<(), StoreError> {
        self.inner.ingest(staged, id)
    }
    fn ingest_verified(&self, staged: &[(PathBuf, BlobId)]) -> Result<(), StoreError> {
        self.inner.ingest_verified(staged)
    }
    fn put_bytes(&self, bytes: &[u8]) -> Result<BlobId, StoreError> {
        self.inner.put_bytes(bytes)
    }
    fn delete(&self, id: &BlobId) -> Result<(), StoreError> {
        self.inner.delete(id)
    }
    fn list(&self) -> Result<Vec<BlobId>, StoreError> {
        self.inner.list()
    }
    fn size(&self, id: &BlobId) -> Result<u64, StoreError> {
        self.inner.size(id)
    }
    fn local_path(&self, id: &BlobId) -> Option<PathBuf> {
        self.inner.local_path(id)
    }
}

/// A cache over a bucket prefix of its own, counting the bucket reads.
fn counted_cache(server: &S3Server, prefix: &str, dir: &Path, max: u64) -> (CachedBlobs, Arc<AtomicUsize>) {
    let staging = dir.join("staging");
    let inner = S3Blobs::from_url_with_env(&server.url(prefix), staging, &server.env_refs()).unwrap();
    let opens = Arc::new(AtomicUsize::new(0));
    let counting = Counting { inner: Box::new(inner), opens: opens.clone() };
    (CachedBlobs::new(Box::new(counting), dir.join("cache"), max).unwrap(), opens)
}

fn cache_file(dir: &Path, id: &BlobId) -> PathBuf {
    dir.join("cache/sha256").join(&id.as_str()[..2]).join(id.as_str())
}

#[test]
fn the_cache_serves_repeats_locally_and_keeps_under_its_cap() {
    let Some(server) = S3Server::shared_or_skip("cache_cap") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (cache, opens) = counted_cache(server, "cache-cap", dir.path(), 300_000);
    let blobs: Vec<(BlobId, Vec<u8>)> = (0..4u64)
        .map(|i| {
            let bytes = pseudo_random(100 + i, 100_000);
            (cache.put_bytes(&bytes).unwrap(), bytes)
        })
        .collect();
    for (id, bytes) in &blobs[..3] {
        assert_eq!(&read_all(cache.open(id).unwrap()), bytes);
    }
    assert_eq!(opens.load(Ordering::SeqCst), 3);
    assert_eq!(cache.cached_bytes(), 300_000);
    // Hits: no bucket read.
    for (id, bytes) in &blobs[..3] {
        assert_eq!(&read_all(cache.open(id).unwrap()), bytes);
    }
    assert_eq!(opens.load(Ordering::SeqCst), 3);
    // blobs[0] is the least recently used: the fourth evicts it.
    read_all(cache.open(&blobs[1].0).unwrap());
    read_all(cache.open(&blobs[2].0).unwrap());
    assert_eq!(&read_all(cache.open(&blobs[3].0).unwrap()), &blobs[3].1);
    assert!(cache.cached_bytes() <= 300_000, "{}", cache.cached_bytes());
    assert!(!cache.is_cached(&blobs[0].0) && !cache_file(dir.path(), &blobs[0].0).exists());
    assert!(cache.is_cached(&blobs[3].0) && cache_file(dir.path(), &blobs[3].0).exists());
    assert_eq!(&read_all(cache.open(&blobs[0].0).unwrap()), &blobs[0].1, "an evicted blob is fetched again");
    assert_eq!(opens.load(Ordering::SeqCst), 5);
    assert!(cache.cached_bytes() <= 300_000);
}

#[test]
fn a_blob_larger_than_the_cache_is_streamed_not_cached() {
    let Some(server) = S3Server::shared_or_skip("cache_too_big") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (cache, opens) = counted_cache(server, "cache-big", dir.path(), 50_000);
    let bytes = pseudo_random(5, 120_000);
    let id = cache.put_bytes(&bytes).unwrap();
    assert_eq!(read_all(cache.open(&id).unwrap()), bytes);
    assert_eq!(read_all(cache.open(&id).unwrap()), bytes);
    assert_eq!(opens.load(Ordering::SeqCst), 2);
    assert!(!cache.is_cached(&id));
    assert_eq!(cache.cached_bytes(), 0);
    assert_eq!(std::fs::read_dir(dir.path().join("cache/tmp")).unwrap().count(), 0, "no partial file left");
}

#[test]
fn a_corrupt_cache_entry_is_dropped_and_fetched_again_never_served() {
    let Some(server) = S3Server::shared_or_skip("cache_corrupt") else { return };
    let dir = tempfile::tempdir().unwrap();
    let bytes = pseudo_random(9, 80_000);
    let id = {
        let (cache, _) = counted_cache(server, "cache-corrupt", dir.path(), 1 << 20);
        let id = cache.put_bytes(&bytes).unwrap();
        assert_eq!(read_all(cache.open(&id).unwrap()), bytes);
        assert!(cache_file(dir.path(), &id).exists());
        id
    };
    // Flip one byte of the entry while the node is down (bit rot, a bad disk, tampering).
    let file = cache_file(dir.path(), &id);
    let mut on_disk = std::fs::read(&file).unwrap();
    on_disk[40_000] ^= 0xff;
    std::fs::write(&file, &on_disk).unwrap();
    let (cache, opens) = counted_cache(server, "cache-corrupt", dir.path(), 1 << 20);
    assert!(cache.is_cached(&id), "an entry from the last run is known");
    assert_eq!(read_all(cache.open(&id).unwrap()), bytes, "the bucket's bytes, not the corrupt copy");
    assert_eq!(opens.load(Ordering::SeqCst), 1, "fetched again");
    assert_eq!(std::fs::read(&file).unwrap(), bytes, "the entry is replaced by a sound one");
    assert_eq!(read_all(cache.open_at(&id, 79_990).unwrap()), bytes[79_990..]);
    assert_eq!(opens.load(Ordering::SeqCst), 1);
    // A sound entry from the last run is checked once and then served.
    drop(cache);
    let (cache, opens) = counted_cache(server, "cache-corrupt", dir.path(), 1 << 20);
    assert_eq!(read_all(cache.open(&id).unwrap()), bytes);
    assert_eq!(opens.load(Ordering::SeqCst), 0, "served from the cache");
}

#[test]
fn deleting_through_the_cache_drops_the_entry_and_the_object() {
    let Some(server) = S3Server::shared_or_skip("cache_delete") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (cache, _) = counted_cache(server, "cache-delete", dir.path(), 1 << 20);
    let id = cache.put_bytes(b"short-lived").unwrap();
    read_all(cache.open(&id).unwrap());
    assert!(cache.is_cached(&id));
    cache.delete(&id).unwrap();
    assert!(!cache.is_cached(&id) && !cache_file(dir.path(), &id).exists());
    assert!(!cache.contains(&id).unwrap());
    assert!(cache.open(&id).is_err());
}
