//! A drain at size on the real apiserver: 20 nodes carrying 500 pods of 25 Deployments, each
//! under a PodDisruptionBudget of maxUnavailable 1, with pods Ready a few seconds after they
//! start. Every pod leaves through the Eviction API; a watcher listing the pods every 100 ms
//! never sees a budget broken (a sample; the audit log shows each eviction accepted once); the budgets' refusals are retried and reported; every pod is re-created and
//! bound elsewhere by the real scheduler; the nodes end cordoned and empty.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::ListParams;
use kube::Api;
use serde_json::json;

use karpdeck::control::{Cluster, EventKind};
use karpdeck::engine::drain::{drain_plan, DrainOptions};
use karpdeck::exec::Action;

use super::kubelet::empty_node;
use super::{apply, observed, run_plan, wait_until, Rig};

const NS: &str = "bulk";
const DEPLOYMENTS: usize = 25;
const REPLICAS: usize = 20;
const NODES: usize = 20;
/// How long after starting a pod reports Ready.
const READY_AFTER: Duration = Duration::from_secs(2);

const OPTIONS: DrainOptions = DrainOptions {
    ignore_daemonsets: true,
    delete_emptydir_data: true,
    force: false,
    disable_eviction: false,
};

/// Register `count` empty nodes named `{prefix}-NN` that only the bulk pods go to.
fn register(rig: &Rig, rt: &tokio::runtime::Runtime, prefix: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            let name = format!("{prefix}-{i:02}");
            rt.block_on(rig.kubelets.register(&empty_node(
                &name,
                "ap-southeast-1b",
                "m6g.4xlarge",
                ("16", "64Gi"),
                "bulk",
            )));
            name
        })
        .collect()
}

/// The bulk pods by Deployment (`app` label): how many are Ready and not being deleted.
fn ready_by_app(pods: &[Pod]) -> BTreeMap<String, usize> {
    let mut ready: BTreeMap<String, usize> = BTreeMap::new();
    for p in pods {
        let app = p
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("app"))
            .cloned()
            .unwrap_or_default();
        let entry = ready.entry(app).or_default();
        let is_ready = p.metadata.deletion_timestamp.is_none()
            && p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if is_ready {
            *entry += 1;
        }
    }
    ready
}

pub fn twenty_nodes_drain_under_budgets(rig: &Rig, rt: &tokio::runtime::Runtime) {
    rig.kubelets.set_ready_after(READY_AFTER);
    let full = register(rig, rt, "bulk-a", NODES);
    rt.block_on(async {
        for d in 0..DEPLOYMENTS {
            apply::Budgeted {
                namespace: NS,
                name: &format!("d{d:02}"),
                replicas: REPLICAS,
                placement: json!({"nodeSelector": {"bulk": "true"}}),
                requests: ("100m", "128Mi"),
                grace: 1,
            }
            .create(&rig.client)
            .await;
        }
    });
    let pods: Api<Pod> = Api::namespaced(rig.client.clone(), NS);
    let total = DEPLOYMENTS * REPLICAS;
    let list = || {
        rt.block_on(pods.list(&ListParams::default()))
            .map(|l| l.items)
    };
    wait_until(rt, Duration::from_secs(180), "500 bulk pods Ready", || {
        let ready: usize = ready_by_app(&list().map_err(|e| e.to_string())?)
            .values()
            .sum();
        if ready == total {
            Ok(())
        } else {
            Err(format!("{ready} Ready"))
        }
    });
    // Room for all of them elsewhere.
    register(rig, rt, "bulk-b", NODES);

    // A watcher counting Ready pods per Deployment, from now until the drain is over.
    let lowest: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let watching = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let (pods, lowest, watching) = (pods.clone(), lowest.clone(), watching.clone());
        rt.spawn(async move {
            while watching.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(l) = pods.list(&ListParams::default()).await {
                    let mut low = lowest.lock().unwrap();
                    for (app, n) in ready_by_app(&l.items) {
                        let entry = low.entry(app).or_insert(n);
                        *entry = (*entry).min(n);
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let mut sup = observed(rig, "bulk-journal.jsonl");
    // Synced, with every bulk pod and the empty nodes seen, and room for every pod.
    let started = Instant::now();
    let drained = full.clone();
    let build = move |id: String, s: &karpdeck::model::Snapshot| {
        let idx: Vec<usize> = drained
            .iter()
            .filter_map(|n| s.nodes.iter().position(|m| &m.name == n))
            .collect();
        Action::drain(id, s, &drain_plan(s, &idx, &OPTIONS), &OPTIONS)
    };
    loop {
        sup.refresh();
        rt.block_on(sup.tick());
        let s = sup.cluster().snapshot();
        let seen = s.pods.iter().filter(|p| p.namespace == NS).count() == total
            && s.nodes
                .iter()
                .filter(|n| n.name.starts_with("bulk-") && n.ready)
                .count()
                == 2 * NODES;
        let idx: Vec<usize> = full
            .iter()
            .filter_map(|n| s.nodes.iter().position(|m| &m.name == n))
            .collect();
        if sup.cluster().synced()
            && seen
            && drain_plan(s, &idx, &OPTIONS).shortfall().next().is_none()
        {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "not synced");
        std::thread::sleep(Duration::from_millis(200));
    }
    let id = sup.submit(build).unwrap_or_else(|e| panic!("drain: {e}"));
    let evictions = sup
        .executor(&id)
        .unwrap()
        .action()
        .steps
        .iter()
        .filter(|s| matches!(s, karpdeck::exec::action::Step::Evict { .. }))
        .count();
    assert_eq!(evictions, total);
    sup.approve(&id).unwrap();
    let took = run_plan(
        &mut sup,
        rt,
        &id,
        (Duration::from_secs(900), Duration::from_millis(50)),
        || {},
    );
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    rt.block_on(watcher).unwrap();
    rig.kubelets.set_ready_after(Duration::ZERO);

    // No budget was ever broken: each Deployment kept at least 19 of 20 Ready.
    let lowest = lowest.lock().unwrap().clone();
    assert_eq!(lowest.len(), DEPLOYMENTS, "{lowest:?}");
    assert!(
        lowest.values().all(|&n| n >= REPLICAS - 1),
        "a budget was broken: {lowest:?}"
    );
    // The budgets' refusals were retried, and shown as they happened.
    let blocked = sup
        .cluster()
        .events()
        .iter()
        .filter(|e| e.kind == EventKind::EvictionBlocked && e.objects.contains(&id))
        .count();
    assert!(
        blocked > 0,
        "no eviction was ever refused: the budgets were not exercised"
    );
    // Every pod went through the Eviction API, and was accepted exactly once.
    let audit = std::fs::read_to_string(std::env::var("KARPDECK_RIG_AUDIT_LOG").unwrap()).unwrap();
    let prefix = format!("/api/v1/namespaces/{NS}/pods/");
    let answered = |code: &str| {
        audit
            .lines()
            .filter(|l| {
                l.contains(&prefix) && l.contains("/eviction") && l.contains("\"ResponseComplete\"")
            })
            .filter(|l| l.contains(&format!("\"code\":{code}")))
            .count()
    };
    assert_eq!(answered("201"), total, "evictions accepted");
    let refused = answered("429");
    // Every pod back, Ready, on the empty nodes; the drained ones cordoned and empty.
    let after = wait_until(
        rt,
        Duration::from_secs(120),
        "500 bulk pods Ready again",
        || {
            let items = list().map_err(|e| e.to_string())?;
            let ready: usize = ready_by_app(&items).values().sum();
            if ready == total && items.len() == total {
                Ok(items)
            } else {
                Err(format!("{ready} Ready of {}", items.len()))
            }
        },
    );
    for p in &after {
        let node = p
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        assert!(
            node.starts_with("bulk-b-"),
            "{:?} on {node}",
            p.metadata.name
        );
    }
    let nodes: Api<Node> = Api::all(rig.client.clone());
    for n in &full {
        let node = rt.block_on(nodes.get(n)).unwrap();
        assert_eq!(node.spec.unwrap().unschedulable, Some(true), "{n}");
    }
    println!(
        "  (drain of {NODES} nodes, {total} pods under {DEPLOYMENTS} budgets: {:.0} s; {refused} evictions refused (429) and retried; lowest Ready per Deployment {})",
        took.as_secs_f64(),
        lowest.values().min().unwrap()
    );
}
