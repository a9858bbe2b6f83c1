//! An administrator's session: log in through the form, look around, log out.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use crate::harness::{ADMIN, Browser, ONE_BROWSER, Service, browser_wanted};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_logs_in_looks_around_and_logs_out() {
    if !browser_wanted() {
        return;
    }
    let _one = ONE_BROWSER.lock().await;
    let svc = Service::start().await;
    let b = Browser::start().await;
    b.goto(&svc.url("/")).await;
    assert_eq!(b.path().await, "/ui/login");
    b.checked("login").await;
    // The console check sees what it must refuse: a failed load is an error.
    b.goto(&svc.url("/ui/assets/no-such-file.js")).await;
    assert!(b.console().await.iter().any(|e| e["level"] == "SEVERE"), "a 404 shows in the console");
    b.login(&svc, ADMIN).await;
    assert_eq!(b.path().await, "/ui/");
    let home = b.checked("home").await;
    assert!(home.contains("demo"), "the demo depot is on the home page:\n{home}");
    assert!(home.contains("Store health"));
    b.find("form[action='/ui/logout'] button").await.click().await.unwrap();
    b.wait_text("Log in to esxlcm", Duration::from_secs(10)).await;
    b.goto(&svc.url("/ui/")).await;
    assert_eq!(b.path().await, "/ui/login", "logged out: pages ask for a login again");
    b.assert_clean_console().await;
    b.stop().await;
}
