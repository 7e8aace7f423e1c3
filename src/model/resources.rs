//! Resource lists in exact integer units: CPU in millicores, memory and storage in bytes, counts.

use std::collections::BTreeMap;
use std::fmt;

use super::quantity::{format_bytes, format_millis, Quantity};

/// Well-known resource names.
pub mod names {
    /// CPU, in millicores.
    pub const CPU: &str = "cpu";
    /// Memory, in bytes.
    pub const MEMORY: &str = "memory";
    /// Ephemeral storage, in bytes.
    pub const EPHEMERAL_STORAGE: &str = "ephemeral-storage";
    /// Pod slots.
    pub const PODS: &str = "pods";
    /// NVIDIA GPUs.
    pub const NVIDIA_GPU: &str = "nvidia.com/gpu";
    /// AMD GPUs.
    pub const AMD_GPU: &str = "amd.com/gpu";
    /// AWS Neuron devices.
    pub const NEURON: &str = "aws.amazon.com/neuron";
}

/// A set of resource amounts. Extended resources (GPUs, hugepages, ...) live in a sorted map in whole
/// units, or bytes for `hugepages-*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// CPU in millicores.
    pub cpu_millis: i64,
    /// Memory in bytes.
    pub memory_bytes: i64,
    /// Ephemeral storage in bytes.
    pub ephemeral_bytes: i64,
    /// Pod count.
    pub pods: i64,
    /// Any other resource, by name.
    pub extended: BTreeMap<String, i64>,
}

impl Resources {
    /// CPU and memory only.
    pub fn cpu_mem(cpu_millis: i64, memory_bytes: i64) -> Self {
        Self {
            cpu_millis,
            memory_bytes,
            ..Self::default()
        }
    }

    /// Set one resource from a parsed quantity, converting to the resource's unit.
    pub fn set(&mut self, name: &str, q: &Quantity) {
        if name == names::CPU {
            self.cpu_millis = q.milli_ceil();
        } else {
            *self.slot_mut(name) = q.units_ceil();
        }
    }

    /// The amount of one resource in its unit (0 when absent).
    pub fn get(&self, name: &str) -> i64 {
        match name {
            names::CPU => self.cpu_millis,
            names::MEMORY => self.memory_bytes,
            names::EPHEMERAL_STORAGE => self.ephemeral_bytes,
            names::PODS => self.pods,
            other => self.extended.get(other).copied().unwrap_or(0),
        }
    }

    fn slot_mut(&mut self, name: &str) -> &mut i64 {
        match name {
            names::CPU => &mut self.cpu_millis,
            names::MEMORY => &mut self.memory_bytes,
            names::EPHEMERAL_STORAGE => &mut self.ephemeral_bytes,
            names::PODS => &mut self.pods,
            other => self.extended.entry(other.to_string()).or_insert(0),
        }
    }

    /// Every resource with a non-zero amount, in a stable order (cpu, memory, ephemeral, pods, extended).
    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        [
            (names::CPU, self.cpu_millis),
            (names::MEMORY, self.memory_bytes),
            (names::EPHEMERAL_STORAGE, self.ephemeral_bytes),
            (names::PODS, self.pods),
        ]
        .into_iter()
        .chain(self.extended.iter().map(|(k, v)| (k.as_str(), *v)))
        .filter(|(_, v)| *v != 0)
    }

    /// Apply `f` to every resource present in either list.
    fn zip_with(&self, other: &Self, f: impl Fn(i64, i64) -> i64) -> Self {
        let mut extended = self.extended.clone();
        for (k, v) in &other.extended {
            let e = extended.entry(k.clone()).or_insert(0);
            *e = f(*e, *v);
        }
        for (k, v) in extended.iter_mut() {
            if !other.extended.contains_key(k) {
                *v = f(*v, 0);
            }
        }
        Self {
            cpu_millis: f(self.cpu_millis, other.cpu_millis),
            memory_bytes: f(self.memory_bytes, other.memory_bytes),
            ephemeral_bytes: f(self.ephemeral_bytes, other.ephemeral_bytes),
            pods: f(self.pods, other.pods),
            extended,
        }
    }

    /// Sum of two lists.
    pub fn add(&self, other: &Self) -> Self {
        self.zip_with(other, i64::saturating_add)
    }

    /// Difference of two lists (may go negative: callers decide what an overdraft means).
    pub fn sub(&self, other: &Self) -> Self {
        self.zip_with(other, i64::saturating_sub)
    }

    /// Per-resource maximum.
    pub fn max(&self, other: &Self) -> Self {
        self.zip_with(other, i64::max)
    }

    /// Per-resource minimum (a resource absent on one side counts as zero).
    pub fn min(&self, other: &Self) -> Self {
        self.zip_with(other, i64::min)
    }

    /// Add `other` in place.
    pub fn add_assign(&mut self, other: &Self) {
        *self = self.add(other);
    }

    /// Whether every requested amount fits in `available` (a missing resource there counts as zero).
    pub fn fits_in(&self, available: &Self) -> bool {
        self.first_exceeding(available).is_none()
    }

    /// The first resource whose request exceeds what is available, if any.
    pub fn first_exceeding<'a>(&'a self, available: &Self) -> Option<&'a str> {
        self.iter()
            .find(|(name, v)| *v > available.get(name))
            .map(|(name, _)| name)
    }

    /// Whether every amount is zero.
    pub fn is_zero(&self) -> bool {
        self.iter().next().is_none()
    }

    /// One resource formatted as a Kubernetes quantity in Karpenter's log style.
    pub fn format_one(name: &str, amount: i64) -> String {
        match name {
            names::CPU => format_millis(amount),
            names::MEMORY | names::EPHEMERAL_STORAGE => format_bytes(amount),
            n if n.starts_with("hugepages-") => format_bytes(amount),
            _ => amount.to_string(),
        }
    }

    /// Every non-zero resource as `name → quantity string`, in the stable order of [`Resources::iter`].
    pub fn to_quantity_map(&self) -> BTreeMap<String, String> {
        self.iter()
            .map(|(k, v)| (k.to_string(), Self::format_one(k, v)))
            .collect()
    }
}

impl fmt::Display for Resources {
    /// `{"cpu":"6825m","memory":"12025950Ki","pods":"7"}`, the shape Karpenter logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (name, amount)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "\"{name}\":\"{}\"", Self::format_one(name, amount))?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap()
    }

    #[test]
    fn set_converts_units() {
        let mut r = Resources::default();
        r.set("cpu", &q("6825m"));
        r.set("memory", &q("12025950Ki"));
        r.set("pods", &q("7"));
        r.set("nvidia.com/gpu", &q("1"));
        assert_eq!(r.cpu_millis, 6825);
        assert_eq!(r.memory_bytes, 12_314_572_800);
        assert_eq!(r.get("nvidia.com/gpu"), 1);
        assert_eq!(
            r.to_string(),
            r#"{"cpu":"6825m","memory":"12025950Ki","pods":"7","nvidia.com/gpu":"1"}"#
        );
    }

    #[test]
    fn arithmetic_covers_extended() {
        let mut a = Resources::cpu_mem(1000, 1 << 30);
        a.extended.insert("nvidia.com/gpu".into(), 1);
        let mut b = Resources::cpu_mem(500, 1 << 29);
        b.extended.insert("hugepages-2Mi".into(), 2 << 20);
        let sum = a.add(&b);
        assert_eq!(sum.cpu_millis, 1500);
        assert_eq!(sum.get("nvidia.com/gpu"), 1);
        assert_eq!(sum.get("hugepages-2Mi"), 2 << 20);
        let diff = sum.sub(&b);
        assert_eq!(diff.cpu_millis, 1000);
        assert_eq!(diff.get("hugepages-2Mi"), 0);
        assert_eq!(a.max(&b).memory_bytes, 1 << 30);
    }

    #[test]
    fn fits_treats_missing_capacity_as_zero() {
        let cap = Resources::cpu_mem(2000, 8 << 30);
        assert!(Resources::cpu_mem(2000, 8 << 30).fits_in(&cap));
        assert_eq!(
            Resources::cpu_mem(2001, 0).first_exceeding(&cap),
            Some("cpu")
        );
        let mut gpu = Resources::cpu_mem(100, 0);
        gpu.extended.insert("nvidia.com/gpu".into(), 1);
        assert_eq!(gpu.first_exceeding(&cap), Some("nvidia.com/gpu"));
        assert!(Resources::default().is_zero());
    }
}
