//! A live cluster as the workflow and the console see it: the watchers' store, whose snapshot
//! changes in place with each watch event, and the wall clock. karpdeck observes it (the
//! workflow shows what Karpenter would do next) and acts on it, on the operator's approval,
//! through [`super::act`]: cordon, evictions by UID, NodeClaims created and deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::act::{Actor, Ask};
use super::lever::Unchanged;
use super::watch::Watching;
use super::{Connection, Contexts, LiveError, Target};
use crate::catalog::Catalog;
use crate::control::{
    Cluster, ClusterEvent, EventKind, Notice, OfferingKey, Permission, Pool, PoolSignals,
    SourceHealth,
};
use crate::engine::drain::DrainOptions;
use crate::engine::launch::NodeClaimPlan;
use crate::exec::backend::pods_to_move;
use crate::exec::{Backend, BackendError, BoundPod, ClaimState, Eviction};
use crate::model::{HoldChange, Snapshot};

/// Events kept for the console (Karpenter's and the workflow's), newest last.
const MAX_EVENTS: usize = 5000;

/// How often Karpenter makes a pass (its batch window is 10 s at most).
const PASS_INTERVAL: i64 = 10;

/// A live cluster, observed.
pub struct LiveCluster {
    /// The watchers' runtime: watchers run there, whatever thread reads the cluster.
    runtime: Option<tokio::runtime::Runtime>,
    /// The kubeconfig, for `:ctx`.
    contexts: Contexts,
    watching: Watching,
    conn: Connection,
    catalog: Arc<Catalog>,
    started: DateTime<Utc>,
    events: Vec<ClusterEvent>,
    unavailable: BTreeMap<OfferingKey, DateTime<Utc>>,
    no_signals: BTreeMap<Pool, PoolSignals>,
    /// What the user may not do through this context, asked when it was connected.
    denied: BTreeSet<Permission>,
    /// The API calls that act on it (or why there are none: no Eviction API).
    actor: Result<Actor, String>,
    /// Pods evicted through it, by (pod key, node): the UID that must go.
    evicted: BTreeMap<(String, String), String>,
}

impl std::fmt::Debug for LiveCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCluster")
            .field("context", &self.conn.context)
            .finish()
    }
}

impl LiveCluster {
    /// Connect to the cluster (discovery waits at most [`super::DISCOVERY_TIMEOUT`]) and start
    /// watching it on a runtime of its own; the console then opens and shows each source
    /// syncing.
    pub fn open(target: &Target, catalog: Arc<Catalog>) -> Result<Self, LiveError> {
        let contexts = Contexts::read(target)?;
        let context = contexts.resolve(target.context.as_deref())?;
        let runtime = super::runtime()?;
        let (conn, watching, denied, actor) =
            runtime.block_on(watch(&contexts, &context, catalog.clone()))?;
        Ok(Self {
            runtime: Some(runtime),
            contexts,
            watching,
            conn,
            catalog,
            started: Utc::now(),
            events: Vec::new(),
            unavailable: BTreeMap::new(),
            no_signals: BTreeMap::new(),
            denied,
            actor,
            evicted: BTreeMap::new(),
        })
    }

    /// The context being watched.
    pub fn context(&self) -> &str {
        &self.conn.context
    }

    /// NodePool `name` as the watchers have it now, or that it is gone.
    fn nodepool(&self, name: &str) -> Result<crate::model::NodePool, BackendError> {
        self.snapshot()
            .nodepool(name)
            .cloned()
            .ok_or_else(|| BackendError(format!("nodepool {name} is gone")))
    }

    /// The API calls that act on the cluster, or why the server offers none.
    fn actor(&self) -> Result<&Actor, BackendError> {
        self.actor
            .as_ref()
            .map_err(|why| BackendError(format!("context {}: {why}", self.conn.context)))
    }
}

/// A context connected to: its connection, its watchers, and what the user may not do there.
type Connected = (
    Connection,
    Watching,
    BTreeSet<Permission>,
    Result<Actor, String>,
);

/// Connect through `context`, ask what the user may not do there, and start a watcher per
/// source the server serves.
async fn watch(
    contexts: &Contexts,
    context: &str,
    catalog: Arc<Catalog>,
) -> Result<Connected, LiveError> {
    let conn = contexts.connect(context).await?;
    let sources = super::discover(&conn).await?;
    // Bounded like discovery: a server that never answers must not hang a context switch.
    let limit = super::DISCOVERY_TIMEOUT;
    let denied = tokio::time::timeout(limit, super::access::denied(&conn.client))
        .await
        .unwrap_or_default();
    let actor = match tokio::time::timeout(limit, Actor::new(&conn)).await {
        Ok(actor) => actor.map_err(|e| e.0),
        Err(_) => Err(format!(
            "the server did not list its Eviction API within {} s",
            limit.as_secs()
        )),
    };
    let watching = Watching::start(&conn, sources, catalog);
    Ok((conn, watching, denied, actor))
}

impl Drop for LiveCluster {
    fn drop(&mut self) {
        // Dropped on the console's cluster thread, inside its runtime: stop without blocking.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Cluster for LiveCluster {
    fn snapshot(&self) -> &Snapshot {
        self.watching.store.snapshot()
    }

    fn tally(&self) -> std::borrow::Cow<'_, crate::model::PodTally> {
        std::borrow::Cow::Borrowed(self.watching.store.tally())
    }

    fn started(&self) -> DateTime<Utc> {
        self.started
    }

    fn events(&self) -> &[ClusterEvent] {
        &self.events
    }

    fn events_mut(&mut self) -> &mut Vec<ClusterEvent> {
        &mut self.events
    }

    fn notices(&self) -> &[Notice] {
        &[]
    }

    fn pool_signals(&self) -> &BTreeMap<Pool, PoolSignals> {
        &self.no_signals
    }

    fn spot_price(&self, instance_type: &str, zone: &str) -> Option<f64> {
        crate::engine::launch::offering_price(
            self.snapshot(),
            instance_type,
            Some(zone),
            crate::model::node::CapacityType::Spot,
        )
    }

    fn spot_price_history(&self, _instance_type: &str, _zone: &str) -> &[(DateTime<Utc>, f64)] {
        &[]
    }

    fn rebalance_recommended(&self, _node: &str) -> bool {
        false
    }

    fn mark_unavailable(&mut self, key: OfferingKey) {
        self.unavailable.insert(
            key.clone(),
            Utc::now() + crate::engine::interruption::UNAVAILABLE_FOR,
        );
        self.watching
            .store
            .snapshot_mut()
            .unavailable_offerings
            .insert(key);
    }

    fn pass_interval(&self) -> Duration {
        Duration::seconds(PASS_INTERVAL)
    }

    fn launching(&self) -> bool {
        self.snapshot()
            .nodeclaims
            .iter()
            .any(|c| c.node_name.is_none() || !c.initialized)
    }

    fn supervise(&mut self) {
        // Pausing a live Karpenter (its NodePools' budgets and limits) comes with acting on
        // live clusters; until then the console only observes (Supervisor::observing), and
        // an approval is refused as read-only.
    }

    fn refresh(&mut self) -> bool {
        let changed = self.watching.pump();
        for e in self.watching.store.take_fresh_events() {
            let time = e.time.unwrap_or_else(Utc::now);
            self.events.push(ClusterEvent {
                seconds: (time - self.started).num_milliseconds() as f64 / 1000.0,
                time,
                kind: EventKind::Karpenter,
                message: format!("{} {}: {}", e.reason, e.object, e.message),
                objects: vec![e.object],
            });
        }
        if self.events.len() > MAX_EVENTS {
            // A long session keeps the newest.
            self.events.drain(..self.events.len() - MAX_EVENTS);
        }
        let now = Utc::now();
        let before = self.unavailable.len();
        self.unavailable.retain(|_, until| *until > now);
        let expired = self.unavailable.len() != before;
        if !changed && !expired {
            return false;
        }
        let snapshot = self.watching.store.snapshot_mut();
        if changed {
            // Finished in place as a one-shot read is, less the missing replicas of
            // workloads: their controllers make the pods within moments, and the console
            // shows what is there.
            snapshot.link_pdbs();
            if let Some(region) = crate::scenario::infer_region(snapshot) {
                snapshot.region = region;
            }
        }
        snapshot.unavailable_offerings = self.unavailable.keys().cloned().collect();
        true
    }

    fn sources(&self) -> Vec<SourceHealth> {
        let store = &self.watching.store;
        store
            .statuses()
            .map(|s| SourceHealth {
                name: s.kind.name().to_string(),
                objects: store.len(s.kind),
                refused: store.refused_count(s.kind),
                state: s.state.clone(),
                last_event: s.last_event,
            })
            .collect()
    }

    fn contexts(&self) -> Vec<String> {
        self.contexts.names()
    }

    fn switch_context(&mut self, name: &str) -> Result<(), String> {
        let context = self
            .contexts
            .resolve(Some(name))
            .map_err(|e| e.to_string())?;
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| "the watchers' runtime has stopped".to_string())?;
        // Called from the console's cluster thread, inside its own runtime: the watchers'
        // runtime is driven from a thread of its own for the connection.
        let contexts = &self.contexts;
        let (conn, watching, denied, actor) = std::thread::scope(|s| {
            s.spawn(|| runtime.block_on(watch(contexts, &context, self.catalog.clone())))
                .join()
                .unwrap_or_else(|_| {
                    Err(LiveError::Api {
                        context: context.clone(),
                        what: "connecting".into(),
                        message: "the connection thread failed".into(),
                    })
                })
        })
        .map_err(|e| e.to_string())?;
        // The old watchers stop as they are dropped.
        self.watching = watching;
        self.conn = conn;
        self.denied = denied;
        self.actor = actor;
        self.evicted.clear();
        self.unavailable.clear();
        self.started = Utc::now();
        self.events.clear();
        Ok(())
    }

    fn synced(&self) -> bool {
        self.watching.store.synced()
    }

    fn karpenter_present(&self) -> Option<bool> {
        Some(self.watching.store.has_karpenter())
    }

    fn hold_refusal(&self) -> Option<String> {
        self.actor
            .as_ref()
            .err()
            .map(|why| format!("context {}: {why}", self.conn.context))
    }

    fn denied(&self) -> BTreeSet<Permission> {
        self.denied.clone()
    }

    fn launch_refusal(&self, pool: &str) -> Option<String> {
        let pool = self.snapshot().nodepool(pool)?;
        super::claim::claim_api_version(pool.api)
            .err()
            .map(|why| format!("nodepool {} is {why}", pool.name))
    }
}

impl Backend for LiveCluster {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn context(&self) -> String {
        self.conn.context.clone()
    }

    async fn create_nodeclaim(
        &mut self,
        plan: &str,
        claim: &NodeClaimPlan,
    ) -> Result<String, BackendError> {
        let pool = self.nodepool(&claim.claim.nodepool)?;
        self.actor()?.create_nodeclaim(&pool, claim, plan).await
    }

    async fn nodeclaim_state(&mut self, claim: &str) -> Result<ClaimState, BackendError> {
        self.refresh();
        Ok(
            match self.snapshot().nodeclaims.iter().find(|c| c.name == claim) {
                None => ClaimState::Gone,
                Some(c) => match (&c.node_name, c.initialized) {
                    (Some(node), true) => ClaimState::Ready { node: node.clone() },
                    _ => ClaimState::Pending,
                },
            },
        )
    }

    async fn set_unschedulable(
        &mut self,
        node: &str,
        unschedulable: bool,
    ) -> Result<bool, BackendError> {
        self.actor()?.set_unschedulable(node, unschedulable).await
    }

    async fn pods_to_move(
        &mut self,
        node: &str,
        options: &DrainOptions,
    ) -> Result<Vec<BoundPod>, BackendError> {
        self.refresh();
        Ok(pods_to_move(self.snapshot(), node, options))
    }

    async fn evict(
        &mut self,
        pod: &str,
        node: &str,
        bypass_pdbs: bool,
    ) -> Result<Eviction, BackendError> {
        let (namespace, name) = pod
            .split_once('/')
            .ok_or_else(|| BackendError(format!("{pod}: not namespace/name")))?;
        let actor = self.actor()?.clone();
        // The pod on that node as the server has it now: the eviction (or deletion) is for
        // that one only, by UID, and it is gone when that UID is.
        let Some(uid) = actor.pod_on(namespace, name, node).await? else {
            return Ok(Eviction::NotFound);
        };
        let ask = Ask {
            uid: Some(&uid),
            ..Ask::default()
        };
        let answer = if bypass_pdbs {
            actor.delete_pod(namespace, name, &ask).await?
        } else {
            actor.evict(namespace, name, &ask).await?
        };
        if answer == Eviction::Accepted {
            self.evicted
                .insert((pod.to_string(), node.to_string()), uid);
        }
        Ok(answer)
    }

    async fn pod_gone(&mut self, pod: &str, node: &str) -> Result<bool, BackendError> {
        let key = (pod.to_string(), node.to_string());
        if let (Some(uid), Some((namespace, name))) = (self.evicted.get(&key), pod.split_once('/'))
        {
            let gone = self.actor()?.pod_gone(namespace, name, uid).await?;
            if gone {
                self.evicted.remove(&key);
            }
            return Ok(gone);
        }
        self.refresh();
        Ok(!self
            .snapshot()
            .pods
            .iter()
            .any(|p| p.node_name.as_deref() == Some(node) && p.key() == pod))
    }

    async fn delete_node(&mut self, node: &str) -> Result<(), BackendError> {
        // A Karpenter node goes with its NodeClaim: Karpenter's finalizer drains what is
        // left and terminates the instance. Any other node is only drained.
        let s = self.snapshot();
        // A NodeClaim already going (node names come back with reused IPs) is not this one.
        let claim = s
            .nodeclaims
            .iter()
            .filter(|c| c.node_name.as_deref() == Some(node))
            .min_by_key(|c| c.deleting)
            .ok_or_else(|| {
                BackendError(format!(
                    "{node} has no NodeClaim: karpdeck removes only Karpenter's nodes (it stays cordoned and drained)"
                ))
            })?;
        let api = claim
            .nodepool
            .as_deref()
            .and_then(|p| s.nodepool(p))
            .map_or(crate::model::NodePoolApi::V1, |p| p.api);
        let name = claim.name.clone();
        self.actor()?.delete_nodeclaim(api, &name).await?;
        Ok(())
    }

    async fn node_gone(&mut self, node: &str) -> Result<bool, BackendError> {
        self.refresh();
        Ok(!self.snapshot().nodes.iter().any(|n| n.name == node))
    }

    async fn set_disrupted(&mut self, node: &str, on: bool) -> Result<bool, BackendError> {
        self.actor()?.set_disrupted(node, on).await
    }

    async fn change_hold(
        &mut self,
        pool: &str,
        change: &HoldChange,
    ) -> Result<String, BackendError> {
        let pool = self.nodepool(pool)?;
        Ok(match self.actor()?.change_hold(&pool, change).await? {
            Ok(edit) => format!("{} → {}", edit.before.describe(), edit.after.describe()),
            Err(Unchanged::AlreadyHeld(h)) => {
                format!(
                    "already {} by {} since {}",
                    h.kind.as_str(),
                    h.by,
                    h.since.format("%H:%M:%S")
                )
            }
            Err(Unchanged::NotHeld(kind)) => format!("was not {}", kind.as_str()),
        })
    }
}
