//! The permissions karpdeck's actions need on a cluster, so that an action the user may not do
//! is shown disabled with what is missing, never offered and then refused.

use std::collections::BTreeSet;

use crate::exec::action::Step;
use crate::exec::Action;

/// One thing an action does through the API, as RBAC names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// `patch nodes`: cordon and uncordon.
    PatchNodes,
    /// `create pods/eviction`: drain through the Eviction API.
    EvictPods,
    /// `delete pods`: drain with `--disable-eviction`.
    DeletePods,
    /// `create nodeclaims.karpenter.sh`: launch.
    CreateNodeClaims,
    /// `delete nodeclaims.karpenter.sh`: remove a Karpenter node.
    DeleteNodeClaims,
    /// `patch nodepools.karpenter.sh`: supervise, release, freeze and unfreeze.
    PatchNodePools,
}

impl Permission {
    /// Every permission karpdeck may need.
    pub const ALL: [Permission; 6] = [
        Permission::PatchNodes,
        Permission::EvictPods,
        Permission::DeletePods,
        Permission::CreateNodeClaims,
        Permission::DeleteNodeClaims,
        Permission::PatchNodePools,
    ];

    /// `(verb, API group, resource, subresource)` for an access review.
    pub fn attributes(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Permission::PatchNodes => ("patch", "", "nodes", ""),
            Permission::EvictPods => ("create", "", "pods", "eviction"),
            Permission::DeletePods => ("delete", "", "pods", ""),
            Permission::CreateNodeClaims => ("create", "karpenter.sh", "nodeclaims", ""),
            Permission::DeleteNodeClaims => ("delete", "karpenter.sh", "nodeclaims", ""),
            Permission::PatchNodePools => ("patch", "karpenter.sh", "nodepools", ""),
        }
    }

    /// As kubectl would say it: `create pods/eviction`, `delete nodeclaims.karpenter.sh`.
    pub fn describe(self) -> String {
        let (verb, group, resource, sub) = self.attributes();
        let mut what = resource.to_string();
        if !group.is_empty() {
            what = format!("{what}.{group}");
        }
        if !sub.is_empty() {
            what = format!("{what}/{sub}");
        }
        format!("{verb} {what}")
    }
}

/// What running `action` needs.
pub fn needs(action: &Action) -> BTreeSet<Permission> {
    action
        .steps
        .iter()
        .filter_map(|step| match step {
            Step::Cordon(_) | Step::Taint(_) | Step::Uncordon(_) => Some(Permission::PatchNodes),
            Step::Evict { .. } | Step::WaitGone { .. } if action.options.disable_eviction => {
                Some(Permission::DeletePods)
            }
            Step::Evict { .. } | Step::WaitGone { .. } => Some(Permission::EvictPods),
            Step::Launch(_) => Some(Permission::CreateNodeClaims),
            Step::Delete(_) => Some(Permission::DeleteNodeClaims),
            Step::Hold { .. } => Some(Permission::PatchNodePools),
            Step::WaitReady(_) => None,
        })
        .collect()
}

/// Why an action needing `needed` is not offered through `context`, if `denied` holds any of
/// it: `not permitted: context C may not create pods/eviction`.
pub fn not_permitted(
    needed: &BTreeSet<Permission>,
    denied: &BTreeSet<Permission>,
    context: &str,
) -> Option<String> {
    missing(needed, denied)
        .map(|missing| format!("not permitted: context {context} may not {missing}"))
}

/// What of `needed` is in `denied`, as one line (`create pods/eviction, patch nodes`), if any.
pub fn missing(needed: &BTreeSet<Permission>, denied: &BTreeSet<Permission>) -> Option<String> {
    let missing: Vec<String> = needed.intersection(denied).map(|p| p.describe()).collect();
    (!missing.is_empty()).then(|| missing.join(", "))
}
