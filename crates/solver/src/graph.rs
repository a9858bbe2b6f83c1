//! The image's VIB dependency graph and constraint matching, shared by validation (which
//! builds the graph), the explanations (which walk it) and the search (which matches
//! candidates without one).

use std::collections::HashMap;
use std::sync::Arc;

use esxlcm_depot::model::{Constraint, Vib};
use petgraph::graph::{DiGraph, NodeIndex};

/// The image's VIBs after `replaces`, with their components and the dependency graph.
pub struct VibGraph {
    /// Node weight: index into `vibs`.
    pub graph: DiGraph<usize, Constraint>,
    pub vibs: Vec<Arc<Vib>>,
    /// Component name of each VIB.
    pub owners: Vec<String>,
    pub nodes: Vec<NodeIndex>,
    /// VIB name or provided name → indices into `vibs` (a constraint matches by name first).
    names: HashMap<String, Vec<usize>>,
}

impl VibGraph {
    /// One node per VIB; validation adds the dependency edges.
    pub(crate) fn without_edges(vibs: Vec<Arc<Vib>>, owners: Vec<String>) -> Self {
        let mut graph = DiGraph::new();
        let nodes: Vec<NodeIndex> = (0..vibs.len()).map(|i| graph.add_node(i)).collect();
        let names = name_index(&vibs);
        Self { graph, vibs, owners, nodes, names }
    }

    /// The VIBs that satisfy `c` (by name or `provides`), other than `except`.
    pub fn providers(&self, c: &Constraint, except: Option<usize>) -> Vec<usize> {
        self.names
            .get(&c.name)
            .map(|list| list.iter().copied().filter(|&i| Some(i) != except && satisfies(&self.vibs[i], c)).collect())
            .unwrap_or_default()
    }
}

/// Every VIB's name and provided names → the VIBs that carry it, so that matching a
/// constraint looks at candidates only instead of the whole image.
pub(crate) fn name_index(vibs: &[Arc<Vib>]) -> HashMap<String, Vec<usize>> {
    let mut index: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, v) in vibs.iter().enumerate() {
        let names = std::iter::once(&v.name).chain(v.provides.iter().map(|p| &p.name));
        for name in names {
            let list = index.entry(name.clone()).or_default();
            if list.last() != Some(&i) {
                list.push(i);
            }
        }
    }
    index
}

/// Does a VIB satisfy a constraint, by its own name and version or by one of its provides?
pub fn satisfies(vib: &Vib, c: &Constraint) -> bool {
    c.is_satisfied_by(&vib.name, Some(&vib.version))
        || vib.provides.iter().any(|p| c.is_satisfied_by(&p.name, p.version.as_ref()))
}
