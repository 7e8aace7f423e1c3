//! The scheduling simulation against the numbers Karpenter logged and the guide's expectations.

use std::path::PathBuf;

use karpdeck::catalog::Catalog;
use karpdeck::engine::scheduling::{schedule, Options, Target};
use karpdeck::scenario::{self, LoadOptions, Loaded};

fn load(name: &str, scales: &[&str]) -> Loaded {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/scenarios")
        .join(name);
    let options = LoadOptions {
        scales: scales.iter().map(|s| s.parse().unwrap()).collect(),
        region: None,
    };
    scenario::load_file(&path, &options, Catalog::embedded()).unwrap()
}

#[test]
fn seed_lab_scale_out_matches_karpenters_log() {
    let l = load("seed-lab.yaml", &["nlb-app-karpenter/nginx-deployment=6"]);
    let s = &l.snapshot;
    let plan = schedule(s, &Options::default());
    assert!(plan.failures.is_empty(), "{:?}", plan.failures);
    assert_eq!(plan.placements.len(), 1);
    let (_, target) = plan.placements[0];
    let Target::Node(n) = target else {
        panic!("{target:?}")
    };
    assert_eq!(
        s.nodes[n].name,
        "ip-172-31-75-60.ap-southeast-1.compute.internal"
    );
    assert_eq!(plan.claims.len(), 2);
    let c = &plan.claims[0];
    let t = &plan.templates[c.template];
    let names = |types: &[usize]| -> Vec<String> {
        let mut v: Vec<String> = types.iter().map(|&i| t.types[i].name.clone()).collect();
        v.sort();
        v
    };
    assert_eq!(c.pods.len(), 3);
    assert_eq!(
        c.requests.to_string(),
        r#"{"cpu":"6825m","memory":"12025950Ki","pods":"7"}"#
    );
    assert_eq!(names(&c.types), ["c6g.2xlarge"]);
    let c = &plan.claims[1];
    assert_eq!(c.pods.len(), 1);
    assert_eq!(
        c.requests.to_string(),
        r#"{"cpu":"2825m","memory":"4213450Ki","pods":"5"}"#
    );
    assert_eq!(names(&c.types), ["c6g.2xlarge", "m6g.xlarge", "r6g.xlarge"]);
}

#[test]
fn best_practices_keeps_gpu_and_team_pods_apart() {
    let l = load("best-practices.yaml", &[]);
    let s = &l.snapshot;
    let plan = schedule(s, &Options::default());
    assert!(plan.failures.is_empty(), "{:?}", plan.failures);
    let mut gpu_pods = 0;
    let mut team_pods = 0;
    for c in &plan.claims {
        let t = &plan.templates[c.template];
        let types: Vec<&str> = c.types.iter().map(|&i| t.types[i].name.as_str()).collect();
        assert!(!types.is_empty());
        for &p in &c.pods {
            let pod = &s.pods[p];
            match pod.namespace.as_str() {
                "ml" => {
                    assert_eq!(c.nodepool, "gpu");
                    gpu_pods += 1;
                }
                "my-team" => {
                    assert_eq!(c.nodepool, "generalcompute");
                    team_pods += 1;
                }
                other => panic!("unexpected pod from {other}"),
            }
        }
        if c.nodepool == "gpu" {
            assert!(types.iter().all(|t| t.starts_with("p3.")), "{types:?}");
        } else {
            let allowed = [
                "m5.large",
                "m5.xlarge",
                "m5.2xlarge",
                "c5.large",
                "c5.xlarge",
                "c5a.large",
                "c5a.xlarge",
                "r5.large",
                "r5.xlarge",
            ];
            assert!(types.iter().all(|t| allowed.contains(t)), "{types:?}");
            assert!(c.requirements.get("billing-team").unwrap().has("my-team"));
        }
    }
    assert_eq!(gpu_pods, 2);
    assert_eq!(team_pods, 200);
}

#[test]
fn optimized_beats_greedy_when_karpenter_builds_one_giant_node() {
    use karpdeck::engine::plan::{plan, Strategy};
    let text = r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  template:
    spec:
      requirements:
      - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
      - {key: kubernetes.io/arch, operator: In, values: [amd64]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: cpu, namespace: d}
spec:
  replicas: 40
  template:
    metadata: {labels: {app: cpu}}
    spec: {containers: [{name: c, resources: {requests: {cpu: '3', memory: 1Gi}}}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: mem, namespace: d}
spec:
  replicas: 40
  template:
    metadata: {labels: {app: mem}}
    spec: {containers: [{name: c, resources: {requests: {cpu: 250m, memory: 12Gi}}}]}
"#;
    let options = LoadOptions {
        scales: vec![],
        region: Some("us-east-1".into()),
    };
    let l = scenario::load_str("t.yaml", text, &options, Catalog::embedded()).unwrap();
    let greedy = plan(&l.snapshot, Strategy::Karpenter, &Options::default());
    let optimized = plan(&l.snapshot, Strategy::Optimized, &Options::default());
    // Karpenter keeps adding pods to the first claim until only the largest types fit.
    assert_eq!(greedy.nodeclaims.len(), 1);
    assert_eq!(optimized.scheduled_pods(), 80);
    assert!(
        optimized.new_per_hour() < greedy.new_per_hour() * 0.95,
        "optimized {} vs karpenter {}",
        optimized.new_per_hour(),
        greedy.new_per_hour()
    );
}

/// A NodeClaim still launching counts as capacity even when its offerings have since gone into
/// the unavailable cache: Karpenter must not launch a second node for the same pods.
#[test]
fn in_flight_claim_of_an_unavailable_type_still_takes_pods() {
    let mut l = load("seed-lab.yaml", &["nlb-app-karpenter/nginx-deployment=3"]);
    let first = schedule(&l.snapshot, &Options::default());
    assert_eq!(first.claims.len(), 1, "one pod needs a new node");
    let s = &mut l.snapshot;
    let offerings = s.catalog.offerings(&s.region, "c6g.2xlarge");
    for o in &offerings {
        s.unavailable_offerings
            .insert(("c6g.2xlarge".into(), o.zone.clone(), o.capacity_type));
    }
    let it = s.catalog.get("c6g.2xlarge").unwrap().clone();
    let settings = karpdeck::catalog::NodeSettings::default();
    s.nodeclaims.push(karpdeck::model::NodeClaim {
        name: "default-inflight".into(),
        nodepool: Some("default".into()),
        requirements: Default::default(),
        requests: Default::default(),
        instance_type: Some("c6g.2xlarge".into()),
        zone: Some("ap-southeast-1a".into()),
        capacity_type: Some(karpdeck::model::CapacityType::Spot),
        provider_id: None,
        node_name: None,
        capacity: settings.capacity(&it),
        allocatable: settings.allocatable(&it),
        launched: true,
        registered: false,
        initialized: false,
        deleting: false,
        created: None,
    });
    let again = schedule(&l.snapshot, &Options::default());
    assert!(again.claims.is_empty(), "{:?}", again.claims.len());
    assert!(again
        .placements
        .iter()
        .any(|(_, t)| matches!(t, Target::InFlight(_))));
}
