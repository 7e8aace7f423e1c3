//! Capacity and allocatable of an instance type, the way Karpenter's AWS provider predicts them
//! before a node exists: VM memory overhead, ENI-limited pods, kube-reserved tiers, eviction threshold.

use std::collections::BTreeMap;

use super::instance_type::{Arch, InstanceType};
use crate::model::resources::names;
use crate::model::{KubeletConfig, Quantity, Resources};

const MIB: i64 = 1 << 20;
const GIB: i64 = 1 << 30;

/// How many pods a node may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PodDensity {
    /// `(ENIs − reserved) × (IPv4 per ENI − 1) + 2` (AL2, AL2023, Bottlerocket; Karpenter's default).
    #[default]
    EniLimited,
    /// EKS managed node groups: the ENI formula, capped at 110 below 30 vCPUs and 250 above.
    ManagedNodeGroup,
    /// VPC CNI prefix delegation: 16 addresses per ENI slot, with the managed-node-group cap.
    PrefixDelegation,
    /// A flat 110 (AMI families without ENI-limited density, such as Windows and Custom).
    Flat110,
}

/// The node-class and kubelet settings that change allocatable.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSettings {
    /// Share of memory the hypervisor keeps (`--vm-memory-overhead-percent`, default 0.075).
    pub vm_memory_overhead: f64,
    /// ENIs kept for other uses (`--reserved-enis`, default 0).
    pub reserved_enis: u32,
    /// Density rule.
    pub density: PodDensity,
    /// Kubelet overrides.
    pub kubelet: KubeletConfig,
    /// Root volume size in bytes (default 20 Gi gp3).
    pub root_volume_bytes: i64,
}

impl Default for NodeSettings {
    fn default() -> Self {
        Self {
            vm_memory_overhead: 0.075,
            reserved_enis: 0,
            density: PodDensity::EniLimited,
            kubelet: KubeletConfig::default(),
            root_volume_bytes: 20 * GIB,
        }
    }
}

/// Kube-reserved CPU: 6 % of the first core, 1 % of the second, 0.5 % of cores 3–4, 0.25 % above.
pub fn kube_reserved_cpu_millis(vcpus: u32) -> i64 {
    let cpu = vcpus as i64 * 1000;
    let tiers: [(i64, i64, i64); 4] = [
        (0, 1000, 600),
        (1000, 2000, 100),
        (2000, 4000, 50),
        (4000, i64::MAX, 25),
    ];
    // Rates are in hundredths of a percent so the arithmetic stays in integers.
    tiers
        .iter()
        .map(|&(lo, hi, rate)| (cpu.min(hi) - lo).max(0) * rate / 10_000)
        .sum()
}

impl NodeSettings {
    /// Maximum pods on a node of this type.
    pub fn max_pods(&self, it: &InstanceType) -> i64 {
        let eks_cap = if it.vcpus < 30 { 110 } else { 250 };
        let base = self.kubelet.max_pods.unwrap_or_else(|| match self.density {
            PodDensity::EniLimited => it.eni_limited_pods(self.reserved_enis),
            PodDensity::ManagedNodeGroup => it.eni_limited_pods(self.reserved_enis).min(eks_cap),
            PodDensity::PrefixDelegation => {
                let slots = (it.enis.saturating_sub(self.reserved_enis) as i64)
                    * (it.ipv4_per_eni as i64 - 1).max(0);
                (slots * 16 + 2).min(eks_cap)
            }
            PodDensity::Flat110 => 110,
        });
        match self.kubelet.pods_per_core {
            Some(ppc) if ppc > 0 => base.min(ppc * it.vcpus as i64),
            _ => base,
        }
    }

    /// What a node of this type reports as capacity.
    pub fn capacity(&self, it: &InstanceType) -> Resources {
        // Graviton kernels keep 64 MiB for the contiguous memory allocator.
        let reported_mib = it.memory_mib as i64 - if it.arch == Arch::Arm64 { 64 } else { 0 };
        let overhead_mib = (reported_mib as f64 * self.vm_memory_overhead).ceil() as i64;
        let mut r = Resources {
            cpu_millis: it.vcpus as i64 * 1000,
            memory_bytes: (reported_mib - overhead_mib) * MIB,
            ephemeral_bytes: self.root_volume_bytes,
            pods: self.max_pods(it),
            extended: BTreeMap::new(),
        };
        if let Some(gpu) = &it.gpu {
            let name = match gpu.manufacturer.as_str() {
                "amd" => names::AMD_GPU,
                _ => names::NVIDIA_GPU,
            };
            r.extended.insert(name.to_string(), gpu.count as i64);
        }
        if let Some(acc) = &it.accelerator {
            if acc.manufacturer == "aws" {
                r.extended
                    .insert(names::NEURON.to_string(), acc.count as i64);
            }
        }
        r
    }

    /// Kube-reserved for this type: CPU tiers, `11 × pods + 255` MiB, 1 Gi ephemeral; any resource
    /// set in `kubeReserved` replaces the computed one.
    pub fn kube_reserved(&self, it: &InstanceType) -> Resources {
        let mut r = Resources {
            cpu_millis: kube_reserved_cpu_millis(it.vcpus),
            memory_bytes: (11 * self.max_pods(it) + 255) * MIB,
            ephemeral_bytes: GIB,
            ..Resources::default()
        };
        if let Some(over) = &self.kubelet.kube_reserved {
            for (name, amount) in over.iter() {
                r.set(name, &quantity_of(name, amount));
            }
        }
        r
    }

    /// The hard eviction threshold: memory 100 Mi and 10 % of the root volume, or `evictionHard`.
    pub fn eviction_threshold(&self, capacity: &Resources) -> Resources {
        let resolve = |key: &str, default: &str, total: i64| -> i64 {
            let raw = self
                .kubelet
                .eviction_hard
                .get(key)
                .map(String::as_str)
                .unwrap_or(default);
            match raw.strip_suffix('%') {
                Some(p) => p
                    .parse::<f64>()
                    .map(|p| (total as f64 * p / 100.0).ceil() as i64)
                    .unwrap_or(0),
                None => Quantity::parse(raw).map(|q| q.units_ceil()).unwrap_or(0),
            }
        };
        Resources {
            memory_bytes: resolve("memory.available", "100Mi", capacity.memory_bytes),
            ephemeral_bytes: resolve("nodefs.available", "10%", capacity.ephemeral_bytes),
            ..Resources::default()
        }
    }

    /// Allocatable: capacity − (kube-reserved + system-reserved + eviction threshold), floored at 0.
    pub fn allocatable(&self, it: &InstanceType) -> Resources {
        let capacity = self.capacity(it);
        let mut overhead = self.kube_reserved(it);
        if let Some(system) = &self.kubelet.system_reserved {
            overhead.add_assign(system);
        }
        overhead.add_assign(&self.eviction_threshold(&capacity));
        // Pods are a count, not a reservation: keep the full slot count.
        overhead.pods = 0;
        let mut alloc = capacity.sub(&overhead);
        for (_, v) in alloc.extended.iter_mut() {
            *v = (*v).max(0);
        }
        alloc.cpu_millis = alloc.cpu_millis.max(0);
        alloc.memory_bytes = alloc.memory_bytes.max(0);
        alloc.ephemeral_bytes = alloc.ephemeral_bytes.max(0);
        alloc
    }
}

/// Rebuild a quantity for `Resources::set` from an amount already in the resource's unit.
fn quantity_of(name: &str, amount: i64) -> Quantity {
    if name == names::CPU {
        Quantity::from_millis(amount)
    } else {
        Quantity::from_units(amount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    #[test]
    fn kube_reserved_cpu_tiers() {
        assert_eq!(kube_reserved_cpu_millis(1), 60);
        assert_eq!(kube_reserved_cpu_millis(2), 70);
        assert_eq!(kube_reserved_cpu_millis(4), 80);
        assert_eq!(kube_reserved_cpu_millis(8), 90);
        assert_eq!(kube_reserved_cpu_millis(96), 310);
    }

    #[test]
    fn m5_large_matches_reference() {
        let c = Catalog::embedded();
        let it = c.get("m5.large").unwrap();
        let s = NodeSettings::default();
        assert_eq!(s.max_pods(it), 29);
        let cap = s.capacity(it);
        assert_eq!(cap.memory_bytes, 7577 * MIB);
        let alloc = s.allocatable(it);
        assert_eq!(alloc.cpu_millis, 1930);
        assert_eq!(alloc.memory_bytes, 6903 * MIB);
        assert_eq!(alloc.pods, 29);
        assert_eq!(alloc.ephemeral_bytes, 17 * GIB);
    }

    #[test]
    fn graviton_matches_lab_nodes() {
        // The lab's Karpenter-launched m6g.xlarge and c6g.2xlarge reported 14103Mi allocatable.
        let c = Catalog::embedded();
        let s = NodeSettings::default();
        for (name, cpu) in [("m6g.xlarge", 3920), ("c6g.2xlarge", 7910)] {
            let alloc = s.allocatable(c.get(name).unwrap());
            assert_eq!(alloc.cpu_millis, cpu, "{name}");
            assert_eq!(alloc.pods, 58, "{name}");
            assert_eq!(alloc.memory_bytes, 14103 * MIB, "{name}");
        }
    }

    #[test]
    fn kubelet_overrides() {
        let c = Catalog::embedded();
        let it = c.get("m5.large").unwrap();
        let mut s = NodeSettings::default();
        s.kubelet.max_pods = Some(110);
        assert_eq!(s.max_pods(it), 110);
        s.kubelet.pods_per_core = Some(10);
        assert_eq!(s.max_pods(it), 20);
        s.kubelet.max_pods = None;
        s.kubelet.pods_per_core = None;
        s.kubelet
            .eviction_hard
            .insert("memory.available".into(), "5%".into());
        let alloc = s.allocatable(it);
        let cap = s.capacity(it);
        let expected =
            cap.memory_bytes - 574 * MIB - (cap.memory_bytes as f64 * 0.05).ceil() as i64;
        assert_eq!(alloc.memory_bytes, expected);
        s.kubelet.kube_reserved = Some(Resources::cpu_mem(500, 0));
        assert_eq!(s.allocatable(it).cpu_millis, 1500);
        s.kubelet.system_reserved = Some(Resources::cpu_mem(100, 0));
        assert_eq!(s.allocatable(it).cpu_millis, 1400);
    }

    #[test]
    fn density_rules() {
        let c = Catalog::embedded();
        let small = c.get("m5.large").unwrap();
        let big = c.get("m5.24xlarge").unwrap();
        let pd = NodeSettings {
            density: PodDensity::PrefixDelegation,
            ..NodeSettings::default()
        };
        assert_eq!(pd.max_pods(small), 110);
        assert_eq!(pd.max_pods(big), 250);
        let tiny = c.get("t3.nano").unwrap();
        assert_eq!(NodeSettings::default().max_pods(tiny), 4);
        assert_eq!(pd.max_pods(tiny), 34);
        let mng = NodeSettings {
            density: PodDensity::ManagedNodeGroup,
            ..NodeSettings::default()
        };
        assert_eq!(mng.max_pods(small), 29);
        assert_eq!(mng.max_pods(c.get("m5.4xlarge").unwrap()), 110);
        assert_eq!(mng.max_pods(big), 250);
        let flat = NodeSettings {
            density: PodDensity::Flat110,
            ..NodeSettings::default()
        };
        assert_eq!(flat.max_pods(big), 110);
        assert_eq!(NodeSettings::default().max_pods(big), 737);
    }

    #[test]
    fn gpus_are_extended_capacity() {
        let c = Catalog::embedded();
        let s = NodeSettings::default();
        let p3 = s.allocatable(c.get("p3.8xlarge").unwrap());
        assert_eq!(p3.get("nvidia.com/gpu"), 4);
        let inf = s.allocatable(c.get("inf2.xlarge").unwrap());
        assert_eq!(inf.get("aws.amazon.com/neuron"), 1);
    }
}
