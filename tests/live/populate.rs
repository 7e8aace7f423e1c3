//! Fills the cluster for `karpdeck bench --kubeconfig`: NODES registered as their kubelets
//! would (no heartbeats after that: a benchmark reads the cluster within minutes, before the
//! node lifecycle controller acts), and PODS_PER_NODE pods on each, created bound to it.

use std::time::Instant;

use futures::{stream, StreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::PostParams;
use kube::{Api, Client};
use serde_json::json;

/// Requests made at once.
const CONCURRENCY: usize = 32;

/// Create the nodes and pods, printing how long it took.
pub async fn populate(client: &Client, nodes: usize, pods_per_node: usize) {
    let started = Instant::now();
    let node_api: Api<Node> = Api::all(client.clone());
    let names: Vec<String> = (0..nodes).map(|i| format!("bench-node-{i:05}")).collect();
    stream::iter(names.iter().enumerate())
        .for_each_concurrent(CONCURRENCY, |(i, name)| {
            let api = node_api.clone();
            async move {
                let zone = ["us-east-1a", "us-east-1b", "us-east-1c"][i % 3];
                let node: Node = serde_json::from_value(json!({
                    "apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": name, "labels": {
                        "node.kubernetes.io/instance-type": "m5.2xlarge",
                        "topology.kubernetes.io/zone": zone,
                        "karpenter.sh/capacity-type": "on-demand",
                        "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux",
                    }},
                    "spec": {"providerID": format!("aws:///{zone}/i-{i:017x}")},
                    "status": {
                        "capacity": {"cpu": "8", "memory": "32386544Ki", "pods": "110"},
                        "allocatable": {"cpu": "7910m", "memory": "31369712Ki", "pods": "110"},
                        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                    },
                }))
                .unwrap();
                api.create(&PostParams::default(), &node)
                    .await
                    .unwrap_or_else(|e| panic!("node {name}: {e}"));
            }
        })
        .await;
    println!("{nodes} nodes in {:.1} s", started.elapsed().as_secs_f64());
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let total = nodes * pods_per_node;
    stream::iter(0..total)
        .for_each_concurrent(CONCURRENCY, |i| {
            let api = pod_api.clone();
            let node = &names[i % nodes];
            async move {
                let app = format!("app-{}", i % 500);
                let pod: Pod = serde_json::from_value(json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": format!("bench-pod-{i:06}"), "labels": {"app": app}},
                    "spec": {
                        "nodeName": node,
                        "containers": [{"name": "main", "image": "example/img",
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}],
                    },
                }))
                .unwrap();
                api.create(&PostParams::default(), &pod)
                    .await
                    .unwrap_or_else(|e| panic!("pod {i}: {e}"));
            }
        })
        .await;
    println!("{total} pods in {:.1} s", started.elapsed().as_secs_f64());
}
