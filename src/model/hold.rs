//! karpdeck's holds on a NodePool: supervision (Karpenter launches nothing and disrupts
//! nothing voluntarily there; karpdeck proposes instead) and the incident freeze (no voluntary
//! disruption anywhere). Each is an annotation on the NodePool naming who holds it and since
//! when, so any karpdeck — a new process after a crash included — sees and can release it.

use chrono::{DateTime, Utc};

/// The annotation that keeps the fields karpdeck's holds changed (limits, disruption budgets),
/// as they were before the first, as JSON.
pub const ORIGINAL_ANNOTATION: &str = "karpdeck.io/original";

/// What a hold stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HoldKind {
    /// Limits pinned to the pool's usage and disruption budgets at zero: karpdeck acts there,
    /// on approval, instead of Karpenter.
    Supervise,
    /// Disruption budgets at zero: Karpenter's voluntary disruption stops.
    Freeze,
}

impl HoldKind {
    /// Every kind, in the order they are shown.
    pub const ALL: [HoldKind; 2] = [HoldKind::Supervise, HoldKind::Freeze];

    /// The annotation that carries a hold of this kind.
    pub fn annotation(self) -> &'static str {
        match self {
            Self::Supervise => "karpdeck.io/supervised",
            Self::Freeze => "karpdeck.io/frozen",
        }
    }

    /// The word the console and the journal use (`supervised`, `frozen`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Supervise => "supervised",
            Self::Freeze => "frozen",
        }
    }
}

/// A hold on a NodePool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// What it stops.
    pub kind: HoldKind,
    /// Who holds it (`user@host`).
    pub by: String,
    /// Since when.
    pub since: DateTime<Utc>,
}

impl Hold {
    /// Why another karpdeck may not supervise `pool` while this hold is on it.
    pub fn supervised_refusal(&self, pool: &str) -> String {
        format!(
            "nodepool {pool} is already supervised by {} since {}: `karpdeck release {pool}` lets go of it",
            self.by,
            self.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    }

    /// The annotation's value: who, then when (RFC 3339).
    pub fn value(&self) -> String {
        format!(
            "{} {}",
            self.by,
            self.since
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    }

    /// Read an annotation's value back.
    pub fn parse(kind: HoldKind, value: &str) -> Result<Self, String> {
        let (by, since) = value
            .trim()
            .rsplit_once(' ')
            .ok_or_else(|| format!("{value:?} is not \"WHO SINCE\""))?;
        let since = DateTime::parse_from_rfc3339(since)
            .map_err(|e| format!("{since:?} is not an RFC 3339 time: {e}"))?
            .with_timezone(&Utc);
        Ok(Self {
            kind,
            by: by.trim().to_string(),
            since,
        })
    }
}

/// A change to karpdeck's holds on one NodePool.
#[derive(Debug, Clone, PartialEq)]
pub enum HoldChange {
    /// Take this hold.
    Take(Hold),
    /// Let go of the hold of this kind, whoever holds it (a new process releases what a
    /// killed one held).
    Release(HoldKind),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_reads_back_as_written() {
        let h = Hold {
            kind: HoldKind::Freeze,
            by: "oncall@laptop".into(),
            since: "2026-12-06T22:41:00Z".parse().unwrap(),
        };
        assert_eq!(h.value(), "oncall@laptop 2026-12-06T22:41:00Z");
        assert_eq!(Hold::parse(HoldKind::Freeze, &h.value()), Ok(h));
        assert!(Hold::parse(HoldKind::Freeze, "someone").is_err());
        assert!(Hold::parse(HoldKind::Freeze, "someone yesterday").is_err());
    }
}
