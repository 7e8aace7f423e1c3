//! Capacity that exists before the solve: ready nodes and in-flight NodeClaims, with what is left
//! on them.

use crate::model::labels;
use crate::model::{
    HostPort, Node, NodeClaim, Requirement, Requirements, Resources, Snapshot, Taint,
};

use std::collections::HashSet;

use super::template::Template;

/// Existing capacity a pod can be placed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A node, by index into the snapshot's nodes.
    Node(usize),
    /// An in-flight NodeClaim, by index into the snapshot's NodeClaims.
    InFlight(usize),
}

/// One existing target during the solve.
#[derive(Debug, Clone)]
pub struct ExistingTarget {
    /// What it is.
    pub target: Target,
    /// Node or NodeClaim name.
    pub name: String,
    /// Its labels as requirements (hostname included).
    pub requirements: Requirements,
    /// Taints pods must tolerate.
    pub taints: Vec<Taint>,
    /// Allocatable less what bound pods request.
    pub available: Resources,
    /// Host ports in use.
    pub host_ports: Vec<HostPort>,
    /// Pods placed on it by this solve.
    pub pods: Vec<usize>,
    /// Ready and initialized; others are judged with the pod's preferences as required, as
    /// Karpenter does for capacity it is still bringing up.
    pub initialized: bool,
}

/// Taints that a node carries only while it starts up; Karpenter packs pods onto uninitialized
/// nodes regardless of them.
fn is_ephemeral(t: &Taint) -> bool {
    matches!(
        t.key.as_str(),
        "node.kubernetes.io/not-ready"
            | "node.kubernetes.io/unreachable"
            | "node.cloudprovider.kubernetes.io/uninitialized"
    ) || t.key == labels::UNREGISTERED_TAINT
        || t.key.starts_with("readiness.k8s.io/")
}

/// Daemon overhead an uninitialized Karpenter node still owes: what its pool's DaemonSets request on
/// its instance type, less the DaemonSet pods already bound there.
fn owed_daemons(templates: &[Template], node: &Node, bound_daemons: &Resources) -> Resources {
    let Some(t) = templates
        .iter()
        .find(|t| Some(t.name.as_str()) == node.nodepool())
    else {
        return Resources::default();
    };
    let Some(ty) = t
        .types
        .iter()
        .find(|ty| Some(ty.name.as_str()) == node.instance_type())
    else {
        return Resources::default();
    };
    let owed = ty.daemon_overhead.sub(bound_daemons);
    owed.max(&Resources::default())
}

fn node_target(
    templates: &[Template],
    index: usize,
    node: &Node,
    pods: &[&crate::model::Pod],
) -> ExistingTarget {
    let mut node_labels = node.labels.clone();
    node_labels
        .entry(labels::HOSTNAME.to_string())
        .or_insert_with(|| node.name.clone());
    // Nodes Karpenter does not manage count as initialized.
    let initialized = node.nodepool().is_none() || node.initialized();
    let taints = node
        .taints
        .iter()
        .filter(|t| initialized || !is_ephemeral(t))
        .cloned()
        .collect();
    let mut used = Resources::default();
    let mut daemons = Resources::default();
    let mut ports = Vec::new();
    for p in pods {
        used.add_assign(&p.requests_with_slot());
        if p.is_daemon() {
            daemons.add_assign(&p.requests_with_slot());
        }
        ports.extend(p.host_ports.iter().cloned());
    }
    if !initialized {
        used.add_assign(&owed_daemons(templates, node, &daemons));
    }
    ExistingTarget {
        target: Target::Node(index),
        name: node.name.clone(),
        requirements: Requirements::from_labels(node_labels.iter()),
        taints,
        available: node.allocatable.sub(&used),
        host_ports: ports,
        pods: Vec::new(),
        initialized,
    }
}
fn in_flight_target(
    templates: &[Template],
    index: usize,
    claim: &NodeClaim,
) -> Option<ExistingTarget> {
    let template = templates
        .iter()
        .find(|t| Some(t.name.as_str()) == claim.nodepool.as_deref())?;
    let type_name = claim.instance_type.as_deref()?;
    let ty = template
        .types
        .iter()
        .chain(template.unlaunchable.iter())
        .find(|t| t.name == type_name)?;
    let allocatable = if claim.allocatable.is_zero() {
        ty.allocatable.clone()
    } else {
        claim.allocatable.clone()
    };
    let mut requirements = template.requirements.clone();
    requirements.add_all(&ty.labels);
    requirements.add(labels::HOSTNAME, Requirement::single(&claim.name));
    if let Some(z) = &claim.zone {
        requirements.add(labels::ZONE, Requirement::single(z));
    }
    if let Some(c) = claim.capacity_type {
        requirements.add(labels::CAPACITY_TYPE, Requirement::single(c.as_str()));
    }
    Some(ExistingTarget {
        target: Target::InFlight(index),
        name: claim.name.clone(),
        requirements,
        taints: template.taints.clone(),
        // Its DaemonSet pods are owed even though they are not bound yet.
        available: allocatable.sub(&ty.daemon_overhead),
        host_ports: Vec::new(),
        pods: Vec::new(),
        initialized: false,
    })
}

/// Nodes that can take pods — ready ones, and Karpenter nodes still starting up (their startup
/// taints ignored and their DaemonSets' requests held back, as Karpenter counts them) — but not
/// cordoned, deleting or failed ones; then in-flight NodeClaims whose instance type is known.
/// Initialized targets come first, each group by name.
pub fn existing_targets(snapshot: &Snapshot, templates: &[Template]) -> Vec<ExistingTarget> {
    let by_node = snapshot.pods_by_node();
    let mut targets: Vec<ExistingTarget> = snapshot
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| {
            let starting = n.nodepool().is_some() && !n.initialized();
            (n.ready || starting) && !n.unschedulable && !n.deleting
        })
        .map(|(i, n)| {
            let pods = by_node
                .get(n.name.as_str())
                .map(Vec::as_slice)
                .unwrap_or_default();
            node_target(templates, i, n, pods)
        })
        .collect();
    let node_names: HashSet<&str> = snapshot.nodes.iter().map(|n| n.name.as_str()).collect();
    targets.extend(
        snapshot
            .nodeclaims
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                !c.deleting
                    && c.node_name
                        .as_deref()
                        .is_none_or(|n| !node_names.contains(n))
            })
            .filter_map(|(i, c)| in_flight_target(templates, i, c)),
    );
    targets.sort_by(|a, b| {
        b.initialized
            .cmp(&a.initialized)
            .then_with(|| a.name.cmp(&b.name))
    });
    targets
}
