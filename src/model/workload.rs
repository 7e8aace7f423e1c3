//! Workloads (Deployments, StatefulSets, ReplicaSets) and DaemonSets, kept as pod templates so the
//! loader and simulator can create the replicas a controller would.

use std::collections::HashSet;

use super::affinity::LabelSelector;
use super::pod::{OwnerKind, Pod};

/// The kind of a replicated workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WorkloadKind {
    /// apps/v1 Deployment.
    Deployment,
    /// apps/v1 StatefulSet.
    StatefulSet,
    /// apps/v1 ReplicaSet.
    ReplicaSet,
}

impl WorkloadKind {
    /// The kind as written.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
            Self::ReplicaSet => "ReplicaSet",
        }
    }
}

/// A replicated workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// Kind.
    pub kind: WorkloadKind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `spec.replicas` (default 1).
    pub replicas: i64,
    /// `spec.selector`.
    pub selector: LabelSelector,
    /// The pod template, as a pod with no name and no node.
    pub template: Pod,
    /// For a ReplicaSet: the Deployment that owns it.
    pub owner_deployment: Option<String>,
}

impl Workload {
    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Whether its own replica count governs its pods: a ReplicaSet owned by a Deployment that is
    /// also present is governed by the Deployment instead.
    pub fn is_controlling(&self, all: &[Workload]) -> bool {
        match (&self.kind, &self.owner_deployment) {
            (WorkloadKind::ReplicaSet, Some(d)) => !all.iter().any(|o| {
                o.kind == WorkloadKind::Deployment && o.namespace == self.namespace && &o.name == d
            }),
            _ => true,
        }
    }

    /// Which ReplicaSets (among `all`) this Deployment owns, and which belong to something else.
    pub fn ownership<'a>(&self, all: &'a [Workload]) -> Ownership<'a> {
        let mut o = Ownership::default();
        for rs in all.iter().filter(|w| {
            self.kind == WorkloadKind::Deployment
                && w.kind == WorkloadKind::ReplicaSet
                && w.namespace == self.namespace
        }) {
            if rs.owner_deployment.as_deref() == Some(self.name.as_str()) {
                o.owned.insert(rs.name.as_str());
            } else {
                o.foreign.insert(rs.name.as_str());
            }
        }
        o
    }

    /// Whether `pod` belongs to this workload: directly, or for a Deployment through a ReplicaSet
    /// it owns, or one named like its pod-template-hash child that the snapshot does not hold.
    pub fn owns(&self, pod: &Pod, ownership: &Ownership) -> bool {
        let Some(owner) = &pod.owner else {
            return false;
        };
        if pod.namespace != self.namespace {
            return false;
        }
        match self.kind {
            WorkloadKind::StatefulSet => {
                owner.kind == OwnerKind::StatefulSet && owner.name == self.name
            }
            WorkloadKind::ReplicaSet => {
                owner.kind == OwnerKind::ReplicaSet && owner.name == self.name
            }
            WorkloadKind::Deployment => {
                owner.kind == OwnerKind::ReplicaSet
                    && (ownership.owned.contains(owner.name.as_str())
                        || (!ownership.foreign.contains(owner.name.as_str())
                            && is_template_hash_child(&self.name, &owner.name)))
            }
        }
    }
}

/// The ReplicaSets around a Deployment.
#[derive(Debug, Clone, Default)]
pub struct Ownership<'a> {
    /// ReplicaSets whose owner reference names the Deployment.
    pub owned: HashSet<&'a str>,
    /// ReplicaSets in the namespace that belong to something else (or to nothing).
    pub foreign: HashSet<&'a str>,
}

/// `nginx-deployment-75d9ffff7` is the ReplicaSet a Deployment `nginx-deployment` would create
/// (name, dash, pod-template-hash), even when the ReplicaSet itself is not in the snapshot.
pub fn is_template_hash_child(deployment: &str, rs: &str) -> bool {
    rs.strip_prefix(deployment)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|hash| {
            (6..=10).contains(&hash.len()) && hash.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_hash_children() {
        assert!(is_template_hash_child(
            "nginx-deployment",
            "nginx-deployment-75d9ffff7"
        ));
        assert!(!is_template_hash_child(
            "nginx",
            "nginx-deployment-75d9ffff7"
        ));
        assert!(!is_template_hash_child(
            "nginx-deployment",
            "nginx-deployment"
        ));
    }
}

/// A DaemonSet: one pod per eligible node.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonSet {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The pod template.
    pub template: Pod,
}

impl DaemonSet {
    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}
