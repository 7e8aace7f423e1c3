//! EC2NodeClass / AWSNodeTemplate: the parts that change what a node looks like to the scheduler.

use std::collections::BTreeMap;

use super::resources::Resources;

/// Kubelet settings that change allocatable or pod density.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeletConfig {
    /// `maxPods`: overrides the ENI-limited density.
    pub max_pods: Option<i64>,
    /// `podsPerCore`: caps pods at this times vCPUs.
    pub pods_per_core: Option<i64>,
    /// `systemReserved`.
    pub system_reserved: Option<Resources>,
    /// `kubeReserved`: replaces the computed defaults for the resources it names.
    pub kube_reserved: Option<Resources>,
    /// `evictionHard`, as written (`memory.available: 100Mi` or `5%`).
    pub eviction_hard: BTreeMap<String, String>,
}

/// A node class.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeClass {
    /// Name.
    pub name: String,
    /// Kind as written (`EC2NodeClass`, `AWSNodeTemplate`).
    pub kind: String,
    /// AMI family (`AL2`, `AL2023`, `Bottlerocket`, `Windows2022`, `Custom`); `None` when the
    /// object does not say (Karpenter's default applies).
    pub ami_family: Option<String>,
    /// Node IAM role.
    pub role: Option<String>,
    /// Subnet selector terms, as tag maps or IDs, for display.
    pub subnet_selectors: Vec<BTreeMap<String, String>>,
    /// Security group selector terms, for display.
    pub security_group_selectors: Vec<BTreeMap<String, String>>,
    /// Kubelet settings (v1 keeps them on the node class).
    pub kubelet: Option<KubeletConfig>,
    /// Root volume size in bytes, if set by a block device mapping.
    pub root_volume_bytes: Option<i64>,
    /// AMIs pinned by ID, name or a versioned alias (rather than following the latest release).
    pub ami_pinned: bool,
    /// A custom launch template, which Karpenter's guide advises against.
    pub launch_template: Option<String>,
}

impl NodeClass {
    /// Whether nodes of this class get ENI-limited pod density (AL2, AL2023, Bottlerocket) rather
    /// than a flat 110.
    pub fn eni_limited_pods(&self) -> bool {
        match self.ami_family.as_deref() {
            None => true,
            Some(f) => {
                let f = f.to_ascii_lowercase();
                f.starts_with("al2") || f.starts_with("bottlerocket")
            }
        }
    }
}
