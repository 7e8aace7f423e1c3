//! Nodes: capacity, allocatable, labels, taints and the EC2/Karpenter facts derived from labels.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::labels;
use super::resources::Resources;
use super::taints::Taint;

/// How an instance is bought.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CapacityType {
    /// On-demand.
    OnDemand,
    /// Spot.
    Spot,
    /// A capacity reservation or block.
    Reserved,
}

impl CapacityType {
    /// Parse a label value from Karpenter (`spot`) or EKS managed node groups (`SPOT`).
    pub fn parse(value: &str) -> Self {
        match labels::normalise_capacity_type(value) {
            "spot" => Self::Spot,
            "reserved" => Self::Reserved,
            _ => Self::OnDemand,
        }
    }

    /// Karpenter's label value.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::OnDemand => "on-demand",
            Self::Spot => "spot",
            Self::Reserved => "reserved",
        }
    }
}

/// One node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations karpdeck reads (do-not-disrupt and friends), not all of them.
    pub annotations: BTreeMap<String, String>,
    /// Taints.
    pub taints: Vec<Taint>,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
    /// `spec.providerID`.
    pub provider_id: Option<String>,
    /// Capacity.
    pub capacity: Resources,
    /// Allocatable.
    pub allocatable: Resources,
    /// `Ready` condition is true.
    pub ready: bool,
    /// Creation time.
    pub created: Option<DateTime<Utc>>,
    /// Has a deletion timestamp.
    pub deleting: bool,
}

impl Node {
    /// A label's value.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    /// EC2 instance type.
    pub fn instance_type(&self) -> Option<&str> {
        self.label(labels::INSTANCE_TYPE)
    }

    /// Availability zone.
    pub fn zone(&self) -> Option<&str> {
        self.label(labels::ZONE)
    }

    /// Capacity type from Karpenter's or EKS's label; on-demand when neither is set.
    pub fn capacity_type(&self) -> CapacityType {
        self.label(labels::CAPACITY_TYPE)
            .or_else(|| self.label(labels::EKS_CAPACITY_TYPE))
            .map(CapacityType::parse)
            .unwrap_or(CapacityType::OnDemand)
    }

    /// `name/instance-type/capacity-type`, as Karpenter's disruption log names a node.
    pub fn log_name(&self) -> String {
        format!(
            "{}/{}/{}",
            self.name,
            self.instance_type().unwrap_or("-"),
            self.capacity_type().as_str()
        )
    }

    /// The NodePool (or legacy Provisioner) that owns the node; `None` for nodes Karpenter does not
    /// manage, which are never disruption candidates.
    pub fn nodepool(&self) -> Option<&str> {
        self.label(labels::NODEPOOL)
            .or_else(|| self.label(labels::PROVISIONER_NAME))
    }

    /// EC2 instance ID from the provider ID (`aws:///us-west-2a/i-0abc` → `i-0abc`).
    pub fn instance_id(&self) -> Option<&str> {
        self.provider_id
            .as_deref()
            .and_then(|p| p.rsplit('/').next())
            .filter(|id| id.starts_with("i-"))
    }

    /// Whether Karpenter has marked the node initialized.
    pub fn initialized(&self) -> bool {
        self.label(labels::INITIALIZED) == Some("true")
    }
}
