//! Best-practice audit: each rule fires on a scenario that breaks it, and a careful one is clean.

use karpdeck::catalog::Catalog;
use karpdeck::engine::advisor::{audit, Finding, Severity};
use karpdeck::scenario::{load_str, LoadOptions};

fn findings(text: &str) -> Vec<Finding> {
    let options = LoadOptions {
        scales: vec![],
        region: Some("us-east-1".into()),
    };
    audit(
        &load_str("t.yaml", text, &options, Catalog::embedded())
            .unwrap()
            .snapshot,
    )
}

fn rules(f: &[Finding]) -> Vec<&'static str> {
    f.iter().map(|f| f.rule).collect()
}

const CARELESS: &str = r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: a}
spec:
  template:
    spec:
      nodeClassRef: {name: floating}
      expireAfter: Never
      requirements:
      - {key: karpenter.sh/capacity-type, operator: In, values: [spot]}
      - {key: node.kubernetes.io/instance-type, operator: In, values: [m5.large, m5.xlarge]}
---
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: b}
spec:
  template:
    spec:
      requirements:
      - {key: karpenter.sh/capacity-type, operator: In, values: [spot, on-demand]}
---
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {name: floating}
spec:
  amiSelectorTerms: [{alias: al2023@latest}]
  launchTemplate: my-template
---
apiVersion: v1
kind: Node
metadata: {name: k1, labels: {karpenter.sh/nodepool: a, karpenter.sh/initialized: 'true', node.kubernetes.io/instance-type: m5.large, topology.kubernetes.io/zone: us-east-1a}}
status:
  allocatable: {cpu: 1930m, memory: 6Gi, pods: '29'}
  conditions: [{type: Ready, status: 'True'}]
---
apiVersion: v1
kind: Pod
metadata: {name: karpenter-1, namespace: karpenter, labels: {app.kubernetes.io/name: karpenter}}
spec:
  nodeName: k1
  containers: [{name: controller, resources: {requests: {cpu: '1', memory: 1Gi}}}]
status: {phase: Running}
---
apiVersion: v1
kind: Pod
metadata: {name: greedy, namespace: d, ownerReferences: [{kind: ReplicaSet, name: greedy-rs, controller: true}]}
spec:
  nodeName: k1
  containers: [{name: c, resources: {requests: {memory: 128Mi}, limits: {memory: 1Gi}}}]
status: {phase: Running}
---
apiVersion: v1
kind: Pod
metadata: {name: bare, namespace: d}
spec:
  containers: [{name: c}]
---
apiVersion: v1
kind: Pod
metadata: {name: coredns-1, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  containers: [{name: c, resources: {requests: {cpu: 100m, memory: 70Mi}, limits: {memory: 70Mi}}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  Corefile: |
    .:53 {
        health
        forward . /etc/resolv.conf
    }
"#;

#[test]
fn every_rule_fires_on_a_careless_cluster() {
    let f = findings(CARELESS);
    let mut got = rules(&f);
    got.sort();
    assert_eq!(
        got,
        [
            "coredns-without-lameduck",
            "custom-launch-template",
            "expire-never-floating-ami",
            "karpenter-on-karpenter-nodes",
            "memory-limit-above-request",
            "nodepool-without-limits",
            "overlapping-nodepools",
            "pods-without-requests",
            "spot-too-few-types",
            "spot-without-interruption-queue",
        ]
    );
    let by = |r: &str| f.iter().find(|x| x.rule == r).unwrap();
    assert_eq!(
        by("memory-limit-above-request").objects,
        ["ReplicaSet d/greedy-rs"]
    );
    assert_eq!(by("pods-without-requests").objects, ["Pod d/bare"]);
    assert_eq!(by("spot-too-few-types").objects, ["NodePool a"]);
    assert_eq!(
        by("overlapping-nodepools").objects,
        ["NodePool a", "NodePool b"]
    );
    assert!(f.iter().all(|x| x.severity == Severity::Warning));
}

#[test]
fn a_careful_cluster_is_clean() {
    let careful = CARELESS
        .replace("  template:\n    spec:\n      nodeClassRef: {name: floating}\n      expireAfter: Never", "  weight: 10\n  limits: {cpu: '100'}\n  template:\n    spec:\n      nodeClassRef: {name: floating}\n      expireAfter: 720h")
        .replace("values: [m5.large, m5.xlarge]", "values: [m5.large, m5.xlarge, m5.2xlarge, m6i.large, m6i.xlarge, m6i.2xlarge, m7i.large, m7i.xlarge, m7i.2xlarge, c5.large, c5.xlarge, c6i.large, c6i.xlarge, r5.large, r5.xlarge, r6i.large]")
        .replace("metadata: {name: b}\nspec:\n", "metadata: {name: b}\nspec:\n  limits: {cpu: '100'}\n")
        .replace("  launchTemplate: my-template\n", "")
        .replace("karpenter.sh/nodepool: a, karpenter.sh/initialized: 'true', ", "")
        .replace("limits: {memory: 1Gi}", "limits: {memory: 128Mi}")
        .replace("  containers: [{name: c}]\n", "  containers: [{name: c, resources: {requests: {cpu: 10m}}}]\n")
        .replace("        health\n", "        health {\n            lameduck 5s\n        }\n")
        .replace("containers: [{name: controller,", "containers: [{name: controller, env: [{name: INTERRUPTION_QUEUE, value: karpenter-queue}],");
    let f = findings(&careful);
    assert!(f.is_empty(), "{:#?}", f);
}
