//! What-ifs in the console (`:scale ns/name N`, `:lose-zone Z`, `:lose-spot`,
//! `:lose-offering TYPE:ZONE:CAPACITY`): applied to a copy of the cluster, planned by the engine
//! as Karpenter would, and shown as a before/after preview. Nothing is proposed or changed.

use crate::engine::launch::node_price;
use crate::engine::plan::{plan, Strategy};
use crate::engine::scheduling::Options;
use crate::engine::whatif::WhatIf;
use crate::model::{CapacityType, Snapshot};
use crate::scenario::expand::{apply_scales, expand_workloads, ScaleSpec};

/// Parse a what-if command's words; `None` when it is not one.
pub fn parse(words: &[&str]) -> Option<Result<Edit, String>> {
    Some(match words {
        ["scale", target, n] => match (target.split_once('/'), n.parse::<i64>()) {
            (Some((namespace, name)), Ok(replicas)) if replicas >= 0 => Ok(Edit::Scale(ScaleSpec {
                namespace: namespace.to_string(),
                name: name.to_string(),
                replicas,
            })),
            _ => Err(format!("usage: :scale NAMESPACE/NAME REPLICAS (got {target} {n})")),
        },
        ["lose-zone", zone] => Ok(Edit::Engine(WhatIf::LoseZone(zone.to_string()))),
        ["lose-spot"] => Ok(Edit::Engine(WhatIf::LoseCapacityType(CapacityType::Spot))),
        ["lose-offering", spec] => WhatIf::parse_offering(spec).map(Edit::Engine),
        ["scale" | "lose-zone" | "lose-offering", ..] => {
            Err("usage: :scale NS/NAME N, :lose-zone ZONE, :lose-spot, :lose-offering TYPE:ZONE:CAPACITY".into())
        }
        _ => return None,
    })
}

/// One what-if edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// A workload's replicas, as `--scale` sets them.
    Scale(ScaleSpec),
    /// A zone, offering or capacity type lost (the engine's what-ifs).
    Engine(WhatIf),
}

/// $/h of the nodes that stay.
fn running_cost(s: &Snapshot) -> f64 {
    s.nodes
        .iter()
        .filter(|n| !n.deleting)
        .filter_map(|n| node_price(s, n))
        .sum()
}

/// The preview: what the edit does to the cluster and what Karpenter would do about it.
pub fn preview(before: &Snapshot, edit: &Edit, title: &str) -> Result<Vec<String>, String> {
    let mut s = before.clone();
    match edit {
        Edit::Scale(spec) => {
            let scaled =
                apply_scales(&mut s, std::slice::from_ref(spec)).map_err(|e| e.to_string())?;
            expand_workloads(&mut s, &scaled).map_err(|e| e.to_string())?;
            s.link_pdbs();
        }
        Edit::Engine(w) => w.apply(&mut s)?,
    }
    let lost: Vec<&str> = s
        .nodes
        .iter()
        .zip(&before.nodes)
        .filter(|(after, was)| after.deleting && !was.deleting)
        .map(|(n, _)| n.name.as_str())
        .collect();
    let pending_before = before.pods.iter().filter(|p| p.is_pending()).count();
    let p = plan(&s, Strategy::Karpenter, &Options::default());
    let launches: f64 = p.nodeclaims.iter().map(|c| c.launch.price_per_hour).sum();
    let cost_before = running_cost(before);
    let cost_after = running_cost(&s) + launches;
    let mut lines = vec![format!("what if: {title}")];
    lines.push(format!(
        "nodes lost: {}{}",
        lost.len(),
        if lost.is_empty() {
            String::new()
        } else {
            format!(" ({})", lost.join(", "))
        }
    ));
    let needing = s.pods.iter().filter(|p| p.is_pending()).count()
        + s.pods
            .iter()
            .filter(|p| p.node_name.as_deref().is_some_and(|n| lost.contains(&n)) && !p.is_daemon())
            .count();
    lines.push(format!(
        "pods needing a place: {needing} (pending now: {pending_before})"
    ));
    lines.push(format!(
        "Karpenter would launch {} nodeclaim(s){}",
        p.nodeclaims.len(),
        if p.nodeclaims.is_empty() { "" } else { ":" }
    ));
    for c in p.nodeclaims.iter().take(6) {
        lines.push(format!(
            "  nodepool {}: {} pod(s), {} (${:.4}/h)",
            c.claim.nodepool,
            c.claim.pods.len(),
            c.launch.summary(3),
            c.launch.price_per_hour
        ));
    }
    if p.nodeclaims.len() > 6 {
        lines.push(format!("  … and {} more", p.nodeclaims.len() - 6));
    }
    lines.push(format!(
        "pods that would stay pending: {}",
        p.unschedulable.len()
    ));
    for (pod, reason) in p.unschedulable.iter().take(3) {
        lines.push(format!(
            "  {}: {}",
            s.pods[*pod].key(),
            reason.lines().first().cloned().unwrap_or_default()
        ));
    }
    lines.push(format!(
        "cost: ${cost_before:.4}/h → ${cost_after:.4}/h ({:+.4}/h)",
        cost_after - cost_before
    ));
    lines.push("a preview only: nothing is proposed or changed (esc closes)".into());
    Ok(lines)
}
