//! Conversion of Kubernetes and Karpenter objects (as YAML values) into the slim domain model.

pub mod apps;
pub mod constraints;
pub mod core;
pub mod karpenter;
pub mod meta;
pub mod podspec;
