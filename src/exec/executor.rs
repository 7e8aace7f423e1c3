//! The executor: one state machine for every action kind — Previewed → Approved → Executing →
//! Done / Failed / Cancelled (or Rejected before approval). The approval and every step's start
//! and outcome go to the journal before the executor moves on, so a restart knows how far it got.
//!
//! The driver calls [`Executor::poll`] repeatedly (the simulator once per virtual second); each
//! poll makes at most one backend call that changes something, and waits by returning, so
//! cancelling always lands between steps and dropping the task mid-way loses nothing the journal
//! does not show.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::action::{Action, Step};
use super::backend::{Backend, BackendError, ClaimState, Eviction};
use super::journal::{self, Entry, JournalError, Outcome};

/// Karpenter's registration timeout: a NodeClaim not Ready by then has failed.
pub const READY_TIMEOUT: Duration = Duration::minutes(15);

/// Where an action is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Shown to the operator, not approved.
    Previewed,
    /// Approved and journaled; starts on the next poll.
    Approved,
    /// Steps are running.
    Executing,
    /// Every step finished.
    Done,
    /// A step failed; nothing after it ran.
    Failed,
    /// The operator cancelled it between steps.
    Cancelled,
    /// The operator rejected the preview; nothing ran.
    Rejected,
}

impl State {
    /// Whether the action is over.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Done | Self::Failed | Self::Cancelled | Self::Rejected
        )
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Previewed => "previewed",
            Self::Approved => "approved",
            Self::Executing => "executing",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Rejected => "rejected",
        }
    }
}

/// Who is acting and where the journal is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The approving user, for the journal.
    pub user: String,
    /// The journal file; `None` keeps no journal (tests, previews).
    pub journal: Option<PathBuf>,
    /// Refuse every approval.
    pub read_only: bool,
}

impl Settings {
    /// The local user (`$USER`), this journal, read-write.
    pub fn new(journal: Option<PathBuf>) -> Self {
        Self {
            user: std::env::var("USER").unwrap_or_else(|_| "unknown".into()),
            journal,
            read_only: false,
        }
    }
}

/// Why an approval was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApprovalError {
    /// karpdeck runs read-only.
    #[error("read-only mode: {0} was not approved")]
    ReadOnly(String),
    /// Only a previewed action can be approved.
    #[error("{plan} is {state}, not awaiting approval")]
    NotPreviewed {
        /// Plan id.
        plan: String,
        /// Its state.
        state: &'static str,
    },
    /// The approval could not be recorded, so it did not happen.
    #[error("{0}")]
    Journal(#[from] JournalError),
}

/// A request to stop between steps, shareable with whoever drives the executor.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// Ask the executor to stop before its next step.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// One thing that happened, as journaled (and shown in the event stream).
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    /// Plan id.
    pub plan: String,
    /// What happened.
    pub outcome: Outcome,
    /// The step it is about.
    pub step: Option<String>,
    /// Detail: the API's answer, a refusal, the closing report.
    pub detail: Option<String>,
}

/// How a step went on this poll.
enum StepStatus {
    Done(Option<String>),
    Waiting,
    Refused(String),
}

/// An action and how far it got.
#[derive(Debug)]
pub struct Executor {
    action: Action,
    settings: Settings,
    state: State,
    cancel: CancelToken,
    /// The step to run next.
    next: usize,
    /// When the current step started (its StepStarted line is written).
    began: Option<DateTime<Utc>>,
    /// The current step's one mutating call was made (it now waits).
    issued: bool,
    /// The refusal the current step last got, and how many times.
    refusal: Option<(String, u32)>,
    /// Names of the NodeClaims created, by launch index.
    claims: Vec<Option<String>>,
    /// Descriptions of finished steps.
    done: Vec<String>,
    /// The closing report, once final.
    report: Option<String>,
}

impl Executor {
    /// A previewed action.
    pub fn new(action: Action, settings: Settings) -> Self {
        let claims = vec![None; action.launches.len()];
        Self {
            action,
            settings,
            state: State::Previewed,
            cancel: CancelToken::default(),
            next: 0,
            began: None,
            issued: false,
            refusal: None,
            claims,
            done: Vec::new(),
            report: None,
        }
    }

    /// The action.
    pub fn action(&self) -> &Action {
        &self.action
    }

    /// Where it is.
    pub fn state(&self) -> State {
        self.state
    }

    /// Steps finished so far, out of how many.
    pub fn progress(&self) -> (usize, usize) {
        (self.done.len(), self.action.steps.len())
    }

    /// Descriptions of the steps finished so far, in order.
    pub fn done_steps(&self) -> &[String] {
        &self.done
    }

    /// The step under way (or next), if any.
    pub fn current_step(&self) -> Option<String> {
        (self.next < self.action.steps.len()).then(|| self.action.describe(self.next))
    }

    /// The refusal the current step is retrying on, and how many attempts were refused.
    pub fn blocked(&self) -> Option<(&str, u32)> {
        self.refusal.as_ref().map(|(why, n)| (why.as_str(), *n))
    }

    /// The NodeClaims this action created so far.
    pub fn created_claims(&self) -> impl Iterator<Item = &str> {
        self.claims.iter().flatten().map(String::as_str)
    }

    /// The closing report (done, failed or cancelled: what was done, what was left).
    pub fn report(&self) -> Option<&str> {
        self.report.as_deref()
    }

    /// A handle that cancels this action between steps.
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// Approve the previewed action; the approval is journaled before it counts.
    pub fn approve(&mut self, now: DateTime<Utc>, context: &str) -> Result<Note, ApprovalError> {
        if self.settings.read_only {
            return Err(ApprovalError::ReadOnly(self.action.id.clone()));
        }
        if self.state != State::Previewed {
            return Err(ApprovalError::NotPreviewed {
                plan: self.action.id.clone(),
                state: self.state.as_str(),
            });
        }
        let note = self.note(Outcome::Approved, None, Some(self.action.summary.clone()));
        self.journal(&note, now, context)?;
        self.state = State::Approved;
        Ok(note)
    }

    /// Reject the previewed action (nothing ran, so nothing is journaled).
    pub fn reject(&mut self) -> bool {
        let previewed = self.state == State::Previewed;
        if previewed {
            self.state = State::Rejected;
        }
        previewed
    }

    fn note(&self, outcome: Outcome, step: Option<String>, detail: Option<String>) -> Note {
        Note {
            plan: self.action.id.clone(),
            outcome,
            step,
            detail,
        }
    }

    fn journal(&self, note: &Note, now: DateTime<Utc>, context: &str) -> Result<(), JournalError> {
        let Some(path) = &self.settings.journal else {
            return Ok(());
        };
        journal::append(
            path,
            &Entry {
                time: now,
                context: context.to_string(),
                user: self.settings.user.clone(),
                plan: self.action.id.clone(),
                action: self.action.kind.as_str().to_string(),
                targets: self.action.targets.clone(),
                outcome: note.outcome,
                step: note.step.clone(),
                detail: note.detail.clone(),
            },
        )
    }

    /// Journal a note and hand it back; a journal that cannot be written stops the action
    /// (acting without a record is what the journal exists to prevent).
    fn record<B: Backend>(&mut self, b: &B, note: Note, notes: &mut Vec<Note>) -> bool {
        let written = self.journal(&note, b.now(), &b.context());
        notes.push(note);
        match written {
            Ok(()) => true,
            Err(e) => {
                self.state = State::Failed;
                let report = format!(
                    "stopped: the journal could not be written ({e}); {}",
                    self.summary_of_work()
                );
                notes.push(self.note(Outcome::Failed, None, Some(report.clone())));
                self.report = Some(report);
                false
            }
        }
    }

    /// Run the action on: at most one changing call per poll. Returns what happened.
    pub async fn poll<B: Backend>(&mut self, b: &mut B) -> Vec<Note> {
        let mut notes = Vec::new();
        match self.state {
            State::Approved => self.state = State::Executing,
            State::Executing => {}
            _ => return notes,
        }
        if self.cancel.is_cancelled() {
            self.finish(b, State::Cancelled, None, &mut notes);
            return notes;
        }
        if self.next >= self.action.steps.len() {
            self.finish(b, State::Done, None, &mut notes);
            return notes;
        }
        let step = self.action.describe(self.next);
        if self.began.is_none() {
            self.began = Some(b.now());
            let note = self.note(Outcome::StepStarted, Some(step.clone()), None);
            if !self.record(b, note, &mut notes) {
                return notes;
            }
        }
        match self.run_step(b).await {
            Ok(StepStatus::Waiting) => {}
            Ok(StepStatus::Refused(why)) => {
                let fresh = self.refusal.as_ref().is_none_or(|(last, _)| *last != why);
                let attempts = self.refusal.as_ref().map_or(0, |(_, n)| *n) + 1;
                self.refusal = Some((why.clone(), attempts));
                if fresh {
                    let note = self.note(
                        Outcome::StepFailed,
                        Some(step),
                        Some(format!("{why}; retrying")),
                    );
                    self.record(b, note, &mut notes);
                }
            }
            Ok(StepStatus::Done(detail)) => {
                let note = self.note(Outcome::StepDone, Some(step.clone()), detail);
                self.done.push(step);
                self.next += 1;
                self.began = None;
                self.issued = false;
                self.refusal = None;
                if self.record(b, note, &mut notes) && self.next == self.action.steps.len() {
                    self.finish(b, State::Done, None, &mut notes);
                }
            }
            Err(e) => {
                let note = self.note(Outcome::StepFailed, Some(step.clone()), Some(e.0.clone()));
                if self.record(b, note, &mut notes) {
                    self.finish(b, State::Failed, Some(format!("{step}: {e}")), &mut notes);
                }
            }
        }
        notes
    }

    async fn run_step<B: Backend>(&mut self, b: &mut B) -> Result<StepStatus, BackendError> {
        let step = self.action.steps[self.next].clone();
        Ok(match step {
            Step::Launch(i) => {
                let name = match &self.claims[i] {
                    Some(name) => name.clone(),
                    None => {
                        let name = b.create_nodeclaim(&self.action.launches[i]).await?;
                        self.claims[i] = Some(name.clone());
                        name
                    }
                };
                StepStatus::Done(Some(format!("created nodeclaim {name}")))
            }
            Step::WaitReady(i) => {
                let Some(claim) = self.claims[i].clone() else {
                    return Err(BackendError(format!(
                        "nodeclaim {} of the action was never created",
                        i + 1
                    )));
                };
                match b.nodeclaim_state(&claim).await? {
                    ClaimState::Ready { node } => {
                        StepStatus::Done(Some(format!("nodeclaim {claim} is node {node}")))
                    }
                    ClaimState::Gone => {
                        return Err(BackendError(format!(
                            "nodeclaim {claim} disappeared before its node was Ready"
                        )))
                    }
                    ClaimState::Pending => {
                        let waited = self.began.map(|t| b.now() - t).unwrap_or_default();
                        if waited >= READY_TIMEOUT {
                            return Err(BackendError(format!(
                                "nodeclaim {claim} not Ready after {} minutes",
                                READY_TIMEOUT.num_minutes()
                            )));
                        }
                        StepStatus::Waiting
                    }
                }
            }
            Step::Cordon(node) => {
                b.set_unschedulable(&node, true).await?;
                StepStatus::Done(None)
            }
            Step::Uncordon(node) => {
                b.set_unschedulable(&node, false).await?;
                StepStatus::Done(None)
            }
            Step::Evict { pod, node } => {
                match b.evict(&pod, &node, self.action.bypass_pdbs).await? {
                    Eviction::Accepted => StepStatus::Done(None),
                    Eviction::NotFound => {
                        StepStatus::Done(Some("already gone from the node".into()))
                    }
                    Eviction::Refused(why) => StepStatus::Refused(why),
                }
            }
            Step::WaitGone { node, pods } => {
                for pod in &pods {
                    if !b.pod_gone(pod, &node).await? {
                        return Ok(StepStatus::Waiting);
                    }
                }
                StepStatus::Done(None)
            }
            Step::Delete(node) => {
                if !self.issued {
                    b.delete_node(&node).await?;
                    self.issued = true;
                }
                if b.node_gone(&node).await? {
                    StepStatus::Done(None)
                } else {
                    StepStatus::Waiting
                }
            }
        })
    }

    /// End the action with its report, journaled.
    fn finish<B: Backend>(
        &mut self,
        b: &B,
        state: State,
        error: Option<String>,
        notes: &mut Vec<Note>,
    ) {
        let total = self.action.steps.len();
        let work = self.summary_of_work();
        let report = match state {
            State::Done => format!("all {total} step(s) done"),
            State::Cancelled => format!("cancelled between steps; {work}"),
            _ => format!("failed at {}; {work}", error.unwrap_or_default()),
        };
        self.state = state;
        let outcome = match state {
            State::Done => Outcome::Done,
            State::Cancelled => Outcome::Cancelled,
            _ => Outcome::Failed,
        };
        let note = self.note(outcome, None, Some(report.clone()));
        self.report = Some(report);
        self.record(b, note, notes);
    }

    /// What was done, what was not, and what that leaves behind — so a stopped action never
    /// leaves a node half-handled without saying so.
    fn summary_of_work(&self) -> String {
        let total = self.action.steps.len();
        let mut s = format!("{} of {total} step(s) done", self.done.len());
        if let Some(last) = self.done.last() {
            s.push_str(&format!(" (last: {last})"));
        }
        let left = &self.action.steps[self.next.min(total)..];
        if !left.is_empty() {
            s.push_str(&format!(
                "; not done: {}{}",
                self.action.describe(self.next),
                match left.len() - 1 {
                    0 => String::new(),
                    n => format!(" and {n} more"),
                }
            ));
        }
        let done = &self.action.steps[..self.next.min(total)];
        let mut leftovers = Vec::new();
        for step in done {
            if let Step::Cordon(node) = step {
                let undone = done
                    .iter()
                    .any(|s| matches!(s, Step::Delete(n) | Step::Uncordon(n) if n == node));
                if !undone {
                    let staying = left
                        .iter()
                        .filter(|s| matches!(s, Step::Evict { node: n, .. } if n == node))
                        .count();
                    leftovers.push(match staying {
                        0 => format!("{node} stays cordoned"),
                        n => format!("{node} stays cordoned with {n} pod(s) not evicted"),
                    });
                }
            }
        }
        for claim in self.claims.iter().flatten() {
            leftovers.push(format!(
                "nodeclaim {claim} stays (consolidation removes it if unused)"
            ));
        }
        if !leftovers.is_empty() && self.next < total {
            s.push_str(&format!("; left behind: {}", leftovers.join("; ")));
        }
        s
    }
}
