//! Topology through the whole solve: spread, affinity, anti-affinity, relaxation, existing nodes.

use std::collections::BTreeMap;

use karpdeck::catalog::Catalog;
use karpdeck::engine::scheduling::reasons::{PodReason, PoolReason};
use karpdeck::engine::scheduling::{schedule, Options, Schedule, Target};
use karpdeck::model::labels;
use karpdeck::scenario::{load_str, LoadOptions, Loaded};

const POOL: &str = r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  template:
    spec:
      requirements:
      - {key: node.kubernetes.io/instance-type, operator: In, values: [m5.large, m5.xlarge]}
      - {key: topology.kubernetes.io/zone, operator: In, values: [us-east-1a, us-east-1b, us-east-1c]}
      - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
"#;

fn run(text: &str) -> (Loaded, Schedule) {
    let options = LoadOptions {
        scales: vec![],
        region: Some("us-east-1".into()),
    };
    let loaded = load_str("t.yaml", text, &options, Catalog::embedded()).unwrap();
    let s = schedule(&loaded.snapshot, &Options::default());
    (loaded, s)
}

fn deployment(name: &str, replicas: usize, cpu: &str, extra_spec: &str) -> String {
    format!(
        r#"
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: default}}
spec:
  replicas: {replicas}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: c, resources: {{requests: {{cpu: {cpu}}}}}}}]
{extra_spec}"#
    )
}

fn zone_of(claim_reqs: &karpdeck::model::Requirements) -> Option<String> {
    let z = claim_reqs.get(labels::ZONE)?;
    (z.values().len() == 1).then(|| z.values().iter().next().unwrap().clone())
}

#[test]
fn zonal_spread_balances_claims() {
    let spread = "      topologySpreadConstraints:\n      - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}\n";
    let (_, s) = run(&format!("{POOL}{}", deployment("web", 6, "1500m", spread)));
    assert!(s.failures.is_empty(), "{:?}", s.failures);
    // Pods 4-6 join the zone's first claim once every zone has one (m5.xlarge holds two).
    assert_eq!(s.claims.len(), 3);
    let mut per_zone: BTreeMap<String, usize> = BTreeMap::new();
    for c in &s.claims {
        *per_zone
            .entry(zone_of(&c.requirements).expect("zonal claim"))
            .or_default() += c.pods.len();
    }
    assert_eq!(
        per_zone.into_iter().collect::<Vec<_>>(),
        [
            ("us-east-1a".to_string(), 2),
            ("us-east-1b".to_string(), 2),
            ("us-east-1c".to_string(), 2)
        ]
    );
}

#[test]
fn min_domains_caps_each_zone_until_enough_domains_exist() {
    let spread = "      topologySpreadConstraints:\n      - {maxSkew: 1, minDomains: 5, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: web}}}\n";
    let (_, s) = run(&format!("{POOL}{}", deployment("web", 6, "100m", spread)));
    let placed: usize = s.claims.iter().map(|c| c.pods.len()).sum();
    assert_eq!(placed, 3);
    assert_eq!(s.failures.len(), 3);
    for (_, reason) in &s.failures {
        let PodReason::Rejected(list) = reason else {
            panic!("{reason:?}")
        };
        assert!(
            matches!(list[0].reason, PoolReason::Topology { ref key, .. } if key == labels::ZONE)
        );
    }
}

#[test]
fn hostname_anti_affinity_gives_each_pod_its_own_node() {
    let anti = "      affinity:\n        podAntiAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n          - {topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: db}}}\n";
    let (_, s) = run(&format!("{POOL}{}", deployment("db", 4, "100m", anti)));
    assert!(s.failures.is_empty(), "{:?}", s.failures);
    assert_eq!(s.claims.len(), 4);
    assert!(s.claims.iter().all(|c| c.pods.len() == 1));
}

#[test]
fn pod_affinity_follows_existing_pods_zone() {
    let cache = r#"
---
apiVersion: v1
kind: Node
metadata:
  name: n-b
  labels: {topology.kubernetes.io/zone: us-east-1b, node.kubernetes.io/instance-type: m5.large}
spec:
  taints: [{key: reserved, effect: NoSchedule}]
status:
  allocatable: {cpu: 1930m, memory: 6Gi, pods: '29'}
  conditions: [{type: Ready, status: 'True'}]
---
apiVersion: v1
kind: Pod
metadata: {name: cache-0, namespace: default, labels: {app: cache}}
spec:
  nodeName: n-b
  containers: [{name: c}]
status: {phase: Running}
"#;
    let affinity = "      affinity:\n        podAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n          - {topologyKey: topology.kubernetes.io/zone, labelSelector: {matchLabels: {app: cache}}}\n";
    let (_, s) = run(&format!(
        "{POOL}{cache}{}",
        deployment("web", 3, "1500m", affinity)
    ));
    assert!(s.failures.is_empty(), "{:?}", s.failures);
    // The tainted node takes none of them; every new claim is in the cache's zone.
    assert!(s.placements.is_empty());
    assert!(!s.claims.is_empty());
    for c in &s.claims {
        assert_eq!(zone_of(&c.requirements).as_deref(), Some("us-east-1b"));
    }
}

#[test]
fn preferred_anti_affinity_relaxes_when_the_pool_is_full() {
    let pool = POOL.replace(
        "spec:\n  template:",
        "spec:\n  limits: {nodes: '1'}\n  template:",
    );
    let anti = "      affinity:\n        podAntiAffinity:\n          preferredDuringSchedulingIgnoredDuringExecution:\n          - weight: 100\n            podAffinityTerm: {topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: api}}}\n";
    let (_, s) = run(&format!("{pool}{}", deployment("api", 3, "100m", anti)));
    assert!(s.failures.is_empty(), "{:?}", s.failures);
    assert_eq!(s.claims.len(), 1);
    assert_eq!(s.claims[0].pods.len(), 3);
    assert_eq!(s.relaxed.len(), 2);
}

#[test]
fn existing_nodes_first_but_never_cordoned_or_tainted() {
    let nodes = r#"
---
apiVersion: v1
kind: Node
metadata: {name: a-cordoned, labels: {topology.kubernetes.io/zone: us-east-1a}}
spec: {unschedulable: true}
status:
  allocatable: {cpu: '8', memory: 32Gi, pods: '110'}
  conditions: [{type: Ready, status: 'True'}]
---
apiVersion: v1
kind: Node
metadata: {name: b-notready, labels: {topology.kubernetes.io/zone: us-east-1a}}
status:
  allocatable: {cpu: '8', memory: 32Gi, pods: '110'}
  conditions: [{type: Ready, status: 'False'}]
---
apiVersion: v1
kind: Node
metadata: {name: c-open, labels: {topology.kubernetes.io/zone: us-east-1a}}
status:
  allocatable: {cpu: '2', memory: 32Gi, pods: '110'}
  conditions: [{type: Ready, status: 'True'}]
"#;
    let (l, s) = run(&format!(
        "{POOL}{nodes}{}",
        deployment("web", 3, "900m", "")
    ));
    assert!(s.failures.is_empty(), "{:?}", s.failures);
    let on: Vec<&str> = s
        .placements
        .iter()
        .map(|(_, t)| match t {
            Target::Node(i) => l.snapshot.nodes[*i].name.as_str(),
            Target::InFlight(_) => "in-flight",
        })
        .collect();
    assert_eq!(on, ["c-open", "c-open"]);
    assert_eq!(s.claims.len(), 1);
}

/// Regression scenarios from a review against Karpenter's scheduler (tests/fixtures/).
fn fixture(name: &str) -> (Loaded, Schedule) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    run(&std::fs::read_to_string(path).unwrap())
}

fn claim_zones(s: &Schedule) -> Vec<Option<String>> {
    s.claims.iter().map(|c| zone_of(&c.requirements)).collect()
}

#[test]
fn spread_uses_required_affinity_only_for_domains() {
    // Zone a already leads; the pod merely prefers a, so it must go elsewhere.
    let (_, s) = fixture("spread-ignores-preferred-zone.yaml");
    assert_eq!(claim_zones(&s), [Some("us-east-1b".to_string())]);
}

#[test]
fn pods_on_cordoned_nodes_count_for_spread() {
    let (_, s) = fixture("cordoned-pods-still-count.yaml");
    assert!(s.placements.is_empty());
    assert_eq!(claim_zones(&s), [Some("us-east-1b".to_string())]);
}

#[test]
fn a_booting_karpenter_node_takes_pods() {
    let (l, s) = fixture("booting-node-takes-pods.yaml");
    assert!(s.claims.is_empty(), "{:?}", s.claims.len());
    assert_eq!(s.placements.len(), 1);
    let Target::Node(n) = s.placements[0].1 else {
        panic!()
    };
    assert!(!l.snapshot.nodes[n].initialized());
}

#[test]
fn affinity_does_not_follow_a_claim_whose_zone_is_undecided() {
    let (_, s) = fixture("affinity-waits-for-a-decided-zone.yaml");
    assert_eq!(s.claims.len(), 1);
    assert_eq!(s.failures.len(), 1);
}

#[test]
fn equal_claims_are_tried_oldest_first() {
    let (l, s) = fixture("older-claims-first.yaml");
    let names = |c: &karpdeck::engine::scheduling::PlannedClaim| -> Vec<String> {
        c.pods
            .iter()
            .map(|&p| l.snapshot.pods[p].name.clone())
            .collect()
    };
    assert_eq!(names(&s.claims[0]), ["a", "c"]);
    assert_eq!(names(&s.claims[1]), ["b"]);
}

#[test]
fn the_optimizer_keeps_min_values() {
    use karpdeck::engine::plan::{plan, Strategy};
    let (l, _) = fixture("optimizer-keeps-min-values.yaml");
    let p = plan(&l.snapshot, Strategy::Optimized, &Options::default());
    for c in &p.nodeclaims {
        let families: std::collections::BTreeSet<&str> = c
            .launch
            .instance_types
            .iter()
            .map(|t| t.split('.').next().unwrap())
            .collect();
        assert!(families.len() >= 3, "{:?}", c.launch.instance_types);
    }
}
