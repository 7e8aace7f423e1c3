//! The operator workflow, the same for every cluster: Karpenter steps aside and karpdeck is the
//! actor. Every Karpenter pass, the engine's next move (a scale-out, a consolidation, an
//! interruption response) is proposed as an action; nothing is launched, drained or deleted
//! until the operator approves it, and approved actions run through the executor against the
//! cluster's backend. Operator actions (drain, cordon, replace) are submitted the same way.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::cluster::Cluster;
use super::event::EventKind;
use super::observe::Observer;
use super::permission;
use super::replan::Replan;
use crate::engine::interruption::{respond, InterruptionEvent, MessageKind};
use crate::engine::plan::Plan;
use crate::exec::action::{Refusal, Step};
use crate::exec::executor::holder;
use crate::exec::journal::{Journal, Outcome, Unfinished};
use crate::exec::{Action, ActionKind, ApprovalError, Executor, Note, Settings, State};
use crate::model::{HoldKind, Snapshot};

/// How long a rejected proposal is not proposed again.
pub const REJECTION_BACKOFF: Duration = Duration::minutes(5);

/// A cluster, with karpdeck's executor in Karpenter's place.
#[derive(Debug)]
pub struct Supervisor<C> {
    cluster: C,
    settings: Settings,
    approve_all: bool,
    executors: Vec<Executor>,
    next_pass: DateTime<Utc>,
    /// Nodes whose interruption notice already has a response.
    answered: BTreeSet<String>,
    /// The number of the next plan id (`p<n>`).
    next_plan: usize,
    /// Plans karpdeck proposed itself (the rest are the operator's).
    proposed: BTreeSet<String>,
    /// Rejected proposals (kind and targets) and until when they are not proposed again.
    rejected: Vec<(ActionKind, Vec<String>, DateTime<Utc>)>,
    /// In observe mode, Karpenter acts and this matches what it does against predictions.
    observer: Option<Observer>,
    /// How each proposal is planned again at approval, and when it was made.
    replans: BTreeMap<String, (Replan, DateTime<Utc>)>,
    /// Plans an earlier karpdeck left unfinished on this cluster, and whether what they left
    /// has been reported (once the cluster is synced).
    unfinished: Vec<Unfinished>,
    unfinished_reported: bool,
    /// Proposals that resume an unfinished plan, and which: the old plan is journaled as
    /// resumed once the new one is approved (rejected, it stays unfinished).
    resuming: BTreeMap<String, String>,
}

/// The nodes karpdeck's own plans act on (approved or done) and the NodeClaims they created:
/// what happens to them is the operator's doing, not Karpenter's.
fn operated(executors: &[Executor]) -> BTreeSet<String> {
    executors
        .iter()
        .filter(|x| matches!(x.state(), State::Approved | State::Executing | State::Done))
        .flat_map(|x| {
            x.action()
                .nodes()
                .chain(x.created_claims())
                .map(str::to_string)
        })
        .collect()
}

/// The standing policy that runs interruption responses at once (unless the operator asked to
/// approve them: `--approve-interruptions`).
pub const INTERRUPTION_POLICY: &str =
    "an interruption notice leaves no time to ask (--approve-interruptions waits for a person)";

/// Plan numbers at or above this in a journal are ignored when numbering new plans.
const MAX_PLAN: u64 = 1_000_000_000;

/// The first plan number not yet used in the journal, so ids stay unique across runs.
pub fn first_free_plan(journal: &Journal) -> usize {
    journal
        .entries
        .iter()
        .filter_map(|e| e.plan.strip_prefix('p')?.parse::<u64>().ok())
        // A hand-edited absurd id must not exhaust the numbering.
        .filter(|&n| n < MAX_PLAN)
        .max()
        .map_or(1, |n| n as usize + 1)
}

impl<C: Cluster> Supervisor<C> {
    /// Supervise `cluster` (its Karpenter steps aside). With `approve_all` every proposal is
    /// approved as it is made — the journal still records each approval. Plan ids start at
    /// `p<first_plan>`.
    pub fn new(mut cluster: C, settings: Settings, approve_all: bool, first_plan: usize) -> Self {
        cluster.supervise();
        Self::with(cluster, settings, approve_all, first_plan, None)
    }

    /// Observe `cluster`: its Karpenter keeps acting, and each pass karpdeck predicts its
    /// next moves and matches what it does against them, proposing nothing itself. The
    /// operator's own actions are still submitted, approved and run as in [`Self::new`].
    pub fn observing(cluster: C, settings: Settings, first_plan: usize) -> Self {
        Self::with(
            cluster,
            settings,
            false,
            first_plan,
            Some(Observer::default()),
        )
    }

    fn with(
        cluster: C,
        settings: Settings,
        approve_all: bool,
        first_plan: usize,
        observer: Option<Observer>,
    ) -> Self {
        let next_pass = cluster.now();
        Self {
            cluster,
            settings,
            approve_all,
            executors: Vec::new(),
            next_pass,
            answered: BTreeSet::new(),
            next_plan: first_plan.max(1),
            proposed: BTreeSet::new(),
            rejected: Vec::new(),
            observer,
            replans: BTreeMap::new(),
            unfinished: Vec::new(),
            unfinished_reported: false,
            resuming: BTreeMap::new(),
        }
    }

    /// Take in the plans an earlier run left unfinished in `journal` on this cluster's context:
    /// once the cluster is synced, each is reported with what it left there (see
    /// [`super::resume::leftovers`]), and [`Self::resume`] plans it again.
    pub fn found_unfinished(&mut self, journal: &Journal) {
        let context = self.cluster.context();
        self.unfinished = journal
            .unfinished()
            .into_iter()
            .filter(|u| u.first.context == context)
            .collect();
        self.unfinished_reported = false;
    }

    /// Plans left unfinished by an earlier run, not yet resumed.
    pub fn unfinished(&self) -> &[Unfinished] {
        &self.unfinished
    }

    /// Plan an unfinished plan again from the cluster as it is now, as a new proposal (its id
    /// returned) to preview and approve; once that is approved the journal records that the
    /// old one was resumed as the new one.
    pub fn resume(&mut self, plan: &str) -> Result<String, Refusal> {
        let u = self
            .unfinished
            .iter()
            .find(|u| u.first.plan == plan)
            .ok_or_else(|| Refusal(format!("{plan} is not a plan left unfinished here")))?;
        let pending = self.resuming.iter().find(|(new, old)| {
            *old == plan
                && self
                    .executor(new)
                    .is_some_and(|x| x.state() == State::Previewed)
        });
        if let Some((new, _)) = pending {
            return Err(Refusal(format!(
                "{plan} is already planned again as {new}: approve or reject that"
            )));
        }
        let by = holder(&self.settings.user);
        let build = super::resume::replan(u, &by)?;
        let id = self.submit(move |id, s| build(id, s))?;
        self.resuming.insert(id.clone(), plan.to_string());
        Ok(id)
    }

    /// `plan` was approved: if it resumes an unfinished plan, journal that one as resumed.
    fn resumed_as(&mut self, plan: &str) {
        let Some(old) = self.resuming.remove(plan) else {
            return;
        };
        let Some(i) = self.unfinished.iter().position(|u| u.first.plan == old) else {
            return;
        };
        let u = self.unfinished.remove(i);
        let Some(path) = &self.settings.journal else {
            return;
        };
        let entry = u.ending(
            Outcome::Resumed,
            &self.settings.user,
            self.cluster.now(),
            format!(
                "planned again from the cluster as it is, as {plan} (after {} step(s) done)",
                u.steps_done
            ),
        );
        if let Err(e) = crate::exec::journal::append(path, &entry) {
            // The new plan stands; the old one stays unfinished in the journal, said so.
            self.cluster.emit(
                EventKind::PlanFailed,
                format!("plan {old}: cannot record that it was resumed as {plan}: {e}"),
                vec![old.clone(), plan.to_string()],
            );
        }
    }

    /// Report, once the cluster is synced, what each unfinished plan left on it.
    fn report_unfinished(&mut self) {
        if self.unfinished_reported || !self.cluster.synced() {
            return;
        }
        self.unfinished_reported = true;
        let lines: Vec<(String, Vec<String>)> = self
            .unfinished
            .iter()
            .map(|u| {
                let left = super::resume::leftovers(self.cluster.snapshot(), u);
                let plan = &u.first.plan;
                let message = format!(
                    "plan {} left unfinished by an earlier karpdeck after {} step(s): {}; :resume {plan} plans it again from the cluster as it is, `karpdeck journal --abandon {plan}` lets it go",
                    u.label(),
                    u.steps_done,
                    left.join("; ")
                );
                let objects = std::iter::once(plan.clone())
                    .chain(u.first.targets.iter().cloned())
                    .collect();
                (message, objects)
            })
            .collect();
        for (message, objects) in lines {
            self.cluster.emit(EventKind::PlanFailed, message, objects);
        }
    }

    /// The predictions and what came of them, in observe mode.
    pub fn observer(&self) -> Option<&Observer> {
        self.observer.as_ref()
    }

    /// The settings an action runs with here: read-only where this context is.
    fn executor_settings(&self) -> Settings {
        Settings {
            read_only: self.read_only(),
            ..self.settings.clone()
        }
    }

    /// Who approves, where the journal is, whether read-only.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Approve every new proposal as it is made (or stop doing so).
    pub fn set_approve_all(&mut self, on: bool) {
        self.approve_all = on;
    }

    /// The journal file, if one is kept.
    pub fn journal(&self) -> Option<&std::path::Path> {
        self.settings.journal.as_deref()
    }

    /// Whether approvals are refused.
    pub fn read_only(&self) -> bool {
        self.settings.read_only
            || self
                .settings
                .read_only_contexts
                .contains(&self.cluster.context())
    }

    /// The cluster.
    pub fn cluster(&self) -> &C {
        &self.cluster
    }

    /// Every action so far, proposed, running or finished, oldest first.
    pub fn executors(&self) -> &[Executor] {
        &self.executors
    }

    /// The action with this plan id.
    pub fn executor(&self, plan: &str) -> Option<&Executor> {
        self.executors.iter().find(|x| x.action().id == plan)
    }

    fn executor_mut(&mut self, plan: &str) -> Option<&mut Executor> {
        self.executors.iter_mut().find(|x| x.action().id == plan)
    }

    fn plan_id(&mut self) -> String {
        let id = format!("p{}", self.next_plan);
        self.next_plan += 1;
        id
    }

    /// Propose an operator's action, built from the cluster as it is now; returns its plan id.
    /// Refused when another action not yet over holds one of its nodes. `build` is asked
    /// again at approval, against the cluster as it is then.
    pub fn submit(
        &mut self,
        build: impl Fn(String, &Snapshot) -> Result<Action, Refusal> + Send + Sync + 'static,
    ) -> Result<String, Refusal> {
        let action = build(format!("p{}", self.next_plan), self.cluster.snapshot())?;
        // What the user may not carry out is not offered (a drain short of room launches, too).
        let needed = permission::needs(&action);
        let (denied, context) = (self.cluster.denied(), self.cluster.context());
        if let Some(why) = permission::not_permitted(&needed, &denied, &context) {
            return Err(Refusal(why));
        }
        // Nor what needs a launch karpdeck cannot make here (a v1alpha5 Provisioner's).
        if let Some(why) = action
            .launches
            .iter()
            .find_map(|c| self.cluster.launch_refusal(&c.claim.nodepool))
        {
            return Err(Refusal(format!(
                "not offered: it needs a new node, and {why}"
            )));
        }
        // Nor a hold where there are no NodePool objects to change (a simulation).
        let holds = action.steps.iter().any(|s| matches!(s, Step::Hold { .. }));
        if let Some(why) = self.cluster.hold_refusal().filter(|_| holds) {
            return Err(Refusal(format!("not offered: {why}")));
        }
        if let Some((node, other)) = self.holder(&action, |x| !x.state().is_final()) {
            return Err(Refusal(format!(
                "{node} is held by plan {} ({} {}); reject or cancel it first",
                other.action().id,
                other.action().kind.as_str(),
                other.state().as_str()
            )));
        }
        self.next_plan += 1;
        Ok(self.propose(action, Some(Replan::Operator(Arc::new(build)))))
    }

    /// A node of `action` that another action matching `filter` acts on, and that action.
    fn holder(
        &self,
        action: &Action,
        filter: impl Fn(&Executor) -> bool,
    ) -> Option<(String, &Executor)> {
        action.nodes().find_map(|node| {
            self.executors
                .iter()
                .filter(|x| x.action().id != action.id && filter(x))
                .find(|x| x.action().nodes().any(|n| n == node))
                .map(|x| (node.to_string(), x))
        })
    }

    fn propose(&mut self, action: Action, replan: Option<Replan>) -> String {
        let id = action.id.clone();
        if let Some(replan) = replan {
            self.replans
                .insert(id.clone(), (replan, self.cluster.now()));
        }
        let steps = action.steps.len();
        self.cluster.emit(
            EventKind::PlanProposed,
            format!(
                "plan {id} {}: {} ({steps} step(s)); awaiting approval",
                action.kind.as_str(),
                action.summary
            ),
            std::iter::once(id.clone())
                .chain(action.targets.iter().cloned())
                .collect(),
        );
        self.executors
            .push(Executor::new(action, self.executor_settings()));
        if self.approve_all {
            // The journal may refuse (read-only, unwritable): the plan then stays proposed and
            // the refusal is in the event stream.
            let _ = self.approve(&id);
        }
        id
    }

    /// Approve a proposed action; refused while an approved action holds one of its nodes
    /// (interruption responses excepted: the deadline does not wait).
    pub fn approve(&mut self, plan: &str) -> Result<(), ApprovalError> {
        self.approve_as(plan, None)
    }

    /// [`Self::approve`], by a person (`policy` None) or by a standing policy, which is
    /// journaled as such; the same checks either way.
    fn approve_as(&mut self, plan: &str, policy: Option<&str>) -> Result<(), ApprovalError> {
        let (now, context) = (self.cluster.now(), self.cluster.context());
        let Some(i) = self.executors.iter().position(|x| x.action().id == plan) else {
            return Err(ApprovalError::NotPreviewed {
                plan: plan.to_string(),
                state: "unknown",
            });
        };
        let action = self.executors[i].action();
        let running = |x: &Executor| x.state().is_running();
        let conflict = (!action.is_urgent())
            .then(|| self.holder(action, running))
            .flatten()
            .map(|(node, other)| ApprovalError::Conflict {
                plan: plan.to_string(),
                node,
                other: other.action().id.clone(),
            });
        // What the user may not do is refused before anything else is asked.
        let forbidden = permission::missing(&permission::needs(action), &self.cluster.denied())
            .map(|missing| ApprovalError::Forbidden {
                plan: plan.to_string(),
                context: context.clone(),
                missing,
            });
        let result = match forbidden.or(conflict) {
            Some(e) => Err(e),
            // Read-only refuses without planning anything again.
            None if self.read_only() => self.executors[i].approve(now, &context),
            None => self.recheck(i).and_then(|()| match policy {
                Some(policy) => self.executors[i].approve_by_policy(now, &context, policy),
                None => self.executors[i].approve(now, &context),
            }),
        };
        if result.is_ok() {
            self.replans.remove(plan);
            self.resumed_as(plan);
        }
        match result {
            Ok(note) => {
                self.report(vec![note]);
                Ok(())
            }
            Err(e) => {
                self.cluster.emit(
                    EventKind::PlanFailed,
                    format!("plan {plan} not approved: {e}"),
                    vec![plan.to_string()],
                );
                Err(e)
            }
        }
    }

    /// Plan the proposal at `i` again against the cluster as it is now. The same outcome
    /// lets the approval go on; a different one withdraws it and proposes the new plan in its
    /// place, to be reviewed and approved itself; none withdraws it. Urgent responses are not
    /// re-planned (their deadline does not wait), nor is a proposal made this very moment.
    fn recheck(&mut self, i: usize) -> Result<(), ApprovalError> {
        let plan = self.executors[i].action().id.clone();
        if self.executors[i].state() != State::Previewed || self.executors[i].action().is_urgent() {
            return Ok(());
        }
        let Some((replan, made)) = self.replans.get(&plan).cloned() else {
            return Ok(());
        };
        if made == self.cluster.now() {
            return Ok(());
        }
        let id = format!("p{}", self.next_plan);
        match replan.rebuild(&self.cluster, id.clone()) {
            Ok(fresh) if fresh.same_outcome(self.executors[i].action()) => Ok(()),
            Ok(fresh) => {
                self.next_plan += 1;
                let why =
                    format!("stale: the cluster changed since its preview; planned again as {id}");
                self.withdraw(i, &why);
                if self.proposed.contains(&plan) {
                    self.proposed.insert(id.clone());
                }
                if let Some(old) = self.resuming.remove(&plan) {
                    self.resuming.insert(id.clone(), old);
                }
                let approve_all = std::mem::replace(&mut self.approve_all, false);
                self.propose(fresh, Some(replan));
                self.approve_all = approve_all;
                Err(ApprovalError::Stale {
                    plan,
                    replanned: Some(id),
                    why: "the cluster changed since its preview".into(),
                })
            }
            Err(refusal) => {
                self.withdraw(i, &format!("stale: {refusal}"));
                Err(ApprovalError::Stale {
                    plan,
                    replanned: None,
                    why: refusal.to_string(),
                })
            }
        }
    }

    /// Reject a proposed action; false if it was not awaiting approval. karpdeck does not
    /// propose the same thing again for [`REJECTION_BACKOFF`].
    pub fn reject(&mut self, plan: &str) -> bool {
        let until = self.cluster.now() + REJECTION_BACKOFF;
        let Some(x) = self.executor_mut(plan) else {
            return false;
        };
        if !x.reject() {
            return false;
        }
        let (kind, targets) = (x.action().kind, x.action().targets.clone());
        self.rejected.push((kind, targets, until));
        self.replans.remove(plan);
        self.cluster.emit(
            EventKind::PlanRejected,
            format!(
                "plan {plan} rejected; not proposed again for {} minutes",
                REJECTION_BACKOFF.num_minutes()
            ),
            vec![plan.to_string()],
        );
        true
    }

    /// Ask a running action to stop before its next step; false if it is not running.
    pub fn cancel(&mut self, plan: &str) -> bool {
        match self.executor_mut(plan) {
            Some(x) if !x.state().is_final() && x.state() != State::Previewed => {
                x.cancel_token().cancel();
                true
            }
            _ => false,
        }
    }

    /// Read the cluster through another context. Refused while a plan runs; proposals still
    /// waiting are withdrawn, since they were made for the cluster as the old context saw it.
    pub fn switch_context(&mut self, name: &str) -> Result<(), String> {
        if let Some(x) = self.executors.iter().find(|x| x.state().is_running()) {
            return Err(format!(
                "plan {} is running: cancel it or let it finish before switching context",
                x.action().id
            ));
        }
        self.cluster.switch_context(name)?;
        for i in 0..self.executors.len() {
            if self.executors[i].state() == State::Previewed {
                self.withdraw(i, &format!("the context changed to {name}"));
            }
        }
        self.answered.clear();
        self.next_pass = self.cluster.now();
        if self.observer.is_some() {
            // The other cluster's NodeClaims and nodes are not news.
            self.observer = Some(Observer::default());
        }
        Ok(())
    }

    /// Take in the cluster's changes since the last call; true if there were any.
    pub fn refresh(&mut self) -> bool {
        self.cluster.refresh()
    }

    /// One second: a simulated cluster's clock moves on, then [`Self::tick`].
    pub async fn step(&mut self) {
        if let Some(o) = &mut self.observer {
            // Karpenter may move within this second: what it will do is said before it does,
            // and a simulated cluster is small enough to look for its next disruption every
            // second (its Karpenter's passes need not fall on karpdeck's).
            o.predict(&self.cluster, &operated(&self.executors), true);
        }
        self.cluster.advance_second();
        self.tick().await;
    }

    /// The workflow's beat: interruption notices are answered at once, karpdeck proposes its
    /// next move (every Karpenter interval), and each approved action takes its next step.
    pub async fn tick(&mut self) {
        let now = self.cluster.now();
        let pass = now >= self.next_pass;
        if pass {
            self.next_pass = now + self.cluster.pass_interval();
        }
        if let Some(o) = self.observer.as_mut().filter(|_| self.cluster.synced()) {
            let operated = operated(&self.executors);
            if self.cluster.simulated() {
                // Predicted before the second moved (`step`): now only what came of it.
                o.settle(&self.cluster, &operated);
            } else {
                o.predict(&self.cluster, &operated, pass);
            }
        }
        self.report_unfinished();
        self.withdraw_stale();
        if self.observer.is_none() {
            // Supervised: karpdeck answers notices and makes Karpenter's moves (observed,
            // Karpenter does both itself).
            self.answer_notices();
            if pass {
                self.pass(&None);
            }
        } else if pass {
            // Observed, but for the NodePools this operator supervises: there karpdeck
            // proposes what Karpenter would do.
            let mine = self.supervised();
            if !mine.is_empty() {
                self.pass(&Some(mine));
            }
        }
        for i in 0..self.executors.len() {
            let before = self.cluster.events().len();
            let mut notes = self.executors[i].poll(&mut self.cluster).await;
            // A step's start goes before what the step did to the cluster.
            let started: Vec<Note> = notes
                .iter()
                .filter(|n| n.outcome == Outcome::StepStarted)
                .cloned()
                .collect();
            notes.retain(|n| n.outcome != Outcome::StepStarted);
            let effects = self.cluster.events_mut().split_off(before);
            self.report(started);
            self.cluster.events_mut().extend(effects);
            self.report(notes);
        }
    }

    /// Run a simulated cluster for `duration` of virtual time, yielding to the runtime every second so the task can
    /// be cancelled (or dropped) between steps like a real driver.
    pub async fn run_for(&mut self, duration: Duration) {
        let end = self.cluster.now() + duration;
        while self.cluster.now() < end {
            // A live clock does not move on request.
            if !self.cluster.simulated() {
                break;
            }
            self.step().await;
            tokio::task::yield_now().await;
        }
    }

    /// The run is over: actions still running are cancelled between steps (with their
    /// reports), so the journal keeps no plan hanging.
    pub async fn end(&mut self) {
        let running: Vec<String> = self
            .executors
            .iter()
            .filter(|x| x.state().is_running())
            .map(|x| x.action().id.clone())
            .collect();
        if running.is_empty() {
            return;
        }
        self.cluster.emit(
            EventKind::PlanCancelled,
            format!(
                "karpdeck ends: cancelling {} running plan(s)",
                running.len()
            ),
            running.clone(),
        );
        for plan in running {
            self.cancel(&plan);
            // A delete already requested completes first (at once in the simulation).
            for _ in 0..3 {
                let Some(i) = self.executors.iter().position(|x| x.action().id == plan) else {
                    break;
                };
                if self.executors[i].state().is_final() {
                    break;
                }
                let notes = self.executors[i].poll(&mut self.cluster).await;
                self.report(notes);
            }
        }
    }

    /// The notes as events (and nothing else: the executor journaled them).
    fn report(&mut self, notes: Vec<Note>) {
        for n in notes {
            let kind = match n.outcome {
                Outcome::Approved => EventKind::PlanApproved,
                Outcome::StepBlocked => EventKind::EvictionBlocked,
                Outcome::StepStarted | Outcome::StepDone | Outcome::StepFailed => {
                    EventKind::PlanStep
                }
                Outcome::Done => EventKind::PlanDone,
                Outcome::Cancelled => EventKind::PlanCancelled,
                Outcome::Failed | Outcome::Abandoned | Outcome::Resumed => EventKind::PlanFailed,
            };
            let mut message = format!("plan {} {}", n.plan, n.outcome.as_str());
            if let Some(step) = &n.step {
                message.push(' ');
                message.push_str(step);
            }
            if let Some(detail) = &n.detail {
                message.push_str(": ");
                message.push_str(detail);
            }
            self.cluster.emit(kind, message, vec![n.plan]);
        }
    }

    /// Take back a proposal before approval, saying why.
    fn withdraw(&mut self, i: usize, why: &str) {
        if !self.executors[i].withdraw() {
            return;
        }
        let plan = self.executors[i].action().id.clone();
        self.replans.remove(&plan);
        self.cluster.emit(
            EventKind::PlanWithdrawn,
            format!("plan {plan} withdrawn: {why}"),
            vec![plan],
        );
    }

    /// Proposals whose nodes are gone, and scale-outs with no pod pending any more, no longer
    /// apply.
    fn withdraw_stale(&mut self) {
        // Counted (a pass over every pod) only when a scale-out proposal asks.
        let mut pending = None;
        // Observed, karpdeck proposes only within the pools this operator supervises.
        let mine = self.observer.is_some().then(|| self.supervised());
        for i in 0..self.executors.len() {
            let x = &self.executors[i];
            if x.state() != State::Previewed {
                continue;
            }
            let released = mine
                .as_ref()
                .filter(|_| self.proposed.contains(&x.action().id))
                .and_then(|mine| {
                    let s = self.cluster.snapshot();
                    let launched = x
                        .action()
                        .launches
                        .iter()
                        .map(|c| c.claim.nodepool.as_str());
                    let removed = x
                        .action()
                        .nodes()
                        .filter_map(|n| s.nodes.iter().find(|m| m.name == n)?.nodepool());
                    let mut pools = launched.chain(removed);
                    pools.find(|p| !mine.contains(*p)).map(str::to_string)
                })
                .map(|p| format!("nodepool {p} is no longer supervised"));
            if let Some(why) = released {
                self.withdraw(i, &why);
                continue;
            }
            let gone = x
                .action()
                .nodes()
                .find(|n| !self.cluster.snapshot().nodes.iter().any(|m| m.name == *n))
                .map(|n| format!("node {n} is gone"));
            let idle = (x.action().kind == ActionKind::ScaleOut
                && *pending.get_or_insert_with(|| self.cluster.pending_pods()) == 0)
                .then(|| "no pod is pending any more".to_string());
            if let Some(why) = gone.or(idle) {
                self.withdraw(i, &why);
            }
        }
    }

    /// Nodes that actions not yet over (proposed, approved or running) act on.
    fn busy_nodes(&self) -> BTreeSet<String> {
        self.executors
            .iter()
            .filter(|x| !x.state().is_final())
            .flat_map(|x| x.action().nodes().map(str::to_string))
            .collect()
    }

    /// Answer each new interruption notice: the response supersedes proposals for that node
    /// still awaiting approval.
    fn answer_notices(&mut self) {
        let notices: Vec<(String, MessageKind)> = self
            .cluster
            .notices()
            .iter()
            .filter(|n| !self.answered.contains(&n.node))
            .map(|n| (n.node.clone(), n.kind.clone()))
            .collect();
        for (node, kind) in notices {
            self.answered.insert(node.clone());
            // An action already removing the node may be slow (waiting for a replacement) or
            // fail: the response goes ahead regardless; evicting a pod twice or deleting a node
            // twice is harmless.
            for i in 0..self.executors.len() {
                let touches = self.executors[i].state() == State::Previewed
                    && self.executors[i].action().nodes().any(|n| n == node);
                if touches {
                    self.withdraw(i, &format!("superseded by the interruption of {node}"));
                }
            }
            if let Some(action) = self.interruption_response(&node, kind) {
                self.proposed.insert(action.id.clone());
                let id = self.propose(action, None);
                if !self.settings.approve_interruptions {
                    self.approve_by_policy(&id);
                }
            }
        }
    }

    /// Run an interruption response at once: the notice leaves no time to ask a person (missed,
    /// the pods are killed without a drain). Journaled as approved by policy, and said loudly.
    fn approve_by_policy(&mut self, plan: &str) {
        let waiting = self
            .executor(plan)
            .is_some_and(|x| x.state() == State::Previewed);
        // approve_all may have got there first; a refusal (read-only, the journal) is said as
        // any approval's is, and the response waits for a person.
        if waiting {
            let _ = self.approve_as(plan, Some(INTERRUPTION_POLICY));
        }
    }

    fn recently_rejected(&self, kind: ActionKind, targets: &[String]) -> bool {
        let now = self.cluster.now();
        self.rejected
            .iter()
            .any(|(k, t, until)| *k == kind && t == targets && *until > now)
    }

    /// The NodePools this operator supervises on an observed cluster (their holds name them).
    fn supervised(&self) -> BTreeSet<String> {
        let me = holder(&self.settings.user);
        self.cluster
            .snapshot()
            .nodepools
            .iter()
            .filter(|p| p.hold(HoldKind::Supervise).is_some_and(|h| h.by == me))
            .map(|p| p.name.clone())
            .collect()
    }

    /// karpdeck's pass: unless one of its proposals is still waiting for the operator, propose
    /// Karpenter's next move — a scale-out, else one disruption of nodes no other action holds —
    /// within `scope`'s NodePools (`None`: the whole cluster, as a supervised simulation).
    fn pass(&mut self, scope: &Scope) {
        let mine = |x: &Executor| self.proposed.contains(&x.action().id);
        let waiting = |x: &Executor| mine(x) && x.state() == State::Previewed;
        if self.executors.iter().any(waiting) {
            return;
        }
        // An approved scale-out's claims do not exist yet until its launch steps ran: planning
        // now would plan them twice.
        if self.executors.iter().any(Executor::launching) {
            return;
        }
        if let Some(plan) = within(self.cluster.provisioning_plan(), scope) {
            self.propose_engine_move(
                Action::scale_out(String::new(), &plan),
                Replan::ScaleOut(scope.clone()),
            );
            return;
        }
        // Disruption waits until karpdeck's own actions are done changing the cluster.
        let running = |x: &Executor| mine(x) && x.state().is_running();
        if self.executors.iter().any(running) {
            return;
        }
        let busy = self.busy_nodes();
        let snapshot = self.cluster.snapshot();
        let Some(a) = self.cluster.disruption_actions().into_iter().find(|a| {
            let names: Vec<String> = a
                .nodes
                .iter()
                .map(|&n| snapshot.nodes[n].name.clone())
                .collect();
            let in_scope = a
                .nodes
                .iter()
                .all(|&n| in_scope(scope, snapshot.nodes[n].nodepool()));
            in_scope
                && names.iter().all(|n| !busy.contains(n))
                && !self.recently_rejected(a.kind.into(), &names)
        }) else {
            return;
        };
        let action = Action::disruption(String::new(), self.cluster.snapshot(), &a);
        let nodes = action.nodes().map(str::to_string).collect();
        self.propose_engine_move(action, Replan::Disruption(nodes));
    }

    /// Give the engine's move a plan id and propose it, unless the operator just rejected the
    /// same move.
    fn propose_engine_move(&mut self, mut action: Action, replan: Replan) {
        if self.recently_rejected(action.kind, &action.targets) {
            return;
        }
        action.id = self.plan_id();
        self.proposed.insert(action.id.clone());
        self.propose(action, Some(replan));
    }

    /// The engine's answer to the notice on `node`; a Spot pool goes into the unavailable
    /// cache at once (the replacement must avoid it).
    fn interruption_response(&mut self, node: &str, kind: MessageKind) -> Option<Action> {
        let n = self
            .cluster
            .snapshot()
            .nodes
            .iter()
            .find(|n| n.name == node)?;
        let event = InterruptionEvent {
            kind,
            instance_ids: vec![n.instance_id()?.to_string()],
            time: self.cluster.now(),
        };
        let responses = respond(self.cluster.snapshot(), &event);
        let r = responses.first()?;
        if let Some((key, _)) = r.unavailable.clone() {
            self.cluster.mark_unavailable(key);
        }
        let plan = self.plan_id();
        Action::interruption(plan, self.cluster.snapshot(), r)
    }
}

/// The NodePools karpdeck proposes for: `None` for every one.
pub type Scope = Option<BTreeSet<String>>;

/// Whether a node of NodePool `pool` (`None`: no NodePool's) is within `scope`.
fn in_scope(scope: &Scope, pool: Option<&str>) -> bool {
    match scope {
        None => true,
        Some(pools) => pool.is_some_and(|p| pools.contains(p)),
    }
}

/// The part of a provisioning plan within `scope`: its NodeClaims from those NodePools (none
/// left: no plan).
pub fn within(plan: Option<Plan>, scope: &Scope) -> Option<Plan> {
    let mut plan = plan?;
    plan.nodeclaims
        .retain(|c| in_scope(scope, Some(&c.claim.nodepool)));
    (!plan.nodeclaims.is_empty()).then_some(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::journal::parse;

    #[test]
    fn plan_numbers_continue_after_the_journal_and_ignore_absurd_ids() {
        let line = |plan: &str| {
            format!("{{\"time\":\"2024-01-01T00:00:00Z\",\"context\":\"sim\",\"user\":\"u\",\"plan\":\"{plan}\",\"action\":\"drain\",\"targets\":[],\"outcome\":\"approved\"}}\n")
        };
        let text = [
            line("p7"),
            line("p18446744073709551615"),
            line("manual-3"),
            line("p2"),
        ]
        .concat();
        let j = parse("j", &text).unwrap();
        assert_eq!(first_free_plan(&j), 8);
        assert_eq!(first_free_plan(&Journal::default()), 1);
    }
}
