//! The NodeClaim karpdeck creates for a planned claim, written as Karpenter's provisioner
//! writes its own: named after its NodePool (`generateName`), labelled and owned by it, the
//! NodePool's template (labels, taints, node class, expiry) with the claim's requirements — the
//! instance types narrowed to the plan's — and the requests of the pods it is for.

use serde_json::{json, Value};

use crate::engine::launch::NodeClaimPlan;
use crate::engine::plan::requests_json;
use crate::k8s::constraints::{requirements_json, taints_json};
use crate::model::duration::format_duration;
use crate::model::{labels, NodePool, NodePoolApi, Requirement};

/// The annotation naming the karpdeck plan that made a NodeClaim (for the journal and for
/// telling the operator's launches from Karpenter's).
pub const PLAN_ANNOTATION: &str = "karpdeck.io/plan";

/// The group and version of the NodeClaims that go with a NodePool of this API.
pub fn claim_api_version(api: NodePoolApi) -> Result<&'static str, String> {
    match api {
        NodePoolApi::V1 => Ok("karpenter.sh/v1"),
        NodePoolApi::V1beta1 => Ok("karpenter.sh/v1beta1"),
        NodePoolApi::V1alpha5Provisioner => {
            Err("a v1alpha5 Provisioner, whose Machines karpdeck does not create".into())
        }
    }
}

/// The NodeClaim for `plan` from `pool` (whose object has UID `pool_uid`), made by karpdeck
/// plan `plan_id`; refused for what karpdeck cannot create.
pub fn manifest(
    pool: &NodePool,
    pool_uid: &str,
    plan: &NodeClaimPlan,
    plan_id: &str,
) -> Result<Value, String> {
    let api_version = claim_api_version(pool.api)?;
    let class = pool.node_class.as_deref().ok_or_else(|| {
        format!(
            "nodepool {} names no node class: a NodeClaim needs one",
            pool.name
        )
    })?;
    let node_class_ref = match pool.api {
        NodePoolApi::V1 => {
            json!({"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": class})
        }
        _ => {
            json!({"apiVersion": "karpenter.k8s.aws/v1beta1", "kind": "EC2NodeClass", "name": class})
        }
    };
    let mut requirements = plan.claim.requirements.clone();
    // Karpenter writes the instance types it would launch (at most 60, cheapest first).
    requirements.add(
        labels::INSTANCE_TYPE,
        Requirement::in_values(plan.launch.instance_types.iter().cloned()),
    );
    let mut claim_labels = pool.labels.clone();
    claim_labels.insert(labels::NODEPOOL.to_string(), pool.name.clone());
    let mut spec = json!({
        "nodeClassRef": node_class_ref,
        "requirements": requirements_json(&requirements),
        "resources": {"requests": requests_json(&plan.claim.requests)},
    });
    if !pool.taints.is_empty() {
        spec["taints"] = json!(taints_json(&pool.taints));
    }
    if !pool.startup_taints.is_empty() {
        spec["startupTaints"] = json!(taints_json(&pool.startup_taints));
    }
    if pool.api == NodePoolApi::V1 {
        // v1 keeps expiry and the drain deadline on the NodeClaim.
        if let Some(e) = pool.expire_after {
            spec["expireAfter"] = json!(format_duration(e));
        }
        if let Some(g) = pool.termination_grace_period {
            spec["terminationGracePeriod"] = json!(format_duration(g));
        }
    }
    Ok(json!({
        "apiVersion": api_version,
        "kind": "NodeClaim",
        "metadata": {
            "generateName": format!("{}-", pool.name),
            "labels": claim_labels,
            "annotations": {PLAN_ANNOTATION: plan_id},
            "ownerReferences": [{
                "apiVersion": api_version,
                "kind": "NodePool",
                "name": pool.name,
                "uid": pool_uid,
                "blockOwnerDeletion": true,
            }],
        },
        "spec": spec,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::plan::{plan, Strategy};
    use crate::engine::scheduling::Options;
    use crate::scenario::{load_str, LoadOptions, ScaleSpec};

    #[test]
    fn a_lab_nodeclaim_reads_as_karpenter_writes_it() {
        let options = LoadOptions {
            scales: vec![ScaleSpec {
                namespace: "nlb-app-karpenter".into(),
                name: "nginx-deployment".into(),
                replicas: 6,
            }],
            ..LoadOptions::default()
        };
        let loaded = load_str(
            "lab",
            crate::sim::DEMO_SCENARIO,
            &options,
            crate::catalog::Catalog::embedded(),
        )
        .unwrap();
        let s = &loaded.snapshot;
        let planned = plan(s, Strategy::Karpenter, &Options::default());
        let c = &planned.nodeclaims[0];
        let provisioner = s.nodepool(&c.claim.nodepool).unwrap();
        assert!(manifest(provisioner, "uid", c, "p1").is_err());
        let mut pool = provisioner.clone();
        pool.api = NodePoolApi::V1;
        pool.node_class = Some("default".into());
        let m = manifest(&pool, "uid-1", c, "p1").unwrap();
        assert_eq!(m["apiVersion"], "karpenter.sh/v1");
        assert_eq!(m["metadata"]["generateName"], "default-");
        assert_eq!(m["metadata"]["labels"]["karpenter.sh/nodepool"], "default");
        assert_eq!(m["metadata"]["ownerReferences"][0]["uid"], "uid-1");
        assert_eq!(
            m["spec"]["nodeClassRef"],
            json!({"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"})
        );
        let reqs = m["spec"]["requirements"].as_array().unwrap();
        let values = |key: &str| {
            reqs.iter()
                .find(|r| r["key"] == key)
                .map(|r| r["values"].clone())
                .unwrap_or_else(|| panic!("no {key} in {reqs:?}"))
        };
        // The Provisioner's own requirements stay: arm64 Spot.
        assert_eq!(values("kubernetes.io/arch"), json!(["arm64"]));
        assert_eq!(values("karpenter.sh/capacity-type"), json!(["spot"]));
        let mut types = c.launch.instance_types.clone();
        types.sort();
        assert_eq!(values("node.kubernetes.io/instance-type"), json!(types));
        assert_eq!(
            m["spec"]["resources"]["requests"],
            json!(requests_json(&c.claim.requests))
        );
    }
}
