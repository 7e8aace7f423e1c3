//! karpdeck: an operations console for Kubernetes node fleets on EC2, with a Karpenter-compatible
//! planning engine. The library holds everything; `main.rs` only dispatches the command line.

pub mod catalog;
pub mod cli;
pub mod control;
pub mod engine;
pub mod exec;
pub mod input;
pub mod k8s;
pub mod kube;
pub mod logging;
pub mod model;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod ui;
