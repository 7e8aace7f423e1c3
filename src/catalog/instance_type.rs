//! One EC2 instance type: hardware facts and the labels Karpenter derives from them.

use crate::model::labels::{self, aws};
use crate::model::{Requirement, Requirements};

/// CPU architecture, as Kubernetes names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    /// x86_64.
    Amd64,
    /// Graviton and other ARM.
    Arm64,
}

impl Arch {
    /// The `kubernetes.io/arch` value.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Amd64 => "amd64",
            Self::Arm64 => "arm64",
        }
    }

    /// Parse `amd64`/`x86_64` or `arm64`/`aarch64`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "amd64" | "x86_64" => Some(Self::Amd64),
            "arm64" | "aarch64" => Some(Self::Arm64),
            _ => None,
        }
    }
}

/// GPUs or other accelerators on a type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accelerator {
    /// How many.
    pub count: u32,
    /// Model, lower case (`v100`, `a10g`, `inferentia2`).
    pub name: String,
    /// Maker, lower case (`nvidia`, `amd`, `aws`).
    pub manufacturer: String,
    /// Memory per device in MiB (GPUs only; 0 when unknown).
    pub memory_mib: u64,
}

/// An EC2 instance type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceType {
    /// `m5.large`.
    pub name: String,
    /// `m5`.
    pub family: String,
    /// `large`.
    pub size: String,
    /// `m`, `c`, `inf`, `u`.
    pub category: String,
    /// `5`; `None` when the name has no generation digit.
    pub generation: Option<u32>,
    /// Architecture.
    pub arch: Arch,
    /// Default vCPUs.
    pub vcpus: u32,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// `nitro`, `xen`, or empty for bare metal.
    pub hypervisor: String,
    /// Bare metal.
    pub bare_metal: bool,
    /// Burstable (T family).
    pub burstable: bool,
    /// `intel`, `amd`, `aws`.
    pub cpu_manufacturer: String,
    /// Maximum network interfaces.
    pub enis: u32,
    /// IPv4 addresses per interface.
    pub ipv4_per_eni: u32,
    /// GPUs.
    pub gpu: Option<Accelerator>,
    /// Inferentia/Trainium accelerators.
    pub accelerator: Option<Accelerator>,
    /// Local NVMe storage in GB (0 for none).
    pub local_nvme_gb: u32,
    /// Baseline network bandwidth in Mbit/s.
    pub network_mbps: u32,
    /// Maximum EBS bandwidth in Mbit/s.
    pub ebs_mbps: u32,
    /// Supports encryption in transit.
    pub encryption_in_transit: bool,
}

/// Split `m5dn.2xlarge` into (category `m`, generation 5); `u-6tb1.metal` into (`u`, 1).
pub fn category_and_generation(family: &str) -> (String, Option<u32>) {
    let letters: String = family
        .chars()
        .take_while(|c| c.is_ascii_lowercase())
        .collect();
    let mut rest = &family[letters.len()..];
    // High-memory names put the memory size between category and generation: `u-6tb1`.
    if let Some(after) = rest.strip_prefix('-') {
        if let Some(tb) = after.find("tb") {
            rest = &after[tb + 2..];
        }
    }
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    (letters, digits.parse().ok())
}

impl InstanceType {
    /// The ENI-limited pod density: `(ENIs - reserved) * (IPv4 per ENI - 1) + 2`, as in the EKS AMI's
    /// eni-max-pods table.
    pub fn eni_limited_pods(&self, reserved_enis: u32) -> i64 {
        let usable = self.enis.saturating_sub(reserved_enis) as i64;
        usable * (self.ipv4_per_eni as i64 - 1).max(0) + 2
    }

    /// The label requirements Karpenter gives this type (zone and capacity type come from offerings
    /// and are added by the caller). Optional hardware absent here is `DoesNotExist`, so a pod that
    /// asks for a GPU never matches a type without one.
    pub fn requirements(&self) -> Requirements {
        let mut r = Requirements::new();
        let mut put = |key: &str, value: String| r.add(key, Requirement::single(&value));
        put(labels::INSTANCE_TYPE, self.name.clone());
        put(labels::ARCH, self.arch.as_str().to_string());
        put(labels::OS, "linux".to_string());
        put(aws::INSTANCE_FAMILY, self.family.clone());
        put(aws::INSTANCE_SIZE, self.size.clone());
        put(aws::INSTANCE_CATEGORY, self.category.clone());
        put(aws::INSTANCE_CPU, self.vcpus.to_string());
        put(
            aws::INSTANCE_CPU_MANUFACTURER,
            self.cpu_manufacturer.clone(),
        );
        put(aws::INSTANCE_MEMORY, self.memory_mib.to_string());
        put(aws::INSTANCE_HYPERVISOR, self.hypervisor.clone());
        put(
            aws::INSTANCE_ENCRYPTION_IN_TRANSIT,
            self.encryption_in_transit.to_string(),
        );
        if let Some(g) = self.generation {
            put(aws::INSTANCE_GENERATION, g.to_string());
        }
        if self.network_mbps > 0 {
            put(
                aws::INSTANCE_NETWORK_BANDWIDTH,
                self.network_mbps.to_string(),
            );
        }
        if self.ebs_mbps > 0 {
            put(aws::INSTANCE_EBS_BANDWIDTH, self.ebs_mbps.to_string());
        }
        let optional: [(&str, Option<String>); 8] = [
            (
                aws::INSTANCE_LOCAL_NVME,
                (self.local_nvme_gb > 0).then(|| self.local_nvme_gb.to_string()),
            ),
            (
                aws::INSTANCE_GPU_COUNT,
                self.gpu.as_ref().map(|g| g.count.to_string()),
            ),
            (
                aws::INSTANCE_GPU_NAME,
                self.gpu.as_ref().map(|g| g.name.clone()),
            ),
            (
                aws::INSTANCE_GPU_MANUFACTURER,
                self.gpu.as_ref().map(|g| g.manufacturer.clone()),
            ),
            (
                aws::INSTANCE_GPU_MEMORY,
                self.gpu.as_ref().map(|g| g.memory_mib.to_string()),
            ),
            (
                aws::INSTANCE_ACCELERATOR_COUNT,
                self.accelerator.as_ref().map(|a| a.count.to_string()),
            ),
            (
                aws::INSTANCE_ACCELERATOR_NAME,
                self.accelerator.as_ref().map(|a| a.name.clone()),
            ),
            (
                aws::INSTANCE_ACCELERATOR_MANUFACTURER,
                self.accelerator.as_ref().map(|a| a.manufacturer.clone()),
            ),
        ];
        for (key, value) in optional {
            match value {
                Some(v) => r.add(key, Requirement::single(&v)),
                None => r.add(key, Requirement::does_not_exist()),
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_parsing() {
        assert_eq!(category_and_generation("m5"), ("m".into(), Some(5)));
        assert_eq!(category_and_generation("m5dn"), ("m".into(), Some(5)));
        assert_eq!(category_and_generation("inf2"), ("inf".into(), Some(2)));
        assert_eq!(category_and_generation("trn1n"), ("trn".into(), Some(1)));
        assert_eq!(category_and_generation("u-6tb1"), ("u".into(), Some(1)));
        assert_eq!(category_and_generation("u7i-12tb"), ("u".into(), Some(7)));
        assert_eq!(category_and_generation("hpc7g"), ("hpc".into(), Some(7)));
    }
}
