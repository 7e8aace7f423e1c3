//! `karpdeck drain`: the drain plan for operator-chosen nodes — nothing is touched.

use std::fmt::Write;

use serde::Serialize;

use super::table::Table;
use super::{DrainArgs, Failure};
use crate::engine::drain::{drain_plan, DrainOptions, DrainPlan, Landing, PodAction};
use crate::model::Snapshot;
use crate::scenario::LoadOptions;

#[derive(Debug, Serialize)]
struct StepJson {
    pod: String,
    node: String,
    action: &'static str,
    blocker: Option<String>,
    override_flag: Option<&'static str>,
    critical: bool,
    grace_seconds: i64,
    lands_on: Option<String>,
    warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
struct DrainJson {
    nodes: Vec<String>,
    can_proceed: bool,
    steps: Vec<StepJson>,
    new_nodeclaims: Vec<crate::engine::plan::NodeClaimJson>,
    shortfall: Vec<String>,
}

fn action_name(a: &PodAction) -> &'static str {
    match a {
        PodAction::Evict => "evict",
        PodAction::Delete => "delete",
        PodAction::Skip => "skip",
        PodAction::Blocked(_) => "blocked",
    }
}

fn landing_text(l: &Landing) -> Option<String> {
    match l {
        Landing::Existing(n) => Some(n.clone()),
        Landing::NewNodeClaim(i) => Some(format!("new NodeClaim #{}", i + 1)),
        Landing::Nowhere => Some("nowhere (capacity short)".into()),
        Landing::NotRescheduled => None,
    }
}

fn to_json(s: &Snapshot, plan: &DrainPlan) -> DrainJson {
    DrainJson {
        nodes: plan.nodes.clone(),
        can_proceed: plan.can_proceed(),
        steps: plan
            .steps
            .iter()
            .map(|st| {
                let (blocker, flag) = match &st.action {
                    PodAction::Blocked(b) => (Some(b.to_string()), Some(b.flag())),
                    _ => (None, None),
                };
                StepJson {
                    pod: s.pods[st.pod].key(),
                    node: st.node.clone(),
                    action: action_name(&st.action),
                    blocker,
                    override_flag: flag,
                    critical: st.critical,
                    grace_seconds: st.grace_seconds,
                    lands_on: landing_text(&st.landing),
                    warnings: st.warnings.clone(),
                }
            })
            .collect(),
        new_nodeclaims: plan
            .new_nodeclaims
            .iter()
            .map(|c| crate::engine::plan::claim_json(s, c))
            .collect(),
        shortfall: plan.shortfall().map(|st| s.pods[st.pod].key()).collect(),
    }
}

fn render_text(s: &Snapshot, plan: &DrainPlan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "drain plan for {} node(s): {} (nothing has been changed)",
        plan.nodes.len(),
        plan.nodes.join(", ")
    );
    let mut t = Table::new(&["#", "POD", "NODE", "ACTION", "GRACE", "LANDS ON", "NOTES"]);
    for (i, st) in plan.steps.iter().enumerate() {
        let notes = match &st.action {
            PodAction::Blocked(b) => b.to_string(),
            _ => st.warnings.join("; "),
        };
        t.row(vec![
            (i + 1).to_string(),
            s.pods[st.pod].key(),
            st.node.clone(),
            action_name(&st.action).to_string()
                + if st.critical { " (critical, last)" } else { "" },
            format!("{}s", st.grace_seconds),
            landing_text(&st.landing).unwrap_or_else(|| "-".into()),
            notes,
        ]);
    }
    out.push_str(&t.render());
    for (i, c) in plan.new_nodeclaims.iter().enumerate() {
        let _ = writeln!(
            out,
            "new NodeClaim #{}: nodepool={} instance-types={} ${:.4}/h",
            i + 1,
            c.claim.nodepool,
            c.launch
                .instance_types
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            c.launch.price_per_hour
        );
    }
    let short: Vec<String> = plan.shortfall().map(|st| s.pods[st.pod].key()).collect();
    if !short.is_empty() {
        let _ = writeln!(
            out,
            "capacity shortfall: {} pod(s) would stay pending: {}",
            short.len(),
            short.join(", ")
        );
    }
    if plan.can_proceed() {
        let _ = writeln!(
            out,
            "the drain can proceed: cordon, then evict in the order above"
        );
    } else {
        let _ = writeln!(
            out,
            "the drain would stop: resolve the blocked pods or pass the flag each names"
        );
    }
    out
}

/// Run the command and return its output.
pub fn run(args: &DrainArgs) -> Result<String, Failure> {
    let options = LoadOptions {
        scales: args.scales.clone(),
        region: args.region.clone(),
    };
    let loaded = args.cluster.load(&options)?;
    let s = &loaded.snapshot;
    let mut nodes = Vec::new();
    for name in &args.nodes {
        let i = s
            .nodes
            .iter()
            .position(|n| &n.name == name)
            .ok_or_else(|| {
                Failure::bad_input(format!("node {name:?} is not in {}", loaded.source))
            })?;
        nodes.push(i);
    }
    let plan = drain_plan(
        s,
        &nodes,
        &DrainOptions {
            ignore_daemonsets: args.ignore_daemonsets,
            delete_emptydir_data: args.delete_emptydir_data,
            force: args.force,
            disable_eviction: args.disable_eviction,
        },
    );
    if args.json {
        let mut out =
            serde_json::to_string_pretty(&to_json(s, &plan)).map_err(Failure::bad_input)?;
        out.push('\n');
        Ok(out)
    } else {
        Ok(render_text(s, &plan))
    }
}
