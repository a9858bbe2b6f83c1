//! The best versions for the spec's `null` components when taking each at its highest
//! does not give a valid image, and, when no choice works, the smallest set of `null`
//! components that cannot hold together.
//!
//! The search is resolvo's CDCL SAT solver (the one behind pixi and rattler; it learns
//! from conflicts instead of trying assignments one by one, and explains unsatisfiable
//! problems as a tree of causes). The model, against the fixed rest of the image:
//!
//! * every `null` component is a package whose candidates are its catalog versions,
//!   tried highest first;
//! * a candidate that brings a validation error of its own (a conflict with a fixed VIB,
//!   too low an acceptance level, a foreign platform, a duplicate VIB name, a missing
//!   VIB…) is excluded, with that error as the reason;
//! * each `depends` of a candidate's VIBs that neither the fixed VIBs nor the candidate
//!   itself meet becomes a requirement: any version of another `null` component whose
//!   VIBs meet it; with none, the candidate is excluded;
//! * a candidate VIB that conflicts with, or shares its name with, a VIB of another
//!   candidate forbids that candidate (a resolvo constraint).
//!
//! resolvo prefers the highest candidate at each decision, which is not by itself a
//! guarantee that no better assignment exists; [`improve`] then raises components while
//! some assignment is at least as high everywhere and higher somewhere, so the result is
//! never dominated. The caller validates the assignment as a whole; the model is only
//! the search space.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Display;
use std::sync::Arc;

use esxlcm_depot::catalog::Catalog;
use esxlcm_depot::model::{Constraint, Vib};
use esxlcm_version::Version;
use resolvo::utils::{Pool, VersionSet};
use resolvo::{
    Candidates, Condition, ConditionId, ConditionalRequirement, Dependencies, DependencyProvider, Interner,
    KnownDependencies, NameId, Problem, Requirement, SolvableId, Solver, SolverCache, StringId, UnsolvableOrCancelled,
    VersionSetId, VersionSetUnionId,
};

use crate::graph::satisfies;
use crate::image::EffectiveImage;
use crate::notification::{Notification, Severity, ids};
use crate::options::ResolveOptions;
use crate::validate;

/// What the search found for the `null` components.
#[derive(Debug)]
pub(crate) enum NullChoice {
    /// Component name → version, for every name searched.
    Assigned(BTreeMap<String, Version>),
    /// No assignment exists; the notification names the smallest set of components that
    /// cannot hold together and explains why.
    Unsatisfiable(Notification),
}

/// Choose versions for `names` (each with at least one catalog version) on top of
/// `fixed`, the image without them.
pub(crate) fn choose(
    catalog: &Catalog,
    fixed: &EffectiveImage,
    names: &[&str],
    options: &ResolveOptions,
) -> NullChoice {
    let model = Model::build(catalog, fixed, names, options);
    let mut search = Search::new(model);
    let all: Vec<usize> = (0..names.len()).collect();
    match search.solve(&all, None) {
        Ok(assignment) => {
            let best = improve(&mut search, assignment);
            NullChoice::Assigned(search.named(&best))
        }
        Err(_) => NullChoice::Unsatisfiable(search.explain_unsatisfiable(&all)),
    }
}

/// Raise the assignment while another one is at least as high for every component and
/// higher for one: the result is not dominated by any assignment of the model.
fn improve(search: &mut Search, mut current: Vec<usize>) -> Vec<usize> {
    let all: Vec<usize> = (0..current.len()).collect();
    'raise: loop {
        if current.contains(&usize::MAX) {
            return current;
        }
        for p in 0..current.len() {
            let floors: Vec<(usize, usize)> =
                (0..current.len()).map(|q| (q, current[q] + usize::from(q == p))).collect();
            if current[p] + 1 >= search.model.packages[p].candidates.len() {
                continue;
            }
            if let Ok(better) = search.solve(&all, Some(&floors)) {
                current = better;
                continue 'raise;
            }
        }
        return current;
    }
}

/// One candidate version of a `null` component.
struct Candidate {
    version: Version,
    vibs: Vec<Arc<Vib>>,
    /// Why it cannot be in the image whatever the other choices are.
    excluded: Option<String>,
}

struct Package {
    name: String,
    /// Ascending by version.
    candidates: Vec<Candidate>,
}

/// A set of candidates of one package, named for explanations.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Allowed {
    package: usize,
    /// Candidate indices, ascending.
    members: Vec<usize>,
    label: String,
}

impl VersionSet for Allowed {
    type V = Version;
}

/// A `depends` left to other packages: the candidates that meet it, package → members.
struct Need {
    what: String,
    providers: BTreeMap<usize, Vec<usize>>,
}

/// A VIB of a candidate that carries a capability: (package, candidate, VIB).
type Offer<'a> = (usize, usize, &'a Arc<Vib>);

/// The packages and, per candidate, what it needs from and forbids to the others.
struct Model {
    packages: Vec<Package>,
    /// Per package, per candidate: `depends` left to other packages, each as the
    /// candidates (package → members) that would meet it, with the constraint's text.
    needs: Vec<Vec<Vec<Need>>>,
    /// Per package, per candidate: candidates of other packages it cannot be with.
    forbids: Vec<Vec<BTreeMap<usize, BTreeSet<usize>>>>,
}

impl Model {
    fn build(catalog: &Catalog, fixed: &EffectiveImage, names: &[&str], options: &ResolveOptions) -> Self {
        let mut base = fixed.clone();
        validate::validate(&mut base, catalog, options); // fills `base.vibs` (after replaces)
        let fixed_vibs: Vec<Arc<Vib>> = base.vibs.values().cloned().collect();
        let base_version = fixed.base_image.to_string();

        let mut packages: Vec<Package> = names
            .iter()
            .map(|name| {
                let candidates = catalog
                    .component_versions(name)
                    .into_iter()
                    .filter_map(|entry| {
                        let version = entry.bulletin.component.as_ref()?.version.clone();
                        let mut vibs = Vec::new();
                        let mut excluded = None;
                        for id in &entry.bulletin.vib_ids {
                            match catalog.vib(id) {
                                Some(e) => vibs.push(Arc::clone(&e.vib)),
                                None => {
                                    excluded.get_or_insert_with(|| format!("its VIB {id} is not in the depots"));
                                }
                            }
                        }
                        Some(Candidate { version, vibs, excluded })
                    })
                    .collect();
                Package { name: (*name).to_owned(), candidates }
            })
            .collect();

        // What a candidate cannot do whatever the others are: clash with a fixed VIB, fall
        // below the acceptance minimum, target another platform. Checked directly (the
        // caller validates the final image as a whole), not by validating an image per
        // candidate, which costs a full validation each.
        for package in &mut packages {
            for candidate in &mut package.candidates {
                if candidate.excluded.is_none() {
                    candidate.excluded = unary_problem(&candidate.vibs, &fixed_vibs, &base_version, options);
                }
            }
        }

        // Capability name (VIB name or provided name) → (package, candidate, VIB).
        let mut offered: HashMap<&str, Vec<Offer<'_>>> = HashMap::new();
        for (p, package) in packages.iter().enumerate() {
            for (c, candidate) in package.candidates.iter().enumerate() {
                for vib in &candidate.vibs {
                    for name in std::iter::once(&vib.name).chain(vib.provides.iter().map(|x| &x.name)) {
                        offered.entry(name.as_str()).or_default().push((p, c, vib));
                    }
                }
            }
        }
        let fixed_meets = |d: &Constraint| fixed_vibs.iter().any(|v| satisfies(v, d));

        let mut needs = Vec::with_capacity(packages.len());
        let mut forbids = Vec::with_capacity(packages.len());
        let mut unmeetable: Vec<(usize, usize, String)> = Vec::new();
        for (p, package) in packages.iter().enumerate() {
            let mut package_needs = Vec::with_capacity(package.candidates.len());
            let mut package_forbids = Vec::with_capacity(package.candidates.len());
            for (c, candidate) in package.candidates.iter().enumerate() {
                let mut candidate_needs = Vec::new();
                let mut candidate_forbids: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
                for vib in &candidate.vibs {
                    for d in &vib.depends {
                        if fixed_meets(d) || candidate.vibs.iter().any(|v| satisfies(v, d)) {
                            continue;
                        }
                        let mut providers: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
                        for &(q, k, other) in offered.get(d.name.as_str()).map_or(&[][..], Vec::as_slice) {
                            if q != p && packages[q].candidates[k].excluded.is_none() && satisfies(other, d) {
                                let members = providers.entry(q).or_default();
                                if members.last() != Some(&k) {
                                    members.push(k);
                                }
                            }
                        }
                        if providers.is_empty() {
                            unmeetable.push((
                                p,
                                c,
                                format!(
                                    "VIB {} needs {d}, which no VIB of the image and no version of another \
                                     null component provides",
                                    vib.id()
                                ),
                            ));
                        } else {
                            candidate_needs.push(Need { what: d.to_string(), providers });
                        }
                    }
                    let clashes = vib.conflicts.iter().flat_map(|k| {
                        offered.get(k.name.as_str()).into_iter().flatten().filter(move |(_, _, o)| satisfies(o, k))
                    });
                    let same_name = offered
                        .get(vib.name.as_str())
                        .into_iter()
                        .flatten()
                        .filter(|(_, _, o)| o.name == vib.name && o.id() != vib.id() && !replaced(vib, o));
                    for &(q, k, _) in clashes.chain(same_name) {
                        if q != p {
                            candidate_forbids.entry(q).or_default().insert(k);
                        }
                    }
                }
                package_needs.push(candidate_needs);
                package_forbids.push(candidate_forbids);
            }
            needs.push(package_needs);
            forbids.push(package_forbids);
        }
        for (p, c, reason) in unmeetable {
            let candidate = &mut packages[p].candidates[c];
            candidate.excluded.get_or_insert(reason);
        }
        Self { packages, needs, forbids }
    }
}

/// Why a candidate's VIBs cannot be in the image with the fixed VIBs, if they cannot.
fn unary_problem(vibs: &[Arc<Vib>], fixed: &[Arc<Vib>], base: &str, options: &ResolveOptions) -> Option<String> {
    for vib in vibs {
        if let Some(min) = options.min_acceptance
            && vib.acceptance_level < min
        {
            return Some(format!("its VIB {} is {}, below the required {min}", vib.id(), vib.acceptance_level));
        }
        if !validate::fits_platform(vib, base) {
            return Some(format!("its VIB {} is not made for base image {base}", vib.id()));
        }
        for other in fixed {
            if replaced(vib, other) {
                continue;
            }
            if other.name == vib.name && other.id() != vib.id() {
                return Some(format!("its VIB {} has the name of the image's VIB {}", vib.id(), other.id()));
            }
            let clash =
                vib.conflicts.iter().any(|c| satisfies(other, c)) || other.conflicts.iter().any(|c| satisfies(vib, c));
            if clash {
                return Some(format!("its VIB {} conflicts with the image's VIB {}", vib.id(), other.id()));
            }
        }
    }
    None
}

/// Does either VIB replace the other (then they do not clash: validation drops one)?
fn replaced(a: &Vib, b: &Vib) -> bool {
    a.replaces.iter().any(|r| r.is_satisfied_by(&b.name, Some(&b.version)))
        || b.replaces.iter().any(|r| r.is_satisfied_by(&a.name, Some(&a.version)))
}

/// The model as a resolvo dependency provider.
struct Provider {
    model: Model,
    pool: Pool<Allowed, String>,
    names: Vec<NameId>,
    /// Package index by interned name.
    package_of: HashMap<NameId, usize>,
    /// Per package, per candidate.
    solvables: Vec<Vec<SolvableId>>,
    /// Solvable → (package, candidate).
    candidate_of: HashMap<SolvableId, (usize, usize)>,
    dependencies: HashMap<SolvableId, KnownDependencies>,
}

impl Provider {
    fn new(model: Model) -> Self {
        let pool: Pool<Allowed, String> = Pool::new();
        let mut names = Vec::new();
        let mut package_of = HashMap::new();
        let mut solvables = Vec::new();
        let mut candidate_of = HashMap::new();
        for (p, package) in model.packages.iter().enumerate() {
            let name = pool.intern_package_name(package.name.clone());
            names.push(name);
            package_of.insert(name, p);
            let ids: Vec<SolvableId> = package
                .candidates
                .iter()
                .enumerate()
                .map(|(c, candidate)| {
                    let id = pool.intern_solvable(name, candidate.version.clone());
                    candidate_of.insert(id, (p, c));
                    id
                })
                .collect();
            solvables.push(ids);
        }
        let mut provider =
            Self { model, pool, names, package_of, solvables, candidate_of, dependencies: HashMap::new() };
        provider.dependencies = provider.encode();
        provider
    }

    fn allowed(&self, package: usize, members: Vec<usize>, label: String) -> VersionSetId {
        self.pool.intern_version_set(self.names[package], Allowed { package, members, label })
    }

    fn versions(&self, package: usize, members: &[usize]) -> String {
        let candidates = &self.model.packages[package].candidates;
        members.iter().map(|&k| candidates[k].version.to_string()).collect::<Vec<_>>().join(", ")
    }

    /// Requirements and constraints of every candidate.
    fn encode(&self) -> HashMap<SolvableId, KnownDependencies> {
        let mut out = HashMap::new();
        for (p, package) in self.model.packages.iter().enumerate() {
            for c in 0..package.candidates.len() {
                let mut deps = KnownDependencies::default();
                for Need { what, providers } in &self.model.needs[p][c] {
                    let sets: Vec<VersionSetId> = providers
                        .iter()
                        .map(|(&q, members)| {
                            let label = format!("{} (provides {what})", self.versions(q, members));
                            self.allowed(q, members.clone(), label)
                        })
                        .collect();
                    let requirement = match sets.as_slice() {
                        [one] => Requirement::Single(*one),
                        [first, rest @ ..] => {
                            Requirement::Union(self.pool.intern_version_set_union(*first, rest.iter().copied()))
                        }
                        [] => continue,
                    };
                    deps.requirements.push(ConditionalRequirement::from(requirement));
                }
                for (&q, forbidden) in &self.model.forbids[p][c] {
                    let all = self.model.packages[q].candidates.len();
                    let members: Vec<usize> = (0..all).filter(|k| !forbidden.contains(k)).collect();
                    let listed: Vec<usize> = forbidden.iter().copied().collect();
                    let label = format!(
                        "other than {} (VIBs of {} {} conflict with theirs or share their names)",
                        self.versions(q, &listed),
                        package.name,
                        package.candidates[c].version
                    );
                    deps.constrains.push(self.allowed(q, members, label));
                }
                out.insert(self.solvables[p][c], deps);
            }
        }
        out
    }
}

impl Interner for Provider {
    type NameId = NameId;
    type SolvableId = SolvableId;

    fn display_solvable(&self, solvable: SolvableId) -> impl Display + '_ {
        let s = self.pool.resolve_solvable(solvable);
        format!("{} {}", self.pool.resolve_package_name(s.name), s.record)
    }

    fn display_merged_solvables(&self, solvables: &[SolvableId]) -> impl Display + '_ {
        let Some(first) = solvables.first() else { return String::new() };
        let name = self.pool.resolve_package_name(self.pool.resolve_solvable(*first).name);
        let mut versions: Vec<&Version> = solvables.iter().map(|s| &self.pool.resolve_solvable(*s).record).collect();
        versions.sort();
        versions.dedup();
        let versions: Vec<String> = versions.iter().map(ToString::to_string).collect();
        format!("{name} {}", versions.join(" | "))
    }

    fn display_name(&self, name: NameId) -> impl Display + '_ {
        self.pool.resolve_package_name(name).clone()
    }

    fn display_version_set(&self, version_set: VersionSetId) -> impl Display + '_ {
        self.pool.resolve_version_set(version_set).label.clone()
    }

    fn display_string(&self, string_id: StringId) -> impl Display + '_ {
        self.pool.resolve_string(string_id).to_owned()
    }

    fn version_set_name(&self, version_set: VersionSetId) -> NameId {
        self.pool.resolve_version_set_package_name(version_set)
    }

    fn solvable_name(&self, solvable: SolvableId) -> NameId {
        self.pool.resolve_solvable(solvable).name
    }

    fn version_sets_in_union(&self, version_set_union: VersionSetUnionId) -> impl Iterator<Item = VersionSetId> {
        self.pool.resolve_version_set_union(version_set_union)
    }

    fn resolve_condition(&self, condition: ConditionId) -> Condition {
        // The model has no conditional requirements; resolvo asks only about conditions
        // it was given.
        self.pool.resolve_condition(condition).clone()
    }
}

impl DependencyProvider for Provider {
    async fn filter_candidates(
        &self,
        candidates: &[SolvableId],
        version_set: VersionSetId,
        inverse: bool,
    ) -> Vec<SolvableId> {
        let set = self.pool.resolve_version_set(version_set);
        candidates
            .iter()
            .copied()
            .filter(|s| {
                let inside = self
                    .candidate_of
                    .get(s)
                    .is_some_and(|&(p, c)| p == set.package && set.members.binary_search(&c).is_ok());
                inside != inverse
            })
            .collect()
    }

    async fn get_candidates(&self, name: NameId) -> Option<Candidates> {
        let &p = self.package_of.get(&name)?;
        let excluded = self.model.packages[p]
            .candidates
            .iter()
            .enumerate()
            .filter_map(|(c, candidate)| {
                let reason = candidate.excluded.as_ref()?;
                Some((self.solvables[p][c], self.pool.intern_string(reason.as_str())))
            })
            .collect();
        Some(Candidates { candidates: self.solvables[p].clone(), excluded, ..Candidates::default() })
    }

    async fn sort_candidates(&self, _solver: &SolverCache<Self>, solvables: &mut [SolvableId]) {
        // Highest version first: resolvo tries candidates in this order.
        solvables.sort_by(|a, b| self.pool.resolve_solvable(*b).record.cmp(&self.pool.resolve_solvable(*a).record));
    }

    async fn get_dependencies(&self, solvable: SolvableId) -> Dependencies {
        Dependencies::Known(self.dependencies.get(&solvable).cloned().unwrap_or_default())
    }
}

/// A solver over the model, reused across the solves of one resolution.
struct Search {
    solver: Solver<Provider>,
    model_len: usize,
    model: ModelView,
}

/// The package shapes the search needs after the model moved into the provider.
struct ModelView {
    packages: Vec<PackageView>,
}

struct PackageView {
    name: String,
    candidates: Vec<Version>,
}

impl Search {
    fn new(model: Model) -> Self {
        let view = ModelView {
            packages: model
                .packages
                .iter()
                .map(|p| PackageView {
                    name: p.name.clone(),
                    candidates: p.candidates.iter().map(|c| c.version.clone()).collect(),
                })
                .collect(),
        };
        let model_len = model.packages.len();
        Self { solver: Solver::new(Provider::new(model)), model_len, model: view }
    }

    /// Solve for the packages `wanted` (each must be in the image), optionally with a
    /// floor (lowest candidate index) per package. The result has one candidate index
    /// per package of the model (packages not wanted and not needed get `usize::MAX`).
    fn solve(&mut self, wanted: &[usize], floors: Option<&[(usize, usize)]>) -> Result<Vec<usize>, String> {
        let provider = self.solver.provider();
        let floor_of = |p: usize| floors.and_then(|f| f.iter().find(|(q, _)| *q == p)).map_or(0, |&(_, k)| k);
        let requirements: Vec<ConditionalRequirement> = wanted
            .iter()
            .map(|&p| {
                let all = self.model.packages[p].candidates.len();
                let floor = floor_of(p);
                let label = match self.model.packages[p].candidates.get(floor) {
                    Some(lowest) if floor > 0 => format!("{lowest} or higher"),
                    _ => "any version (null in the spec)".to_owned(),
                };
                ConditionalRequirement::from(provider.allowed(p, (floor..all).collect(), label))
            })
            .collect();
        match self.solver.solve(Problem::new().requirements(requirements)) {
            Ok(solution) => {
                let provider = self.solver.provider();
                let mut chosen = vec![usize::MAX; self.model_len];
                for s in solution {
                    if let Some(&(p, c)) = provider.candidate_of.get(&s) {
                        chosen[p] = c;
                    }
                }
                Ok(chosen)
            }
            Err(UnsolvableOrCancelled::Unsolvable(conflict)) => {
                Err(conflict.display_user_friendly(&self.solver).to_string())
            }
            Err(UnsolvableOrCancelled::Cancelled(_)) => Err("the search was cancelled".to_owned()),
        }
    }

    fn named(&self, chosen: &[usize]) -> BTreeMap<String, Version> {
        chosen
            .iter()
            .enumerate()
            .filter_map(|(p, &c)| {
                let package = &self.model.packages[p];
                Some((package.name.clone(), package.candidates.get(c)?.clone()))
            })
            .collect()
    }

    /// The smallest set of `null` components that cannot be chosen together (removing
    /// any one of them makes the rest solvable), with resolvo's explanation of it.
    fn explain_unsatisfiable(&mut self, all: &[usize]) -> Notification {
        let mut core: Vec<usize> = all.to_vec();
        for p in all {
            let without: Vec<usize> = core.iter().copied().filter(|q| q != p).collect();
            if self.solve(&without, None).is_err() {
                core = without;
            }
        }
        let why = self.solve(&core, None).err().unwrap_or_default();
        let names: Vec<String> = core.iter().map(|&p| self.model.packages[p].name.clone()).collect();
        let message = match names.as_slice() {
            [one] => format!("no version of component {one} fits this image"),
            _ => format!("components {} cannot all be in this image, whichever versions are chosen", names.join(", ")),
        };
        let explanation: Vec<String> = why
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.trim_end().replace("packages", "components"))
            .collect();
        Notification::new(ids::COMPONENTS_UNSATISFIABLE, Severity::Error, message, names)
            .with_explanation(explanation)
            .with_resolution(
                "give one of them an explicit version, remove one, or add a depot with versions that fit",
                Vec::new(),
            )
    }
}
