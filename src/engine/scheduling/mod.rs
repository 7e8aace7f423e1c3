//! The scheduling simulation: where Karpenter (and kube-scheduler before it) would put each pending
//! pod — existing nodes, in-flight NodeClaims, NodeClaims created this round, or a new NodeClaim
//! from the heaviest NodePool that can take it — and why the rest stay pending.
//!
//! Pure and deterministic: the same snapshot gives the same schedule.

pub mod constraints;
pub mod reasons;
pub mod template;
pub mod topology;

mod targets;

use std::collections::{HashMap, HashSet, VecDeque};

use crate::model::labels;
use crate::model::taints::first_untolerated;
use crate::model::{HostPort, Pod, Requirements, Resources, Snapshot};

use constraints::{PodConstraints, Relaxation};
use reasons::{ClosestMiss, PodReason, PoolReason, PoolRejection, TypeSearch};
pub use targets::Target;
use targets::{existing_targets, ExistingTarget};
pub use template::{Template, TemplateType};
use topology::{PodGroups, PodView, Topology};

/// Engine options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Karpenter's `--preference-policy=Ignore`: preferences never bind.
    pub ignore_preferences: bool,
}

/// A NodeClaim the solve created.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedClaim {
    /// Index into [`Schedule::templates`].
    pub template: usize,
    /// NodePool name.
    pub nodepool: String,
    /// Snapshot indices of its pods.
    pub pods: Vec<usize>,
    /// Pod requests plus the smallest daemon overhead among its instance types, with pod slots.
    pub requests: Resources,
    /// The claim's requirements (without the placeholder hostname).
    pub requirements: Requirements,
    /// Indices into the template's types that can hold it, in catalog order.
    pub types: Vec<usize>,
}

/// The outcome of a solve.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The NodePools as scheduled, in the order they were tried.
    pub templates: Vec<Template>,
    /// Pods placed on existing nodes or in-flight NodeClaims: (snapshot pod index, target).
    pub placements: Vec<(usize, Target)>,
    /// New NodeClaims.
    pub claims: Vec<PlannedClaim>,
    /// Pods left pending and why.
    pub failures: Vec<(usize, PodReason)>,
    /// Preferences given up by pods that scheduled only after relaxing them.
    pub relaxed: Vec<(usize, Vec<Relaxation>)>,
}

/// A pending pod during the solve.
#[derive(Clone)]
struct Pending {
    pod: usize,
    constraints: PodConstraints,
    groups: PodGroups,
    requests: Resources,
    /// `constraints.requirements()`, kept until the next relaxation.
    reqs: Requirements,
    /// `constraints.strict_requirements()`, likewise.
    strict: Requirements,
}

impl Pending {
    fn refresh(&mut self) {
        self.reqs = self.constraints.requirements();
        self.strict = self.constraints.strict_requirements();
    }
}

/// A NodeClaim being built.
struct Claim {
    template: usize,
    pods: Vec<usize>,
    requests: Resources,
    requirements: Requirements,
    types: Vec<usize>,
    host_ports: Vec<HostPort>,
    /// Per resource, the most any remaining type leaves after daemon overhead: a pod that does
    /// not fit under it fits no type, which rules most claims out without scanning types.
    headroom: Resources,
}

/// Pods Karpenter would try to provision for: pending ones, and those on nodes being deleted
/// (they are about to be evicted); never DaemonSet or mirror pods.
pub fn provisionable(snapshot: &Snapshot) -> Vec<usize> {
    provisionable_without(snapshot, &HashSet::new())
}

/// [`provisionable`] with the `removed` nodes (by index) treated as being deleted.
pub fn provisionable_without(snapshot: &Snapshot, removed: &HashSet<usize>) -> Vec<usize> {
    let deleting: HashSet<&str> = snapshot
        .nodes
        .iter()
        .enumerate()
        .filter(|(i, n)| n.deleting || removed.contains(i))
        .map(|(_, n)| n.name.as_str())
        .collect();
    snapshot
        .pods
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.is_daemon() && !p.mirror)
        .filter(|(_, p)| {
            p.is_pending()
                || (p.is_active_on_node()
                    && !p.deleting
                    && p.node_name.as_deref().is_some_and(|n| deleting.contains(n)))
        })
        .map(|(i, _)| i)
        .collect()
}

fn host_port_conflict(used: &[HostPort], wanted: &[HostPort]) -> bool {
    wanted.iter().any(|w| used.iter().any(|u| u.conflicts(w)))
}

fn view(pod: &Pod) -> PodView<'_> {
    PodView {
        namespace: &pod.namespace,
        labels: &pod.labels,
    }
}

/// Queue order: CPU descending, memory descending, creation time, then name.
fn queue_order(snapshot: &Snapshot, pending: &mut [usize]) {
    pending.sort_by(|&a, &b| {
        let (pa, pb) = (&snapshot.pods[a], &snapshot.pods[b]);
        pb.requests
            .cpu_millis
            .cmp(&pa.requests.cpu_millis)
            .then(pb.requests.memory_bytes.cmp(&pa.requests.memory_bytes))
            .then(pa.created.cmp(&pb.created))
            .then_with(|| pa.key().cmp(&pb.key()))
    });
}

struct Solver<'s> {
    snapshot: &'s Snapshot,
    templates: Vec<Template>,
    existing: Vec<ExistingTarget>,
    claims: Vec<Claim>,
    /// Claim indices by pod count ascending, ties in creation order.
    claim_order: Vec<usize>,
    topology: Topology,
}

/// Whether any requirement has become unsatisfiable.
fn has_empty(reqs: &Requirements) -> bool {
    reqs.iter().any(|(_, r)| r.is_empty())
}

impl<'s> Solver<'s> {
    fn new(
        snapshot: &'s Snapshot,
        prepared: &Prepared,
        removed: &HashSet<usize>,
        pending: &mut [Pending],
    ) -> Self {
        let mut templates = prepared.templates.clone();
        for &i in removed {
            let node = &snapshot.nodes[i];
            if node.deleting {
                continue;
            }
            if let Some(t) = templates
                .iter_mut()
                .find(|t| Some(t.name.as_str()) == node.nodepool())
            {
                t.release(&node.capacity);
            }
        }
        let existing: Vec<ExistingTarget> = prepared
            .targets
            .iter()
            .filter(|t| !matches!(t.target, Target::Node(i) if removed.contains(&i)))
            .cloned()
            .collect();
        let mut topology = Topology::new(snapshot.namespaces.clone());
        // This round's pods (pending, or on deleting nodes) are not counted where they were.
        let moving: HashSet<usize> = pending.iter().map(|p| p.pod).collect();
        for p in pending.iter_mut() {
            let pod = &snapshot.pods[p.pod];
            let c = &p.constraints;
            p.groups = topology.register(
                view(pod),
                &c.spread,
                c.all_affinity(),
                c.all_anti_affinity(),
                &c.anti_affinity,
            );
        }
        // Bound pods with required anti-affinity keep others away from their domains.
        let bound: Vec<(usize, PodGroups)> = snapshot
            .pods
            .iter()
            .enumerate()
            .filter(|(i, p)| p.is_active_on_node() && !p.deleting && !moving.contains(i))
            .map(|(i, p)| {
                let g = topology.register(view(p), [], [], [], &p.pod_affinity.anti_required);
                (i, g)
            })
            .collect();
        for p in pending.iter_mut() {
            topology.link_inverse(view(&snapshot.pods[p.pod]), &mut p.groups);
        }
        let keys = topology.keys();
        for t in &existing {
            for key in &keys {
                if let Some(r) = t.requirements.get(key) {
                    for d in r.values() {
                        topology.add_domain(key, d, &t.taints);
                    }
                }
            }
        }
        for t in &templates {
            for key in &keys {
                for d in template_domains(t, key) {
                    topology.add_domain(key, &d, &t.taints);
                }
            }
        }
        // Pods count wherever they run, cordoned and not-ready nodes included.
        let nodes: HashMap<&str, &crate::model::Node> = snapshot
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), n))
            .collect();
        for (i, groups) in &bound {
            let pod = &snapshot.pods[*i];
            let Some(node) = pod.node_name.as_deref().and_then(|n| nodes.get(n)) else {
                continue;
            };
            topology.record(view(pod), &groups.owns_inverse, |key| {
                match node.label(key) {
                    Some(v) => vec![v],
                    None if key == labels::HOSTNAME => vec![node.name.as_str()],
                    None => Vec::new(),
                }
            });
        }
        Self {
            snapshot,
            templates,
            existing,
            claims: Vec::new(),
            claim_order: Vec::new(),
            topology,
        }
    }

    fn try_existing(&mut self, p: &Pending) -> bool {
        let pod = &self.snapshot.pods[p.pod];
        for t in self.existing.iter_mut() {
            let strict = if t.initialized { &p.strict } else { &p.reqs };
            if first_untolerated(&t.taints, &p.constraints.tolerations).is_some()
                || host_port_conflict(&t.host_ports, &pod.host_ports)
                || !p.requests.fits_in(&t.available)
                || t.requirements.compatible(strict, false).is_err()
            {
                continue;
            }
            if self
                .topology
                .requirements(
                    view(pod),
                    &p.groups,
                    strict,
                    &t.requirements,
                    &p.constraints.tolerations,
                )
                .is_err()
            {
                continue;
            }
            t.available = t.available.sub(&p.requests);
            t.host_ports.extend(pod.host_ports.iter().cloned());
            t.pods.push(p.pod);
            let reqs = &t.requirements;
            self.topology
                .record(view(pod), &p.groups.owns_inverse, |key| {
                    reqs.get(key)
                        .map(|r| r.values().iter().map(String::as_str).collect())
                        .unwrap_or_default()
                });
            return true;
        }
        false
    }

    /// Try to add a pod to a claim; on success the claim is updated.
    fn add_to_claim(
        &mut self,
        ci: usize,
        p: &Pending,
        pod_reqs: &Requirements,
        fresh: bool,
    ) -> Result<(), PoolReason> {
        let pod = &self.snapshot.pods[p.pod];
        let claim = &self.claims[ci];
        let template = &self.templates[claim.template];
        if let Some(t) = first_untolerated(&template.taints, &p.constraints.tolerations) {
            return Err(PoolReason::TaintNotTolerated(t.clone()));
        }
        if host_port_conflict(&claim.host_ports, &pod.host_ports) {
            return Err(PoolReason::NoInstanceType(Box::new(TypeSearch {
                host_port_conflict: true,
                ..TypeSearch::default()
            })));
        }
        claim
            .requirements
            .compatible(pod_reqs, true)
            .map_err(PoolReason::Requirements)?;
        // Most pods add nothing to a claim's requirements; only then is anything cloned.
        let narrowed = claim.requirements.narrowed_by(pod_reqs);
        let topo = self
            .topology
            .requirements(
                view(pod),
                &p.groups,
                &p.strict,
                narrowed.as_ref().unwrap_or(&claim.requirements),
                &p.constraints.tolerations,
            )
            .map_err(|e| PoolReason::Topology {
                key: e.key,
                kind: e.kind.name(),
            })?;
        let merged = if topo.is_empty() {
            narrowed
        } else {
            let mut m = narrowed.unwrap_or_else(|| claim.requirements.clone());
            m.add_all(&topo);
            Some(m)
        }
        .filter(|m| *m != claim.requirements);
        let reqs = merged.as_ref().unwrap_or(&claim.requirements);
        if merged.is_some() && has_empty(reqs) {
            let key = topo
                .iter()
                .next()
                .map(|(k, _)| k.to_string())
                .unwrap_or_default();
            return Err(PoolReason::Topology {
                key,
                kind: "topology",
            });
        }
        let requests = claim.requests.add(&p.requests);
        // A fresh claim's types were filtered by the template only: check them all once.
        let changed = fresh || merged.is_some();
        let types: Vec<usize> = claim
            .types
            .iter()
            .copied()
            .filter(|&ti| {
                let t = &template.types[ti];
                t.fits(&requests) && (!changed || (t.compatible(reqs) && t.has_offering(reqs)))
            })
            .collect();
        if types.is_empty() {
            return Err(no_type_reason(template, &claim.types, reqs, &requests));
        }
        min_values_met(template, &types, reqs)?;
        let headroom = template.headroom(&types);
        let claim = &mut self.claims[ci];
        if let Some(m) = merged {
            claim.requirements = m;
        }
        claim.types = types;
        claim.headroom = headroom;
        claim.requests = requests;
        claim.pods.push(p.pod);
        claim.host_ports.extend(pod.host_ports.iter().cloned());
        let reqs = &claim.requirements;
        self.topology
            .record(view(pod), &p.groups.owns_inverse, |key| {
                reqs.get(key)
                    .map(|r| r.values().iter().map(String::as_str).collect())
                    .unwrap_or_default()
            });
        Ok(())
    }

    fn try_claims(&mut self, p: &Pending, pod_reqs: &Requirements) -> bool {
        for pos in 0..self.claim_order.len() {
            let ci = self.claim_order[pos];
            if !self.claim_could_fit(ci, &p.requests) {
                continue;
            }
            if self.add_to_claim(ci, p, pod_reqs, false).is_ok() {
                // Keep the order by pod count: move the claim right past claims with fewer or equal pods.
                let n = self.claims[ci].pods.len();
                let mut j = pos;
                while j + 1 < self.claim_order.len()
                    && self.claims[self.claim_order[j + 1]].pods.len() < n
                {
                    self.claim_order.swap(j, j + 1);
                    j += 1;
                }
                return true;
            }
        }
        false
    }

    /// A cheap necessary condition: some remaining type has room for the pod.
    fn claim_could_fit(&self, ci: usize, requests: &Resources) -> bool {
        let claim = &self.claims[ci];
        let template = &self.templates[claim.template];
        let total = claim.requests.add(requests);
        claim
            .types
            .iter()
            .any(|&ti| template.types[ti].fits(&total))
    }

    fn try_new_claim(
        &mut self,
        p: &Pending,
        pod_reqs: &Requirements,
    ) -> Result<(), Vec<PoolRejection>> {
        let mut rejections = Vec::new();
        for ti in 0..self.templates.len() {
            let template = &self.templates[ti];
            let reject = |reason| PoolRejection {
                nodepool: template.name.clone(),
                reason,
            };
            if template.types.is_empty() {
                rejections.push(reject(PoolReason::NoTypes));
                continue;
            }
            if let Some(t) = first_untolerated(&template.taints, &p.constraints.tolerations) {
                rejections.push(reject(PoolReason::TaintNotTolerated(t.clone())));
                continue;
            }
            if let Err(e) = template.requirements.compatible(pod_reqs, true) {
                rejections.push(reject(PoolReason::Requirements(e)));
                continue;
            }
            let within_limits: Vec<usize> = (0..template.types.len())
                .filter(|&i| template.limit_breach(&template.types[i].capacity).is_none())
                .collect();
            let hostname = template::placeholder_hostname(self.claims.len());
            let mut requirements = template.requirements.clone();
            requirements.add(labels::HOSTNAME, template::hostname_requirement(&hostname));
            self.topology
                .add_domain(labels::HOSTNAME, &hostname, &template.taints);
            self.claims.push(Claim {
                template: ti,
                pods: Vec::new(),
                requests: Resources::default(),
                requirements,
                headroom: template.headroom(&within_limits),
                types: within_limits,
                host_ports: Vec::new(),
            });
            let ci = self.claims.len() - 1;
            match self.add_to_claim(ci, p, pod_reqs, true) {
                Ok(()) => {
                    let template = &mut self.templates[ti];
                    let largest = self.claims[ci]
                        .types
                        .iter()
                        .fold(Resources::default(), |m, &i| {
                            m.max(&template.types[i].capacity)
                        });
                    template.charge(&largest);
                    // After older claims with as few pods, as Karpenter's re-sort keeps them.
                    let at = self
                        .claim_order
                        .iter()
                        .position(|&c| self.claims[c].pods.len() > 1)
                        .unwrap_or(self.claim_order.len());
                    self.claim_order.insert(at, ci);
                    return Ok(());
                }
                Err(reason) => {
                    self.claims.pop();
                    let template = &self.templates[ti];
                    let reason = match reason {
                        // Types excluded by limits would have fit: say which limit.
                        PoolReason::NoInstanceType(_) => {
                            limit_reason(template, p, pod_reqs).unwrap_or(reason)
                        }
                        other => other,
                    };
                    rejections.push(PoolRejection {
                        nodepool: template.name.clone(),
                        reason,
                    });
                }
            }
        }
        Err(rejections)
    }

    fn add(&mut self, p: &Pending) -> Result<(), PodReason> {
        if self.try_existing(p) {
            return Ok(());
        }
        let pod_reqs = p.constraints.requirements();
        if self.try_claims(p, &pod_reqs) {
            return Ok(());
        }
        if self.templates.is_empty() {
            return Err(PodReason::NoNodePools);
        }
        self.try_new_claim(p, &pod_reqs)
            .map_err(PodReason::Rejected)
    }
}

/// Karpenter's `minValues`: for each requirement that sets it, the remaining types must still offer
/// that many distinct values of the key.
pub(crate) fn min_values_met(
    template: &Template,
    types: &[usize],
    reqs: &Requirements,
) -> Result<(), PoolReason> {
    for (key, r) in reqs.iter() {
        let Some(needed) = r.min_values() else {
            continue;
        };
        let distinct: std::collections::BTreeSet<&str> = types
            .iter()
            .filter_map(|&i| {
                let t = &template.types[i];
                match key {
                    labels::ZONE | labels::CAPACITY_TYPE => None,
                    _ => t
                        .labels
                        .get(key)
                        .and_then(|l| l.values().iter().next())
                        .map(String::as_str),
                }
            })
            .collect();
        if (distinct.len() as u32) < needed {
            return Err(PoolReason::MinValues {
                key: key.to_string(),
                needed,
                available: distinct.len(),
            });
        }
    }
    Ok(())
}

/// Domains a template can offer for a topology key.
fn template_domains(t: &Template, key: &str) -> Vec<String> {
    let mut out = std::collections::BTreeSet::new();
    match key {
        labels::HOSTNAME => {}
        labels::ZONE => {
            for ty in t.types.iter() {
                for o in &ty.offerings {
                    if t.requirements.get(key).is_none_or(|r| r.has(&o.zone)) {
                        out.insert(o.zone.clone());
                    }
                }
            }
        }
        labels::CAPACITY_TYPE => {
            for ty in t.types.iter() {
                for o in &ty.offerings {
                    let ct = o.capacity_type.as_str();
                    if t.requirements.get(key).is_none_or(|r| r.has(ct)) {
                        out.insert(ct.to_string());
                    }
                }
            }
        }
        _ => match t.requirements.get(key) {
            Some(r) if !r.is_complement() => out.extend(r.values().iter().cloned()),
            _ => {
                for ty in t.types.iter() {
                    if let Some(r) = ty.labels.get(key) {
                        if !r.is_complement() {
                            out.extend(r.values().iter().cloned());
                        }
                    }
                }
            }
        },
    }
    out.into_iter().collect()
}

/// Explain why no type of `types` can hold `requests` under `reqs`.
fn no_type_reason(
    template: &Template,
    types: &[usize],
    reqs: &Requirements,
    requests: &Resources,
) -> PoolReason {
    let compatible: Vec<&TemplateType> = types
        .iter()
        .map(|&i| &template.types[i])
        .filter(|t| t.compatible(reqs))
        .collect();
    let fitting: Vec<&&TemplateType> = compatible.iter().filter(|t| t.fits(requests)).collect();
    let offered = fitting.iter().filter(|t| t.has_offering(reqs)).count();
    let closest = if fitting.is_empty() {
        compatible
            .iter()
            .filter_map(|t| {
                let need = requests.add(&t.daemon_overhead);
                let resource = need.first_exceeding(&t.allocatable)?.to_string();
                let (n, a) = (need.get(&resource), t.allocatable.get(&resource));
                Some((a as f64 / n as f64, t, resource, n, a))
            })
            .max_by(|x, y| x.0.total_cmp(&y.0))
            .map(|(_, t, resource, needed, allocatable)| ClosestMiss {
                instance_type: t.name.clone(),
                resource,
                needed,
                allocatable,
            })
    } else {
        None
    };
    let unsatisfiable = if compatible.is_empty() {
        reqs.iter()
            .find(|(key, r)| {
                let mut one = Requirements::new();
                one.add(key, (*r).clone());
                !types.iter().any(|&i| template.types[i].compatible(&one))
            })
            .map(|(k, r)| (k.to_string(), r.clone()))
    } else {
        None
    };
    PoolReason::NoInstanceType(Box::new(TypeSearch {
        unsatisfiable,
        compatible: compatible.len(),
        fitting: fitting.len(),
        offered,
        closest,
        zones: reqs.get(labels::ZONE).cloned(),
        capacity_types: reqs.get(labels::CAPACITY_TYPE).cloned(),
        host_port_conflict: false,
    }))
}

/// When the pod alone would fit some type that the pool's limits exclude, the breach to report.
fn limit_reason(template: &Template, p: &Pending, pod_reqs: &Requirements) -> Option<PoolReason> {
    let reqs = template.requirements.intersection(pod_reqs);
    template
        .types
        .iter()
        .filter(|t| t.compatible(&reqs) && t.fits(&p.requests) && t.has_offering(&reqs))
        .filter_map(|t| template.limit_breach(&t.capacity))
        .min_by_key(|b| b.usage - b.limit)
        .map(PoolReason::LimitExceeded)
}

/// What a solve needs from the snapshot that does not change between solves: the NodePools as
/// templates, with their instance types, allocatable and daemon overhead.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Templates in the order they are tried.
    pub templates: Vec<Template>,
    /// Existing capacity with nothing removed; a solve drops the nodes it removes.
    targets: Vec<ExistingTarget>,
}

/// Build the templates and existing capacity once, for any number of solves over the same
/// snapshot.
pub fn prepare(snapshot: &Snapshot) -> Prepared {
    let templates = template::build_templates(snapshot);
    let targets = existing_targets(snapshot, &templates);
    Prepared { templates, targets }
}

/// Simulate scheduling the snapshot's provisionable pods.
pub fn schedule(snapshot: &Snapshot, options: &Options) -> Schedule {
    schedule_without(snapshot, &prepare(snapshot), &HashSet::new(), options)
}

/// Simulate scheduling as if the `removed` nodes (by index) were being deleted: their pods join
/// the pending ones and their capacity leaves the pools. This is how consolidation and drains ask
/// "where would these pods go?".
pub fn schedule_without(
    snapshot: &Snapshot,
    prepared: &Prepared,
    removed: &HashSet<usize>,
    options: &Options,
) -> Schedule {
    let mut order = provisionable_without(snapshot, removed);
    queue_order(snapshot, &mut order);
    let mut failures = Vec::new();
    let mut pending: Vec<Pending> = Vec::new();
    for i in order {
        let pod = &snapshot.pods[i];
        if pod.scheduling_gated {
            failures.push((i, PodReason::SchedulingGated));
            continue;
        }
        if pod.node_affinity.uses_match_fields {
            failures.push((i, PodReason::MatchFields));
            continue;
        }
        let constraints = PodConstraints::new(pod, options.ignore_preferences);
        pending.push(Pending {
            pod: i,
            reqs: constraints.requirements(),
            strict: constraints.strict_requirements(),
            constraints,
            groups: PodGroups::default(),
            requests: pod.requests_with_slot(),
        });
    }
    let mut solver = Solver::new(snapshot, prepared, removed, &mut pending);
    let mut queue: VecDeque<(Pending, Option<usize>)> =
        pending.into_iter().map(|p| (p, None)).collect();
    let mut errors: std::collections::HashMap<usize, PodReason> = Default::default();
    let mut relaxed_log = Vec::new();
    let prefer_no_schedule = solver.templates.iter().any(|t| {
        t.taints
            .iter()
            .any(|t| t.effect == crate::model::TaintEffect::PreferNoSchedule)
    });
    while let Some((p, last_len)) = queue.pop_front() {
        // A pod that comes round again with the queue no shorter than when it was pushed means a
        // whole cycle made no progress.
        if last_len == Some(queue.len() + 1) {
            queue.push_front((p, last_len));
            break;
        }
        let mut result = solver.add(&p);
        // Relax a copy: the queued pod keeps every preference for its next visit, as in Karpenter.
        let mut relaxed: Option<Pending> = None;
        while result.is_err() {
            let r = relaxed.get_or_insert_with(|| p.clone());
            if !r.constraints.relax(prefer_no_schedule) {
                break;
            }
            r.refresh();
            let pod = &snapshot.pods[r.pod];
            let c = &r.constraints;
            r.groups = solver.topology.register(
                view(pod),
                &c.spread,
                c.all_affinity(),
                c.all_anti_affinity(),
                &c.anti_affinity,
            );
            solver.topology.link_inverse(view(pod), &mut r.groups);
            result = solver.add(r);
        }
        match result {
            Ok(()) => {
                errors.remove(&p.pod);
                if let Some(r) = relaxed.filter(|r| !r.constraints.relaxed.is_empty()) {
                    relaxed_log.push((r.pod, r.constraints.relaxed));
                }
            }
            Err(reason) => {
                errors.insert(p.pod, reason);
                let len = queue.len() + 1;
                queue.push_back((p, Some(len)));
            }
        }
    }
    for (p, _) in queue {
        if let Some(reason) = errors.remove(&p.pod) {
            failures.push((p.pod, reason));
        }
    }
    failures.sort_by_key(|(i, _)| *i);
    let placements = solver
        .existing
        .iter()
        .flat_map(|t| t.pods.iter().map(|&p| (p, t.target)))
        .collect();
    let claims = solver
        .claims
        .iter()
        .map(|c| {
            let template = &solver.templates[c.template];
            let overhead = template.min_overhead(&c.types);
            let mut requirements = c.requirements.clone();
            requirements.remove(labels::HOSTNAME);
            PlannedClaim {
                template: c.template,
                nodepool: template.name.clone(),
                pods: c.pods.clone(),
                requests: c.requests.add(&overhead),
                requirements,
                types: c.types.clone(),
            }
        })
        .collect();
    Schedule {
        templates: solver.templates,
        placements,
        claims,
        failures,
        relaxed: relaxed_log,
    }
}
