//! Stands in for Karpenter's NodeClaim launcher and the cloud behind it, which cannot run here:
//! for each NodeClaim not launched yet it takes the first instance type, zone and capacity type
//! the claim's requirements allow, has the kubelet stand-in register a Node for it (the claim's
//! labels, the type's capacity from the catalog), and records on the NodeClaim what Karpenter
//! would (providerID, nodeName, Launched, Registered, Initialized). It decides nothing karpdeck
//! is tested on: karpdeck chose the requirements.

use chrono::{SecondsFormat, Utc};
use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use kube::Api;
use serde_json::{json, Map, Value};

use super::Rig;

/// The NodeClaims of the rig's karpenter.sh/v1.
pub fn nodeclaims(rig: &Rig) -> Api<DynamicObject> {
    Api::all_with(
        rig.client.clone(),
        &ApiResource {
            group: "karpenter.sh".into(),
            version: "v1".into(),
            api_version: "karpenter.sh/v1".into(),
            kind: "NodeClaim".into(),
            plural: "nodeclaims".into(),
        },
    )
}

/// The first value a claim's requirement on `key` allows, if it names any.
fn first(requirements: &[Value], key: &str) -> Option<String> {
    requirements
        .iter()
        .find(|r| r["key"] == key && r["operator"] == "In")
        .and_then(|r| r["values"][0].as_str())
        .map(str::to_string)
}

/// Launch every NodeClaim not launched yet; the names of the nodes made.
pub async fn launch(rig: &Rig) -> Vec<String> {
    let api = nodeclaims(rig);
    let catalog = karpdeck::catalog::Catalog::embedded();
    let mut made = Vec::new();
    for claim in api.list(&ListParams::default()).await.unwrap().items {
        if claim.data["status"]["nodeName"].is_string()
            || claim.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        let name = claim.metadata.name.clone().unwrap();
        let requirements = claim.data["spec"]["requirements"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let instance_type = first(&requirements, "node.kubernetes.io/instance-type")
            .expect("the claim names its instance types");
        let t = catalog
            .get(&instance_type)
            .expect("a type the catalog knows");
        let zone = first(&requirements, "topology.kubernetes.io/zone")
            .unwrap_or_else(|| "ap-southeast-1a".into());
        let capacity_type = first(&requirements, "karpenter.sh/capacity-type")
            .unwrap_or_else(|| "on-demand".into());
        let node = format!("{name}.launched");
        let mut labels: Map<String, Value> = claim
            .metadata
            .labels
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        for (k, v) in [
            ("kubernetes.io/hostname", node.as_str()),
            ("kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", t.arch.as_str()),
            ("node.kubernetes.io/instance-type", &instance_type),
            ("topology.kubernetes.io/zone", &zone),
            ("karpenter.sh/capacity-type", &capacity_type),
            ("karpenter.sh/registered", "true"),
            ("karpenter.sh/initialized", "true"),
        ] {
            labels.insert(k.into(), json!(v));
        }
        let provider_id = format!("aws:///{zone}/i-{:017x}", made.len() as u64 + 0xabc0);
        let capacity = json!({
            "cpu": t.vcpus.to_string(),
            "memory": format!("{}Mi", t.memory_mib),
            "pods": "110",
        });
        rig.kubelets
            .register(&json!({
                "metadata": {"name": node, "labels": labels},
                "spec": {"providerID": provider_id},
                "status": {"capacity": capacity, "allocatable": capacity},
            }))
            .await;
        let now = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
        let condition = |kind: &str| {
            json!({"type": kind, "status": "True", "lastTransitionTime": now,
                   "reason": kind, "message": ""})
        };
        let conditions: Vec<Value> = ["Launched", "Registered", "Initialized", "Ready"]
            .into_iter()
            .map(condition)
            .collect();
        let status = json!({"status": {
            "providerID": provider_id,
            "nodeName": node,
            "capacity": capacity,
            "allocatable": capacity,
            "conditions": conditions,
        }});
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .unwrap_or_else(|e| panic!("launch nodeclaim {name}: {e}"));
        made.push(node);
    }
    made
}
