//! Interruption responses and what-ifs.

use chrono::{TimeZone, Utc};
use karpdeck::catalog::Catalog;
use karpdeck::engine::interruption::{
    parse_event, respond, InterruptionEvent, MessageKind, Response,
};
use karpdeck::engine::plan::{plan, Strategy};
use karpdeck::engine::scheduling::Options;
use karpdeck::engine::whatif::WhatIf;
use karpdeck::model::CapacityType;
use karpdeck::scenario::{load_str, LoadOptions, Loaded};

const CLUSTER: &str = r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  template:
    spec:
      requirements:
      - {key: karpenter.sh/capacity-type, operator: In, values: [spot, on-demand]}
      - {key: node.kubernetes.io/instance-type, operator: In, values: [m5.large, m5.xlarge]}
      - {key: topology.kubernetes.io/zone, operator: In, values: [us-east-1a, us-east-1b]}
---
apiVersion: v1
kind: Node
metadata:
  name: spot-a
  labels: {karpenter.sh/nodepool: default, karpenter.sh/initialized: 'true', node.kubernetes.io/instance-type: m5.large, topology.kubernetes.io/zone: us-east-1a, karpenter.sh/capacity-type: spot}
spec: {providerID: 'aws:///us-east-1a/i-0123456789abcdef0'}
status:
  allocatable: {cpu: 1930m, memory: 6Gi, pods: '29'}
  conditions: [{type: Ready, status: 'True'}]
---
apiVersion: v1
kind: Pod
metadata: {name: slow, namespace: d, ownerReferences: [{kind: ReplicaSet, name: rs, controller: true}]}
spec:
  nodeName: spot-a
  terminationGracePeriodSeconds: 300
  containers: [{name: c, resources: {requests: {cpu: 500m}}}]
status: {phase: Running}
"#;

fn load(text: &str) -> Loaded {
    let options = LoadOptions {
        scales: vec![],
        region: Some("us-east-1".into()),
    };
    load_str("t.yaml", text, &options, Catalog::embedded()).unwrap()
}

fn spot_warning(id: &str) -> InterruptionEvent {
    let json = format!(
        r#"{{"version":"0","id":"x","detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","account":"1","time":"2024-05-10T12:00:00Z","region":"us-east-1","resources":[],"detail":{{"instance-id":"{id}","instance-action":"terminate"}}}}"#
    );
    parse_event(&json).unwrap()
}

#[test]
fn a_300s_grace_period_outlasts_the_two_minute_notice() {
    let l = load(CLUSTER);
    let r = &respond(&l.snapshot, &spot_warning("i-0123456789abcdef0"))[0];
    assert_eq!(r.response, Response::CordonAndDrain);
    assert_eq!(l.snapshot.nodes[r.node.unwrap()].name, "spot-a");
    assert_eq!(r.drain_seconds, 300);
    assert_eq!(r.completes_in_time(), Some(false));
    // The interrupted offering is avoided for the replacement.
    let ((t, z, c), until) = r.unavailable.clone().unwrap();
    assert_eq!(
        (t.as_str(), z.as_str(), c),
        ("m5.large", "us-east-1a", CapacityType::Spot)
    );
    assert_eq!(until, Utc.with_ymd_and_hms(2024, 5, 10, 12, 3, 0).unwrap());
    let d = r.drain.as_ref().unwrap();
    assert_eq!(d.new_nodeclaims.len(), 1);
    let launch = &d.new_nodeclaims[0].launch;
    let cheapest_spot_a = launch.capacity_type == CapacityType::Spot
        && launch.zones == ["us-east-1a"]
        && launch.instance_types == ["m5.large"];
    assert!(!cheapest_spot_a, "{launch:?}");
}

#[test]
fn a_short_grace_period_completes_and_rebalance_does_nothing() {
    let l = load(&CLUSTER.replace(
        "terminationGracePeriodSeconds: 300",
        "terminationGracePeriodSeconds: 30",
    ));
    let r = &respond(&l.snapshot, &spot_warning("i-0123456789abcdef0"))[0];
    assert_eq!(r.completes_in_time(), Some(true));
    let rebalance = InterruptionEvent {
        kind: MessageKind::RebalanceRecommendation,
        ..spot_warning("i-0123456789abcdef0")
    };
    let r = &respond(&l.snapshot, &rebalance)[0];
    assert_eq!(r.response, Response::NoAction);
    assert!(r.drain.is_none());
    // An instance the cluster does not know is reported, not an error.
    let r = &respond(&l.snapshot, &spot_warning("i-unknown"))[0];
    assert!(r.node.is_none());
}

#[test]
fn losing_a_zone_moves_its_pods_elsewhere() {
    let mut l = load(CLUSTER);
    WhatIf::LoseZone("us-east-1a".into())
        .apply(&mut l.snapshot)
        .unwrap();
    let p = plan(&l.snapshot, Strategy::Karpenter, &Options::default());
    assert_eq!(p.nodeclaims.len(), 1);
    assert_eq!(p.nodeclaims[0].launch.zones, ["us-east-1b"]);
    assert!(WhatIf::LoseZone("mars-1a".into())
        .apply(&mut l.snapshot)
        .is_err());
}

#[test]
fn losing_spot_and_tightening_limits() {
    let mut l = load(CLUSTER);
    WhatIf::parse_capacity_type("spot")
        .unwrap()
        .apply(&mut l.snapshot)
        .unwrap();
    let p = plan(&l.snapshot, Strategy::Karpenter, &Options::default());
    assert_eq!(p.nodeclaims[0].launch.capacity_type, CapacityType::OnDemand);
    WhatIf::parse_limit("default:cpu=1")
        .unwrap()
        .apply(&mut l.snapshot)
        .unwrap();
    let p = plan(&l.snapshot, Strategy::Karpenter, &Options::default());
    assert!(p.nodeclaims.is_empty());
    assert!(p.unschedulable[0].1.lines()[0].contains("cpu resource usage of 2 exceeds limit of 1"));
    assert!(WhatIf::parse_limit("nope").is_err());
    assert!(WhatIf::parse_offering("m5.large:us-east-1a").is_err());
}

#[test]
fn pdb_blocked_pods_and_unmanaged_nodes() {
    let pdb = "---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: hold, namespace: d}\nspec: {maxUnavailable: 0, selector: {}}\n";
    let l = load(&format!(
        "{}{pdb}",
        CLUSTER.replace(
            "terminationGracePeriodSeconds: 300",
            "terminationGracePeriodSeconds: 30"
        )
    ));
    let r = &respond(&l.snapshot, &spot_warning("i-0123456789abcdef0"))[0];
    assert_eq!(r.blocked_pods.len(), 1);
    assert_eq!(r.completes_in_time(), Some(false));
    // An instance Karpenter does not manage: Karpenter drops the event.
    let unmanaged = CLUSTER.replace("karpenter.sh/nodepool: default, ", "");
    let l = load(&unmanaged);
    let r = &respond(&l.snapshot, &spot_warning("i-0123456789abcdef0"))[0];
    assert!(r.node.is_some());
    assert_eq!(r.response, Response::NoAction);
    // Absurd grace periods neither overflow nor panic.
    let huge = CLUSTER.replace(
        "terminationGracePeriodSeconds: 300",
        "terminationGracePeriodSeconds: 9223372036854775807",
    );
    let l = load(&huge);
    let r = &respond(&l.snapshot, &spot_warning("i-0123456789abcdef0"))[0];
    assert_eq!(r.completes_in_time(), Some(false));
}
