//! NodePool limits: a set of named resources (and `nodes`), each capped; resources not named are
//! unlimited, and a limit of zero is a real limit.

use std::collections::BTreeMap;

use super::resources::Resources;

/// The `nodes` pseudo-resource.
pub const NODES: &str = "nodes";

/// Limits keyed by resource name, amounts in each resource's unit (millicores, bytes, counts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits(BTreeMap<String, i64>);

/// A limit that a launch would break.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitBreach {
    /// Resource name.
    pub resource: String,
    /// Usage after the launch.
    pub usage: i64,
    /// The limit.
    pub limit: i64,
}

impl std::fmt::Display for LimitBreach {
    /// Karpenter's wording: `cpu resource usage of 1001 exceeds limit of 1000`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: i64| match self.resource.as_str() {
            "cpu" if v % 1000 == 0 => (v / 1000).to_string(),
            NODES => v.to_string(),
            name => Resources::format_one(name, v),
        };
        write!(
            f,
            "{} resource usage of {} exceeds limit of {}",
            self.resource,
            show(self.usage),
            show(self.limit)
        )
    }
}

impl Limits {
    /// Set one limit.
    pub fn set(&mut self, name: &str, amount: i64) {
        self.0.insert(name.to_string(), amount);
    }

    /// The limit on `name`, if any.
    pub fn get(&self, name: &str) -> Option<i64> {
        self.0.get(name).copied()
    }

    /// Every limit, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Whether nothing is limited.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first limit that `usage` (with `nodes` nodes) plus `adding` (one more node) would break.
    pub fn breach(&self, usage: &Resources, nodes: i64, adding: &Resources) -> Option<LimitBreach> {
        self.iter().find_map(|(name, limit)| {
            let after = if name == NODES {
                nodes + 1
            } else {
                usage.get(name) + adding.get(name)
            };
            (after > limit).then(|| LimitBreach {
                resource: name.to_string(),
                usage: after,
                limit,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaches_name_the_resource_like_karpenter() {
        let mut l = Limits::default();
        l.set("cpu", 1_000_000);
        l.set(NODES, 3);
        let used = Resources::cpu_mem(999_000, 0);
        let b = l.breach(&used, 1, &Resources::cpu_mem(2000, 0)).unwrap();
        assert_eq!(
            b.to_string(),
            "cpu resource usage of 1001 exceeds limit of 1000"
        );
        assert!(l.breach(&used, 1, &Resources::cpu_mem(1000, 0)).is_none());
        let b = l
            .breach(&Resources::default(), 3, &Resources::default())
            .unwrap();
        assert_eq!(
            b.to_string(),
            "nodes resource usage of 4 exceeds limit of 3"
        );
        // A zero limit is a limit; an unnamed resource is not.
        let mut zero = Limits::default();
        zero.set("memory", 0);
        assert!(zero
            .breach(&Resources::default(), 0, &Resources::cpu_mem(0, 1))
            .is_some());
        assert!(zero
            .breach(&Resources::default(), 0, &Resources::cpu_mem(5, 0))
            .is_none());
    }
}
