//! `karpdeck inspect`: what a scenario contains, the way an operator reads a cluster.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::table::Table;
use super::{Failure, InspectArgs};
use crate::model::duration::format_duration;
use crate::model::pod::PodPhase;
use crate::model::quantity::{format_bytes_short, format_millis};
use crate::model::resources::names;
use crate::model::{NodePool, Pod, Resources, Snapshot};
use crate::scenario::{LoadOptions, Loaded, ReplicaChange, Warning};

#[derive(Debug, Serialize)]
struct NodeJson {
    name: String,
    instance_type: Option<String>,
    zone: Option<String>,
    capacity_type: &'static str,
    nodepool: Option<String>,
    ready: bool,
    cordoned: bool,
    allocatable: BTreeMap<String, String>,
    requests: BTreeMap<String, String>,
    pods: usize,
}

#[derive(Debug, Serialize)]
struct PendingJson {
    pod: String,
    owner: Option<String>,
    requests: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
struct WorkloadJson {
    workload: String,
    kind: &'static str,
    replicas: i64,
    running: usize,
    pending: usize,
}

#[derive(Debug, Serialize)]
struct NodePoolJson {
    name: String,
    source: &'static str,
    weight: i32,
    nodes: usize,
    limits: BTreeMap<String, String>,
    usage: BTreeMap<String, String>,
    requirements: Vec<String>,
    labels: BTreeMap<String, String>,
    taints: Vec<String>,
    consolidation_policy: Option<&'static str>,
    consolidate_after: Option<String>,
    expire_after: Option<String>,
    node_class: Option<String>,
}

#[derive(Debug, Serialize)]
struct InspectJson<'a> {
    scenario: String,
    region: &'a str,
    nodes: Vec<NodeJson>,
    pending_pods: Vec<PendingJson>,
    workloads: Vec<WorkloadJson>,
    nodepools: Vec<NodePoolJson>,
    nodeclaims: Vec<String>,
    daemonsets: Vec<String>,
    pdbs: Vec<String>,
    replica_changes: &'a [ReplicaChange],
    warnings: &'a [Warning],
}

fn percent(used: i64, total: i64) -> String {
    if total <= 0 {
        return "-".into();
    }
    format!("{}%", used as i128 * 100 / total as i128)
}

fn short(name: &str, amount: i64) -> String {
    match name {
        names::MEMORY | names::EPHEMERAL_STORAGE => format_bytes_short(amount),
        _ => Resources::format_one(name, amount),
    }
}

/// `2` / `4G`: a pod's CPU and memory as an operator writes them.
fn cpu_mem(r: &Resources) -> String {
    format!(
        "cpu {}  memory {}",
        format_millis(r.cpu_millis),
        format_bytes_short(r.memory_bytes)
    )
}

fn owner_of(p: &Pod) -> Option<String> {
    p.owner
        .as_ref()
        .map(|o| format!("{}/{}", o.kind_name, o.name))
}

fn nodepool_json(s: &Snapshot, pool: &NodePool) -> NodePoolJson {
    let (usage, nodes) = s.nodepool_usage(&pool.name);
    let limits = pool
        .limits
        .iter()
        .map(|(name, amount)| (name.to_string(), Resources::format_one(name, amount)))
        .collect();
    NodePoolJson {
        name: pool.name.clone(),
        source: pool.api.describe(),
        weight: pool.weight,
        nodes,
        limits,
        usage: usage.to_quantity_map(),
        requirements: pool
            .requirements
            .iter()
            .map(|(k, r)| format!("{k} {r}"))
            .collect(),
        labels: pool.labels.clone(),
        taints: pool.taints.iter().map(ToString::to_string).collect(),
        consolidation_policy: pool.consolidation_policy.map(|p| p.as_str()),
        consolidate_after: pool.consolidate_after.map(format_duration),
        expire_after: pool.expire_after.map(format_duration),
        node_class: pool.node_class.clone(),
    }
}

/// Controlling workloads with their running and pending replicas.
fn workloads_json(s: &Snapshot) -> Vec<WorkloadJson> {
    s.workloads
        .iter()
        .filter(|w| w.is_controlling(&s.workloads))
        .map(|w| {
            let pods: Vec<&Pod> = s.workload_pods(w).collect();
            WorkloadJson {
                workload: w.key(),
                kind: w.kind.as_str(),
                replicas: w.replicas,
                running: pods.iter().filter(|p| p.phase == PodPhase::Running).count(),
                pending: pods.iter().filter(|p| p.is_pending()).count(),
            }
        })
        .collect()
}

fn build_json<'a>(file: &str, loaded: &'a Loaded) -> InspectJson<'a> {
    let s = &loaded.snapshot;
    let requested = s.requested_by_node();
    let nodes = s
        .nodes
        .iter()
        .map(|n| {
            let req = requested.get(n.name.as_str()).cloned().unwrap_or_default();
            NodeJson {
                name: n.name.clone(),
                instance_type: n.instance_type().map(str::to_string),
                zone: n.zone().map(str::to_string),
                capacity_type: n.capacity_type().as_str(),
                nodepool: n.nodepool().map(str::to_string),
                ready: n.ready,
                cordoned: n.unschedulable,
                allocatable: n.allocatable.to_quantity_map(),
                pods: req.pods as usize,
                requests: req.to_quantity_map(),
            }
        })
        .collect();
    let pending_pods = s
        .pending_pods()
        .map(|p| PendingJson {
            pod: p.key(),
            owner: owner_of(p),
            requests: p.requests.to_quantity_map(),
        })
        .collect();
    InspectJson {
        scenario: file.to_string(),
        region: &s.region,
        nodes,
        pending_pods,
        workloads: workloads_json(s),
        nodepools: s.nodepools.iter().map(|p| nodepool_json(s, p)).collect(),
        nodeclaims: s.nodeclaims.iter().map(|c| c.name.clone()).collect(),
        daemonsets: s.daemonsets.iter().map(|d| d.key()).collect(),
        pdbs: s.pdbs.iter().map(|p| p.key()).collect(),
        replica_changes: &loaded.replica_changes,
        warnings: &loaded.warnings,
    }
}

/// `Scenario FILE` for a file, `Cluster of context NAME` for a live one.
fn heading(source: &str) -> String {
    match source.strip_prefix("context ") {
        Some(context) => format!("Cluster of context {context}"),
        None => format!("Scenario {source}"),
    }
}

fn render_text(loaded: &Loaded) -> String {
    let s = &loaded.snapshot;
    let pending: Vec<&Pod> = s.pending_pods().collect();
    let bound = s.pods.iter().filter(|p| p.is_active_on_node()).count();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} — region {}\n{} nodes, {} pods running or bound, {} pending, {} NodePools, {} NodeClaims, {} DaemonSets, {} PDBs\n",
        heading(&loaded.source),
        s.region,
        s.nodes.len(),
        bound,
        pending.len(),
        s.nodepools.len(),
        s.nodeclaims.len(),
        s.daemonsets.len(),
        s.pdbs.len()
    );

    let requested = s.requested_by_node();
    let mut t = Table::new(&[
        "NODE",
        "TYPE",
        "ZONE",
        "CAPACITY",
        "POOL",
        "STATUS",
        "CPU REQ/ALLOC",
        "MEMORY REQ/ALLOC",
        "PODS",
    ]);
    for n in &s.nodes {
        let req = requested.get(n.name.as_str()).cloned().unwrap_or_default();
        let a = &n.allocatable;
        let status = match (n.ready, n.unschedulable, n.deleting) {
            (_, _, true) => "Deleting",
            (true, true, _) => "Ready,Cordoned",
            (true, false, _) => "Ready",
            (false, true, _) => "NotReady,Cordoned",
            (false, false, _) => "NotReady",
        };
        t.row(vec![
            n.name.clone(),
            n.instance_type().unwrap_or("-").to_string(),
            n.zone().unwrap_or("-").to_string(),
            n.capacity_type().as_str().to_string(),
            n.nodepool().unwrap_or("-").to_string(),
            status.to_string(),
            format!(
                "{} / {} ({})",
                short(names::CPU, req.cpu_millis),
                short(names::CPU, a.cpu_millis),
                percent(req.cpu_millis, a.cpu_millis)
            ),
            format!(
                "{} / {} ({})",
                short(names::MEMORY, req.memory_bytes),
                short(names::MEMORY, a.memory_bytes),
                percent(req.memory_bytes, a.memory_bytes)
            ),
            format!("{}/{}", req.pods, a.pods),
        ]);
    }
    out.push_str(&t.render());

    let _ = writeln!(out, "\nPENDING PODS ({})", pending.len());
    if pending.is_empty() {
        out.push_str("none\n");
    } else {
        // Group identical replicas: same namespace, owner and requests.
        let mut groups: BTreeMap<(String, String, String), Vec<&Pod>> = BTreeMap::new();
        for p in &pending {
            groups
                .entry((
                    p.namespace.clone(),
                    owner_of(p).unwrap_or_else(|| "-".into()),
                    cpu_mem(&p.requests),
                ))
                .or_default()
                .push(p);
        }
        let mut t = Table::new(&["COUNT", "NAMESPACE", "OWNER", "REQUESTS (each)", "EXAMPLE"]);
        for ((ns, owner, req), pods) in &groups {
            let mut req = req.clone();
            for (name, amount) in pods[0].requests.iter() {
                if name != names::CPU && name != names::MEMORY {
                    let _ = write!(req, "  {name} {}", short(name, amount));
                }
            }
            t.row(vec![
                pods.len().to_string(),
                ns.clone(),
                owner.clone(),
                req,
                pods[0].name.clone(),
            ]);
        }
        out.push_str(&t.render());
    }

    let workloads = workloads_json(s);
    if !workloads.is_empty() {
        let _ = writeln!(out, "\nWORKLOADS ({})", workloads.len());
        let mut t = Table::new(&["NAME", "KIND", "REPLICAS", "RUNNING", "PENDING"]);
        for w in workloads {
            t.row(vec![
                w.workload,
                w.kind.to_string(),
                w.replicas.to_string(),
                w.running.to_string(),
                w.pending.to_string(),
            ]);
        }
        out.push_str(&t.render());
    }

    let _ = writeln!(out, "\nNODEPOOLS ({})", s.nodepools.len());
    for pool in &s.nodepools {
        let j = nodepool_json(s, pool);
        let limit = |name: &str| {
            j.limits
                .get(name)
                .cloned()
                .unwrap_or_else(|| "unlimited".into())
        };
        let used = |name: &str| j.usage.get(name).cloned().unwrap_or_else(|| "0".into());
        let _ = writeln!(
            out,
            "{}  ({}, weight {}, {} nodes)\n  limits: cpu {} / {}, memory {} / {}{}",
            j.name,
            j.source,
            j.weight,
            j.nodes,
            used(names::CPU),
            limit(names::CPU),
            used(names::MEMORY),
            limit(names::MEMORY),
            j.limits
                .get("nodes")
                .map(|n| format!(", nodes {} / {n}", j.nodes))
                .unwrap_or_default()
        );
        let consolidation = match (j.consolidation_policy, &j.consolidate_after) {
            (Some(p), Some(after)) => format!("{p} after {after}"),
            (Some(p), None) => format!("{p}, consolidateAfter Never (off)"),
            (None, _) => "off".into(),
        };
        let _ = writeln!(
            out,
            "  consolidation: {consolidation}; expireAfter: {}",
            j.expire_after.as_deref().unwrap_or("Never")
        );
        if !j.requirements.is_empty() {
            let _ = writeln!(out, "  requirements: {}", j.requirements.join("; "));
        }
        if !j.labels.is_empty() {
            let labels: Vec<String> = j.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = writeln!(out, "  labels: {}", labels.join(", "));
        }
        if !j.taints.is_empty() {
            let _ = writeln!(out, "  taints: {}", j.taints.join(", "));
        }
    }

    if !s.nodeclaims.is_empty() {
        let _ = writeln!(out, "\nNODECLAIMS ({})", s.nodeclaims.len());
        let mut t = Table::new(&["NAME", "POOL", "TYPE", "ZONE", "NODE", "STATE"]);
        for c in &s.nodeclaims {
            let state = if c.deleting {
                "Deleting"
            } else if c.initialized {
                "Initialized"
            } else if c.registered {
                "Registered"
            } else if c.launched {
                "Launched"
            } else {
                "Pending"
            };
            t.row(vec![
                c.name.clone(),
                c.nodepool.clone().unwrap_or_else(|| "-".into()),
                c.instance_type.clone().unwrap_or_else(|| "-".into()),
                c.zone.clone().unwrap_or_else(|| "-".into()),
                c.node_name.clone().unwrap_or_else(|| "-".into()),
                state.into(),
            ]);
        }
        out.push_str(&t.render());
    }

    if !s.daemonsets.is_empty() {
        let mut total = Resources::default();
        for d in &s.daemonsets {
            total.add_assign(&d.template.requests_with_slot());
        }
        let _ = writeln!(
            out,
            "\nDAEMONSETS ({}): {} per node where all run",
            s.daemonsets.len(),
            cpu_mem(&total)
        );
    }

    if !s.pdbs.is_empty() {
        let _ = writeln!(out, "\nPODDISRUPTIONBUDGETS ({})", s.pdbs.len());
        let mut t = Table::new(&[
            "NAME",
            "MIN AVAILABLE",
            "MAX UNAVAILABLE",
            "PODS",
            "ALLOWED",
        ]);
        for (i, pdb) in s.pdbs.iter().enumerate() {
            let covered: Vec<&Pod> = s.pods.iter().filter(|p| p.pdbs.contains(&i)).collect();
            let healthy = covered.iter().filter(|p| p.ready).count() as i64;
            let show = |v: Option<crate::model::pdb::IntOrPercent>| match v {
                Some(crate::model::pdb::IntOrPercent::Int(n)) => n.to_string(),
                Some(crate::model::pdb::IntOrPercent::Percent(p)) => format!("{p}%"),
                None => "-".into(),
            };
            t.row(vec![
                pdb.key(),
                show(pdb.min_available),
                show(pdb.max_unavailable),
                covered.len().to_string(),
                pdb.allowed_disruptions(covered.len() as i64, healthy)
                    .to_string(),
            ]);
        }
        out.push_str(&t.render());
    }

    if !loaded.replica_changes.is_empty() {
        let _ = writeln!(out, "\nREPLICAS");
        for c in &loaded.replica_changes {
            let _ = writeln!(
                out,
                "{}: {} replicas, {} found{}{}",
                c.workload,
                c.replicas,
                c.found,
                if c.created > 0 {
                    format!(", {} created as pending pods from the template", c.created)
                } else {
                    String::new()
                },
                if c.removed > 0 {
                    format!(", {} removed", c.removed)
                } else {
                    String::new()
                },
            );
        }
    }

    if !loaded.warnings.is_empty() {
        let _ = writeln!(out, "\nWARNINGS ({})", loaded.warnings.len());
        for w in &loaded.warnings {
            let _ = writeln!(out, "{}: {}", w.location, w.message);
        }
    }
    out
}

/// Run the command and return its output.
pub fn run(args: &InspectArgs) -> Result<String, Failure> {
    let options = LoadOptions {
        scales: args.scales.clone(),
        region: args.region.clone(),
    };
    let loaded = args.cluster.load(&options)?;
    tracing::info!(
        source = %loaded.source,
        nodes = loaded.snapshot.nodes.len(),
        pods = loaded.snapshot.pods.len(),
        "cluster loaded"
    );
    if args.json {
        let mut s = serde_json::to_string_pretty(&build_json(&loaded.source, &loaded))
            .map_err(Failure::bad_input)?;
        s.push('\n');
        Ok(s)
    } else {
        Ok(render_text(&loaded))
    }
}
