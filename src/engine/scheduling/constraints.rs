//! A pending pod's scheduling constraints as Karpenter treats them: preferences count as required
//! until relaxed, one relaxation at a time, in Karpenter's order.

use crate::model::affinity::WhenUnsatisfiable;
use crate::model::{Pod, WeightedPodAffinityTerm};
use crate::model::{
    PodAffinityTerm, Requirements, TaintEffect, Toleration, TolerationOp, TopologySpread,
};

/// Which relaxation was applied, so a view can say what a pod gave up to schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relaxation {
    /// Dropped the first of several required node-selector terms.
    RequiredNodeTerm,
    /// Dropped the heaviest preferred pod-affinity term.
    PreferredPodAffinity,
    /// Dropped the heaviest preferred pod anti-affinity term.
    PreferredPodAntiAffinity,
    /// Dropped the heaviest preferred node-affinity term.
    PreferredNodeAffinity,
    /// Dropped a `ScheduleAnyway` topology spread constraint.
    ScheduleAnywaySpread,
    /// Tolerated `PreferNoSchedule` taints.
    PreferNoScheduleTaints,
}

/// The constraints in force for one pod at one point of the solve.
#[derive(Debug, Clone, PartialEq)]
pub struct PodConstraints {
    node_selector: Requirements,
    required_terms: Vec<Requirements>,
    /// Sorted heaviest first (stable for equal weights).
    preferred_node: Vec<(i32, Requirements)>,
    /// Required spread constraints and `ScheduleAnyway` ones not yet relaxed.
    pub spread: Vec<TopologySpread>,
    /// Required pod affinity terms.
    pub affinity: Vec<PodAffinityTerm>,
    /// Preferred pod affinity terms not yet relaxed, heaviest first.
    pub preferred_affinity: Vec<PodAffinityTerm>,
    /// Required anti-affinity terms.
    pub anti_affinity: Vec<PodAffinityTerm>,
    /// Preferred anti-affinity terms not yet relaxed, heaviest first.
    pub preferred_anti_affinity: Vec<PodAffinityTerm>,
    /// Tolerations, plus the PreferNoSchedule one once relaxed.
    pub tolerations: Vec<Toleration>,
    /// What has been relaxed so far.
    pub relaxed: Vec<Relaxation>,
}

fn by_weight(terms: &[WeightedPodAffinityTerm]) -> Vec<PodAffinityTerm> {
    let mut sorted: Vec<&WeightedPodAffinityTerm> = terms.iter().collect();
    sorted.sort_by_key(|t| std::cmp::Reverse(t.weight));
    sorted.into_iter().map(|t| t.term.clone()).collect()
}

impl PodConstraints {
    /// The pod's constraints with every preference in force (or none with `ignore_preferences`,
    /// Karpenter's `--preference-policy=Ignore`).
    pub fn new(pod: &Pod, ignore_preferences: bool) -> Self {
        let mut preferred_node = pod.node_affinity.preferred.clone();
        preferred_node.sort_by_key(|(w, _)| std::cmp::Reverse(*w));
        let spread = pod
            .topology_spread
            .iter()
            .filter(|t| {
                !ignore_preferences || t.when_unsatisfiable == WhenUnsatisfiable::DoNotSchedule
            })
            .cloned()
            .collect();
        let (preferred_affinity, preferred_anti_affinity) = if ignore_preferences {
            (Vec::new(), Vec::new())
        } else {
            (
                by_weight(&pod.pod_affinity.preferred),
                by_weight(&pod.pod_affinity.anti_preferred),
            )
        };
        Self {
            node_selector: pod.node_selector.clone(),
            required_terms: pod.node_affinity.required.clone(),
            preferred_node: if ignore_preferences {
                Vec::new()
            } else {
                preferred_node
            },
            spread,
            affinity: pod.pod_affinity.required.clone(),
            preferred_affinity,
            anti_affinity: pod.pod_affinity.anti_required.clone(),
            preferred_anti_affinity,
            tolerations: pod.tolerations.clone(),
            relaxed: Vec::new(),
        }
    }

    /// `nodeSelector` ∩ the first required node-selector term: what an existing node must satisfy.
    pub fn strict_requirements(&self) -> Requirements {
        let mut r = self.node_selector.clone();
        if let Some(first) = self.required_terms.first() {
            r.add_all(first);
        }
        r
    }

    /// Strict requirements plus the heaviest preferred node-affinity term: what a new NodeClaim
    /// must satisfy.
    pub fn requirements(&self) -> Requirements {
        let mut r = self.strict_requirements();
        if let Some((_, heaviest)) = self.preferred_node.first() {
            r.add_all(heaviest);
        }
        r
    }

    /// Pod affinity terms in force (required and unrelaxed preferred).
    pub fn all_affinity(&self) -> impl Iterator<Item = &PodAffinityTerm> {
        self.affinity.iter().chain(&self.preferred_affinity)
    }

    /// Anti-affinity terms in force (required and unrelaxed preferred).
    pub fn all_anti_affinity(&self) -> impl Iterator<Item = &PodAffinityTerm> {
        self.anti_affinity
            .iter()
            .chain(&self.preferred_anti_affinity)
    }

    /// Apply the next relaxation in Karpenter's order; `false` when nothing is left to relax.
    /// PreferNoSchedule taints are tolerated last, and only when some NodePool has one.
    pub fn relax(&mut self, prefer_no_schedule_exists: bool) -> bool {
        let step = if self.required_terms.len() > 1 {
            self.required_terms.remove(0);
            Relaxation::RequiredNodeTerm
        } else if !self.preferred_affinity.is_empty() {
            self.preferred_affinity.remove(0);
            Relaxation::PreferredPodAffinity
        } else if !self.preferred_anti_affinity.is_empty() {
            self.preferred_anti_affinity.remove(0);
            Relaxation::PreferredPodAntiAffinity
        } else if !self.preferred_node.is_empty() {
            self.preferred_node.remove(0);
            Relaxation::PreferredNodeAffinity
        } else if let Some(i) = self
            .spread
            .iter()
            .position(|t| t.when_unsatisfiable == WhenUnsatisfiable::ScheduleAnyway)
        {
            self.spread.remove(i);
            Relaxation::ScheduleAnywaySpread
        } else if prefer_no_schedule_exists
            && !self.relaxed.contains(&Relaxation::PreferNoScheduleTaints)
        {
            self.tolerations.push(Toleration {
                key: String::new(),
                op: TolerationOp::Exists,
                value: String::new(),
                effect: Some(TaintEffect::PreferNoSchedule),
            });
            Relaxation::PreferNoScheduleTaints
        } else {
            return false;
        };
        self.relaxed.push(step);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::affinity::{InclusionPolicy, LabelSelector};
    use crate::model::{Operator, Requirement};

    fn term(key: &str, value: &str) -> Requirements {
        let mut r = Requirements::new();
        r.add(
            key,
            Requirement::new(Operator::In, &[value.to_string()]).unwrap(),
        );
        r
    }

    fn pod() -> Pod {
        let text =
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c}]}\n";
        crate::scenario::load_str(
            "t",
            text,
            &Default::default(),
            crate::catalog::Catalog::embedded(),
        )
        .unwrap()
        .snapshot
        .pods
        .remove(0)
    }

    #[test]
    fn relaxes_in_karpenter_order() {
        let mut p = pod();
        p.node_affinity.required = vec![term("a", "1"), term("a", "2")];
        p.node_affinity.preferred = vec![(10, term("b", "light")), (90, term("b", "heavy"))];
        let any_term = PodAffinityTerm {
            selector: LabelSelector::default(),
            namespaces: vec![],
            namespace_selector: None,
            topology_key: "zone".into(),
            match_label_keys: vec![],
        };
        p.pod_affinity.preferred = vec![WeightedPodAffinityTerm {
            weight: 1,
            term: any_term.clone(),
        }];
        p.pod_affinity.anti_preferred = vec![WeightedPodAffinityTerm {
            weight: 1,
            term: any_term,
        }];
        p.topology_spread = vec![TopologySpread {
            max_skew: 1,
            topology_key: "zone".into(),
            when_unsatisfiable: WhenUnsatisfiable::ScheduleAnyway,
            selector: LabelSelector::default(),
            min_domains: None,
            node_affinity_policy: InclusionPolicy::Honor,
            node_taints_policy: InclusionPolicy::Ignore,
            match_label_keys: vec![],
        }];
        let mut c = PodConstraints::new(&p, false);
        assert!(c.requirements().get("a").unwrap().has("1"));
        assert!(c.requirements().get("b").unwrap().has("heavy"));
        assert!(c.strict_requirements().get("b").is_none());
        let mut steps = Vec::new();
        while c.relax(true) {
            steps.push(c.relaxed.last().unwrap().clone());
            if steps.len() == 1 {
                assert!(c.requirements().get("a").unwrap().has("2"));
            }
        }
        assert_eq!(
            steps,
            vec![
                Relaxation::RequiredNodeTerm,
                Relaxation::PreferredPodAffinity,
                Relaxation::PreferredPodAntiAffinity,
                Relaxation::PreferredNodeAffinity,
                Relaxation::PreferredNodeAffinity,
                Relaxation::ScheduleAnywaySpread,
                Relaxation::PreferNoScheduleTaints,
            ]
        );
        assert!(c.requirements().get("b").is_none());
        let ignoring = PodConstraints::new(&p, true);
        assert!(ignoring.spread.is_empty() && ignoring.preferred_affinity.is_empty());
    }
}
