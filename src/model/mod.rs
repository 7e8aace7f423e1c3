//! Slim domain types: everything the engine and the views need, independent of k8s-openapi.

pub mod affinity;
pub mod duration;
pub mod hold;
pub mod labels;
pub mod limits;
pub mod node;
pub mod nodeclaim;
pub mod nodeclass;
pub mod nodepool;
pub mod pdb;
pub mod pod;
pub mod quantity;
pub mod requirements;
pub mod resources;
pub mod snapshot;
pub mod taints;
pub mod tally;
pub mod workload;

pub use affinity::{
    HostPort, LabelSelector, NodeAffinity, PodAffinityTerm, SelectorOp, TopologySpread,
    WeightedPodAffinityTerm,
};
pub use hold::{Hold, HoldChange, HoldKind};
pub use limits::{LimitBreach, Limits};
pub use node::{CapacityType, Node};
pub use nodeclaim::NodeClaim;
pub use nodeclass::{KubeletConfig, NodeClass};
pub use nodepool::{Budget, ConsolidationPolicy, DisruptionReason, NodePool, NodePoolApi};
pub use pdb::Pdb;
pub use pod::{DoNotDisrupt, OwnerKind, OwnerRef, Pod};
pub use quantity::{Quantity, QuantityError};
pub use requirements::{Operator, Requirement, Requirements};
pub use resources::Resources;
pub use snapshot::Snapshot;
pub use taints::{Taint, TaintEffect, Toleration, TolerationOp};
pub use tally::{NodeTotals, PodTally};
pub use workload::{DaemonSet, Workload, WorkloadKind};
