//! The console's state and its one update function: every key, resize, data update and reply
//! from the cluster side is a [`Msg`]; [`App::update`] changes the state and sends the cluster
//! side commands, never waiting for them. Drawing only reads.

use std::collections::BTreeSet;

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent};
use tui_tree_widget::{TreeItem, TreeState};

use super::driver::{Command, Link, Proposal, Reply, Update};
use super::keymap::{KeyAction, Keymap};
use super::settings::Warning;
use super::theme::Theme;
use super::world::{Interest, World};
use crate::control::{Cluster, Supervisor};
use crate::engine::drain::OPERATOR_DRAIN;
use crate::exec::{ActionKind, PlanStatus, State};
use crate::model::HoldKind;

/// The views, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Nodes and in-flight NodeClaims.
    Nodes,
    /// Pending pods and why.
    Pending,
    /// NodePools: limits, budgets, consolidation.
    Pools,
    /// NodePool → Node → Pod.
    Tree,
    /// Spot pools and interruptions.
    Spot,
    /// Proposals, running actions, history.
    Plans,
    /// The journal.
    Journal,
}

impl View {
    /// Every view, in tab order.
    pub const ALL: [View; 7] = [
        View::Nodes,
        View::Pending,
        View::Pools,
        View::Tree,
        View::Spot,
        View::Plans,
        View::Journal,
    ];

    /// The tab's (and `:` command's) name.
    pub fn name(self) -> &'static str {
        match self {
            View::Nodes => "nodes",
            View::Pending => "pending",
            View::Pools => "nodepools",
            View::Tree => "tree",
            View::Spot => "spot",
            View::Plans => "plans",
            View::Journal => "journal",
        }
    }

    /// A view by name (prefixes allowed when unambiguous).
    pub fn parse(name: &str) -> Option<View> {
        let mut hits = View::ALL.iter().filter(|v| v.name().starts_with(name));
        match (hits.next(), hits.next()) {
            (Some(v), None) => Some(*v),
            _ => View::ALL.iter().find(|v| v.name() == name).copied(),
        }
    }

    fn index(self) -> usize {
        View::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }
}

/// What the keyboard is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Moving around.
    Normal,
    /// Typing a filter.
    Filter,
    /// Typing a `:` command.
    Command(String),
    /// The help screen.
    Help,
    /// A what-if preview (its lines).
    WhatIf(Vec<String>),
    /// Confirming an approval (or a risky rejection): the plan ids, and the text to type
    /// (empty: `y` suffices).
    Confirm {
        /// Plans to approve (or reject).
        plans: Vec<String>,
        /// A rejection, not an approval.
        reject: bool,
        /// What must be typed (a node's name for destructive actions).
        expect: String,
        /// Typed so far.
        typed: String,
    },
}

/// One message.
#[derive(Debug, Clone)]
pub enum Msg {
    /// A key.
    Key(KeyEvent),
    /// The terminal resized.
    Resize,
    /// Fresh data from the cluster side.
    Data(Arc<World>),
    /// The cluster side's answer to a command.
    Reply(Reply),
}

impl From<Update> for Msg {
    fn from(u: Update) -> Self {
        match u {
            Update::Data(w) => Msg::Data(w),
            Update::Reply(r) => Msg::Reply(r),
        }
    }
}

/// The console.
pub struct App {
    /// The cluster side (the workflow over the cluster and karpdeck's executor, on its thread).
    pub link: Link,
    /// The journal file, if one is kept.
    pub journal_path: Option<std::path::PathBuf>,
    /// Where the cluster comes from (`demo`, a scenario file).
    pub source: String,
    /// Colors.
    pub theme: Theme,
    /// Keys.
    pub keymap: Keymap,
    /// Settings problems, shown until dismissed.
    pub warnings: Vec<Warning>,
    /// The derived data the views show, as the cluster side last sent it.
    pub world: Arc<World>,
    /// The current view.
    pub view: View,
    /// The selected row per view.
    pub selected: [usize; 7],
    /// The filter (fuzzy, on the row's name).
    pub filter: String,
    /// Keyboard mode.
    pub mode: Mode,
    /// Marked rows (node names, plan ids).
    pub marks: BTreeSet<String>,
    /// The last message for the status line.
    pub status: String,
    /// The virtual clock is stopped.
    pub paused: bool,
    /// Virtual seconds per wall-clock second.
    pub speed: f64,
    /// The tree's state.
    pub tree: TreeState<String>,
    /// Quit requested.
    pub quit: bool,
    /// Node sort column.
    pub sort: NodeSort,
    /// The plan the Plans view's selection follows (new plans arrive on top).
    plan_focus: Option<String>,
    /// The tree's items, built once per change of the cluster or of the opened branches.
    pub tree_items: Option<TreeCache>,
    /// The journal as last read, and the file's size and time then.
    pub journal: crate::exec::journal::Journal,
    /// Why the journal could not be read, if it could not.
    pub journal_error: Option<String>,
    journal_stamp: Option<(u64, Option<std::time::SystemTime>)>,
    /// The node the Nodes view's selection follows (rows move as NodeClaims arrive).
    node_focus: Option<String>,
    /// What the cluster side was last told the views need.
    interest: Interest,
    /// Plans an approval or rejection was sent for and not answered yet (not offered again).
    answering: BTreeSet<String>,
    /// Plans run by standing policy the status line has already announced.
    announced: BTreeSet<String>,
    /// A what-if preview that came back while the operator was typing: opened after.
    whatif: Option<Vec<String>>,
}

/// Tree items and the opened branches they were built for.
pub type TreeCache = (
    std::collections::HashSet<Vec<String>>,
    Vec<TreeItem<'static, String>>,
);

/// How the Nodes view is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeSort {
    /// By name.
    Name,
    /// Newest first.
    Age,
    /// Most CPU requested first.
    Cpu,
    /// Dearest first.
    Price,
}

impl NodeSort {
    fn next(self) -> Self {
        match self {
            Self::Name => Self::Age,
            Self::Age => Self::Cpu,
            Self::Cpu => Self::Price,
            Self::Price => Self::Name,
        }
    }

    /// Column name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Age => "age",
            Self::Cpu => "cpu",
            Self::Price => "$/h",
        }
    }
}

/// Fuzzy match of a filter against a name (every character, in order, case-insensitive).
pub fn matches(filter: &str, name: &str) -> bool {
    thread_local! {
        // One matcher per thread: making one allocates its scoring matrix.
        static MATCHER: std::cell::RefCell<nucleo_matcher::Matcher> =
            std::cell::RefCell::new(nucleo_matcher::Matcher::new(nucleo_matcher::Config::DEFAULT));
    }
    if filter.is_empty() {
        return true;
    }
    // The matcher ignores case only for a lowercase needle (lowered only when it is not).
    let filter = if filter.chars().any(char::is_uppercase) {
        std::borrow::Cow::Owned(filter.to_lowercase())
    } else {
        std::borrow::Cow::Borrowed(filter)
    };
    let mut buf = Vec::new();
    let haystack = nucleo_matcher::Utf32Str::new(name, &mut buf);
    let mut nbuf = Vec::new();
    let needle = nucleo_matcher::Utf32Str::new(&filter, &mut nbuf);
    MATCHER.with(|m| m.borrow_mut().fuzzy_match(haystack, needle).is_some())
}

impl App {
    /// A console over `sup`, which moves to its own thread (its clock stopped until the
    /// console sends [`Command::Clock`]).
    pub fn new<C: Cluster + 'static>(
        sup: Supervisor<C>,
        source: String,
        theme: Theme,
        keymap: Keymap,
        warnings: Vec<Warning>,
    ) -> std::io::Result<Self> {
        let journal_path = sup.journal().map(|p| p.to_path_buf());
        let (link, world) = Link::spawn(sup)?;
        let status = if warnings.is_empty() {
            "ready".to_string()
        } else {
            format!(
                "{} settings warning(s): see the help screen (?)",
                warnings.len()
            )
        };
        let mut app = Self {
            link,
            journal_path,
            source,
            theme,
            keymap,
            warnings,
            world,
            view: View::Nodes,
            selected: [0; 7],
            filter: String::new(),
            mode: Mode::Normal,
            marks: BTreeSet::new(),
            status,
            paused: false,
            speed: 5.0,
            tree: TreeState::default(),
            quit: false,
            sort: NodeSort::Name,
            plan_focus: None,
            tree_items: None,
            journal: Default::default(),
            journal_error: None,
            journal_stamp: None,
            node_focus: None,
            interest: Interest::default(),
            answering: BTreeSet::new(),
            announced: BTreeSet::new(),
            whatif: None,
        };
        // Pin the cursor on the first node shown, as every later update does.
        let world = app.world.clone();
        app.refresh(world);
        app.tell_interest();
        Ok(app)
    }

    /// Move the virtual clock on by `seconds` now and wait for the data (snapshots, tests).
    pub fn advance(&mut self, seconds: i64) {
        self.link.send(Command::Advance(seconds));
        self.settle();
    }

    /// Wait until the cluster side has handled every command sent so far, and take in what
    /// it sent (blocking: for snapshots and tests; the event loop takes updates as they come).
    pub fn settle(&mut self) {
        for u in self.link.settle() {
            self.update(u.into());
        }
    }

    /// Take in fresh data, keeping the selected node and plan under the cursor.
    fn refresh(&mut self, world: Arc<World>) {
        let node_row = self.node_selection();
        self.world = world;
        // A plan no person approved is said loudly, once.
        let unannounced = self
            .world
            .plans
            .iter()
            .find(|x| x.policy().is_some() && !self.announced.contains(&x.action().id));
        if let Some(x) = unannounced {
            let id = x.action().id.clone();
            self.status = format!(
                "RUN BY POLICY: {id} {} (no time to ask; --approve-interruptions waits for you)",
                x.action().summary
            );
            self.announced.insert(id);
        }
        self.tree_items = None;
        // Only the Journal view shows the file: read it while that is on screen.
        if self.view == View::Journal {
            self.reload_journal();
        }
        // Pin the selected node and plan so rows arriving above them do not move the cursor; a
        // node that went leaves the cursor on the row that took its place.
        let rows = self.node_rows();
        let gone = self
            .node_focus
            .as_ref()
            .is_none_or(|f| !rows.iter().any(|n| &n.name == f));
        if gone {
            let row = node_row.min(rows.len().saturating_sub(1));
            self.node_focus = rows.get(row).map(|n| n.name.clone());
        }
        if self.view == View::Plans && self.plan_focus.is_none() {
            self.plan_focus = self.plan_rows().first().map(|x| x.action().id.clone());
        }
    }

    /// Show a view (and ask for the data it needs).
    pub fn show(&mut self, view: View) {
        self.switch(view);
        self.tell_interest();
    }

    /// Node rows in view order (filtered, sorted).
    pub fn node_rows(&self) -> Vec<&super::world::NodeRow> {
        let mut rows: Vec<_> = self
            .world
            .nodes
            .iter()
            .filter(|n| matches(&self.filter, &n.name))
            .collect();
        match self.sort {
            NodeSort::Name => rows.sort_by(|a, b| a.name.cmp(&b.name)),
            NodeSort::Age => rows.sort_by_key(|n| n.age),
            NodeSort::Cpu => rows.sort_by_key(|n| std::cmp::Reverse(n.cpu.0)),
            NodeSort::Price => {
                rows.sort_by(|a, b| b.price.unwrap_or(0.0).total_cmp(&a.price.unwrap_or(0.0)))
            }
        }
        rows
    }

    /// Plans in view order: newest first.
    pub fn plan_rows(&self) -> Vec<&PlanStatus> {
        self.world
            .plans
            .iter()
            .rev()
            .filter(|x| {
                matches(&self.filter, &x.action().summary) || matches(&self.filter, &x.action().id)
            })
            .collect()
    }

    /// How many rows the current view has.
    fn row_count(&self) -> usize {
        match self.view {
            View::Nodes => self.node_rows().len(),
            View::Pending => self.pending_rows().len(),
            View::Pools => self.pool_rows().len(),
            View::Spot => self.spot_rows().len(),
            View::Plans => self.plan_rows().len(),
            View::Journal => self.journal_rows().len(),
            View::Tree => 0,
        }
    }

    /// Pending pods matching the filter (pod name or reason).
    pub fn pending_rows(&self) -> Vec<&super::world::PendingRow> {
        self.world
            .pending
            .iter()
            .filter(|p| matches(&self.filter, &p.pod) || matches(&self.filter, &p.reason))
            .collect()
    }

    /// NodePools matching the filter.
    pub fn pool_rows(&self) -> Vec<&super::world::PoolRow> {
        self.world
            .pools
            .iter()
            .filter(|p| matches(&self.filter, &p.name))
            .collect()
    }

    /// Spot pools matching the filter (type or zone).
    pub fn spot_rows(&self) -> Vec<&super::world::SpotRow> {
        self.world
            .spot
            .iter()
            .filter(|p| matches(&self.filter, &format!("{} {}", p.instance_type, p.zone)))
            .collect()
    }

    /// Journal lines matching the filter (plan, action, step), newest first.
    pub fn journal_rows(&self) -> Vec<&crate::exec::journal::Entry> {
        self.journal
            .entries
            .iter()
            .rev()
            .filter(|e| {
                matches(&self.filter, &e.plan)
                    || matches(&self.filter, &e.action)
                    || e.step.as_deref().is_some_and(|s| matches(&self.filter, s))
            })
            .collect()
    }

    /// Re-read the journal if the file changed (size or modification time).
    fn reload_journal(&mut self) {
        let Some(path) = &self.journal_path else {
            return;
        };
        let stamp = std::fs::metadata(path)
            .ok()
            .map(|m| (m.len(), m.modified().ok()));
        if stamp == self.journal_stamp {
            return;
        }
        match crate::exec::journal::read(path) {
            Ok(j) => {
                self.journal = j;
                self.journal_error = None;
            }
            Err(e) => self.journal_error = Some(e.to_string()),
        }
        self.journal_stamp = stamp;
    }

    /// The selected row of the current view.
    pub fn selection(&self) -> usize {
        match self.view {
            View::Plans => self.plan_selection_in(&self.plan_rows()),
            View::Nodes => self.node_selection(),
            _ => self.selected[self.view.index()],
        }
    }

    /// The Nodes view's selected row: the followed node's, else the last row number.
    fn node_selection(&self) -> usize {
        self.node_selection_in(&self.node_rows())
    }

    /// The Nodes view's selected row within `rows` (its [`App::node_rows`], built once by the
    /// caller: they are filtered and sorted on every call).
    pub fn node_selection_in(&self, rows: &[&super::world::NodeRow]) -> usize {
        self.node_focus
            .as_ref()
            .and_then(|name| rows.iter().position(|n| &n.name == name))
            .unwrap_or(self.selected[View::Nodes.index()])
    }

    /// The Plans view's selected row within `rows` (its [`App::plan_rows`]): the followed
    /// plan's, else the last row number.
    pub fn plan_selection_in(&self, rows: &[&PlanStatus]) -> usize {
        self.plan_focus
            .as_ref()
            .and_then(|id| rows.iter().position(|x| &x.action().id == id))
            .unwrap_or(self.selected[View::Plans.index()])
    }

    fn select(&mut self, row: usize) {
        let n = self.row_count();
        let row = row.min(n.saturating_sub(1));
        self.selected[self.view.index()] = row;
        match self.view {
            View::Plans => {
                self.plan_focus = self.plan_rows().get(row).map(|x| x.action().id.clone())
            }
            View::Nodes => self.node_focus = self.node_rows().get(row).map(|n| n.name.clone()),
            _ => {}
        }
    }

    fn move_by(&mut self, delta: i64) {
        if self.view == View::Tree {
            if delta < 0 {
                self.tree.key_up();
            } else {
                self.tree.key_down();
            }
            return;
        }
        let row = (self.selection() as i64 + delta).max(0) as usize;
        self.select(row);
    }

    /// Complete a partly typed command: the command itself, then its argument — a node for
    /// drain/cordon/replace, a plan for approve/reject/cancel (the first that fits).
    fn complete(&self, text: &str) -> Option<String> {
        let (command, arg) = match text.split_once(' ') {
            Some((c, a)) => (c, a),
            None => {
                let names: Vec<String> = COMMANDS.iter().map(|c| c.to_string()).collect();
                return extend(text, &names);
            }
        };
        let candidates: Vec<String> = match command {
            "drain" | "cordon" | "replace" => self
                .world
                .nodes
                .iter()
                .filter(|n| !matches!(n.status, super::world::NodeStatus::Launching(_)))
                .map(|n| n.name.clone())
                .collect(),
            "ctx" => self.world.contexts.clone(),
            "supervise" | "release" => self.world.pools.iter().map(|p| p.name.clone()).collect(),
            "approve" | "reject" | "cancel" => self
                .world
                .plans
                .iter()
                .filter(|x| !x.state().is_final())
                .map(|x| x.action().id.clone())
                .collect(),
            _ => return None,
        };
        extend(arg, &candidates).map(|a| format!("{command} {a}"))
    }

    /// Show another view; a filter belongs to the view it was typed in.
    fn switch(&mut self, view: View) {
        if view != self.view {
            self.filter.clear();
            // Plans opens on the newest, then the cursor stays on its plan while it is shown.
            self.plan_focus = None;
            self.view = view;
            if view == View::Plans {
                self.plan_focus = self.plan_rows().first().map(|x| x.action().id.clone());
            }
            if view == View::Journal {
                self.reload_journal();
            }
        }
    }

    /// Handle one message.
    pub fn update(&mut self, msg: Msg) {
        self.handle(msg);
        if self.mode == Mode::Normal {
            if let Some(lines) = self.whatif.take() {
                self.mode = Mode::WhatIf(lines);
            }
        }
        self.tell_interest();
    }

    /// Tell the cluster side when what the views need changed.
    fn tell_interest(&mut self) {
        let interest = self.interest();
        if interest != self.interest {
            self.link.send(Command::Interest(interest.clone()));
            self.interest = interest;
        }
    }

    /// What the views on screen need beyond the summary data: the pending pods' reasons on
    /// the Pending view, Spot diversity on the Spot view, pod names for the selected node and
    /// the tree's opened nodes.
    fn interest(&self) -> Interest {
        let mut pods_of: std::collections::BTreeSet<String> =
            self.selected_node().into_iter().collect();
        if self.view == View::Tree {
            pods_of.extend(
                self.tree
                    .opened()
                    .iter()
                    .filter_map(|path| path.get(1).cloned()),
            );
        }
        Interest {
            reasons: self.view == View::Pending,
            diversity: self.view == View::Spot,
            pods_of,
        }
    }

    fn handle(&mut self, msg: Msg) {
        let key = match msg {
            Msg::Key(key) => key,
            Msg::Resize => return,
            Msg::Data(world) => return self.refresh(world),
            Msg::Reply(reply) => return self.answer(reply),
        };
        match self.mode.clone() {
            Mode::Filter => self.filter_key(key),
            Mode::Command(text) => self.command_key(key, text),
            Mode::Help | Mode::WhatIf(_) => self.mode = Mode::Normal,
            Mode::Confirm {
                plans,
                reject,
                expect,
                typed,
            } => self.confirm_key(key, plans, reject, expect, typed),
            Mode::Normal => {
                if let Some(action) = self.keymap.action(&key) {
                    self.act(action);
                } else if let KeyCode::Char(c @ '1'..='7') = key.code {
                    self.switch(View::ALL[c as usize - '1' as usize]);
                } else if key.code == KeyCode::Enter && self.view == View::Tree {
                    self.tree.toggle_selected();
                }
            }
        }
    }

    fn filter_key(&mut self, key: KeyEvent) {
        match key.code {
            _ if is_abandon(&key) => {
                self.filter.clear();
                self.mode = Mode::Normal;
            }
            KeyCode::Enter => self.mode = Mode::Normal,
            KeyCode::Backspace => {
                self.filter.pop();
            }
            KeyCode::Char(c) => self.filter.push(c),
            _ => {}
        }
        self.select(0);
    }

    fn command_key(&mut self, key: KeyEvent, mut text: String) {
        match key.code {
            _ if is_abandon(&key) => self.mode = Mode::Normal,
            KeyCode::Enter => {
                self.mode = Mode::Normal;
                self.run_command(&text);
            }
            KeyCode::Tab => {
                if let Some(c) = self.complete(&text) {
                    self.mode = Mode::Command(c);
                }
            }
            KeyCode::Backspace => {
                text.pop();
                self.mode = Mode::Command(text);
            }
            KeyCode::Char(c) => {
                text.push(c);
                self.mode = Mode::Command(text);
            }
            _ => {}
        }
    }

    /// Run a `:` command.
    pub fn run_command(&mut self, text: &str) {
        let words: Vec<&str> = text.split_whitespace().collect();
        if super::whatif::parse(&words).is_some() {
            // A newer what-if replaces one still waiting to be shown.
            self.whatif = None;
            self.link.send(Command::WhatIf(text.trim().to_string()));
            self.status = format!("working out what-if {}…", text.trim());
            return;
        }
        match words.as_slice() {
            [] => {}
            ["q" | "quit"] => self.quit = true,
            ["help"] => self.mode = Mode::Help,
            ["approve", plan] => self.ask_approval(vec![plan.to_string()]),
            ["reject", plan] => self.ask_reject(plan.to_string()),
            ["cancel", plan] => self.cancel(plan),
            ["drain", args @ ..] => match drain_args(args) {
                Ok((node, options)) => self.propose(Proposal::Drain(options), node),
                Err(e) => self.status = e,
            },
            ["cordon", node] => self.propose(Proposal::Cordon, node),
            ["ctx"] => self.link.send(Command::Context(None)),
            ["ctx", name] => {
                self.link.send(Command::Context(Some(name.to_string())));
                self.status = format!("switching to context {name}…");
            }
            ["replace", node] => self.propose(Proposal::Replace, node),
            ["resume", plan] => {
                self.link.send(Command::Resume(plan.to_string()));
                self.status = format!("planning {plan} again from the cluster as it is…");
            }
            ["freeze"] => self.hold(HoldKind::Freeze, true, &[]),
            ["unfreeze"] => self.hold(HoldKind::Freeze, false, &[]),
            ["supervise", pools @ ..] if !pools.is_empty() => {
                self.hold(HoldKind::Supervise, true, pools)
            }
            ["release", pools @ ..] if !pools.is_empty() => {
                self.hold(HoldKind::Supervise, false, pools)
            }
            [name] => match View::parse(name) {
                Some(v) => {
                    self.switch(v);
                    self.status = format!("view {}", v.name());
                }
                None => self.status = format!("unknown command :{name} (tab completes)"),
            },
            _ => self.status = format!("unknown command :{text}"),
        }
    }

    fn confirm_key(
        &mut self,
        key: KeyEvent,
        plans: Vec<String>,
        reject: bool,
        expect: String,
        mut typed: String,
    ) {
        let done = |app: &mut Self| {
            app.mode = Mode::Normal;
            if reject {
                plans.iter().for_each(|p| app.reject(p));
            } else {
                app.approve(&plans);
            }
        };
        match key.code {
            _ if is_abandon(&key) => {
                self.mode = Mode::Normal;
                self.status = "abandoned: nothing approved or rejected".into();
            }
            KeyCode::Char('y') if expect.is_empty() => done(self),
            KeyCode::Enter if !expect.is_empty() => {
                if typed == expect {
                    done(self);
                } else {
                    self.status = format!("type {expect} exactly, or esc to abandon");
                }
            }
            KeyCode::Backspace if !expect.is_empty() => {
                typed.pop();
                self.mode = Mode::Confirm {
                    plans,
                    reject,
                    expect,
                    typed,
                };
            }
            KeyCode::Char(c) if !expect.is_empty() => {
                typed.push(c);
                self.mode = Mode::Confirm {
                    plans,
                    reject,
                    expect,
                    typed,
                };
            }
            _ => {}
        }
    }

    fn act(&mut self, action: KeyAction) {
        match action {
            KeyAction::Up => self.move_by(-1),
            KeyAction::Down => self.move_by(1),
            KeyAction::PageUp => self.move_by(-10),
            KeyAction::PageDown => self.move_by(10),
            KeyAction::Top => {
                if self.view == View::Tree {
                    self.tree.select_first();
                }
                self.select(0)
            }
            KeyAction::Bottom => {
                if self.view == View::Tree {
                    self.tree.select_last();
                }
                self.select(usize::MAX)
            }
            KeyAction::NextView => self.switch(View::ALL[(self.view.index() + 1) % 7]),
            KeyAction::PrevView => self.switch(View::ALL[(self.view.index() + 6) % 7]),
            KeyAction::Filter => self.mode = Mode::Filter,
            KeyAction::Command => self.mode = Mode::Command(String::new()),
            KeyAction::Help => self.mode = Mode::Help,
            KeyAction::Back => {
                self.filter.clear();
                self.marks.clear();
            }
            KeyAction::Mark => {
                if let Some(key) = self.selected_key() {
                    if !self.marks.remove(&key) {
                        self.marks.insert(key);
                    }
                }
            }
            KeyAction::Quit => self.quit = true,
            KeyAction::Approve => {
                let marked: Vec<String> = self
                    .marks
                    .iter()
                    .filter(|m| {
                        self.world
                            .plan(m)
                            .is_some_and(|x| x.state() == State::Previewed)
                    })
                    .cloned()
                    .collect();
                let plans = if self.view == View::Plans && !marked.is_empty() {
                    marked
                } else {
                    self.selected_plan().into_iter().collect()
                };
                self.ask_approval(plans);
            }
            KeyAction::ApproveAll => {
                let plans: Vec<String> = self
                    .world
                    .plans
                    .iter()
                    .filter(|x| x.state() == State::Previewed)
                    .map(|x| x.action().id.clone())
                    .collect();
                self.ask_approval(plans);
            }
            KeyAction::Reject => {
                if let Some(p) = self.selected_plan() {
                    self.ask_reject(p);
                }
            }
            KeyAction::CancelAction => {
                if let Some(p) = self.selected_plan() {
                    self.cancel(&p);
                }
            }
            KeyAction::Cordon | KeyAction::Drain | KeyAction::Replace => {
                if let Some(kind) = proposal_of(action) {
                    self.propose_selected(kind);
                }
            }
            KeyAction::Pause | KeyAction::Faster | KeyAction::Slower if !self.world.simulated => {
                self.status =
                    "a live cluster runs on the wall clock: nothing to pause or speed up".into();
            }
            KeyAction::Pause => {
                self.paused = !self.paused;
                self.status = if self.paused { "paused" } else { "running" }.into();
                self.send_clock();
            }
            KeyAction::Faster => {
                self.speed = (self.speed * 2.0).min(MAX_SPEED);
                self.status = format!("speed ×{}", self.speed);
                self.send_clock();
            }
            KeyAction::Slower => {
                self.speed = (self.speed / 2.0).max(0.25);
                self.status = format!("speed ×{}", self.speed);
                self.send_clock();
            }
            KeyAction::Sort => {
                self.sort = self.sort.next();
                self.status = format!("nodes sorted by {}", self.sort.name());
            }
        }
    }

    /// The name of the selected row (node name, plan id), for marks.
    fn selected_key(&self) -> Option<String> {
        match self.view {
            View::Nodes => self.selected_node(),
            View::Plans => self.selected_plan(),
            _ => None,
        }
    }

    /// The node selected in the Nodes view (or the tree).
    pub fn selected_node(&self) -> Option<String> {
        match self.view {
            View::Nodes => {
                let rows = self.node_rows();
                rows.get(self.node_selection_in(&rows))
                    .map(|n| n.name.clone())
            }
            View::Tree => self.tree.selected().get(1).cloned(),
            _ => None,
        }
    }

    /// The plan selected in the Plans view.
    pub fn selected_plan(&self) -> Option<String> {
        if self.view != View::Plans {
            return None;
        }
        let rows = self.plan_rows();
        rows.get(self.plan_selection_in(&rows))
            .map(|x| x.action().id.clone())
    }

    /// Whether approvals are offered at all: never in read-only mode, where the console shows
    /// plans as previews and does not advertise the keys it would refuse.
    pub fn approvals_offered(&self) -> bool {
        !self.world.read_only
    }

    /// Open the confirmation for approving `plans`: `y` for a scale-out or cordon, the node's
    /// name typed out for anything that evicts or deletes.
    fn ask_approval(&mut self, plans: Vec<String>) {
        if self.world.read_only {
            self.status = "read-only: approvals are refused".into();
            return;
        }
        let waiting: Vec<&PlanStatus> = plans
            .iter()
            .filter(|p| !self.answering.contains(*p))
            .filter_map(|p| self.world.plan(p))
            .filter(|x| x.state() == State::Previewed)
            .collect();
        if waiting.is_empty() {
            self.status = "nothing awaiting approval here".into();
            return;
        }
        let destructive: Vec<&PlanStatus> = waiting
            .iter()
            .copied()
            // Holds on NodePools change Karpenter's settings, restorably, and move no pod.
            .filter(|x| {
                !matches!(
                    x.action().kind,
                    ActionKind::ScaleOut
                        | ActionKind::Cordon
                        | ActionKind::Uncordon
                        | ActionKind::Supervise
                        | ActionKind::Release
                        | ActionKind::Freeze
                        | ActionKind::Unfreeze
                )
            })
            .collect();
        // Evicting a workload's last running replica is its own decision, typed as such.
        let last_replica = waiting.iter().any(|x| !x.action().last_replicas.is_empty());
        let expect = match (waiting.len(), destructive.first()) {
            _ if last_replica => LAST_REPLICA_CONFIRMATION.to_string(),
            (_, None) => String::new(),
            (1, Some(x)) => match x.action().targets.as_slice() {
                [one] => one.clone(),
                many => format!("{} {} nodes", x.action().kind.as_str(), many.len()),
            },
            (_, Some(_)) => "approve all".to_string(),
        };
        let plans = waiting.iter().map(|x| x.action().id.clone()).collect();
        self.mode = Mode::Confirm {
            plans,
            reject: false,
            expect,
            typed: String::new(),
        };
    }

    fn approve(&mut self, plans: &[String]) {
        self.marks.clear();
        self.answering.extend(plans.iter().cloned());
        self.link.send(Command::Approve(plans.to_vec()));
        self.status = format!("approving {}…", plans.join(", "));
    }

    /// Reject a plan; an interruption response only after `y` (rejecting it leaves the node to
    /// EC2's deadline).
    fn ask_reject(&mut self, plan: String) {
        if self.answering.contains(&plan) {
            self.status = format!("{plan}: an answer is on its way");
            return;
        }
        let urgent = self
            .world
            .plan(&plan)
            .is_some_and(|x| x.action().is_urgent() && x.state() == State::Previewed);
        if urgent {
            self.mode = Mode::Confirm {
                plans: vec![plan],
                reject: true,
                expect: String::new(),
                typed: String::new(),
            };
        } else {
            self.reject(&plan);
        }
    }

    fn reject(&mut self, plan: &str) {
        self.answering.insert(plan.to_string());
        self.link.send(Command::Reject(plan.to_string()));
        self.status = format!("rejecting {plan}…");
    }

    fn cancel(&mut self, plan: &str) {
        self.link.send(Command::Cancel(plan.to_string()));
        self.status = format!("cancelling {plan}…");
    }

    /// Propose an action on the selected node (the Nodes view or the tree).
    fn propose_selected(&mut self, kind: Proposal) {
        if let Some(n) = self.selected_node() {
            self.propose(kind, &n);
        }
    }

    /// Propose an action on `node`; it opens in the Plans view once made. One the user may
    /// not run here is not proposed: the status says what is missing.
    fn propose(&mut self, kind: Proposal, node: &str) {
        if let Some(why) = self.not_permitted(&kind) {
            self.status = why;
            return;
        }
        self.link.send(Command::Propose(kind, node.to_string()));
        self.status = format!("working out the plan for {node}…");
    }

    /// Propose taking (or releasing) karpdeck's hold on NodePools (every one when `pools` is
    /// empty); it opens in the Plans view once made, like any action.
    fn hold(&mut self, kind: HoldKind, take: bool, pools: &[&str]) {
        let pools: Vec<String> = pools.iter().map(|p| p.to_string()).collect();
        self.link.send(Command::Hold { kind, take, pools });
        self.status = "working out the change to the nodepools…".into();
    }

    /// Why the user may not run `kind` here (`context C may not create pods/eviction`), if so.
    pub fn not_permitted(&self, kind: &Proposal) -> Option<String> {
        crate::control::permission::not_permitted(
            &kind.needs(),
            &self.world.denied,
            &self.world.context,
        )
    }

    /// The clock's speed and pause, to the cluster side.
    pub fn send_clock(&self) {
        self.link.send(Command::Clock {
            speed: self.speed,
            paused: self.paused,
        });
    }

    /// Take in the cluster side's answer.
    fn answer(&mut self, reply: Reply) {
        match reply {
            Reply::Status(s) => self.status = s,
            Reply::Answered {
                plans,
                status,
                focus,
            } => {
                for p in &plans {
                    self.answering.remove(p);
                }
                self.status = status;
                if focus.is_some() {
                    self.plan_focus = focus;
                }
            }
            Reply::Proposed(id) => {
                self.switch(View::Plans);
                self.plan_focus = Some(id.clone());
                self.status = if self.approvals_offered() {
                    format!(
                        "{id} proposed: review it, then approve ({}) or reject ({})",
                        self.keymap.keys_for(KeyAction::Approve),
                        self.keymap.keys_for(KeyAction::Reject)
                    )
                } else {
                    format!("{id} previewed (read-only: nothing is approved or run)")
                };
            }
            // Opened once the operator is not typing (see update).
            Reply::WhatIf(Ok(lines)) => self.whatif = Some(lines),
            Reply::WhatIf(Err(e)) => {
                self.whatif = None;
                self.status = e;
            }
            Reply::Synced(_) => {}
        }
    }
}

/// The fastest the console's clock runs (virtual seconds per wall second).
pub const MAX_SPEED: f64 = 240.0;

/// `:drain`'s arguments: one node and kubectl drain's flags in any order, over the console's
/// defaults. Flag values are Go's booleans, as kubectl reads them.
/// The proposal a key makes on the selected node, if it makes one.
pub fn proposal_of(action: KeyAction) -> Option<Proposal> {
    match action {
        KeyAction::Cordon => Some(Proposal::Cordon),
        KeyAction::Drain => Some(Proposal::Drain(OPERATOR_DRAIN)),
        KeyAction::Replace => Some(Proposal::Replace),
        _ => None,
    }
}

fn drain_args<'a>(
    args: &[&'a str],
) -> Result<(&'a str, crate::engine::drain::DrainOptions), String> {
    let usage = "usage: :drain NODE [--force] [--delete-emptydir-data] [--disable-eviction] [--ignore-daemonsets=false]";
    let mut options = OPERATOR_DRAIN;
    let mut node = None;
    for arg in args {
        if !arg.starts_with("--") {
            if node.replace(*arg).is_some() {
                return Err(format!("one node at a time; {usage}"));
            }
            continue;
        }
        let (name, value) = arg.split_once('=').unwrap_or((arg, "true"));
        let on = match value {
            "1" | "t" | "T" | "true" | "True" | "TRUE" => true,
            "0" | "f" | "F" | "false" | "False" | "FALSE" => false,
            _ => return Err(format!("{arg}: a drain flag takes =true or =false")),
        };
        let slot = match name {
            "--ignore-daemonsets" => &mut options.ignore_daemonsets,
            "--delete-emptydir-data" => &mut options.delete_emptydir_data,
            "--force" => &mut options.force,
            "--disable-eviction" => &mut options.disable_eviction,
            _ => return Err(format!("unknown drain flag {arg}; {usage}")),
        };
        *slot = on;
    }
    node.map(|n| (n, options)).ok_or_else(|| usage.to_string())
}

/// Esc, or ctrl-c while typing: abandon what is being typed (never type a "c").
fn is_abandon(key: &KeyEvent) -> bool {
    key.code == KeyCode::Esc
        || (key.code == KeyCode::Char('c')
            && key
                .modifiers
                .contains(crossterm::event::KeyModifiers::CONTROL))
}

/// Complete `typed` as far as every candidate it prefixes agrees; nothing when it already names
/// one exactly (`p1` never becomes `p10`) or when nothing more is certain.
fn extend(typed: &str, candidates: &[String]) -> Option<String> {
    if candidates.iter().any(|c| c == typed) {
        return None;
    }
    let fits: Vec<&String> = candidates.iter().filter(|c| c.starts_with(typed)).collect();
    let first = fits.first()?;
    let mut common = first.len();
    for c in &fits[1..] {
        common = first
            .char_indices()
            .zip(c.chars())
            .take_while(|((_, a), b)| a == b)
            .map(|((i, a), _)| i + a.len_utf8())
            .last()
            .unwrap_or(0)
            .min(common);
    }
    (common > typed.len()).then(|| first[..common].to_string())
}

/// What the operator types to approve a plan that evicts a workload's last running replica.
pub const LAST_REPLICA_CONFIRMATION: &str = "evict the last replica";

/// The `:` commands, for completion and help.
pub const COMMANDS: &[&str] = &[
    "nodes",
    "pending",
    "nodepools",
    "tree",
    "spot",
    "plans",
    "journal",
    "approve ",
    "reject ",
    "cancel ",
    "drain ",
    "cordon ",
    "replace ",
    "scale ",
    "lose-zone ",
    "lose-spot",
    "lose-offering ",
    "resume ",
    "supervise ",
    "release ",
    "freeze",
    "unfreeze",
    "ctx",
    "help",
    "quit",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn drain_flags_are_kubectls_over_the_console_defaults() {
        assert_eq!(drain_args(&["n1"]), Ok(("n1", OPERATOR_DRAIN)));
        let (node, o) = drain_args(&[
            "--force",
            "n1",
            "--delete-emptydir-data",
            "--ignore-daemonsets=false",
        ])
        .unwrap();
        assert_eq!(
            node, "n1",
            "flags go before or after the node, as with kubectl"
        );
        assert!(o.force && o.delete_emptydir_data && !o.ignore_daemonsets && !o.disable_eviction);
        assert!(
            drain_args(&["n1", "--disable-eviction=T"])
                .unwrap()
                .1
                .disable_eviction
        );
        assert!(drain_args(&["n1", "--forse"])
            .unwrap_err()
            .starts_with("unknown drain flag --forse"));
        assert!(drain_args(&["n1", "--force=yes"]).is_err());
        assert!(drain_args(&["--force"])
            .unwrap_err()
            .starts_with("usage: :drain NODE"));
        assert!(drain_args(&["n1", "n2"])
            .unwrap_err()
            .starts_with("one node at a time"));
    }

    #[test]
    fn completion_extends_only_as_far_as_is_certain() {
        let plans = names(&["p1", "p10", "p2"]);
        assert_eq!(extend("p1", &plans), None, "p1 is a plan: never p10");
        assert_eq!(
            extend("p", &plans),
            None,
            "p1, p10 and p2 agree on nothing more"
        );
        assert_eq!(extend("p2", &plans), None);
        let nodes = names(&["ip-10-0-0-1.sim.internal", "ip-10-0-0-12.sim.internal"]);
        assert_eq!(
            extend("ip-10-0-0-1.", &nodes).as_deref(),
            Some("ip-10-0-0-1.sim.internal")
        );
        assert_eq!(extend("ip", &nodes).as_deref(), Some("ip-10-0-0-1"));
        assert_eq!(extend("x", &nodes), None);
        assert_eq!(
            extend("nodep", &names(COMMANDS)).as_deref(),
            Some("nodepools")
        );
    }
}
