//! Pods: effective requests, scheduling constraints and the facts disruption decisions need.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::affinity::{HostPort, NodeAffinity, PodAffinity, TopologySpread};
use super::requirements::Requirements;
use super::resources::Resources;
use super::taints::Toleration;

/// The kind of a pod's controlling owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OwnerKind {
    /// Managed by a ReplicaSet (usually through a Deployment).
    ReplicaSet,
    /// Managed by a StatefulSet.
    StatefulSet,
    /// Managed by a DaemonSet.
    DaemonSet,
    /// Managed by a Job.
    Job,
    /// Managed by a ReplicationController.
    ReplicationController,
    /// A node owns mirror pods.
    Node,
    /// Any other controller (CRD operators).
    Other,
}

impl OwnerKind {
    /// Map an ownerReference kind.
    pub fn from_kind(kind: &str) -> Self {
        match kind {
            "ReplicaSet" => Self::ReplicaSet,
            "StatefulSet" => Self::StatefulSet,
            "DaemonSet" => Self::DaemonSet,
            "Job" => Self::Job,
            "ReplicationController" => Self::ReplicationController,
            "Node" => Self::Node,
            _ => Self::Other,
        }
    }
}

/// A pod's controlling owner.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OwnerRef {
    /// Owner kind.
    pub kind: OwnerKind,
    /// The kind as written, for display (`Rollout`, `Workflow`, ...).
    pub kind_name: String,
    /// Owner name, in the pod's namespace.
    pub name: String,
}

/// Lifecycle phase of a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PodPhase {
    /// Not yet running (pending scheduling or starting).
    #[default]
    Pending,
    /// Running.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Unknown to the API server.
    Unknown,
}

impl PodPhase {
    /// Parse `status.phase`.
    pub fn parse(s: &str) -> Self {
        match s {
            "Running" => Self::Running,
            "Succeeded" => Self::Succeeded,
            "Failed" => Self::Failed,
            "Unknown" => Self::Unknown,
            _ => Self::Pending,
        }
    }

    /// Whether the pod has finished and holds no resources.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

/// The `karpenter.sh/do-not-disrupt` annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoNotDisrupt {
    /// `"true"`: never voluntarily disrupted.
    Always,
    /// A duration: protected for that long after the pod started.
    For(Duration),
}

/// What storage a pod uses, as far as draining and scheduling care.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodVolumes {
    /// Has an `emptyDir` volume (data lost on eviction; `kubectl drain` needs `--delete-emptydir-data`).
    pub empty_dir: bool,
    /// Has a `hostPath` volume.
    pub host_path: bool,
    /// Names of PersistentVolumeClaims mounted.
    pub claims: Vec<String>,
}

/// One pod, slimmed to what scheduling, disruption and the views need.
#[derive(Debug, Clone, PartialEq)]
pub struct Pod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Controlling owner, if any.
    pub owner: Option<OwnerRef>,
    /// The node it is bound to; `None` means pending.
    pub node_name: Option<String>,
    /// Phase.
    pub phase: PodPhase,
    /// `Ready` condition is true.
    pub ready: bool,
    /// `PodScheduled=False` with reason `Unschedulable` (kube-scheduler gave up on it).
    pub marked_unschedulable: bool,
    /// `status.nominatedNodeName`.
    pub nominated_node: Option<String>,
    /// Creation time.
    pub created: Option<DateTime<Utc>>,
    /// Start time (for do-not-disrupt durations).
    pub started: Option<DateTime<Utc>>,
    /// Has a deletion timestamp.
    pub deleting: bool,
    /// Scheduling priority.
    pub priority: i32,
    /// Priority class name.
    pub priority_class: Option<String>,
    /// Effective requests: max(Σ containers + sidecars, largest init step) + overhead.
    pub requests: Resources,
    /// `spec.nodeSelector` as requirements.
    pub node_selector: Requirements,
    /// Node affinity.
    pub node_affinity: NodeAffinity,
    /// Pod affinity and anti-affinity.
    pub pod_affinity: PodAffinity,
    /// Tolerations.
    pub tolerations: Vec<Toleration>,
    /// Topology spread constraints.
    pub topology_spread: Vec<TopologySpread>,
    /// Host ports bound by any container.
    pub host_ports: Vec<HostPort>,
    /// Volumes that matter to drains and scheduling.
    pub volumes: PodVolumes,
    /// The do-not-disrupt annotation.
    pub do_not_disrupt: Option<DoNotDisrupt>,
    /// `controller.kubernetes.io/pod-deletion-cost`.
    pub deletion_cost: i32,
    /// `spec.terminationGracePeriodSeconds` (default 30).
    pub termination_grace_seconds: i64,
    /// A static pod's mirror.
    pub mirror: bool,
    /// Has `spec.schedulingGates`: the scheduler (and Karpenter) ignore it until they are removed.
    pub scheduling_gated: bool,
    /// Some container's memory limit is above its request.
    pub memory_limit_above_request: bool,
    /// Indices into [`super::Snapshot::pdbs`] of the budgets that select this pod.
    pub pdbs: Vec<usize>,
}

impl Pod {
    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Whether a DaemonSet owns it.
    pub fn is_daemon(&self) -> bool {
        self.owner
            .as_ref()
            .is_some_and(|o| o.kind == OwnerKind::DaemonSet)
    }

    /// Whether it still needs a node: unbound, not finished, not being deleted.
    pub fn is_pending(&self) -> bool {
        self.node_name.is_none() && !self.phase.is_terminal() && !self.deleting
    }

    /// Whether a node must be found for it: pending, and not a DaemonSet pod (those come with
    /// their nodes).
    pub fn is_unplaced(&self) -> bool {
        self.is_pending() && !self.is_daemon()
    }

    /// Whether it holds resources on its node (bound and not finished).
    pub fn is_active_on_node(&self) -> bool {
        self.node_name.is_some() && !self.phase.is_terminal()
    }

    /// Requests plus one pod slot, the way a node's capacity sees the pod.
    pub fn requests_with_slot(&self) -> Resources {
        let mut r = self.requests.clone();
        r.pods = r.pods.saturating_add(1);
        r
    }
}

/// One container's requests, and whether it is a restartable (sidecar) init container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerRequests {
    /// Requests after defaulting from limits.
    pub requests: Resources,
    /// An init container with `restartPolicy: Always`.
    pub sidecar: bool,
}

/// Pod effective requests as kube-scheduler computes them: the larger of (regular containers plus
/// all sidecars) and, for each plain init container, its own request plus the sidecars started
/// before it; pod-level CPU and memory requests (`spec.resources`), where set, replace the
/// aggregate; then pod overhead on top.
pub fn effective_requests(
    containers: &[ContainerRequests],
    init_containers: &[ContainerRequests],
    pod_level: &Resources,
    overhead: &Resources,
) -> Resources {
    let mut sidecars = Resources::default();
    let mut init_peak = Resources::default();
    for init in init_containers {
        if init.sidecar {
            sidecars.add_assign(&init.requests);
            init_peak = init_peak.max(&sidecars);
        } else {
            init_peak = init_peak.max(&init.requests.add(&sidecars));
        }
    }
    let mut running = sidecars;
    for c in containers {
        running.add_assign(&c.requests);
    }
    let mut total = running.max(&init_peak);
    if pod_level.cpu_millis > 0 {
        total.cpu_millis = pod_level.cpu_millis;
    }
    if pod_level.memory_bytes > 0 {
        total.memory_bytes = pod_level.memory_bytes;
    }
    total.add(overhead)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(cpu: i64, mem: i64) -> ContainerRequests {
        ContainerRequests {
            requests: Resources::cpu_mem(cpu, mem),
            sidecar: false,
        }
    }
    fn none() -> Resources {
        Resources::default()
    }
    fn sidecar(cpu: i64, mem: i64) -> ContainerRequests {
        ContainerRequests {
            sidecar: true,
            ..c(cpu, mem)
        }
    }

    #[test]
    fn sum_of_containers() {
        let r = effective_requests(&[c(100, 10), c(200, 20)], &[], &none(), &none());
        assert_eq!(r, Resources::cpu_mem(300, 30));
    }

    #[test]
    fn largest_init_container_wins_per_resource() {
        let r = effective_requests(&[c(100, 10)], &[c(500, 5), c(50, 40)], &none(), &none());
        assert_eq!(r, Resources::cpu_mem(500, 40));
    }

    #[test]
    fn sidecars_count_as_containers_and_stack_under_later_inits() {
        // sidecar 100m runs alongside everything; the init after it needs 300m + 100m.
        let r = effective_requests(
            &[c(200, 10)],
            &[sidecar(100, 10), c(300, 5)],
            &none(),
            &none(),
        );
        assert_eq!(r.cpu_millis, 400);
        assert_eq!(r.memory_bytes, 20);
        // An init before the sidecar does not stack with it.
        let r = effective_requests(
            &[c(200, 10)],
            &[c(300, 5), sidecar(100, 10)],
            &none(),
            &none(),
        );
        assert_eq!(r.cpu_millis, 300);
    }

    #[test]
    fn overhead_is_added() {
        let r = effective_requests(&[c(100, 10)], &[], &none(), &Resources::cpu_mem(250, 120));
        assert_eq!(r, Resources::cpu_mem(350, 130));
    }

    #[test]
    fn pod_level_resources_replace_the_aggregate() {
        let r = effective_requests(
            &[c(100, 10), c(100, 10)],
            &[],
            &Resources::cpu_mem(1000, 0),
            &none(),
        );
        assert_eq!(r, Resources::cpu_mem(1000, 20));
    }
}
