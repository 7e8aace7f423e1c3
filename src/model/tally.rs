//! Running totals of what the pods ask of each node and of the cluster, kept one pod at a time:
//! a watch event on one pod changes them without adding up 150,000 pods again.

use std::collections::HashMap;

use super::{Pod, Snapshot};

/// What the pods holding resources on one node request, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeTotals {
    /// CPU requested, millicores.
    pub cpu_millis: i64,
    /// Memory requested, bytes.
    pub memory_bytes: i64,
    /// Pods bound there and not finished (terminating ones included: they still hold room).
    pub pods: i64,
}

/// Per-node totals of the pods bound there, and the cluster's pod counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodTally {
    per_node: HashMap<String, NodeTotals>,
    pods: i64,
    unplaced: i64,
}

impl PodTally {
    /// The totals of every pod in `snapshot`, added up once.
    pub fn of(snapshot: &Snapshot) -> Self {
        let mut tally = Self::default();
        for p in &snapshot.pods {
            tally.add(p);
        }
        tally
    }

    /// Count a pod that arrived.
    pub fn add(&mut self, pod: &Pod) {
        self.count(pod, 1);
    }

    /// Stop counting a pod that went (or the version of it that a newer one replaces).
    pub fn remove(&mut self, pod: &Pod) {
        self.count(pod, -1);
    }

    fn count(&mut self, pod: &Pod, sign: i64) {
        self.pods += sign;
        if pod.is_unplaced() {
            self.unplaced += sign;
        }
        let Some(node) = pod.node_name.as_ref().filter(|_| pod.is_active_on_node()) else {
            return;
        };
        let totals = self.per_node.entry(node.clone()).or_default();
        totals.cpu_millis += sign * pod.requests.cpu_millis;
        totals.memory_bytes += sign * pod.requests.memory_bytes;
        totals.pods += sign;
        // Nodes come and go: an empty entry is dropped so the map does not grow without end.
        if totals.pods == 0 {
            self.per_node.remove(node);
        }
    }

    /// What the pods on `node` request (zero for a node without pods).
    pub fn node(&self, node: &str) -> NodeTotals {
        self.per_node.get(node).copied().unwrap_or_default()
    }

    /// Pods in the cluster (DaemonSet pods included).
    pub fn pods(&self) -> usize {
        self.pods.max(0) as usize
    }

    /// Pending pods a node must be found for ([`Pod::is_unplaced`]).
    pub fn unplaced(&self) -> usize {
        self.unplaced.max(0) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PODS: &str = "
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: default}
spec: {nodeName: n1, containers: [{name: c, resources: {requests: {cpu: 100m, memory: 1Mi}}}]}
status: {phase: Running}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: default}
spec: {nodeName: n1, containers: [{name: c, resources: {requests: {cpu: 250m, memory: 2Mi}}}]}
status: {phase: Running}
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: default}
spec: {containers: [{name: c, resources: {requests: {cpu: 50m}}}]}
status: {phase: Pending}
---
apiVersion: v1
kind: Pod
metadata: {name: d, namespace: default}
spec: {nodeName: n2, containers: [{name: c, resources: {requests: {cpu: 400m}}}]}
status: {phase: Succeeded}
";

    fn snapshot() -> Snapshot {
        crate::scenario::load_str(
            "pods",
            PODS,
            &Default::default(),
            crate::catalog::Catalog::embedded(),
        )
        .unwrap()
        .snapshot
    }

    #[test]
    fn adding_and_removing_pods_one_at_a_time_matches_adding_them_all_up() {
        let mut s = snapshot();
        let mut tally = PodTally::default();
        for p in &s.pods {
            tally.add(p);
        }
        assert_eq!(tally, PodTally::of(&s));
        assert_eq!(
            tally.node("n1"),
            NodeTotals {
                cpu_millis: 350,
                memory_bytes: 3 << 20,
                pods: 2
            }
        );
        assert_eq!(
            tally.node("n2"),
            NodeTotals::default(),
            "a finished pod holds nothing"
        );
        assert_eq!((tally.pods(), tally.unplaced()), (4, 1));
        // c binds to n2 (its old version goes, its new one comes) and a goes.
        let mut bound = s.pods[2].clone();
        bound.node_name = Some("n2".into());
        tally.remove(&s.pods[2]);
        tally.add(&bound);
        tally.remove(&s.pods[0]);
        s.pods[2] = bound;
        s.pods.remove(0);
        assert_eq!(tally, PodTally::of(&s));
        assert_eq!(tally.unplaced(), 0);
        assert_eq!(tally.node("n2").pods, 1);
        assert_eq!(tally.node("n1").pods, 1);
    }
}
