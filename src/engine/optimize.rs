//! karpdeck's own strategy: keep Karpenter's constraints but choose node shapes for cost.
//!
//! Karpenter fills NodeClaims pod by pod and only then picks the cheapest type that still fits,
//! so a claim's size is an accident of arrival order. Here the pods of claims that carry no
//! topology constraint (nothing spreads, attracts or repels them, no host ports) are re-packed per
//! NodePool: repeatedly choose the instance type whose fully packed node buys the most pod demand
//! per dollar, fill it first-fit-decreasing, and let the launch pick the cheapest type that holds
//! the result. Claims with constrained pods are kept exactly as Karpenter planned them. The
//! caller keeps whichever plan is cheaper, so this never costs more than the greedy result.

use std::collections::BTreeMap;

use super::launch::launch;
use super::scheduling::constraints::PodConstraints;
use super::scheduling::{min_values_met, PlannedClaim, Schedule, Template};
use crate::model::affinity::LabelSelector;
use crate::model::{Pod, Requirements, Resources, Snapshot};

/// How many of the most cost-efficient types are tried for each new node.
const CANDIDATE_TYPES: usize = 24;

/// Selectors of every topology constraint in the snapshot, with the namespace they apply in
/// (`None`: any namespace).
fn topology_selectors(snapshot: &Snapshot) -> Vec<(Option<String>, LabelSelector)> {
    // Replicas repeat the same constraint: keep each once.
    let mut out = std::collections::HashSet::new();
    for p in &snapshot.pods {
        let ns = Some(p.namespace.clone());
        for s in &p.topology_spread {
            out.insert((ns.clone(), s.selector.clone()));
        }
        let terms = p
            .pod_affinity
            .required
            .iter()
            .chain(&p.pod_affinity.anti_required)
            .chain(p.pod_affinity.preferred.iter().map(|w| &w.term))
            .chain(p.pod_affinity.anti_preferred.iter().map(|w| &w.term));
        for t in terms {
            let scope = if t.namespace_selector.is_some() || !t.namespaces.is_empty() {
                None
            } else {
                ns.clone()
            };
            out.insert((scope, t.selector.clone()));
        }
    }
    let mut out: Vec<_> = out.into_iter().collect();
    out.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    out
}

/// Whether moving the pod between nodes could change any topology decision.
fn is_free(pod: &Pod, selectors: &[(Option<String>, LabelSelector)]) -> bool {
    pod.topology_spread.is_empty()
        && pod.pod_affinity.is_empty()
        && pod.host_ports.is_empty()
        && !selectors.iter().any(|(ns, sel)| {
            ns.as_deref().is_none_or(|n| n == pod.namespace) && sel.matches(&pod.labels)
        })
}

/// Identical pods (same requests, same requirements) packed as one shape with a count.
struct Shape {
    requests: Resources,
    reqs: Requirements,
    pods: Vec<usize>,
}

/// A node being filled.
struct Bin {
    reqs: Requirements,
    requests: Resources,
    pods: Vec<usize>,
}

fn compatible_types(template: &Template, reqs: &Requirements, requests: &Resources) -> Vec<usize> {
    (0..template.types.len())
        .filter(|&i| {
            let t = &template.types[i];
            t.compatible(reqs) && t.fits(requests) && t.has_offering(reqs)
        })
        .collect()
}

/// Pack `shapes` into nodes of type `target` (first-fit-decreasing, one node), returning how many
/// pods of each shape went in and the node's requirements and requests.
fn fill(
    template: &Template,
    target: usize,
    shapes: &[Shape],
    taken: &[usize],
) -> (Vec<usize>, Bin) {
    let ty = &template.types[target];
    let mut bin = Bin {
        reqs: template.requirements.clone(),
        requests: Resources::default(),
        pods: Vec::new(),
    };
    let mut counts = vec![0; shapes.len()];
    for (si, shape) in shapes.iter().enumerate() {
        let left = shape.pods.len() - taken[si];
        if left == 0 || bin.reqs.compatible(&shape.reqs, true).is_err() {
            continue;
        }
        let merged = bin.reqs.intersection(&shape.reqs);
        if !ty.compatible(&merged) || !ty.has_offering(&merged) {
            continue;
        }
        // As many of this shape as still fit.
        let mut n = 0;
        let mut requests = bin.requests.clone();
        while n < left {
            let next = requests.add(&shape.requests);
            if !ty.fits(&next) {
                break;
            }
            requests = next;
            n += 1;
        }
        if n > 0 {
            counts[si] = n;
            bin.requests = requests;
            bin.reqs = merged;
        }
    }
    (counts, bin)
}

/// Re-pack one NodePool's free pods; `None` when some pod cannot be placed this way.
fn repack_template(
    snapshot: &Snapshot,
    template_index: usize,
    template: &Template,
    pods: &[usize],
) -> Option<Vec<PlannedClaim>> {
    let mut by_shape: BTreeMap<(i64, i64, String), Shape> = BTreeMap::new();
    for &p in pods {
        let pod = &snapshot.pods[p];
        let requests = pod.requests_with_slot();
        let reqs = PodConstraints::new(pod, false).requirements();
        let key = (
            -requests.cpu_millis,
            -requests.memory_bytes,
            format!("{requests}{reqs}"),
        );
        by_shape
            .entry(key)
            .or_insert_with(|| Shape {
                requests,
                reqs,
                pods: Vec::new(),
            })
            .pods
            .push(p);
    }
    let shapes: Vec<Shape> = by_shape.into_values().collect();
    // Market rates: the cheapest price per millicore and per byte among the pool's types, to
    // weigh a pod's demand.
    let price = |i: usize| launch(template, &[i], &template.requirements).map(|l| l.price_per_hour);
    let priced: Vec<(usize, f64)> = (0..template.types.len())
        .filter_map(|i| price(i).map(|p| (i, p)))
        .collect();
    let rate = |f: &dyn Fn(&Resources) -> i64| {
        priced
            .iter()
            .map(|&(i, p)| p / f(&template.types[i].allocatable).max(1) as f64)
            .fold(f64::INFINITY, f64::min)
    };
    let cpu_rate = rate(&|r| r.cpu_millis);
    let mem_rate = rate(&|r| r.memory_bytes);
    let weight =
        |r: &Resources| (r.cpu_millis as f64 * cpu_rate).max(r.memory_bytes as f64 * mem_rate);
    // The types worth trying: best demand per dollar when filled with one pod shape alone.
    let mut candidates: Vec<(f64, usize, f64)> = priced
        .iter()
        .filter_map(|&(i, p)| {
            let ty = &template.types[i];
            let room = ty.allocatable.sub(&ty.daemon_overhead);
            let value =
                (room.cpu_millis as f64 * cpu_rate).min(room.memory_bytes as f64 * mem_rate);
            (value > 0.0).then_some((value / p, i, p))
        })
        .collect();
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    candidates.truncate(CANDIDATE_TYPES);
    let mut taken = vec![0usize; shapes.len()];
    let mut claims = Vec::new();
    while taken.iter().zip(&shapes).any(|(t, s)| *t < s.pods.len()) {
        let mut best: Option<(f64, Vec<usize>, Bin)> = None;
        for &(_, ti, p) in &candidates {
            let (counts, bin) = fill(template, ti, &shapes, &taken);
            if bin.requests.is_zero() {
                continue;
            }
            let packed: f64 = counts
                .iter()
                .zip(&shapes)
                .map(|(n, s)| *n as f64 * weight(&s.requests))
                .sum();
            let score = packed / p;
            if best.as_ref().is_none_or(|(b, _, _)| score > *b) {
                best = Some((score, counts, bin));
            }
        }
        let (_, counts, mut bin) = match best {
            Some(b) => b,
            None => {
                // No efficient type takes what is left: fall back to any type that fits.
                let (counts, bin) = (0..template.types.len())
                    .map(|ti| fill(template, ti, &shapes, &taken))
                    .find(|(_, b)| !b.requests.is_zero())?;
                (0.0, counts, bin)
            }
        };
        // The same mix repeats while the shapes last: take it as often as possible at once.
        let repeats = counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(si, n)| (shapes[si].pods.len() - taken[si]) / n)
            .min()
            .unwrap_or(1)
            .max(1);
        for _ in 0..repeats {
            bin.pods.clear();
            for (si, n) in counts.iter().enumerate() {
                bin.pods
                    .extend_from_slice(&shapes[si].pods[taken[si]..taken[si] + n]);
                taken[si] += n;
            }
            let types = compatible_types(template, &bin.reqs, &bin.requests);
            claims.push(finish(
                template_index,
                template,
                Shaped {
                    pods: bin.pods.clone(),
                    pod_requests: bin.requests.clone(),
                    requirements: bin.reqs.clone(),
                    types,
                },
            ));
        }
    }
    Some(claims)
}

fn claims_cost(schedule: &Schedule, claims: &[PlannedClaim]) -> Option<f64> {
    claims
        .iter()
        .map(|c| {
            launch(&schedule.templates[c.template], &c.types, &c.requirements)
                .map(|l| l.price_per_hour)
        })
        .sum()
}

/// The schedule's NodeClaims re-shaped per NodePool where that is cheaper and keeps within the
/// pool's limits: constrained pods stay on their claims, free pods ride along where that costs
/// nothing, and the rest are re-packed.
pub fn repack(snapshot: &Snapshot, schedule: &Schedule) -> Vec<PlannedClaim> {
    let selectors = topology_selectors(snapshot);
    let mut out: Vec<PlannedClaim> = Vec::new();
    for (ti, template) in schedule.templates.iter().enumerate() {
        let original: Vec<PlannedClaim> = schedule
            .claims
            .iter()
            .filter(|c| c.template == ti)
            .cloned()
            .collect();
        if original.is_empty() {
            continue;
        }
        let better = reshape(snapshot, ti, template, &original, &selectors).filter(|new| {
            let all: Vec<&PlannedClaim> = new.iter().collect();
            within_limits(template, &all)
                && claims_cost(schedule, new)
                    .zip(claims_cost(schedule, &original))
                    .is_some_and(|(new, old)| new < old)
        });
        out.extend(better.unwrap_or(original));
    }
    out
}

/// A claim during re-shaping: its pods' requests kept apart from daemon overhead.
struct Shaped {
    pods: Vec<usize>,
    pod_requests: Resources,
    requirements: Requirements,
    types: Vec<usize>,
}

/// A fixed claim free pods may ride along on, with its price and headroom cached.
struct Host {
    claim: Shaped,
    /// The claim's price now: its cheapest type.
    price: f64,
    /// Per type in `claim.types`, its cheapest offering under the claim's requirements.
    prices: Vec<f64>,
    /// Per resource, the most any type leaves after daemon overhead.
    headroom: Resources,
}

impl Host {
    fn new(template: &Template, claim: Shaped) -> Option<Self> {
        let prices: Vec<f64> = claim
            .types
            .iter()
            .map(|&i| {
                template.types[i]
                    .cheapest_offering(&claim.requirements)
                    .map_or(f64::INFINITY, |o| o.price)
            })
            .collect();
        let price = prices.iter().copied().fold(f64::INFINITY, f64::min);
        let headroom = template.headroom(&claim.types);
        price.is_finite().then_some(Self {
            claim,
            price,
            prices,
            headroom,
        })
    }
}

/// Add `pod` to the host if a type no dearer than its current cheapest still holds everything.
/// Pods that would narrow the host's requirements do not ride (they would need re-pricing).
fn ride_along(template: &Template, host: &mut Host, pod: &Pod, index: usize) -> bool {
    let requests = host.claim.pod_requests.add(&pod.requests_with_slot());
    if !requests.fits_in(&host.headroom) {
        return false;
    }
    let reqs = PodConstraints::new(pod, false).requirements();
    if host.claim.requirements.compatible(&reqs, true).is_err()
        || host.claim.requirements.narrowed_by(&reqs).is_some()
    {
        return false;
    }
    let fitting: Vec<usize> = host
        .claim
        .types
        .iter()
        .copied()
        .filter(|&i| template.types[i].fits(&requests))
        .collect();
    if min_values_met(template, &fitting, &host.claim.requirements).is_err() {
        return false;
    }
    let affordable = host
        .claim
        .types
        .iter()
        .zip(&host.prices)
        .any(|(&i, &p)| p <= host.price && template.types[i].fits(&requests));
    if !affordable {
        return false;
    }
    let keep: Vec<bool> = host
        .claim
        .types
        .iter()
        .map(|&i| template.types[i].fits(&requests))
        .collect();
    let mut k = keep.iter();
    host.claim.types.retain(|_| *k.next().unwrap());
    let mut k = keep.iter();
    host.prices.retain(|_| *k.next().unwrap());
    host.claim.pod_requests = requests;
    host.claim.pods.push(index);
    true
}

fn finish(template_index: usize, template: &Template, c: Shaped) -> PlannedClaim {
    let overhead = template.min_overhead(&c.types);
    PlannedClaim {
        template: template_index,
        nodepool: template.name.clone(),
        pods: c.pods,
        requests: c.pod_requests.add(&overhead),
        requirements: c.requirements,
        types: c.types,
    }
}

/// Keep constrained pods where they are, let free pods ride along at no cost, re-pack the rest.
fn reshape(
    snapshot: &Snapshot,
    template_index: usize,
    template: &Template,
    original: &[PlannedClaim],
    selectors: &[(Option<String>, LabelSelector)],
) -> Option<Vec<PlannedClaim>> {
    let mut fixed: Vec<Host> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    for c in original {
        let (moving, staying): (Vec<usize>, Vec<usize>) = c
            .pods
            .iter()
            .partition(|&&p| is_free(&snapshot.pods[p], selectors));
        free.extend(moving);
        if staying.is_empty() {
            continue;
        }
        let pod_requests = staying.iter().fold(Resources::default(), |acc, &p| {
            acc.add(&snapshot.pods[p].requests_with_slot())
        });
        let types = compatible_types(template, &c.requirements, &pod_requests);
        if types.is_empty() {
            return None;
        }
        fixed.push(Host::new(
            template,
            Shaped {
                pods: staying,
                pod_requests,
                requirements: c.requirements.clone(),
                types,
            },
        )?);
    }
    free.sort_by(|&a, &b| {
        let (ra, rb) = (&snapshot.pods[a].requests, &snapshot.pods[b].requests);
        (rb.cpu_millis, rb.memory_bytes, a).cmp(&(ra.cpu_millis, ra.memory_bytes, b))
    });
    let mut rest = Vec::new();
    for p in free {
        let pod = &snapshot.pods[p];
        if !fixed.iter_mut().any(|c| ride_along(template, c, pod, p)) {
            rest.push(p);
        }
    }
    let mut out: Vec<PlannedClaim> = fixed
        .into_iter()
        .map(|h| finish(template_index, template, h.claim))
        .collect();
    if !rest.is_empty() {
        out.extend(repack_template(snapshot, template_index, template, &rest)?);
    }
    // Every re-shaped claim must still offer what minValues asks for.
    out.iter()
        .all(|c| min_values_met(template, &c.types, &c.requirements).is_ok())
        .then_some(out)
}

/// Whether the claims, each at its largest option, stay within the pool's limits on top of what
/// the pool owned before the solve.
fn within_limits(template: &Template, claims: &[&PlannedClaim]) -> bool {
    let (mut usage, mut nodes) = template.base_usage.clone();
    for c in claims {
        let largest = c.types.iter().fold(Resources::default(), |m, &i| {
            m.max(&template.types[i].capacity)
        });
        if template.limits.breach(&usage, nodes, &largest).is_some() {
            return false;
        }
        usage.add_assign(&largest);
        nodes += 1;
    }
    true
}
