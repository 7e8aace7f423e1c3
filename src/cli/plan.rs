//! `karpdeck plan`: what Karpenter (or karpdeck's optimizer) would launch for the pending pods.

use std::fmt::Write;

use super::table::Table;
use super::{Failure, PlanArgs};
use crate::catalog::Catalog;
use chrono::Utc;

use crate::engine::disruption::DisruptionOptions;
use crate::engine::plan::{plan, requests_json, Plan};
use crate::engine::scheduling::{provisionable, Options};
use crate::model::quantity::{format_bytes_short, format_millis};
use crate::model::Snapshot;
use crate::scenario::{self, LoadOptions};

/// Up to five names, then `and N other(s)`, as Karpenter logs lists.
fn short_list(items: &[String]) -> String {
    let shown = items.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    match items.len() {
        n if n > 5 => format!("{shown} and {} other(s)", n - 5),
        _ => shown,
    }
}

fn render_text(snapshot: &Snapshot, plan: &Plan) -> String {
    let mut out = String::new();
    let pending = provisionable(snapshot).len();
    let new_pods: usize = plan.nodeclaims.iter().map(|c| c.claim.pods.len()).sum();
    let _ = writeln!(
        out,
        "found provisionable pod(s)  pods={pending}  (region {}, strategy {})",
        snapshot.region,
        serde_json::to_value(plan.strategy)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    );
    if !plan.existing.is_empty() {
        let _ = writeln!(
            out,
            "scheduled pod(s) to existing capacity  pods={}",
            plan.existing.len()
        );
    }
    let _ = writeln!(
        out,
        "computed new nodeclaim(s) to fit pod(s)  nodeclaims={} pods={new_pods}",
        plan.nodeclaims.len()
    );
    for c in &plan.nodeclaims {
        let requests = requests_json(&c.claim.requests);
        let requests = serde_json::to_string(&requests).unwrap_or_default();
        let _ = writeln!(
            out,
            "created nodeclaim  nodepool={} requests={requests} instance-types={}",
            c.claim.nodepool,
            short_list(&c.launch.instance_types)
        );
    }
    if !plan.unschedulable.is_empty() {
        let _ = writeln!(
            out,
            "could not schedule pod(s)  pods={}",
            plan.unschedulable.len()
        );
    }

    if !plan.nodeclaims.is_empty() {
        let _ = writeln!(out, "\nNEW NODECLAIMS ({})", plan.nodeclaims.len());
        let mut t = Table::new(&[
            "#",
            "POOL",
            "PODS",
            "CPU",
            "MEMORY",
            "CAPACITY",
            "ZONES",
            "INSTANCE TYPES",
            "$/H",
        ]);
        for (i, c) in plan.nodeclaims.iter().enumerate() {
            let r = &c.claim.requests;
            t.row(vec![
                (i + 1).to_string(),
                c.claim.nodepool.clone(),
                c.claim.pods.len().to_string(),
                format_millis(r.cpu_millis),
                format_bytes_short(r.memory_bytes),
                c.launch.capacity_type.as_str().to_string(),
                c.launch.zones.join(","),
                short_list(&c.launch.instance_types),
                format!("{:.4}", c.launch.price_per_hour),
            ]);
        }
        out.push_str(&t.render());
    }

    if !plan.existing.is_empty() {
        let _ = writeln!(out, "\nON EXISTING CAPACITY ({})", plan.existing.len());
        let mut t = Table::new(&["POD", "NODE"]);
        for (p, n) in &plan.existing {
            t.row(vec![snapshot.pods[*p].key(), n.clone()]);
        }
        out.push_str(&t.render());
    }

    if !plan.unschedulable.is_empty() {
        let _ = writeln!(out, "\nUNSCHEDULABLE ({})", plan.unschedulable.len());
        for (p, reason) in &plan.unschedulable {
            let _ = writeln!(out, "{}", snapshot.pods[*p].key());
            for line in reason.lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
    }

    render_disruption(&mut out, snapshot, plan);

    if !plan.schedule.relaxed.is_empty() {
        let _ = writeln!(
            out,
            "\n{} pod(s) scheduled only after relaxing preferences",
            plan.schedule.relaxed.len()
        );
    }

    let _ = writeln!(
        out,
        "\nCOST  now ${:.4}/h  planned ${:.4}/h  (+${:.4}/h for {} new NodeClaim(s), -${:.4}/h from {} disruption action(s))",
        plan.current_per_hour,
        plan.planned_per_hour(),
        plan.new_per_hour(),
        plan.nodeclaims.len(),
        plan.disruption_savings(),
        plan.disruption.actions.len()
    );
    if !plan.unpriced_nodes.is_empty() {
        let _ = writeln!(
            out,
            "({} node(s) not priced by the catalog: {})",
            plan.unpriced_nodes.len(),
            short_list(&plan.unpriced_nodes)
        );
    }
    out
}

/// The disruption pass, worded like Karpenter's log, then every Karpenter node's verdict.
fn render_disruption(out: &mut String, snapshot: &Snapshot, plan: &Plan) {
    let d = &plan.disruption;
    let _ = writeln!(out, "\nDISRUPTION ({} action(s))", d.actions.len());
    for a in &d.actions {
        let nodes: Vec<String> = a
            .nodes
            .iter()
            .map(|&n| {
                let node = &snapshot.nodes[n];
                format!(
                    "{}/{}/{}",
                    node.name,
                    node.instance_type().unwrap_or("-"),
                    node.capacity_type().as_str()
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "disrupting via {:?} {} ({}), terminating {} node(s) ({} pods) {}; savings ${:.4}/h",
            a.method,
            a.kind.as_str(),
            a.reason.as_str(),
            a.nodes.len(),
            a.pods_moved,
            nodes.join(", "),
            a.savings_per_hour
        );
        for r in &a.replacements {
            let _ = writeln!(
                out,
                "  replacement nodeclaim  nodepool={} instance-types={} ${:.4}/h",
                r.claim.nodepool,
                short_list(&r.launch.instance_types),
                r.launch.price_per_hour
            );
        }
    }
    let mut t = Table::new(&["NODE", "POOL", "VERDICT"]);
    for (&n, v) in &d.verdicts {
        let node = &snapshot.nodes[n];
        t.row(vec![
            node.name.clone(),
            node.nodepool().unwrap_or("-").to_string(),
            v.to_string(),
        ]);
    }
    out.push_str(&t.render());
}

/// Run the command and return its output.
pub fn run(args: &PlanArgs) -> Result<String, Failure> {
    let options = LoadOptions {
        scales: args.scales.clone(),
        region: args.region.clone(),
    };
    let loaded = scenario::load_file(&args.scenario, &options, Catalog::embedded())
        .map_err(Failure::bad_input)?;
    let snapshot = &loaded.snapshot;
    let now = args.now.unwrap_or_else(Utc::now);
    let options = DisruptionOptions {
        spot_to_spot: args.spot_to_spot,
        scheduling: Options::default(),
    };
    let plan =
        plan(snapshot, args.strategy, &options.scheduling).with_disruption(snapshot, now, &options);
    tracing::info!(
        scenario = %args.scenario.display(),
        nodeclaims = plan.nodeclaims.len(),
        unschedulable = plan.unschedulable.len(),
        "plan computed"
    );
    if args.json {
        let mut s =
            serde_json::to_string_pretty(&plan.to_json(snapshot)).map_err(Failure::bad_input)?;
        s.push('\n');
        Ok(s)
    } else {
        Ok(render_text(snapshot, &plan))
    }
}
