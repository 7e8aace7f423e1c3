//! Stands in for the kubelets of the nodes it registers, which cannot run here: it registers
//! each Node with its capacity, keeps its Ready condition's heartbeat fresh (so the real node
//! lifecycle controller leaves it Ready), reports pods bound to it Running and then Ready (at
//! once, or after a set delay as containers' readiness probes would), and finishes pods being
//! deleted once their grace period has passed. It decides nothing else.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{json, Value};

/// How often the kubelets report.
const TICK: Duration = Duration::from_millis(500);
/// How often a node's heartbeat is renewed (the lifecycle controller's grace is 40 s).
const HEARTBEAT: Duration = Duration::from_secs(10);

/// The kubelets of the registered nodes, running until dropped.
pub struct Kubelets {
    client: Client,
    nodes: Arc<Mutex<BTreeSet<String>>>,
    ready_after: Arc<Mutex<Duration>>,
    task: tokio::task::JoinHandle<()>,
}

impl Kubelets {
    /// Start playing the kubelets (of no node yet).
    pub fn start(client: Client) -> Self {
        let nodes: Arc<Mutex<BTreeSet<String>>> = Arc::default();
        let ready_after: Arc<Mutex<Duration>> = Arc::default();
        let task = tokio::spawn(run(client.clone(), nodes.clone(), ready_after.clone()));
        Self {
            client,
            nodes,
            ready_after,
            task,
        }
    }

    /// Report pods Ready this long after they start Running (until changed again).
    pub fn set_ready_after(&self, delay: Duration) {
        *self.ready_after.lock().unwrap() = delay;
    }

    /// Register a node as its kubelet would on boot: the Node object with the given metadata,
    /// spec and capacity, then a Ready status.
    pub async fn register(&self, node: &Value) {
        let name = node["metadata"]["name"]
            .as_str()
            .expect("node name")
            .to_string();
        let api: Api<Node> = Api::all(self.client.clone());
        let body = json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {
                "name": name,
                "labels": node["metadata"]["labels"],
                "annotations": node["metadata"]["annotations"],
            },
            "spec": node["spec"],
        });
        let object: Node = serde_json::from_value(body).expect("a Node");
        api.create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("register node {name}: {e}"));
        let status = json!({
            "status": {
                "capacity": node["status"]["capacity"],
                "allocatable": node["status"]["allocatable"],
                "conditions": conditions(Utc::now()),
            }
        });
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .unwrap_or_else(|e| panic!("node {name} status: {e}"));
        self.nodes.lock().unwrap().insert(name);
    }
}

/// An empty arm64 node as the tests register it: its name as hostname, `zone`, `instance_type`
/// with `cpu` and `memory`, 110 pods, and one more label (`key`: "true") pods can select.
pub fn empty_node(
    name: &str,
    zone: &str,
    instance_type: &str,
    (cpu, memory): (&str, &str),
    key: &str,
) -> Value {
    json!({
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "arm64", "topology.kubernetes.io/zone": zone,
            "node.kubernetes.io/instance-type": instance_type, key: "true",
        }},
        "spec": {},
        "status": {
            "capacity": {"cpu": cpu, "memory": memory, "pods": "110"},
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
        },
    })
}

impl Drop for Kubelets {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn conditions(now: DateTime<Utc>) -> Value {
    let t = now.to_rfc3339_opts(SecondsFormat::Secs, true);
    let condition = |kind: &str, status: &str, reason: &str| {
        json!({"type": kind, "status": status, "reason": reason,
               "lastHeartbeatTime": t, "lastTransitionTime": t})
    };
    json!([
        condition("Ready", "True", "KubeletReady"),
        condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
        condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
        condition("PIDPressure", "False", "KubeletHasSufficientPID"),
    ])
}

async fn run(
    client: Client,
    nodes: Arc<Mutex<BTreeSet<String>>>,
    ready_after: Arc<Mutex<Duration>>,
) {
    let node_api: Api<Node> = Api::all(client.clone());
    let pods_all: Api<Pod> = Api::all(client.clone());
    let mut last_heartbeat = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(TICK).await;
        let mine = nodes.lock().unwrap().clone();
        let delay = *ready_after.lock().unwrap();
        if last_heartbeat.elapsed() >= HEARTBEAT {
            last_heartbeat = tokio::time::Instant::now();
            for name in &mine {
                let status = json!({"status": {"conditions": conditions(Utc::now())}});
                // A node deleted meanwhile simply has no kubelet any more.
                let _ = node_api
                    .patch_status(name, &PatchParams::default(), &Patch::Strategic(&status))
                    .await;
            }
        }
        let Ok(pods) = pods_all.list(&ListParams::default()).await else {
            continue;
        };
        for pod in pods.items {
            let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
                continue;
            };
            if !mine.contains(&node) {
                continue;
            }
            let ns = pod.metadata.namespace.clone().unwrap_or_default();
            let name = pod.metadata.name.clone().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
            if let Some(deleting) = &pod.metadata.deletion_timestamp {
                if deleting.0 <= api_now() {
                    let _ = api
                        .delete(&name, &DeleteParams::default().grace_period(0))
                        .await;
                }
                continue;
            }
            let status = pod.status.as_ref();
            let phase = status.and_then(|s| s.phase.as_deref());
            let ready = status
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            let started = status.and_then(|s| s.start_time.as_ref()).map(|t| t.0);
            let now = Utc::now();
            let t = now.to_rfc3339_opts(SecondsFormat::Secs, true);
            let update = if phase != Some("Running") {
                // Started now; Ready at once only without a delay.
                let ready = if delay.is_zero() { "True" } else { "False" };
                Some((t.clone(), ready))
            } else if !ready
                && started.is_some_and(|s| {
                    s + k8s_openapi::jiff::SignedDuration::try_from(delay).unwrap() <= api_now()
                })
            {
                Some((started.unwrap().to_string(), "True"))
            } else {
                None
            };
            if let Some((start, ready)) = update {
                let status = json!({"status": {
                    "phase": "Running",
                    "startTime": start,
                    "conditions": [
                        {"type": "PodScheduled", "status": "True", "lastTransitionTime": t},
                        {"type": "Initialized", "status": "True", "lastTransitionTime": t},
                        {"type": "ContainersReady", "status": ready, "lastTransitionTime": t},
                        {"type": "Ready", "status": ready, "lastTransitionTime": t},
                    ],
                }});
                let _ = api
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                    .await;
            }
        }
    }
}

/// The current time in the type k8s-openapi's timestamps use.
fn api_now() -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::now()
}
