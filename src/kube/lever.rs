//! Karpenter's own levers, pulled for karpdeck's holds on a NodePool (see
//! [`crate::model::hold`]): a hold sets the pool's disruption budgets to `nodes: "0"` (no
//! voluntary disruption), and supervision also pins its limits to what it uses now (no new
//! launches). The fields a hold changes are kept, as they were, in an annotation; when the last
//! hold goes they are put back exactly — absent where they were absent.
//!
//! The change is computed here from the object as read (pure, so it is tested without a
//! server) and sent as one JSON Patch that first tests the object's resourceVersion: a NodePool
//! edited meanwhile is read again, never overwritten.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::model::{Hold, HoldChange as Change, HoldKind};

pub use crate::model::hold::ORIGINAL_ANNOTATION;

/// The resources whose limits supervision pins: every instance type needs both.
const PINNED: [&str; 2] = ["cpu", "memory"];

/// The fields a hold changes, as JSON (`None`: absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Levers {
    /// `spec.limits`.
    pub limits: Option<Value>,
    /// `spec.disruption.budgets`.
    pub budgets: Option<Value>,
    /// Whether `spec.disruption` is there at all (a hold may have to make it).
    pub disruption: bool,
}

impl Levers {
    /// The levers of a NodePool object as it is.
    fn of(pool: &Value) -> Self {
        let present = |v: Option<&Value>| v.filter(|v| !v.is_null()).cloned();
        Self {
            limits: present(pool.pointer("/spec/limits")),
            budgets: present(pool.pointer("/spec/disruption/budgets")),
            disruption: present(pool.pointer("/spec/disruption")).is_some(),
        }
    }

    /// The annotation's value.
    fn to_annotation(&self) -> String {
        json!({"limits": self.limits, "budgets": self.budgets, "disruption": self.disruption})
            .to_string()
    }

    /// Read the annotation back.
    fn from_annotation(value: &str) -> Result<Self, String> {
        let v: Value = serde_json::from_str(value).map_err(|e| {
            format!("annotation {ORIGINAL_ANNOTATION} is not the JSON karpdeck writes: {e}")
        })?;
        let levers = Self::of(&json!({
            "spec": {"limits": v["limits"], "disruption": {"budgets": v["budgets"]}}
        }));
        Ok(Self {
            disruption: v["disruption"].as_bool().unwrap_or(true),
            ..levers
        })
    }

    /// One line for previews and the journal: `limits {"cpu":"1000"}, budgets [{"nodes":"10%"}]`.
    pub fn describe(&self) -> String {
        let show = |v: &Option<Value>| v.as_ref().map_or("(none)".into(), Value::to_string);
        format!(
            "limits {}, budgets {}",
            show(&self.limits),
            show(&self.budgets)
        )
    }
}

/// What a change does to one NodePool.
#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    /// The NodePool.
    pub pool: String,
    /// Its levers before.
    pub before: Levers,
    /// And after.
    pub after: Levers,
    /// The JSON Patch that makes it so.
    pub patch: Value,
}

/// Why a change needs no edit.
#[derive(Debug, Clone, PartialEq)]
pub enum Unchanged {
    /// The same holder already holds it.
    AlreadyHeld(Hold),
    /// There is no hold of that kind to release.
    NotHeld(HoldKind),
}

/// What `change` does to the NodePool object `pool` (as read from the API). `counted` is the
/// pool's usage as karpdeck counts it from its nodes, for supervision's pins when Karpenter has
/// not published `status.resources`. Another holder's supervision is refused, naming it.
pub fn edit(
    pool: &Value,
    change: &Change,
    counted: &BTreeMap<String, String>,
) -> Result<Result<Edit, Unchanged>, String> {
    let name = pool
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let annotations: BTreeMap<String, String> = pool
        .pointer("/metadata/annotations")
        .and_then(|a| serde_json::from_value(a.clone()).ok())
        .unwrap_or_default();
    let mut holds: BTreeMap<HoldKind, Hold> = BTreeMap::new();
    for kind in HoldKind::ALL {
        if let Some(value) = annotations.get(kind.annotation()) {
            let hold = Hold::parse(kind, value).map_err(|e| {
                format!(
                    "nodepool {name}: metadata.annotations.{}: {e}",
                    kind.annotation()
                )
            })?;
            holds.insert(kind, hold);
        }
    }
    let before = Levers::of(pool);
    let original = match annotations.get(ORIGINAL_ANNOTATION) {
        Some(v) => Levers::from_annotation(v).map_err(|e| format!("nodepool {name}: {e}"))?,
        None if holds.is_empty() => before.clone(),
        // What is there now is karpdeck's pins, not the pool's own settings.
        None => {
            return Err(format!(
                "nodepool {name} carries karpdeck's hold but not {ORIGINAL_ANNOTATION}: its limits and budgets as they were are lost; set them by hand, then remove the karpdeck.io annotations"
            ))
        }
    };
    let pinning = match change {
        Change::Take(hold) => {
            if let Some(held) = holds.get(&hold.kind) {
                if held.by == hold.by {
                    return Ok(Err(Unchanged::AlreadyHeld(held.clone())));
                }
                if hold.kind == HoldKind::Supervise {
                    return Err(held.supervised_refusal(&name));
                }
                // A freeze is a freeze, whoever declared it first.
                return Ok(Err(Unchanged::AlreadyHeld(held.clone())));
            }
            holds.insert(hold.kind, hold.clone());
            hold.kind == HoldKind::Supervise
        }
        Change::Release(kind) => {
            if holds.remove(kind).is_none() {
                return Ok(Err(Unchanged::NotHeld(*kind)));
            }
            false
        }
    };
    let mut after = Levers {
        limits: if pinning {
            Some(pins(pool, counted))
        } else if holds.contains_key(&HoldKind::Supervise) {
            before.limits.clone()
        } else {
            original.limits.clone()
        },
        budgets: if holds.is_empty() {
            original.budgets.clone()
        } else {
            Some(json!([{"nodes": "0"}]))
        },
        disruption: true,
    };
    let mut ops = vec![json!({
        "op": "test",
        "path": "/metadata/resourceVersion",
        "value": pool.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null),
    })];
    set(&mut ops, "/spec/limits", &before.limits, &after.limits);
    // A `spec.disruption` that only the holds made goes with them.
    let made_by_holds = holds.is_empty()
        && !original.disruption
        && pool
            .pointer("/spec/disruption")
            .and_then(Value::as_object)
            .is_some_and(|d| d.keys().all(|k| k == "budgets"));
    if made_by_holds {
        ops.push(json!({"op": "remove", "path": "/spec/disruption"}));
        after.disruption = false;
    } else {
        if !before.disruption && after.budgets.is_some() {
            ops.push(json!({"op": "add", "path": "/spec/disruption", "value": {}}));
        }
        set(
            &mut ops,
            "/spec/disruption/budgets",
            &before.budgets,
            &after.budgets,
        );
    }
    let mut wanted: BTreeMap<&str, Option<String>> = HoldKind::ALL
        .iter()
        .map(|k| (k.annotation(), holds.get(k).map(Hold::value)))
        .collect();
    wanted.insert(
        ORIGINAL_ANNOTATION,
        (!holds.is_empty()).then(|| original.to_annotation()),
    );
    if pool.pointer("/metadata/annotations").is_none() {
        ops.push(json!({"op": "add", "path": "/metadata/annotations", "value": {}}));
    }
    for (key, value) in wanted {
        let path = format!(
            "/metadata/annotations/{}",
            key.replace('~', "~0").replace('/', "~1")
        );
        let was = annotations.get(key).map(|v| json!(v));
        set(&mut ops, &path, &was, &value.map(Value::String));
    }
    Ok(Ok(Edit {
        pool: name,
        before,
        after,
        patch: Value::Array(ops),
    }))
}

/// The JSON Patch operation that takes `path` from `was` to `now`, if they differ.
fn set(ops: &mut Vec<Value>, path: &str, was: &Option<Value>, now: &Option<Value>) {
    match (was, now) {
        (Some(a), Some(b)) if a == b => {}
        (None, None) => {}
        (_, Some(b)) => ops.push(json!({"op": "add", "path": path, "value": b})),
        (Some(_), None) => ops.push(json!({"op": "remove", "path": path})),
    }
}

/// Limits at the pool's usage now: Karpenter's own count (`status.resources`) where it has
/// published one, else karpdeck's from the pool's nodes. Launching anything would exceed them.
fn pins(pool: &Value, counted: &BTreeMap<String, String>) -> Value {
    let published = |r: &str| {
        pool.pointer(&format!("/status/resources/{r}"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let mut limits = serde_json::Map::new();
    for r in PINNED {
        let usage = published(r)
            .or_else(|| counted.get(r).cloned())
            .unwrap_or_else(|| "0".into());
        limits.insert(r.to_string(), Value::String(usage));
    }
    Value::Object(limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> Value {
        json!({
            "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {"name": "general", "resourceVersion": "41",
                         "annotations": {"team": "platform"}},
            "spec": {
                "limits": {"cpu": "1000", "nvidia.com/gpu": "8"},
                "disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized",
                               "budgets": [{"nodes": "10%"}, {"nodes": "0", "schedule": "0 9 * * *", "duration": "8h"}]},
                "template": {"spec": {"requirements": []}},
            },
            "status": {"resources": {"cpu": "48", "memory": "192Gi", "pods": "330"}},
        })
    }

    fn hold(kind: HoldKind, by: &str) -> Hold {
        Hold {
            kind,
            by: by.into(),
            since: "2026-12-06T22:41:00Z".parse().unwrap(),
        }
    }

    /// The object as the server would have it after the patch (RFC 6902, the ops `edit` uses).
    fn apply(mut v: Value, patch: &Value) -> Value {
        for op in patch.as_array().unwrap() {
            let path = op["path"].as_str().unwrap();
            let (parent, key) = path.rsplit_once('/').unwrap();
            let key = key.replace("~1", "/").replace("~0", "~");
            match op["op"].as_str().unwrap() {
                "test" => assert_eq!(v.pointer(path), Some(&op["value"]), "test {path}"),
                "add" => {
                    v.pointer_mut(parent)
                        .unwrap()
                        .as_object_mut()
                        .unwrap()
                        .insert(key, op["value"].clone());
                }
                "remove" => {
                    v.pointer_mut(parent)
                        .unwrap()
                        .as_object_mut()
                        .unwrap()
                        .remove(&key)
                        .expect("removes what is there");
                }
                other => panic!("unexpected op {other}"),
            }
        }
        v
    }

    fn changed(v: &Value, change: Change) -> Value {
        let e = edit(v, &change, &BTreeMap::new()).unwrap().unwrap();
        let mut after = apply(v.clone(), &e.patch);
        after["metadata"]["resourceVersion"] = json!("next");
        after
    }

    #[test]
    fn supervision_pins_limits_and_zeroes_budgets_and_release_restores_them_exactly() {
        let v = pool();
        let held = changed(&v, Change::Take(hold(HoldKind::Supervise, "a@h")));
        assert_eq!(
            held["spec"]["limits"],
            json!({"cpu": "48", "memory": "192Gi"})
        );
        assert_eq!(
            held["spec"]["disruption"]["budgets"],
            json!([{"nodes": "0"}])
        );
        assert_eq!(
            held["spec"]["disruption"]["consolidationPolicy"],
            "WhenEmptyOrUnderutilized"
        );
        assert_eq!(
            held["metadata"]["annotations"]["karpdeck.io/supervised"],
            "a@h 2026-12-06T22:41:00Z"
        );
        assert_eq!(held["metadata"]["annotations"]["team"], "platform");
        let released = changed(&held, Change::Release(HoldKind::Supervise));
        let mut expected = v.clone();
        expected["metadata"]["resourceVersion"] = json!("next");
        assert_eq!(released, expected);
    }

    #[test]
    fn absent_fields_come_back_absent_and_pins_fall_back_to_karpdecks_count() {
        let v = json!({"metadata": {"name": "bare", "resourceVersion": "7"},
                       "spec": {"template": {"spec": {}}}});
        let counted = BTreeMap::from([("cpu".to_string(), "4".to_string())]);
        let e = edit(
            &v,
            &Change::Take(hold(HoldKind::Supervise, "a@h")),
            &counted,
        )
        .unwrap()
        .unwrap();
        assert_eq!(e.after.limits, Some(json!({"cpu": "4", "memory": "0"})));
        let mut held = apply(v.clone(), &e.patch);
        held["metadata"]["resourceVersion"] = json!("8");
        let released = changed(&held, Change::Release(HoldKind::Supervise));
        assert_eq!(released["spec"], v["spec"]);
        assert_eq!(released["metadata"]["annotations"], json!({}));
    }

    #[test]
    fn holds_stack_and_the_last_release_restores() {
        let v = pool();
        let frozen = changed(&v, Change::Take(hold(HoldKind::Freeze, "a@h")));
        assert_eq!(frozen["spec"]["limits"], v["spec"]["limits"]);
        let both = changed(&frozen, Change::Take(hold(HoldKind::Supervise, "b@h")));
        assert_eq!(both["spec"]["limits"]["cpu"], "48");
        // Unfrozen while supervised: still no voluntary disruption, limits still pinned.
        let supervised = changed(&both, Change::Release(HoldKind::Freeze));
        assert_eq!(
            supervised["spec"]["disruption"]["budgets"],
            json!([{"nodes": "0"}])
        );
        assert_eq!(supervised["spec"]["limits"]["cpu"], "48");
        let released = changed(&supervised, Change::Release(HoldKind::Supervise));
        assert_eq!(released["spec"], v["spec"]);
        assert_eq!(
            released["metadata"]["annotations"],
            v["metadata"]["annotations"]
        );
    }

    #[test]
    fn another_holders_supervision_is_refused_and_repeats_change_nothing() {
        let held = changed(&pool(), Change::Take(hold(HoldKind::Supervise, "a@h")));
        let e = edit(
            &held,
            &Change::Take(hold(HoldKind::Supervise, "b@h")),
            &BTreeMap::new(),
        );
        assert_eq!(
            e.unwrap_err(),
            "nodepool general is already supervised by a@h since 2026-12-06T22:41:00Z: `karpdeck release general` lets go of it"
        );
        let again = edit(
            &held,
            &Change::Take(hold(HoldKind::Supervise, "a@h")),
            &BTreeMap::new(),
        );
        assert!(matches!(again, Ok(Err(Unchanged::AlreadyHeld(_)))));
        let none = edit(
            &pool(),
            &Change::Release(HoldKind::Freeze),
            &BTreeMap::new(),
        );
        assert_eq!(none, Ok(Err(Unchanged::NotHeld(HoldKind::Freeze))));
    }

    #[test]
    fn a_mangled_annotation_is_named() {
        let mut v = pool();
        v["metadata"]["annotations"]["karpdeck.io/frozen"] = json!("someone");
        let e = edit(&v, &Change::Release(HoldKind::Freeze), &BTreeMap::new()).unwrap_err();
        assert!(
            e.starts_with("nodepool general: metadata.annotations.karpdeck.io/frozen:"),
            "{e}"
        );
    }
}
