//! Puts a scenario file's cluster onto the real API server, as `kubectl apply` of the objects
//! a cluster had would: Nodes through their kubelets, then the pods where the file bound them,
//! then the controllers that adopt them (the real ReplicaSet, Deployment and DaemonSet
//! controllers take the pods over; nothing is recreated). Server-assigned fields go; owner
//! references go too and the controllers set them again on adoption, since their UIDs are the
//! file's. A pod whose ReplicaSet the file lacks gets that ReplicaSet, as its cluster had it.

use std::collections::BTreeMap;

use kube::api::{ApiResource, DynamicObject, PostParams};
use kube::{Api, Client};
use serde::Deserialize;
use serde_json::{json, Value};

use super::kubelet::Kubelets;

/// The documents of a scenario file.
pub fn documents(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).expect("scenario YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

/// The documents of one kind.
fn of_kind<'a>(docs: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> {
    docs.iter().filter(move |d| d["kind"] == kind)
}

/// Create every object of `docs` on the server.
pub async fn apply(client: &Client, kubelets: &Kubelets, docs: &[Value]) {
    for ns in of_kind(docs, "Namespace") {
        create(client, ns, true).await;
    }
    for node in of_kind(docs, "Node") {
        kubelets.register(node).await;
    }
    for pod in of_kind(docs, "Pod") {
        create(client, pod, false).await;
    }
    for rs in missing_replicasets(docs) {
        create(client, &rs, false).await;
    }
    for rs in of_kind(docs, "ReplicaSet") {
        let mut rs = rs.clone();
        // A Deployment adopts a ReplicaSet by the ReplicaSet's own labels, which its
        // controller copies from the pod template; a file may leave them out.
        if rs["metadata"]["labels"].is_null() {
            rs["metadata"]["labels"] = rs["spec"]["template"]["metadata"]["labels"].clone();
        }
        create(client, &rs, false).await;
    }
    for kind in ["Deployment", "StatefulSet"] {
        for w in of_kind(docs, kind) {
            create(client, w, false).await;
        }
    }
    for ds in of_kind(docs, "DaemonSet") {
        let mut ds = ds.clone();
        // The file's pods carry no revision hash of this server: a rolling update would
        // replace them all, so updates wait for a delete, as `OnDelete` says.
        ds["spec"]["updateStrategy"] = json!({"type": "OnDelete"});
        create(client, &ds, false).await;
    }
    let done = [
        "Namespace",
        "Node",
        "Pod",
        "ReplicaSet",
        "Deployment",
        "StatefulSet",
        "DaemonSet",
    ];
    for other in docs
        .iter()
        .filter(|d| !done.contains(&d["kind"].as_str().unwrap_or_default()))
    {
        create(client, other, false).await;
    }
}

/// The ReplicaSets that pods name as their controller but the file does not hold: selecting
/// exactly those pods' labels, with as many replicas as pods, and the first pod's spec.
fn missing_replicasets(docs: &[Value]) -> Vec<Value> {
    let present: Vec<(&str, &str)> = docs
        .iter()
        .filter(|d| d["kind"] == "ReplicaSet")
        .map(|d| {
            (
                d["metadata"]["namespace"].as_str().unwrap_or("default"),
                d["metadata"]["name"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let mut wanted: BTreeMap<(String, String), Vec<&Value>> = BTreeMap::new();
    for pod in docs.iter().filter(|d| d["kind"] == "Pod") {
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
        for owner in pod["metadata"]["ownerReferences"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let name = owner["name"].as_str().unwrap_or_default();
            if owner["kind"] == "ReplicaSet" && !present.contains(&(ns, name)) {
                wanted
                    .entry((ns.to_string(), name.to_string()))
                    .or_default()
                    .push(pod);
            }
        }
    }
    wanted
        .into_iter()
        .map(|((ns, name), pods)| {
            let labels = &pods[0]["metadata"]["labels"];
            let mut spec = pods[0]["spec"].clone();
            spec.as_object_mut().unwrap().remove("nodeName");
            json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": name, "namespace": ns, "labels": labels},
                "spec": {
                    "replicas": pods.len(),
                    "selector": {"matchLabels": labels},
                    "template": {"metadata": {"labels": labels}, "spec": spec},
                },
            })
        })
        .collect()
}

/// The resource an object belongs to, its plural as the API names it.
pub fn resource(object: &Value) -> ApiResource {
    let api_version = object["apiVersion"].as_str().expect("apiVersion");
    let kind = object["kind"].as_str().expect("kind");
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let lower = kind.to_ascii_lowercase();
    let plural = if lower.ends_with("ss") {
        format!("{lower}es")
    } else if let Some(stem) = lower.strip_suffix('y') {
        format!("{stem}ies")
    } else {
        format!("{lower}s")
    };
    ApiResource {
        group: group.to_string(),
        version: version.to_string(),
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        plural,
    }
}

/// Create one object without the fields the server assigns; `exists_ok` for namespaces a
/// fresh server already has.
pub async fn create(client: &Client, object: &Value, exists_ok: bool) {
    let mut object = object.clone();
    let meta = object["metadata"].as_object_mut().expect("metadata");
    for field in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "generation",
        "managedFields",
        "ownerReferences",
    ] {
        meta.remove(field);
    }
    object.as_object_mut().unwrap().remove("status");
    let ar = resource(&object);
    let api: Api<DynamicObject> = match object["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None if cluster_scoped(&ar) => Api::all_with(client.clone(), &ar),
        None => Api::namespaced_with(client.clone(), "default", &ar),
    };
    let name = object["metadata"]["name"].clone();
    let dynamic: DynamicObject = serde_json::from_value(object).expect("an object");
    match api.create(&PostParams::default(), &dynamic).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if exists_ok && s.code == 409 => {}
        Err(e) => panic!("create {} {name}: {e}", ar.kind),
    }
}

fn cluster_scoped(ar: &ApiResource) -> bool {
    matches!(
        ar.kind.as_str(),
        "Namespace"
            | "Node"
            | "NodePool"
            | "NodeClaim"
            | "Provisioner"
            | "Machine"
            | "EC2NodeClass"
            | "AWSNodeTemplate"
            | "CustomResourceDefinition"
            | "ClusterRole"
            | "ClusterRoleBinding"
    )
}

/// A Deployment of nginx pods under a PodDisruptionBudget of maxUnavailable 1, as the drain
/// tests run them.
pub struct Budgeted<'a> {
    /// Namespace (made if missing).
    pub namespace: &'a str,
    /// The Deployment, its `app` label and its budget.
    pub name: &'a str,
    /// Replicas.
    pub replicas: usize,
    /// What the pod spec says about where pods go (`nodeSelector`, `affinity`).
    pub placement: Value,
    /// Each pod's CPU and memory requests.
    pub requests: (&'a str, &'a str),
    /// `terminationGracePeriodSeconds`.
    pub grace: i64,
}

impl Budgeted<'_> {
    /// Create the namespace, the Deployment and its budget.
    pub async fn create(&self, client: &Client) {
        let (ns, app) = (self.namespace, self.name);
        create(
            client,
            &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            true,
        )
        .await;
        let mut spec = json!({
            "terminationGracePeriodSeconds": self.grace,
            "containers": [{"name": "c", "image": "nginx", "resources": {"requests": {
                "cpu": self.requests.0, "memory": self.requests.1}}}],
        });
        if let (Some(spec), Some(placement)) = (spec.as_object_mut(), self.placement.as_object()) {
            spec.extend(placement.clone());
        }
        create(
            client,
            &json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": app, "namespace": ns},
                "spec": {
                    "replicas": self.replicas,
                    "selector": {"matchLabels": {"app": app}},
                    "template": {"metadata": {"labels": {"app": app}}, "spec": spec},
                },
            }),
            false,
        )
        .await;
        create(
            client,
            &json!({
                "apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget",
                "metadata": {"name": app, "namespace": ns},
                "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": app}}},
            }),
            false,
        )
        .await;
    }
}
