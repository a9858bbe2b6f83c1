//! vCenter's trust store, as much of it as esxlcm has: `vcenter.certificate_management.vcenter.trusted_root_chains`
//! (list, get, create, delete) and `vcenter.certificate_management.vcenter.tls` (get: the
//! certificate this server presents). Wire shapes are the vSphere Automation API's
//! (https://developer.broadcom.com/xapis/vsphere-automation-api/latest/vcenter/data-structures/CertificateManagement_Vcenter_TrustedRootChains_CreateSpec
//! and …/CertificateManagement_Vcenter_Tls_Info), declared in `gen/esxlcm_schema.json`.
//!
//! What it is for here: a chain added through the API is trusted by HTTPS depot syncs
//! (online and UMDS depots) from the next request on, besides the system's roots and
//! `trusted_ca_files` of `config.json`; deleting it withdraws that trust.

use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::certificates::{parse_pem, tls_info};
use super::depots::next_id;
use crate::api::errors::{ApiError, ErrorKind};
use crate::api::handler::{Ctx, HandlerFuture, Out};
use crate::api::persist::{ServerState, TrustedRootChain};
use crate::api::state::ApiState;
use crate::api::typed::format_datetime;

#[derive(Deserialize)]
struct X509CertChain {
    cert_chain: Vec<String>,
}

#[derive(Deserialize)]
struct CreateSpec {
    cert_chain: X509CertChain,
    chain: Option<String>,
}

/// Every chain of the state, one PEM text each (what the HTTP client trusts).
pub fn all_chains(s: &ServerState) -> Vec<String> {
    s.trusted_root_chains.values().map(|c| c.certs.concat()).collect()
}

/// Serialises "read the state, rewrite the roots" so the last rewrite sees the last change.
static APPLY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Write the trusted roots file the API's HTTPS depots read and point those depots at it
/// (or at nothing, when no root is configured).
async fn apply(state: &ApiState) -> Result<(), ApiError> {
    let _one_at_a_time = APPLY.lock().await;
    let depots = &state.depots;
    let chains = all_chains(&depots.published_state());
    let file = write_trusted_roots(depots.data_dir(), &state.trusted_ca_files, &chains)
        .map_err(|e| ApiError::internal(format!("updating the trusted roots: {e}")))?;
    let roots = super::depots::trusted_roots_file(depots.data_dir());
    let api_made: Vec<String> = depots.published_state().depot_info.keys().cloned().collect();
    depots
        .blocking(move |store| {
            for s in store.sources()? {
                let ours = api_made.contains(&s.config.name)
                    && s.config.kind != esxlcm_store::source::SourceKind::Bundle
                    && (s.config.ca_file.is_none() || s.config.ca_file.as_ref() == Some(&roots));
                if ours && s.config.url.starts_with("https:") {
                    store.configure_source(&s.config.name, super::depots::STORE_WAIT, |c| c.ca_file = file.clone())?;
                }
            }
            Ok(())
        })
        .await
        .map_err(super::depots::store_error)
}

/// The API's chains are anchors of VIB signatures too: one trust store serves the API,
/// the mirror's ingest ([`esxlcm_store::signatures`]) and `esxlcm mirror`.
fn write_signature_anchors(data_dir: &std::path::Path, chains: &[String]) -> Result<(), String> {
    let dir = esxlcm_store::signatures::trust_dir(&crate::api::state::store_dir(data_dir));
    let path = dir.join("api-trusted-root-chains.pem");
    if chains.is_empty() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(format!("{}: {e}", path.display())),
            _ => Ok(()),
        };
    }
    let pem: String = chains.iter().map(|c| format!("{}\n", c.trim_end())).collect();
    crate::api::persist::write_atomic(&path, pem.as_bytes()).map_err(|e| e.to_string())
}

/// The PEM bundle of `config.json`'s `trusted_ca_files` and the API's chains, written
/// atomically to [`super::depots::trusted_roots_file`]; `None` (and no file) when there
/// is no root to trust besides the system's.
pub fn write_trusted_roots(
    data_dir: &std::path::Path,
    ca_files: &[std::path::PathBuf],
    chains: &[String],
) -> Result<Option<std::path::PathBuf>, String> {
    write_signature_anchors(data_dir, chains)?;
    let path = super::depots::trusted_roots_file(data_dir);
    let mut pem = String::new();
    for f in ca_files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        pem.push_str(text.trim_end());
        pem.push('\n');
    }
    for c in chains {
        pem.push_str(c.trim_end());
        pem.push('\n');
    }
    if pem.trim().is_empty() {
        return match std::fs::remove_file(&path) {
            Ok(()) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", path.display())),
        };
    }
    crate::api::persist::write_atomic(&path, pem.as_bytes()).map_err(|e| e.to_string())?;
    Ok(Some(path))
}

/// A client-chosen id: short, and safe in a URL path.
fn check_id(id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_argument(format!(
            "chain id '{id}' is not usable: 1–128 characters of letters, digits, '-', '_', '.', ':'"
        )))
    }
}

fn exists(message: String) -> ApiError {
    ApiError::new(ErrorKind::AlreadyExists, "com.vmware.esxlcm.trust.exists", message)
}

pub fn chains_list(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let s = ctx.state.depots.snapshot().await;
        Ok(Out::Plain(Value::Array(s.trusted_root_chains.keys().map(|id| json!({ "chain": id })).collect())))
    })
}

pub fn chains_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("chain")?;
        let s = ctx.state.depots.snapshot().await;
        let c = s.trusted_root_chains.get(&id).ok_or_else(|| ApiError::not_found("trusted root chain", &id))?;
        Ok(Out::Plain(json!({ "cert_chain": { "cert_chain": c.certs } })))
    })
}

/// `create`: every string of `cert_chain` must hold PEM certificates only; each
/// certificate is kept as its own PEM block. The same certificates twice are refused.
pub fn chains_create(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let spec: CreateSpec = ctx.input("spec")?;
        if spec.cert_chain.cert_chain.is_empty() {
            return Err(ApiError::invalid_argument(
                "cert_chain.cert_chain is empty: give at least one PEM certificate",
            ));
        }
        let mut certs = Vec::new();
        for (i, text) in spec.cert_chain.cert_chain.iter().enumerate() {
            certs.extend(parse_pem(text, &format!("cert_chain.cert_chain[{i}]"))?.into_iter().map(|c| c.pem));
        }
        if let Some(id) = &spec.chain {
            check_id(id)?;
        }
        let id = ctx
            .state
            .depots
            .mutate(|s| {
                if let Some((other, _)) = s.trusted_root_chains.iter().find(|(_, c)| c.certs == certs) {
                    return Err(exists(format!("these certificates are already trusted root chain '{other}'")));
                }
                let id = match spec.chain {
                    Some(id) if s.trusted_root_chains.contains_key(&id) => {
                        return Err(exists(format!("a trusted root chain '{id}' already exists")));
                    }
                    Some(id) => id,
                    None => next_id(s, "chain"),
                };
                s.trusted_root_chains
                    .insert(id.clone(), TrustedRootChain { certs, created: format_datetime(Utc::now()) });
                Ok(id)
            })
            .await?;
        apply(&ctx.state).await?;
        tracing::info!(chain = %id, user = %ctx.caller.user, "trusted root chain added");
        Ok(Out::Plain(Value::String(id)))
    })
}

pub fn chains_delete(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let id: String = ctx.input("chain")?;
        ctx.state
            .depots
            .mutate(|s| {
                s.trusted_root_chains
                    .remove(&id)
                    .map(drop)
                    .ok_or_else(|| ApiError::not_found("trusted root chain", &id))
            })
            .await?;
        apply(&ctx.state).await?;
        tracing::info!(chain = %id, user = %ctx.caller.user, "trusted root chain deleted");
        Ok(Out::Plain(Value::Null))
    })
}

/// `tls.get`: the first certificate of the file the server presents.
pub fn tls_get(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let path = ctx.state.tls_cert_file.clone();
        let text = tokio::fs::read_to_string(&path)
            .await
            .map_err(|e| ApiError::internal(format!("reading the server certificate {}: {e}", path.display())))?;
        let certs = parse_pem(&text, &path.display().to_string()).map_err(|e| ApiError::internal(e.to_string()))?;
        let first = certs.first().ok_or_else(|| ApiError::internal("the server certificate file is empty"))?;
        Ok(Out::Plain(tls_info(&first.cert, &first.pem)))
    })
}
