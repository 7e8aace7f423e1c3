//! Topology: spread constraints, pod affinity and anti-affinity as counted groups over domains,
//! with Karpenter's domain choice (least-loaded valid domain for spread, occupied domains for
//! affinity, empty domains for anti-affinity, and the inverse anti-affinity of placed pods).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::model::affinity::{InclusionPolicy, SelectorOp};
use crate::model::labels;
use crate::model::taints::first_untolerated;
use crate::model::{
    LabelSelector, PodAffinityTerm, Requirement, Requirements, Taint, Toleration, TopologySpread,
};

/// What a group constrains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupKind {
    /// Topology spread.
    Spread,
    /// Required (or not yet relaxed preferred) pod affinity.
    Affinity,
    /// Required (or not yet relaxed preferred) pod anti-affinity.
    AntiAffinity,
}

impl GroupKind {
    /// Name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Spread => "topology spread",
            Self::Affinity => "pod affinity",
            Self::AntiAffinity => "pod anti-affinity",
        }
    }
}

/// Which namespaces a group's selector looks in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Namespaces {
    /// These namespaces.
    Set(BTreeSet<String>),
    /// Every namespace.
    All,
}

/// The identity of a group: pods with the same constraint share one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GroupKey {
    /// Kind.
    pub kind: GroupKind,
    /// Topology key.
    pub key: String,
    /// Selector (with matchLabelKeys folded in).
    pub selector: LabelSelector,
    /// Namespace scope.
    pub namespaces: Namespaces,
    /// Spread only.
    pub max_skew: i32,
    /// Spread only.
    pub min_domains: Option<i32>,
    /// Spread only: count only domains the pod's node affinity allows.
    pub honor_affinity: bool,
    /// Spread only: count only domains with nodes whose taints the pod tolerates.
    pub honor_taints: bool,
}

/// A group and its per-domain counts.
#[derive(Debug, Clone)]
struct Group {
    key: GroupKey,
    counts: HashMap<String, i64>,
    total: i64,
    /// Counts the pods that own the term rather than the pods it selects.
    inverse: bool,
}

impl Group {
    fn selects(&self, namespace: &str, pod_labels: &BTreeMap<String, String>) -> bool {
        let in_scope = match &self.key.namespaces {
            Namespaces::All => true,
            Namespaces::Set(s) => s.contains(namespace),
        };
        in_scope && self.key.selector.matches(pod_labels)
    }

    fn count(&self, domain: &str) -> i64 {
        self.counts.get(domain).copied().unwrap_or(0)
    }
}

/// A pod as topology sees it.
#[derive(Debug, Clone, Copy)]
pub struct PodView<'a> {
    /// Namespace.
    pub namespace: &'a str,
    /// Labels.
    pub labels: &'a BTreeMap<String, String>,
}

/// Why topology rejected a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyError {
    /// Topology key.
    pub key: String,
    /// Constraint kind.
    pub kind: GroupKind,
}

/// All groups of a solve, with the domains each key can take.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    groups: Vec<Group>,
    index: HashMap<GroupKey, usize>,
    /// Required anti-affinity groups keyed by their owners' terms, for the inverse check.
    inverse: Vec<usize>,
    inverse_index: HashMap<GroupKey, usize>,
    /// key → domain → taint sets of the nodes or pools that offer it.
    domains: HashMap<String, BTreeMap<String, Vec<usize>>>,
    taint_sets: Vec<Vec<Taint>>,
    namespace_labels: BTreeMap<String, BTreeMap<String, String>>,
}

/// The groups one pod is constrained by, as indices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodGroups {
    /// Groups from the pod's own constraints.
    pub own: Vec<usize>,
    /// Inverse anti-affinity groups the pod would own once placed.
    pub owns_inverse: Vec<usize>,
    /// Inverse anti-affinity groups whose selector picks this pod (see [`Topology::link_inverse`]).
    pub selected_by_inverse: Vec<usize>,
}

fn with_match_label_keys(
    selector: &LabelSelector,
    keys: &[String],
    owner_labels: &BTreeMap<String, String>,
) -> LabelSelector {
    let mut s = selector.clone();
    for k in keys {
        if let Some(v) = owner_labels.get(k) {
            s.match_expressions
                .push((k.clone(), SelectorOp::In, vec![v.clone()]));
        }
    }
    s
}

impl Topology {
    /// An empty topology that resolves namespace selectors against these namespace labels.
    pub fn new(namespace_labels: BTreeMap<String, BTreeMap<String, String>>) -> Self {
        Self {
            namespace_labels,
            ..Self::default()
        }
    }

    /// Declare that `domain` exists for `key`, offered by a node or pool with these taints.
    pub fn add_domain(&mut self, key: &str, domain: &str, taints: &[Taint]) {
        let id = match self.taint_sets.iter().position(|t| t == taints) {
            Some(i) => i,
            None => {
                self.taint_sets.push(taints.to_vec());
                self.taint_sets.len() - 1
            }
        };
        let sources = self
            .domains
            .entry(key.to_string())
            .or_default()
            .entry(domain.to_string())
            .or_default();
        if !sources.contains(&id) {
            sources.push(id);
        }
    }

    /// Keys any group uses.
    pub fn keys(&self) -> BTreeSet<String> {
        self.groups.iter().map(|g| g.key.key.clone()).collect()
    }

    fn scope(&self, term: &PodAffinityTerm, owner_namespace: &str) -> Namespaces {
        let mut set: BTreeSet<String> = term.namespaces.iter().cloned().collect();
        match &term.namespace_selector {
            Some(sel) if sel.is_empty() => return Namespaces::All,
            Some(sel) => {
                for (ns, l) in &self.namespace_labels {
                    if sel.matches(l) {
                        set.insert(ns.clone());
                    }
                }
            }
            None if set.is_empty() => {
                set.insert(owner_namespace.to_string());
            }
            None => {}
        }
        Namespaces::Set(set)
    }

    fn intern(&mut self, key: GroupKey, inverse: bool) -> usize {
        let index = if inverse {
            &mut self.inverse_index
        } else {
            &mut self.index
        };
        if let Some(&i) = index.get(&key) {
            return i;
        }
        let i = self.groups.len();
        index.insert(key.clone(), i);
        self.groups.push(Group {
            key,
            counts: HashMap::new(),
            total: 0,
            inverse,
        });
        if inverse {
            self.inverse.push(i);
        }
        i
    }

    fn spread_key(&self, s: &TopologySpread, owner: PodView) -> GroupKey {
        GroupKey {
            kind: GroupKind::Spread,
            key: s.topology_key.clone(),
            selector: with_match_label_keys(&s.selector, &s.match_label_keys, owner.labels),
            namespaces: Namespaces::Set([owner.namespace.to_string()].into()),
            max_skew: s.max_skew,
            min_domains: s.min_domains,
            honor_affinity: s.node_affinity_policy == InclusionPolicy::Honor,
            honor_taints: s.node_taints_policy == InclusionPolicy::Honor,
        }
    }

    fn term_key(&self, kind: GroupKind, term: &PodAffinityTerm, owner: PodView) -> GroupKey {
        GroupKey {
            kind,
            key: term.topology_key.clone(),
            selector: with_match_label_keys(&term.selector, &term.match_label_keys, owner.labels),
            namespaces: self.scope(term, owner.namespace),
            max_skew: 0,
            min_domains: None,
            honor_affinity: false,
            honor_taints: false,
        }
    }

    /// Register the groups for a pod's constraints (spread, affinity, anti-affinity, and the
    /// inverse groups of its required anti-affinity).
    pub fn register<'t>(
        &mut self,
        owner: PodView,
        spread: impl IntoIterator<Item = &'t TopologySpread>,
        affinity: impl IntoIterator<Item = &'t PodAffinityTerm>,
        anti_affinity: impl IntoIterator<Item = &'t PodAffinityTerm>,
        required_anti_affinity: impl IntoIterator<Item = &'t PodAffinityTerm>,
    ) -> PodGroups {
        let mut out = PodGroups::default();
        for s in spread {
            let k = self.spread_key(s, owner);
            out.own.push(self.intern(k, false));
        }
        for t in affinity {
            let k = self.term_key(GroupKind::Affinity, t, owner);
            out.own.push(self.intern(k, false));
        }
        for t in anti_affinity {
            let k = self.term_key(GroupKind::AntiAffinity, t, owner);
            out.own.push(self.intern(k, false));
        }
        for t in required_anti_affinity {
            let k = self.term_key(GroupKind::AntiAffinity, t, owner);
            out.owns_inverse.push(self.intern(k, true));
        }
        out
    }

    /// Fill in which inverse anti-affinity groups select the pod; call once every group is
    /// registered (the selection never changes during a solve).
    pub fn link_inverse(&self, pod: PodView, groups: &mut PodGroups) {
        groups.selected_by_inverse = self
            .inverse
            .iter()
            .copied()
            .filter(|&i| self.groups[i].selects(pod.namespace, pod.labels))
            .collect();
    }

    /// Count a pod placed (or found bound) in the given domains per key. `domain_of` gives the
    /// domains the pod's node has for a key: one for a real node, possibly several for a NodeClaim
    /// whose zone is not yet decided. As in Karpenter, spread and affinity count only a decided
    /// domain; anti-affinity (and the inverse groups) block every domain the pod could land in.
    pub fn record<'d>(
        &mut self,
        pod: PodView,
        owned_inverse: &[usize],
        domain_of: impl Fn(&str) -> Vec<&'d str>,
    ) {
        for (i, g) in self.groups.iter_mut().enumerate() {
            let counts = if g.inverse {
                owned_inverse.contains(&i)
            } else {
                g.selects(pod.namespace, pod.labels)
            };
            if !counts {
                continue;
            }
            let domains = domain_of(&g.key.key);
            let blocks_all = g.inverse || g.key.kind == GroupKind::AntiAffinity;
            if !blocks_all && domains.len() != 1 {
                continue;
            }
            for d in domains {
                *g.counts.entry(d.to_string()).or_default() += 1;
                g.total += 1;
            }
        }
    }

    /// Whether a domain is eligible for a spread group: allowed by the pod's requirements (with
    /// nodeAffinityPolicy Honor) and offered by a node or pool whose taints the pod tolerates
    /// (with nodeTaintsPolicy Honor).
    fn eligible(
        &self,
        g: &Group,
        domain: &str,
        pod_domains: &Requirement,
        tolerations: &[Toleration],
    ) -> bool {
        if g.key.honor_affinity && !pod_domains.has(domain) {
            return false;
        }
        if g.key.honor_taints {
            let sources = self
                .domains
                .get(&g.key.key)
                .and_then(|d| d.get(domain))
                .map(Vec::as_slice)
                .unwrap_or_default();
            return sources
                .iter()
                .any(|&s| first_untolerated(&self.taint_sets[s], tolerations).is_none());
        }
        true
    }

    /// Domains of `key` worth considering for a target whose own domains are `node_domains`.
    fn candidates<'a>(&'a self, key: &str, node_domains: &'a Requirement) -> Vec<&'a str> {
        if !node_domains.is_complement() {
            return node_domains.values().iter().map(String::as_str).collect();
        }
        self.domains
            .get(key)
            .map(|d| {
                d.keys()
                    .map(String::as_str)
                    .filter(|x| node_domains.has(x))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn spread_domain(
        &self,
        g: &Group,
        selects_self: bool,
        pod_domains: &Requirement,
        node_domains: &Requirement,
        tolerations: &[Toleration],
    ) -> Requirement {
        let min = if g.key.key == labels::HOSTNAME {
            // A new node is always an empty hostname domain.
            0
        } else {
            let mut eligible = 0;
            let mut min = i64::MAX;
            if let Some(domains) = self.domains.get(&g.key.key) {
                for d in domains.keys() {
                    if self.eligible(g, d, pod_domains, tolerations) {
                        eligible += 1;
                        min = min.min(g.count(d));
                    }
                }
            }
            if eligible == 0 || g.key.min_domains.is_some_and(|m| eligible < m as i64) {
                0
            } else {
                min
            }
        };
        let mut best: Option<(&str, i64)> = None;
        for d in self.candidates(&g.key.key, node_domains) {
            if !pod_domains.has(d) {
                continue;
            }
            let count = g.count(d) + i64::from(selects_self);
            if count - min <= g.key.max_skew as i64 && best.is_none_or(|(_, c)| count < c) {
                best = Some((d, count));
            }
        }
        match best {
            Some((d, _)) => Requirement::single(d),
            None => Requirement::does_not_exist(),
        }
    }

    fn affinity_domains(
        &self,
        g: &Group,
        selects_self: bool,
        pod_domains: &Requirement,
        node_domains: &Requirement,
    ) -> Requirement {
        if g.total == 0 {
            // Nothing matches anywhere yet: a self-selecting pod bootstraps in a domain of the target.
            if !selects_self {
                return Requirement::does_not_exist();
            }
            return match self
                .candidates(&g.key.key, node_domains)
                .into_iter()
                .find(|d| pod_domains.has(d))
            {
                Some(d) => Requirement::single(d),
                None => Requirement::does_not_exist(),
            };
        }
        let options: Vec<String> = self
            .candidates(&g.key.key, node_domains)
            .into_iter()
            .filter(|d| pod_domains.has(d) && g.count(d) > 0)
            .map(str::to_string)
            .collect();
        if options.is_empty() {
            Requirement::does_not_exist()
        } else {
            Requirement::in_values(options)
        }
    }

    fn empty_domains(
        &self,
        g: &Group,
        pod_domains: &Requirement,
        node_domains: &Requirement,
    ) -> Requirement {
        let options: Vec<String> = self
            .candidates(&g.key.key, node_domains)
            .into_iter()
            .filter(|d| pod_domains.has(d) && g.count(d) == 0)
            .map(str::to_string)
            .collect();
        if options.is_empty() {
            Requirement::does_not_exist()
        } else {
            Requirement::in_values(options)
        }
    }

    /// The requirements topology adds for a pod on a target with `node_reqs`: one requirement per
    /// constrained key, or the first constraint that leaves no domain.
    pub fn requirements(
        &self,
        pod: PodView,
        groups: &PodGroups,
        pod_reqs: &Requirements,
        node_reqs: &Requirements,
        tolerations: &[Toleration],
    ) -> Result<Requirements, TopologyError> {
        let mut out = Requirements::new();
        let exists = Requirement::exists();
        let domains_for = |reqs: &'_ Requirements, key: &str| -> Requirement {
            reqs.get(key).cloned().unwrap_or_else(|| exists.clone())
        };
        let mut check = |g: &Group, domains: Requirement| -> Result<(), TopologyError> {
            if domains.is_empty() {
                return Err(TopologyError {
                    key: g.key.key.clone(),
                    kind: g.key.kind,
                });
            }
            out.add(&g.key.key, domains);
            Ok(())
        };
        for &i in &groups.own {
            let g = &self.groups[i];
            let pod_domains = domains_for(pod_reqs, &g.key.key);
            let node_domains = domains_for(node_reqs, &g.key.key);
            let selects_self = g.selects(pod.namespace, pod.labels);
            let domains = match g.key.kind {
                GroupKind::Spread => {
                    self.spread_domain(g, selects_self, &pod_domains, &node_domains, tolerations)
                }
                GroupKind::Affinity => {
                    self.affinity_domains(g, selects_self, &pod_domains, &node_domains)
                }
                GroupKind::AntiAffinity => self.empty_domains(g, &pod_domains, &node_domains),
            };
            check(g, domains)?;
        }
        for &i in &groups.selected_by_inverse {
            let g = &self.groups[i];
            if g.total == 0 {
                continue;
            }
            let pod_domains = domains_for(pod_reqs, &g.key.key);
            let node_domains = domains_for(node_reqs, &g.key.key);
            check(g, self.empty_domains(g, &pod_domains, &node_domains))?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::affinity::WhenUnsatisfiable;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn zone_spread(skew: i32) -> TopologySpread {
        TopologySpread {
            max_skew: skew,
            topology_key: labels::ZONE.into(),
            when_unsatisfiable: WhenUnsatisfiable::DoNotSchedule,
            selector: LabelSelector {
                match_labels: labels(&[("app", "web")]),
                match_expressions: vec![],
            },
            min_domains: None,
            node_affinity_policy: InclusionPolicy::Honor,
            node_taints_policy: InclusionPolicy::Ignore,
            match_label_keys: vec![],
        }
    }

    fn zone_reqs(zones: &[&str]) -> Requirements {
        let mut r = Requirements::new();
        r.add(
            labels::ZONE,
            Requirement::in_values(zones.iter().map(|z| z.to_string())),
        );
        r
    }

    #[test]
    fn spread_picks_the_least_loaded_valid_zone() {
        let mut t = Topology::default();
        for z in ["a", "b", "c"] {
            t.add_domain(labels::ZONE, z, &[]);
        }
        let l = labels(&[("app", "web")]);
        let pod = PodView {
            namespace: "ns",
            labels: &l,
        };
        let spread = [zone_spread(1)];
        let g = t.register(pod, &spread, [], [], []);
        let any = Requirements::new();
        let mut placed = Vec::new();
        for _ in 0..6 {
            let r = t.requirements(pod, &g, &any, &any, &[]).unwrap();
            let zone = r
                .get(labels::ZONE)
                .unwrap()
                .values()
                .iter()
                .next()
                .unwrap()
                .clone();
            t.record(pod, &[], |_| vec![zone.as_str()]);
            placed.push(zone);
        }
        assert_eq!(placed, ["a", "b", "c", "a", "b", "c"]);
        // A target confined to zone a while a is ahead by one breaks maxSkew 1.
        t.record(pod, &[], |_| vec!["a"]);
        let err = t
            .requirements(pod, &g, &any, &zone_reqs(&["a"]), &[])
            .unwrap_err();
        assert_eq!(err.kind, GroupKind::Spread);
    }

    /// A pod (anti-)affinity term selecting `app=<app>` over `key`.
    fn app_term(app: &str, key: &str) -> PodAffinityTerm {
        PodAffinityTerm {
            selector: LabelSelector {
                match_labels: labels(&[("app", app)]),
                match_expressions: vec![],
            },
            namespaces: vec![],
            namespace_selector: None,
            topology_key: key.into(),
            match_label_keys: vec![],
        }
    }

    #[test]
    fn anti_affinity_and_its_inverse() {
        let mut t = Topology::default();
        let l = labels(&[("app", "db")]);
        let pod = PodView {
            namespace: "ns",
            labels: &l,
        };
        let term = app_term("db", labels::HOSTNAME);
        let terms = [term];
        let mut g = t.register(pod, [], [], &terms, &terms);
        t.link_inverse(pod, &mut g);
        for h in ["n1", "n2"] {
            t.add_domain(labels::HOSTNAME, h, &[]);
        }
        let on = |h: &str| {
            let mut r = Requirements::new();
            r.add(labels::HOSTNAME, Requirement::single(h));
            r
        };
        let any = Requirements::new();
        assert!(t.requirements(pod, &g, &any, &on("n1"), &[]).is_ok());
        t.record(pod, &g.owns_inverse, |_| vec!["n1"]);
        assert!(t.requirements(pod, &g, &any, &on("n1"), &[]).is_err());
        assert!(t.requirements(pod, &g, &any, &on("n2"), &[]).is_ok());
        // A pod without the term but selected by it is kept away by the inverse group.
        let other = PodView {
            namespace: "ns",
            labels: &l,
        };
        let mut none = PodGroups::default();
        t.link_inverse(other, &mut none);
        assert!(t.requirements(other, &none, &any, &on("n1"), &[]).is_err());
        let unrelated = labels(&[("app", "web")]);
        let web = PodView {
            namespace: "ns",
            labels: &unrelated,
        };
        let mut web_groups = PodGroups::default();
        t.link_inverse(web, &mut web_groups);
        assert!(t
            .requirements(web, &web_groups, &any, &on("n1"), &[])
            .is_ok());
    }

    #[test]
    fn affinity_bootstraps_then_follows() {
        let mut t = Topology::default();
        for z in ["a", "b"] {
            t.add_domain(labels::ZONE, z, &[]);
        }
        let l = labels(&[("app", "cache")]);
        let pod = PodView {
            namespace: "ns",
            labels: &l,
        };
        let term = app_term("cache", labels::ZONE);
        let terms = [term];
        let g = t.register(pod, [], &terms, [], []);
        let any = Requirements::new();
        let r = t.requirements(pod, &g, &any, &any, &[]).unwrap();
        assert_eq!(r.get(labels::ZONE).unwrap(), &Requirement::single("a"));
        t.record(pod, &[], |_| vec!["b"]);
        let r = t.requirements(pod, &g, &any, &any, &[]).unwrap();
        assert_eq!(r.get(labels::ZONE).unwrap(), &Requirement::single("b"));
        assert!(t
            .requirements(pod, &g, &any, &zone_reqs(&["a"]), &[])
            .is_err());
    }
}
