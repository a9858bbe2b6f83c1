//! `esxlcm mirror add --payloads on-demand` end to end: the sync transfers metadata only;
//! `serve --store` fetches a VIB on its first request (verified, stored, served) and serves
//! it from the store after; a corrupt upstream VIB is a 502 naming it (quarantined, never
//! served); an unreachable upstream is a 502 that says so; `mirror verify` reports what is
//! not fetched yet without calling it a problem.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::mirror_support::*;

fn vibs(dir: &Path) -> Vec<String> {
    tree(dir).into_keys().filter(|k| k.ends_with(".vib")).collect()
}

#[test]
fn on_demand_vibs_are_fetched_on_first_request_and_served_from_the_store_after() {
    let dir = tempfile::tempdir().unwrap();
    let up = dir.path().join("up");
    generate(2, &up);
    let upstream = SlowServer::start(&up, 1 << 20, Duration::ZERO);
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    ok(&["mirror", "--store", s, "add", "lazy", &upstream.url("vmw-depot-index.xml"), "--payloads", "on-demand"]);
    let listed = ok(&["mirror", "--store", s, "list"]);
    assert!(listed.stdout.contains("on-demand"), "{}", listed.stdout);

    let all = vibs(&up);
    let synced = ok(&["mirror", "--store", s, "sync"]);
    assert!(synced.stdout.contains("lazy: published snapshot 1"), "{}", synced.stdout);
    assert!(synced.stdout.contains(&format!("{} left upstream", all.len())), "{}", synced.stdout);
    assert_eq!(upstream.requests.load(Ordering::SeqCst), 3, "vendor list, vendor index, metadata.zip");
    let v = verify_json(&store);
    assert_eq!((v["clean"].as_bool(), v["not_fetched"].as_u64()), (Some(true), Some(all.len() as u64)), "{v}");
    let text = ok(&["mirror", "--store", s, "verify"]);
    assert!(
        text.stdout.contains(&format!("{} payloads of on-demand sources not fetched yet", all.len())),
        "{}",
        text.stdout
    );

    let served = serve_store(&store);
    let client = reqwest::blocking::Client::new();
    let get = |path: &str| client.get(format!("{}{path}", served.base)).send().unwrap();

    // First request: fetched upstream, verified, stored and served.
    let first = &all[0];
    let r = get(&format!("lazy/{first}"));
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().as_ref(), std::fs::read(up.join(first)).unwrap().as_slice());
    assert_eq!(upstream.requests.load(Ordering::SeqCst), 4);
    // Again, and by its snapshot URL: from the store.
    for path in [format!("lazy/{first}"), format!("lazy/@1/{first}")] {
        let r = get(&path);
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.bytes().unwrap().as_ref(), std::fs::read(up.join(first)).unwrap().as_slice());
    }
    assert_eq!(upstream.requests.load(Ordering::SeqCst), 4, "no upstream request for a stored VIB");
    assert!(store.join("published/lazy").join(first).is_file(), "linked into the published tree");

    // A snapshot URL fetches too.
    let second = &all[1];
    assert_eq!(get(&format!("lazy/@1/{second}")).status(), 200);
    assert_eq!(upstream.requests.load(Ordering::SeqCst), 5);

    // A corrupt upstream VIB: 502 naming it, quarantined, not stored.
    let bad = &all[2];
    let mut bytes = std::fs::read(up.join(bad)).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(up.join(bad), &bytes).unwrap();
    let r = get(&format!("lazy/{bad}"));
    assert_eq!(r.status(), 502);
    let bad_id = Path::new(bad).file_stem().unwrap().to_string_lossy().into_owned();
    let body = r.text().unwrap();
    assert!(body.contains(&bad_id) && body.contains("quarantined"), "{body}");
    assert!(!store.join("published/lazy").join(bad).exists());
    let status = ok(&["mirror", "--store", s, "status"]);
    assert!(status.stdout.contains("quarantined payloads: 1"), "{}", status.stdout);

    // Upstream gone: a 502 that says it could not be fetched.
    drop(upstream);
    let third = &all[3];
    let r = get(&format!("lazy/{third}"));
    assert_eq!(r.status(), 502);
    let body = r.text().unwrap();
    let third_id = Path::new(third).file_stem().unwrap().to_string_lossy().into_owned();
    assert!(body.contains(&third_id) && body.contains("could not be fetched"), "{body}");

    // Anything else missing is still an ordinary 404.
    assert_eq!(get("lazy/vmw/vib20/none/none.vib").status(), 404);
    drop(served);

    let v = verify_json(&store);
    assert_eq!((v["clean"].as_bool(), v["not_fetched"].as_u64()), (Some(true), Some(all.len() as u64 - 2)), "{v}");
}
