//! `esx.settings.clusters.enablement.software` and `esx.settings.hosts.enablement.software`.
//! esxlcm manages every cluster and standalone host with a single image (there are no
//! baselines here), so `get` always answers enabled. `check` runs the checks that mean
//! something without host connections, over what esxlcm knows:
//!
//! * `SOFTWARE_SPECIFICATION_EXISTENCE` — a desired image has been committed;
//! * `SOFTWARE` — every host has a posted installed state that reads;
//! * `VERSION` — each posted host runs ESXi 7.0 or later (images need a base image).
//!
//! `STATELESSNESS`, `VSAN_WITNESS_ELIGIBILITY` and `VUM_REMEDIATION` are about Auto Deploy,
//! vSAN witnesses and baselines, none of which esxlcm has: they are not reported. `enable`
//! runs the checks (unless `skip_software_check`), fails on errors, and records who enabled.

use std::collections::BTreeSet;

use chrono::Utc;
use esxlcm_solver::host_state::HostState;
use esxlcm_solver::{Notification, Severity};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::image_wire::notifications;
use super::targets::{self, Target};
use crate::api::errors::{ApiError, ErrorKind, Message};
use crate::api::handler::{Ctx, HandlerFuture, Out};
use crate::api::persist::{Enablement, Host, ServerState};
use crate::api::typed::format_datetime;

const SPEC_EXISTENCE: &str = "SOFTWARE_SPECIFICATION_EXISTENCE";
const SOFTWARE: &str = "SOFTWARE";
const VERSION: &str = "VERSION";

/// The oldest ESXi a single image can manage.
const MIN_MAJOR: u64 = 7;

#[derive(Deserialize, Default)]
struct CheckSpec {
    #[serde(default)]
    checks_to_skip: BTreeSet<String>,
}

#[derive(Deserialize, Default)]
struct EnableSpec {
    #[serde(default)]
    skip_software_check: bool,
}

fn note(id: &str, severity: Severity, text: String, resolution: Option<String>) -> Notification {
    let n = Notification::new(&format!("com.vmware.esxlcm.enablement.{id}"), severity, text, Vec::new());
    match resolution {
        Some(r) => n.with_resolution(r, Vec::new()),
        None => n,
    }
}

/// The hosts the target's image applies to: a cluster's members, or the host itself.
fn hosts_of<'a>(s: &'a ServerState, target: Target, id: &'a str) -> Vec<(&'a String, &'a Host)> {
    match target {
        Target::Cluster => s.hosts.iter().filter(|(_, h)| h.cluster.as_deref() == Some(id)).collect(),
        Target::Host => s.hosts.get_key_value(id).into_iter().collect(),
    }
}

fn committed(s: &ServerState, target: Target, id: &str) -> Option<String> {
    match target {
        Target::Cluster => s.clusters.get(id).and_then(|c| c.image.commit.clone()),
        Target::Host => s.hosts.get(id).and_then(|h| h.image.commit.clone()),
    }
}

/// The leading number of a version (`8` of `8.0.3-0.35.24280767`).
fn major(version: &str) -> Option<u64> {
    version.split(['.', '-']).next().and_then(|m| m.parse().ok())
}

/// Every check not skipped → its findings.
fn run_checks(
    s: &ServerState,
    target: Target,
    id: &str,
    skip: &BTreeSet<String>,
) -> Vec<(&'static str, Vec<Notification>)> {
    let hosts = hosts_of(s, target, id);
    let mut out = Vec::new();
    if !skip.contains(SPEC_EXISTENCE) {
        let n = match committed(s, target, id) {
            Some(commit) => {
                note("spec_exists", Severity::Info, format!("{id} has a desired image (commit {commit})"), None)
            }
            None => note(
                "no_spec",
                Severity::Error,
                format!("{id} has no desired image committed"),
                Some("create a draft of its software, set a base image, validate and commit it".into()),
            ),
        };
        out.push((SPEC_EXISTENCE, vec![n]));
    }
    let states: Vec<(&String, Result<HostState, String>)> = hosts
        .iter()
        .filter_map(|(hid, h)| h.state.as_ref().map(|v| (*hid, HostState::from_value(v).map_err(|e| e.to_string()))))
        .collect();
    if !skip.contains(SOFTWARE) {
        let mut found = Vec::new();
        if hosts.is_empty() {
            found.push(note("no_hosts", Severity::Info, format!("cluster {id} has no hosts"), None));
        }
        for (hid, h) in &hosts {
            if h.state.is_none() {
                found.push(note(
                    "no_state",
                    Severity::Warning,
                    format!("no installed state has been posted for host {hid} ({})", h.name),
                    Some(format!("post the host's esxcli state: PUT /api/esxlcm/hosts/{hid}/state")),
                ));
            }
        }
        for (hid, st) in &states {
            if let Err(e) = st {
                found.push(note(
                    "bad_state",
                    Severity::Error,
                    format!("the installed state posted for host {hid} does not read: {e}"),
                    Some(format!("post it again: PUT /api/esxlcm/hosts/{hid}/state")),
                ));
            }
        }
        let posted = states.iter().filter(|(_, st)| st.is_ok()).count();
        if posted > 0 {
            found.push(note(
                "states_posted",
                Severity::Info,
                format!("{posted} of {} hosts have a readable installed state", hosts.len()),
                None,
            ));
        }
        out.push((SOFTWARE, found));
    }
    if !skip.contains(VERSION) {
        let mut found = Vec::new();
        for (hid, st) in &states {
            let Ok(st) = st else { continue };
            let version = st.base_image.as_ref().map(|b| b.version.to_string());
            match version.as_deref().map(|v| (v, major(v))) {
                Some((v, Some(m))) if m >= MIN_MAJOR => {
                    found.push(note("version_ok", Severity::Info, format!("host {hid} runs ESXi {v}"), None));
                }
                Some((v, _)) => found.push(note(
                    "version_too_old",
                    Severity::Error,
                    format!("host {hid} runs ESXi {v}: images manage ESXi {MIN_MAJOR}.0 and later"),
                    Some(format!("upgrade host {hid} to ESXi {MIN_MAJOR}.0 or later first")),
                )),
                None => found.push(note(
                    "no_base_image",
                    Severity::Error,
                    format!("host {hid} reports no base image (ESXi before {MIN_MAJOR}.0 has none)"),
                    Some(format!("upgrade host {hid} to ESXi {MIN_MAJOR}.0 or later first")),
                )),
            }
        }
        out.push((VERSION, found));
    }
    out
}

fn result_plain(checks: &[(&'static str, Vec<Notification>)]) -> Value {
    let map: Map<String, Value> = checks.iter().map(|(k, ns)| ((*k).to_owned(), notifications(ns))).collect();
    json!({ "notifications": map })
}

async fn get(ctx: Ctx, target: Target) -> Result<Out, ApiError> {
    let id: String = ctx.input(target.input())?;
    let s = ctx.state.depots.snapshot().await;
    targets::check(&s, target, &id)?;
    Ok(Out::Plain(json!({ "enabled": true })))
}

async fn check(ctx: Ctx, target: Target) -> Result<Out, ApiError> {
    let id: String = ctx.input(target.input())?;
    let spec: Option<CheckSpec> = ctx.input("spec")?;
    let s = ctx.state.depots.snapshot().await;
    targets::check(&s, target, &id)?;
    let checks = run_checks(&s, target, &id, &spec.unwrap_or_default().checks_to_skip);
    ctx.report(100, 100, "Checked");
    Ok(Out::Plain(result_plain(&checks)))
}

async fn enable(ctx: Ctx, target: Target) -> Result<Out, ApiError> {
    let id: String = ctx.input(target.input())?;
    let spec: Option<EnableSpec> = ctx.input("spec")?;
    let skip = spec.unwrap_or_default().skip_software_check;
    let user = ctx.caller.user.clone();
    ctx.state
        .depots
        .mutate(|s| {
            targets::check(s, target, &id)?;
            if !skip {
                let checks = run_checks(s, target, &id, &BTreeSet::new());
                let errors: Vec<&Notification> =
                    checks.iter().flat_map(|(_, ns)| ns).filter(|n| n.severity == Severity::Error).collect();
                if !errors.is_empty() {
                    let mut e = ApiError::new(
                        ErrorKind::NotAllowedInCurrentState,
                        "com.vmware.esxlcm.enablement.checks_failed",
                        format!(
                            "{id} does not pass the enablement checks ({} errors); fix them or enable with \
                             skip_software_check",
                            errors.len()
                        ),
                    );
                    e.messages.extend(errors.iter().map(|n| Message::new(&n.id, n.message.default_message.clone())));
                    return Err(e);
                }
            }
            targets::prune(s);
            s.software_enablements.insert(id.clone(), Enablement { user, time: format_datetime(Utc::now()) });
            Ok(())
        })
        .await?;
    ctx.report(100, 100, "Enabled");
    tracing::info!(target = %id, user = %ctx.caller.user, "software management enablement recorded");
    Ok(Out::Plain(Value::Null))
}

pub fn clusters_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(get(ctx, Target::Cluster))
}

pub fn clusters_check(ctx: Ctx) -> HandlerFuture {
    Box::pin(check(ctx, Target::Cluster))
}

pub fn clusters_enable(ctx: Ctx) -> HandlerFuture {
    Box::pin(enable(ctx, Target::Cluster))
}

pub fn hosts_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(get(ctx, Target::Host))
}

pub fn hosts_check(ctx: Ctx) -> HandlerFuture {
    Box::pin(check(ctx, Target::Host))
}

pub fn hosts_enable(ctx: Ctx) -> HandlerFuture {
    Box::pin(enable(ctx, Target::Host))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn major_versions() {
        assert_eq!(major("8.0.3-0.35.24280767"), Some(8));
        assert_eq!(major("6.7.0-3.0"), Some(6));
        assert_eq!(major("x"), None);
    }
}
