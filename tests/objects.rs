//! Conversion rules for each kind the loader reads, one small manifest per rule.

use std::time::Duration;

use karpdeck::catalog::Catalog;
use karpdeck::model::affinity::{InclusionPolicy, WhenUnsatisfiable};
use karpdeck::model::pdb::IntOrPercent;
use karpdeck::model::pod::PodPhase;
use karpdeck::model::{
    ConsolidationPolicy, DisruptionReason, DoNotDisrupt, NodePoolApi, Operator, OwnerKind,
    TaintEffect, TolerationOp,
};
use karpdeck::scenario::{load_str, LoadOptions, Loaded};

fn load(text: &str) -> Loaded {
    try_load(text).unwrap_or_else(|e| panic!("{e}"))
}

fn try_load(text: &str) -> Result<Loaded, String> {
    load_str("t.yaml", text, &LoadOptions::default(), Catalog::embedded())
        .map_err(|e| e.to_string())
}

fn scaled(text: &str, scale: &str) -> Loaded {
    let options = LoadOptions {
        scales: vec![scale.parse().unwrap()],
        region: None,
    };
    load_str("t.yaml", text, &options, Catalog::embedded()).unwrap()
}

const NODEPOOL_V1: &str = r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  weight: 10
  limits: {cpu: "100", memory: 400Gi, nodes: "20"}
  disruption:
    consolidationPolicy: WhenEmptyOrUnderutilized
    consolidateAfter: 5m
    budgets:
    - nodes: "20%"
      reasons: [Empty, Drifted]
    - nodes: "0"
      schedule: "0 9 * * mon-fri"
      duration: 8h
  template:
    metadata:
      labels: {team: a}
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      expireAfter: 168h
      terminationGracePeriod: 1h
      requirements:
      - {key: karpenter.k8s.aws/instance-category, operator: In, values: [c, m, r], minValues: 2}
      - {key: karpenter.k8s.aws/instance-generation, operator: Gt, values: ["4"]}
      taints: [{key: dedicated, value: a, effect: NoSchedule}]
      startupTaints: [{key: ebs.csi.aws.com/agent-not-ready, effect: NoExecute}]
"#;

#[test]
fn nodepool_v1() {
    let l = load(NODEPOOL_V1);
    let p = &l.snapshot.nodepools[0];
    assert_eq!(p.api, NodePoolApi::V1);
    assert_eq!(p.weight, 10);
    assert_eq!(p.limits.get("cpu"), Some(100_000));
    assert_eq!(p.limits.get("memory"), Some(400 << 30));
    assert_eq!(p.limits.get("nodes"), Some(20));
    assert_eq!(
        p.consolidation_policy,
        Some(ConsolidationPolicy::WhenEmptyOrUnderutilized)
    );
    assert_eq!(p.consolidate_after, Some(Duration::from_secs(300)));
    assert_eq!(p.expire_after, Some(Duration::from_secs(168 * 3600)));
    assert_eq!(p.termination_grace_period, Some(Duration::from_secs(3600)));
    assert_eq!(p.budgets.len(), 2);
    assert_eq!(p.budgets[0].nodes, IntOrPercent::Percent(20));
    assert_eq!(
        p.budgets[0].reasons,
        vec![DisruptionReason::Empty, DisruptionReason::Drifted]
    );
    assert_eq!(p.budgets[1].schedule.as_deref(), Some("0 9 * * mon-fri"));
    assert_eq!(p.budgets[1].duration, Some(Duration::from_secs(8 * 3600)));
    let cat = p
        .requirements
        .get("karpenter.k8s.aws/instance-category")
        .unwrap();
    assert_eq!(cat.min_values(), Some(2));
    let generation = p
        .requirements
        .get("karpenter.k8s.aws/instance-generation")
        .unwrap();
    assert_eq!(generation.gte(), Some(5));
    assert_eq!(p.taints[0].effect, TaintEffect::NoSchedule);
    assert_eq!(p.startup_taints[0].effect, TaintEffect::NoExecute);
    assert_eq!(p.node_class.as_deref(), Some("default"));
    // Pool labels and its own name become launch requirements.
    let launch = p.launch_requirements();
    assert!(launch.get("team").unwrap().has("a"));
    assert!(launch.get("karpenter.sh/nodepool").unwrap().has("default"));
}

#[test]
fn nodepool_defaults_and_never() {
    let l = load(
        "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: p}\nspec:\n  disruption: {consolidateAfter: Never}\n  template:\n    spec:\n      expireAfter: Never\n      requirements: []\n",
    );
    let p = &l.snapshot.nodepools[0];
    assert_eq!(
        p.consolidation_policy,
        Some(ConsolidationPolicy::WhenEmptyOrUnderutilized)
    );
    assert_eq!(p.consolidate_after, None);
    assert_eq!(p.expire_after, None);
    assert_eq!(p.budgets, vec![karpdeck::model::Budget::default_budget()]);
    assert_eq!(p.weight, 0);
    assert!(p.limits.is_empty());

    let l = load("apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: p}\nspec:\n  template:\n    spec: {}\n");
    let p = &l.snapshot.nodepools[0];
    assert_eq!(p.consolidate_after, Some(Duration::ZERO));
    assert_eq!(p.expire_after, Some(Duration::from_secs(720 * 3600)));
}

#[test]
fn nodepool_v1beta1_keeps_expiry_under_disruption_and_kubelet_in_template() {
    let l = load(
        "apiVersion: karpenter.sh/v1beta1\nkind: NodePool\nmetadata: {name: p}\nspec:\n  disruption: {consolidationPolicy: WhenUnderutilized, expireAfter: 24h}\n  template:\n    spec:\n      kubelet: {maxPods: 110, evictionHard: {memory.available: 5%}}\n      requirements: []\n",
    );
    let p = &l.snapshot.nodepools[0];
    assert_eq!(p.api, NodePoolApi::V1beta1);
    assert_eq!(
        p.consolidation_policy,
        Some(ConsolidationPolicy::WhenEmptyOrUnderutilized)
    );
    assert_eq!(p.expire_after, Some(Duration::from_secs(24 * 3600)));
    let k = p.kubelet.as_ref().unwrap();
    assert_eq!(k.max_pods, Some(110));
    assert_eq!(k.eviction_hard["memory.available"], "5%");
}

#[test]
fn nodepool_errors() {
    let base = "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: p}\nspec:\n  template:\n    spec: {}\n";
    let with = |extra: &str| format!("{base}  {extra}\n");
    let e = try_load(&with("disruption: {budgets: [{nodes: 150%}]}")).unwrap_err();
    assert!(
        e.contains(
            "spec.disruption.budgets[0].nodes: \"150%\" is neither a count nor a percentage"
        ),
        "{e}"
    );
    let e = try_load(&with(
        "disruption: {budgets: [{nodes: '1', schedule: '@daily'}]}",
    ))
    .unwrap_err();
    assert!(
        e.contains("schedule and duration must be set together"),
        "{e}"
    );
    let e = try_load(&with("disruption: {consolidationPolicy: Sometimes}")).unwrap_err();
    assert!(e.contains("unknown policy \"Sometimes\""), "{e}");
    let e = try_load(&with("disruption: {consolidateAfter: soon}")).unwrap_err();
    assert!(
        e.contains("spec.disruption.consolidateAfter: \"soon\" is neither a duration"),
        "{e}"
    );
    let e = try_load(&with("weight: 101")).unwrap_err();
    assert!(e.contains("spec.weight: weight must be 0..100"), "{e}");
    let e = try_load(&with(
        "disruption: {budgets: [{nodes: '1', reasons: [Bored]}]}",
    ))
    .unwrap_err();
    assert!(e.contains("unknown reason \"Bored\""), "{e}");
    let e = try_load(
        "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: p}\nspec:\n  template:\n    spec:\n      requirements: [{key: k, operator: Gt, values: [a]}]\n",
    )
    .unwrap_err();
    assert!(
        e.contains("requirements[0]: operator Gt needs exactly one integer value"),
        "{e}"
    );
    // An unknown NodePool version is skipped, not guessed at.
    let l = load("apiVersion: karpenter.sh/v9\nkind: NodePool\nmetadata: {name: p}\nspec: {}\n");
    assert!(l.snapshot.nodepools.is_empty());
    assert!(l.warnings[0]
        .message
        .contains("unsupported apiVersion karpenter.sh/v9"));
}

#[test]
fn provisioner_migrates_like_karpenter() {
    let l = load(
        "apiVersion: karpenter.sh/v1alpha5\nkind: Provisioner\nmetadata: {name: p}\nspec:\n  ttlSecondsAfterEmpty: 30\n  ttlSecondsUntilExpired: 2592000\n  kubeletConfiguration: {maxPods: 20}\n  providerRef: {name: nt}\n",
    );
    let p = &l.snapshot.nodepools[0];
    assert_eq!(p.consolidation_policy, Some(ConsolidationPolicy::WhenEmpty));
    assert_eq!(p.consolidate_after, Some(Duration::from_secs(30)));
    assert_eq!(p.expire_after, Some(Duration::from_secs(2_592_000)));
    assert_eq!(p.kubelet.as_ref().unwrap().max_pods, Some(20));
    assert_eq!(p.node_class.as_deref(), Some("nt"));

    let l = load(
        "apiVersion: karpenter.sh/v1alpha5\nkind: Provisioner\nmetadata: {name: p}\nspec: {}\n",
    );
    let p = &l.snapshot.nodepools[0];
    assert_eq!(p.consolidation_policy, None);
    assert_eq!(p.expire_after, None);

    let e = try_load(
        "apiVersion: karpenter.sh/v1alpha5\nkind: Provisioner\nmetadata: {name: p}\nspec:\n  consolidation: {enabled: true}\n  ttlSecondsAfterEmpty: 30\n",
    )
    .unwrap_err();
    assert!(e.contains("mutually exclusive"), "{e}");
}

#[test]
fn node_classes() {
    let l = load(
        r#"
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {name: default}
spec:
  amiSelectorTerms: [{alias: al2023@latest}]
  role: KarpenterNodeRole
  subnetSelectorTerms: [{tags: {karpenter.sh/discovery: demo}}, {id: subnet-123}]
  securityGroupSelectorTerms: [{tags: {karpenter.sh/discovery: demo}}]
  kubelet: {podsPerCore: 4, systemReserved: {cpu: 100m}}
  blockDeviceMappings:
  - {deviceName: /dev/xvda, rootVolume: true, ebs: {volumeSize: 100Gi}}
---
apiVersion: karpenter.k8s.aws/v1alpha1
kind: AWSNodeTemplate
metadata: {name: legacy}
spec:
  amiFamily: Bottlerocket
  subnetSelector: {karpenter.sh/discovery: lab}
"#,
    );
    let [v1, legacy] = &l.snapshot.nodeclasses[..] else {
        panic!("two node classes expected")
    };
    assert_eq!(v1.ami_family.as_deref(), Some("al2023"));
    assert_eq!(v1.role.as_deref(), Some("KarpenterNodeRole"));
    assert_eq!(v1.subnet_selectors.len(), 2);
    assert_eq!(v1.subnet_selectors[1]["id"], "subnet-123");
    assert_eq!(v1.kubelet.as_ref().unwrap().pods_per_core, Some(4));
    assert_eq!(
        v1.kubelet
            .as_ref()
            .unwrap()
            .system_reserved
            .as_ref()
            .unwrap()
            .cpu_millis,
        100
    );
    assert_eq!(v1.root_volume_bytes, Some(100 << 30));
    assert!(v1.eni_limited_pods());
    assert_eq!(legacy.kind, "AWSNodeTemplate");
    assert_eq!(legacy.subnet_selectors[0]["karpenter.sh/discovery"], "lab");
    assert!(legacy.eni_limited_pods());
}

#[test]
fn nodeclaims_and_machines() {
    let l = load(
        r#"
apiVersion: karpenter.sh/v1
kind: NodeClaim
metadata:
  name: default-abc12
  labels: {karpenter.sh/nodepool: default, node.kubernetes.io/instance-type: c6g.2xlarge, topology.kubernetes.io/zone: ap-southeast-1a, karpenter.sh/capacity-type: spot}
spec:
  requirements: [{key: node.kubernetes.io/instance-type, operator: In, values: [c6g.2xlarge, m6g.xlarge]}]
  resources: {requests: {cpu: 6825m, memory: 12025950Ki, pods: "7"}}
status:
  providerID: aws:///ap-southeast-1a/i-0abc
  capacity: {cpu: "8", memory: 16Gi, pods: "58"}
  conditions: [{type: Launched, status: "True"}, {type: Registered, status: "False"}]
---
apiVersion: karpenter.sh/v1alpha5
kind: Machine
metadata:
  name: default-xyz
  labels: {karpenter.sh/provisioner-name: default}
status:
  nodeName: ip-1
  conditions: [{type: MachineLaunched, status: "True"}, {type: MachineRegistered, status: "True"}, {type: MachineInitialized, status: "True"}]
"#,
    );
    let c = &l.snapshot.nodeclaims[0];
    assert_eq!(c.nodepool.as_deref(), Some("default"));
    assert_eq!(c.requests.cpu_millis, 6825);
    assert_eq!(c.requests.memory_bytes, 12_025_950 * 1024);
    assert_eq!(c.requests.pods, 7);
    assert!(c.launched && !c.registered && c.in_flight());
    assert_eq!(c.capacity.cpu_millis, 8000);
    assert_eq!(l.snapshot.region, "ap-southeast-1");
    // Both count against the pool; the Machine's node is not in the file and it reports no capacity.
    assert_eq!(
        l.snapshot.nodepool_usage("default"),
        (c.capacity.clone(), 2)
    );
    let m = &l.snapshot.nodeclaims[1];
    assert_eq!(m.nodepool.as_deref(), Some("default"));
    assert!(m.registered && m.initialized && !m.in_flight());
}

const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: web-1
  namespace: shop
  labels: {app: web}
  annotations: {karpenter.sh/do-not-disrupt: 10m, controller.kubernetes.io/pod-deletion-cost: "-5"}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-abc, controller: true, uid: u}]
  creationTimestamp: "2024-01-01T00:00:00Z"
spec:
  priority: 1000
  priorityClassName: high
  terminationGracePeriodSeconds: 90
  nodeSelector: {kubernetes.io/arch: arm64}
  overhead: {cpu: 50m}
  initContainers:
  - name: proxy
    restartPolicy: Always
    resources: {requests: {cpu: 100m, memory: 64Mi}}
  - name: migrate
    resources: {requests: {cpu: "2", memory: 16Mi}}
  containers:
  - name: app
    resources:
      requests: {cpu: 500m, memory: 1Gi}
      limits: {nvidia.com/gpu: 1}
    ports: [{containerPort: 8080, hostPort: 8080}]
  tolerations:
  - {operator: Exists}
  - {key: dedicated, operator: Equal, value: web, effect: NoSchedule}
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions: [{key: topology.kubernetes.io/zone, operator: In, values: [a, b]}]
        - matchExpressions: [{key: karpenter.sh/capacity-type, operator: NotIn, values: [spot]}]
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 50
        preference: {matchExpressions: [{key: karpenter.k8s.aws/instance-family, operator: In, values: [c7g]}]}
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - labelSelector: {matchLabels: {app: web}}
        topologyKey: kubernetes.io/hostname
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 10
        podAffinityTerm:
          labelSelector: {matchExpressions: [{key: app, operator: In, values: [web]}]}
          topologyKey: topology.kubernetes.io/zone
    podAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - labelSelector: {matchLabels: {app: cache}}
        namespaceSelector: {}
        topologyKey: topology.kubernetes.io/zone
  topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    minDomains: 3
    nodeTaintsPolicy: Honor
    labelSelector: {matchLabels: {app: web}}
  volumes:
  - {name: scratch, emptyDir: {}}
  - {name: data, persistentVolumeClaim: {claimName: web-data}}
  schedulingGates: [{name: wait}]
status:
  phase: Pending
  conditions: [{type: PodScheduled, status: "False", reason: Unschedulable}]
"#;

#[test]
fn pod_fields() {
    let l = load(POD);
    let p = &l.snapshot.pods[0];
    assert_eq!(p.key(), "shop/web-1");
    // max(app 500m + sidecar 100m, migrate 2000m + sidecar 100m) + overhead 50m.
    assert_eq!(p.requests.cpu_millis, 2150);
    assert_eq!(p.requests.memory_bytes, (1 << 30) + (64 << 20));
    // A limit without a request defaults the request.
    assert_eq!(p.requests.get("nvidia.com/gpu"), 1);
    assert_eq!(p.priority, 1000);
    assert_eq!(p.priority_class.as_deref(), Some("high"));
    assert_eq!(p.termination_grace_seconds, 90);
    assert_eq!(
        p.do_not_disrupt,
        Some(DoNotDisrupt::For(Duration::from_secs(600)))
    );
    assert_eq!(p.deletion_cost, -5);
    assert_eq!(p.owner.as_ref().unwrap().kind, OwnerKind::ReplicaSet);
    assert!(p
        .node_selector
        .get("kubernetes.io/arch")
        .unwrap()
        .has("arm64"));
    assert_eq!(p.node_affinity.required.len(), 2);
    assert_eq!(
        p.node_affinity.required[1]
            .get("karpenter.sh/capacity-type")
            .unwrap()
            .operator(),
        Operator::NotIn
    );
    assert_eq!(p.node_affinity.preferred[0].0, 50);
    assert_eq!(
        p.pod_affinity.anti_required[0].topology_key,
        "kubernetes.io/hostname"
    );
    assert_eq!(p.pod_affinity.anti_preferred[0].weight, 10);
    assert_eq!(
        p.pod_affinity.required[0].namespace_selector,
        Some(Default::default())
    );
    let tsc = &p.topology_spread[0];
    assert_eq!(tsc.when_unsatisfiable, WhenUnsatisfiable::ScheduleAnyway);
    assert_eq!(tsc.min_domains, Some(3));
    assert_eq!(tsc.node_affinity_policy, InclusionPolicy::Honor);
    assert_eq!(tsc.node_taints_policy, InclusionPolicy::Honor);
    assert_eq!(p.tolerations[0].op, TolerationOp::Exists);
    assert!(p.tolerations[0].key.is_empty());
    assert_eq!(p.host_ports[0].port, 8080);
    assert_eq!(p.host_ports[0].protocol, "TCP");
    assert!(p.volumes.empty_dir);
    assert_eq!(p.volumes.claims, vec!["web-data".to_string()]);
    assert!(p.scheduling_gated);
    assert!(p.marked_unschedulable);
    assert_eq!(p.phase, PodPhase::Pending);
    assert!(p.is_pending());
    assert!(!p.is_daemon());
}

#[test]
fn pod_errors() {
    let pod = |spec: &str| {
        try_load(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: n}}\nspec:\n{spec}"
        ))
        .unwrap_err()
    };
    let e = pod("  containers: [{name: c}]\n  tolerations: [{value: x}]\n");
    assert!(
        e.contains("spec.tolerations[0]: an empty key needs operator Exists"),
        "{e}"
    );
    let e = pod("  containers: [{name: c, resources: {requests: {cpu: -1}}}]\n");
    assert!(
        e.contains("spec.containers[0].resources.requests.cpu: cpu must not be negative"),
        "{e}"
    );
    let e = pod("  containers: [{name: c, ports: [{containerPort: 1, hostPort: 70000}]}]\n");
    assert!(e.contains("hostPort 70000 is not a port number"), "{e}");
    let e = pod("  containers: [{name: c}]\n  tolerations: [{key: k, effect: Sometimes}]\n");
    assert!(
        e.contains("spec.tolerations[0].effect: unknown effect \"Sometimes\""),
        "{e}"
    );
    let e = pod("  containers: [{name: c}]\n  topologySpreadConstraints: [{maxSkew: 0, topologyKey: k, whenUnsatisfiable: DoNotSchedule}]\n");
    assert!(e.contains("maxSkew must be at least 1"), "{e}");
    // Karpenter ignores a do-not-disrupt value it cannot read; so does the loader.
    let l = load(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, annotations: {karpenter.sh/do-not-disrupt: maybe}}\nspec:\n  containers: [{name: c}]\n",
    );
    assert_eq!(l.snapshot.pods[0].do_not_disrupt, None);
    let e = try_load(
        "apiVersion: v1\nkind: Pod\nmetadata: {namespace: n}\nspec: {containers: [{name: c}]}\n",
    )
    .unwrap_err();
    assert!(
        e.contains("metadata.name: required field is missing"),
        "{e}"
    );
}

#[test]
fn pdbs() {
    let l = load(
        r#"
apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata: {name: web, namespace: shop}
spec: {minAvailable: "50%", selector: {matchLabels: {app: web}}}
status: {disruptionsAllowed: 1}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: all, namespace: other}
spec: {maxUnavailable: 0, selector: {matchLabels: {app: web}}, unhealthyPodEvictionPolicy: AlwaysAllow}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c}]}
"#,
    );
    let s = &l.snapshot;
    assert_eq!(s.pdbs[0].min_available, Some(IntOrPercent::Percent(50)));
    assert_eq!(s.pdbs[0].disruptions_allowed, Some(1));
    assert_eq!(s.pdbs[1].max_unavailable, Some(IntOrPercent::Int(0)));
    // Membership is per namespace.
    assert_eq!(s.pods[0].pdbs, vec![0]);
    let e = try_load("apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: b}\nspec: {minAvailable: 1, maxUnavailable: 1}\n").unwrap_err();
    assert!(e.contains("mutually exclusive"), "{e}");
    let e = try_load("apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: b}\nspec: {minAvailable: lots}\n").unwrap_err();
    assert!(
        e.contains("spec.minAvailable: \"lots\" is neither an integer nor a percentage"),
        "{e}"
    );
}

const STATEFULSET: &str = r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: data}
spec:
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, resources: {requests: {cpu: "1"}}}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: db-0
  namespace: data
  labels: {app: db}
  ownerReferences: [{kind: StatefulSet, name: db, controller: true}]
spec: {nodeName: n1, containers: [{name: db}]}
status: {phase: Running}
"#;

#[test]
fn statefulset_replicas_take_the_next_ordinals() {
    let l = load(STATEFULSET);
    let mut names: Vec<&str> = l.snapshot.pending_pods().map(|p| p.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["db-1", "db-2"]);
    let p = l.snapshot.pending_pods().next().unwrap();
    assert_eq!(p.labels["app"], "db");
    assert_eq!(p.requests.cpu_millis, 1000);
    // Scaling down removes the highest ordinals first.
    let l = scaled(STATEFULSET, "data/db=1");
    let names: Vec<&str> = l.snapshot.pods.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["db-0"]);
}

#[test]
fn replicaset_scale_down_prefers_pending_then_unready_then_colocated_then_newest() {
    let pod = |name: &str, node: Option<&str>, ready: bool, created: &str| {
        let node = node.map_or(String::new(), |n| format!("nodeName: {n}, "));
        format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: d, creationTimestamp: '{created}', ownerReferences: [{{kind: ReplicaSet, name: rs, controller: true}}]}}\nspec: {{{node}containers: [{{name: c}}]}}\nstatus: {{phase: Running, conditions: [{{type: Ready, status: '{}'}}]}}\n",
            if ready { "True" } else { "False" }
        )
    };
    let mut text = String::from(
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: rs, namespace: d}\nspec:\n  replicas: 5\n  template: {spec: {containers: [{name: c}]}}\n",
    );
    text += &pod("pending", None, false, "2024-01-01T00:00:00Z");
    text += &pod("unready", Some("n1"), false, "2024-01-01T00:00:00Z");
    text += &pod("alone-old", Some("n2"), true, "2024-01-01T00:00:00Z");
    text += &pod("pair-a", Some("n3"), true, "2024-01-01T00:00:00Z");
    text += &pod("pair-b", Some("n3"), true, "2024-02-01T00:00:00Z");
    let remaining = |n: &str| -> Vec<String> {
        let l = scaled(&text, &format!("d/rs={n}"));
        let mut v: Vec<String> = l.snapshot.pods.iter().map(|p| p.name.clone()).collect();
        v.sort();
        v
    };
    assert_eq!(remaining("4"), ["alone-old", "pair-a", "pair-b", "unready"]);
    assert_eq!(remaining("3"), ["alone-old", "pair-a", "pair-b"]);
    assert_eq!(remaining("2"), ["alone-old", "pair-a"]);
    assert_eq!(remaining("1"), ["alone-old"]);
    // Without --scale, surplus pods stay (a scenario caught mid-rollout is shown as it is).
    let l = load(&text.replace("replicas: 5", "replicas: 1"));
    assert_eq!(l.snapshot.pods.len(), 5);
}

#[test]
fn replicaset_owned_by_a_present_deployment_is_not_scaled_directly() {
    let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: d}\nspec:\n  replicas: 1\n  template: {spec: {containers: [{name: c}]}}\n---\napiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: web-5d4f8c9b7, namespace: d, ownerReferences: [{kind: Deployment, name: web, controller: true}]}\nspec:\n  replicas: 1\n  template: {spec: {containers: [{name: c}]}}\n";
    let options = LoadOptions {
        scales: vec!["d/web-5d4f8c9b7=3".parse().unwrap()],
        region: None,
    };
    let e = load_str("t.yaml", text, &options, Catalog::embedded()).unwrap_err();
    assert!(e.to_string().contains("managed by Deployment web"), "{e}");
    // The Deployment's one replica is created once, owned by its ReplicaSet.
    let l = load(text);
    let pending: Vec<_> = l.snapshot.pending_pods().collect();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].owner.as_ref().unwrap().name, "web-5d4f8c9b7");
}

#[test]
fn kubectl_list_items_and_daemonsets() {
    let l = load(
        r#"
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: DaemonSet
  metadata: {name: agent, namespace: kube-system}
  spec:
    template:
      spec:
        tolerations: [{operator: Exists}]
        containers: [{name: a, resources: {requests: {cpu: 25m, memory: 50Mi}}}]
- apiVersion: v1
  kind: Service
  metadata: {name: web, namespace: shop}
"#,
    );
    let d = &l.snapshot.daemonsets[0];
    assert_eq!(d.key(), "kube-system/agent");
    assert_eq!(d.template.requests.cpu_millis, 25);
    assert!(d.template.is_daemon());
    assert_eq!(
        l.warnings[0].location,
        "t.yaml: document 1, items[1] (Service shop/web)"
    );
    let e = try_load(
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata: {}\n",
    )
    .unwrap_err();
    assert!(
        e.starts_with("t.yaml: document 1, items[0] (Node <unnamed>): metadata.name"),
        "{e}"
    );
}

#[test]
fn real_kubectl_shapes_are_accepted() {
    // The DaemonSet controller pins its pods with matchFields; hostPort 0 means none; an empty
    // toleration effect means every effect and an empty operator means Equal.
    let l = load(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: agent-x
  namespace: kube-system
  ownerReferences: [{kind: DaemonSet, name: agent, controller: true}]
spec:
  nodeName: n1
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchFields: [{key: metadata.name, operator: In, values: [n1]}]
  containers: [{name: c, ports: [{containerPort: 80, hostPort: 0}]}]
  tolerations: [{key: a, operator: Exists, effect: ""}, {key: b, operator: "", value: v}]
"#,
    );
    let p = &l.snapshot.pods[0];
    assert!(p.node_affinity.uses_match_fields);
    assert!(p.host_ports.is_empty());
    assert_eq!(p.tolerations[0].effect, None);
    assert_eq!(p.tolerations[1].op, TolerationOp::Equal);
}

#[test]
fn review_findings_are_errors_not_panics() {
    let pod = |spec: &str| {
        try_load(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: n}}\nspec:\n{spec}"
        ))
        .unwrap_err()
    };
    let e =
        pod("  containers: [{name: c, resources: {requests: {pods: '9223372036854775807'}}}]\n");
    assert!(e.contains("pods is not a container resource"), "{e}");
    let e = pod("  priority: 3000000000\n  containers: [{name: c}]\n");
    assert!(
        e.contains("spec.priority: priority must fit in 32 bits"),
        "{e}"
    );
    let e = pod("  containers: [{name: c}]\n  topologySpreadConstraints: [{maxSkew: 1, minDomains: 0, topologyKey: k, whenUnsatisfiable: DoNotSchedule}]\n");
    assert!(e.contains("minDomains must be at least 1"), "{e}");
    let e = try_load(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, annotations: {controller.kubernetes.io/pod-deletion-cost: x}}\nspec: {containers: [{name: c}]}\n",
    )
    .unwrap_err();
    assert!(e.contains("(Pod p): metadata.annotations.controller.kubernetes.io/pod-deletion-cost: \"x\" is not a 32-bit integer"), "{e}");
    let e = try_load("apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: b}\nspec: {selector: {matchExpressions: [{key: a, operator: In}]}}\n").unwrap_err();
    assert!(
        e.contains("operator In and NotIn need at least one value"),
        "{e}"
    );
    let e = try_load("apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: b}\nspec: {maxUnavailable: '-1'}\n").unwrap_err();
    assert!(e.contains("neither an integer nor a percentage"), "{e}");
    let e = try_load("apiVersion: v1\nkind: Node\nmetadata: {name: n}\n---\napiVersion: v1\nkind: Node\nmetadata: {name: n}\n").unwrap_err();
    assert!(
        e.contains(
            "document 2 (Node n): metadata.name: duplicate Node n (first defined in document 1)"
        ),
        "{e}"
    );
    let e = try_load("- just\n- a list\n").unwrap_err();
    assert_eq!(e, "t.yaml: document 1 (object): expected a Kubernetes object (a mapping with apiVersion and kind)");
    let e = try_load("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: a}\nspec:\n  replicas: 100000000000\n  template: {spec: {containers: [{name: c}]}}\n").unwrap_err();
    assert!(e.contains("would exceed the limit of 1000000 pods"), "{e}");
}

#[test]
fn pdb_empty_selector_depends_on_api_version() {
    let text = |api: &str| {
        format!("apiVersion: {api}\nkind: PodDisruptionBudget\nmetadata: {{name: b, namespace: a}}\nspec: {{maxUnavailable: 1, selector: {{}}}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: a}}\nspec: {{containers: [{{name: c}}]}}\n")
    };
    assert_eq!(load(&text("policy/v1")).snapshot.pods[0].pdbs, vec![0]);
    assert!(load(&text("policy/v1beta1")).snapshot.pods[0]
        .pdbs
        .is_empty());
}

#[test]
fn scale_down_removes_the_cheapest_to_delete_first() {
    let text = "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: rs, namespace: a}\nspec:\n  replicas: 2\n  template: {spec: {containers: [{name: c}]}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: old-cheap, namespace: a, creationTimestamp: '2024-01-01T00:00:00Z', annotations: {controller.kubernetes.io/pod-deletion-cost: '-1000'}, ownerReferences: [{kind: ReplicaSet, name: rs, controller: true}]}\nspec: {nodeName: n1, containers: [{name: c}]}\nstatus: {phase: Running, conditions: [{type: Ready, status: 'True'}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: new-dear, namespace: a, creationTimestamp: '2024-06-01T00:00:00Z', ownerReferences: [{kind: ReplicaSet, name: rs, controller: true}]}\nspec: {nodeName: n2, containers: [{name: c}]}\nstatus: {phase: Running, conditions: [{type: Ready, status: 'True'}]}\n";
    let l = scaled(text, "a/rs=1");
    let names: Vec<&str> = l.snapshot.pods.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["new-dear"]);
}

#[test]
fn a_standalone_replicaset_is_not_taken_for_a_deployments_child() {
    let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: a}\nspec:\n  replicas: 1\n  template: {spec: {containers: [{name: c}]}}\n---\napiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: api-legacy, namespace: a}\nspec:\n  replicas: 1\n  template: {spec: {containers: [{name: c}]}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: api-legacy-x1, namespace: a, ownerReferences: [{kind: ReplicaSet, name: api-legacy, controller: true}]}\nspec: {nodeName: n1, containers: [{name: c}]}\nstatus: {phase: Running}\n";
    let l = load(text);
    // The Deployment still needs its own replica.
    assert_eq!(l.snapshot.pending_pods().count(), 1);
    assert!(l
        .snapshot
        .pending_pods()
        .next()
        .unwrap()
        .name
        .starts_with("api-"));
}
