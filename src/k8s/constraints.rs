//! Shared pieces: resource lists, requirements, selectors, taints, tolerations, affinity.

use super::error::ConvertError;
use super::field::Field;
use crate::model::affinity::{InclusionPolicy, PodAffinity, WhenUnsatisfiable};
use crate::model::{
    LabelSelector, NodeAffinity, Operator, PodAffinityTerm, Requirement, Requirements, Resources,
    SelectorOp, Taint, TaintEffect, Toleration, TolerationOp, TopologySpread,
    WeightedPodAffinityTerm,
};

/// A `ResourceList` (`cpu: 500m`, `memory: 1Gi`, `nvidia.com/gpu: 1`); negative amounts are refused.
pub fn resources(f: &Field) -> Result<Resources, ConvertError> {
    let mut r = Resources::default();
    for (name, value) in f.entries()? {
        let q = value.quantity()?;
        if q.is_negative() {
            return Err(value.error(format!("{name} must not be negative")));
        }
        r.set(&name, &q);
    }
    Ok(r)
}

/// An optional child `ResourceList`.
pub fn opt_resources<'a>(f: &Field<'a>, key: &'a str) -> Result<Option<Resources>, ConvertError> {
    f.get(key).map(|r| resources(&r)).transpose()
}

/// A string list (`values: [a, b]`).
pub fn strings<'a>(f: &Field<'a>, key: &'a str) -> Result<Vec<String>, ConvertError> {
    f.list(key)?.iter().map(|v| v.string()).collect()
}

/// One `{key, operator, values[, minValues]}` requirement.
pub fn requirement(f: &Field) -> Result<(String, Requirement), ConvertError> {
    let key = f.req("key")?.string()?;
    let op_field = f.req("operator")?;
    let op_raw = op_field.string()?;
    let op = Operator::parse(&op_raw).ok_or_else(|| {
        op_field.error(format!(
            "unknown operator {op_raw:?} (use In, NotIn, Exists, DoesNotExist, Gt or Lt)"
        ))
    })?;
    let values = strings(f, "values")?;
    let min_values = match f.get("minValues") {
        Some(m) => {
            let n = m.int()?;
            Some(u32::try_from(n).map_err(|_| m.error("minValues must be positive"))?)
        }
        None => None,
    };
    let req = Requirement::new(op, &values)
        .map_err(|e| f.error(e.to_string()))?
        .with_min_values(min_values);
    Ok((key, req))
}

/// Requirements as an object's spec writes them (`{key, operator, values[, minValues]}`), the
/// way Karpenter writes a NodeClaim's: integer bounds as `Gt`/`Lt`, complements as `NotIn` or
/// `Exists`. The reverse of [`requirements`].
pub fn requirements_json(reqs: &Requirements) -> Vec<serde_json::Value> {
    use serde_json::json;
    let mut out = Vec::new();
    for (key, r) in reqs.iter() {
        let mut bounded = false;
        if let Some(n) = r.gte() {
            out.push(json!({"key": key, "operator": "Gt", "values": [(n - 1).to_string()]}));
            bounded = true;
        }
        if let Some(n) = r.lte() {
            out.push(json!({"key": key, "operator": "Lt", "values": [(n + 1).to_string()]}));
            bounded = true;
        }
        if bounded {
            continue;
        }
        let op = r.operator();
        let mut item = json!({"key": key, "operator": op.as_str()});
        if matches!(op, Operator::In | Operator::NotIn) {
            item["values"] = json!(r.values().iter().collect::<Vec<_>>());
        }
        if let Some(m) = r.min_values() {
            item["minValues"] = json!(m);
        }
        out.push(item);
    }
    out
}

/// Taints as a spec writes them (`{key, value, effect}`).
pub fn taints_json(taints: &[Taint]) -> Vec<serde_json::Value> {
    taints
        .iter()
        .map(|t| {
            let mut item = serde_json::json!({"key": t.key, "effect": t.effect.as_str()});
            if !t.value.is_empty() {
                item["value"] = serde_json::json!(t.value);
            }
            item
        })
        .collect()
}

/// A list of requirements ANDed together.
pub fn requirements<'a>(f: &Field<'a>, key: &'a str) -> Result<Requirements, ConvertError> {
    let mut out = Requirements::new();
    for item in f.list(key)? {
        let (k, r) = requirement(&item)?;
        out.add(&k, r);
    }
    Ok(out)
}

/// `nodeSelector` as `In` requirements.
pub fn node_selector(spec: &Field) -> Result<Requirements, ConvertError> {
    Ok(Requirements::from_labels(
        spec.opt_string_map("nodeSelector")?.iter(),
    ))
}

/// A node-selector term's expressions, and whether it also has `matchFields` (validated, kept as
/// a flag: only `metadata.name` exists, and Karpenter does not provision for such pods).
fn node_selector_term(term: &Field) -> Result<(Requirements, bool), ConvertError> {
    let fields = term.list("matchFields")?;
    for f in &fields {
        requirement(f)?;
    }
    Ok((requirements(term, "matchExpressions")?, !fields.is_empty()))
}

/// `affinity.nodeAffinity`.
pub fn node_affinity(affinity: &Field) -> Result<NodeAffinity, ConvertError> {
    let mut out = NodeAffinity::default();
    let Some(na) = affinity.get("nodeAffinity") else {
        return Ok(out);
    };
    if let Some(req) = na.get("requiredDuringSchedulingIgnoredDuringExecution") {
        for term in req.list("nodeSelectorTerms")? {
            let (reqs, match_fields) = node_selector_term(&term)?;
            out.uses_match_fields |= match_fields;
            out.required.push(reqs);
        }
    }
    for pref in na.list("preferredDuringSchedulingIgnoredDuringExecution")? {
        let weight = weight(&pref)?;
        out.preferred
            .push((weight, node_selector_term(&pref.req("preference")?)?.0));
    }
    Ok(out)
}

fn weight(f: &Field) -> Result<i32, ConvertError> {
    let w = f.req("weight")?;
    let n = w.int()?;
    if !(1..=100).contains(&n) {
        return Err(w.error(format!("weight must be 1..100, got {n}")));
    }
    Ok(n as i32)
}

/// A `metav1.LabelSelector`.
pub fn label_selector(f: &Field) -> Result<LabelSelector, ConvertError> {
    let mut out = LabelSelector {
        match_labels: f.opt_string_map("matchLabels")?,
        match_expressions: Vec::new(),
    };
    for e in f.list("matchExpressions")? {
        let key = e.req("key")?.string()?;
        let op_field = e.req("operator")?;
        let op = match op_field.string()?.as_str() {
            "In" => SelectorOp::In,
            "NotIn" => SelectorOp::NotIn,
            "Exists" => SelectorOp::Exists,
            "DoesNotExist" => SelectorOp::DoesNotExist,
            other => {
                return Err(op_field.error(format!(
                    "unknown operator {other:?} (use In, NotIn, Exists or DoesNotExist)"
                )))
            }
        };
        let values = strings(&e, "values")?;
        match op {
            SelectorOp::In | SelectorOp::NotIn if values.is_empty() => {
                return Err(e.error("operator In and NotIn need at least one value"))
            }
            SelectorOp::Exists | SelectorOp::DoesNotExist if !values.is_empty() => {
                return Err(e.error("operator Exists and DoesNotExist take no values"))
            }
            _ => {}
        }
        out.match_expressions.push((key, op, values));
    }
    Ok(out)
}

fn pod_affinity_term(f: &Field) -> Result<PodAffinityTerm, ConvertError> {
    Ok(PodAffinityTerm {
        selector: f
            .get("labelSelector")
            .map(|s| label_selector(&s))
            .transpose()?
            .unwrap_or_default(),
        namespaces: strings(f, "namespaces")?,
        namespace_selector: f
            .get("namespaceSelector")
            .map(|s| label_selector(&s))
            .transpose()?,
        topology_key: f.req("topologyKey")?.string()?,
        match_label_keys: strings(f, "matchLabelKeys")?,
    })
}

fn weighted_terms(f: &Field) -> Result<Vec<WeightedPodAffinityTerm>, ConvertError> {
    f.list("preferredDuringSchedulingIgnoredDuringExecution")?
        .iter()
        .map(|p| {
            Ok(WeightedPodAffinityTerm {
                weight: weight(p)?,
                term: pod_affinity_term(&p.req("podAffinityTerm")?)?,
            })
        })
        .collect()
}

fn required_terms(f: &Field) -> Result<Vec<PodAffinityTerm>, ConvertError> {
    f.list("requiredDuringSchedulingIgnoredDuringExecution")?
        .iter()
        .map(pod_affinity_term)
        .collect()
}

/// `affinity.podAffinity` and `affinity.podAntiAffinity`.
pub fn pod_affinity(affinity: &Field) -> Result<PodAffinity, ConvertError> {
    let mut out = PodAffinity::default();
    if let Some(a) = affinity.get("podAffinity") {
        out.required = required_terms(&a)?;
        out.preferred = weighted_terms(&a)?;
    }
    if let Some(a) = affinity.get("podAntiAffinity") {
        out.anti_required = required_terms(&a)?;
        out.anti_preferred = weighted_terms(&a)?;
    }
    Ok(out)
}

fn effect(f: &Field) -> Result<TaintEffect, ConvertError> {
    let raw = f.string()?;
    TaintEffect::parse(&raw).ok_or_else(|| {
        f.error(format!(
            "unknown effect {raw:?} (use NoSchedule, PreferNoSchedule or NoExecute)"
        ))
    })
}

/// A list of taints.
pub fn taints<'a>(f: &Field<'a>, key: &'a str) -> Result<Vec<Taint>, ConvertError> {
    f.list(key)?
        .iter()
        .map(|t| {
            Ok(Taint {
                key: t.req("key")?.string()?,
                value: t.opt_string("value")?.unwrap_or_default(),
                effect: effect(&t.req("effect")?)?,
            })
        })
        .collect()
}

/// `spec.tolerations`.
pub fn tolerations(spec: &Field) -> Result<Vec<Toleration>, ConvertError> {
    spec.list("tolerations")?
        .iter()
        .map(|t| {
            let op = match t.opt_string("operator")?.as_deref() {
                None | Some("Equal") | Some("") => TolerationOp::Equal,
                Some("Exists") => TolerationOp::Exists,
                Some(other) => {
                    return Err(t
                        .req("operator")?
                        .error(format!("unknown operator {other:?} (use Equal or Exists)")))
                }
            };
            let key = t.opt_string("key")?.unwrap_or_default();
            if key.is_empty() && op == TolerationOp::Equal {
                return Err(t.error("an empty key needs operator Exists"));
            }
            Ok(Toleration {
                key,
                op,
                value: t.opt_string("value")?.unwrap_or_default(),
                // An empty effect matches every effect.
                effect: match t.opt_string("effect")?.as_deref() {
                    None | Some("") => None,
                    Some(_) => Some(effect(&t.req("effect")?)?),
                },
            })
        })
        .collect()
}

fn inclusion(
    f: &Field,
    key: &'static str,
    default: InclusionPolicy,
) -> Result<InclusionPolicy, ConvertError> {
    match f.opt_string(key)?.as_deref() {
        None => Ok(default),
        Some("Honor") => Ok(InclusionPolicy::Honor),
        Some("Ignore") => Ok(InclusionPolicy::Ignore),
        Some(other) => Err(f
            .req(key)?
            .error(format!("unknown policy {other:?} (use Honor or Ignore)"))),
    }
}

/// `spec.topologySpreadConstraints`.
pub fn topology_spread(spec: &Field) -> Result<Vec<TopologySpread>, ConvertError> {
    spec.list("topologySpreadConstraints")?
        .iter()
        .map(|c| {
            let skew_field = c.req("maxSkew")?;
            let max_skew = skew_field.int()?;
            if !(1..=i32::MAX as i64).contains(&max_skew) {
                return Err(skew_field.error("maxSkew must be at least 1"));
            }
            let when = c.req("whenUnsatisfiable")?;
            let when_unsatisfiable = match when.string()?.as_str() {
                "DoNotSchedule" => WhenUnsatisfiable::DoNotSchedule,
                "ScheduleAnyway" => WhenUnsatisfiable::ScheduleAnyway,
                other => {
                    return Err(when.error(format!(
                        "unknown value {other:?} (use DoNotSchedule or ScheduleAnyway)"
                    )))
                }
            };
            Ok(TopologySpread {
                max_skew: max_skew as i32,
                topology_key: c.req("topologyKey")?.string()?,
                when_unsatisfiable,
                selector: c
                    .get("labelSelector")
                    .map(|s| label_selector(&s))
                    .transpose()?
                    .unwrap_or_default(),
                min_domains: match c.get("minDomains") {
                    Some(f) => Some(
                        i32::try_from(f.int()?)
                            .ok()
                            .filter(|n| *n >= 1)
                            .ok_or_else(|| f.error("minDomains must be at least 1"))?,
                    ),
                    None => None,
                },
                node_affinity_policy: inclusion(c, "nodeAffinityPolicy", InclusionPolicy::Honor)?,
                node_taints_policy: inclusion(c, "nodeTaintsPolicy", InclusionPolicy::Ignore)?,
                match_label_keys: strings(c, "matchLabelKeys")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod writer_tests {
    use super::*;
    use crate::k8s::field::Origin;

    #[test]
    fn requirements_written_read_back_are_the_same() {
        let text = serde_json::json!({"r": [
            {"key": "a", "operator": "In", "values": ["x", "y"], "minValues": 2},
            {"key": "b", "operator": "NotIn", "values": ["z"]},
            {"key": "c", "operator": "Exists"},
            {"key": "d", "operator": "DoesNotExist"},
            {"key": "e", "operator": "Gt", "values": ["4"]},
            {"key": "f", "operator": "Lt", "values": ["9"]},
        ]});
        let origin = Origin {
            file: "t".into(),
            position: String::new(),
            object: "t".into(),
        };
        let read = requirements(&Field::root(&text, &origin), "r").unwrap();
        let written = serde_json::json!({ "r": requirements_json(&read) });
        let again = requirements(&Field::root(&written, &origin), "r").unwrap();
        assert_eq!(read, again);
        assert_eq!(
            written["r"][4],
            serde_json::json!({"key": "e", "operator": "Gt", "values": ["4"]})
        );
    }
}
