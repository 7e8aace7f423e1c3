//! Selecting instance types the way ec2-instance-selector does: region, architecture, minimum
//! vCPUs and memory, GPUs.

use super::instance_type::{Arch, InstanceType};
use super::Catalog;

/// Criteria for `karpdeck catalog`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TypeFilter {
    /// Only types offered in this region.
    pub region: Option<String>,
    /// Only this architecture.
    pub arch: Option<Arch>,
    /// At least this many vCPUs.
    pub min_vcpus: Option<u32>,
    /// At least this much memory, in bytes.
    pub min_memory_bytes: Option<i64>,
    /// Only types with GPUs.
    pub gpu: bool,
}

impl TypeFilter {
    /// Whether a type passes every criterion.
    pub fn matches(&self, catalog: &Catalog, it: &InstanceType) -> bool {
        self.region
            .as_deref()
            .is_none_or(|r| catalog.offer(r, &it.name).is_some())
            && self.arch.is_none_or(|a| a == it.arch)
            && self.min_vcpus.is_none_or(|v| it.vcpus >= v)
            && self
                .min_memory_bytes
                .is_none_or(|m| (it.memory_mib as i64) << 20 >= m)
            && (!self.gpu || it.gpu.is_some())
    }

    /// The matching types, in catalog (name) order.
    pub fn apply<'c>(&self, catalog: &'c Catalog) -> Vec<&'c InstanceType> {
        catalog
            .types()
            .iter()
            .filter(|t| self.matches(catalog, t))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_combine() {
        let c = Catalog::embedded();
        let f = TypeFilter {
            region: Some("us-east-1".into()),
            arch: Some(Arch::Arm64),
            min_vcpus: Some(8),
            min_memory_bytes: Some(32 << 30),
            gpu: false,
        };
        let hits = f.apply(&c);
        assert!(!hits.is_empty());
        assert!(hits
            .iter()
            .all(|t| t.arch == Arch::Arm64 && t.vcpus >= 8 && t.memory_mib >= 32 * 1024));
        let gpus = TypeFilter {
            gpu: true,
            ..TypeFilter::default()
        }
        .apply(&c);
        assert!(gpus.iter().any(|t| t.name == "p3.8xlarge"));
        assert!(gpus.iter().all(|t| t.gpu.is_some()));
    }
}
