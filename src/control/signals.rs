//! What a cluster's cloud says is coming: instances EC2 will take, and per Spot pool how often
//! it has warned. The simulator makes these up; a live cluster reads them from Karpenter's
//! events and AWS.

use chrono::{DateTime, Utc};

use crate::engine::interruption::MessageKind;

/// An instance EC2 has said it will take: a Spot interruption warning (two minutes) or an AWS
/// Health scheduled change (days). EC2 takes it at the deadline, drained or not.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// The node.
    pub node: String,
    /// When the instance goes.
    pub deadline: DateTime<Utc>,
    /// Which signal it was (Karpenter's interruption message kind).
    pub kind: MessageKind,
}

/// Signals seen per Spot pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolSignals {
    /// Spot interruption warnings.
    pub interruptions: usize,
    /// Rebalance recommendations.
    pub rebalances: usize,
    /// AWS Health scheduled changes.
    pub scheduled: usize,
}

/// How one source of a cluster stands (a live cluster's watcher).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceHealth {
    /// What it reads (`pods`, `nodepools`).
    pub name: String,
    /// How many objects it holds.
    pub objects: usize,
    /// How many objects the converter refused (each named in the log).
    pub refused: usize,
    /// Its state.
    pub state: SourceState,
    /// When it last heard from the API server.
    pub last_event: Option<DateTime<Utc>>,
}

/// Syncing, live, or reconnecting since when and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceState {
    /// Listing, before its first complete list.
    Syncing,
    /// Listed, and watching.
    Live,
    /// Failing; retried with back-off.
    Reconnecting {
        /// Since when.
        since: DateTime<Utc>,
        /// The latest error.
        error: String,
    },
}
