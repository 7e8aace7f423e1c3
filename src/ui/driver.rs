//! The cluster side of the console, on its own thread: it owns the workflow over the cluster
//! (simulated or live), moves a simulated clock or takes in a live cluster's watch events,
//! carries out the operator's commands and publishes what the views show. The UI
//! thread never waits on the engine or the executor: a disruption pass that takes a second at
//! 5,000 nodes delays the next data update, not the next key or frame.

use std::sync::Arc;
use std::time::Duration as WallDuration;

use chrono::Duration;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::world::{Interest, World};
use crate::control::{Cluster, Permission, Supervisor};
use crate::engine::drain::{drain_plan, DrainOptions};
use crate::engine::replace::replacement_plan;
use crate::exec::action::Refusal;
use crate::exec::executor::holder;
use crate::exec::{Action, ApprovalError};
use crate::model::{HoldKind, Snapshot};

/// An operator action on a node, proposed for approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proposal {
    /// Cordon (or uncordon, when it is cordoned).
    Cordon,
    /// Cordon and evict, with kubectl drain's flags.
    Drain(DrainOptions),
    /// Launch a replacement, then drain and delete.
    Replace,
}

impl Proposal {
    /// The permissions running it needs.
    pub fn needs(&self) -> std::collections::BTreeSet<Permission> {
        use Permission as P;
        match self {
            Proposal::Cordon => [P::PatchNodes].into(),
            Proposal::Drain(o) if o.disable_eviction => [P::PatchNodes, P::DeletePods].into(),
            Proposal::Drain(_) => [P::PatchNodes, P::EvictPods].into(),
            Proposal::Replace => [
                P::PatchNodes,
                P::EvictPods,
                P::CreateNodeClaims,
                P::DeleteNodeClaims,
            ]
            .into(),
        }
    }
}

/// What the console asks of the cluster side.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Run the clock at `speed` virtual seconds per wall second, or stop it.
    Clock {
        /// Virtual seconds per wall second.
        speed: f64,
        /// Stopped.
        paused: bool,
    },
    /// Move the clock on by this many virtual seconds now (snapshots, tests).
    Advance(i64),
    /// What the console shows now: the data is derived for that.
    Interest(Interest),
    /// Approve these plans, in order, stopping at the first refusal.
    Approve(Vec<String>),
    /// Reject a proposal.
    Reject(String),
    /// Cancel a running plan before its next step.
    Cancel(String),
    /// Propose an action on a node.
    Propose(Proposal, String),
    /// Plan again a plan an earlier karpdeck left unfinished.
    Resume(String),
    /// Propose taking (`take`) or releasing a hold of `kind` on NodePools (all when none are
    /// named).
    Hold {
        /// Supervision or the freeze.
        kind: HoldKind,
        /// Take it, else release it.
        take: bool,
        /// The NodePools.
        pools: Vec<String>,
    },
    /// Preview a what-if (`scale …`, `lose-zone …`): nothing changes.
    WhatIf(String),
    /// Approve everything karpdeck proposes from now on (the headless `--approve-all`).
    ApproveAll(bool),
    /// List the kubeconfig's contexts (`None`), or switch to one: everything is read anew.
    Context(Option<String>),
    /// Answer [`Reply::Synced`] once everything sent before is done and published.
    Sync(u64),
}

/// What comes back, after the data it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A line for the status bar.
    Status(String),
    /// The answer to an approval or rejection of these plans, for the status bar.
    Answered {
        /// The plans the command was about.
        plans: Vec<String>,
        /// What came of it.
        status: String,
        /// A plan to look at next: the one planned again in place of a stale one.
        focus: Option<String>,
    },
    /// A proposal was made: its plan id.
    Proposed(String),
    /// A what-if preview's lines, or why there is none.
    WhatIf(Result<Vec<String>, String>),
    /// Everything before [`Command::Sync`] with this number is done.
    Synced(u64),
}

/// What the cluster side sends the console.
#[derive(Debug, Clone)]
pub enum Update {
    /// Fresh data for the views.
    Data(Arc<World>),
    /// An answer to a command.
    Reply(Reply),
}

/// The console's end of the cluster side: commands out, updates in.
pub struct Link {
    commands: Option<UnboundedSender<Command>>,
    updates: UnboundedReceiver<Update>,
    thread: Option<std::thread::JoinHandle<()>>,
    sync: u64,
}

impl Link {
    /// Start the cluster side on its own thread, clock stopped, and wait for its first data
    /// (blocking: call it outside any tokio runtime).
    pub fn spawn<C: Cluster + 'static>(sup: Supervisor<C>) -> std::io::Result<(Link, Arc<World>)> {
        let (commands, inbox) = unbounded_channel();
        let (outbox, updates) = unbounded_channel();
        // With I/O: a live cluster's acting calls open their connections on this runtime.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("karpdeck-cluster".into())
            .spawn(move || runtime.block_on(drive(sup, inbox, outbox)))?;
        let mut link = Link {
            commands: Some(commands),
            updates,
            thread: Some(thread),
            sync: 0,
        };
        match link.updates.blocking_recv() {
            Some(Update::Data(world)) => Ok((link, world)),
            _ => Err(link
                .close()
                .err()
                .unwrap_or_else(|| std::io::Error::other("the cluster side sent no data"))),
        }
    }

    /// Send a command (dropped quietly when the cluster side has ended: its data stops).
    pub fn send(&self, command: Command) {
        if let Some(c) = &self.commands {
            let _ = c.send(command);
        }
    }

    /// The next update; `None` once the cluster side has ended.
    pub async fn recv(&mut self) -> Option<Update> {
        self.updates.recv().await
    }

    /// The next update if one has arrived (never waits).
    pub fn try_recv(&mut self) -> Option<Update> {
        self.updates.try_recv().ok()
    }

    /// Every update up to the answer to a new [`Command::Sync`], in order (blocking: outside
    /// any tokio runtime, and not for the UI's event loop, which takes updates as they come).
    pub fn settle(&mut self) -> Vec<Update> {
        self.sync += 1;
        let mark = self.sync;
        self.send(Command::Sync(mark));
        let mut got = Vec::new();
        while let Some(u) = self.updates.blocking_recv() {
            if matches!(u, Update::Reply(Reply::Synced(n)) if n == mark) {
                break;
            }
            got.push(u);
        }
        got
    }

    /// End the cluster side: running plans are cancelled and closed in the journal. An error
    /// if it had crashed (its plans are then left unfinished in the journal, and said so on
    /// the next start).
    pub fn close(&mut self) -> std::io::Result<()> {
        self.commands = None;
        match self.thread.take().map(|t| t.join()) {
            Some(Err(panic)) => {
                let why = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("a panic");
                Err(std::io::Error::other(format!(
                    "the cluster side stopped: {why}; running plans are left unfinished in the journal"
                )))
            }
            _ => Ok(()),
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        // Nobody is left to tell: a crash shows as this thread's panic (tests fail on it).
        if let Err(e) = self.close() {
            if !std::thread::panicking() {
                panic!("{e}");
            }
        }
    }
}

/// How often a running clock moves (it moves by whole virtual seconds).
const TICK: WallDuration = WallDuration::from_millis(100);

/// How often a live cluster's watch events are taken in: looking costs nothing when none
/// came, and an operator should see a change within a tenth of a second.
const LIVE_TICK: WallDuration = WallDuration::from_millis(20);

/// The least time between two data updates of a live cluster (each derives every view's data).
const LIVE_PUBLISH: WallDuration = WallDuration::from_millis(50);

/// The cluster side's state between commands.
struct Driver<C> {
    sup: Supervisor<C>,
    out: UnboundedSender<Update>,
    interest: Interest,
    speed: f64,
    paused: bool,
    /// Something changed since the last data was sent.
    dirty: bool,
    /// Replies held back until the data they concern is sent.
    replies: Vec<Reply>,
    /// When data was last sent.
    published: Option<std::time::Instant>,
}

/// Set to `panic`, the cluster side panics a second after it starts (the crash tests' fault).
pub const FAULT_VAR: &str = "KARPDECK_FAULT";

async fn drive<C: Cluster>(
    sup: Supervisor<C>,
    mut inbox: UnboundedReceiver<Command>,
    out: UnboundedSender<Update>,
) {
    let mut d = Driver {
        sup,
        out,
        interest: Interest::default(),
        speed: 1.0,
        paused: true,
        dirty: true,
        replies: Vec::new(),
        published: None,
    };
    d.publish();
    let simulated = d.sup.cluster().simulated();
    let mut tick = tokio::time::interval(if simulated { TICK } else { LIVE_TICK });
    // A slow step must not be followed by a burst of catch-up ticks.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut owed = 0.0f64;
    let mut open = true;
    // A live cluster's workflow beats once a wall second.
    let mut beat = tokio::time::interval(WallDuration::from_secs(1));
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Fault injection for the crash tests: the cluster side dies a second in.
    let fault = std::env::var(FAULT_VAR).is_ok_and(|v| v == "panic");
    let started = tokio::time::Instant::now();
    while open {
        if fault && started.elapsed() >= WallDuration::from_secs(1) {
            panic!("injected fault ({FAULT_VAR}=panic)");
        }
        tokio::select! {
            c = inbox.recv() => match c {
                Some(c) => {
                    d.handle(c).await;
                    open = d.drain(&mut inbox).await;
                }
                None => open = false,
            },
            _ = beat.tick(), if !simulated => {
                d.sup.tick().await;
                d.dirty = true;
            }
            _ = tick.tick(), if !simulated || !d.paused => {
                if simulated {
                    owed += d.speed * TICK.as_secs_f64();
                    let whole = owed.floor();
                    owed -= whole;
                    for _ in 0..whole as i64 {
                        d.sup.step().await;
                        d.dirty = true;
                        // Commands sent meanwhile land between virtual seconds.
                        open = d.drain(&mut inbox).await;
                        if !open || d.paused {
                            break;
                        }
                    }
                } else {
                    // Watch events since the last look.
                    d.dirty |= d.sup.refresh();
                }
            }
        }
        d.publish();
    }
    // The console is closing: running plans are closed in the journal.
    d.sup.end().await;
}

impl<C: Cluster> Driver<C> {
    /// Handle the commands already waiting; false once the console has gone.
    async fn drain(&mut self, inbox: &mut UnboundedReceiver<Command>) -> bool {
        loop {
            match inbox.try_recv() {
                Ok(c) => self.handle(c).await,
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => return true,
                Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => return false,
            }
        }
    }

    /// Send fresh data if anything changed, then the replies that waited for it.
    fn publish(&mut self) {
        if self.dirty {
            // A busy live cluster changes every tick: its data goes out at most every
            // LIVE_PUBLISH, and replies wait with it.
            let live = !self.sup.cluster().simulated();
            if live && self.published.is_some_and(|t| t.elapsed() < LIVE_PUBLISH) {
                return;
            }
            let world = World::of(&self.sup, &self.interest);
            let _ = self.out.send(Update::Data(Arc::new(world)));
            self.dirty = false;
            self.published = Some(std::time::Instant::now());
        }
        for r in self.replies.drain(..) {
            let _ = self.out.send(Update::Reply(r));
        }
    }

    async fn handle(&mut self, command: Command) {
        // Whether the cluster (or karpdeck's plans) changed, so the views need new data.
        let mut changed = true;
        let reply = match command {
            Command::Clock { speed, paused } => {
                self.speed = speed;
                self.paused = paused;
                return;
            }
            Command::Advance(seconds) => {
                if let Some(by) = Duration::try_seconds(seconds) {
                    self.sup.run_for(by).await;
                    self.dirty = true;
                }
                return;
            }
            Command::Interest(interest) => {
                self.dirty |= interest != self.interest;
                self.interest = interest;
                return;
            }
            Command::ApproveAll(on) => {
                self.sup.set_approve_all(on);
                return;
            }
            Command::Sync(n) => {
                // Answered after the data: the replies go out in order, after publishing.
                self.replies.push(Reply::Synced(n));
                return;
            }
            Command::WhatIf(text) => {
                let words: Vec<&str> = text.split_whitespace().collect();
                let preview = super::whatif::parse(&words)
                    .unwrap_or_else(|| Err(format!("not a what-if: {text}")))
                    .and_then(|e| {
                        super::whatif::preview(self.sup.cluster().snapshot(), &e, text.trim())
                    });
                changed = false;
                Reply::WhatIf(preview)
            }
            Command::Approve(plans) => {
                let (approved, status, focus) = self.approve(&plans);
                // A stale plan's replacement is a change to show too.
                changed = approved > 0 || focus.is_some();
                Reply::Answered {
                    plans,
                    status,
                    focus,
                }
            }
            Command::Reject(plan) => {
                changed = self.sup.reject(&plan);
                let status = if changed {
                    format!("rejected {plan}")
                } else {
                    format!("{plan} is not awaiting approval")
                };
                Reply::Answered {
                    plans: vec![plan],
                    status,
                    focus: None,
                }
            }
            Command::Context(None) => {
                changed = false;
                let current = self.sup.cluster().context();
                let all: Vec<String> = self
                    .sup
                    .cluster()
                    .contexts()
                    .into_iter()
                    .map(|c| if c == current { format!("*{c}") } else { c })
                    .collect();
                Reply::Status(if all.is_empty() {
                    format!("{current} has no other contexts")
                } else {
                    format!("contexts: {} (:ctx NAME switches)", all.join(", "))
                })
            }
            Command::Context(Some(name)) => match self.sup.switch_context(&name) {
                Ok(()) => Reply::Status(format!("context {name}: syncing")),
                Err(e) => {
                    changed = false;
                    Reply::Status(e)
                }
            },
            Command::Cancel(plan) => {
                changed = self.sup.cancel(&plan);
                Reply::Status(if changed {
                    format!("cancelling {plan} before its next step")
                } else {
                    format!("{plan} is not running")
                })
            }
            Command::Resume(plan) => match self.sup.resume(&plan) {
                Ok(id) => Reply::Proposed(id),
                Err(e) => {
                    changed = false;
                    Reply::Status(e.to_string())
                }
            },
            Command::Hold { kind, take, pools } => {
                let by = holder(&self.sup.settings().user);
                match self
                    .sup
                    .submit(move |id, s| Action::hold(id, s, kind, take, &pools, &by))
                {
                    Ok(id) => Reply::Proposed(id),
                    Err(e) => {
                        changed = false;
                        Reply::Status(e.to_string())
                    }
                }
            }
            Command::Propose(kind, node) => {
                // Cordon or uncordon as the operator saw the node: planned again at approval,
                // the direction stays theirs.
                let cordon = !self
                    .sup
                    .cluster()
                    .snapshot()
                    .nodes
                    .iter()
                    .any(|n| n.name == node && n.unschedulable);
                match self
                    .sup
                    .submit(move |id, s| propose(id, s, kind, &node, cordon))
                {
                    Ok(id) => Reply::Proposed(id),
                    Err(e) => {
                        changed = false;
                        Reply::Status(e.to_string())
                    }
                }
            }
        };
        self.dirty |= changed;
        self.replies.push(reply);
    }

    /// Approve `plans` in order, stopping at the first refusal: how many were approved, the
    /// status line, and the plan proposed in place of a stale one.
    fn approve(&mut self, plans: &[String]) -> (usize, String, Option<String>) {
        let mut done = Vec::new();
        for p in plans {
            if let Err(e) = self.sup.approve(p) {
                let status = if done.is_empty() {
                    e.to_string()
                } else {
                    format!("approved {}; then {e}", done.join(", "))
                };
                let focus = match e {
                    ApprovalError::Stale { replanned, .. } => replanned,
                    _ => None,
                };
                return (done.len(), status, focus);
            }
            done.push(p.clone());
        }
        (done.len(), format!("approved {}", done.join(", ")), None)
    }
}

/// Build the operator's action on `node` from the cluster as it is now.
fn propose(
    id: String,
    s: &Snapshot,
    kind: Proposal,
    node: &str,
    cordon: bool,
) -> Result<Action, Refusal> {
    let i = s.nodes.iter().position(|n| n.name == node).ok_or_else(|| {
        Refusal(format!(
            "{node} is not a node (a NodeClaim still launching?)"
        ))
    })?;
    match kind {
        Proposal::Cordon => Ok(Action::cordon(id, node, cordon)),
        Proposal::Drain(options) => Action::drain(id, s, &drain_plan(s, &[i], &options), &options),
        Proposal::Replace => Ok(Action::replace(id, s, &replacement_plan(s, i))),
    }
}
