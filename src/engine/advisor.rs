//! Best-practice audit after the EKS Karpenter guide: one finding per rule, with the objects it
//! concerns and the fix.

use std::collections::BTreeSet;

use super::scheduling::template::build_templates;
use crate::model::labels;
use crate::model::{ConsolidationPolicy, NodePool, NodePoolApi, Pod, Snapshot};

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Likely to hurt.
    Warning,
    /// Worth knowing, or not decidable from the scenario.
    Info,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// Stable rule id.
    pub rule: &'static str,
    /// Severity.
    pub severity: Severity,
    /// Objects concerned (`NodePool default`, `Deployment ns/name`, ...).
    pub objects: Vec<String>,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub fix: String,
}

/// Spot pools with fewer types or families than this are poorly diversified.
pub const MIN_SPOT_TYPES: usize = 15;
/// ... or fewer families than this.
pub const MIN_SPOT_FAMILIES: usize = 3;

/// How widely a Spot NodePool can spread: what its requirements allow in the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpotDiversity {
    /// The NodePool.
    pub nodepool: String,
    /// Instance types with a Spot offering.
    pub types: usize,
    /// Their families (`c6g`, `m6g`, ...).
    pub families: usize,
    /// Spot pools (type × zone) in zones the NodePool allows.
    pub pools: usize,
}

impl SpotDiversity {
    /// Below the best-practice floor: too few types or families.
    pub fn is_thin(&self) -> bool {
        self.types < MIN_SPOT_TYPES || self.families < MIN_SPOT_FAMILIES
    }
}

/// Each NodePool that allows Spot, and how many types, families and Spot pools it can use.
pub fn spot_diversity(s: &Snapshot) -> Vec<SpotDiversity> {
    let spot = crate::model::CapacityType::Spot;
    build_templates(s)
        .iter()
        .filter(|t| allows_spot(&s.nodepools[t.pool]))
        .map(|t| {
            let zones = t.requirements.get(labels::ZONE);
            let with_spot: Vec<_> = t
                .types
                .iter()
                .filter(|ty| ty.offerings.iter().any(|o| o.capacity_type == spot))
                .collect();
            let families: BTreeSet<&str> = with_spot
                .iter()
                .filter_map(|ty| ty.name.split('.').next())
                .collect();
            let pools = with_spot
                .iter()
                .flat_map(|ty| ty.offerings.iter())
                .filter(|o| o.capacity_type == spot && zones.is_none_or(|z| z.has(&o.zone)))
                .count();
            SpotDiversity {
                nodepool: s.nodepools[t.pool].name.clone(),
                types: with_spot.len(),
                families: families.len(),
                pools,
            }
        })
        .collect()
}

fn allows_spot(pool: &NodePool) -> bool {
    pool.requirements
        .get(labels::CAPACITY_TYPE)
        .is_some_and(|r| r.has("spot"))
}

/// How pods are named in findings: their controller when they have one.
fn owner_name(p: &Pod) -> String {
    match &p.owner {
        Some(o) => format!("{} {}/{}", o.kind_name, p.namespace, o.name),
        None => format!("Pod {}", p.key()),
    }
}

fn owners<'a>(pods: impl Iterator<Item = &'a Pod>) -> Vec<String> {
    pods.map(owner_name)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Run every rule.
pub fn audit(s: &Snapshot) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut push = |rule, severity, objects: Vec<String>, message: String, fix: &str| {
        if !objects.is_empty() {
            out.push(Finding {
                rule,
                severity,
                objects,
                message,
                fix: fix.to_string(),
            });
        }
    };

    let unlimited: Vec<String> = s
        .nodepools
        .iter()
        .filter(|p| p.limits.is_empty())
        .map(|p| format!("NodePool {}", p.name))
        .collect();
    push(
        "nodepool-without-limits",
        Severity::Warning,
        unlimited,
        "NodePool without limits: a runaway workload can launch unbounded capacity".into(),
        "set spec.limits (cpu, memory) on every NodePool",
    );

    for (i, a) in s.nodepools.iter().enumerate() {
        for b in s.nodepools.iter().skip(i + 1) {
            let (ra, rb) = (a.launch_requirements(), b.launch_requirements());
            // A pod can land in both when they share taints and every key both constrain (the
            // pool name aside) has a common value.
            let same_taints = a.taints.iter().collect::<BTreeSet<_>>()
                == b.taints.iter().collect::<BTreeSet<_>>();
            let overlaps = ra
                .iter()
                .filter(|(k, _)| *k != labels::NODEPOOL)
                .all(|(k, r)| rb.get(k).is_none_or(|o| o.intersects(r)));
            if overlaps && same_taints && a.weight == b.weight {
                push(
                    "overlapping-nodepools",
                    Severity::Warning,
                    vec![format!("NodePool {}", a.name), format!("NodePool {}", b.name)],
                    format!(
                        "NodePools {} and {} can both take the same pods and have the same weight ({}): which one launches is arbitrary",
                        a.name, b.name, a.weight
                    ),
                    "make them mutually exclusive (distinct requirements or taints) or give them distinct weights",
                );
            }
        }
    }

    for d in spot_diversity(s).into_iter().filter(SpotDiversity::is_thin) {
        push(
            "spot-too-few-types",
            Severity::Warning,
            vec![format!("NodePool {}", d.nodepool)],
            format!(
                "Spot NodePool {} can use {} instance type(s) in {} famil(ies): interruptions and insufficient capacity will hit it hard",
                d.nodepool, d.types, d.families
            ),
            "widen the requirements (categories, generations, sizes) to at least 15 types across several families",
        );
    }

    let custom: Vec<String> = s
        .nodeclasses
        .iter()
        .filter(|c| c.launch_template.is_some())
        .map(|c| format!("{} {}", c.kind, c.name))
        .collect();
    push(
        "custom-launch-template",
        Severity::Warning,
        custom,
        "custom launch template: Karpenter cannot manage AMI, user data, security groups or ENI density for it".into(),
        "move its settings into the EC2NodeClass (amiSelectorTerms, userData, blockDeviceMappings, kubelet)",
    );

    let managed: BTreeSet<&str> = s
        .nodes
        .iter()
        .filter(|n| n.nodepool().is_some())
        .map(|n| n.name.as_str())
        .collect();
    let is_karpenter = |p: &Pod| crate::model::labels::is_karpenter_controller(&p.labels);
    let self_hosted: Vec<String> = s
        .pods
        .iter()
        .filter(|p| is_karpenter(p) && p.node_name.as_deref().is_some_and(|n| managed.contains(n)))
        .map(|p| {
            format!(
                "Pod {} on {}",
                p.key(),
                p.node_name.as_deref().unwrap_or_default()
            )
        })
        .collect();
    push(
        "karpenter-on-karpenter-nodes",
        Severity::Warning,
        self_hosted,
        "Karpenter runs on a node it manages: it can consolidate or drain itself away".into(),
        "run Karpenter on a managed node group or Fargate (node affinity away from karpenter.sh/nodepool)",
    );

    let no_requests = owners(s.pods.iter().filter(|p| {
        !p.is_daemon()
            && !p.mirror
            && !p.phase.is_terminal()
            && p.requests.cpu_millis == 0
            && p.requests.memory_bytes == 0
    }));
    push(
        "pods-without-requests",
        Severity::Warning,
        no_requests,
        "pods without CPU or memory requests: Karpenter sizes nodes by requests, so they get no room of their own".into(),
        "set resources.requests on every container (a LimitRange can supply defaults)",
    );

    let consolidating: BTreeSet<&str> = s
        .nodes
        .iter()
        .filter(|n| {
            n.nodepool().and_then(|p| s.nodepool(p)).is_some_and(|p| {
                matches!(
                    p.consolidation_policy,
                    Some(
                        ConsolidationPolicy::WhenEmptyOrUnderutilized
                            | ConsolidationPolicy::Balanced
                    )
                )
            })
        })
        .map(|n| n.name.as_str())
        .collect();
    let bursting = owners(s.pods.iter().filter(|p| {
        p.memory_limit_above_request
            && p.node_name
                .as_deref()
                .is_some_and(|n| consolidating.contains(n))
    }));
    push(
        "memory-limit-above-request",
        Severity::Warning,
        bursting,
        "memory limits above requests on consolidated nodes: consolidation packs by requests, so these pods risk OOM kills".into(),
        "set memory requests equal to limits for workloads on consolidating NodePools",
    );

    let spot_pools: Vec<String> = s
        .nodepools
        .iter()
        .filter(|p| allows_spot(p))
        .map(|p| format!("NodePool {}", p.name))
        .collect();
    if !spot_pools.is_empty() && s.settings.interruption_queue.is_none() {
        let (severity, message) = if s.settings.karpenter_seen {
            (
                Severity::Warning,
                "Spot is used but Karpenter has no interruption queue: it learns of interruptions only when nodes vanish".to_string(),
            )
        } else {
            (
                Severity::Info,
                "Spot is used; the Karpenter controller is not in this scenario, so its interruption queue cannot be checked".to_string(),
            )
        };
        push(
            "spot-without-interruption-queue",
            severity,
            spot_pools,
            message,
            "create the SQS queue and EventBridge rules and set settings.interruptionQueue (INTERRUPTION_QUEUE)",
        );
    }

    let floating: Vec<String> = s
        .nodepools
        .iter()
        .filter(|p| p.api != NodePoolApi::V1alpha5Provisioner && p.expire_after.is_none())
        .filter(|p| {
            p.node_class
                .as_deref()
                .and_then(|c| s.nodeclasses.iter().find(|n| n.name == c))
                .is_some_and(|c| !c.ami_pinned)
        })
        .map(|p| format!("NodePool {}", p.name))
        .collect();
    push(
        "expire-never-floating-ami",
        Severity::Warning,
        floating,
        "expireAfter Never with an AMI selection that follows the latest release: every AMI release drifts every node at once, and nothing else ever refreshes them".into(),
        "pin AMIs (versioned alias or IDs) and roll them deliberately, or set expireAfter with a Drifted disruption budget",
    );

    let coredns: Vec<String> = owners(
        s.pods
            .iter()
            .filter(|p| p.labels.get("k8s-app").map(String::as_str) == Some("kube-dns")),
    );
    if !coredns.is_empty() {
        match &s.settings.coredns_corefile {
            Some(corefile) if !corefile.contains("lameduck") => push(
                "coredns-without-lameduck",
                Severity::Warning,
                coredns,
                "CoreDNS has no lameduck period: queries fail while a consolidated node's CoreDNS pod shuts down".into(),
                "add `health { lameduck 5s }` to the Corefile",
            ),
            Some(_) => {}
            None => push(
                "coredns-without-lameduck",
                Severity::Info,
                coredns,
                "the coredns ConfigMap is not in this scenario, so its lameduck setting cannot be checked".into(),
                "include the kube-system/coredns ConfigMap, and make sure its health plugin sets lameduck",
            ),
        }
    }
    out.sort_by(|a, b| (a.severity, a.rule).cmp(&(b.severity, b.rule)));
    out
}
