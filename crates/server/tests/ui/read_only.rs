//! A read-only user sees every page and no control that changes anything; a change it
//! posts anyway (with a valid session and CSRF token) is refused with 403 and changes
//! nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::harness::{Browser, ONE_BROWSER, Service, VIEWER, browser_wanted};

/// The pages a read-only user looks at.
const PAGES: &[(&str, &str)] = &[
    ("/ui/", "ro-home"),
    ("/ui/depots", "ro-depots"),
    ("/ui/depots/demo", "ro-depot"),
    ("/ui/content/components", "ro-components"),
    ("/ui/images", "ro-images"),
    ("/ui/compliance", "ro-compliance"),
    ("/ui/exports", "ro-exports"),
    ("/ui/tasks", "ro-tasks"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_user_sees_no_edit_controls_and_is_refused_when_posting() {
    if !browser_wanted() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let svc = Service::start().await;
    let b = Browser::start().await;
    b.login(&svc, VIEWER).await;
    for (path, shot) in PAGES {
        let text = b.page(&svc, path, shot).await;
        assert!(text.contains("read-only"), "{path}: the user's role is shown");
        let forms = b.client.find_all(fantoccini::Locator::Css("form[method=post]")).await.unwrap();
        let mut actions = Vec::new();
        for f in forms {
            actions.push(f.attr("action").await.unwrap().unwrap_or_default());
        }
        assert_eq!(actions, ["/ui/logout"], "{path}: a read-only user gets no edit controls");
    }

    // Posting anyway, as the browser would with this session: refused by the API's roles.
    let cookie = b.session_cookie().await;
    let http = svc.http();
    let page = http.get(svc.url("/ui/depots")).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).and_then(|r| r.split('"').next()).unwrap().to_owned();
    let origin = svc.base.clone();
    for (path, form) in [
        ("/ui/depots/online", vec![("csrf", csrf.as_str()), ("location", "https://depot.example.com/index.xml")]),
        ("/ui/depots/sync", vec![("csrf", csrf.as_str())]),
        ("/ui/images/clusters", vec![("csrf", csrf.as_str()), ("name", "sneaky")]),
        ("/ui/depots/demo/rollback", vec![("csrf", csrf.as_str()), ("snapshot", "1")]),
        ("/ui/depots/demo/signatures", vec![("csrf", csrf.as_str()), ("policy", "off")]),
        ("/ui/depots/demo/schedule", vec![("csrf", csrf.as_str()), ("schedule", "hourly :05")]),
        ("/ui/exports", vec![("csrf", csrf.as_str()), ("target", "clusters:domain-c1"), ("json", "1")]),
    ] {
        let resp = http
            .post(svc.url(path))
            .header("cookie", &cookie)
            .header("origin", &origin)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encode(&form))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{path}");
        let body = resp.text().await.unwrap();
        assert!(body.contains("read-only"), "{path}: {body}");
    }
    // Without the token, even an administrator's form would be refused (403 as well).
    let resp = http
        .post(svc.url("/ui/images/clusters"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(encode(&[("name", "x")]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let clusters =
        http.get(svc.url("/ui/images")).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    assert!(!clusters.contains("sneaky"), "nothing was made");
    b.assert_clean_console().await;
    b.stop().await;
}

fn encode(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish()
}
