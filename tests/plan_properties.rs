//! Every plan respects every constraint it was given, checked by code that shares nothing with the
//! scheduler but the model types; and the optimized strategy never costs more than Karpenter's.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use karpdeck::catalog::{Catalog, NodeSettings};
use karpdeck::engine::plan::{plan, Plan, Strategy};
use karpdeck::engine::scheduling::Options;
use karpdeck::model::affinity::WhenUnsatisfiable;
use karpdeck::model::{labels, Pod, Resources, Snapshot, TaintEffect};
use karpdeck::scenario::generate::{generate, GenOptions};
use karpdeck::scenario::{load_str, LoadOptions};
use proptest::prelude::*;

/// Where the checker sees a pod: a node name or a claim number, and the zones it may be in.
#[derive(Debug, Clone)]
struct Place {
    node: String,
    /// Zones the node may end up in (one for real nodes and zonal claims).
    zones: BTreeSet<String>,
}

fn tolerates_all(pod: &Pod, taints: &[karpdeck::model::Taint]) -> bool {
    taints.iter().all(|t| {
        t.effect == TaintEffect::PreferNoSchedule
            || pod.tolerations.iter().any(|tol| tol.tolerates(t))
    })
}

/// Labels a claim's node would carry, from the cheapest launch type, its pool and requirements.
fn claim_labels(
    s: &Snapshot,
    pool: &str,
    instance_type: &str,
    zones: &BTreeSet<String>,
) -> BTreeMap<String, String> {
    let np = s.nodepool(pool).unwrap();
    let it = s.catalog.get(instance_type).unwrap();
    let mut l: BTreeMap<String, String> = it
        .requirements()
        .iter()
        .filter(|(_, r)| r.operator() == karpdeck::model::Operator::In)
        .map(|(k, r)| (k.to_string(), r.values().iter().next().unwrap().clone()))
        .collect();
    l.extend(np.labels.clone());
    l.insert(labels::NODEPOOL.into(), pool.into());
    if zones.len() == 1 {
        l.insert(labels::ZONE.into(), zones.iter().next().unwrap().clone());
    }
    l
}

fn check(s: &Snapshot, plan: &Plan) -> Result<(), String> {
    let pending: BTreeSet<usize> = s.unplaced_pods().map(|(i, _)| i).collect();
    // Every pending pod is accounted for exactly once.
    let mut seen: HashMap<usize, usize> = HashMap::new();
    for (p, _) in &plan.existing {
        *seen.entry(*p).or_default() += 1;
    }
    for c in &plan.nodeclaims {
        for p in &c.claim.pods {
            *seen.entry(*p).or_default() += 1;
        }
    }
    for (p, _) in &plan.unschedulable {
        *seen.entry(*p).or_default() += 1;
    }
    for p in &pending {
        if seen.get(p) != Some(&1) {
            return Err(format!(
                "pod {} accounted {:?} times",
                s.pods[*p].key(),
                seen.get(p)
            ));
        }
    }

    let mut places: HashMap<usize, Place> = HashMap::new();
    // Existing placements fit what is left on the node, and respect taints and selectors.
    let mut used: HashMap<&str, Resources> = HashMap::new();
    for p in s.pods.iter().filter(|p| p.is_active_on_node()) {
        used.entry(p.node_name.as_deref().unwrap())
            .or_default()
            .add_assign(&p.requests_with_slot());
    }
    for (pi, node_name) in &plan.existing {
        let pod = &s.pods[*pi];
        let node = s
            .nodes
            .iter()
            .find(|n| &n.name == node_name)
            .ok_or("unknown node")?;
        let u = used.entry(node.name.as_str()).or_default();
        u.add_assign(&pod.requests_with_slot());
        if !u.fits_in(&node.allocatable) {
            return Err(format!("{} overcommitted", node.name));
        }
        if !tolerates_all(pod, &node.taints) || node.unschedulable || !node.ready {
            return Err(format!(
                "{} placed on unusable node {}",
                pod.key(),
                node.name
            ));
        }
        let zones = node
            .zone()
            .map(|z| BTreeSet::from([z.to_string()]))
            .unwrap_or_default();
        places.insert(
            *pi,
            Place {
                node: node.name.clone(),
                zones,
            },
        );
    }

    // New claims: the cheapest launch type holds pods plus the DaemonSets that would run there.
    let mut pool_usage: HashMap<String, (Resources, i64)> = HashMap::new();
    for (ci, c) in plan.nodeclaims.iter().enumerate() {
        let np = s.nodepool(&c.claim.nodepool).unwrap();
        let cheapest = &c.launch.instance_types[0];
        let it = s.catalog.get(cheapest).unwrap();
        let settings = NodeSettings::default();
        let zones: BTreeSet<String> = c.launch.zones.iter().cloned().collect();
        let node_labels = claim_labels(s, &np.name, cheapest, &zones);
        let pool_taints = &np.taints;
        let mut total = Resources::default();
        for d in &s.daemonsets {
            let tolerated = pool_taints.iter().all(|t| {
                t.effect == TaintEffect::PreferNoSchedule
                    || d.template.tolerations.iter().any(|tol| tol.tolerates(t))
            });
            if tolerated && d.template.node_selector.matches_labels(&node_labels) {
                total.add_assign(&d.template.requests_with_slot());
            }
        }
        for &pi in &c.claim.pods {
            let pod = &s.pods[pi];
            total.add_assign(&pod.requests_with_slot());
            if !tolerates_all(pod, pool_taints) {
                return Err(format!("{} does not tolerate pool {}", pod.key(), np.name));
            }
            if !pod.node_selector.matches_labels(&node_labels) {
                return Err(format!("{} nodeSelector not met on claim {ci}", pod.key()));
            }
            if !pod.node_affinity.required.is_empty()
                && !pod
                    .node_affinity
                    .required
                    .iter()
                    .any(|t| t.matches_labels(&node_labels))
            {
                return Err(format!("{} node affinity not met on claim {ci}", pod.key()));
            }
            places.insert(
                pi,
                Place {
                    node: format!("claim-{ci}"),
                    zones: zones.clone(),
                },
            );
        }
        if !total.fits_in(&settings.allocatable(it)) {
            return Err(format!("claim {ci} ({cheapest}) cannot hold {total}"));
        }
        // The pool's own requirements hold for every launch type.
        for name in &c.launch.instance_types {
            let l = claim_labels(s, &np.name, name, &zones);
            let pool_reqs: Vec<_> = np
                .requirements
                .iter()
                .filter(|(k, _)| *k != labels::ZONE && *k != labels::CAPACITY_TYPE)
                .collect();
            for (k, r) in pool_reqs {
                if !r.matches_label(l.get(k).map(String::as_str)) {
                    return Err(format!(
                        "{name} breaks pool {} requirement {k} {r}",
                        np.name
                    ));
                }
            }
        }
        for z in &zones {
            if np.requirements.get(labels::ZONE).is_some_and(|r| !r.has(z)) {
                return Err(format!("claim {ci} offers zone {z} outside its pool"));
            }
        }
        let largest = c
            .launch
            .instance_types
            .iter()
            .fold(Resources::default(), |m, n| {
                m.max(&settings.capacity(s.catalog.get(n).unwrap()))
            });
        let e = pool_usage.entry(np.name.clone()).or_default();
        e.0.add_assign(&largest);
        e.1 += 1;
    }
    for (pool, (usage, nodes)) in &pool_usage {
        let np = s.nodepool(pool).unwrap();
        let (base, base_nodes) = s.nodepool_usage(pool);
        for (name, limit) in np.limits.iter() {
            let total = if name == "nodes" {
                base_nodes as i64 + nodes
            } else {
                base.get(name) + usage.get(name)
            };
            if total > limit {
                return Err(format!(
                    "pool {pool} over its {name} limit: {total} > {limit}"
                ));
            }
        }
    }

    // Topology, per workload (pods sharing labels and constraints).
    let mut by_app: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (&pi, _) in places.iter() {
        if let Some(app) = s.pods[pi].labels.get("app") {
            by_app.entry(app.clone()).or_default().push(pi);
        }
    }
    for (app, pods) in &by_app {
        let sample = &s.pods[pods[0]];
        let per_node = |ps: &[usize]| {
            let mut m: BTreeMap<&str, usize> = BTreeMap::new();
            for pi in ps {
                *m.entry(places[pi].node.as_str()).or_default() += 1;
            }
            m
        };
        for tsc in &sample.topology_spread {
            if tsc.when_unsatisfiable != WhenUnsatisfiable::DoNotSchedule {
                continue;
            }
            if tsc.topology_key == labels::HOSTNAME {
                if let Some((n, c)) = per_node(pods)
                    .into_iter()
                    .find(|(_, c)| *c > tsc.max_skew as usize)
                {
                    return Err(format!("{app}: {c} pods on {n} break hostname spread"));
                }
            } else if tsc.topology_key == labels::ZONE {
                let mut counts: BTreeMap<String, i64> = BTreeMap::new();
                for pi in pods {
                    let z = &places[pi].zones;
                    if z.len() != 1 {
                        return Err(format!(
                            "{app}: spread pod on a claim without a single zone"
                        ));
                    }
                    *counts.entry(z.iter().next().unwrap().clone()).or_default() += 1;
                }
                let zones = s.catalog.region(&s.region).unwrap().zones.iter().take(3);
                let values: Vec<i64> = zones.map(|z| counts.get(z).copied().unwrap_or(0)).collect();
                let (min, max) = (values.iter().min().unwrap(), values.iter().max().unwrap());
                if max - min > tsc.max_skew as i64 {
                    return Err(format!(
                        "{app}: zone counts {values:?} break maxSkew {}",
                        tsc.max_skew
                    ));
                }
            }
        }
        for term in &sample.pod_affinity.anti_required {
            if term.topology_key == labels::HOSTNAME {
                if let Some((n, c)) = per_node(pods).into_iter().find(|(_, c)| *c > 1) {
                    return Err(format!("{app}: {c} anti-affine pods share {n}"));
                }
            }
        }
        for term in &sample.pod_affinity.required {
            if term.topology_key == labels::ZONE {
                let zones: BTreeSet<&BTreeSet<String>> =
                    pods.iter().map(|pi| &places[pi].zones).collect();
                if zones.len() != 1 || zones.iter().next().unwrap().len() != 1 {
                    return Err(format!("{app}: affine pods in zones {zones:?}"));
                }
            }
        }
    }
    Ok(())
}

fn scenario(nodes: usize, pending: usize, seed: u64, types: usize) -> Snapshot {
    let catalog = Catalog::embedded();
    let text = generate(
        &GenOptions {
            nodes,
            running_per_node: 1,
            pending,
            seed,
            types,
            region: "us-east-1".into(),
        },
        &catalog,
    );
    load_str("gen.yaml", &text, &LoadOptions::default(), catalog)
        .unwrap()
        .snapshot
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn plans_respect_their_constraints(
        nodes in 0usize..8, pending in 10usize..260, seed in any::<u64>(), types in 20usize..200,
    ) {
        let s = scenario(nodes, pending, seed, types);
        let greedy = plan(&s, Strategy::Karpenter, &Options::default());
        if let Err(e) = check(&s, &greedy) {
            prop_assert!(false, "karpenter plan: {}", e);
        }
        let optimized = plan(&s, Strategy::Optimized, &Options::default());
        if let Err(e) = check(&s, &optimized) {
            prop_assert!(false, "optimized plan: {}", e);
        }
        prop_assert!(optimized.new_per_hour() <= greedy.new_per_hour() + 1e-9);
        prop_assert_eq!(optimized.scheduled_pods(), greedy.scheduled_pods());
    }
}

#[test]
fn the_checker_catches_a_broken_plan() {
    let s = scenario(0, 250, 3, 50);
    let mut p = plan(&s, Strategy::Karpenter, &Options::default());
    assert_eq!(check(&s, &p), Ok(()));
    assert!(p.nodeclaims.len() >= 2);
    // Dropping a pod from the plan is caught.
    let mut dropped = p.clone();
    dropped.nodeclaims[0].claim.pods.pop();
    assert!(check(&s, &dropped).unwrap_err().contains("accounted"));
    // Cram every pod onto the first claim: it no longer fits.
    let all: Vec<usize> = p
        .nodeclaims
        .iter()
        .flat_map(|c| c.claim.pods.clone())
        .collect();
    p.nodeclaims.truncate(1);
    p.nodeclaims[0].claim.pods = all;
    assert!(check(&s, &p).is_err());
}
