//! A drain approved on the real apiserver, run by karpdeck's executor through the Kubernetes
//! API: found stale when the node its preview lands a pod on is taken away before approval,
//! planned again, then cordon, one eviction per step through the Eviction API (a budget's
//! refusals retried), the real ReplicaSet controller recreating each pod and the real scheduler
//! binding it elsewhere, and the node left cordoned and empty.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::ListParams;
use kube::Api;
use serde_json::json;

use karpdeck::control::Cluster;
use karpdeck::control::Supervisor;
use karpdeck::engine::drain::{drain_plan, DrainOptions};
use karpdeck::exec::{Action, State};
use karpdeck::kube::cluster::LiveCluster;

use super::kubelet::empty_node;
use super::{apply, observed, run_plan, scale_nginx, wait_until, Rig};

const NS: &str = "drain";

/// The empty nodes the drained pods may land on.
const SPARES: [&str; 2] = ["spare-a", "spare-b"];

/// The options an operator drains with (kubectl drain --ignore-daemonsets
/// --delete-emptydir-data).
const OPTIONS: DrainOptions = DrainOptions {
    ignore_daemonsets: true,
    delete_emptydir_data: true,
    force: false,
    disable_eviction: false,
};

pub fn an_approved_drain_runs_through_the_api(rig: &Rig, rt: &tokio::runtime::Runtime) {
    // Room for everything the drained node runs.
    scale_nginx(rig, rt, 1);
    rt.block_on(
        apply::Budgeted {
            namespace: NS,
            name: "web",
            replicas: 3,
            // One per node: which node is drained does not hang on where the scheduler
            // happened to put them.
            placement: json!({"affinity": {"podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "web"}},
                     "topologyKey": "kubernetes.io/hostname"}]}}}),
            requests: ("10m", "16Mi"),
            grace: 2,
        }
        .create(&rig.client),
    );
    let pods: Api<Pod> = Api::namespaced(rig.client.clone(), NS);
    let running = || -> Result<Vec<(String, String)>, String> {
        let list = rt
            .block_on(pods.list(&ListParams::default()))
            .map_err(|e| e.to_string())?;
        let placed: Vec<(String, String)> = list
            .items
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .filter_map(|p| {
                Some((
                    p.metadata.name.clone()?,
                    p.spec.as_ref()?.node_name.clone()?,
                ))
            })
            .collect();
        if placed.len() == 3 {
            Ok(placed)
        } else {
            Err(format!("{placed:?}"))
        }
    };
    let placed = wait_until(rt, Duration::from_secs(60), "web running", running);
    // Two empty nodes join: what the drained node runs has somewhere to go.
    for spare in SPARES {
        rt.block_on(rig.kubelets.register(&empty_node(
            spare,
            "ap-southeast-1a",
            "m6g.4xlarge",
            ("16", "64Gi"),
            "spare",
        )));
    }
    // The cluster as karpdeck sees it, opened as the console opens it (off this runtime).
    let journal = rig.scratch.join("drain-journal.jsonl");
    let mut sup = observed(rig, "drain-journal.jsonl");
    // A lab node running a web pod, whose pods all fit elsewhere. Waited for, not read once:
    // the spare node joins Ready before the node controller lifts its not-ready taint, and
    // until then the engine rightly sees no room on it.
    let candidate = |s: &karpdeck::model::Snapshot| -> Result<String, Vec<String>> {
        let mut why = Vec::new();
        for (_, n) in &placed {
            let Some(i) = s.nodes.iter().position(|m| &m.name == n) else {
                why.push(format!("{n}: not seen yet"));
                continue;
            };
            let plan = drain_plan(s, &[i], &OPTIONS);
            match Action::drain("x".into(), s, &plan, &OPTIONS) {
                Ok(_) if plan.shortfall().next().is_none() => return Ok(n.clone()),
                refused => why.push(format!(
                    "{n}: {} short, {:?}; spare: {:?}",
                    plan.shortfall().count(),
                    refused.err(),
                    s.nodes
                        .iter()
                        .find(|m| m.name.starts_with("spare-"))
                        .map(|m| (m.ready, &m.taints))
                )),
            }
        }
        Err(why)
    };
    let started = Instant::now();
    let node = loop {
        sup.refresh();
        rt.block_on(sup.tick());
        if sup.cluster().synced() {
            match candidate(sup.cluster().snapshot()) {
                Ok(node) => break node,
                Err(why) if started.elapsed() > Duration::from_secs(60) => {
                    panic!("no node whose pods fit elsewhere: {why:?}")
                }
                Err(_) => {}
            }
        }
        assert!(started.elapsed() < Duration::from_secs(60), "not synced");
        std::thread::sleep(Duration::from_millis(100));
    };
    let on_node: Vec<String> = placed
        .iter()
        .filter(|(_, n)| *n == node)
        .map(|(p, _)| p.clone())
        .collect();
    let drained = node.clone();
    let id = sup
        .submit(move |id, s| {
            let i = s
                .nodes
                .iter()
                .position(|n| n.name == drained)
                .ok_or_else(|| karpdeck::exec::action::Refusal("gone".into()))?;
            Action::drain(id, s, &drain_plan(s, &[i], &OPTIONS), &OPTIONS)
        })
        .unwrap_or_else(|e| panic!("drain {node}: {e}"));
    // Before approval, the node the preview lands the web pod on is taken away: the plan is
    // stale, never run as proposed; the one planned again lands on the other spare.
    let lands_on = |sup: &Supervisor<LiveCluster>, id: &str| -> String {
        let preview = &sup.executor(id).unwrap().action().preview;
        SPARES
            .iter()
            .find(|spare| {
                preview
                    .iter()
                    .any(|l| l.contains("/web-") && l.ends_with(&format!("lands on {spare}")))
            })
            .unwrap_or_else(|| panic!("the web pod lands on no spare: {preview:?}"))
            .to_string()
    };
    let reclaimed = lands_on(&sup, &id);
    let nodes: Api<Node> = Api::all(rig.client.clone());
    rt.block_on(nodes.delete(&reclaimed, &Default::default()))
        .unwrap();
    let started = Instant::now();
    while sup
        .cluster()
        .snapshot()
        .nodes
        .iter()
        .any(|n| n.name == reclaimed)
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{reclaimed} still seen"
        );
        sup.refresh();
        std::thread::sleep(Duration::from_millis(100));
    }
    let stale = id;
    let id = match sup.approve(&stale) {
        Err(karpdeck::exec::ApprovalError::Stale {
            replanned: Some(new),
            ..
        }) => new,
        other => panic!("the drain landing on {reclaimed} was not found stale: {other:?}"),
    };
    assert_eq!(sup.executor(&stale).unwrap().state(), State::Withdrawn);
    assert_ne!(lands_on(&sup, &id), reclaimed);
    sup.approve(&id).unwrap();
    let took = run_plan(
        &mut sup,
        rt,
        &id,
        (Duration::from_secs(150), Duration::from_millis(250)),
        || {},
    );
    println!(
        "  (drain of {node} with {} web pod(s): {:.1} s)",
        on_node.len(),
        took.as_secs_f64()
    );
    // The node is cordoned and holds no web pod; the ReplicaSet has its three back elsewhere.
    let n = rt
        .block_on(Api::<Node>::all(rig.client.clone()).get(&node))
        .unwrap();
    assert_eq!(n.spec.unwrap().unschedulable, Some(true));
    let after = wait_until(rt, Duration::from_secs(60), "web running again", running);
    assert!(after.iter().all(|(_, n)| *n != node), "{after:?}");
    // Every pod went through the Eviction API, once accepted.
    let audit = std::fs::read_to_string(std::env::var("KARPDECK_RIG_AUDIT_LOG").unwrap()).unwrap();
    for pod in &on_node {
        let uri = format!("/api/v1/namespaces/{NS}/pods/{pod}/eviction");
        let accepted = audit
            .lines()
            .filter(|l| l.contains(&uri) && l.contains("\"ResponseComplete\""))
            .filter(|l| l.contains("\"code\":201") || l.contains("\"code\":200"))
            .count();
        assert_eq!(accepted, 1, "{pod}: one eviction accepted");
    }
    let j = karpdeck::exec::journal::read(&journal).unwrap();
    assert!(j.entries.iter().all(|e| e.context == "rig"));
    assert!(j.unfinished().is_empty());
    // Leave the lab schedulable for whatever comes next.
    rt.block_on(Api::<Node>::all(rig.client.clone()).patch(
        &node,
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(json!({"spec": {"unschedulable": false}})),
    ))
    .unwrap();
}
