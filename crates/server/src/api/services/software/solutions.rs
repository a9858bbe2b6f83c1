//! Solutions in the desired image (`clusters.software.solutions` set, delete and update;
//! `hosts.software.solutions` set and delete): a solution (vSAN, NSX, …) registers the
//! components it needs. Unlike the other parts of an image these change the desired image
//! directly: the changed spec is resolved and validated as a whole and, when it has no
//! errors, committed as a new commit (its id is the task's result), as vLCM does.

use std::collections::BTreeMap;

use esxlcm_solver::SoftwareSpec;
use esxlcm_solver::spec::{SolutionComponent, SolutionSpec};
use serde::Deserialize;
use serde_json::Value;

use super::drafts::{concurrent, record_commit};
use super::image::{committed, invalid_with_errors, resolve};
use super::owner::Owner;
use crate::api::errors::ApiError;
use crate::api::handler::{Ctx, HandlerFuture, Out};

#[derive(Deserialize)]
struct ComponentIn {
    component: String,
}

#[derive(Deserialize)]
struct SolutionIn {
    version: String,
    #[serde(default)]
    components: Vec<ComponentIn>,
}

#[derive(Deserialize)]
struct UpdateIn {
    #[serde(default)]
    solutions: BTreeMap<String, SolutionIn>,
}

/// A solution as the spec stores it, with the checks the schema cannot express.
fn solution_spec(name: &str, s: SolutionIn) -> Result<SolutionSpec, ApiError> {
    if name.trim().is_empty() {
        return Err(ApiError::invalid_argument("a solution needs a name"));
    }
    if s.version.trim().is_empty() {
        return Err(ApiError::invalid_argument(format!("solution '{name}' needs a version")));
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut components = Vec::with_capacity(s.components.len());
    for c in s.components {
        if !seen.insert(c.component.clone()) {
            return Err(ApiError::invalid_argument(format!(
                "solution '{name}' lists component '{}' twice",
                c.component
            )));
        }
        components.push(SolutionComponent { component: c.component, unknown: Default::default() });
    }
    Ok(SolutionSpec { version: s.version, components, unknown: Default::default() })
}

/// Change the owner's committed spec with `f`, validate the result and commit it: the new
/// commit's id. Refused when the spec does not validate (`invalid_argument` with the
/// errors), or when another commit landed meanwhile.
async fn commit_change(
    ctx: &Ctx,
    what: String,
    f: impl FnOnce(&mut SoftwareSpec) -> Result<(), ApiError>,
) -> Result<Out, ApiError> {
    let owner = Owner::of(ctx)?;
    let user = ctx.caller.user.clone();
    let (base, mut spec) = committed(&*ctx.state.depots.snapshot().await, &owner)?;
    f(&mut spec)?;
    ctx.report(10, 100, "Validating the changed image");
    let (_, r) = resolve(&ctx.state, spec.clone()).await?;
    if r.has_errors() {
        return Err(invalid_with_errors(
            &r,
            "com.esxlcm.solution.invalid",
            format!("{what}: the image of {owner} would not validate; nothing is committed"),
        ));
    }
    ctx.report(80, 100, "Committing");
    let message = what.clone();
    let commit_id = ctx
        .state
        .depots
        .mutate(|s| {
            let h = owner.history(s)?;
            if h.commit.as_deref() != Some(base.as_str()) {
                return Err(concurrent(format!(
                    "{owner} has a new desired image (commit {}) since this change began; try again",
                    h.commit.as_deref().unwrap_or("none")
                )));
            }
            let display_name = h.commits.get(&base).and_then(|c| c.display_name.clone());
            record_commit(s, &owner, &user, message, spec, display_name, None)
        })
        .await?;
    tracing::info!(image = %owner, commit = %commit_id, user = %user, change = %what, "solution change committed");
    Ok(Out::Plain(Value::String(commit_id)))
}

/// `…software.solutions.set`: register (or replace) one solution's components.
pub fn set(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let name: String = ctx.input("solution")?;
        let spec = solution_spec(&name, ctx.input("spec")?)?;
        commit_change(&ctx, format!("solution '{name}' set"), |s| {
            s.image.solutions.insert(name.clone(), spec);
            Ok(())
        })
        .await
    })
}

/// `…software.solutions.delete`: the solution leaves the image.
pub fn delete(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let name: String = ctx.input("solution")?;
        commit_change(&ctx, format!("solution '{name}' deleted"), |s| {
            s.image.solutions.remove(&name).map(drop).ok_or_else(|| ApiError::not_found("solution", &name))
        })
        .await
    })
}

/// `clusters.software.solutions.update`: set several solutions at once, leaving the
/// others as they are.
pub fn update(ctx: Ctx) -> HandlerFuture {
    Box::pin(async move {
        let input: UpdateIn = ctx.input("spec")?;
        if input.solutions.is_empty() {
            return Err(ApiError::invalid_argument("no solutions to update: name at least one in spec.solutions"));
        }
        let specs = input
            .solutions
            .into_iter()
            .map(|(name, s)| solution_spec(&name, s).map(|spec| (name, spec)))
            .collect::<Result<BTreeMap<_, _>, _>>()?;
        let names: Vec<&str> = specs.keys().map(String::as_str).collect();
        let what = format!("solutions {} updated", names.join(", "));
        commit_change(&ctx, what, |s| {
            s.image.solutions.extend(specs);
            Ok(())
        })
        .await
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use serde_json::json;

    use super::*;

    fn input(v: Value) -> SolutionIn {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn solution_specs_are_checked() {
        let ok = solution_spec("vsan", input(json!({"version": "8.0", "components": [{"component": "vsan"}]})));
        let ok = ok.unwrap();
        assert_eq!(ok.version, "8.0");
        assert_eq!(ok.components[0].component, "vsan");
        let e = solution_spec("vsan", input(json!({"version": " ", "components": []}))).unwrap_err();
        assert!(e.to_string().contains("needs a version"), "{e}");
        let twice = json!({"version": "1", "components": [{"component": "a"}, {"component": "a"}]});
        assert!(solution_spec("x", input(twice)).unwrap_err().to_string().contains("twice"));
        assert!(solution_spec("", input(json!({"version": "1"}))).is_err());
    }
}
