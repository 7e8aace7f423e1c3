//! NodeClaims (and v1alpha5 Machines): a node Karpenter asked for, launched or registered.

use chrono::{DateTime, Utc};

use super::node::CapacityType;
use super::requirements::Requirements;
use super::resources::Resources;

/// One NodeClaim.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeClaim {
    /// Name.
    pub name: String,
    /// Owning NodePool.
    pub nodepool: Option<String>,
    /// Requirements it was created with (instance types, zones, capacity types...).
    pub requirements: Requirements,
    /// Requested resources (pods plus daemon overhead).
    pub requests: Resources,
    /// Instance type once launched.
    pub instance_type: Option<String>,
    /// Zone once launched.
    pub zone: Option<String>,
    /// Capacity type once launched.
    pub capacity_type: Option<CapacityType>,
    /// `status.providerID` once launched.
    pub provider_id: Option<String>,
    /// `status.nodeName` once registered.
    pub node_name: Option<String>,
    /// Capacity once launched.
    pub capacity: Resources,
    /// Allocatable once launched.
    pub allocatable: Resources,
    /// `Launched` condition is true.
    pub launched: bool,
    /// `Registered` condition is true.
    pub registered: bool,
    /// `Initialized` condition is true.
    pub initialized: bool,
    /// Has a deletion timestamp.
    pub deleting: bool,
    /// Creation time.
    pub created: Option<DateTime<Utc>>,
}

impl NodeClaim {
    /// Whether it is still in flight: asked for but not yet a registered node.
    pub fn in_flight(&self) -> bool {
        !self.registered && !self.deleting
    }
}
