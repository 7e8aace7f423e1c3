//! NodeClaim templates: per NodePool, the requirements, taints, limits and the instance types (with
//! allocatable, daemon overhead and offerings) a new NodeClaim could use.

use crate::catalog::{NodeSettings, Offering, PodDensity};
use crate::model::labels;
use crate::model::taints::first_untolerated;
use crate::model::{
    DaemonSet, LimitBreach, Limits, NodePool, Requirement, Requirements, Resources, Snapshot,
    Taint, TaintEffect,
};

/// One instance type as a template offers it.
#[derive(Debug, Clone)]
pub struct TemplateType {
    /// Index into the catalog's types.
    pub catalog_index: usize,
    /// Type name.
    pub name: String,
    /// The type's labels as requirements (zone and capacity type come from `offerings`).
    pub labels: Requirements,
    /// Capacity, for limits.
    pub capacity: Resources,
    /// Allocatable.
    pub allocatable: Resources,
    /// Requests of the DaemonSets whose pods would run on such a node, incl. their pod slots.
    pub daemon_overhead: Resources,
    /// Purchasable offerings in the region.
    pub offerings: Vec<Offering>,
}

impl TemplateType {
    /// Whether the type's labels allow `reqs` (zone and capacity type are checked on offerings).
    pub fn compatible(&self, reqs: &Requirements) -> bool {
        self.labels.intersects(reqs).is_ok()
    }

    /// Whether some available offering lies in the zones and capacity types `reqs` allow.
    pub fn has_offering(&self, reqs: &Requirements) -> bool {
        self.cheapest_offering(reqs).is_some()
    }

    /// The cheapest available offering `reqs` allow.
    pub fn cheapest_offering(&self, reqs: &Requirements) -> Option<&Offering> {
        let zone = reqs.get(labels::ZONE);
        let capacity = reqs.get(labels::CAPACITY_TYPE);
        self.offerings
            .iter()
            .filter(|o| {
                o.available
                    && zone.is_none_or(|z| z.has(&o.zone))
                    && capacity.is_none_or(|c| c.has(o.capacity_type.as_str()))
            })
            .min_by(|a, b| a.price.total_cmp(&b.price))
    }

    /// Whether `requests` plus this type's daemon overhead fit its allocatable.
    pub fn fits(&self, requests: &Resources) -> bool {
        requests
            .add(&self.daemon_overhead)
            .fits_in(&self.allocatable)
    }
}

/// A NodePool ready for scheduling.
#[derive(Debug, Clone)]
pub struct Template {
    /// Index into the snapshot's NodePools.
    pub pool: usize,
    /// Pool name.
    pub name: String,
    /// Weight.
    pub weight: i32,
    /// Requirements every node of the pool carries (pool requirements, labels, pool name).
    pub requirements: Requirements,
    /// Taints pods must tolerate.
    pub taints: Vec<Taint>,
    /// Instance types compatible with the pool and offered in the region, in catalog order.
    /// Shared: they never change during a solve, and consolidation runs many solves.
    pub types: std::sync::Arc<Vec<TemplateType>>,
    /// Compatible types with no launchable offering now (all in the unavailable-offerings
    /// cache): never launched, but in-flight NodeClaims of these types still count as capacity.
    pub unlaunchable: std::sync::Arc<Vec<TemplateType>>,
    /// The pool's limits.
    pub limits: Limits,
    /// Capacity the pool owns, counting NodeClaims planned so far at their largest option.
    pub usage: Resources,
    /// Nodes the pool owns, counting NodeClaims planned so far.
    pub node_count: i64,
    /// Capacity and node count the pool owned before the solve.
    pub base_usage: (Resources, i64),
}

impl Template {
    /// The limit a new node of this capacity would break, if any.
    pub fn limit_breach(&self, capacity: &Resources) -> Option<LimitBreach> {
        self.limits.breach(&self.usage, self.node_count, capacity)
    }

    /// The smallest daemon overhead among `types`, resource by resource: what Karpenter adds to a
    /// finished NodeClaim.
    pub fn min_overhead(&self, types: &[usize]) -> Resources {
        let mut it = types.iter().map(|&i| &self.types[i].daemon_overhead);
        let Some(first) = it.next() else {
            return Resources::default();
        };
        it.fold(first.clone(), |m, o| m.min(o))
    }

    /// Per resource, the most any of `types` leaves for pods after daemon overhead: a pod that does
    /// not fit under it fits none of them.
    pub fn headroom(&self, types: &[usize]) -> Resources {
        types.iter().fold(Resources::default(), |m, &i| {
            let t = &self.types[i];
            m.max(&t.allocatable.sub(&t.daemon_overhead))
        })
    }

    /// Take nodes the simulation removes out of the pool's usage.
    pub fn release(&mut self, capacity: &Resources) {
        self.usage = self.usage.sub(capacity);
        self.node_count -= 1;
        self.base_usage.0 = self.base_usage.0.sub(capacity);
        self.base_usage.1 -= 1;
    }

    /// Charge a new NodeClaim against the limits, pessimistically at its largest option.
    pub fn charge(&mut self, capacity: &Resources) {
        self.usage.add_assign(capacity);
        self.node_count += 1;
    }
}

/// Node settings for a pool: its node class's AMI family and kubelet, with the pool's own kubelet
/// block (v1beta1, v1alpha5) taking precedence.
pub fn node_settings(snapshot: &Snapshot, pool: &NodePool) -> NodeSettings {
    let class = pool
        .node_class
        .as_deref()
        .and_then(|n| snapshot.nodeclasses.iter().find(|c| c.name == n));
    let mut s = NodeSettings::default();
    if let Some(c) = class {
        if !c.eni_limited_pods() {
            s.density = PodDensity::Flat110;
        }
        if let Some(k) = &c.kubelet {
            s.kubelet = k.clone();
        }
        if let Some(root) = c.root_volume_bytes {
            s.root_volume_bytes = root;
        }
    }
    if let Some(k) = &pool.kubelet {
        s.kubelet = k.clone();
    }
    s
}

/// Alternative requirement sets a DaemonSet pod accepts: nodeSelector ∩ each required term.
fn daemon_requirement_sets(d: &DaemonSet) -> Vec<Requirements> {
    let pod = &d.template;
    if pod.node_affinity.required.is_empty() {
        return vec![pod.node_selector.clone()];
    }
    pod.node_affinity
        .required
        .iter()
        .map(|t| pod.node_selector.intersection(t))
        .collect()
}

/// The DaemonSets whose pods would run on nodes of this template: they tolerate its taints
/// (PreferNoSchedule aside) and their node requirements fit the template.
fn compatible_daemons<'a>(
    snapshot: &'a Snapshot,
    requirements: &Requirements,
    taints: &[Taint],
) -> Vec<(&'a DaemonSet, Vec<Requirements>)> {
    let hard: Vec<Taint> = taints
        .iter()
        .filter(|t| t.effect != TaintEffect::PreferNoSchedule)
        .cloned()
        .collect();
    snapshot
        .daemonsets
        .iter()
        .filter(|d| first_untolerated(&hard, &d.template.tolerations).is_none())
        .map(|d| (d, daemon_requirement_sets(d)))
        .filter(|(_, sets)| {
            sets.iter()
                .any(|r| requirements.compatible(r, true).is_ok())
        })
        .collect()
}

/// Build the templates of every pool that can launch nodes, heaviest weight first, then by name
/// descending as Karpenter orders them.
pub fn build_templates(snapshot: &Snapshot) -> Vec<Template> {
    let catalog = &snapshot.catalog;
    let mut out = Vec::new();
    for (pool_index, pool) in snapshot.nodepools.iter().enumerate() {
        if pool.static_replicas.is_some() {
            continue;
        }
        let settings = node_settings(snapshot, pool);
        let requirements = pool.launch_requirements();
        let mut taints = pool.taints.clone();
        taints.sort_by(|a, b| (&a.key, &a.value, a.effect).cmp(&(&b.key, &b.value, b.effect)));
        let daemons = compatible_daemons(snapshot, &requirements, &taints);
        let mut types = Vec::new();
        let mut unlaunchable = Vec::new();
        for (catalog_index, it) in catalog.types().iter().enumerate() {
            let mut offerings = catalog.offerings(&snapshot.region, &it.name);
            if !snapshot.unavailable_offerings.is_empty() {
                for o in &mut offerings {
                    o.available = !snapshot.unavailable_offerings.contains(&(
                        it.name.clone(),
                        o.zone.clone(),
                        o.capacity_type,
                    ));
                }
            }
            if offerings.is_empty() {
                continue;
            }
            let labels = it.requirements();
            let mut tt = TemplateType {
                catalog_index,
                name: it.name.clone(),
                labels,
                capacity: settings.capacity(it),
                allocatable: settings.allocatable(it),
                daemon_overhead: Resources::default(),
                offerings,
            };
            if !tt.compatible(&requirements) {
                continue;
            }
            let launchable = tt.has_offering(&requirements);
            if !launchable && tt.offerings.iter().all(|o| o.available) {
                continue;
            }
            for (d, sets) in &daemons {
                if sets.iter().any(|r| tt.labels.intersects(r).is_ok()) {
                    tt.daemon_overhead
                        .add_assign(&d.template.requests_with_slot());
                }
            }
            if launchable {
                types.push(tt);
            } else {
                unlaunchable.push(tt);
            }
        }
        let (usage, nodes) = snapshot.nodepool_usage(&pool.name);
        out.push(Template {
            pool: pool_index,
            name: pool.name.clone(),
            weight: pool.weight,
            requirements,
            taints,
            types: std::sync::Arc::new(types),
            unlaunchable: std::sync::Arc::new(unlaunchable),
            limits: pool.limits.clone(),
            base_usage: (usage.clone(), nodes as i64),
            usage,
            node_count: nodes as i64,
        });
    }
    out.sort_by(|a, b| b.weight.cmp(&a.weight).then_with(|| b.name.cmp(&a.name)));
    out
}

/// A placeholder hostname for the n-th NodeClaim of a solve, as Karpenter names them.
pub fn placeholder_hostname(n: usize) -> String {
    format!("hostname-placeholder-{n:04}")
}

/// `kubernetes.io/hostname In [placeholder]`.
pub fn hostname_requirement(hostname: &str) -> Requirement {
    Requirement::single(hostname)
}
