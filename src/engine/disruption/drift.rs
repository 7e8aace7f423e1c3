//! Drift: a node that its NodePool would no longer launch as it is.

use std::fmt;

use crate::model::labels;
use crate::model::{Node, NodePool, NodePoolApi, Requirement};

/// Why a node drifted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// A NodePool requirement no longer admits the node's label (Karpenter's RequirementsDrifted).
    Requirement {
        /// Label key.
        key: String,
        /// The node's value, if it has the label.
        value: Option<String>,
        /// What the pool requires now.
        required: Requirement,
    },
    /// A label the NodePool sets has another value on the node (NodePoolDrifted).
    Label {
        /// Label key.
        key: String,
        /// The pool's value.
        wanted: String,
        /// The node's value.
        found: Option<String>,
    },
    /// A taint the NodePool sets is missing from the node (NodePoolDrifted).
    Taint(String),
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Requirement {
                key,
                value,
                required,
            } => write!(
                f,
                "requirement {key} {required} no longer admits {}",
                value
                    .as_deref()
                    .map_or("an absent label".to_string(), |v| format!("{v:?}"))
            ),
            Self::Label { key, wanted, found } => write!(
                f,
                "label {key}={wanted} expected, node has {}",
                found.as_deref().unwrap_or("none")
            ),
            Self::Taint(t) => write!(f, "taint {t} missing"),
        }
    }
}

/// The first way `node` no longer matches `pool`, if any. Legacy Provisioners are not checked
/// (drift was not part of v1alpha5).
pub fn drift(node: &Node, pool: &NodePool) -> Option<Drift> {
    if pool.api == NodePoolApi::V1alpha5Provisioner {
        return None;
    }
    for (key, required) in pool.requirements.iter() {
        let value = node.label(key);
        // Karpenter lets well-known labels be undefined on the NodeClaim side.
        if value.is_none() && labels::is_well_known(key) {
            continue;
        }
        if !required.matches_label(value) {
            return Some(Drift::Requirement {
                key: key.to_string(),
                value: value.map(str::to_string),
                required: required.clone(),
            });
        }
    }
    for (key, wanted) in &pool.labels {
        if node.label(key) != Some(wanted.as_str()) {
            return Some(Drift::Label {
                key: key.clone(),
                wanted: wanted.clone(),
                found: node.label(key).map(str::to_string),
            });
        }
    }
    pool.taints
        .iter()
        .find(|t| !node.taints.contains(t))
        .map(|t| Drift::Taint(t.to_string()))
}
