//! Workload replicas: the state right after `kubectl apply` or `kubectl scale`. Missing replicas
//! become pending pods built from the template; surplus replicas are removed the way a ReplicaSet
//! picks victims (pending, then not ready, then the most colocated, then the newest).

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use crate::model::pod::PodPhase;
use crate::model::{OwnerKind, OwnerRef, Pod, Snapshot, Workload, WorkloadKind};

use super::error::ScenarioError;

/// A `--scale NAMESPACE/NAME=N` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleSpec {
    /// Namespace.
    pub namespace: String,
    /// Workload name.
    pub name: String,
    /// Desired replicas.
    pub replicas: i64,
}

impl FromStr for ScaleSpec {
    type Err = ScenarioError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |message: &str| ScenarioError::Scale {
            spec: s.to_string(),
            message: message.to_string(),
        };
        let (target, n) = s
            .split_once('=')
            .ok_or_else(|| err("expected NAMESPACE/NAME=REPLICAS"))?;
        let (namespace, name) = target
            .split_once('/')
            .ok_or_else(|| err("expected NAMESPACE/NAME=REPLICAS"))?;
        if namespace.is_empty() || name.is_empty() {
            return Err(err("expected NAMESPACE/NAME=REPLICAS"));
        }
        let replicas = n
            .parse::<i64>()
            .ok()
            .filter(|r| *r >= 0)
            .ok_or_else(|| err("replicas must be a whole number ≥ 0"))?;
        Ok(Self {
            namespace: namespace.to_string(),
            name: name.to_string(),
            replicas,
        })
    }
}

/// What expansion did to one workload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReplicaChange {
    /// `Deployment ns/name`.
    pub workload: String,
    /// Replicas wanted.
    pub replicas: i64,
    /// Pods found in the scenario.
    pub found: usize,
    /// Pending pods created from the template.
    pub created: usize,
    /// Pods removed by a scale-down.
    pub removed: usize,
}

/// Set replicas per `--scale`, failing on names that match no controlling workload. Returns the
/// keys of the workloads scaled.
pub fn apply_scales(
    snapshot: &mut Snapshot,
    scales: &[ScaleSpec],
) -> Result<HashSet<String>, ScenarioError> {
    let mut scaled = HashSet::new();
    for s in scales {
        let matches: Vec<usize> = snapshot
            .workloads
            .iter()
            .enumerate()
            .filter(|(_, w)| w.namespace == s.namespace && w.name == s.name)
            .map(|(i, _)| i)
            .collect();
        let Some(&i) = matches
            .iter()
            .find(|&&i| {
                // Prefer a Deployment when a ReplicaSet shares its name.
                snapshot.workloads[i].kind == WorkloadKind::Deployment
            })
            .or(matches.first())
        else {
            return Err(ScenarioError::Scale {
                spec: format!("{}/{}={}", s.namespace, s.name, s.replicas),
                message: "no Deployment, StatefulSet or ReplicaSet of that name in the scenario"
                    .into(),
            });
        };
        if !snapshot.workloads[i].is_controlling(&snapshot.workloads) {
            return Err(ScenarioError::Scale {
                spec: format!("{}/{}={}", s.namespace, s.name, s.replicas),
                message: format!(
                    "ReplicaSet is managed by Deployment {}; scale that instead",
                    snapshot.workloads[i]
                        .owner_deployment
                        .as_deref()
                        .unwrap_or_default()
                ),
            });
        }
        snapshot.workloads[i].replicas = s.replicas;
        scaled.insert(snapshot.workloads[i].key());
    }
    Ok(scaled)
}

/// Kubernetes' name-suffix alphabet (no vowels, no look-alikes).
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn fnv1a(data: &str) -> u64 {
    data.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A deterministic suffix of `len` characters for `seed`.
fn suffix(seed: &str, len: usize) -> String {
    let mut h = fnv1a(seed);
    (0..len)
        .map(|_| {
            let c = ALPHABET[(h % ALPHABET.len() as u64) as usize] as char;
            h /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

/// At most this many pods are created from templates per scenario, so a typo in `replicas` cannot
/// exhaust memory.
pub const MAX_CREATED_PODS: usize = 1_000_000;

/// Create the missing replicas of every controlling workload; remove surplus replicas only from the
/// workloads in `scaled` (a scenario caught mid-rollout keeps its extra pods).
pub fn expand_workloads(
    snapshot: &mut Snapshot,
    scaled: &HashSet<String>,
) -> Result<Vec<ReplicaChange>, ScenarioError> {
    let mut created_total = 0usize;
    let mut changes = Vec::new();
    let mut taken: HashSet<String> = snapshot.pods.iter().map(Pod::key).collect();
    let workloads = snapshot.workloads.clone();
    for w in workloads.iter().filter(|w| w.is_controlling(&workloads)) {
        let ownership = w.ownership(&workloads);
        let active: Vec<usize> = snapshot
            .pods
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.phase.is_terminal() && !p.deleting && w.owns(p, &ownership))
            .map(|(i, _)| i)
            .collect();
        let found = active.len();
        let wanted = w.replicas.max(0) as usize;
        let mut change = ReplicaChange {
            workload: format!("{} {}", w.kind.as_str(), w.key()),
            replicas: w.replicas,
            found,
            created: 0,
            removed: 0,
        };
        if found < wanted {
            created_total += wanted - found;
            if created_total > MAX_CREATED_PODS {
                return Err(ScenarioError::TooManyReplicas {
                    workload: change.workload,
                    replicas: w.replicas,
                    limit: MAX_CREATED_PODS,
                });
            }
            let owner = replica_owner(w, &ownership.owned, &snapshot.pods, &active);
            let mut next_ordinal = 0;
            for n in 0..wanted - found {
                let name = new_pod_name(w, &owner, n, &mut next_ordinal, &taken);
                taken.insert(format!("{}/{name}", w.namespace));
                let mut pod = w.template.clone();
                pod.name = name;
                pod.namespace = w.namespace.clone();
                pod.owner = Some(owner.clone());
                snapshot.pods.push(pod);
                change.created += 1;
            }
        } else if found > wanted && scaled.contains(&w.key()) {
            let victims = scale_down_victims(w, &snapshot.pods, &active, found - wanted);
            change.removed = victims.len();
            let victims: HashSet<usize> = victims.into_iter().collect();
            let mut i = 0;
            snapshot.pods.retain(|_| {
                let keep = !victims.contains(&i);
                i += 1;
                keep
            });
        }
        if change.created > 0 || change.removed > 0 {
            changes.push(change);
        }
    }
    Ok(changes)
}

/// The owner new replicas get: the StatefulSet or ReplicaSet itself, or for a Deployment its
/// ReplicaSet (from the scenario, or as named by its existing pods, or a name derived from the
/// Deployment like a pod-template-hash).
fn replica_owner(
    w: &Workload,
    deployment_rs: &HashSet<&str>,
    pods: &[Pod],
    active: &[usize],
) -> OwnerRef {
    let (kind, name) = match w.kind {
        WorkloadKind::StatefulSet => (OwnerKind::StatefulSet, w.name.clone()),
        WorkloadKind::ReplicaSet => (OwnerKind::ReplicaSet, w.name.clone()),
        WorkloadKind::Deployment => {
            let from_pods = active
                .iter()
                .filter_map(|&i| pods[i].owner.as_ref())
                .map(|o| o.name.clone())
                .max();
            let from_file = deployment_rs.iter().max().map(|s| s.to_string());
            let name = from_file
                .or(from_pods)
                .unwrap_or_else(|| format!("{}-{}", w.name, suffix(&w.key(), 10)));
            (OwnerKind::ReplicaSet, name)
        }
    };
    let kind_name = match kind {
        OwnerKind::StatefulSet => "StatefulSet",
        _ => "ReplicaSet",
    };
    OwnerRef {
        kind,
        kind_name: kind_name.to_string(),
        name,
    }
}

fn new_pod_name(
    w: &Workload,
    owner: &OwnerRef,
    n: usize,
    next_ordinal: &mut usize,
    taken: &HashSet<String>,
) -> String {
    let free = |name: &str| !taken.contains(&format!("{}/{name}", w.namespace));
    if w.kind == WorkloadKind::StatefulSet {
        // Ordinals only grow within one expansion, so each is tried once.
        loop {
            let name = format!("{}-{}", w.name, *next_ordinal);
            *next_ordinal += 1;
            if free(&name) {
                return name;
            }
        }
    }
    (0..)
        .map(|attempt| {
            format!(
                "{}-{}",
                owner.name,
                suffix(&format!("{}/{}#{n}.{attempt}", w.namespace, owner.name), 5)
            )
        })
        .find(|name| free(name))
        .expect("an unused name exists")
}

/// Which pods a scale-down removes, in the controller's order.
fn scale_down_victims(w: &Workload, pods: &[Pod], active: &[usize], count: usize) -> Vec<usize> {
    let mut ranked = active.to_vec();
    if w.kind == WorkloadKind::StatefulSet {
        // StatefulSets remove the highest ordinals first.
        let ordinal = |i: &usize| {
            pods[*i]
                .name
                .rsplit('-')
                .next()
                .and_then(|o| o.parse::<i64>().ok())
                .unwrap_or(-1)
        };
        ranked.sort_by_key(|i| std::cmp::Reverse(ordinal(i)));
    } else {
        let mut per_node: HashMap<&str, usize> = HashMap::new();
        for &i in active {
            if let Some(n) = pods[i].node_name.as_deref() {
                *per_node.entry(n).or_default() += 1;
            }
        }
        // The ReplicaSet controller's order: unassigned, then pending/unknown before running,
        // not ready, lower deletion cost, more colocated, newer.
        let phase_rank = |p: &Pod| match p.phase {
            PodPhase::Pending => 0,
            PodPhase::Unknown => 1,
            _ => 2,
        };
        ranked.sort_by(|&a, &b| {
            let (pa, pb) = (&pods[a], &pods[b]);
            let colocated = |p: &Pod| p.node_name.as_deref().map_or(0, |n| per_node[n]);
            pb.node_name
                .is_none()
                .cmp(&pa.node_name.is_none())
                .then(phase_rank(pa).cmp(&phase_rank(pb)))
                .then(pa.ready.cmp(&pb.ready))
                .then(pa.deletion_cost.cmp(&pb.deletion_cost))
                .then(colocated(pb).cmp(&colocated(pa)))
                // Newest first; a pod without a timestamp counts as newest.
                .then(match (pa.created, pb.created) {
                    (None, None) => std::cmp::Ordering::Equal,
                    (None, Some(_)) => std::cmp::Ordering::Less,
                    (Some(_), None) => std::cmp::Ordering::Greater,
                    (Some(x), Some(y)) => y.cmp(&x),
                })
                .then(pa.name.cmp(&pb.name))
        });
    }
    ranked.truncate(count);
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_spec_parsing() {
        let s: ScaleSpec = "nlb-app-karpenter/nginx-deployment=6".parse().unwrap();
        assert_eq!(
            (s.namespace.as_str(), s.name.as_str(), s.replicas),
            ("nlb-app-karpenter", "nginx-deployment", 6)
        );
        for bad in [
            "nginx=6",
            "ns/nginx",
            "ns/nginx=-1",
            "ns/nginx=x",
            "/n=1",
            "ns/=1",
        ] {
            assert!(bad.parse::<ScaleSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn suffixes_are_deterministic_and_kube_like() {
        assert_eq!(suffix("a", 5), suffix("a", 5));
        assert_ne!(suffix("a", 5), suffix("b", 5));
        assert!(suffix("x", 5).bytes().all(|b| ALPHABET.contains(&b)));
    }
}
