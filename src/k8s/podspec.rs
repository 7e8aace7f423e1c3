//! Pod specs (of Pods and of workload templates) into slim [`Pod`]s.

use std::collections::BTreeMap;

use super::error::ConvertError;
use super::field::Field;
use crate::model::duration::parse_go_duration;
use crate::model::labels;
use crate::model::pod::{effective_requests, ContainerRequests, PodPhase, PodVolumes};
use crate::model::{DoNotDisrupt, HostPort, Pod, Quantity, Resources};

use super::constraints::{
    node_affinity, node_selector, opt_resources, pod_affinity, tolerations, topology_spread,
};
use super::meta::{timestamp, Meta};

/// A container's requests.
fn container_requests(c: &Field) -> Result<ContainerRequests, ConvertError> {
    let requests = resource_requirements(c)?;
    let sidecar = c.opt_string("restartPolicy")?.as_deref() == Some("Always");
    Ok(ContainerRequests { requests, sidecar })
}

/// Whether the container's memory limit is above its memory request (it can grow past what the
/// scheduler, and consolidation, reserved for it).
fn memory_limit_above_request(c: &Field) -> Result<bool, ConvertError> {
    let Some(res) = c.get("resources") else {
        return Ok(false);
    };
    let get = |key: &'static str| -> Result<Option<i64>, ConvertError> {
        match res.get(key).and_then(|l| l.get("memory")) {
            Some(q) => Ok(Some(q.quantity()?.units_ceil())),
            None => Ok(None),
        }
    };
    Ok(matches!((get("requests")?, get("limits")?), (Some(r), Some(l)) if l > r))
}

/// A Karpenter controller's interruption queue, from its containers' environment or arguments.
pub fn karpenter_interruption_queue(spec: &Field) -> Result<Option<String>, ConvertError> {
    for c in spec.list("containers")? {
        for e in c.list("env")? {
            let name = e.opt_string("name")?.unwrap_or_default();
            if matches!(
                name.as_str(),
                "INTERRUPTION_QUEUE" | "INTERRUPTION_QUEUE_NAME" | "AWS_INTERRUPTION_QUEUE_NAME"
            ) {
                if let Some(v) = e.opt_string("value")?.filter(|v| !v.is_empty()) {
                    return Ok(Some(v));
                }
            }
        }
        for a in c.list("args")? {
            if let Some(v) = a.string()?.strip_prefix("--interruption-queue=") {
                if !v.is_empty() {
                    return Ok(Some(v.to_string()));
                }
            }
        }
    }
    Ok(None)
}

/// The requests of a `resources` block (container or pod level), each resource that has only a
/// limit defaulting to the limit, as the API server does.
fn resource_requirements(owner: &Field) -> Result<Resources, ConvertError> {
    let mut requests = Resources::default();
    if let Some(res) = owner.get("resources") {
        let mut merged: BTreeMap<String, (Field, Quantity)> = BTreeMap::new();
        for key in ["limits", "requests"] {
            if let Some(list) = res.get(key) {
                for (name, value) in list.entries()? {
                    let q = value.quantity()?;
                    merged.insert(name, (value, q));
                }
            }
        }
        for (name, (value, q)) in merged {
            if q.is_negative() {
                return Err(value.error(format!("{name} must not be negative")));
            }
            if !is_container_resource(&name) {
                return Err(value.error(format!(
                    "{name} is not a container resource (use cpu, memory, ephemeral-storage, hugepages-* or a domain-qualified extended resource)"
                )));
            }
            requests.set(&name, &q);
        }
    }
    Ok(requests)
}

/// Resource names a container (or pod-level `resources`) may request.
fn is_container_resource(name: &str) -> bool {
    matches!(name, "cpu" | "memory" | "ephemeral-storage")
        || name.starts_with("hugepages-")
        || (name.contains('/') && !name.starts_with("kubernetes.io/"))
}

fn host_ports(containers: &[Field]) -> Result<Vec<HostPort>, ConvertError> {
    let mut out = Vec::new();
    for c in containers {
        for p in c.list("ports")? {
            let Some(hp) = p.get("hostPort") else {
                continue;
            };
            let port = hp.int()?;
            // 0 means "no host port".
            if port == 0 {
                continue;
            }
            let port = u16::try_from(port)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| hp.error(format!("hostPort {port} is not a port number")))?;
            out.push(HostPort {
                ip: p.opt_string("hostIP")?.unwrap_or_default(),
                port,
                protocol: p.opt_string("protocol")?.unwrap_or_else(|| "TCP".into()),
            });
        }
    }
    Ok(out)
}

fn volumes(spec: &Field) -> Result<PodVolumes, ConvertError> {
    let mut out = PodVolumes::default();
    for v in spec.list("volumes")? {
        out.empty_dir |= v.get("emptyDir").is_some();
        out.host_path |= v.get("hostPath").is_some();
        if let Some(pvc) = v.get("persistentVolumeClaim") {
            out.claims.push(pvc.req("claimName")?.string()?);
        }
    }
    Ok(out)
}

/// The longest grace period karpdeck takes as given (ten years): longer ones are valid in
/// Kubernetes, and mean "as good as forever" here, without overflowing any clock.
pub const MAX_GRACE_SECONDS: i64 = 10 * 365 * 24 * 3600;

/// `terminationGracePeriodSeconds` (default 30): negative is refused, as the API refuses it;
/// beyond [`MAX_GRACE_SECONDS`] it is taken as that.
fn grace_period(spec: &Field) -> Result<i64, ConvertError> {
    let Some(f) = spec.get("terminationGracePeriodSeconds") else {
        return Ok(30);
    };
    let seconds = f.int()?;
    if seconds < 0 {
        return Err(f.error(format!("{seconds} is negative")));
    }
    Ok(seconds.min(MAX_GRACE_SECONDS))
}

/// The do-not-disrupt annotation. A value that is neither `"true"` nor a duration is ignored, as
/// Karpenter ignores it (it only emits an event).
fn do_not_disrupt(meta: &Meta) -> Option<DoNotDisrupt> {
    let value = meta
        .annotations
        .get(labels::DO_NOT_DISRUPT)
        .or_else(|| meta.annotations.get(labels::DO_NOT_EVICT))?;
    match value.as_str() {
        "true" => Some(DoNotDisrupt::Always),
        d => parse_go_duration(d).map(DoNotDisrupt::For),
    }
}

/// Build a pod from its metadata, `spec` and optional `status`.
pub fn pod(meta: Meta, spec: &Field, status: Option<&Field>) -> Result<Pod, ConvertError> {
    let containers = spec.list("containers")?;
    if containers.is_empty() {
        return Err(spec.error("containers: a pod needs at least one container"));
    }
    let main = containers
        .iter()
        .map(container_requests)
        .collect::<Result<Vec<_>, _>>()?;
    let init_fields = spec.list("initContainers")?;
    let init = init_fields
        .iter()
        .map(container_requests)
        .collect::<Result<Vec<_>, _>>()?;
    let overhead = opt_resources(spec, "overhead")?.unwrap_or_default();
    let affinity = spec.get("affinity");
    let mut memory_burst = false;
    for c in &containers {
        memory_burst |= memory_limit_above_request(c)?;
    }
    let mut all_containers = containers.clone();
    all_containers.extend(init_fields.iter().cloned());

    let mut ready = false;
    let mut marked_unschedulable = false;
    let mut phase = PodPhase::Pending;
    let mut nominated_node = None;
    let mut started = None;
    if let Some(st) = status {
        phase = PodPhase::parse(&st.opt_string("phase")?.unwrap_or_default());
        nominated_node = st.opt_string("nominatedNodeName")?;
        started = st.get("startTime").map(|t| timestamp(&t)).transpose()?;
        for c in st.list("conditions")? {
            let kind = c.opt_string("type")?.unwrap_or_default();
            let is_true = c.opt_string("status")?.as_deref() == Some("True");
            match kind.as_str() {
                "Ready" => ready = is_true,
                "PodScheduled" => {
                    marked_unschedulable =
                        !is_true && c.opt_string("reason")?.as_deref() == Some("Unschedulable")
                }
                _ => {}
            }
        }
    }
    let deletion_cost = match meta.annotations.get(labels::POD_DELETION_COST) {
        Some(v) => v.parse().map_err(|_| {
            spec.error_at(
                &format!("metadata.annotations.{}", labels::POD_DELETION_COST),
                format!("{v:?} is not a 32-bit integer"),
            )
        })?,
        None => 0,
    };
    Ok(Pod {
        do_not_disrupt: do_not_disrupt(&meta),
        mirror: meta.annotations.contains_key(labels::MIRROR_POD),
        deletion_cost,
        namespace: meta.namespace,
        name: meta.name,
        labels: meta.labels,
        owner: meta.owner,
        node_name: spec.opt_string("nodeName")?.filter(|n| !n.is_empty()),
        phase,
        ready,
        marked_unschedulable,
        nominated_node,
        created: meta.created,
        started,
        deleting: meta.deleting,
        priority: match spec.get("priority") {
            Some(f) => {
                i32::try_from(f.int()?).map_err(|_| f.error("priority must fit in 32 bits"))?
            }
            None => 0,
        },
        priority_class: spec.opt_string("priorityClassName")?,
        requests: effective_requests(&main, &init, &resource_requirements(spec)?, &overhead),
        node_selector: node_selector(spec)?,
        node_affinity: affinity
            .as_ref()
            .map(node_affinity)
            .transpose()?
            .unwrap_or_default(),
        pod_affinity: affinity
            .as_ref()
            .map(pod_affinity)
            .transpose()?
            .unwrap_or_default(),
        tolerations: tolerations(spec)?,
        topology_spread: topology_spread(spec)?,
        host_ports: host_ports(&all_containers)?,
        volumes: volumes(spec)?,
        termination_grace_seconds: grace_period(spec)?,
        scheduling_gated: !spec.list("schedulingGates")?.is_empty(),
        memory_limit_above_request: memory_burst,
        pdbs: Vec::new(),
    })
}
