//! NodePools (and legacy Provisioners read as NodePools): what Karpenter may launch and when it may
//! take nodes away.

use std::collections::BTreeMap;
use std::time::Duration;

use super::limits::Limits;
use super::nodeclass::KubeletConfig;
use super::pdb::IntOrPercent;
use super::requirements::Requirements;
use super::taints::Taint;

/// Which API the object came from; the engine treats them alike, the views say which it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodePoolApi {
    /// `karpenter.sh/v1` NodePool.
    V1,
    /// `karpenter.sh/v1beta1` NodePool.
    V1beta1,
    /// `karpenter.sh/v1alpha5` Provisioner.
    V1alpha5Provisioner,
}

impl NodePoolApi {
    /// How the source object is named, e.g. for `inspect`.
    pub fn describe(&self) -> &'static str {
        match self {
            Self::V1 => "NodePool karpenter.sh/v1",
            Self::V1beta1 => "NodePool karpenter.sh/v1beta1",
            Self::V1alpha5Provisioner => "Provisioner karpenter.sh/v1alpha5",
        }
    }
}

/// When Karpenter may consolidate a pool's nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsolidationPolicy {
    /// Only empty nodes.
    WhenEmpty,
    /// Empty or underutilized nodes (v1beta1 `WhenUnderutilized`, v1alpha5 `consolidation.enabled`).
    WhenEmptyOrUnderutilized,
    /// Underutilized nodes when the savings justify the disruption (v1.14).
    Balanced,
}

impl ConsolidationPolicy {
    /// Parse the policy name of either API version.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "WhenEmpty" => Self::WhenEmpty,
            "WhenEmptyOrUnderutilized" | "WhenUnderutilized" => Self::WhenEmptyOrUnderutilized,
            "Balanced" => Self::Balanced,
            _ => return None,
        })
    }

    /// The v1 name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::WhenEmpty => "WhenEmpty",
            Self::WhenEmptyOrUnderutilized => "WhenEmptyOrUnderutilized",
            Self::Balanced => "Balanced",
        }
    }
}

/// A voluntary-disruption reason that budgets can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DisruptionReason {
    /// Consolidating underutilized nodes.
    Underutilized,
    /// Removing empty nodes.
    Empty,
    /// Replacing drifted nodes.
    Drifted,
}

impl DisruptionReason {
    /// Parse a budget reason.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "Underutilized" => Self::Underutilized,
            "Empty" => Self::Empty,
            "Drifted" => Self::Drifted,
            _ => return None,
        })
    }
}

/// One disruption budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// How many nodes may be disrupted at once.
    pub nodes: IntOrPercent,
    /// Reasons it applies to; empty means all.
    pub reasons: Vec<DisruptionReason>,
    /// Cron schedule (UTC) when it becomes active; `None` means always active.
    pub schedule: Option<String>,
    /// How long it stays active after each schedule hit.
    pub duration: Option<Duration>,
}

impl Budget {
    /// Karpenter's default budget, `nodes: 10%`.
    pub fn default_budget() -> Self {
        Self {
            nodes: IntOrPercent::Percent(10),
            reasons: Vec::new(),
            schedule: None,
            duration: None,
        }
    }
}

/// A NodePool.
#[derive(Debug, Clone, PartialEq)]
pub struct NodePool {
    /// Name.
    pub name: String,
    /// Source API.
    pub api: NodePoolApi,
    /// 0..=100; higher pools are tried first.
    pub weight: i32,
    /// Labels put on every node.
    pub labels: BTreeMap<String, String>,
    /// Requirements on launched nodes (incl. `minValues`).
    pub requirements: Requirements,
    /// Taints on every node.
    pub taints: Vec<Taint>,
    /// Taints present only while a node starts; pods need not tolerate them.
    pub startup_taints: Vec<Taint>,
    /// Total capacity (and node count) the pool may own.
    pub limits: Limits,
    /// Consolidation policy; `None` when consolidation is off (v1alpha5 without it).
    pub consolidation_policy: Option<ConsolidationPolicy>,
    /// Quiet period before consolidation; `None` means `Never`.
    pub consolidate_after: Option<Duration>,
    /// Node lifetime; `None` means `Never`.
    pub expire_after: Option<Duration>,
    /// Forced drain deadline after a disruption starts; `None` means unbounded.
    pub termination_grace_period: Option<Duration>,
    /// Disruption budgets; empty means unlimited (the legacy Provisioner had none).
    pub budgets: Vec<Budget>,
    /// The node class (EC2NodeClass / AWSNodeTemplate) name.
    pub node_class: Option<String>,
    /// Kubelet settings given on the pool (v1beta1 and v1alpha5 keep them here).
    pub kubelet: Option<KubeletConfig>,
    /// `spec.replicas` of a static pool (Karpenter v1.8+); static pools are not provisioned dynamically.
    pub static_replicas: Option<i64>,
    /// karpdeck's holds on it (supervision, the freeze), as its annotations say.
    pub holds: Vec<super::Hold>,
}

impl NodePool {
    /// karpdeck's hold of this kind on the pool, if there is one.
    pub fn hold(&self, kind: super::HoldKind) -> Option<&super::Hold> {
        self.holds.iter().find(|h| h.kind == kind)
    }

    /// Every node of this pool carries these labels as requirements, plus `karpenter.sh/nodepool`.
    pub fn launch_requirements(&self) -> Requirements {
        let mut r = self.requirements.clone();
        r.add_all(&Requirements::from_labels(self.labels.iter()));
        r.add(
            super::labels::NODEPOOL,
            super::requirements::Requirement::single(&self.name),
        );
        r
    }
}
