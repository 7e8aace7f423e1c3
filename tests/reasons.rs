//! Why pods stay pending: each rejection names the pool and the rule, in one readable line.

use karpdeck::catalog::Catalog;
use karpdeck::engine::scheduling::reasons::{PodReason, PoolReason};
use karpdeck::engine::scheduling::{schedule, Options, Schedule};
use karpdeck::scenario::{load_str, LoadOptions, Loaded};

const BASE: &str = r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: general}
spec:
  limits: {cpu: "4"}
  template:
    spec:
      requirements:
      - {key: node.kubernetes.io/instance-type, operator: In, values: [m5.large, m5.xlarge]}
      - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: gpu}
spec:
  template:
    spec:
      requirements:
      - {key: karpenter.k8s.aws/instance-family, operator: In, values: [g5]}
      taints: [{key: dedicated, value: gpu, effect: NoSchedule}]
"#;

fn run(extra: &str) -> (Loaded, Schedule) {
    let text = format!("{BASE}{extra}");
    let options = LoadOptions {
        scales: vec![],
        region: Some("us-east-1".into()),
    };
    let loaded = load_str("t.yaml", &text, &options, Catalog::embedded()).unwrap();
    let s = schedule(&loaded.snapshot, &Options::default());
    (loaded, s)
}

fn pod(name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: default}}\nspec:\n{spec}"
    )
}

fn reasons_of(s: &Schedule) -> Vec<(String, PoolReason)> {
    assert_eq!(s.failures.len(), 1, "{:?}", s.failures);
    match &s.failures[0].1 {
        PodReason::Rejected(list) => list
            .iter()
            .map(|r| (r.nodepool.clone(), r.reason.clone()))
            .collect(),
        other => panic!("{other:?}"),
    }
}

fn line(s: &Schedule, pool: &str) -> String {
    s.failures[0]
        .1
        .lines()
        .into_iter()
        .find(|l| l.starts_with(&format!("nodepool {pool:?}")))
        .unwrap_or_else(|| panic!("no line for {pool}: {:?}", s.failures[0].1.lines()))
}

#[test]
fn a_200_cpu_pod_fits_no_instance_type() {
    let (_, s) = run(&pod(
        "huge",
        "  containers: [{name: c, resources: {requests: {cpu: '200'}}}]\n  tolerations: [{key: dedicated, operator: Exists}]\n",
    ));
    let reasons = reasons_of(&s);
    for (pool, reason) in &reasons {
        let PoolReason::NoInstanceType(search) = reason else {
            panic!("{pool}: {reason:?}")
        };
        assert!(
            search.compatible > 0 && search.fitting == 0,
            "{pool}: {search:?}"
        );
        let closest = search.closest.as_ref().unwrap();
        assert_eq!(closest.resource, "cpu");
        assert!(closest.needed >= 200_000 && closest.allocatable < closest.needed);
    }
    let l = line(&s, "general");
    assert!(
        l.contains("0 with enough resources") && l.contains("closest: m5.xlarge needs cpu"),
        "{l}"
    );
}

#[test]
fn a_zone_without_offerings() {
    // m5 is not offered in us-east-1e.
    let (_, s) = run(&pod(
        "zonal",
        "  nodeSelector: {topology.kubernetes.io/zone: us-east-1e}\n  containers: [{name: c, resources: {requests: {cpu: 100m}}}]\n",
    ));
    let l = line(&s, "general");
    assert!(l.contains("0 with an available offering"), "{l}");
    assert!(l.contains("no offering in zones In [us-east-1e]"), "{l}");
}

#[test]
fn a_missing_toleration() {
    let (_, s) = run(&pod(
        "gpu-job",
        "  nodeSelector: {karpenter.k8s.aws/instance-family: g5}\n  containers: [{name: c, resources: {requests: {cpu: '1', nvidia.com/gpu: '1'}}}]\n",
    ));
    let reasons = reasons_of(&s);
    let gpu = reasons.iter().find(|(p, _)| p == "gpu").unwrap();
    assert!(matches!(&gpu.1, PoolReason::TaintNotTolerated(t) if t.key == "dedicated"));
    assert_eq!(
        line(&s, "gpu"),
        "nodepool \"gpu\": did not tolerate taint dedicated=gpu:NoSchedule"
    );
    // The general pool offers no g5 at all.
    assert_eq!(
        line(&s, "general"),
        "nodepool \"general\": no instance type met the requirements and resources (0 compatible, 0 with enough resources, 0 with an available offering); no instance type has karpenter.k8s.aws/instance-family In [g5]"
    );
}

#[test]
fn a_nodepool_at_its_limit() {
    let node = r#"
---
apiVersion: v1
kind: Node
metadata:
  name: busy
  labels: {karpenter.sh/nodepool: general, node.kubernetes.io/instance-type: m5.xlarge, topology.kubernetes.io/zone: us-east-1a}
status:
  capacity: {cpu: '4', memory: 16Gi, pods: '58'}
  allocatable: {cpu: 3920m, memory: 14Gi, pods: '58'}
  conditions: [{type: Ready, status: 'True'}]
---
apiVersion: v1
kind: Pod
metadata: {name: filler, namespace: default}
spec:
  nodeName: busy
  containers: [{name: c, resources: {requests: {cpu: 3900m}}}]
status: {phase: Running}
"#;
    let (_, s) = run(&format!(
        "{node}{}",
        pod(
            "one-more",
            "  containers: [{name: c, resources: {requests: {cpu: 500m}}}]\n"
        )
    ));
    let reasons = reasons_of(&s);
    let general = reasons.iter().find(|(p, _)| p == "general").unwrap();
    assert!(
        matches!(&general.1, PoolReason::LimitExceeded(b) if b.resource == "cpu"),
        "{:?}",
        general.1
    );
    assert_eq!(
        line(&s, "general"),
        "nodepool \"general\": cpu resource usage of 6 exceeds limit of 4"
    );
}

#[test]
fn gated_pods_and_no_pools() {
    let (_, s) = run(&pod(
        "gated",
        "  schedulingGates: [{name: later}]\n  containers: [{name: c}]\n",
    ));
    assert_eq!(s.failures[0].1, PodReason::SchedulingGated);
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c}]}\n";
    let loaded = load_str("t.yaml", text, &LoadOptions::default(), Catalog::embedded()).unwrap();
    let s = schedule(&loaded.snapshot, &Options::default());
    assert_eq!(s.failures[0].1, PodReason::NoNodePools);
}

#[test]
fn min_values_that_cannot_be_met() {
    let text = r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: diverse}
spec:
  template:
    spec:
      requirements:
      - {key: karpenter.k8s.aws/instance-family, operator: In, values: [m5, c5, r5], minValues: 3}
"#;
    let small = pod(
        "small",
        "  containers: [{name: c, resources: {requests: {cpu: 100m}}}]\n",
    );
    let options = LoadOptions {
        scales: vec![],
        region: Some("us-east-1".into()),
    };
    // A small pod keeps all three families open.
    let l = load_str(
        "t.yaml",
        &format!("{text}{small}"),
        &options,
        Catalog::embedded(),
    )
    .unwrap();
    assert!(schedule(&l.snapshot, &Options::default())
        .failures
        .is_empty());
    // 500Gi is more than any c5 (192Gi) or m5 (384Gi) holds: only r5 remains.
    let huge = pod(
        "huge",
        "  containers: [{name: c, resources: {requests: {memory: 500Gi}}}]\n",
    );
    let l = load_str(
        "t.yaml",
        &format!("{text}{huge}"),
        &options,
        Catalog::embedded(),
    )
    .unwrap();
    let s = schedule(&l.snapshot, &Options::default());
    assert_eq!(
        s.failures[0].1.lines(),
        ["nodepool \"diverse\": NodePool couldn't meet minValues requirements: karpenter.k8s.aws/instance-family needs 3 values, 1 remain"]
    );
}
