//! Label requirements as sets: In, NotIn, Exists, DoesNotExist, Gt, Lt (and Gte, Lte), with
//! complement and integer bounds, intersection and compatibility following Karpenter's algebra.
//!
//! A requirement is `{complement, values, gte, lte}`: `In [a]` is `(false, {a})`, `NotIn [a]` is
//! `(true, {a})`, `Exists` is `(true, {})`, `DoesNotExist` is `(false, {})`. `Gt N` is `Exists` with
//! `gte = N+1`, `Lt N` is `Exists` with `lte = N-1`; bounds only admit integer values.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use super::labels;

/// A node-selector operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// The label's value is one of the values.
    In,
    /// The label is absent or its value is none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
    /// The label's integer value is greater than the single value.
    Gt,
    /// The label's integer value is less than the single value.
    Lt,
    /// The label's integer value is at least the single value (Karpenter extension).
    Gte,
    /// The label's integer value is at most the single value (Karpenter extension).
    Lte,
}

impl Operator {
    /// Parse the operator as written in a manifest.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "In" => Self::In,
            "NotIn" => Self::NotIn,
            "Exists" => Self::Exists,
            "DoesNotExist" => Self::DoesNotExist,
            "Gt" => Self::Gt,
            "Lt" => Self::Lt,
            "Gte" => Self::Gte,
            "Lte" => Self::Lte,
            _ => return None,
        })
    }

    /// The name as written in a manifest.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::In => "In",
            Self::NotIn => "NotIn",
            Self::Exists => "Exists",
            Self::DoesNotExist => "DoesNotExist",
            Self::Gt => "Gt",
            Self::Lt => "Lt",
            Self::Gte => "Gte",
            Self::Lte => "Lte",
        }
    }
}

/// Why a requirement could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequirementError {
    /// Gt/Lt/Gte/Lte take exactly one integer.
    #[error("operator {op} needs exactly one integer value, got {values:?}")]
    NeedsOneInteger {
        /// The operator.
        op: &'static str,
        /// What was given.
        values: Vec<String>,
    },
    /// In needs values; Exists/DoesNotExist take none.
    #[error("operator {op} {what}")]
    BadValues {
        /// The operator.
        op: &'static str,
        /// What is wrong.
        what: &'static str,
    },
}

/// The set of values one label key may take. Values are shared copy-on-write: requirements are
/// cloned on every scheduling step, and an instance-type list can hold hundreds of names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    complement: bool,
    values: Arc<BTreeSet<String>>,
    gte: Option<i64>,
    lte: Option<i64>,
    min_values: Option<u32>,
}

impl Requirement {
    /// Build from an operator and its values, validating arity like the API server does.
    pub fn new(op: Operator, values: &[String]) -> Result<Self, RequirementError> {
        let set = || values.iter().cloned().collect::<BTreeSet<_>>();
        let single_int = |op: Operator| -> Result<i64, RequirementError> {
            match values {
                [v] => v.parse::<i64>().ok(),
                _ => None,
            }
            .ok_or_else(|| RequirementError::NeedsOneInteger {
                op: op.as_str(),
                values: values.to_vec(),
            })
        };
        let r = match op {
            Operator::In => {
                if values.is_empty() {
                    return Err(RequirementError::BadValues {
                        op: "In",
                        what: "needs at least one value",
                    });
                }
                Self::in_values(set())
            }
            Operator::NotIn => {
                if values.is_empty() {
                    return Err(RequirementError::BadValues {
                        op: "NotIn",
                        what: "needs at least one value",
                    });
                }
                Self {
                    complement: true,
                    values: Arc::new(set()),
                    ..Self::exists()
                }
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                return Err(RequirementError::BadValues {
                    op: op.as_str(),
                    what: "takes no values",
                })
            }
            Operator::Exists => Self::exists(),
            Operator::DoesNotExist => Self::does_not_exist(),
            Operator::Gt => match single_int(op)?.checked_add(1) {
                Some(n) => Self::bounded(Some(n), None),
                None => Self::does_not_exist(),
            },
            Operator::Lt => match single_int(op)?.checked_sub(1) {
                Some(n) => Self::bounded(None, Some(n)),
                None => Self::does_not_exist(),
            },
            Operator::Gte => Self::bounded(Some(single_int(op)?), None),
            Operator::Lte => Self::bounded(None, Some(single_int(op)?)),
        };
        Ok(r)
    }

    /// `In [values]`.
    pub fn in_values(values: impl IntoIterator<Item = String>) -> Self {
        Self {
            complement: false,
            values: Arc::new(values.into_iter().collect()),
            gte: None,
            lte: None,
            min_values: None,
        }
    }

    /// `In [value]`.
    pub fn single(value: &str) -> Self {
        Self::in_values([value.to_string()])
    }

    /// `Exists`: any value.
    pub fn exists() -> Self {
        Self {
            complement: true,
            values: Arc::default(),
            gte: None,
            lte: None,
            min_values: None,
        }
    }

    /// `DoesNotExist`: no value.
    pub fn does_not_exist() -> Self {
        Self {
            complement: false,
            ..Self::exists()
        }
    }

    fn bounded(gte: Option<i64>, lte: Option<i64>) -> Self {
        Self {
            gte,
            lte,
            ..Self::exists()
        }
    }

    /// Attach Karpenter's `minValues` (how many distinct values a launch must keep open).
    pub fn with_min_values(mut self, min_values: Option<u32>) -> Self {
        self.min_values = min_values;
        self
    }

    /// Karpenter's `minValues`, if set.
    pub fn min_values(&self) -> Option<u32> {
        self.min_values
    }

    /// The explicit values (allowed for In, excluded for NotIn).
    pub fn values(&self) -> &BTreeSet<String> {
        &self.values
    }

    /// Whether the set is "everything except `values`".
    pub fn is_complement(&self) -> bool {
        self.complement
    }

    /// Lower integer bound, inclusive.
    pub fn gte(&self) -> Option<i64> {
        self.gte
    }

    /// Upper integer bound, inclusive.
    pub fn lte(&self) -> Option<i64> {
        self.lte
    }

    /// The operator this set reads as, the way Karpenter reports it.
    pub fn operator(&self) -> Operator {
        if self.complement {
            if self.values.is_empty() {
                Operator::Exists
            } else {
                Operator::NotIn
            }
        } else if self.values.is_empty() {
            Operator::DoesNotExist
        } else {
            Operator::In
        }
    }

    /// Whether no value at all satisfies the requirement.
    pub fn is_empty(&self) -> bool {
        !self.complement && self.values.is_empty()
    }

    /// Whether a bounded requirement admits `value`.
    fn within_bounds(&self, value: &str) -> bool {
        if self.gte.is_none() && self.lte.is_none() {
            return true;
        }
        match value.parse::<i64>() {
            Ok(n) => self.gte.is_none_or(|g| n >= g) && self.lte.is_none_or(|l| n <= l),
            Err(_) => false,
        }
    }

    /// Whether a label with this value satisfies the requirement.
    pub fn has(&self, value: &str) -> bool {
        self.within_bounds(value) && (self.values.contains(value) != self.complement)
    }

    /// Whether a node without this label satisfies the requirement (NotIn and DoesNotExist do).
    pub fn matches_absent(&self) -> bool {
        matches!(self.operator(), Operator::NotIn | Operator::DoesNotExist)
            && self.gte.is_none()
            && self.lte.is_none()
    }

    /// Whether a node's label (or its absence) satisfies the requirement.
    pub fn matches_label(&self, value: Option<&str>) -> bool {
        match value {
            Some(v) => self.has(v),
            None => self.matches_absent(),
        }
    }

    /// The set of values both requirements admit.
    pub fn intersection(&self, other: &Self) -> Self {
        // When one side already lies within the other, it is the answer: share it.
        if self.is_subset_of(other) && self.min_values >= other.min_values {
            return self.clone();
        }
        if other.is_subset_of(self) && other.min_values >= self.min_values {
            return other.clone();
        }
        let complement = self.complement && other.complement;
        let gte = max_opt(self.gte, other.gte);
        let lte = min_opt(self.lte, other.lte);
        let min_values = self.min_values.max(other.min_values);
        if let (Some(g), Some(l)) = (gte, lte) {
            if g > l {
                return Self::does_not_exist().with_min_values(min_values);
            }
        }
        let values: BTreeSet<String> = match (self.complement, other.complement) {
            (true, true) => self.values.union(&other.values).cloned().collect(),
            (true, false) => other.values.difference(&self.values).cloned().collect(),
            (false, true) => self.values.difference(&other.values).cloned().collect(),
            (false, false) => self.values.intersection(&other.values).cloned().collect(),
        };
        let mut out = Self {
            complement,
            values: Arc::new(values),
            gte,
            lte,
            min_values,
        };
        if gte.is_some() || lte.is_some() {
            // Values outside the bounds can neither be allowed nor need excluding.
            let filtered: BTreeSet<String> = out
                .values
                .iter()
                .filter(|v| out.within_bounds(v))
                .cloned()
                .collect();
            out.values = Arc::new(filtered);
        }
        if !complement {
            // A finite set already respects the bounds; they are spent.
            out.gte = None;
            out.lte = None;
        }
        out
    }

    /// Whether every value this requirement admits is also admitted by `other` (so intersecting
    /// with `other` changes nothing but possibly `minValues`).
    pub fn is_subset_of(&self, other: &Self) -> bool {
        if !self.complement {
            return self.values.iter().all(|v| other.has(v));
        }
        if !other.complement {
            return false;
        }
        let bound_ok = |mine: Option<i64>, theirs: Option<i64>, tighter: fn(i64, i64) -> bool| {
            theirs.is_none_or(|t| mine.is_some_and(|m| m == t || tighter(m, t)))
        };
        bound_ok(self.gte, other.gte, |m, t| m > t)
            && bound_ok(self.lte, other.lte, |m, t| m < t)
            && other
                .values
                .iter()
                .all(|v| self.values.contains(v) || !self.within_bounds(v))
    }

    /// Whether the two requirements share at least one value (the allocation-free check).
    pub fn intersects(&self, other: &Self) -> bool {
        if let (Some(g), Some(l)) = (max_opt(self.gte, other.gte), min_opt(self.lte, other.lte)) {
            if g > l {
                return false;
            }
        }
        match (self.complement, other.complement) {
            (true, true) => true,
            (true, false) => other
                .values
                .iter()
                .any(|v| !self.values.contains(v) && self.within_bounds(v)),
            (false, true) => self
                .values
                .iter()
                .any(|v| !other.values.contains(v) && other.within_bounds(v)),
            (false, false) => self.values.iter().any(|v| {
                other.values.contains(v) && self.within_bounds(v) && other.within_bounds(v)
            }),
        }
    }
}

impl fmt::Display for Requirement {
    /// `In [a b c]`, `NotIn [a]`, `Exists`, `Exists >5`, `DoesNotExist`; at most five values, then
    /// `and N others`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = self.operator();
        f.write_str(op.as_str())?;
        if matches!(op, Operator::In | Operator::NotIn) {
            let shown: Vec<&str> = self.values.iter().take(5).map(String::as_str).collect();
            write!(f, " [{}", shown.join(" "))?;
            if self.values.len() > 5 {
                write!(f, " and {} others", self.values.len() - 5)?;
            }
            f.write_str("]")?;
        }
        if let Some(g) = self.gte {
            write!(f, " >={g}")?;
        }
        if let Some(l) = self.lte {
            write!(f, " <={l}")?;
        }
        if let Some(m) = self.min_values {
            write!(f, " minValues {m}")?;
        }
        Ok(())
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) | (None, x) => x,
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) | (None, x) => x,
    }
}

/// Why two requirement sets are not compatible: structured, so a view can explain it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incompatibility {
    /// The incoming side needs a custom label the receiver does not define.
    UndefinedLabel {
        /// The label key.
        key: String,
        /// A defined key that looks like a typo of this one.
        did_you_mean: Option<String>,
    },
    /// Both define the key but share no value.
    NoCommonValue {
        /// The label key.
        key: String,
        /// What the incoming side wants.
        wanted: Box<Requirement>,
        /// What the receiver offers.
        offered: Box<Requirement>,
    },
}

impl fmt::Display for Incompatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UndefinedLabel { key, did_you_mean } => {
                write!(f, "label {key:?} does not have known values")?;
                if let Some(hint) = did_you_mean {
                    write!(f, " (typo of {hint:?}?)")?;
                }
                Ok(())
            }
            Self::NoCommonValue {
                key,
                wanted,
                offered,
            } => write!(f, "key {key}, {wanted} not in {offered}"),
        }
    }
}

/// Requirements keyed by label, one set per key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Requirements {
    by_key: BTreeMap<String, Requirement>,
}

impl Requirements {
    /// No requirement at all.
    pub fn new() -> Self {
        Self::default()
    }

    /// `key In [value]` for every label.
    pub fn from_labels<'a>(labels: impl IntoIterator<Item = (&'a String, &'a String)>) -> Self {
        let mut r = Self::new();
        for (k, v) in labels {
            r.add(k, Requirement::single(v));
        }
        r
    }

    /// Narrow `key` by `req` (intersecting with what is there). Deprecated beta label keys are
    /// stored under their GA names.
    pub fn add(&mut self, key: &str, req: Requirement) {
        let key = labels::normalise_key(key);
        match self.by_key.get_mut(key) {
            Some(existing) => *existing = existing.intersection(&req),
            None => {
                self.by_key.insert(key.to_string(), req);
            }
        }
    }

    /// Narrow by every requirement of `other`.
    pub fn add_all(&mut self, other: &Requirements) {
        for (k, r) in &other.by_key {
            self.add(k, r.clone());
        }
    }

    /// Drop the requirement on `key`.
    pub fn remove(&mut self, key: &str) -> Option<Requirement> {
        self.by_key.remove(key)
    }

    /// The requirement on `key`, if any.
    pub fn get(&self, key: &str) -> Option<&Requirement> {
        self.by_key.get(key)
    }

    /// Whether `key` is constrained.
    pub fn has_key(&self, key: &str) -> bool {
        self.by_key.contains_key(key)
    }

    /// All keys with their requirement, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Requirement)> {
        self.by_key.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of constrained keys.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether nothing is constrained.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Whether a node with these labels satisfies every requirement.
    pub fn matches_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.by_key
            .iter()
            .all(|(k, r)| r.matches_label(labels.get(k).map(String::as_str)))
    }

    /// Keys both sides define must share a value, unless both sides are negative (NotIn or
    /// DoesNotExist): two exclusions never conflict.
    pub fn intersects(&self, incoming: &Requirements) -> Result<(), Incompatibility> {
        for (key, wanted) in &incoming.by_key {
            let Some(offered) = self.by_key.get(key) else {
                continue;
            };
            if offered.intersects(wanted) {
                continue;
            }
            let negative =
                |r: &Requirement| matches!(r.operator(), Operator::NotIn | Operator::DoesNotExist);
            if negative(wanted) && negative(offered) {
                continue;
            }
            return Err(Incompatibility::NoCommonValue {
                key: key.clone(),
                wanted: Box::new(wanted.clone()),
                offered: Box::new(offered.clone()),
            });
        }
        Ok(())
    }

    /// Karpenter's `Compatible`: every custom key the incoming side needs must be defined here
    /// (unless it is NotIn/DoesNotExist or, with `allow_undefined_well_known`, a well-known label),
    /// and shared keys must intersect.
    pub fn compatible(
        &self,
        incoming: &Requirements,
        allow_undefined_well_known: bool,
    ) -> Result<(), Incompatibility> {
        for (key, wanted) in &incoming.by_key {
            if self.by_key.contains_key(key) {
                continue;
            }
            if (allow_undefined_well_known && labels::is_well_known(key))
                || matches!(wanted.operator(), Operator::NotIn | Operator::DoesNotExist)
            {
                continue;
            }
            return Err(Incompatibility::UndefinedLabel {
                key: key.clone(),
                did_you_mean: self.closest_key(key),
            });
        }
        self.intersects(incoming)
    }

    /// A label the author probably meant: like Karpenter, a well-known or defined key that contains
    /// `key` or ends with its name part (`zone` → `topology.kubernetes.io/zone`); failing that, a
    /// defined key within a small edit distance (`billing-tem` → `billing-team`).
    fn closest_key(&self, key: &str) -> Option<String> {
        let name = key.rsplit('/').next().unwrap_or(key);
        let resembles =
            |k: &str| k != key && (k.contains(key) || (!name.is_empty() && k.ends_with(name)));
        labels::WELL_KNOWN
            .iter()
            .copied()
            .chain(self.by_key.keys().map(String::as_str))
            .find(|k| resembles(k))
            .or_else(|| {
                self.by_key
                    .keys()
                    .map(|k| (edit_distance(k, key), k.as_str()))
                    .filter(|(d, k)| *d <= (k.len() / 5).max(1))
                    .min()
                    .map(|(_, k)| k)
            })
            .map(str::to_string)
    }

    /// `self ∩ other` when that differs from `self`; `None` when `other` adds nothing (the common
    /// case on a hot path, decided without allocating).
    pub fn narrowed_by(&self, other: &Requirements) -> Option<Requirements> {
        let unchanged = other.by_key.iter().all(|(k, theirs)| {
            self.by_key
                .get(labels::normalise_key(k))
                .is_some_and(|mine| {
                    mine.is_subset_of(theirs) && theirs.min_values <= mine.min_values
                })
        });
        (!unchanged).then(|| self.intersection(other))
    }

    /// The intersection of both sets, key by key.
    pub fn intersection(&self, other: &Requirements) -> Requirements {
        let mut out = self.clone();
        out.add_all(other);
        out
    }
}

impl fmt::Display for Requirements {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, r)) in self.by_key.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{k} {r}")?;
        }
        Ok(())
    }
}

/// Levenshtein distance, for "did you mean" hints on label typos.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(op: Operator, values: &[&str]) -> Requirement {
        let v: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        Requirement::new(op, &v).unwrap()
    }
    use Operator::*;

    #[test]
    fn operators_map_to_sets() {
        assert_eq!(req(In, &["a"]).operator(), In);
        assert_eq!(req(NotIn, &["a"]).operator(), NotIn);
        assert_eq!(req(Exists, &[]).operator(), Exists);
        assert_eq!(req(DoesNotExist, &[]).operator(), DoesNotExist);
        assert_eq!(req(Gt, &["5"]).operator(), Exists);
        assert_eq!(req(Gt, &["5"]).gte(), Some(6));
        assert_eq!(req(Lt, &["5"]).lte(), Some(4));
        assert_eq!(req(Gte, &["5"]).gte(), Some(5));
        assert_eq!(req(Lte, &["5"]).lte(), Some(5));
        assert!(req(Gt, &[&i64::MAX.to_string()]).is_empty());
    }

    #[test]
    fn arity_is_validated() {
        assert!(Requirement::new(In, &[]).is_err());
        assert!(Requirement::new(NotIn, &[]).is_err());
        assert!(Requirement::new(Exists, &["a".into()]).is_err());
        assert!(Requirement::new(Gt, &["a".into()]).is_err());
        assert!(Requirement::new(Lt, &["1".into(), "2".into()]).is_err());
        assert_eq!(Operator::parse("Sometimes"), None);
    }

    #[test]
    fn membership() {
        assert!(req(In, &["a", "b"]).has("a"));
        assert!(!req(In, &["a"]).has("c"));
        assert!(req(NotIn, &["a"]).has("c"));
        assert!(!req(NotIn, &["a"]).has("a"));
        assert!(req(Exists, &[]).has("x"));
        assert!(!req(DoesNotExist, &[]).has("x"));
        assert!(req(Gt, &["4"]).has("5"));
        assert!(!req(Gt, &["4"]).has("4"));
        assert!(!req(Gt, &["4"]).has("five"));
        assert!(req(Lt, &["4"]).has("3"));
        assert!(req(NotIn, &["a"]).matches_label(None));
        assert!(req(DoesNotExist, &[]).matches_label(None));
        assert!(!req(Exists, &[]).matches_label(None));
        assert!(!req(In, &["a"]).matches_label(None));
    }

    #[test]
    fn intersection_table() {
        // In ∩ In → common values.
        let r = req(In, &["a", "b"]).intersection(&req(In, &["b", "c"]));
        assert_eq!(r, req(In, &["b"]));
        // NotIn ∩ NotIn → union of exclusions.
        let r = req(NotIn, &["a"]).intersection(&req(NotIn, &["b"]));
        assert_eq!(r, req(NotIn, &["a", "b"]));
        // In ∩ NotIn → difference.
        let r = req(In, &["a", "b"]).intersection(&req(NotIn, &["a"]));
        assert_eq!(r, req(In, &["b"]));
        let r = req(NotIn, &["a"]).intersection(&req(In, &["a", "b"]));
        assert_eq!(r, req(In, &["b"]));
        // Exists ∩ In → In; DoesNotExist ∩ anything → DoesNotExist.
        assert_eq!(
            req(Exists, &[]).intersection(&req(In, &["a"])),
            req(In, &["a"])
        );
        assert!(req(DoesNotExist, &[])
            .intersection(&req(Exists, &[]))
            .is_empty());
        // In ∩ In disjoint → empty.
        assert!(req(In, &["a"]).intersection(&req(In, &["b"])).is_empty());
    }

    #[test]
    fn bounds_intersect() {
        let r = req(Gt, &["2"]).intersection(&req(Lt, &["10"]));
        assert_eq!((r.gte(), r.lte()), (Some(3), Some(9)));
        assert_eq!(r.operator(), Exists);
        assert!(req(Gt, &["5"]).intersection(&req(Lt, &["3"])).is_empty());
        assert!(!req(Gt, &["5"]).intersects(&req(Lt, &["3"])));
        // Bounds filter a finite set and non-integers fall out.
        let r = req(In, &["2", "4", "8", "x"]).intersection(&req(Gt, &["3"]));
        assert_eq!(r, req(In, &["4", "8"]));
        assert!(req(In, &["2"]).intersection(&req(Gt, &["3"])).is_empty());
    }

    #[test]
    fn bounds_drop_exclusions_they_already_exclude() {
        // NotIn [2] ∩ Gt 3 is just "an integer ≥ 4": the exclusion is spent.
        let r = req(NotIn, &["2"]).intersection(&req(Gt, &["3"]));
        assert_eq!(r.operator(), Exists);
        assert_eq!(r.gte(), Some(4));
        assert!(r.values().is_empty());
        let r = req(NotIn, &["5"]).intersection(&req(Gt, &["3"]));
        assert_eq!(r.operator(), NotIn);
        assert!(!r.has("5") && r.has("6") && !r.has("3"));
    }

    #[test]
    fn beta_labels_are_normalised() {
        let mut r = Requirements::new();
        r.add(
            "failure-domain.beta.kubernetes.io/zone",
            req(In, &["us-west-2a"]),
        );
        r.add("beta.kubernetes.io/arch", req(In, &["arm64"]));
        assert!(r.has_key("topology.kubernetes.io/zone"));
        assert!(r.has_key("kubernetes.io/arch"));
    }

    #[test]
    fn hostname_and_unknown_provider_labels_are_not_well_known() {
        let pool = reqs(&[("karpenter.k8s.aws/instance-family", req(In, &["m5"]))]);
        let host = reqs(&[("kubernetes.io/hostname", req(In, &["n1"]))]);
        assert!(pool.compatible(&host, true).is_err());
        let typo = reqs(&[("karpenter.k8s.aws/instance-familly", req(In, &["m5"]))]);
        assert!(pool.compatible(&typo, true).is_err());
        let region = reqs(&[("topology.kubernetes.io/region", req(In, &["us-west-2"]))]);
        assert!(pool.compatible(&region, true).is_ok());
    }

    #[test]
    fn hints_follow_karpenter_then_edit_distance() {
        let pool = reqs(&[("billing-team", req(In, &["x"]))]);
        let err = pool
            .compatible(&reqs(&[("zone", req(In, &["a"]))]), false)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "label \"zone\" does not have known values (typo of \"topology.kubernetes.io/zone\"?)"
        );
        let err = pool
            .compatible(&reqs(&[("owner", req(In, &["a"]))]), false)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "label \"owner\" does not have known values"
        );
    }

    #[test]
    fn subsets_and_narrowing() {
        assert!(req(In, &["a"]).is_subset_of(&req(In, &["a", "b"])));
        assert!(!req(In, &["a", "c"]).is_subset_of(&req(In, &["a", "b"])));
        assert!(req(In, &["a"]).is_subset_of(&req(Exists, &[])));
        assert!(req(In, &["a"]).is_subset_of(&req(NotIn, &["b"])));
        assert!(!req(Exists, &[]).is_subset_of(&req(In, &["a"])));
        assert!(req(NotIn, &["a", "b"]).is_subset_of(&req(NotIn, &["a"])));
        assert!(!req(NotIn, &["a"]).is_subset_of(&req(NotIn, &["a", "b"])));
        assert!(req(Gt, &["5"]).is_subset_of(&req(Gt, &["3"])));
        assert!(!req(Gt, &["3"]).is_subset_of(&req(Gt, &["5"])));
        assert!(req(Gt, &["5"]).is_subset_of(&req(NotIn, &["2"])));
        assert!(req(DoesNotExist, &[]).is_subset_of(&req(In, &["x"])));
        let claim = reqs(&[("a", req(In, &["1"])), ("b", req(In, &["x", "y"]))]);
        assert_eq!(
            claim.narrowed_by(&reqs(&[("a", req(In, &["1", "2"]))])),
            None
        );
        let n = claim.narrowed_by(&reqs(&[("b", req(In, &["x"]))])).unwrap();
        assert_eq!(n.get("b").unwrap(), &req(In, &["x"]));
        assert!(claim
            .narrowed_by(&reqs(&[("c", req(Exists, &[]))]))
            .is_some());
    }

    #[test]
    fn min_values_take_the_max() {
        let a = req(In, &["a", "b", "c"]).with_min_values(Some(2));
        let b = req(Exists, &[]).with_min_values(Some(3));
        assert_eq!(a.intersection(&b).min_values(), Some(3));
    }

    #[test]
    fn intersects_agrees_with_intersection() {
        let cases = [
            (req(In, &["a"]), req(In, &["a", "b"])),
            (req(In, &["a"]), req(NotIn, &["a"])),
            (req(NotIn, &["a"]), req(NotIn, &["a"])),
            (req(Exists, &[]), req(DoesNotExist, &[])),
            (req(In, &["3"]), req(Gt, &["2"])),
            (req(In, &["3"]), req(Lt, &["2"])),
        ];
        for (a, b) in cases {
            assert_eq!(
                a.intersects(&b),
                !a.intersection(&b).is_empty(),
                "{a} vs {b}"
            );
        }
    }

    fn reqs(items: &[(&str, Requirement)]) -> Requirements {
        let mut r = Requirements::new();
        for (k, v) in items {
            r.add(k, v.clone());
        }
        r
    }

    #[test]
    fn compatibility_rules() {
        let pool = reqs(&[
            ("kubernetes.io/arch", req(In, &["arm64"])),
            ("billing-team", req(In, &["my-team"])),
        ]);
        // Shared key with a common value.
        assert!(pool
            .compatible(&reqs(&[("billing-team", req(In, &["my-team"]))]), true)
            .is_ok());
        // Shared key without one.
        let err = pool
            .compatible(&reqs(&[("kubernetes.io/arch", req(In, &["amd64"]))]), true)
            .unwrap_err();
        assert!(
            matches!(err, Incompatibility::NoCommonValue { ref key, .. } if key == "kubernetes.io/arch")
        );
        // Undefined custom label: denied, with a typo hint.
        let err = pool
            .compatible(&reqs(&[("billing-tem", req(In, &["my-team"]))]), true)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "label \"billing-tem\" does not have known values (typo of \"billing-team\"?)"
        );
        // Undefined custom label with a negative operator: fine.
        assert!(pool
            .compatible(&reqs(&[("gpu", req(DoesNotExist, &[]))]), true)
            .is_ok());
        assert!(pool
            .compatible(&reqs(&[("gpu", req(NotIn, &["x"]))]), true)
            .is_ok());
        // Undefined well-known label: allowed only when asked.
        let zonal = reqs(&[("topology.kubernetes.io/zone", req(In, &["us-west-2a"]))]);
        assert!(pool.compatible(&zonal, true).is_ok());
        assert!(pool.compatible(&zonal, false).is_err());
        // Two negatives never conflict.
        let a = reqs(&[("k", req(NotIn, &["x"]))]);
        let b = reqs(&[("k", req(DoesNotExist, &[]))]);
        assert!(a.compatible(&b, false).is_ok());
        // A positive against a negative on the same value conflicts.
        let c = reqs(&[("k", req(In, &["x"]))]);
        assert!(a.compatible(&c, false).is_err());
    }

    #[test]
    fn label_matching() {
        let r = reqs(&[
            ("a", req(In, &["1"])),
            ("b", req(DoesNotExist, &[])),
            ("c", req(Gt, &["4"])),
        ]);
        let mut labels = BTreeMap::new();
        labels.insert("a".to_string(), "1".to_string());
        labels.insert("c".to_string(), "8".to_string());
        assert!(r.matches_labels(&labels));
        labels.insert("b".to_string(), "x".to_string());
        assert!(!r.matches_labels(&labels));
    }

    #[test]
    fn display_truncates_long_lists() {
        let r = req(In, &["a", "b", "c", "d", "e", "f", "g"]);
        assert_eq!(r.to_string(), "In [a b c d e and 2 others]");
        assert_eq!(req(Gt, &["4"]).to_string(), "Exists >=5");
    }
}
