//! `karpdeck plan`: what Karpenter (or karpdeck's optimizer) would launch for the pending pods.

use std::fmt::Write;

use super::table::Table;
use super::{Failure, PlanArgs};
use chrono::Utc;

use crate::engine::disruption::DisruptionOptions;
use crate::engine::interruption::{
    parse_event, respond, InterruptionEvent, InterruptionResponse, MessageKind,
};
use crate::engine::plan::{plan, requests_json, Plan};
use crate::engine::scheduling::{provisionable, Options};
use crate::engine::whatif::WhatIf;
use crate::model::quantity::{format_bytes_short, format_millis};
use crate::model::Snapshot;
use crate::scenario::LoadOptions;

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
            .map(|&n| snapshot.nodes[n].log_name())
            .collect();
        let _ = writeln!(
            out,
            "disrupting via {:?} {} ({}), terminating {} node(s) ({} pods) {}; savings ${:.4}/h",
            a.method,
            a.kind.as_str(),
            a.reason.as_str(),
            a.nodes.len(),
            a.pods_moved,
            short_list(&nodes),
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

fn interruption_json(s: &Snapshot, r: &InterruptionResponse) -> serde_json::Value {
    serde_json::json!({
        "event": format!("{:?}", r.event.kind),
        "instance_ids": r.event.instance_ids,
        "node": r.node.map(|n| s.nodes[n].name.clone()),
        "response": r.response.to_string(),
        "unavailable_offering": r.unavailable.as_ref().map(|((t, z, c), until)| serde_json::json!({
            "instance_type": t, "zone": z, "capacity_type": c.as_str(), "until": until.to_rfc3339(),
        })),
        "deadline": r.deadline.map(|d| d.to_rfc3339()),
        "drain_seconds": r.drain_seconds,
        "completes_in_time": r.completes_in_time(),
        "pods_evicted": r.drain.as_ref().map_or(0, |d| d.steps.iter().filter(|s| matches!(s.action, crate::engine::drain::PodAction::Evict | crate::engine::drain::PodAction::Delete)).count()),
        "replacements": r.drain.as_ref().map_or(Vec::new(), |d| d.new_nodeclaims.iter().map(|c| crate::engine::plan::claim_json(s, c)).collect()),
    })
}

fn render_interruption(out: &mut String, s: &Snapshot, r: &InterruptionResponse) {
    let node = r
        .node
        .map_or("an instance not in this cluster".to_string(), |n| {
            s.nodes[n].name.clone()
        });
    let _ = writeln!(
        out,
        "\nINTERRUPTION  {:?} for {} ({}): {}",
        r.event.kind,
        r.event.instance_ids.join(", "),
        node,
        r.response
    );
    if let Some(((t, z, c), until)) = &r.unavailable {
        let _ = writeln!(
            out,
            "  offering {t} {z} {} marked unavailable until {}",
            c.as_str(),
            until.to_rfc3339()
        );
    }
    if let Some(d) = &r.drain {
        let _ = writeln!(
            out,
            "  drain: {} pod(s) to evict, about {}s of graceful termination{}",
            d.steps
                .iter()
                .filter(|s| matches!(
                    s.action,
                    crate::engine::drain::PodAction::Evict
                        | crate::engine::drain::PodAction::Delete
                ))
                .count(),
            r.drain_seconds,
            match r.completes_in_time() {
                Some(true) => " — completes inside the 2-minute notice".to_string(),
                Some(false) =>
                    " — does NOT complete inside the 2-minute notice: pods will be killed"
                        .to_string(),
                None => String::new(),
            }
        );
        for (i, c) in d.new_nodeclaims.iter().enumerate() {
            let _ = writeln!(
                out,
                "  replacement #{}: nodepool={} instance-types={} ${:.4}/h",
                i + 1,
                c.claim.nodepool,
                short_list(&c.launch.instance_types),
                c.launch.price_per_hour
            );
        }
        let short: Vec<String> = d.shortfall().map(|st| s.pods[st.pod].key()).collect();
        if !short.is_empty() {
            let _ = writeln!(out, "  no capacity for: {}", short.join(", "));
        }
    }
}

/// Run the command and return its output.
pub fn run(args: &PlanArgs) -> Result<String, Failure> {
    let options = LoadOptions {
        scales: args.scales.clone(),
        region: args.region.clone(),
    };
    let mut loaded = args.cluster.load(&options)?;
    let what_ifs = args
        .lose_zone
        .iter()
        .map(|z| WhatIf::LoseZone(z.clone()))
        .chain(args.lose_offering.iter().cloned())
        .chain(args.lose_capacity_type.iter().cloned())
        .chain(args.set_limit.iter().cloned());
    for w in what_ifs {
        w.apply(&mut loaded.snapshot).map_err(Failure::bad_input)?;
    }
    let snapshot = &loaded.snapshot;
    let now = args.now.unwrap_or_else(Utc::now);
    let mut events = Vec::new();
    for name in &args.interrupt {
        let node = snapshot
            .nodes
            .iter()
            .find(|n| &n.name == name)
            .ok_or_else(|| Failure::bad_input(format!("--interrupt {name}: no such node")))?;
        let id = node.instance_id().ok_or_else(|| {
            Failure::bad_input(format!(
                "--interrupt {name}: the node has no EC2 instance ID in spec.providerID"
            ))
        })?;
        events.push(InterruptionEvent {
            kind: MessageKind::SpotInterruption,
            instance_ids: vec![id.to_string()],
            time: now,
        });
    }
    if let Some(path) = &args.event {
        let text = crate::input::read_text(path)
            .map_err(|e| Failure::bad_input(format!("{}: cannot read: {e}", path.display())))?;
        events.push(
            parse_event(&text)
                .map_err(|e| Failure::bad_input(format!("{}: {e}", path.display())))?,
        );
    }
    let responses: Vec<InterruptionResponse> =
        events.iter().flat_map(|e| respond(snapshot, e)).collect();
    let options = DisruptionOptions {
        spot_to_spot: args.spot_to_spot,
        scheduling: Options::default(),
    };
    let plan =
        plan(snapshot, args.strategy, &options.scheduling).with_disruption(snapshot, now, &options);
    tracing::info!(
        source = %loaded.source,
        nodeclaims = plan.nodeclaims.len(),
        unschedulable = plan.unschedulable.len(),
        "plan computed"
    );
    if args.json {
        let mut doc = serde_json::to_value(plan.to_json(snapshot)).map_err(Failure::bad_input)?;
        if !responses.is_empty() {
            doc["interruptions"] = serde_json::Value::Array(
                responses
                    .iter()
                    .map(|r| interruption_json(snapshot, r))
                    .collect(),
            );
        }
        let mut s = serde_json::to_string_pretty(&doc).map_err(Failure::bad_input)?;
        s.push('\n');
        Ok(s)
    } else {
        let mut out = render_text(snapshot, &plan);
        for r in &responses {
            render_interruption(&mut out, snapshot, r);
        }
        Ok(out)
    }
}
