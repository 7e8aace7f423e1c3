//! The executor: one state machine for every action kind — Previewed → Approved → Executing →
//! Done / Failed / Cancelled (or Rejected before approval). The approval and every step's start
//! and outcome go to the journal before the executor moves on, so a restart knows how far it got.
//!
//! The driver calls [`Executor::poll`] repeatedly (the simulator once per virtual second); each
//! poll makes at most one backend call that changes something (urgent actions excepted: an
//! interruption response evicts all its pods in one poll), and waits by returning, so cancelling
//! lands between steps and dropping the task mid-way loses nothing the journal does not show.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::action::{Action, Step};
use super::backend::{Backend, BackendError, ClaimState, Eviction};
use super::journal::{self, Entry, JournalError, Outcome};
use crate::model::{Hold, HoldChange};

/// How long a step waits (for a node to be Ready, pods to exit, a node to go) before it fails:
/// Karpenter's registration timeout, generous for the rest. Refused evictions are not limited —
/// the operator sees them and decides.
pub const WAIT_TIMEOUT: Duration = Duration::minutes(15);

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
    /// Taken back before approval: it no longer applied (its node went, its pods found room).
    Withdrawn,
}

impl State {
    /// Whether the action is over.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Done | Self::Failed | Self::Cancelled | Self::Rejected | Self::Withdrawn
        )
    }

    /// Approved and not over yet: its steps are running (or about to).
    pub fn is_running(self) -> bool {
        matches!(self, Self::Approved | Self::Executing)
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
            Self::Withdrawn => "withdrawn",
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
    /// Interruption responses wait for a person like any proposal, instead of running at
    /// once by standing policy.
    pub approve_interruptions: bool,
    /// Contexts where every approval is refused, as if `read_only` (config.toml's
    /// `[contexts.NAME] read_only = true`).
    pub read_only_contexts: std::collections::BTreeSet<String>,
}

impl Settings {
    /// The local user (`$USER`), this journal, read-write.
    pub fn new(journal: Option<PathBuf>) -> Self {
        Self {
            user: local_user(),
            journal,
            read_only: false,
            approve_interruptions: false,
            read_only_contexts: Default::default(),
        }
    }
}

/// The local user's name (`$USER`, else `$LOGNAME`), for the journal.
pub fn local_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

/// Who karpdeck acts for, as the holds it puts on NodePools name them: `user@host`.
pub fn holder(user: &str) -> String {
    format!("{user}@{}", host_name())
}

/// This machine's name as the kernel has it (the same whatever the environment exports),
/// read once.
fn host_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .iter()
            .find_map(|f| std::fs::read_to_string(f).ok())
            .map(|h| h.trim().to_string())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into())
    })
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
    /// Another approved action is working on one of its nodes.
    #[error(
        "{plan} not approved: {node} is in the hands of plan {other}; wait for it or cancel it"
    )]
    Conflict {
        /// Plan id.
        plan: String,
        /// The contested node.
        node: String,
        /// The plan holding it.
        other: String,
    },
    /// The user may not do what the action needs on this cluster.
    #[error("{plan} not approved: context {context} may not {missing}")]
    Forbidden {
        /// Plan id.
        plan: String,
        /// The context.
        context: String,
        /// The missing permissions (`create pods/eviction`).
        missing: String,
    },
    /// Planned again at approval, the action no longer does what its preview showed.
    #[error("{plan} not approved: {why}; {}", match replanned {
        Some(new) => format!("review its new plan {new} and approve that"),
        None => "it was withdrawn".to_string(),
    })]
    Stale {
        /// Plan id.
        plan: String,
        /// The plan proposed in its place, if the question still has an answer.
        replanned: Option<String>,
        /// What changed.
        why: String,
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

/// An executor as it stands at one instant, owned, for views on another thread.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanStatus {
    action: Action,
    state: State,
    policy: Option<String>,
    progress: (usize, usize),
    next: usize,
    passed_over: Vec<usize>,
    blocked: Option<(String, u32)>,
    report: Option<String>,
}

impl PlanStatus {
    /// The action.
    pub fn action(&self) -> &Action {
        &self.action
    }

    /// Where it was.
    pub fn state(&self) -> State {
        self.state
    }

    /// The standing policy it was approved by, if no person approved it.
    pub fn policy(&self) -> Option<&str> {
        self.policy.as_deref()
    }

    /// Steps finished, out of how many.
    pub fn progress(&self) -> (usize, usize) {
        self.progress
    }

    /// The refusal the current step was retrying on, and how many attempts were refused.
    pub fn blocked(&self) -> Option<(&str, u32)> {
        self.blocked.as_ref().map(|(why, n)| (why.as_str(), *n))
    }

    /// The index of the step under way (or next); the step count once all ran.
    pub fn current(&self) -> usize {
        self.next
    }

    /// Whether step `i` is an eviction an urgent action passed over after a refusal (its pod is
    /// retried by the wait step).
    pub fn passed_over(&self, i: usize) -> bool {
        self.passed_over.contains(&i)
    }

    /// The closing report, once final.
    pub fn report(&self) -> Option<&str> {
        self.report.as_deref()
    }
}

/// An action and how far it got.
#[derive(Debug)]
pub struct Executor {
    action: Action,
    settings: Settings,
    state: State,
    /// The standing policy that approved it, when no person did.
    policy: Option<String>,
    cancel: CancelToken,
    /// The step to run next.
    next: usize,
    /// When the current step started (its StepStarted line is written).
    began: Option<DateTime<Utc>>,
    /// The current step's one changing call was made (it now waits for the result, and a
    /// cancel waits for it too).
    issued: bool,
    /// The refusal the current step last got, and how many times.
    refusal: Option<(String, u32)>,
    /// Names of the NodeClaims created, by launch index.
    claims: Vec<Option<String>>,
    /// Pods evicted by a wait step (landed after the preview, or passed over when urgent).
    late: Vec<String>,
    /// Indices of the evictions an urgent action passed over after a refusal.
    passed_over: Vec<usize>,
    /// What a finished action must still own up to (a failed optional launch, a node already
    /// gone).
    caveats: Vec<String>,
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
            late: Vec::new(),
            passed_over: Vec::new(),
            caveats: Vec::new(),
            done: Vec::new(),
            report: None,
            policy: None,
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

    /// What it is and how far it got, owned (for the console's data).
    pub fn status(&self) -> PlanStatus {
        PlanStatus {
            action: self.action.clone(),
            state: self.state,
            policy: self.policy.clone(),
            progress: self.progress(),
            next: self.next,
            passed_over: self.passed_over.clone(),
            blocked: self.refusal.clone(),
            report: self.report.clone(),
        }
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
        let detail = match &self.policy {
            Some(policy) => format!(
                "{} — approved by standing policy: {policy}",
                self.action.summary
            ),
            None => self.action.summary.clone(),
        };
        let note = self.note(Outcome::Approved, None, Some(detail));
        self.journal(&note, now, context)?;
        self.state = State::Approved;
        Ok(note)
    }

    /// Approve the previewed action by standing `policy`, no person asked; journaled so.
    pub fn approve_by_policy(
        &mut self,
        now: DateTime<Utc>,
        context: &str,
        policy: &str,
    ) -> Result<Note, ApprovalError> {
        self.policy = Some(policy.to_string());
        let result = self.approve(now, context);
        if result.is_err() {
            self.policy = None;
        }
        result
    }

    /// Reject the previewed action (nothing ran, so nothing is journaled).
    pub fn reject(&mut self) -> bool {
        self.close_preview(State::Rejected)
    }

    /// Take back the previewed action: it no longer applies.
    pub fn withdraw(&mut self) -> bool {
        self.close_preview(State::Withdrawn)
    }

    fn close_preview(&mut self, to: State) -> bool {
        let previewed = self.state == State::Previewed;
        if previewed {
            self.state = to;
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
                    "stopped: the journal could not be written ({e}); {}; check {} by hand",
                    self.summary_of_work(&[]),
                    self.action.targets.join(", ")
                );
                notes.push(self.note(Outcome::Failed, None, Some(report.clone())));
                self.report = Some(report);
                false
            }
        }
    }

    /// Run the action on. Returns what happened.
    pub async fn poll<B: Backend>(&mut self, b: &mut B) -> Vec<Note> {
        let mut notes = Vec::new();
        match self.state {
            State::Approved => self.state = State::Executing,
            State::Executing => {}
            _ => return notes,
        }
        // A step whose change is under way finishes first: a cancel must not report a delete
        // that is happening as not done.
        if self.cancel.is_cancelled() && !self.issued && self.next < self.action.steps.len() {
            self.finish(b, State::Cancelled, None, &mut notes).await;
            return notes;
        }
        loop {
            if self.next >= self.action.steps.len() {
                self.finish(b, State::Done, None, &mut notes).await;
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
            let urgent = self.action.is_urgent();
            match self.run_step(b, &mut notes).await {
                Ok(StepStatus::Waiting) => return notes,
                Ok(StepStatus::Refused(why)) if urgent && self.is_evict() => {
                    // The deadline does not wait for one pod: the rest drain, and the wait
                    // step keeps retrying this one.
                    let detail = format!("{why}; retried while the other pods drain");
                    let note = self.note(Outcome::StepBlocked, Some(step), Some(detail));
                    self.passed_over.push(self.next);
                    self.next += 1;
                    self.began = None;
                    if !self.record(b, note, &mut notes) {
                        return notes;
                    }
                }
                Ok(StepStatus::Refused(why)) => {
                    self.refused(b, step, why, &mut notes);
                    return notes;
                }
                Ok(StepStatus::Done(detail)) => {
                    if !self.advance(b, Outcome::StepDone, step, detail, &mut notes) {
                        return notes;
                    }
                }
                Err(e) if urgent && self.is_launch() => {
                    // The instance goes at the deadline whether or not a replacement comes:
                    // drain anyway.
                    self.caveats
                        .push(format!("{step} failed ({e}); drained anyway"));
                    let detail = format!("{e}; draining anyway");
                    if !self.advance(b, Outcome::StepFailed, step, Some(detail), &mut notes) {
                        return notes;
                    }
                }
                Err(e) => {
                    let note =
                        self.note(Outcome::StepFailed, Some(step.clone()), Some(e.0.clone()));
                    if self.record(b, note, &mut notes) {
                        let error = Some(format!("{step}: {e}"));
                        self.finish(b, State::Failed, error, &mut notes).await;
                    }
                    return notes;
                }
            }
            if self.next >= self.action.steps.len() {
                self.finish(b, State::Done, None, &mut notes).await;
                return notes;
            }
            // Only an urgent action's evictions go out together.
            if !(urgent && self.is_evict()) || self.cancel.is_cancelled() {
                return notes;
            }
        }
    }

    fn is_launch(&self) -> bool {
        matches!(self.action.steps.get(self.next), Some(Step::Launch(_)))
    }

    fn is_evict(&self) -> bool {
        matches!(self.action.steps.get(self.next), Some(Step::Evict { .. }))
    }

    /// Whether launches are still ahead (a planner must not plan their pods twice).
    pub fn launching(&self) -> bool {
        self.state.is_running()
            && self.action.steps[self.next.min(self.action.steps.len())..]
                .iter()
                .any(|s| matches!(s, Step::Launch(_)))
    }

    /// Count a refusal; journal it when it is new (not every retry).
    fn refused<B: Backend>(&mut self, b: &B, step: String, why: String, notes: &mut Vec<Note>) {
        let fresh = self.refusal.as_ref().is_none_or(|(last, _)| *last != why);
        let attempts = self.refusal.as_ref().map_or(0, |(_, n)| *n) + 1;
        self.refusal = Some((why.clone(), attempts));
        if fresh {
            let detail = format!("{why}; retrying");
            let note = self.note(Outcome::StepBlocked, Some(step), Some(detail));
            self.record(b, note, notes);
        }
    }

    /// Journal the step's outcome and move to the next step; false if the journal failed.
    fn advance<B: Backend>(
        &mut self,
        b: &B,
        outcome: Outcome,
        step: String,
        detail: Option<String>,
        notes: &mut Vec<Note>,
    ) -> bool {
        let note = self.note(outcome, Some(step.clone()), detail);
        self.done.push(step);
        self.next += 1;
        self.began = None;
        self.issued = false;
        self.refusal = None;
        self.record(b, note, notes)
    }

    /// Whether the current step has waited out [`WAIT_TIMEOUT`].
    fn waited_out<B: Backend>(&self, b: &B) -> bool {
        self.began.is_some_and(|t| b.now() - t >= WAIT_TIMEOUT)
    }

    /// Keep waiting, or fail a wait that has gone on too long.
    fn keep_waiting<B: Backend>(&self, b: &B, what: &str) -> Result<StepStatus, BackendError> {
        if self.waited_out(b) {
            return Err(BackendError(format!(
                "{what} after {} minutes",
                WAIT_TIMEOUT.num_minutes()
            )));
        }
        Ok(StepStatus::Waiting)
    }

    async fn run_step<B: Backend>(
        &mut self,
        b: &mut B,
        notes: &mut Vec<Note>,
    ) -> Result<StepStatus, BackendError> {
        let Some(step) = self.action.steps.get(self.next).cloned() else {
            return Ok(StepStatus::Done(None));
        };
        let missing = |i: usize| BackendError(format!("the plan has no nodeclaim {}", i + 1));
        Ok(match step {
            Step::Launch(i) => {
                let plan = self.action.launches.get(i).ok_or_else(|| missing(i))?;
                let name = match self.claims.get(i).cloned().flatten() {
                    Some(name) => name,
                    None => {
                        let name = b.create_nodeclaim(&self.action.id, plan).await?;
                        if let Some(slot) = self.claims.get_mut(i) {
                            *slot = Some(name.clone());
                        }
                        name
                    }
                };
                StepStatus::Done(Some(format!("created nodeclaim {name}")))
            }
            Step::WaitReady(i) => {
                let claim = self.claims.get(i).cloned().flatten().ok_or_else(|| {
                    BackendError(format!("nodeclaim {} was never created", i + 1))
                })?;
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
                        self.keep_waiting(b, &format!("nodeclaim {claim} not Ready"))?
                    }
                }
            }
            Step::Cordon(node) => {
                if b.set_unschedulable(&node, true).await? {
                    StepStatus::Done(None)
                } else if self.removes(&node) {
                    self.caveats
                        .push(format!("{node} was already gone when the action started"));
                    StepStatus::Done(Some("the node is already gone".into()))
                } else {
                    return Err(BackendError(format!("node {node} not found")));
                }
            }
            Step::Taint(node) => {
                if b.set_disrupted(&node, true).await? {
                    StepStatus::Done(None)
                } else {
                    self.caveats
                        .push(format!("{node} was already gone when the action started"));
                    StepStatus::Done(Some("the node is already gone".into()))
                }
            }
            Step::Uncordon(node) => {
                if !b.set_unschedulable(&node, false).await? {
                    return Err(BackendError(format!("node {node} not found")));
                }
                StepStatus::Done(None)
            }
            Step::Evict { pod, node } => {
                let bypass = self.action.options.disable_eviction;
                match b.evict(&pod, &node, bypass).await? {
                    Eviction::Accepted => StepStatus::Done(None),
                    Eviction::NotFound => {
                        StepStatus::Done(Some("already gone from the node".into()))
                    }
                    Eviction::Refused(why) => StepStatus::Refused(why),
                }
            }
            Step::WaitGone { node, pods } => self.wait_gone(b, &node, &pods, notes).await?,
            Step::Hold { pool, kind, take } => {
                let change = if take {
                    HoldChange::Take(Hold {
                        kind,
                        by: holder(&self.settings.user),
                        since: b.now(),
                    })
                } else {
                    HoldChange::Release(kind)
                };
                StepStatus::Done(Some(b.change_hold(&pool, &change).await?))
            }
            Step::Delete(node) => {
                if !self.issued {
                    b.delete_node(&node).await?;
                    self.issued = true;
                }
                if b.node_gone(&node).await? {
                    StepStatus::Done(None)
                } else {
                    self.keep_waiting(b, &format!("node {node} still there"))?
                }
            }
        })
    }

    /// Whether the action drains or deletes the node (so its absence is no error).
    fn removes(&self, node: &str) -> bool {
        self.action.removed_nodes().any(|n| n == node)
    }

    /// Wait until nothing the drain moves is left on the node: evicted pods have exited, and a
    /// pod still bound — one that landed after the preview (before the cordon), or one an urgent
    /// action had to pass over — is evicted (one per poll; all at once when urgent). A late pod
    /// the drain's options do not let go fails the step, as kubectl refuses it.
    async fn wait_gone<B: Backend>(
        &mut self,
        b: &mut B,
        node: &str,
        pods: &[String],
        notes: &mut Vec<Note>,
    ) -> Result<StepStatus, BackendError> {
        let options = self.action.options;
        let mut refused = None;
        for pod in b.pods_to_move(node, &options).await? {
            if let Some(blocker) = pod.blocker {
                return Err(BackendError(format!(
                    "{} landed on {node} after the preview: {blocker}",
                    pod.key
                )));
            }
            match b.evict(&pod.key, node, options.disable_eviction).await? {
                Eviction::Accepted => {
                    let why = if pods.contains(&pod.key) {
                        "retried"
                    } else {
                        "landed after the preview"
                    };
                    let step = format!("evict {} ({why})", pod.key);
                    self.late.push(pod.key);
                    self.refusal = None;
                    let note = self.note(Outcome::StepDone, Some(step), None);
                    if !self.record(b, note, notes) {
                        return Ok(StepStatus::Waiting);
                    }
                }
                Eviction::NotFound => {}
                Eviction::Refused(why) => refused = Some(format!("{}: {why}", pod.key)),
            }
            if !self.action.is_urgent() {
                break;
            }
        }
        if self.waited_out(b) {
            let left = b.pods_to_move(node, &options).await?.len();
            if left > 0 {
                return Err(BackendError(format!(
                    "{left} pod(s) still on {node} after {} minutes",
                    WAIT_TIMEOUT.num_minutes()
                )));
            }
        }
        if let Some(why) = refused {
            return Ok(StepStatus::Refused(why));
        }
        for pod in pods.iter().chain(&self.late) {
            if !b.pod_gone(pod, node).await? {
                return self.keep_waiting(b, &format!("{pod} still on {node}"));
            }
        }
        if !b.pods_to_move(node, &options).await?.is_empty() {
            return self.keep_waiting(b, &format!("pods still arriving on {node}"));
        }
        let late = std::mem::take(&mut self.late);
        Ok(StepStatus::Done(
            (!late.is_empty()).then(|| format!("also evicted {}", late.join(", "))),
        ))
    }

    /// End the action with its report, journaled.
    async fn finish<B: Backend>(
        &mut self,
        b: &mut B,
        state: State,
        error: Option<String>,
        notes: &mut Vec<Note>,
    ) {
        let total = self.action.steps.len();
        // As Karpenter does when a disruption stops short: the nodes it fenced and did not
        // remove get their disruption taint taken off.
        let untainted = if state == State::Done {
            BTreeMap::new()
        } else {
            self.untaint(b).await
        };
        let leftovers = if self.next < total {
            self.leftovers(b, &untainted).await
        } else {
            Vec::new()
        };
        let work = self.summary_of_work(&leftovers);
        let report = match state {
            State::Done if self.caveats.is_empty() => format!("all {total} step(s) done"),
            State::Done => format!("all {total} step(s) done, but {}", self.caveats.join("; ")),
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

    /// What a stopped action leaves behind, as the cluster shows it now: nodes it cordoned that
    /// are still there (and what still runs on them), NodeClaims it created that still exist, a
    /// delete not yet confirmed. A check that fails is reported as unknown, never as fine.
    async fn leftovers<B: Backend>(
        &self,
        b: &mut B,
        untainted: &BTreeMap<String, Result<(), String>>,
    ) -> Vec<String> {
        let done = &self.action.steps[..self.next.min(self.action.steps.len())];
        let mut out = Vec::new();
        for step in done {
            let Step::Cordon(node) = step else { continue };
            let taint = match untainted.get(node) {
                Some(Ok(())) => "; its karpenter.sh/disrupted taint taken off".to_string(),
                Some(Err(e)) => format!(
                    "; it keeps the karpenter.sh/disrupted taint (could not take it off: {e})"
                ),
                None => String::new(),
            };
            let undone = done
                .iter()
                .any(|s| matches!(s, Step::Delete(n) | Step::Uncordon(n) if n == node));
            if undone {
                continue;
            }
            let options = self.action.options;
            match (
                b.node_gone(node).await,
                b.pods_to_move(node, &options).await,
            ) {
                (Ok(true), _) => {}
                (Ok(false), Ok(pods)) if pods.is_empty() => {
                    out.push(format!("{node} stays cordoned{taint}"));
                }
                (Ok(false), Ok(pods)) => out.push(format!(
                    "{node} stays cordoned with {} pod(s) on it{taint}",
                    pods.len()
                )),
                (Err(e), _) | (_, Err(e)) => out.push(format!(
                    "{node} may stay cordoned (could not check: {e}){taint}"
                )),
            }
        }
        for claim in self.claims.iter().flatten() {
            match b.nodeclaim_state(claim).await {
                Ok(ClaimState::Gone) => {}
                Ok(_) => out.push(format!(
                    "nodeclaim {claim} stays (consolidation removes it if unused)"
                )),
                Err(e) => out.push(format!("nodeclaim {claim} may stay (could not check: {e})")),
            }
        }
        if let (true, Some(Step::Delete(node))) = (self.issued, self.action.steps.get(self.next)) {
            out.push(format!("delete of {node} requested, not confirmed"));
        }
        out
    }

    /// Take Karpenter's disruption taint off the nodes this action tainted and did not remove;
    /// how each went.
    async fn untaint<B: Backend>(&self, b: &mut B) -> BTreeMap<String, Result<(), String>> {
        let done = &self.action.steps[..self.next.min(self.action.steps.len())];
        let mut out = BTreeMap::new();
        for step in done {
            let Step::Taint(node) = step else { continue };
            // A node whose delete was asked for is going: its taint stays.
            let deleting = self.issued
                && matches!(self.action.steps.get(self.next), Some(Step::Delete(n)) if n == node);
            if deleting
                || done
                    .iter()
                    .any(|s| matches!(s, Step::Delete(n) if n == node))
            {
                continue;
            }
            let result = b
                .set_disrupted(node, false)
                .await
                .map(|_| ())
                .map_err(|e| e.0);
            out.insert(node.clone(), result);
        }
        out
    }

    /// What was done, what was not, and what that leaves behind — so a stopped action never
    /// leaves a node half-handled without saying so.
    fn summary_of_work(&self, leftovers: &[String]) -> String {
        let total = self.action.steps.len();
        let mut s = format!("{} of {total} step(s) done", self.done.len());
        if let Some(last) = self.done.last() {
            s.push_str(&format!(" (last: {last})"));
        }
        if !self.late.is_empty() {
            s.push_str(&format!("; also evicted {}", self.late.join(", ")));
        }
        let left = total.saturating_sub(self.next);
        if left > 0 {
            s.push_str(&format!(
                "; not done: {}{}",
                self.action.describe(self.next),
                match left - 1 {
                    0 => String::new(),
                    n => format!(" and {n} more"),
                }
            ));
        }
        for caveat in &self.caveats {
            s.push_str(&format!("; {caveat}"));
        }
        if !leftovers.is_empty() {
            s.push_str(&format!("; left behind: {}", leftovers.join("; ")));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    //! The state machine's edges against a scripted backend: calls that take several polls,
    //! nodes that vanish, launches that fail. (The simulator backend is exercised end to end in
    //! tests/executor.rs.)

    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::engine::drain::DrainOptions;
    use crate::engine::launch::NodeClaimPlan;
    use crate::exec::action::ActionKind;
    use crate::exec::BoundPod;

    /// A cluster of named nodes and pods where a delete takes three polls.
    #[derive(Default)]
    struct Scripted {
        seconds: i64,
        nodes: BTreeSet<String>,
        pods: BTreeMap<String, String>,
        deleting: BTreeMap<String, u32>,
        launches: usize,
        fail_launches: bool,
        /// Pods whose eviction a budget refuses.
        refuse: BTreeSet<String>,
    }

    impl Scripted {
        fn new(nodes: &[&str], pods: &[(&str, &str)]) -> Self {
            Self {
                nodes: nodes.iter().map(|n| n.to_string()).collect(),
                pods: pods
                    .iter()
                    .map(|(p, n)| (p.to_string(), n.to_string()))
                    .collect(),
                ..Self::default()
            }
        }

        /// One second passes: deletes progress.
        fn tick(&mut self) {
            self.seconds += 1;
            for left in self.deleting.values_mut() {
                *left = left.saturating_sub(1);
            }
            let done: Vec<String> = self
                .deleting
                .iter()
                .filter(|(_, &left)| left == 0)
                .map(|(n, _)| n.clone())
                .collect();
            for n in done {
                self.deleting.remove(&n);
                self.nodes.remove(&n);
            }
        }
    }

    impl Backend for Scripted {
        fn now(&self) -> DateTime<Utc> {
            DateTime::from_timestamp(1_700_000_000 + self.seconds, 0).unwrap_or_default()
        }

        fn context(&self) -> String {
            "scripted".into()
        }

        async fn create_nodeclaim(
            &mut self,
            _: &str,
            _: &NodeClaimPlan,
        ) -> Result<String, BackendError> {
            if self.fail_launches {
                return Err(BackendError("InsufficientInstanceCapacity".into()));
            }
            self.launches += 1;
            Ok(format!("claim-{}", self.launches))
        }

        async fn nodeclaim_state(&mut self, claim: &str) -> Result<ClaimState, BackendError> {
            Ok(ClaimState::Ready {
                node: format!("{claim}-node"),
            })
        }

        async fn set_unschedulable(&mut self, node: &str, _: bool) -> Result<bool, BackendError> {
            Ok(self.nodes.contains(node))
        }

        async fn set_disrupted(&mut self, node: &str, _: bool) -> Result<bool, BackendError> {
            Ok(self.nodes.contains(node))
        }

        async fn pods_to_move(
            &mut self,
            node: &str,
            _: &DrainOptions,
        ) -> Result<Vec<BoundPod>, BackendError> {
            Ok(self
                .pods
                .iter()
                .filter(|(_, n)| *n == node)
                .map(|(p, _)| BoundPod {
                    key: p.clone(),
                    blocker: None,
                })
                .collect())
        }

        async fn evict(
            &mut self,
            pod: &str,
            node: &str,
            _: bool,
        ) -> Result<Eviction, BackendError> {
            if self.pods.get(pod).map(String::as_str) != Some(node) {
                return Ok(Eviction::NotFound);
            }
            if self.refuse.contains(pod) {
                return Ok(Eviction::Refused("budget (HTTP 429)".into()));
            }
            self.pods.remove(pod);
            Ok(Eviction::Accepted)
        }

        async fn pod_gone(&mut self, pod: &str, node: &str) -> Result<bool, BackendError> {
            Ok(self.pods.get(pod).map(String::as_str) != Some(node))
        }

        async fn delete_node(&mut self, node: &str) -> Result<(), BackendError> {
            if self.nodes.contains(node) {
                self.deleting.entry(node.to_string()).or_insert(3);
            }
            Ok(())
        }

        async fn node_gone(&mut self, node: &str) -> Result<bool, BackendError> {
            Ok(!self.nodes.contains(node))
        }
    }

    fn action(kind: ActionKind, launches: Vec<NodeClaimPlan>, steps: Vec<Step>) -> Action {
        Action {
            id: "t1".into(),
            kind,
            summary: "test".into(),
            targets: vec!["n1".into()],
            launches,
            steps,
            options: DrainOptions::default(),
            preview: Vec::new(),
            last_replicas: Vec::new(),
        }
    }

    /// Cordon n1, evict ns/a, wait, delete n1.
    fn removal() -> Vec<Step> {
        vec![
            Step::Cordon("n1".into()),
            Step::Evict {
                pod: "ns/a".into(),
                node: "n1".into(),
            },
            Step::WaitGone {
                node: "n1".into(),
                pods: vec!["ns/a".into()],
            },
            Step::Delete("n1".into()),
        ]
    }

    fn approved(action: Action) -> Executor {
        let mut x = Executor::new(action, Settings::new(None));
        x.approve(DateTime::default(), "scripted").unwrap();
        x
    }

    async fn poll_until(x: &mut Executor, b: &mut Scripted, done: impl Fn(&Executor) -> bool) {
        for _ in 0..60 {
            if done(x) {
                return;
            }
            x.poll(b).await;
            b.tick();
        }
        panic!("stuck at {:?}", x.current_step());
    }

    #[tokio::test]
    async fn a_cancel_waits_for_a_delete_already_requested() {
        let mut b = Scripted::new(&["n1"], &[("ns/a", "n1")]);
        let mut x = approved(action(ActionKind::Delete, Vec::new(), removal()));
        poll_until(&mut x, &mut b, |x| x.progress().0 == 3).await;
        x.poll(&mut b).await;
        assert!(x.issued, "the delete was requested");
        x.cancel_token().cancel();
        poll_until(&mut x, &mut b, |x| x.state().is_final()).await;
        assert_eq!(x.state(), State::Done);
        assert!(!b.nodes.contains("n1"));
    }

    #[tokio::test]
    async fn a_cancel_before_the_delete_reports_the_cordoned_node() {
        let mut b = Scripted::new(&["n1"], &[("ns/a", "n1"), ("ns/late", "n1")]);
        let mut x = approved(action(ActionKind::Delete, Vec::new(), removal()));
        // The wait step finds ns/late (not in the preview) and evicts it too.
        poll_until(&mut x, &mut b, |x| x.progress().0 == 3).await;
        assert!(b.pods.is_empty());
        x.cancel_token().cancel();
        x.poll(&mut b).await;
        assert_eq!(x.state(), State::Cancelled);
        let report = x.report().unwrap();
        assert_eq!(
            report,
            "cancelled between steps; 3 of 4 step(s) done (last: wait for 1 evicted pod(s) to leave n1); not done: delete n1; left behind: n1 stays cordoned"
        );
    }

    #[tokio::test]
    async fn a_node_already_gone_is_no_error_for_a_removal_but_is_for_a_cordon() {
        let mut b = Scripted::new(&[], &[]);
        let mut x = approved(action(ActionKind::Delete, Vec::new(), removal()));
        poll_until(&mut x, &mut b, |x| x.state().is_final()).await;
        assert_eq!(x.state(), State::Done, "{:?}", x.report());
        let mut x = approved(action(
            ActionKind::Cordon,
            Vec::new(),
            vec![Step::Cordon("n1".into())],
        ));
        x.poll(&mut b).await;
        assert_eq!(x.state(), State::Failed);
        assert!(x.report().unwrap().contains("node n1 not found"));
    }

    #[tokio::test]
    async fn a_step_naming_a_missing_nodeclaim_fails_without_panicking() {
        let mut b = Scripted::new(&["n1"], &[]);
        let mut x = approved(action(
            ActionKind::ScaleOut,
            Vec::new(),
            vec![Step::Launch(3), Step::WaitReady(3)],
        ));
        x.poll(&mut b).await;
        assert_eq!(x.state(), State::Failed);
        assert!(x.report().unwrap().contains("the plan has no nodeclaim 4"));
    }

    /// Two NodeClaim plans from the lab scenario scaled to six nginx replicas.
    fn lab_claims() -> Vec<NodeClaimPlan> {
        let options = crate::scenario::LoadOptions {
            scales: vec![crate::scenario::expand::ScaleSpec {
                namespace: "nlb-app-karpenter".into(),
                name: "nginx-deployment".into(),
                replicas: 6,
            }],
            region: None,
        };
        let loaded = crate::scenario::load_str(
            "demo",
            crate::sim::DEMO_SCENARIO,
            &options,
            crate::catalog::Catalog::embedded(),
        )
        .unwrap();
        let p = crate::engine::plan::plan(
            &loaded.snapshot,
            crate::engine::plan::Strategy::Karpenter,
            &crate::engine::scheduling::Options::default(),
        );
        assert_eq!(p.nodeclaims.len(), 2);
        p.nodeclaims
    }

    #[tokio::test]
    async fn an_interruption_response_drains_even_when_its_launch_fails() {
        let mut b = Scripted::new(&["n1"], &[("ns/a", "n1")]);
        b.fail_launches = true;
        let mut steps = removal();
        steps.insert(1, Step::Launch(0));
        let mut x = approved(action(
            ActionKind::InterruptionResponse,
            lab_claims(),
            steps,
        ));
        poll_until(&mut x, &mut b, |x| x.state().is_final()).await;
        assert_eq!(x.state(), State::Done, "{:?}", x.report());
        assert!(!b.nodes.contains("n1") && b.pods.is_empty());
        // The same failure stops an ordinary replacement before it touches a pod.
        let mut b = Scripted::new(&["n1"], &[("ns/a", "n1")]);
        b.fail_launches = true;
        let mut steps = removal();
        steps.insert(1, Step::Launch(0));
        let mut x = approved(action(ActionKind::Replace, lab_claims(), steps));
        poll_until(&mut x, &mut b, |x| x.state().is_final()).await;
        assert_eq!(x.state(), State::Failed);
        assert_eq!(b.pods.len(), 1);
        let report = x.report().unwrap();
        assert!(
            report.contains("left behind: n1 stays cordoned with 1 pod(s) on it"),
            "{report}"
        );
    }

    #[tokio::test]
    async fn an_urgent_drain_passes_over_a_refused_pod_and_retries_it() {
        let mut b = Scripted::new(&["n1"], &[("ns/a", "n1"), ("ns/b", "n1"), ("ns/c", "n1")]);
        b.refuse.insert("ns/a".into());
        let pods: Vec<String> = ["ns/a", "ns/b", "ns/c"].map(String::from).to_vec();
        let mut steps = vec![Step::Cordon("n1".into())];
        steps.extend(pods.iter().map(|p| Step::Evict {
            pod: p.clone(),
            node: "n1".into(),
        }));
        steps.push(Step::WaitGone {
            node: "n1".into(),
            pods,
        });
        steps.push(Step::Delete("n1".into()));
        let mut x = approved(action(ActionKind::InterruptionResponse, Vec::new(), steps));
        // The cordon and all three evictions go out in one poll.
        let notes = x.poll(&mut b).await;
        assert_eq!(b.pods.keys().collect::<Vec<_>>(), ["ns/a"], "b and c went");
        assert!(notes.iter().any(|n| n.outcome == Outcome::StepBlocked
            && n.step.as_deref() == Some("evict ns/a (1 of 3)")));
        for _ in 0..5 {
            b.tick();
            x.poll(&mut b).await;
        }
        assert_eq!(x.state(), State::Executing, "still retrying ns/a");
        assert!(x
            .blocked()
            .is_some_and(|(why, n)| why.contains("HTTP 429") && n >= 5));
        b.refuse.clear();
        poll_until(&mut x, &mut b, |x| x.state().is_final()).await;
        assert_eq!(x.state(), State::Done, "{:?}", x.report());
        assert!(x.done_steps().iter().any(|s| s.starts_with("wait for 3")));
    }
}
