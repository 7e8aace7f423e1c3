//! What karpdeck does to a live cluster, one API call each: cordon and uncordon, evict through
//! the Eviction API at the version the server offers (with the delete options actually
//! delivered), delete a pod, and tell whether a particular pod (by UID) is gone. The kube
//! executor backend is built on these; each call returns at once, as backend calls do.

use ::kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
    Preconditions,
};
use ::kube::Client;
use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{json, Value};

use std::collections::BTreeMap;

use super::claim::{claim_api_version, manifest};
use super::connect::error_text;
use super::lever::{self, Edit, Unchanged};
use super::Connection;
use crate::engine::launch::NodeClaimPlan;
use crate::exec::{BackendError, Eviction};
use crate::model::{labels, HoldChange, HoldKind, NodePool, NodePoolApi, Quantity, Resources};

/// The Eviction API's `apiVersion` a server offers for `pods/eviction`: `policy/v1` from
/// Kubernetes 1.22, `policy/v1beta1` before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvictionVersion(pub String);

impl EvictionVersion {
    /// Ask the server, as kubectl's drain does: the `pods/eviction` entry of the core API's
    /// resource list names the group and version it decodes evictions as.
    pub async fn discover(client: &Client) -> Result<Self, BackendError> {
        let resources = client
            .list_core_api_resources("v1")
            .await
            .map_err(|e| BackendError(format!("cannot list the core API: {}", error_text(&e))))?;
        let eviction = resources
            .resources
            .iter()
            .find(|r| r.name == "pods/eviction")
            .ok_or_else(|| {
                BackendError("the server offers no Eviction API (pods/eviction)".into())
            })?;
        // Servers before 1.8 leave these empty; every server since names policy.
        let group = eviction.group.as_deref().unwrap_or("policy");
        let version = eviction.version.as_deref().unwrap_or("v1beta1");
        Ok(Self(format!("{group}/{version}")))
    }
}

/// How an eviction (or deletion) asks for a pod to go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ask<'a> {
    /// Only the pod with this UID: a new pod of the same name is another pod.
    pub uid: Option<&'a str>,
    /// The grace period; the pod's own when `None`.
    pub grace_seconds: Option<i64>,
    /// Ask the server whether it would accept, changing nothing (`dryRun=All`: the budgets are
    /// still checked).
    pub dry_run: bool,
}

impl Ask<'_> {
    /// The request's `DeleteOptions`, as the API spells them.
    fn delete_options(&self) -> Value {
        let mut options = json!({});
        if let Some(uid) = self.uid {
            options["preconditions"] = json!({ "uid": uid });
        }
        if let Some(grace) = self.grace_seconds {
            options["gracePeriodSeconds"] = json!(grace);
        }
        if self.dry_run {
            options["dryRun"] = json!(["All"]);
        }
        options
    }
}

/// The API calls that act on one cluster.
#[derive(Clone)]
pub struct Actor {
    client: Client,
    eviction: EvictionVersion,
}

impl Actor {
    /// An actor on the connection's cluster (through its client that does not retry by
    /// itself), evicting at the version the server offers.
    pub async fn new(conn: &Connection) -> Result<Self, BackendError> {
        let client = conn.acting.clone();
        let eviction = EvictionVersion::discover(&client).await?;
        Ok(Self { client, eviction })
    }

    /// The Eviction API version in use.
    pub fn eviction_version(&self) -> &EvictionVersion {
        &self.eviction
    }

    /// Set or clear the node's `spec.unschedulable`; `false` if there is no such node.
    pub async fn set_unschedulable(
        &self,
        node: &str,
        unschedulable: bool,
    ) -> Result<bool, BackendError> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let patch = json!({ "spec": { "unschedulable": unschedulable } });
        match nodes
            .patch(node, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if status_code(&e) == Some(404) => Ok(false),
            Err(e) => Err(failed(&format!("cordon {node}"), &e)),
        }
    }

    /// Evict a pod through the Eviction API. The body is built here rather than by kube-rs's
    /// `Api::evict`, whose delete options travel under a key the server ignores (so a grace
    /// period or UID precondition would silently not apply).
    pub async fn evict(
        &self,
        namespace: &str,
        name: &str,
        ask: &Ask<'_>,
    ) -> Result<Eviction, BackendError> {
        let body = json!({
            "apiVersion": self.eviction.0,
            "kind": "Eviction",
            "metadata": { "name": name, "namespace": namespace },
            "deleteOptions": ask.delete_options(),
        });
        let dry_run = if ask.dry_run { "?dryRun=All" } else { "" };
        let request = http::Request::post(format!(
            "/api/v1/namespaces/{namespace}/pods/{name}/eviction{dry_run}"
        ))
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(&body).expect("a JSON value serializes"))
        .map_err(|e| BackendError(format!("evict {namespace}/{name}: {e}")))?;
        match self.client.request::<Value>(request).await {
            Ok(_) => Ok(Eviction::Accepted),
            Err(e) => answer(&format!("evict {namespace}/{name}"), &e),
        }
    }

    /// Delete a pod outright (no budget is asked: `--disable-eviction`).
    pub async fn delete_pod(
        &self,
        namespace: &str,
        name: &str,
        ask: &Ask<'_>,
    ) -> Result<Eviction, BackendError> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let params = DeleteParams {
            grace_period_seconds: ask.grace_seconds.map(|g| g.max(0) as u32),
            preconditions: ask.uid.map(|uid| Preconditions {
                uid: Some(uid.to_string()),
                resource_version: None,
            }),
            dry_run: ask.dry_run,
            ..DeleteParams::default()
        };
        match pods.delete(name, &params).await {
            Ok(_) => Ok(Eviction::Accepted),
            Err(e) => answer(&format!("delete {namespace}/{name}"), &e),
        }
    }

    /// Create the NodeClaim for `plan` from `pool`, made by karpdeck plan `plan_id`, as
    /// Karpenter would (its NodePool owns it); returns the name the server gave it.
    pub async fn create_nodeclaim(
        &self,
        pool: &NodePool,
        plan: &NodeClaimPlan,
        plan_id: &str,
    ) -> Result<String, BackendError> {
        let api_version = claim_api_version(pool.api).map_err(BackendError)?;
        let pools: Api<DynamicObject> = Api::all_with(
            self.client.clone(),
            &karpenter(api_version, "NodePool", "nodepools"),
        );
        let owner = pools
            .get(&pool.name)
            .await
            .map_err(|e| failed(&format!("read nodepool {}", pool.name), &e))?;
        let uid = owner.metadata.uid.unwrap_or_default();
        let object = manifest(pool, &uid, plan, plan_id).map_err(BackendError)?;
        let claim: DynamicObject = serde_json::from_value(object)
            .map_err(|e| BackendError(format!("nodeclaim for {}: {e}", pool.name)))?;
        let created = self
            .nodeclaims(api_version)
            .create(&PostParams::default(), &claim)
            .await
            .map_err(|e| failed(&format!("create a nodeclaim from {}", pool.name), &e))?;
        created
            .metadata
            .name
            .ok_or_else(|| BackendError("the server named no nodeclaim".into()))
    }

    /// Delete a NodeClaim (Karpenter's finalizer then drains and terminates its instance);
    /// `false` if it was already gone.
    pub async fn delete_nodeclaim(
        &self,
        api: NodePoolApi,
        name: &str,
    ) -> Result<bool, BackendError> {
        let api_version = claim_api_version(api).map_err(BackendError)?;
        match self
            .nodeclaims(api_version)
            .delete(name, &DeleteParams::default())
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if status_code(&e) == Some(404) => Ok(false),
            Err(e) => Err(failed(&format!("delete nodeclaim {name}"), &e)),
        }
    }

    /// The NodeClaims at `api_version`.
    fn nodeclaims(&self, api_version: &str) -> Api<DynamicObject> {
        Api::all_with(
            self.client.clone(),
            &karpenter(api_version, "NodeClaim", "nodeclaims"),
        )
    }

    /// Put Karpenter's `karpenter.sh/disrupted:NoSchedule` taint on the node, or take it off;
    /// `false` if there is no such node. The taint list is replaced whole (taints have no merge
    /// key), so the patch first tests the node's resourceVersion: a node changed meanwhile is
    /// read again rather than overwritten.
    pub async fn set_disrupted(&self, node: &str, on: bool) -> Result<bool, BackendError> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let what = format!("taint {node}");
        let mut attempts = 0;
        loop {
            attempts += 1;
            let Some(n) = nodes
                .get_opt(node)
                .await
                .map_err(|e| failed(&format!("read node {node}"), &e))?
            else {
                return Ok(false);
            };
            let taints = n
                .spec
                .as_ref()
                .and_then(|s| s.taints.clone())
                .unwrap_or_default();
            let mut wanted: Vec<Value> = taints
                .iter()
                .filter(|t| t.key != labels::DISRUPTED_TAINT)
                .map(|t| serde_json::to_value(t).unwrap_or_default())
                .collect();
            if on {
                wanted.push(json!({"key": labels::DISRUPTED_TAINT, "effect": "NoSchedule"}));
            }
            if wanted.len() == taints.len()
                && on == taints.iter().any(|t| t.key == labels::DISRUPTED_TAINT)
            {
                return Ok(true);
            }
            let patch = json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": n.metadata.resource_version},
                {"op": "add", "path": "/spec/taints", "value": wanted},
            ]);
            let patch: json_patch::Patch =
                serde_json::from_value(patch).map_err(|e| BackendError(e.to_string()))?;
            match nodes
                .patch(node, &PatchParams::default(), &Patch::<()>::Json(patch))
                .await
            {
                Ok(_) => return Ok(true),
                Err(e) if status_code(&e) == Some(404) => return Ok(false),
                Err(e) if matches!(status_code(&e), Some(409 | 422)) && attempts < 3 => {}
                Err(e) => return Err(failed(&what, &e)),
            }
        }
    }

    /// Take or release a hold on NodePool `pool` (see [`super::lever`]). A pool changed
    /// between the read and the patch is read again, a few times, rather than overwritten.
    pub async fn change_hold(
        &self,
        pool: &NodePool,
        change: &HoldChange,
    ) -> Result<Result<Edit, Unchanged>, BackendError> {
        let api_version = claim_api_version(pool.api).map_err(BackendError)?;
        let pools: Api<DynamicObject> = Api::all_with(
            self.client.clone(),
            &karpenter(api_version, "NodePool", "nodepools"),
        );
        let what = format!("change nodepool {}", pool.name);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let object = pools
                .get(&pool.name)
                .await
                .map_err(|e| failed(&format!("read nodepool {}", pool.name), &e))?;
            let object = serde_json::to_value(&object).map_err(|e| BackendError(e.to_string()))?;
            // karpdeck's own count only where supervision pins limits and Karpenter has not
            // published the pool's usage.
            let published = ["cpu", "memory"]
                .iter()
                .all(|r| object.pointer(&format!("/status/resources/{r}")).is_some());
            let pinning = matches!(change, HoldChange::Take(h) if h.kind == HoldKind::Supervise);
            let counted = if pinning && !published {
                self.usage(&pool.name).await?
            } else {
                BTreeMap::new()
            };
            let edit = match lever::edit(&object, change, &counted).map_err(BackendError)? {
                Ok(edit) => edit,
                unchanged => return Ok(unchanged),
            };
            let patch: json_patch::Patch = serde_json::from_value(edit.patch.clone())
                .map_err(|e| BackendError(e.to_string()))?;
            match pools
                .patch(
                    &pool.name,
                    &PatchParams::default(),
                    &Patch::<()>::Json(patch),
                )
                .await
            {
                Ok(_) => return Ok(Ok(edit)),
                // The resourceVersion test failed: someone changed the pool meanwhile.
                Err(e) if matches!(status_code(&e), Some(409 | 422)) && attempts < 3 => {}
                Err(e) => return Err(failed(&what, &e)),
            }
        }
    }

    /// What NodePool `pool`'s nodes have, added up (cpu, memory), as karpdeck's count of its
    /// usage where Karpenter has not published one.
    async fn usage(&self, pool: &str) -> Result<BTreeMap<String, String>, BackendError> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let list = nodes
            .list(&ListParams::default().labels(&format!("{}={pool}", labels::NODEPOOL)))
            .await
            .map_err(|e| failed(&format!("list the nodes of nodepool {pool}"), &e))?;
        let mut total = Resources::default();
        for node in list.items {
            for (r, q) in node.status.and_then(|s| s.capacity).unwrap_or_default() {
                if let Ok(q) = Quantity::parse(&q.0) {
                    let mut one = Resources::default();
                    one.set(&r, &q);
                    total.add_assign(&one);
                }
            }
        }
        Ok(total.to_quantity_map())
    }

    /// The UID of the pod of that name if it is bound to `node` now: a pod of the same name
    /// elsewhere (a StatefulSet's, recreated) is another pod.
    pub async fn pod_on(
        &self,
        namespace: &str,
        name: &str,
        node: &str,
    ) -> Result<Option<String>, BackendError> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        match pods.get_opt(name).await {
            Ok(pod) => Ok(pod
                .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
                .and_then(|p| p.metadata.uid)),
            Err(e) => Err(failed(&format!("read {namespace}/{name}"), &e)),
        }
    }

    /// The UID of the pod of that name now, if there is one.
    pub async fn pod_uid(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<String>, BackendError> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        match pods.get_metadata_opt(name).await {
            Ok(pod) => Ok(pod.and_then(|p| p.metadata.uid)),
            Err(e) => Err(failed(&format!("read {namespace}/{name}"), &e)),
        }
    }

    /// Whether the pod with that UID is gone (finished its grace period and was removed); a new
    /// pod of the same name is not it.
    pub async fn pod_gone(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
    ) -> Result<bool, BackendError> {
        Ok(self.pod_uid(namespace, name).await?.as_deref() != Some(uid))
    }
}

/// A Karpenter resource (`karpenter.sh/…`) at `api_version`.
fn karpenter(api_version: &str, kind: &str, plural: &str) -> ApiResource {
    let (group, version) = api_version
        .split_once('/')
        .unwrap_or(("karpenter.sh", api_version));
    ApiResource {
        group: group.to_string(),
        version: version.to_string(),
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        plural: plural.to_string(),
    }
}

/// The HTTP status of an API error, if the server answered.
fn status_code(e: &::kube::Error) -> Option<u16> {
    match e {
        ::kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// A call that failed, on one line: what was asked and why.
fn failed(what: &str, e: &::kube::Error) -> BackendError {
    BackendError(format!("{what}: {}", error_text(e)))
}

/// What an eviction's (or deletion's) refusal means. 429 is a PodDisruptionBudget that allows
/// no more disruptions now (or whose status is not yet current), 500 a pod under several
/// budgets: both are retried (any other 500 is a failure). 404 is a pod already gone, and a
/// 409 for a UID precondition that no longer holds means the pod asked for is gone, whatever
/// bears its name now.
fn answer(what: &str, e: &::kube::Error) -> Result<Eviction, BackendError> {
    let text = error_text(e);
    match status_code(e) {
        Some(429) => Ok(Eviction::Refused(text)),
        Some(500) if text.contains("PodDisruptionBudget") => Ok(Eviction::Refused(text)),
        Some(404) => Ok(Eviction::NotFound),
        // A UID precondition that no longer holds; any other conflict (a budget's status
        // updated meanwhile) is asked again.
        Some(409) if text.to_ascii_lowercase().contains("precondition") => Ok(Eviction::NotFound),
        Some(409) => Ok(Eviction::Refused(text)),
        _ => Err(failed(what, e)),
    }
}
