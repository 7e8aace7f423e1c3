//! Plans an earlier karpdeck left unfinished (it was killed, or the machine went): what each
//! left on the cluster as it is now, named node by node, and resuming one — never by replaying
//! its steps, always by planning the same action again from the live state, previewed and
//! approved anew.

use std::sync::Arc;

use super::replan::Builder;
use crate::engine::drain::{drain_plan, OPERATOR_DRAIN};
use crate::engine::replace::replacement_plan;
use crate::exec::action::Refusal;
use crate::exec::journal::Unfinished;
use crate::exec::{Action, ActionKind};
use crate::model::{labels, HoldKind, OwnerKind, Snapshot};

/// How many pod names a leftover line lists.
const NAMED_PODS: usize = 3;

/// What `u` left behind, one line per target, as `s` shows it: a node still there, whether it
/// is cordoned and the pods still on it; a NodePool's holds; a target that is gone.
pub fn leftovers(s: &Snapshot, u: &Unfinished) -> Vec<String> {
    u.first
        .targets
        .iter()
        .map(|t| {
            if let Some(n) = s.nodes.iter().find(|n| &n.name == t) {
                let pods: Vec<String> = s
                    .pods
                    .iter()
                    .filter(|p| p.node_name.as_deref() == Some(t.as_str()) && !p.deleting)
                    .filter(|p| {
                        p.owner
                            .as_ref()
                            .is_none_or(|o| o.kind != OwnerKind::DaemonSet)
                    })
                    .map(|p| p.key())
                    .collect();
                let named = match pods.len() {
                    0 => String::new(),
                    n if n <= NAMED_PODS => format!(" ({})", pods.join(", ")),
                    n => format!(
                        " ({} and {} more)",
                        pods[..NAMED_PODS].join(", "),
                        n - NAMED_PODS
                    ),
                };
                let tainted = n.taints.iter().any(|t| t.key == labels::DISRUPTED_TAINT);
                format!(
                    "node {t}: {}{}, {} pod(s) still on it{named}",
                    if n.unschedulable {
                        "cordoned"
                    } else {
                        "schedulable"
                    },
                    if tainted {
                        ", karpenter.sh/disrupted taint on"
                    } else {
                        ""
                    },
                    pods.len()
                )
            } else if let Some(p) = s.nodepool(t) {
                let holds: Vec<String> = p
                    .holds
                    .iter()
                    .map(|h| format!("{} by {}", h.kind.as_str(), h.by))
                    .collect();
                format!(
                    "nodepool {t}: {}",
                    if holds.is_empty() {
                        "no karpdeck hold".to_string()
                    } else {
                        holds.join(", ")
                    }
                )
            } else {
                format!("{t}: gone")
            }
        })
        .collect()
}

/// The builder that plans `u`'s action again from the cluster as it is then, for holder `by`:
/// a drain (or a removal's drain) of its nodes still there, a replacement, a cordon, a hold.
/// A scale-out is not resumed: each pass plans one anew for the pods pending then.
pub fn replan(u: &Unfinished, by: &str) -> Result<Builder, Refusal> {
    let kind: ActionKind = serde_json::from_value(serde_json::Value::String(
        u.first.action.clone(),
    ))
    .map_err(|_| {
        Refusal(format!(
            "{}: unknown action {:?}",
            u.first.plan, u.first.action
        ))
    })?;
    let targets = u.first.targets.clone();
    let by = by.to_string();
    let hold = |kind: HoldKind, take: bool| -> Builder {
        let targets = targets.clone();
        Arc::new(move |id, s: &Snapshot| Action::hold(id, s, kind, take, &targets, &by))
    };
    Ok(match kind {
        // What a removal left is its pods on nodes still there: drained with the operator's
        // flags (the preview names any pod they do not let go).
        ActionKind::Drain | ActionKind::Delete | ActionKind::InterruptionResponse => {
            Arc::new(move |id, s: &Snapshot| {
                let nodes: Vec<usize> = targets
                    .iter()
                    .filter_map(|t| s.nodes.iter().position(|n| &n.name == t))
                    .collect();
                if nodes.is_empty() {
                    return Err(Refusal(format!("{} are gone: nothing left to drain", targets.join(", "))));
                }
                Action::drain(id, s, &drain_plan(s, &nodes, &OPERATOR_DRAIN), &OPERATOR_DRAIN)
            })
        }
        ActionKind::Replace => Arc::new(move |id, s: &Snapshot| {
            let node = targets.first().map(String::as_str).unwrap_or_default();
            let i = s
                .nodes
                .iter()
                .position(|n| n.name == node)
                .ok_or_else(|| Refusal(format!("{node} is gone: nothing left to replace")))?;
            Ok(Action::replace(id, s, &replacement_plan(s, i)))
        }),
        ActionKind::Cordon | ActionKind::Uncordon => {
            let cordon = kind == ActionKind::Cordon;
            Arc::new(move |id, _: &Snapshot| {
                let node = targets.first().map(String::as_str).unwrap_or_default();
                Ok(Action::cordon(id, node, cordon))
            })
        }
        ActionKind::Supervise => hold(HoldKind::Supervise, true),
        ActionKind::Release => hold(HoldKind::Supervise, false),
        ActionKind::Freeze => hold(HoldKind::Freeze, true),
        ActionKind::Unfreeze => hold(HoldKind::Freeze, false),
        ActionKind::ScaleOut => {
            return Err(Refusal(format!(
                "{} was a scale-out: karpdeck plans one anew for the pods pending now (nothing to resume)",
                u.first.plan
            )))
        }
    })
}
