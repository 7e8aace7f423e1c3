//! Well-known label, taint and annotation keys used by Kubernetes, EKS and Karpenter.

/// Availability zone of a node.
pub const ZONE: &str = "topology.kubernetes.io/zone";
/// Region of a node.
pub const REGION: &str = "topology.kubernetes.io/region";
/// Zone ID (`use1-az1`).
pub const ZONE_ID: &str = "topology.k8s.aws/zone-id";
/// EC2 instance type.
pub const INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
/// CPU architecture (`amd64`, `arm64`).
pub const ARCH: &str = "kubernetes.io/arch";
/// Operating system.
pub const OS: &str = "kubernetes.io/os";
/// Host name, the per-node topology domain.
pub const HOSTNAME: &str = "kubernetes.io/hostname";
/// Windows build.
pub const WINDOWS_BUILD: &str = "node.kubernetes.io/windows-build";
/// Karpenter capacity type (`spot`, `on-demand`, `reserved`).
pub const CAPACITY_TYPE: &str = "karpenter.sh/capacity-type";
/// EKS managed node group capacity type (`ON_DEMAND`, `SPOT`).
pub const EKS_CAPACITY_TYPE: &str = "eks.amazonaws.com/capacityType";
/// EKS managed node group name.
pub const EKS_NODEGROUP: &str = "eks.amazonaws.com/nodegroup";
/// The NodePool a node belongs to.
pub const NODEPOOL: &str = "karpenter.sh/nodepool";
/// The legacy (v1alpha5) Provisioner a node belongs to.
pub const PROVISIONER_NAME: &str = "karpenter.sh/provisioner-name";
/// Set once Karpenter considers the node initialized.
pub const INITIALIZED: &str = "karpenter.sh/initialized";
/// Set once the node registered with its NodeClaim.
pub const REGISTERED: &str = "karpenter.sh/registered";
/// Pod or node annotation that blocks voluntary disruption.
pub const DO_NOT_DISRUPT: &str = "karpenter.sh/do-not-disrupt";
/// Legacy (v1alpha5) pod annotation with the same meaning.
pub const DO_NOT_EVICT: &str = "karpenter.sh/do-not-evict";
/// Legacy (v1alpha5) node annotation that blocks consolidation.
pub const DO_NOT_CONSOLIDATE: &str = "karpenter.sh/do-not-consolidate";
/// Taint Karpenter puts on nodes it is disrupting.
pub const DISRUPTED_TAINT: &str = "karpenter.sh/disrupted";
/// Taint on nodes Karpenter launched but has not registered yet.
pub const UNREGISTERED_TAINT: &str = "karpenter.sh/unregistered";
/// The Helm chart's name label, `karpenter` on Karpenter's controller pods.
pub const APP_NAME: &str = "app.kubernetes.io/name";

/// Whether these labels mark Karpenter's controller (its Helm chart's pods).
pub fn is_karpenter_controller(labels: &std::collections::BTreeMap<String, String>) -> bool {
    labels.get(APP_NAME).map(String::as_str) == Some("karpenter")
}

/// Annotation on mirror (static) pods.
pub const MIRROR_POD: &str = "kubernetes.io/config.mirror";
/// Pod deletion cost annotation, used in eviction ordering.
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// Karpenter's AWS instance-type labels.
pub mod aws {
    /// Instance category (`m`, `c`, `r`, `t`, `p`, `g`, `inf`, ...).
    pub const INSTANCE_CATEGORY: &str = "karpenter.k8s.aws/instance-category";
    /// Instance family (`m5`, `c6g`).
    pub const INSTANCE_FAMILY: &str = "karpenter.k8s.aws/instance-family";
    /// Instance generation (`5`, `6`).
    pub const INSTANCE_GENERATION: &str = "karpenter.k8s.aws/instance-generation";
    /// Instance size (`large`, `2xlarge`, `metal`).
    pub const INSTANCE_SIZE: &str = "karpenter.k8s.aws/instance-size";
    /// vCPU count.
    pub const INSTANCE_CPU: &str = "karpenter.k8s.aws/instance-cpu";
    /// CPU manufacturer (`intel`, `amd`, `aws`).
    pub const INSTANCE_CPU_MANUFACTURER: &str = "karpenter.k8s.aws/instance-cpu-manufacturer";
    /// Memory in MiB.
    pub const INSTANCE_MEMORY: &str = "karpenter.k8s.aws/instance-memory";
    /// Hypervisor (`nitro`, `xen`, empty for metal).
    pub const INSTANCE_HYPERVISOR: &str = "karpenter.k8s.aws/instance-hypervisor";
    /// Whether traffic between such instances is encrypted.
    pub const INSTANCE_ENCRYPTION_IN_TRANSIT: &str =
        "karpenter.k8s.aws/instance-encryption-in-transit-supported";
    /// Network bandwidth in Mbit/s.
    pub const INSTANCE_NETWORK_BANDWIDTH: &str = "karpenter.k8s.aws/instance-network-bandwidth";
    /// Local NVMe storage in GB.
    pub const INSTANCE_LOCAL_NVME: &str = "karpenter.k8s.aws/instance-local-nvme";
    /// EBS bandwidth in Mbit/s.
    pub const INSTANCE_EBS_BANDWIDTH: &str = "karpenter.k8s.aws/instance-ebs-bandwidth";
    /// GPU count.
    pub const INSTANCE_GPU_COUNT: &str = "karpenter.k8s.aws/instance-gpu-count";
    /// GPU model (`v100`, `a10g`).
    pub const INSTANCE_GPU_NAME: &str = "karpenter.k8s.aws/instance-gpu-name";
    /// GPU manufacturer (`nvidia`, `amd`).
    pub const INSTANCE_GPU_MANUFACTURER: &str = "karpenter.k8s.aws/instance-gpu-manufacturer";
    /// Memory per GPU in MiB.
    pub const INSTANCE_GPU_MEMORY: &str = "karpenter.k8s.aws/instance-gpu-memory";
    /// Accelerator count (Inferentia, Trainium).
    pub const INSTANCE_ACCELERATOR_COUNT: &str = "karpenter.k8s.aws/instance-accelerator-count";
    /// Accelerator model.
    pub const INSTANCE_ACCELERATOR_NAME: &str = "karpenter.k8s.aws/instance-accelerator-name";
    /// Accelerator manufacturer.
    pub const INSTANCE_ACCELERATOR_MANUFACTURER: &str =
        "karpenter.k8s.aws/instance-accelerator-manufacturer";
    /// The EC2NodeClass a node was launched from.
    pub const EC2NODECLASS: &str = "karpenter.k8s.aws/ec2nodeclass";
}

/// Labels that a requirement may name even when the other side does not define them, because
/// Karpenter fills them in from the chosen instance type and offering: core's `WellKnownLabels`
/// plus the AWS provider's. `kubernetes.io/hostname` is not one (Karpenter restricts it).
pub const WELL_KNOWN: [&str; 31] = [
    NODEPOOL,
    ZONE,
    REGION,
    INSTANCE_TYPE,
    ARCH,
    OS,
    WINDOWS_BUILD,
    CAPACITY_TYPE,
    ZONE_ID,
    aws::INSTANCE_HYPERVISOR,
    aws::INSTANCE_ENCRYPTION_IN_TRANSIT,
    aws::INSTANCE_CATEGORY,
    aws::INSTANCE_FAMILY,
    aws::INSTANCE_GENERATION,
    aws::INSTANCE_LOCAL_NVME,
    aws::INSTANCE_SIZE,
    aws::INSTANCE_CPU,
    aws::INSTANCE_CPU_MANUFACTURER,
    "karpenter.k8s.aws/instance-cpu-sustained-clock-speed-mhz",
    aws::INSTANCE_MEMORY,
    aws::INSTANCE_EBS_BANDWIDTH,
    aws::INSTANCE_NETWORK_BANDWIDTH,
    aws::INSTANCE_GPU_NAME,
    aws::INSTANCE_GPU_MANUFACTURER,
    aws::INSTANCE_GPU_COUNT,
    aws::INSTANCE_GPU_MEMORY,
    aws::INSTANCE_ACCELERATOR_NAME,
    aws::INSTANCE_ACCELERATOR_MANUFACTURER,
    aws::INSTANCE_ACCELERATOR_COUNT,
    "karpenter.k8s.aws/capacity-reservation-id",
    "karpenter.k8s.aws/capacity-reservation-type",
];

/// Whether `key` is in [`WELL_KNOWN`].
pub fn is_well_known(key: &str) -> bool {
    WELL_KNOWN.contains(&key)
}

/// Deprecated beta labels map to their GA names, as Karpenter normalises requirement keys.
pub fn normalise_key(key: &str) -> &str {
    match key {
        "failure-domain.beta.kubernetes.io/zone" => ZONE,
        "failure-domain.beta.kubernetes.io/region" => REGION,
        "beta.kubernetes.io/arch" => ARCH,
        "beta.kubernetes.io/os" => OS,
        "beta.kubernetes.io/instance-type" => INSTANCE_TYPE,
        other => other,
    }
}

/// Normalise a capacity-type label value from either Karpenter or EKS managed node groups.
pub fn normalise_capacity_type(value: &str) -> &'static str {
    match value {
        "SPOT" | "spot" => "spot",
        "reserved" | "CAPACITY_BLOCK" => "reserved",
        _ => "on-demand",
    }
}
