//! One cluster at an instant: what every source produces and the engine reads.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::catalog::Catalog;

use super::node::Node;
use super::nodeclaim::NodeClaim;
use super::nodeclass::NodeClass;
use super::nodepool::NodePool;
use super::pdb::Pdb;
use super::pod::Pod;
use super::resources::Resources;
use super::workload::{DaemonSet, Workload};

/// Settings outside the core objects that best-practice checks need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterSettings {
    /// A Karpenter controller (pod, Deployment or its settings ConfigMap) is in the snapshot.
    pub karpenter_seen: bool,
    /// Its interruption queue, where configured.
    pub interruption_queue: Option<String>,
    /// CoreDNS's Corefile, from the `coredns` ConfigMap.
    pub coredns_corefile: Option<String>,
}

/// A cluster state.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// AWS region the cluster runs in.
    pub region: String,
    /// Nodes.
    pub nodes: Vec<Node>,
    /// Pods, bound and pending.
    pub pods: Vec<Pod>,
    /// NodePools, Provisioners read as NodePools.
    pub nodepools: Vec<NodePool>,
    /// NodeClaims and Machines.
    pub nodeclaims: Vec<NodeClaim>,
    /// Node classes.
    pub nodeclasses: Vec<NodeClass>,
    /// PodDisruptionBudgets.
    pub pdbs: Vec<Pdb>,
    /// DaemonSets.
    pub daemonsets: Vec<DaemonSet>,
    /// Deployments, StatefulSets and ReplicaSets.
    pub workloads: Vec<Workload>,
    /// Namespace labels, for namespace selectors.
    pub namespaces: BTreeMap<String, BTreeMap<String, String>>,
    /// Cluster-wide settings the audit reads.
    pub settings: ClusterSettings,
    /// Offerings known to be out of capacity (instance type, zone, capacity type): Karpenter's
    /// unavailable-offerings cache, or a what-if.
    pub unavailable_offerings:
        std::collections::BTreeSet<(String, String, super::node::CapacityType)>,
    /// The instance catalog with prices and offerings.
    pub catalog: Arc<Catalog>,
}

impl Snapshot {
    /// An empty cluster in `region`.
    pub fn empty(region: &str, catalog: Arc<Catalog>) -> Self {
        Self {
            region: region.to_string(),
            nodes: Vec::new(),
            pods: Vec::new(),
            nodepools: Vec::new(),
            nodeclaims: Vec::new(),
            nodeclasses: Vec::new(),
            pdbs: Vec::new(),
            daemonsets: Vec::new(),
            workloads: Vec::new(),
            namespaces: BTreeMap::new(),
            unavailable_offerings: Default::default(),
            settings: ClusterSettings::default(),
            catalog,
        }
    }

    /// Recompute each pod's PDB membership (call after changing pods or PDBs).
    pub fn link_pdbs(&mut self) {
        for pod in &mut self.pods {
            pod.pdbs = self
                .pdbs
                .iter()
                .enumerate()
                .filter(|(_, pdb)| {
                    pdb.namespace == pod.namespace
                        && if pdb.selector.is_empty() {
                            pdb.empty_selector_selects_all
                        } else {
                            pdb.selector.matches(&pod.labels)
                        }
                })
                .map(|(i, _)| i)
                .collect();
        }
    }

    /// Pods that need a node.
    pub fn pending_pods(&self) -> impl Iterator<Item = &Pod> {
        self.pods.iter().filter(|p| p.is_pending())
    }

    /// Pending pods a node must be found for (DaemonSet pods come with their nodes), with their
    /// indices.
    pub fn unplaced_pods(&self) -> impl Iterator<Item = (usize, &Pod)> {
        self.pods
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_unplaced())
    }

    /// The pods bound to each node (indices, by node index; finished pods included), found in
    /// one pass: asking per node would scan every pod for every node.
    pub fn pods_per_node(&self) -> Vec<Vec<usize>> {
        let index: HashMap<&str, usize> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.as_str(), i))
            .collect();
        let mut out = vec![Vec::new(); self.nodes.len()];
        // Pods of one node tend to sit together: remember the last lookup.
        let mut last: Option<(&str, usize)> = None;
        for (i, p) in self.pods.iter().enumerate() {
            let Some(name) = p.node_name.as_deref() else {
                continue;
            };
            let ni = match last {
                Some((n, ni)) if n == name => Some(ni),
                _ => index.get(name).copied(),
            };
            if let Some(ni) = ni {
                last = Some((name, ni));
                out[ni].push(i);
            }
        }
        out
    }

    /// Active pods grouped by the node they are bound to.
    pub fn pods_by_node(&self) -> HashMap<&str, Vec<&Pod>> {
        let mut map: HashMap<&str, Vec<&Pod>> = HashMap::new();
        for pod in self.pods.iter().filter(|p| p.is_active_on_node()) {
            if let Some(node) = pod.node_name.as_deref() {
                map.entry(node).or_default().push(pod);
            }
        }
        map
    }

    /// Sum of the requests of active pods on each node, with their count as `pods`, the way
    /// `kubectl describe node` totals "Allocated resources".
    pub fn requested_by_node(&self) -> HashMap<&str, Resources> {
        self.pods_by_node()
            .into_iter()
            .map(|(node, pods)| {
                let mut total = Resources::default();
                for p in pods {
                    total.add_assign(&p.requests_with_slot());
                }
                (node, total)
            })
            .collect()
    }

    /// Active pods (not finished, not deleting) a workload controls: directly, or for a Deployment
    /// through its ReplicaSets.
    pub fn workload_pods<'a>(&'a self, w: &'a Workload) -> impl Iterator<Item = &'a Pod> + 'a {
        let owned = w.ownership(&self.workloads);
        self.pods
            .iter()
            .filter(move |p| !p.phase.is_terminal() && !p.deleting && w.owns(p, &owned))
    }

    /// The NodePool by name.
    pub fn nodepool(&self, name: &str) -> Option<&NodePool> {
        self.nodepools.iter().find(|p| p.name == name)
    }

    /// Capacity owned by a pool: its nodes not being deleted, plus in-flight NodeClaims not yet
    /// backed by a node.
    pub fn nodepool_usage(&self, pool: &str) -> (Resources, usize) {
        let mut total = Resources::default();
        let mut count = 0;
        for node in self
            .nodes
            .iter()
            .filter(|n| n.nodepool() == Some(pool) && !n.deleting)
        {
            total.add_assign(&node.capacity);
            count += 1;
        }
        for claim in &self.nodeclaims {
            let backed = claim
                .node_name
                .as_deref()
                .is_some_and(|n| self.nodes.iter().any(|node| node.name == n));
            if claim.nodepool.as_deref() == Some(pool) && !backed && !claim.deleting {
                total.add_assign(&claim.capacity);
                count += 1;
            }
        }
        (total, count)
    }
}
