//! The operator workflow, once for every cluster: proposals, approvals and their conflicts,
//! rejection back-off, withdrawing stale proposals, answering notices, plan ids, executors and
//! the journal — generic over a [`Cluster`], which the simulator and the live cluster implement.

pub mod cluster;
pub mod event;
pub mod observe;
pub mod permission;
pub mod replan;
pub mod resume;
pub mod signals;
pub mod supervisor;

pub use cluster::{Cluster, OfferingKey, Pool};
pub use event::{ClusterEvent, EventKind};
pub use observe::{Expectation, Observer, Outcome, Prediction, Verdict};
pub use permission::Permission;
pub use replan::Replan;
pub use signals::{Notice, PoolSignals, SourceHealth, SourceState};
pub use supervisor::{first_free_plan, Supervisor, REJECTION_BACKOFF};
