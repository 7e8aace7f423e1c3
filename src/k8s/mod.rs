//! Kubernetes and Karpenter objects into the slim domain model: the one converter that scenario
//! files and the live cluster's watchers both use. An object arrives as a JSON value (a YAML
//! document reads into the same shape) and leaves as an [`Object`]; nothing of it is kept.

pub mod apps;
pub mod constraints;
pub mod core;
pub mod error;
pub mod field;
pub mod karpenter;
pub mod meta;
pub mod podspec;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::{
    DaemonSet, Node, NodeClaim, NodeClass, NodePool, NodePoolApi, Pdb, Pod, Snapshot, Workload,
    WorkloadKind,
};

pub use error::ConvertError;
pub use field::{Field, Origin};
use meta::object_meta;

/// One object as karpdeck models it.
#[derive(Debug, Clone)]
pub enum Object {
    /// A namespace and its labels (for namespace selectors).
    Namespace {
        /// Name.
        name: String,
        /// Labels.
        labels: BTreeMap<String, String>,
    },
    /// A node.
    Node(Node),
    /// A pod, bound or pending.
    Pod(Pod),
    /// A Deployment, StatefulSet or ReplicaSet.
    Workload(Workload),
    /// A DaemonSet.
    DaemonSet(DaemonSet),
    /// A PodDisruptionBudget.
    Pdb(Pdb),
    /// A NodePool, or a Provisioner read as one.
    NodePool(NodePool),
    /// A NodeClaim or Machine.
    NodeClaim(NodeClaim),
    /// An EC2NodeClass or AWSNodeTemplate.
    NodeClass(NodeClass),
    /// The `coredns` ConfigMap's Corefile.
    CoreDns(Option<String>),
    /// Karpenter's global settings ConfigMap, with its interruption queue where set.
    KarpenterSettings(Option<String>),
    /// A ConfigMap karpdeck does not read.
    OtherConfigMap,
    /// An event (Karpenter's: why it launched, disrupted or would not).
    Event(KubeEvent),
}

/// A Kubernetes event, as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeEvent {
    /// Why (`DisruptionBlocked`, `Unconsolidatable`, `InsufficientCapacityError`, …).
    pub reason: String,
    /// What it says.
    pub message: String,
    /// The object it is about: `Node ip-…`, `NodePool default`.
    pub object: String,
    /// When it last happened.
    pub time: Option<chrono::DateTime<chrono::Utc>>,
    /// How many times it happened.
    pub count: i64,
}

/// A converted object, and whether it marks a Karpenter controller (its pod or Deployment).
#[derive(Debug, Clone)]
pub struct Converted {
    /// The object.
    pub object: Object,
    /// `Some` when the object is Karpenter's controller: its interruption queue, where configured.
    pub karpenter: Option<Option<String>>,
}

/// Why an object was not converted, though it was well formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// The kind is not one karpdeck reads.
    Kind(String),
    /// A known kind at an apiVersion karpdeck does not read.
    Version(String),
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skip::Kind(k) => write!(f, "kind {k} is not used by karpdeck"),
            Skip::Version(v) => write!(f, "unsupported apiVersion {v}"),
        }
    }
}

/// How an object is described before it is parsed: `Pod kube-system/coredns`.
pub fn describe(kind: &str, value: &Value) -> String {
    let (namespace, name) = identity(value);
    let name = if name.is_empty() { "<unnamed>" } else { name };
    if namespace.is_empty() {
        format!("{kind} {name}")
    } else {
        format!("{kind} {namespace}/{name}")
    }
}

/// An object's namespace and name as written (empty when absent).
pub fn identity(value: &Value) -> (&str, &str) {
    let meta = value.get("metadata");
    let field = |key| {
        meta.and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    (field("namespace"), field("name"))
}

/// Convert one object with `apiVersion` and `kind` (already read from `root`).
pub fn convert(
    api_version: &str,
    kind: &str,
    root: &Field,
) -> Result<Result<Converted, Skip>, ConvertError> {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let version = api_version.rsplit('/').next().unwrap_or_default();
    let mut karpenter = None;
    let object = match (group, kind) {
        ("", "Namespace") => {
            let m = object_meta(root, false)?;
            Object::Namespace {
                name: m.name,
                labels: m.labels,
            }
        }
        ("", "Node") => Object::Node(core::node(object_meta(root, false)?, root)?),
        ("", "Pod") => {
            let pod = core::pod(object_meta(root, true)?, root)?;
            karpenter = karpenter_mark(&pod.labels, &root.req("spec")?)?;
            Object::Pod(pod)
        }
        ("", "ConfigMap") => {
            let m = object_meta(root, true)?;
            let data = match root.get("data") {
                Some(d) => d.string_map()?,
                None => Default::default(),
            };
            match m.name.as_str() {
                "coredns" => Object::CoreDns(data.get("Corefile").cloned()),
                "karpenter-global-settings" => Object::KarpenterSettings(
                    data.get("aws.interruptionQueueName")
                        .filter(|q| !q.is_empty())
                        .cloned(),
                ),
                _ => Object::OtherConfigMap,
            }
        }
        ("", "Event") => {
            let m = object_meta(root, true)?;
            let involved = root.req("involvedObject")?;
            let time = ["lastTimestamp", "eventTime", "firstTimestamp"]
                .into_iter()
                .find_map(|k| root.get(k))
                .map(|f| meta::timestamp(&f))
                .transpose()?
                .or(m.created);
            Object::Event(KubeEvent {
                reason: root.opt_string("reason")?.unwrap_or_default(),
                message: root.opt_string("message")?.unwrap_or_default(),
                object: format!(
                    "{} {}",
                    involved.opt_string("kind")?.unwrap_or_default(),
                    involved.opt_string("name")?.unwrap_or_default()
                ),
                time,
                count: root.opt_int("count")?.unwrap_or(1),
            })
        }
        ("apps", "Deployment") => {
            let w = apps::workload(WorkloadKind::Deployment, object_meta(root, true)?, root)?;
            let spec = root.req("spec")?.req("template")?.req("spec")?;
            karpenter = karpenter_mark(&w.template.labels, &spec)?;
            Object::Workload(w)
        }
        ("apps", "StatefulSet") => Object::Workload(apps::workload(
            WorkloadKind::StatefulSet,
            object_meta(root, true)?,
            root,
        )?),
        ("apps", "ReplicaSet") => Object::Workload(apps::workload(
            WorkloadKind::ReplicaSet,
            object_meta(root, true)?,
            root,
        )?),
        ("apps", "DaemonSet") => {
            Object::DaemonSet(apps::daemonset(object_meta(root, true)?, root)?)
        }
        ("policy", "PodDisruptionBudget") => {
            Object::Pdb(apps::pdb(object_meta(root, true)?, root, version == "v1")?)
        }
        ("karpenter.sh", "NodePool") => {
            let api = match version {
                "v1" => NodePoolApi::V1,
                "v1beta1" => NodePoolApi::V1beta1,
                _ => return Ok(Err(Skip::Version(api_version.to_string()))),
            };
            Object::NodePool(karpenter::nodepool(api, object_meta(root, false)?, root)?)
        }
        ("karpenter.sh", "Provisioner") => {
            Object::NodePool(karpenter::provisioner(object_meta(root, false)?, root)?)
        }
        ("karpenter.sh", "NodeClaim" | "Machine") => {
            Object::NodeClaim(core::nodeclaim(object_meta(root, false)?, root)?)
        }
        ("karpenter.k8s.aws", "EC2NodeClass" | "AWSNodeTemplate") => {
            Object::NodeClass(karpenter::nodeclass(kind, object_meta(root, false)?, root)?)
        }
        _ => return Ok(Err(Skip::Kind(format!("{api_version} {kind}")))),
    };
    Ok(Ok(Converted { object, karpenter }))
}

/// `Some(queue)` when these labels mark a Karpenter controller.
fn karpenter_mark(
    labels: &BTreeMap<String, String>,
    spec: &Field,
) -> Result<Option<Option<String>>, ConvertError> {
    if !crate::model::labels::is_karpenter_controller(labels) {
        return Ok(None);
    }
    Ok(Some(podspec::karpenter_interruption_queue(spec)?))
}

impl Converted {
    /// Add the object to a snapshot being assembled (a scenario file, or the live store's copy).
    pub fn add_to(self, s: &mut Snapshot) {
        if let Some(queue) = self.karpenter {
            s.settings.karpenter_seen = true;
            if queue.is_some() {
                s.settings.interruption_queue = queue;
            }
        }
        match self.object {
            Object::Namespace { name, labels } => {
                s.namespaces.insert(name, labels);
            }
            Object::Node(n) => s.nodes.push(n),
            Object::Pod(p) => s.pods.push(p),
            Object::Workload(w) => s.workloads.push(w),
            Object::DaemonSet(d) => s.daemonsets.push(d),
            Object::Pdb(p) => s.pdbs.push(p),
            Object::NodePool(p) => s.nodepools.push(p),
            Object::NodeClaim(c) => s.nodeclaims.push(c),
            Object::NodeClass(c) => s.nodeclasses.push(c),
            Object::CoreDns(corefile) => s.settings.coredns_corefile = corefile,
            Object::KarpenterSettings(queue) => {
                s.settings.karpenter_seen = true;
                if queue.is_some() {
                    s.settings.interruption_queue = queue;
                }
            }
            // Events have no place in a cluster's state (a scenario file may carry them).
            Object::OtherConfigMap | Object::Event(_) => {}
        }
    }
}
