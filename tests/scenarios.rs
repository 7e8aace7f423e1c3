//! The shared scenarios load into the numbers the lab walkthrough and the best-practices guide logged.

use std::path::PathBuf;

use karpdeck::catalog::Catalog;
use karpdeck::model::{CapacityType, ConsolidationPolicy, NodePoolApi, Snapshot, TaintEffect};
use karpdeck::scenario::{self, LoadOptions, Loaded};

fn scenario_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/scenarios")
        .join(name)
}

fn load(name: &str, scales: &[&str]) -> Loaded {
    let options = LoadOptions {
        scales: scales.iter().map(|s| s.parse().unwrap()).collect(),
        region: None,
    };
    scenario::load_file(&scenario_path(name), &options, Catalog::embedded())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn node_cpu_requests(s: &Snapshot, node: &str) -> i64 {
    s.requested_by_node()[node].cpu_millis
}

#[test]
fn seed_lab_matches_the_walkthrough() {
    let l = load("seed-lab.yaml", &[]);
    let s = &l.snapshot;
    assert_eq!(s.region, "ap-southeast-1");
    assert_eq!(s.nodes.len(), 3);
    assert_eq!(
        node_cpu_requests(s, "ip-172-31-55-131.ap-southeast-1.compute.internal"),
        2925
    );
    assert_eq!(
        node_cpu_requests(s, "ip-172-31-75-60.ap-southeast-1.compute.internal"),
        1825
    );
    assert_eq!(
        node_cpu_requests(s, "ip-172-31-82-248.ap-southeast-1.compute.internal"),
        1925
    );
    let b = &s.requested_by_node()["ip-172-31-75-60.ap-southeast-1.compute.internal"];
    assert_eq!(b.memory_bytes, 1324 << 20);
    assert_eq!(s.pending_pods().count(), 0);

    let nginx: Vec<_> = s
        .pods
        .iter()
        .filter(|p| p.labels.get("app.kubernetes.io/name").map(String::as_str) == Some("nginx"))
        .collect();
    assert_eq!(nginx.len(), 1);
    assert_eq!(nginx[0].phase, karpdeck::model::pod::PodPhase::Running);

    assert_eq!(s.nodepools.len(), 1);
    let pool = &s.nodepools[0];
    assert_eq!(pool.name, "default");
    assert_eq!(pool.api, NodePoolApi::V1alpha5Provisioner);
    assert_eq!(pool.limits.get("cpu"), Some(1_000_000));
    assert_eq!(pool.limits.get("memory"), Some(1000 << 30));
    assert_eq!(
        pool.consolidation_policy,
        Some(ConsolidationPolicy::WhenEmptyOrUnderutilized)
    );
    assert_eq!(pool.labels.get("intent").map(String::as_str), Some("apps"));
    // Managed-node-group nodes belong to no pool.
    assert!(s.nodes.iter().all(|n| n.nodepool().is_none()));
    assert_eq!(s.daemonsets.len(), 4);
    assert_eq!(s.nodeclasses.len(), 1);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn seed_lab_scaled_to_six_has_five_pending_nginx() {
    let l = load("seed-lab.yaml", &["nlb-app-karpenter/nginx-deployment=6"]);
    let pending: Vec<_> = l.snapshot.pending_pods().collect();
    assert_eq!(pending.len(), 5);
    for p in &pending {
        assert_eq!(p.namespace, "nlb-app-karpenter");
        assert_eq!(p.requests.cpu_millis, 2000);
        assert_eq!(p.requests.memory_bytes, 4_000_000_000);
        let owner = p.owner.as_ref().unwrap();
        assert_eq!(owner.name, "nginx-deployment-75d9ffff7");
        assert!(p.name.starts_with("nginx-deployment-75d9ffff7-"));
    }
    let mut names: Vec<_> = pending.iter().map(|p| p.name.clone()).collect();
    names.dedup();
    assert_eq!(names.len(), 5);
    assert_eq!(l.replica_changes.len(), 1);
    assert_eq!(l.replica_changes[0].created, 5);
    // Deterministic: the same input gives the same pods.
    let again = load("seed-lab.yaml", &["nlb-app-karpenter/nginx-deployment=6"]);
    let again_names: Vec<_> = again
        .snapshot
        .pending_pods()
        .map(|p| p.name.clone())
        .collect();
    assert_eq!(names, again_names);
}

#[test]
fn scaling_down_removes_the_running_replica() {
    let l = load("seed-lab.yaml", &["nlb-app-karpenter/nginx-deployment=0"]);
    assert!(l
        .snapshot
        .pods
        .iter()
        .all(|p| !p.name.starts_with("nginx-deployment")));
    assert_eq!(l.replica_changes[0].removed, 1);
}

#[test]
fn scaledown_scenario_has_two_empty_karpenter_nodes() {
    let l = load("seed-lab-scaledown.yaml", &[]);
    let s = &l.snapshot;
    assert_eq!(s.nodes.len(), 5);
    let karpenter: Vec<_> = s.nodes.iter().filter(|n| n.nodepool().is_some()).collect();
    assert_eq!(karpenter.len(), 2);
    let by_node = s.pods_by_node();
    for n in &karpenter {
        assert_eq!(n.nodepool(), Some("default"));
        assert_eq!(n.capacity_type(), CapacityType::Spot);
        assert!(by_node[n.name.as_str()].iter().all(|p| p.is_daemon()));
        assert_eq!(n.allocatable.memory_bytes, 14103 << 20);
    }
    let (usage, count) = s.nodepool_usage("default");
    assert_eq!(count, 2);
    assert_eq!(usage.cpu_millis, 12_000);
    assert_eq!(s.pending_pods().count(), 0);
}

#[test]
fn best_practices_pools_and_pending_replicas() {
    let l = load("best-practices.yaml", &[]);
    let s = &l.snapshot;
    assert_eq!(s.region, "us-west-2");
    let gpu = s.nodepool("gpu").unwrap();
    assert_eq!(gpu.api, NodePoolApi::V1beta1);
    assert_eq!(gpu.taints.len(), 1);
    assert_eq!(gpu.taints[0].effect, TaintEffect::NoSchedule);
    assert_eq!(
        gpu.consolidation_policy,
        Some(ConsolidationPolicy::WhenEmpty)
    );
    assert_eq!(
        gpu.consolidate_after,
        Some(std::time::Duration::from_secs(60))
    );
    assert_eq!(gpu.expire_after, None);
    let general = s.nodepool("generalcompute").unwrap();
    assert_eq!(
        general.labels.get("billing-team").map(String::as_str),
        Some("my-team")
    );
    assert_eq!(general.limits.get("cpu"), Some(1_000_000));

    let pending: Vec<_> = s.pending_pods().collect();
    assert_eq!(pending.len(), 202);
    let gpu_pods: Vec<_> = pending.iter().filter(|p| p.namespace == "ml").collect();
    assert_eq!(gpu_pods.len(), 2);
    for p in &gpu_pods {
        assert_eq!(p.requests.get("nvidia.com/gpu"), 1);
        assert!(karpdeck::model::taints::first_untolerated(&gpu.taints, &p.tolerations).is_none());
    }
    let team: Vec<_> = pending
        .iter()
        .filter(|p| p.namespace == "my-team")
        .collect();
    assert_eq!(team.len(), 200);
    // The my-team pods' required term is satisfied by the generalcompute pool's labels and not the GPU pool's.
    let term = &team[0].node_affinity.required[0];
    assert!(general.launch_requirements().compatible(term, true).is_ok());
    assert!(gpu.launch_requirements().compatible(term, true).is_err());
}

#[test]
fn every_scenario_loads_without_warnings_or_errors() {
    for name in [
        "seed-lab.yaml",
        "seed-lab-scaledown.yaml",
        "best-practices.yaml",
    ] {
        let l = load(name, &[]);
        assert!(l.warnings.is_empty(), "{name}: {:?}", l.warnings);
        assert!(!l.snapshot.nodes.is_empty(), "{name}");
        // Every node's instance type is in the catalog and offered in the scenario's region.
        for n in &l.snapshot.nodes {
            let t = n.instance_type().unwrap();
            assert!(
                l.snapshot.catalog.offer(&l.snapshot.region, t).is_some(),
                "{name}: {t}"
            );
        }
    }
}
