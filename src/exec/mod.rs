//! Carrying out approved plans: actions built from the engine's plans, the executor's state
//! machine, the backend it acts through, and the journal that records it all.

pub mod action;
pub mod backend;
pub mod executor;
pub mod journal;

pub use action::{Action, ActionKind, Step};
pub use backend::{Backend, BackendError, BoundPod, ClaimState, Eviction};
pub use executor::{ApprovalError, CancelToken, Executor, Note, PlanStatus, Settings, State};
