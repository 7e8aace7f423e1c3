//! The disruption pass against the lab's log and the rules Karpenter documents.

use chrono::{DateTime, TimeZone, Utc};
use karpdeck::catalog::Catalog;
use karpdeck::engine::disruption::candidates::Blocker;
use karpdeck::engine::disruption::{
    disrupt, ActionReason, DisruptionKind, DisruptionOptions, DisruptionPlan, Method, Rejection,
    Verdict,
};
use karpdeck::scenario::{load_file, load_str, LoadOptions, Loaded};

/// Nine days after the synthetic nodes were created: well inside the default 720h expireAfter.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 10, 12, 0, 0).unwrap()
}

/// The lab's scale-down, shortly after the spot nodes emptied (Wednesday 2023-07-12).
fn lab_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2023, 7, 12, 15, 0, 0).unwrap()
}

fn scaledown() -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/scenarios/seed-lab-scaledown.yaml"),
    )
    .unwrap()
}

fn load(text: &str) -> Loaded {
    let options = LoadOptions {
        scales: vec![],
        region: Some("us-east-1".into()),
    };
    load_str("t.yaml", text, &options, Catalog::embedded()).unwrap_or_else(|e| panic!("{e}"))
}

fn run(l: &Loaded) -> DisruptionPlan {
    disrupt(&l.snapshot, now(), &DisruptionOptions::default())
}

fn names(l: &Loaded, nodes: &[usize]) -> Vec<String> {
    let mut v: Vec<String> = nodes
        .iter()
        .map(|&n| l.snapshot.nodes[n].name.clone())
        .collect();
    v.sort();
    v
}

fn verdict<'a>(l: &Loaded, p: &'a DisruptionPlan, node: &str) -> &'a Verdict {
    let i = l
        .snapshot
        .nodes
        .iter()
        .position(|n| n.name == node)
        .unwrap();
    &p.verdicts[&i]
}

#[test]
fn lab_scale_down_deletes_both_empty_spot_nodes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/scenarios/seed-lab-scaledown.yaml");
    let l = load_file(&path, &LoadOptions::default(), Catalog::embedded()).unwrap();
    let p = disrupt(&l.snapshot, lab_now(), &DisruptionOptions::default());
    assert_eq!(p.actions.len(), 1);
    let a = &p.actions[0];
    assert_eq!(
        (a.kind, a.reason),
        (DisruptionKind::Delete, ActionReason::Empty)
    );
    assert_eq!(
        names(&l, &a.nodes),
        [
            "ip-172-31-56-118.ap-southeast-1.compute.internal",
            "ip-172-31-86-165.ap-southeast-1.compute.internal"
        ]
    );
    assert!(a.replacements.is_empty());
    // The managed-node-group nodes are never candidates.
    for n in ["ip-172-31-55-131", "ip-172-31-75-60", "ip-172-31-82-248"] {
        let name = format!("{n}.ap-southeast-1.compute.internal");
        assert_eq!(
            verdict(&l, &p, &name),
            &Verdict::Blocked(Blocker::NotManaged)
        );
    }
}

/// The lab cluster with its Provisioner replaced by a v1 NodePool carrying `budgets`.
fn scaledown_v1(budgets: &str) -> Loaded {
    let text = scaledown();
    let start = text.find("apiVersion: karpenter.sh/v1alpha5").unwrap();
    let end = start + text[start..].find("\n---").unwrap();
    let pool = format!(
        "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {{name: default}}\nspec:\n  disruption:\n    consolidationPolicy: WhenEmptyOrUnderutilized\n    consolidateAfter: 0s\n{budgets}  template:\n    metadata: {{labels: {{intent: apps}}}}\n    spec:\n      requirements:\n      - {{key: karpenter.sh/capacity-type, operator: In, values: [spot]}}\n      - {{key: kubernetes.io/arch, operator: In, values: [arm64]}}\n"
    );
    let text = format!("{}{}{}", &text[..start], pool, &text[end..]).replace(
        "karpenter.sh/provisioner-name: default",
        "karpenter.sh/nodepool: default",
    );
    load(&text)
}

#[test]
fn default_budget_takes_one_node_per_pass() {
    let l = scaledown_v1("");
    let p = disrupt(&l.snapshot, lab_now(), &DisruptionOptions::default());
    assert_eq!(p.actions.len(), 1);
    assert_eq!(p.actions[0].nodes.len(), 1);
    let held: Vec<&Verdict> = p
        .verdicts
        .values()
        .filter(|v| matches!(v, Verdict::BudgetExhausted { .. }))
        .collect();
    assert_eq!(held.len(), 1);
}

#[test]
fn a_zero_budget_blocks_and_says_so() {
    let l = scaledown_v1("    budgets: [{nodes: '0'}]\n");
    let p = disrupt(&l.snapshot, lab_now(), &DisruptionOptions::default());
    assert!(p.actions.is_empty());
    let v = verdict(&l, &p, "ip-172-31-86-165.ap-southeast-1.compute.internal");
    assert!(
        matches!(v, Verdict::BudgetExhausted { allowed: 0, .. }),
        "{v:?}"
    );
    assert_eq!(
        v.to_string(),
        "disruption budget for Empty allows 0 node(s), 0 already disrupting"
    );
}

#[test]
fn a_scheduled_budget_window() {
    // Disruptions blocked on weekdays 09:00-17:00 UTC.
    let budgets =
        "    budgets: [{nodes: '0', schedule: '0 9 * * 1-5', duration: 8h}, {nodes: '100%'}]\n";
    let l = scaledown_v1(budgets);
    let saturday = Utc.with_ymd_and_hms(2023, 7, 15, 12, 0, 0).unwrap();
    let p = disrupt(&l.snapshot, saturday, &DisruptionOptions::default());
    assert_eq!(p.actions[0].nodes.len(), 2);
    let monday = Utc.with_ymd_and_hms(2023, 7, 17, 12, 0, 0).unwrap();
    let p = disrupt(&l.snapshot, monday, &DisruptionOptions::default());
    assert!(p.actions.is_empty());
}

const POOL: &str = r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  disruption: {consolidationPolicy: WhenEmptyOrUnderutilized, consolidateAfter: 0s, budgets: [{nodes: '100%'}]}
  template:
    spec:
      requirements:
      - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
      - {key: kubernetes.io/arch, operator: In, values: [amd64]}
      - {key: karpenter.k8s.aws/instance-family, operator: In, values: [m5]}
"#;

fn node(name: &str, instance_type: &str, cpu: &str, mem: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  creationTimestamp: '2024-05-01T00:00:00Z'\n  labels: {{karpenter.sh/nodepool: default, karpenter.sh/initialized: 'true', node.kubernetes.io/instance-type: {instance_type}, topology.kubernetes.io/zone: us-east-1a, karpenter.sh/capacity-type: on-demand, kubernetes.io/arch: amd64, karpenter.k8s.aws/instance-family: m5}}\n{extra}status:\n  capacity: {{cpu: '{cpu}', memory: {mem}, pods: '58'}}\n  allocatable: {{cpu: '{cpu}', memory: {mem}, pods: '58'}}\n  conditions: [{{type: Ready, status: 'True'}}]\n"
    )
}

fn pod(name: &str, node: &str, cpu: &str, meta_extra: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: d, creationTimestamp: '2024-05-01T00:00:00Z', labels: {{app: {name}}}{meta_extra}, ownerReferences: [{{kind: ReplicaSet, name: rs, controller: true}}]}}\nspec: {{nodeName: {node}, containers: [{{name: c, resources: {{requests: {{cpu: '{cpu}', memory: 256Mi}}}}}}]}}\nstatus: {{phase: Running, startTime: '2024-05-01T00:00:00Z', conditions: [{{type: Ready, status: 'True'}}]}}\n"
    )
}

#[test]
fn replace_with_a_cheaper_type() {
    // One m5.4xlarge running a single small pod: an m5.large is enough.
    let text = format!(
        "{POOL}{}{}",
        node("big", "m5.4xlarge", "16", "64Gi", ""),
        pod("small", "big", "500m", "")
    );
    let l = load(&text);
    let p = run(&l);
    assert_eq!(p.actions.len(), 1, "{:?}", p.verdicts);
    let a = &p.actions[0];
    assert_eq!(a.kind, DisruptionKind::Replace);
    assert_eq!(a.method, Method::SingleNodeConsolidation);
    assert_eq!(a.replacements.len(), 1);
    assert_eq!(a.replacements[0].launch.instance_types[0], "m5.large");
    assert!(a.savings_per_hour > 0.5, "{}", a.savings_per_hour);
    assert_eq!(a.pods_moved, 1);
}

#[test]
fn three_underused_nodes_merge_into_one() {
    // Three m5.2xlarge each running 1 CPU: one m5.xlarge holds all three pods.
    let mut text = POOL.to_string();
    for i in 0..3 {
        text += &node(&format!("n{i}"), "m5.2xlarge", "8", "32Gi", "");
        text += &pod(&format!("p{i}"), &format!("n{i}"), "1", "");
    }
    let l = load(&text);
    let p = run(&l);
    assert_eq!(p.actions.len(), 1);
    let a = &p.actions[0];
    assert_eq!(a.method, Method::MultiNodeConsolidation);
    assert_eq!(a.nodes.len(), 3, "{:?}", names(&l, &a.nodes));
    assert_eq!(a.replacements.len(), 1);
    assert_eq!(a.replacements[0].claim.pods.len(), 3);
    assert_eq!(a.replacements[0].launch.instance_types[0], "m5.xlarge");
    assert!(a.savings_per_hour > 0.9, "{}", a.savings_per_hour);
}

#[test]
fn do_not_disrupt_and_pdb_blockers() {
    let pdb = "---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: guard, namespace: d}\nspec: {maxUnavailable: 0, selector: {matchLabels: {app: guarded}}}\n";
    let text = format!(
        "{POOL}{}{}{}{}{}{}{pdb}",
        node("a", "m5.xlarge", "4", "16Gi", ""),
        pod(
            "pinned",
            "a",
            "1",
            ", annotations: {karpenter.sh/do-not-disrupt: 'true'}"
        ),
        node("b", "m5.xlarge", "4", "16Gi", ""),
        pod("guarded", "b", "1", ""),
        node("c", "m5.xlarge", "4", "16Gi", ""),
        pod("free", "c", "1", "")
    );
    let l = load(&text);
    let p = run(&l);
    assert_eq!(
        verdict(&l, &p, "a"),
        &Verdict::Blocked(Blocker::PodDoNotDisrupt {
            pod: "d/pinned".into(),
            remaining: None
        })
    );
    assert_eq!(
        verdict(&l, &p, "b").to_string(),
        "pod d/guarded is protected by PDB d/guard with 0 disruptions allowed"
    );
    // c's pod can move onto a or b, so c goes.
    assert_eq!(p.actions.len(), 1);
    assert_eq!(names(&l, &p.actions[0].nodes), ["c"]);
}

#[test]
fn drift_after_a_requirement_change() {
    // The pool now wants m5 only; the node is a c5.
    let text = format!(
        "{POOL}{}{}",
        node("old", "c5.xlarge", "4", "8Gi", "")
            .replace("instance-family: m5", "instance-family: c5"),
        pod("web", "old", "3", "")
    );
    let l = load(&text);
    let p = run(&l);
    assert_eq!(p.actions.len(), 1);
    let a = &p.actions[0];
    assert_eq!((a.reason, a.method), (ActionReason::Drifted, Method::Drift));
    assert_eq!(a.kind, DisruptionKind::Replace);
    assert!(a.replacements[0]
        .launch
        .instance_types
        .iter()
        .all(|t| t.starts_with("m5.")));
}

#[test]
fn consolidate_after_and_when_empty_are_explained() {
    let waiting = POOL.replace("consolidateAfter: 0s", "consolidateAfter: 8760h");
    let text = format!(
        "{waiting}{}{}",
        node("n", "m5.4xlarge", "16", "64Gi", ""),
        pod("p", "n", "1", "")
    );
    let l = load(&text);
    let p = run(&l);
    assert!(p.actions.is_empty());
    assert!(matches!(verdict(&l, &p, "n"), Verdict::Waiting(_)));
    let empty_only = POOL.replace("WhenEmptyOrUnderutilized", "WhenEmpty");
    let text = format!(
        "{empty_only}{}{}",
        node("n", "m5.4xlarge", "16", "64Gi", ""),
        pod("p", "n", "1", "")
    );
    let l = load(&text);
    let p = run(&l);
    assert_eq!(verdict(&l, &p, "n"), &Verdict::NotEmpty);
}

#[test]
fn pods_with_nowhere_to_go_keep_their_node() {
    // Two full nodes: neither fits the other's pods, and replacing one with the same type saves nothing.
    let mut text = POOL.replace("values: [m5]", "values: [m5]}\n      - {key: node.kubernetes.io/instance-type, operator: In, values: [m5.large]");
    for i in 0..2 {
        text += &node(&format!("n{i}"), "m5.large", "2", "8Gi", "");
        text += &pod(&format!("p{i}"), &format!("n{i}"), "1500m", "");
    }
    let l = load(&text);
    let p = run(&l);
    assert!(p.actions.is_empty());
    for n in ["n0", "n1"] {
        assert!(
            matches!(
                verdict(&l, &p, n),
                Verdict::Rejected(Rejection::NoCheaperReplacement)
            ),
            "{n}: {}",
            verdict(&l, &p, n)
        );
    }
}

#[test]
fn expired_nodes_go_regardless_of_budgets() {
    let pool = POOL
        .replace("budgets: [{nodes: '100%'}]", "budgets: [{nodes: '0'}]")
        .replace(
            "    spec:\n      requirements:",
            "    spec:\n      expireAfter: 168h\n      requirements:",
        );
    let text = format!(
        "{pool}{}{}",
        node("old", "m5.large", "2", "8Gi", ""),
        pod("p", "old", "1", "")
    );
    let l = load(&text);
    let p = run(&l);
    assert_eq!(p.actions.len(), 1);
    assert_eq!(p.actions[0].reason, ActionReason::Expired);
    assert_eq!(p.actions[0].replacements.len(), 1);
}

#[test]
fn multi_node_skips_an_awkward_node_karpenter_would_stop_at() {
    // Four underused nodes, one of which holds a pod too big to move anywhere cheaper (it needs a
    // whole m5.4xlarge). It ranks first, so every prefix Karpenter's binary search tries fails;
    // karpdeck also tries the candidates one by one.
    let mut text = POOL.to_string();
    for (i, cpu) in ["1", "15", "1", "1"].iter().enumerate() {
        let ty = if i == 1 { "m5.4xlarge" } else { "m5.2xlarge" };
        let (c, m) = if i == 1 {
            ("16", "64Gi")
        } else {
            ("8", "32Gi")
        };
        text += &node(&format!("n{i}"), ty, c, m, "");
        text += &pod(&format!("p{i}"), &format!("n{i}"), cpu, "");
    }
    let l = load(&text);
    let p = run(&l);
    assert_eq!(p.actions.len(), 1);
    let a = &p.actions[0];
    assert_eq!(a.method, Method::MultiNodeConsolidation);
    // The three small nodes go together; the big one stays.
    assert_eq!(names(&l, &a.nodes), ["n0", "n2", "n3"]);
    assert_eq!(a.replacements.len(), 1);
}

#[test]
fn actions_say_what_budget_they_consume() {
    let l = scaledown_v1("");
    let p = disrupt(&l.snapshot, lab_now(), &DisruptionOptions::default());
    let b = &p.actions[0].budget;
    assert_eq!(b.len(), 1);
    assert_eq!(
        (b[0].nodepool.as_str(), b[0].allowed, b[0].consumed),
        ("default", Some(1), 1)
    );
}

#[test]
fn a_budget_of_one_still_finds_the_node_that_can_go() {
    // a ranks first but its big pod has nowhere cheaper to go; b's pod fits beside c's.
    let pool = POOL.replace("budgets: [{nodes: '100%'}]", "budgets: [{nodes: '1'}]");
    let text = format!(
        "{pool}{}{}{}{}{}{}",
        node("a", "m5.2xlarge", "8", "32Gi", ""),
        pod("big", "a", "7", ""),
        node("b", "m5.xlarge", "4", "16Gi", ""),
        pod("pb", "b", "500m", ""),
        node("c", "m5.xlarge", "4", "16Gi", ""),
        pod("pc", "c", "500m", "")
    );
    let l = load(&text);
    let p = run(&l);
    assert_eq!(p.actions.len(), 1, "{:?}", p.verdicts);
    assert_eq!(p.actions[0].method, Method::SingleNodeConsolidation);
    assert_eq!(p.actions[0].kind, DisruptionKind::Delete);
    assert_eq!(p.actions[0].nodes.len(), 1);
    assert_ne!(names(&l, &p.actions[0].nodes), ["a"]);
}

#[test]
fn expired_nodes_leave_together() {
    let pool = POOL.replace(
        "    spec:\n      requirements:",
        "    spec:\n      expireAfter: 168h\n      requirements:",
    );
    let text = format!(
        "{pool}{}{}{}{}",
        node("e1", "m5.2xlarge", "8", "32Gi", ""),
        pod("p1", "e1", "3", ""),
        node("e2", "m5.2xlarge", "8", "32Gi", ""),
        pod("p2", "e2", "3", "")
    );
    let l = load(&text);
    let p = run(&l);
    let a = &p.actions[0];
    assert_eq!(a.reason, ActionReason::Expired);
    assert_eq!(names(&l, &a.nodes), ["e1", "e2"]);
    // Neither counts as room for the other's pod: a replacement takes both.
    assert_eq!(a.replacements.len(), 1);
    assert_eq!(a.replacements[0].claim.pods.len(), 2);
    assert!(a.stranded.is_empty());
}

#[test]
fn balanced_pools_need_savings_worth_the_disruption() {
    // x is cheap but runs 20 high-priority pods; z (pinned by do-not-disrupt) is most of the
    // pool's cost. Deleting x saves 11 % of the pool for 99 % of its disruption: below 1/2.
    let pool = POOL.replace("WhenEmptyOrUnderutilized", "Balanced");
    let mut text = format!("{pool}{}", node("x", "m5.large", "2", "8Gi", ""));
    for i in 0..20 {
        text += &pod(&format!("p{i}"), "x", "50m", "")
            .replace("spec: {nodeName", "spec: {priority: 1000000000, nodeName");
    }
    text += &node("z", "m5.4xlarge", "16", "64Gi", "");
    text += &pod(
        "pinned",
        "z",
        "100m",
        ", annotations: {karpenter.sh/do-not-disrupt: 'true'}",
    );
    // Room for x's pods on a node Karpenter does not manage.
    text += "---\napiVersion: v1\nkind: Node\nmetadata: {name: spare, labels: {topology.kubernetes.io/zone: us-east-1a}}\nstatus:\n  allocatable: {cpu: '8', memory: 32Gi, pods: '110'}\n  conditions: [{type: Ready, status: 'True'}]\n";
    let l = load(&text);
    let p = run(&l);
    assert!(p.actions.is_empty(), "{:?}", p.actions.len());
    let v = verdict(&l, &p, "x");
    assert!(
        matches!(v, Verdict::Rejected(Rejection::BelowBalancedThreshold(s)) if *s < 50),
        "{v}"
    );
    // The same cluster under WhenEmptyOrUnderutilized deletes x.
    let eager = text.replace(
        "consolidationPolicy: Balanced",
        "consolidationPolicy: WhenEmptyOrUnderutilized",
    );
    let l = load(&eager);
    assert_eq!(names(&l, &run(&l).actions[0].nodes), ["x"]);
}
