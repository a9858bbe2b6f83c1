//! Whose image an operation works on: a cluster, a standalone host or the image library.
//! The handlers are shared; the owner comes from the call's inputs (`cluster`, `host`, or
//! neither for `repository.software`).

use std::collections::BTreeMap;

use crate::api::errors::{ApiError, ErrorKind};
use crate::api::handler::Ctx;
use crate::api::persist::{Draft, ImageHistory, ServerState};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Cluster(String),
    Host(String),
    Library,
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Cluster(id) => write!(f, "cluster '{id}'"),
            Self::Host(id) => write!(f, "host '{id}'"),
            Self::Library => f.write_str("the image library"),
        }
    }
}

impl Owner {
    /// The owner the call names.
    pub fn of(ctx: &Ctx) -> Result<Self, ApiError> {
        if ctx.input.contains_key("cluster") {
            Ok(Self::Cluster(ctx.input("cluster")?))
        } else if ctx.input.contains_key("host") {
            Ok(Self::Host(ctx.input("host")?))
        } else {
            Ok(Self::Library)
        }
    }

    /// The image history of a cluster or a standalone host.
    pub fn history<'a>(&self, s: &'a ServerState) -> Result<&'a ImageHistory, ApiError> {
        match self {
            Self::Cluster(id) => Ok(&s.clusters.get(id).ok_or_else(|| ApiError::not_found("cluster", id))?.image),
            Self::Host(id) => {
                check_standalone(s, id)?;
                Ok(&s.hosts.get(id).ok_or_else(|| ApiError::not_found("host", id))?.image)
            }
            Self::Library => Err(ApiError::internal("the image library has no commit history")),
        }
    }

    pub fn history_mut<'a>(&self, s: &'a mut ServerState) -> Result<&'a mut ImageHistory, ApiError> {
        match self {
            Self::Cluster(id) => {
                Ok(&mut s.clusters.get_mut(id).ok_or_else(|| ApiError::not_found("cluster", id))?.image)
            }
            Self::Host(id) => {
                check_standalone(s, id)?;
                Ok(&mut s.hosts.get_mut(id).ok_or_else(|| ApiError::not_found("host", id))?.image)
            }
            Self::Library => Err(ApiError::internal("the image library has no commit history")),
        }
    }

    pub fn drafts<'a>(&self, s: &'a ServerState) -> Result<&'a BTreeMap<String, Draft>, ApiError> {
        match self {
            Self::Library => Ok(&s.library.drafts),
            _ => Ok(&self.history(s)?.drafts),
        }
    }

    pub fn drafts_mut<'a>(&self, s: &'a mut ServerState) -> Result<&'a mut BTreeMap<String, Draft>, ApiError> {
        match self {
            Self::Library => Ok(&mut s.library.drafts),
            _ => Ok(&mut self.history_mut(s)?.drafts),
        }
    }

    /// `NotAllowedInCurrentState` for an owner without a committed image.
    pub fn no_image(&self) -> ApiError {
        let id = match self {
            Self::Cluster(_) => "com.esxlcm.cluster.no_image",
            _ => "com.esxlcm.host.no_image",
        };
        ApiError::new(
            ErrorKind::NotAllowedInCurrentState,
            id,
            format!("{self} has no desired image yet: create a draft, set its base image and commit it"),
        )
    }
}

/// A host's own image exists only while it is standalone: in a cluster, the cluster's
/// image is its desired image.
fn check_standalone(s: &ServerState, host_id: &str) -> Result<(), ApiError> {
    let h = s.hosts.get(host_id).ok_or_else(|| ApiError::not_found("host", host_id))?;
    match &h.cluster {
        None => Ok(()),
        Some(c) => {
            let name = s.clusters.get(c).map(|c| format!(" ({})", c.name)).unwrap_or_default();
            Err(ApiError::new(
                ErrorKind::Unsupported,
                "com.esxlcm.host.in_cluster",
                format!(
                    "host '{host_id}' belongs to cluster '{c}'{name}: its desired image is the cluster's; use \
                     esx/settings/clusters/{c}/software"
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::api::persist::{Cluster, Host};

    fn state() -> ServerState {
        let mut s = ServerState::default();
        s.clusters.insert("domain-c1".into(), Cluster { name: "prod".into(), image: ImageHistory::default() });
        for (id, cluster) in [("host-2", Some("domain-c1")), ("host-3", None)] {
            let h = Host {
                name: id.into(),
                cluster: cluster.map(Into::into),
                state: None,
                state_time: None,
                image: ImageHistory::default(),
            };
            s.hosts.insert(id.into(), h);
        }
        s
    }

    #[test]
    fn a_clustered_host_has_no_image_of_its_own() {
        let mut s = state();
        let e = Owner::Host("host-2".into()).history(&s).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(e.to_string().contains("domain-c1") && e.to_string().contains("prod"), "{e}");
        assert!(Owner::Host("host-2".into()).drafts_mut(&mut s).is_err());
        assert!(Owner::Host("host-3".into()).drafts_mut(&mut s).is_ok());
        let e = Owner::Host("host-9".into()).history(&s).unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFound);
        assert!(Owner::Cluster("domain-c1".into()).history(&s).is_ok());
        assert!(Owner::Library.drafts(&s).unwrap().is_empty());
    }
}
