//! Supervised mode: Karpenter is paused and karpdeck is the actor. Every Karpenter pass, the
//! engine's next move (a scale-out, a consolidation, an interruption response) is proposed as an
//! action; nothing is launched, drained or deleted until the operator approves it, and approved
//! actions run through the executor against the simulator — the same executor the real backends
//! use. Operator actions (drain, cordon, replace) are submitted the same way.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};

use super::{EventKind, Sim};
use crate::engine::interruption::{respond, EventKind as Interruption, InterruptionEvent};
use crate::exec::action::Refusal;
use crate::exec::journal::{Journal, Outcome};
use crate::exec::{Action, ApprovalError, Executor, Note, Settings, State};
use crate::model::Snapshot;

/// The simulation, with karpdeck's executor in Karpenter's place.
#[derive(Debug)]
pub struct Supervisor {
    sim: Sim,
    settings: Settings,
    approve_all: bool,
    executors: Vec<Executor>,
    next_pass: DateTime<Utc>,
    /// Nodes whose interruption notice already has a proposal.
    answered: BTreeSet<String>,
    /// The number of the next plan id (`p<n>`).
    next_plan: usize,
    /// Plans the engine proposed (the rest are the operator's).
    proposed: BTreeSet<String>,
}

/// The first plan number not yet used in the journal, so ids stay unique across runs.
pub fn first_free_plan(journal: &Journal) -> usize {
    journal
        .entries
        .iter()
        .filter_map(|e| e.plan.strip_prefix('p')?.parse::<usize>().ok())
        .max()
        .map_or(1, |n| n + 1)
}

impl Supervisor {
    /// Supervise `sim` (its own Karpenter is switched off). With `approve_all` every proposal is
    /// approved as it is made — the journal still records each approval. Plan ids start at
    /// `p<first_plan>`.
    pub fn new(mut sim: Sim, settings: Settings, approve_all: bool, first_plan: usize) -> Self {
        sim.config.autopilot = false;
        let next_pass = sim.now;
        Self {
            sim,
            settings,
            approve_all,
            executors: Vec::new(),
            next_pass,
            answered: BTreeSet::new(),
            next_plan: first_plan.max(1),
            proposed: BTreeSet::new(),
        }
    }

    /// The simulation.
    pub fn sim(&self) -> &Sim {
        &self.sim
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
    pub fn submit(
        &mut self,
        build: impl FnOnce(String, &Snapshot) -> Result<Action, Refusal>,
    ) -> Result<String, Refusal> {
        let id = self.plan_id();
        let action = build(id, self.sim.snapshot())?;
        Ok(self.propose(action))
    }

    fn propose(&mut self, action: Action) -> String {
        let id = action.id.clone();
        let steps = action.steps.len();
        self.sim.emit(
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
            .push(Executor::new(action, self.settings.clone()));
        if self.approve_all {
            // The journal may refuse (read-only, unwritable): the plan then stays proposed and
            // the refusal is in the event stream.
            let _ = self.approve(&id);
        }
        id
    }

    /// Approve a proposed action.
    pub fn approve(&mut self, plan: &str) -> Result<(), ApprovalError> {
        let (now, context) = (self.sim.now, "sim".to_string());
        let Some(x) = self.executor_mut(plan) else {
            return Err(ApprovalError::NotPreviewed {
                plan: plan.to_string(),
                state: "unknown",
            });
        };
        match x.approve(now, &context) {
            Ok(note) => {
                self.report(vec![note], false);
                Ok(())
            }
            Err(e) => {
                self.sim.emit(
                    EventKind::PlanFailed,
                    format!("plan {plan} not approved: {e}"),
                    vec![plan.to_string()],
                );
                Err(e)
            }
        }
    }

    /// Reject a proposed action; false if it was not awaiting approval.
    pub fn reject(&mut self, plan: &str) -> bool {
        self.executor_mut(plan).is_some_and(|x| x.reject())
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

    /// One virtual second: the cluster moves, karpdeck proposes (every Karpenter interval), and
    /// each approved action takes its next step.
    pub async fn step(&mut self) {
        self.sim.step();
        if self.sim.now >= self.next_pass {
            self.next_pass = self.sim.now + Duration::seconds(self.sim.config.karpenter_interval);
            self.pass();
        }
        for i in 0..self.executors.len() {
            let before = self.sim.events.len();
            let mut notes = self.executors[i].poll(&mut self.sim).await;
            let blocked = self.executors[i].blocked().is_some();
            // A step's start goes before what the step did to the cluster.
            let started: Vec<Note> = notes
                .iter()
                .filter(|n| n.outcome == Outcome::StepStarted)
                .cloned()
                .collect();
            notes.retain(|n| n.outcome != Outcome::StepStarted);
            let effects = self.sim.events.split_off(before);
            self.report(started, blocked);
            self.sim.events.extend(effects);
            self.report(notes, blocked);
        }
    }

    /// Run for `duration` of virtual time, yielding to the runtime every second so the task can
    /// be cancelled (or dropped) between steps like a real driver.
    pub async fn run_for(&mut self, duration: Duration) {
        let end = self.sim.now + duration;
        while self.sim.now < end {
            self.step().await;
            tokio::task::yield_now().await;
        }
    }

    /// The notes as events (and nothing else: the executor journaled them).
    fn report(&mut self, notes: Vec<Note>, blocked: bool) {
        for n in notes {
            let kind = match n.outcome {
                Outcome::Approved => EventKind::PlanApproved,
                Outcome::StepFailed if blocked => EventKind::EvictionBlocked,
                Outcome::StepStarted | Outcome::StepDone | Outcome::StepFailed => {
                    EventKind::PlanStep
                }
                Outcome::Done => EventKind::PlanDone,
                Outcome::Cancelled => EventKind::PlanCancelled,
                Outcome::Failed | Outcome::Abandoned => EventKind::PlanFailed,
            };
            let outcome = serde_json::to_value(n.outcome)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let mut message = format!("plan {} {outcome}", n.plan);
            if let Some(step) = &n.step {
                message.push(' ');
                message.push_str(step);
            }
            if let Some(detail) = &n.detail {
                message.push_str(": ");
                message.push_str(detail);
            }
            self.sim.emit(kind, message, vec![n.plan]);
        }
    }

    /// karpdeck's pass: answer new interruption notices, then — unless a proposal is still
    /// waiting for the operator — propose Karpenter's next move.
    fn pass(&mut self) {
        let notices: Vec<String> = self
            .sim
            .notices
            .iter()
            .map(|n| n.node.clone())
            .filter(|n| !self.answered.contains(n))
            .collect();
        for node in notices {
            self.answered.insert(node.clone());
            if let Some(action) = self.interruption_response(&node) {
                self.propose(action);
            }
        }
        // One engine proposal awaits the operator at a time; the operator's own pending
        // actions do not hold the engine back.
        let waiting = |x: &Executor| {
            matches!(x.state(), State::Previewed | State::Approved)
                && self.proposed.contains(&x.action().id)
        };
        if self.executors.iter().any(waiting) {
            return;
        }
        // Claims an approved scale-out has not created yet would be planned twice.
        let launching = self.executors.iter().any(|x| {
            x.state() == State::Executing && x.created_claims().count() < x.action().launches.len()
        });
        if launching {
            return;
        }
        if let Some(plan) = self.sim.provisioning_plan() {
            let id = self.plan_id();
            self.proposed.insert(id.clone());
            self.propose(Action::scale_out(id, &plan));
            return;
        }
        // Disruption waits until nothing is changing the cluster.
        let running = |x: &Executor| matches!(x.state(), State::Approved | State::Executing);
        if self.executors.iter().any(running) {
            return;
        }
        let actions = self.sim.disruption_actions();
        if let Some(a) = actions.first() {
            let id = self.plan_id();
            self.proposed.insert(id.clone());
            let action = Action::disruption(id, self.sim.snapshot(), a);
            self.propose(action);
        }
    }

    /// The engine's answer to the interruption notice on `node`; the offering goes into the
    /// unavailable cache at once (the replacement must avoid it).
    fn interruption_response(&mut self, node: &str) -> Option<Action> {
        let id = self.sim.snapshot.nodes.iter().find(|n| n.name == node)?;
        let event = InterruptionEvent {
            kind: Interruption::SpotInterruption,
            instance_ids: vec![id.instance_id()?.to_string()],
            time: self.sim.now,
        };
        let responses = respond(self.sim.snapshot(), &event);
        let r = responses.first()?;
        if let Some((key, _)) = r.unavailable.clone() {
            self.sim.mark_unavailable(key);
        }
        let plan = self.plan_id();
        Action::interruption(plan, self.sim.snapshot(), r)
    }
}
