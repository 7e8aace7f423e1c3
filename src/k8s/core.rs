//! Core objects: Node, Pod, and Karpenter's NodeClaim / Machine (which describe nodes).

use super::error::ConvertError;
use super::field::Field;
use crate::model::labels;
use crate::model::{CapacityType, Node, NodeClaim, Pod, Resources};

use super::constraints::{opt_resources, requirements, taints};
use super::meta::Meta;
use super::podspec;

fn condition_true(status: Option<&Field>, kind: &str) -> Result<bool, ConvertError> {
    let Some(st) = status else { return Ok(false) };
    for c in st.list("conditions")? {
        if c.opt_string("type")?.as_deref() == Some(kind) {
            return Ok(c.opt_string("status")?.as_deref() == Some("True"));
        }
    }
    Ok(false)
}

/// A v1 Node.
pub fn node(meta: Meta, root: &Field) -> Result<Node, ConvertError> {
    let spec = root.get("spec");
    let status = root.get("status");
    let capacity = match &status {
        Some(st) => opt_resources(st, "capacity")?.unwrap_or_default(),
        None => Resources::default(),
    };
    // A node that has not reported allocatable yet offers its capacity, as the scheduler assumes.
    let allocatable = match &status {
        Some(st) => opt_resources(st, "allocatable")?.unwrap_or_else(|| capacity.clone()),
        None => capacity.clone(),
    };
    Ok(Node {
        name: meta.name,
        labels: meta.labels,
        annotations: meta.annotations,
        taints: match &spec {
            Some(s) => taints(s, "taints")?,
            None => Vec::new(),
        },
        unschedulable: match &spec {
            Some(s) => s
                .get("unschedulable")
                .map(|u| u.bool())
                .transpose()?
                .unwrap_or(false),
            None => false,
        },
        provider_id: match &spec {
            Some(s) => s.opt_string("providerID")?,
            None => None,
        },
        capacity,
        allocatable,
        ready: condition_true(status.as_ref(), "Ready")?,
        created: meta.created,
        deleting: meta.deleting,
    })
}

/// A v1 Pod.
pub fn pod(meta: Meta, root: &Field) -> Result<Pod, ConvertError> {
    let spec = root.req("spec")?;
    podspec::pod(meta, &spec, root.get("status").as_ref())
}

/// A karpenter.sh NodeClaim (v1, v1beta1) or v1alpha5 Machine.
pub fn nodeclaim(meta: Meta, root: &Field) -> Result<NodeClaim, ConvertError> {
    let spec = root.get("spec");
    let status = root.get("status");
    let label = |key: &str| meta.labels.get(key).cloned();
    let (capacity, allocatable, provider_id, node_name) = match &status {
        Some(st) => (
            opt_resources(st, "capacity")?.unwrap_or_default(),
            opt_resources(st, "allocatable")?.unwrap_or_default(),
            st.opt_string("providerID")?,
            st.opt_string("nodeName")?,
        ),
        None => Default::default(),
    };
    let (reqs, requests) = match &spec {
        Some(s) => (
            requirements(s, "requirements")?,
            match s.get("resources") {
                Some(r) => opt_resources(&r, "requests")?.unwrap_or_default(),
                None => Resources::default(),
            },
        ),
        None => Default::default(),
    };
    let registered = condition_true(status.as_ref(), "Registered")?
        || condition_true(status.as_ref(), "MachineRegistered")?;
    Ok(NodeClaim {
        nodepool: label(labels::NODEPOOL).or_else(|| label(labels::PROVISIONER_NAME)),
        instance_type: label(labels::INSTANCE_TYPE),
        zone: label(labels::ZONE),
        capacity_type: label(labels::CAPACITY_TYPE).map(|c| CapacityType::parse(&c)),
        name: meta.name,
        requirements: reqs,
        requests,
        provider_id,
        node_name,
        capacity,
        allocatable,
        launched: condition_true(status.as_ref(), "Launched")?
            || condition_true(status.as_ref(), "MachineLaunched")?,
        registered,
        initialized: condition_true(status.as_ref(), "Initialized")?
            || condition_true(status.as_ref(), "MachineInitialized")?,
        deleting: meta.deleting,
        created: meta.created,
    })
}
