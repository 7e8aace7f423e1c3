//! Drain plans: kubectl's filter chain and flags, PDB refusals, Karpenter's order, where pods land.

use karpdeck::catalog::Catalog;
use karpdeck::engine::drain::{drain_plan, Blocker, DrainOptions, Landing, PodAction};
use karpdeck::scenario::{load_str, LoadOptions, Loaded};

const CLUSTER: &str = r#"
apiVersion: v1
kind: Node
metadata: {name: victim, labels: {topology.kubernetes.io/zone: us-east-1a}}
status:
  allocatable: {cpu: '4', memory: 16Gi, pods: '58'}
  conditions: [{type: Ready, status: 'True'}]
---
apiVersion: v1
kind: Node
metadata: {name: spare, labels: {topology.kubernetes.io/zone: us-east-1a}}
status:
  allocatable: {cpu: 1500m, memory: 16Gi, pods: '58'}
  conditions: [{type: Ready, status: 'True'}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: kube-system}
spec: {template: {spec: {containers: [{name: c}]}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: strict, namespace: d}
spec: {maxUnavailable: 0, selector: {matchLabels: {app: db}}}
"#;

fn pod(name: &str, extra_meta: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: d{extra_meta}}}\nspec:\n  nodeName: victim\n{spec}status: {{phase: Running, conditions: [{{type: Ready, status: 'True'}}]}}\n"
    )
}

const OWNED: &str = ", ownerReferences: [{kind: ReplicaSet, name: rs, controller: true}]";

fn load(extra: &str) -> Loaded {
    let options = LoadOptions {
        scales: vec![],
        region: Some("us-east-1".into()),
    };
    load_str(
        "t.yaml",
        &format!("{CLUSTER}{extra}"),
        &options,
        Catalog::embedded(),
    )
    .unwrap()
}

fn step<'a>(
    l: &Loaded,
    p: &'a karpdeck::engine::drain::DrainPlan,
    pod: &str,
) -> &'a karpdeck::engine::drain::PodStep {
    p.steps
        .iter()
        .find(|s| l.snapshot.pods[s.pod].name == pod)
        .unwrap()
}

fn all_pods() -> String {
    [
        pod("web", OWNED, "  containers: [{name: c, resources: {requests: {cpu: '1'}}}]\n"),
        pod("big", OWNED, "  containers: [{name: c, resources: {requests: {cpu: '3'}}}]\n"),
        pod("cache", OWNED, "  containers: [{name: c}]\n  volumes: [{name: v, emptyDir: {}}]\n"),
        pod("loner", "", "  containers: [{name: c}]\n"),
        pod("db-0", &format!("{OWNED}, labels: {{app: db}}"), "  containers: [{name: c}]\n"),
        pod("dns", OWNED, "  priorityClassName: system-cluster-critical\n  containers: [{name: c}]\n"),
        pod(
            "agent-x",
            ", namespace: kube-system, ownerReferences: [{kind: DaemonSet, name: agent, controller: true}]",
            "  containers: [{name: c}]\n",
        )
        .replace("namespace: d, namespace: kube-system", "namespace: kube-system"),
    ]
    .concat()
}

#[test]
fn kubectl_blockers_name_their_flags() {
    let l = load(&all_pods());
    let p = drain_plan(&l.snapshot, &[0], &DrainOptions::default());
    assert!(!p.can_proceed());
    assert_eq!(
        step(&l, &p, "cache").action,
        PodAction::Blocked(Blocker::LocalStorage)
    );
    assert_eq!(
        step(&l, &p, "loner").action,
        PodAction::Blocked(Blocker::Unreplicated)
    );
    assert_eq!(
        step(&l, &p, "agent-x").action,
        PodAction::Blocked(Blocker::DaemonSet)
    );
    assert_eq!(
        step(&l, &p, "db-0").action,
        PodAction::Blocked(Blocker::Pdb("d/strict".into()))
    );
    assert_eq!(
        Blocker::LocalStorage.to_string(),
        "pod with local storage (emptyDir) (use --delete-emptydir-data to override)"
    );
}

#[test]
fn flags_override_and_order_puts_critical_last() {
    let l = load(&all_pods());
    let options = DrainOptions {
        ignore_daemonsets: true,
        delete_emptydir_data: true,
        force: true,
        disable_eviction: true,
    };
    let p = drain_plan(&l.snapshot, &[0], &options);
    assert!(p.can_proceed());
    assert_eq!(step(&l, &p, "agent-x").action, PodAction::Skip);
    assert_eq!(step(&l, &p, "db-0").action, PodAction::Delete);
    assert_eq!(step(&l, &p, "loner").landing, Landing::NotRescheduled);
    let last = p.steps.iter().rposition(|s| !s.critical).unwrap();
    assert!(p.steps[last + 1..].iter().all(|s| s.critical));
    assert_eq!(l.snapshot.pods[p.steps.last().unwrap().pod].name, "dns");
}

#[test]
fn pods_land_where_there_is_room_or_nowhere() {
    let l = load(&all_pods());
    let options = DrainOptions {
        ignore_daemonsets: true,
        delete_emptydir_data: true,
        force: true,
        disable_eviction: false,
    };
    let p = drain_plan(&l.snapshot, &[0], &options);
    // No NodePool: what does not fit on the spare node has nowhere to go.
    assert_eq!(
        step(&l, &p, "web").landing,
        Landing::Existing("spare".into())
    );
    assert_eq!(step(&l, &p, "big").landing, Landing::Nowhere);
    assert!(p.shortfall().any(|s| l.snapshot.pods[s.pod].name == "big"));
}

#[test]
fn replacement_cordons_launches_waits_then_drains_and_deletes() {
    use karpdeck::engine::replace::{replacement_plan, Step};
    let pool = "---\napiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: default}\nspec:\n  template:\n    spec:\n      requirements:\n      - {key: node.kubernetes.io/instance-type, operator: In, values: [m5.xlarge]}\n";
    let l = load(&format!(
        "{pool}{}",
        pod(
            "big",
            OWNED,
            "  containers: [{name: c, resources: {requests: {cpu: '3'}}}]\n"
        )
    ));
    let r = replacement_plan(&l.snapshot, 0);
    assert_eq!(r.drain.new_nodeclaims.len(), 1);
    assert_eq!(
        r.steps,
        [
            Step::Cordon("victim".into()),
            Step::Launch(0),
            Step::WaitReady(0),
            Step::Evict(r.drain.steps[0].pod),
            Step::Delete("victim".into()),
        ]
    );
}
