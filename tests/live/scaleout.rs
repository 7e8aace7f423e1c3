//! A scale-out on the real apiserver, end to end: a NodePool karpdeck supervises, pods the real
//! scheduler finds unschedulable, karpdeck's proposal for them, found stale when more pods come
//! before approval and planned again, approval, NodeClaims with the plan's requirements created
//! through the API, the launcher stand-in making their nodes, and the scheduler binding the
//! pods there.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams};
use kube::Api;
use serde_json::json;

use karpdeck::control::Cluster;
use karpdeck::exec::executor::holder;
use karpdeck::exec::{Action, ActionKind, ApprovalError, State};
use karpdeck::model::HoldKind;

use super::{apply, launcher, observed, run_plan, wait_until, Rig};

const NS: &str = "grow";

fn apps(rig: &Rig) -> Api<Deployment> {
    Api::namespaced(rig.client.clone(), NS)
}

pub fn an_approved_scale_out_launches_and_the_pods_land(rig: &Rig, rt: &tokio::runtime::Runtime) {
    rt.block_on(async {
        apply::create(
            &rig.client,
            &json!({
                "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
                "metadata": {"name": "grow"},
                "spec": {
                    "limits": {"cpu": "64"},
                    "template": {"spec": {
                        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                        "requirements": [
                            {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
                            {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["m6g.large", "m6g.xlarge"]},
                        ],
                    }},
                },
            }),
            false,
        )
        .await;
        apply::create(
            &rig.client,
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
            true,
        )
        .await;
    });
    let mut sup = observed(rig, "grow-journal.jsonl");
    let limits = (Duration::from_secs(90), Duration::from_millis(200));
    // Wait until the pool is seen, then supervise it (as `karpdeck supervise grow` does).
    let by = holder("oncall");
    let started = Instant::now();
    let id = loop {
        sup.refresh();
        rt.block_on(sup.tick());
        let pools = vec!["grow".to_string()];
        let by = by.clone();
        match sup.submit(move |id, s| Action::hold(id, s, HoldKind::Supervise, true, &pools, &by)) {
            Ok(id) => break id,
            Err(e) => assert!(started.elapsed() < Duration::from_secs(30), "{e}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    sup.approve(&id).unwrap();
    run_plan(&mut sup, rt, &id, limits, || {});
    // Pods only the supervised pool can take.
    rt.block_on(apply::create(
        &rig.client,
        &json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "grow", "namespace": NS},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "grow"}},
                "template": {
                    "metadata": {"labels": {"app": "grow"}},
                    "spec": {
                        "nodeSelector": {"karpenter.sh/nodepool": "grow"},
                        "terminationGracePeriodSeconds": 1,
                        "containers": [{"name": "c", "image": "nginx",
                            "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}}}],
                    },
                },
            },
        }),
        false,
    ));
    // karpdeck proposes a scale-out for them (for as many as it has seen pending).
    let started = Instant::now();
    let plan = loop {
        sup.refresh();
        rt.block_on(sup.tick());
        let proposed = sup
            .executors()
            .iter()
            .find(|x| x.action().kind == ActionKind::ScaleOut && x.state() == State::Previewed);
        if let Some(x) = proposed {
            break x.action().clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no scale-out proposed for the pending pods"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(plan.targets, vec!["grow".to_string()]);
    // Before approval, more pods come: the plan made for fewer is stale, never run as proposed.
    rt.block_on(apps(rig).patch(
        "grow",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 5}})),
    ))
    .unwrap();
    let started = Instant::now();
    while sup.cluster().pending_pods() < 5 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "5 pods never pending"
        );
        sup.refresh();
        std::thread::sleep(Duration::from_millis(100));
    }
    let plan = match sup.approve(&plan.id) {
        Err(ApprovalError::Stale {
            replanned: Some(new),
            ..
        }) => sup.executor(&new).unwrap().action().clone(),
        other => panic!("the plan for fewer pods was not found stale: {other:?}"),
    };
    let pods: usize = plan.launches.iter().map(|c| c.claim.pods.len()).sum();
    assert_eq!(pods, 5, "the new plan serves every pending pod");
    sup.approve(&plan.id).unwrap();
    run_plan(&mut sup, rt, &plan.id, limits, || {
        rt.block_on(launcher::launch(rig));
    });
    // The NodeClaims carry the plan's requirements.
    let claims = rt
        .block_on(
            launcher::nodeclaims(rig)
                .list(&ListParams::default().labels("karpenter.sh/nodepool=grow")),
        )
        .unwrap()
        .items;
    assert_eq!(claims.len(), plan.launches.len());
    for c in &claims {
        let types = c.data["spec"]["requirements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == "node.kubernetes.io/instance-type")
            .unwrap()["values"]
            .clone();
        assert!(
            plan.launches
                .iter()
                .any(|l| json!(l.launch.instance_types) == types),
            "{types}"
        );
    }
    // The real scheduler binds the pods to the new nodes.
    let pods: Api<Pod> = Api::namespaced(rig.client.clone(), NS);
    let placed = wait_until(rt, Duration::from_secs(60), "5 grow pods running", || {
        let list = rt
            .block_on(pods.list(&ListParams::default()))
            .map_err(|e| e.to_string())?;
        let running: Vec<String> = list
            .items
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .filter_map(|p| p.spec.as_ref()?.node_name.clone())
            .collect();
        if running.len() == 5 {
            Ok(running)
        } else {
            Err(format!("{running:?}"))
        }
    });
    assert!(
        placed.iter().all(|n| n.ends_with(".launched")),
        "{placed:?}"
    );
    println!(
        "  (scale-out: {} nodeclaim(s) for 5 pods, launched and bound)",
        plan.launches.len()
    );
    // Karpenter gets the pool back as it was.
    let pools = vec!["grow".to_string()];
    let release = sup
        .submit(move |id, s| Action::hold(id, s, HoldKind::Supervise, false, &pools, &by))
        .unwrap();
    sup.approve(&release).unwrap();
    run_plan(&mut sup, rt, &release, limits, || {});
    assert!(sup.cluster().synced());
}
