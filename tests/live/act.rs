//! karpdeck's acting calls (`kube::act`) against the real apiserver: cordon, evictions at the
//! version the server offers with the delete options it is asked for, the budgets' refusals,
//! dry runs, and pods told apart by UID.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{DeleteParams, DynamicObject, ListParams};
use kube::Api;
use serde_json::json;

use karpdeck::exec::Eviction;
use karpdeck::kube::act::{Actor, Ask};

use super::{apply, wait_until, Rig};

const NS: &str = "act";

/// A pod bound to `node` (the kubelet stand-in runs it) with a 30 s grace period.
fn pod(name: &str, node: &str, app: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"app": app}},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 30,
            "containers": [{"name": "c", "image": "nginx"}],
        },
    })
}

/// karpdeck's acting calls on the rig, connected as every command connects.
fn actor(rig: &Rig, rt: &tokio::runtime::Runtime) -> Actor {
    let conn = rt.block_on(karpdeck::kube::connect(&rig.target())).unwrap();
    rt.block_on(Actor::new(&conn)).unwrap()
}

pub fn evictions_arrive_as_asked(rig: &Rig, rt: &tokio::runtime::Runtime) {
    let client = rig.client.clone();
    let node = rt
        .block_on(Api::<Node>::all(client.clone()).list(&ListParams::default()))
        .unwrap()
        .items
        .into_iter()
        .find_map(|n| n.metadata.name)
        .expect("the lab's nodes");
    rt.block_on(async {
        apply::create(
            &client,
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
            true,
        )
        .await;
        for (name, app) in [
            ("free", "free"),
            ("guarded-0", "guarded"),
            ("guarded-1", "guarded"),
        ] {
            apply::create(&client, &pod(name, &node, app), false).await;
        }
        apply::create(
            &client,
            &json!({
                "apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget",
                "metadata": {"name": "guarded", "namespace": NS},
                "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "guarded"}}},
            }),
            false,
        )
        .await;
    });
    let actor = actor(rig, rt);
    assert_eq!(
        actor.eviction_version().0,
        "policy/v1beta1",
        "a 1.20 server decodes evictions as policy/v1beta1"
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), NS);
    let running = |name: &str| {
        let p = rt.block_on(pods.get(name)).map_err(|e| e.to_string())?;
        let phase = p.status.and_then(|s| s.phase).unwrap_or_default();
        (phase == "Running")
            .then_some(p.metadata.uid.unwrap())
            .ok_or(phase)
    };
    let free = wait_until(rt, Duration::from_secs(30), "free running", || {
        running("free")
    });
    for name in ["guarded-0", "guarded-1"] {
        wait_until(rt, Duration::from_secs(30), name, || running(name));
    }

    // Cordon and uncordon; a node that does not exist is no error.
    assert!(rt.block_on(actor.set_unschedulable(&node, true)).unwrap());
    let spec = |n: &str| {
        rt.block_on(Api::<Node>::all(client.clone()).get(n))
            .unwrap()
            .spec
            .unwrap_or_default()
    };
    assert_eq!(spec(&node).unschedulable, Some(true));
    assert!(rt.block_on(actor.set_unschedulable(&node, false)).unwrap());
    assert!(!spec(&node).unschedulable.unwrap_or(false));
    assert!(!rt
        .block_on(actor.set_unschedulable("no-such-node", true))
        .unwrap());

    // A dry run is answered and changes nothing.
    let dry = Ask {
        uid: Some(&free),
        grace_seconds: Some(7),
        dry_run: true,
    };
    assert_eq!(
        rt.block_on(actor.evict(NS, "free", &dry)).unwrap(),
        Eviction::Accepted
    );
    let after = rt.block_on(pods.get("free")).unwrap();
    assert!(
        after.metadata.deletion_timestamp.is_none(),
        "a dry run evicts nothing"
    );

    // A precondition on another UID: the pod asked for is not this one.
    let other = Ask {
        uid: Some("00000000-0000-0000-0000-000000000000"),
        ..Ask::default()
    };
    assert_eq!(
        rt.block_on(actor.evict(NS, "free", &other)).unwrap(),
        Eviction::NotFound
    );

    // The grace period asked for arrives (kube-rs's own evict drops it).
    let ask = Ask {
        uid: Some(&free),
        grace_seconds: Some(7),
        dry_run: false,
    };
    assert_eq!(
        rt.block_on(actor.evict(NS, "free", &ask)).unwrap(),
        Eviction::Accepted
    );
    let evicted = rt.block_on(pods.get("free")).unwrap();
    assert!(evicted.metadata.deletion_timestamp.is_some());
    assert_eq!(evicted.metadata.deletion_grace_period_seconds, Some(7));
    assert!(!rt.block_on(actor.pod_gone(NS, "free", &free)).unwrap());
    wait_until(rt, Duration::from_secs(30), "free gone", || {
        match rt.block_on(actor.pod_gone(NS, "free", &free)) {
            Ok(true) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
    // A new pod of the same name is not the evicted one.
    rt.block_on(apply::create(&client, &pod("free", &node, "free"), false));
    assert!(rt.block_on(actor.pod_gone(NS, "free", &free)).unwrap());

    // The budget lets no guarded pod go: 429, a refusal to retry, saying why.
    let budgets: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        NS,
        &apply::resource(&json!({"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget"})),
    );
    wait_until(rt, Duration::from_secs(30), "budget observed", || {
        let pdb = rt
            .block_on(budgets.get("guarded"))
            .map_err(|e| e.to_string())?;
        match pdb.data["status"]["currentHealthy"].as_i64() {
            Some(2) => Ok(()),
            other => Err(format!("currentHealthy {other:?}")),
        }
    });
    match rt
        .block_on(actor.evict(NS, "guarded-0", &Ask::default()))
        .unwrap()
    {
        Eviction::Refused(why) => assert!(
            why.contains("disruption budget") && why.contains("HTTP 429"),
            "{why}"
        ),
        other => panic!("guarded-0: {other:?}"),
    }
    // Deleting outright asks no budget.
    let delete = Ask {
        grace_seconds: Some(0),
        ..Ask::default()
    };
    assert_eq!(
        rt.block_on(actor.delete_pod(NS, "guarded-1", &delete))
            .unwrap(),
        Eviction::Accepted
    );
    assert_eq!(
        rt.block_on(actor.delete_pod(NS, "no-such-pod", &delete))
            .unwrap(),
        Eviction::NotFound
    );

    // Leave the lab as it was: the pods gone at once, then their namespace.
    for name in ["free", "guarded-0"] {
        rt.block_on(actor.delete_pod(NS, name, &delete)).unwrap();
    }
    wait_until(rt, Duration::from_secs(30), "act pods gone", || {
        let left = rt
            .block_on(pods.list(&ListParams::default()))
            .map_err(|e| e.to_string())?
            .items
            .len();
        if left == 0 {
            Ok(())
        } else {
            Err(format!("{left} pods"))
        }
    });
    let namespaces: Api<Namespace> = Api::all(client.clone());
    rt.block_on(namespaces.delete(NS, &DeleteParams::default()))
        .unwrap();
}

/// After the lab's nginx is scaled to 6: karpdeck's NodeClaims for the pending pods, created
/// through the API as Karpenter writes them, then deleted.
pub fn nodeclaims_are_created_as_karpenter_writes_them(rig: &Rig, rt: &tokio::runtime::Runtime) {
    use karpdeck::engine::plan::{plan, Strategy};
    use karpdeck::engine::scheduling::Options;
    use karpdeck::model::NodePoolApi;

    // A one-shot read runs its own runtime: off this thread's.
    let loaded = {
        let target = rig.target();
        std::thread::spawn(move || {
            karpdeck::kube::load(
                &target,
                &karpdeck::scenario::LoadOptions::default(),
                karpdeck::catalog::Catalog::embedded(),
            )
        })
        .join()
        .unwrap()
        .unwrap()
    };
    let s = &loaded.snapshot;
    let planned = plan(s, Strategy::Karpenter, &Options::default());
    assert_eq!(planned.nodeclaims.len(), 2, "the lab's two NodeClaims");
    let actor = actor(rig, rt);
    let claims: Api<DynamicObject> = Api::all_with(
        rig.client.clone(),
        &apply::resource(&json!({"apiVersion": "karpenter.sh/v1", "kind": "NodeClaim"})),
    );
    // The lab's pool is a v1alpha5 Provisioner, whose Machines karpdeck does not create.
    let provisioner = s.nodepool(&planned.nodeclaims[0].claim.nodepool).unwrap();
    assert_eq!(provisioner.api, NodePoolApi::V1alpha5Provisioner);
    let refused = rt
        .block_on(actor.create_nodeclaim(provisioner, &planned.nodeclaims[0], "p9"))
        .unwrap_err();
    assert!(refused.0.contains("Machines"), "{refused}");
    // The same pool as a karpenter.sh/v1 NodePool.
    let mut v1 = provisioner.clone();
    v1.name = "act".into();
    v1.api = NodePoolApi::V1;
    v1.node_class = Some("default".into());
    let pool_object = json!({
        "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
        "metadata": {"name": "act"},
        "spec": {"template": {"spec": {
            "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
            "requirements": [],
        }}},
    });
    rt.block_on(apply::create(&rig.client, &pool_object, false));
    for (i, c) in planned.nodeclaims.iter().enumerate() {
        let pool = &v1;
        let name = rt.block_on(actor.create_nodeclaim(pool, c, "p9")).unwrap();
        assert!(name.starts_with(&format!("{}-", pool.name)), "{name}");
        let made = rt.block_on(claims.get(&name)).unwrap();
        let meta = &made.metadata;
        assert_eq!(
            meta.labels.as_ref().unwrap()["karpenter.sh/nodepool"],
            pool.name
        );
        assert_eq!(meta.annotations.as_ref().unwrap()["karpdeck.io/plan"], "p9");
        let owner = &meta.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str()),
            ("NodePool", pool.name.as_str())
        );
        assert!(!owner.uid.is_empty());
        let spec = &made.data["spec"];
        assert_eq!(
            spec["resources"]["requests"],
            json!(karpdeck::engine::plan::requests_json(&c.claim.requests)),
            "nodeclaim {i}"
        );
        let types = spec["requirements"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == "node.kubernetes.io/instance-type")
            .unwrap();
        assert_eq!(types["operator"], "In");
        let mut want = c.launch.instance_types.clone();
        want.sort();
        assert_eq!(types["values"], json!(want));
        assert_eq!(spec["nodeClassRef"]["kind"], "EC2NodeClass");
        assert!(rt
            .block_on(actor.delete_nodeclaim(pool.api, &name))
            .unwrap());
        assert!(!rt
            .block_on(actor.delete_nodeclaim(pool.api, &name))
            .unwrap());
    }
    let pools: Api<DynamicObject> =
        Api::all_with(rig.client.clone(), &apply::resource(&pool_object));
    rt.block_on(pools.delete("act", &DeleteParams::default()))
        .unwrap();
}

/// Karpenter's disruption taint goes on a node and comes off again, leaving its other taints
/// as they were; a node that does not exist is said to be gone.
pub fn the_disruption_taint_goes_on_and_off(rig: &Rig, rt: &tokio::runtime::Runtime) {
    let actor = actor(rig, rt);
    let node = "ip-172-31-75-60.ap-southeast-1.compute.internal";
    let nodes: Api<Node> = Api::all(rig.client.clone());
    let taints = || {
        rt.block_on(nodes.get(node))
            .unwrap()
            .spec
            .unwrap()
            .taints
            .unwrap_or_default()
    };
    let before = taints();
    assert!(rt.block_on(actor.set_disrupted(node, true)).unwrap());
    // Asked twice, it is there once.
    assert!(rt.block_on(actor.set_disrupted(node, true)).unwrap());
    let on = taints();
    assert_eq!(
        on.iter()
            .filter(|t| t.key == "karpenter.sh/disrupted" && t.effect == "NoSchedule")
            .count(),
        1,
        "{on:?}"
    );
    assert_eq!(on.len(), before.len() + 1);
    assert!(rt.block_on(actor.set_disrupted(node, false)).unwrap());
    assert_eq!(taints(), before);
    assert!(!rt
        .block_on(actor.set_disrupted("no-such-node", true))
        .unwrap());
}
