//! The planning engine: pure functions from a [`crate::model::Snapshot`] to a plan. No I/O, no
//! clocks, no randomness: the same input always gives the same output.

pub mod advisor;
pub mod disruption;
pub mod drain;
pub mod interruption;
pub mod launch;
pub mod optimize;
pub mod plan;
pub mod replace;
pub mod scheduling;
pub mod whatif;
