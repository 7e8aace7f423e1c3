//! Taints and tolerations, with the Kubernetes matching rules.

use std::fmt;

/// What a taint does to pods that do not tolerate it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaintEffect {
    /// New pods are not scheduled.
    NoSchedule,
    /// The scheduler avoids the node if it can.
    PreferNoSchedule,
    /// Running pods are evicted too.
    NoExecute,
}

impl TaintEffect {
    /// Parse the effect as written in a manifest.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "NoSchedule" => Self::NoSchedule,
            "PreferNoSchedule" => Self::PreferNoSchedule,
            "NoExecute" => Self::NoExecute,
            _ => return None,
        })
    }

    /// The name as written in a manifest.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::NoSchedule => "NoSchedule",
            Self::PreferNoSchedule => "PreferNoSchedule",
            Self::NoExecute => "NoExecute",
        }
    }
}

/// A node taint.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Taint {
    /// Taint key.
    pub key: String,
    /// Taint value (may be empty).
    pub value: String,
    /// Effect.
    pub effect: TaintEffect,
}

impl Taint {
    /// A taint from its parts.
    pub fn new(key: &str, value: &str, effect: TaintEffect) -> Self {
        Self {
            key: key.to_string(),
            value: value.to_string(),
            effect,
        }
    }
}

impl fmt::Display for Taint {
    /// `key=value:Effect`, as kubectl prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "{}:{}", self.key, self.effect.as_str())
        } else {
            write!(f, "{}={}:{}", self.key, self.value, self.effect.as_str())
        }
    }
}

/// How a toleration compares values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TolerationOp {
    /// Key and value must match.
    Equal,
    /// Key must match (or be empty: matches every key); value ignored.
    Exists,
}

/// A pod toleration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Toleration {
    /// Key; empty with `Exists` tolerates every taint.
    pub key: String,
    /// Operator.
    pub op: TolerationOp,
    /// Value for `Equal`.
    pub value: String,
    /// Effect; `None` tolerates every effect.
    pub effect: Option<TaintEffect>,
}

impl Toleration {
    /// Whether this toleration matches the taint (Kubernetes `ToleratesTaint`).
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if self.effect.is_some_and(|e| e != taint.effect) {
            return false;
        }
        if !self.key.is_empty() && self.key != taint.key {
            return false;
        }
        match self.op {
            TolerationOp::Exists => true,
            TolerationOp::Equal => self.value == taint.value,
        }
    }
}

/// Whether some toleration matches the taint.
pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| t.tolerates(taint))
}

/// The first taint (of any effect, `PreferNoSchedule` included, as Karpenter counts them) that no
/// toleration matches.
pub fn first_untolerated<'a>(taints: &'a [Taint], tolerations: &[Toleration]) -> Option<&'a Taint> {
    taints.iter().find(|t| !tolerated(tolerations, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tol(key: &str, op: TolerationOp, value: &str, effect: Option<TaintEffect>) -> Toleration {
        Toleration {
            key: key.into(),
            op,
            value: value.into(),
            effect,
        }
    }

    #[test]
    fn matching_rules() {
        let gpu = Taint::new("nvidia.com/gpu", "true", TaintEffect::NoSchedule);
        use TolerationOp::*;
        assert!(tol("nvidia.com/gpu", Exists, "", Some(TaintEffect::NoSchedule)).tolerates(&gpu));
        assert!(tol("nvidia.com/gpu", Equal, "true", None).tolerates(&gpu));
        assert!(!tol("nvidia.com/gpu", Equal, "false", None).tolerates(&gpu));
        assert!(!tol("nvidia.com/gpu", Exists, "", Some(TaintEffect::NoExecute)).tolerates(&gpu));
        assert!(!tol("other", Exists, "", None).tolerates(&gpu));
        // Empty key with Exists tolerates everything.
        assert!(tol("", Exists, "", None).tolerates(&gpu));
        let pref = Taint::new("x", "", TaintEffect::PreferNoSchedule);
        assert!(tol("", Exists, "", Some(TaintEffect::PreferNoSchedule)).tolerates(&pref));
        assert!(!tol("", Exists, "", Some(TaintEffect::NoSchedule)).tolerates(&pref));
        // Equal with an empty value matches a taint with an empty value.
        assert!(tol("x", Equal, "", None).tolerates(&pref));
    }

    #[test]
    fn first_untolerated_counts_prefer_no_schedule() {
        let taints = vec![
            Taint::new("a", "", TaintEffect::NoSchedule),
            Taint::new("b", "", TaintEffect::PreferNoSchedule),
        ];
        let tols = vec![tol("a", TolerationOp::Exists, "", None)];
        assert_eq!(first_untolerated(&taints, &tols).unwrap().key, "b");
        assert_eq!(taints[0].to_string(), "a:NoSchedule");
        assert_eq!(
            Taint::new("k", "v", TaintEffect::NoExecute).to_string(),
            "k=v:NoExecute"
        );
    }
}
