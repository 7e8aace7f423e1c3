//! The console as an operator sees it: every view rendered at a fixed seed and clock (insta
//! snapshots), and key-driven flows — a scale-out approval, a drain stopped by a
//! PodDisruptionBudget, an interruption response — asserted on the rendered text.

use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use karpdeck::catalog::Catalog;
use karpdeck::control::Supervisor;
use karpdeck::exec::Settings;
use karpdeck::scenario::{load_str, LoadOptions};
use karpdeck::sim::{demo_hpas, Sim, SimConfig, DEMO_SCENARIO};
use karpdeck::ui::app::{App, Mode, Msg, View};
use karpdeck::ui::console::render_text;
use karpdeck::ui::driver::Command;
use karpdeck::ui::keymap::Keymap;
use karpdeck::ui::theme::Theme;

fn journal(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("karpdeck-console-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("sim-journal.jsonl")
}

/// The console over the lab demo plus `extra` YAML, interruption responses waiting for
/// approval like any proposal.
fn console(extra: &str, config: SimConfig, journal: Option<PathBuf>) -> App {
    console_with(extra, config, journal, true)
}

/// [`console`], interruption responses run at once by standing policy unless
/// `approve_interruptions`.
fn console_with(
    extra: &str,
    config: SimConfig,
    journal: Option<PathBuf>,
    approve_interruptions: bool,
) -> App {
    let text = format!("{DEMO_SCENARIO}{extra}");
    let loaded = load_str("demo", &text, &LoadOptions::default(), Catalog::embedded()).unwrap();
    let sim = Sim::at_scenario_time(loaded.snapshot, config, demo_hpas());
    let settings = Settings {
        user: "oncall".into(),
        journal,
        read_only: false,
        approve_interruptions,
        read_only_contexts: Default::default(),
    };
    let sup = Supervisor::new(sim, settings, false, 1);
    let mut warnings = Vec::new();
    let theme = Theme::load("default", None, &mut warnings);
    let keymap = Keymap::load("default", None, &mut warnings);
    assert!(warnings.is_empty());
    App::new(sup, "demo: lab cluster".into(), theme, keymap, warnings).unwrap()
}

/// The console observing the lab demo: the simulated Karpenter acts, karpdeck predicts.
fn observing(config: SimConfig) -> App {
    let loaded = load_str(
        "demo",
        DEMO_SCENARIO,
        &LoadOptions::default(),
        Catalog::embedded(),
    )
    .unwrap();
    let sim = Sim::at_scenario_time(loaded.snapshot, config, demo_hpas());
    let settings = Settings {
        user: "oncall".into(),
        journal: None,
        read_only: false,
        approve_interruptions: false,
        read_only_contexts: Default::default(),
    };
    let sup = Supervisor::observing(sim, settings, 1);
    let mut warnings = Vec::new();
    let theme = Theme::load("default", None, &mut warnings);
    let keymap = Keymap::load("default", None, &mut warnings);
    App::new(sup, "demo: lab cluster".into(), theme, keymap, warnings).unwrap()
}

fn quiet() -> SimConfig {
    SimConfig {
        interruption_multiplier: 0.0,
        ..SimConfig::default()
    }
}

fn stormy() -> SimConfig {
    SimConfig {
        seed: 3,
        interruption_multiplier: 20_000.0,
        ..SimConfig::default()
    }
}

/// Press a key and wait for whatever it asked of the cluster side.
fn key(app: &mut App, code: KeyCode) {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    app.settle();
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn run(app: &mut App, seconds: i64) {
    app.advance(seconds);
}

fn approve_all(app: &mut App, on: bool) {
    app.link.send(Command::ApproveAll(on));
}

fn screen(app: &mut App) -> String {
    let view = app.view;
    render_text(app, view, 120, 36)
}

/// Approve everything karpdeck proposes for `seconds`, one virtual second at a time.
fn approving(app: &mut App, seconds: i64) {
    approve_all(app, true);
    run(app, seconds);
    approve_all(app, false);
}

/// The demo with Spot interruptions (seed 3), run with approvals until an interruption response
/// waits for the operator.
fn interrupted() -> (App, karpdeck::exec::Action) {
    interrupted_with("")
}

/// [`interrupted`] over the demo plus `extra` YAML.
fn interrupted_with(extra: &str) -> (App, karpdeck::exec::Action) {
    let mut app = console(extra, stormy(), None);
    approving(&mut app, 160);
    for _ in 0..1200 {
        let found = app.world.plans.iter().find(|x| {
            x.state() == karpdeck::exec::State::Previewed
                && x.action().kind.as_str() == "interruption-response"
        });
        if let Some(x) = found {
            let plan = x.action().clone();
            return (app, plan);
        }
        run(&mut app, 1);
    }
    panic!("no interruption within 20 minutes");
}

/// A PodDisruptionBudget that lets no nginx pod go.
const NGINX_PDB: &str = "\n---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: nginx\n  namespace: nlb-app-karpenter\nspec:\n  maxUnavailable: 0\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: nginx\n";

/// Open the Plans view and move the cursor to `plan` with the keys.
fn select_plan(app: &mut App, plan: &str) {
    key(app, KeyCode::Char('6'));
    let row = app
        .plan_rows()
        .iter()
        .position(|x| x.action().id == plan)
        .unwrap();
    key(app, KeyCode::Char('g'));
    for _ in 0..row {
        key(app, KeyCode::Char('j'));
    }
}

#[test]
fn every_view_at_a_fixed_seed_and_clock() {
    let mut app = console("", stormy(), Some(journal("snapshots")));
    approving(&mut app, 125);
    insta::assert_snapshot!(
        "pending-at-2m05",
        render_text(&mut app, View::Pending, 120, 36)
    );
    approving(&mut app, 235);
    for view in View::ALL {
        let text = render_text(&mut app, view, 120, 36);
        insta::assert_snapshot!(view.name(), text);
    }
    insta::assert_snapshot!("nodes-80x24", render_text(&mut app, View::Nodes, 80, 24));
}

#[test]
fn a_scale_out_is_approved_with_a_second_key() {
    let mut app = console("", quiet(), None);
    let nodes = app.world.nodes.len();
    run(&mut app, 5);
    key(&mut app, KeyCode::Char('6'));
    let s = screen(&mut app);
    assert!(s.contains("p1     scale-out             previewed"), "{s}");
    assert!(s.contains(" 6 plans 1! "), "the tab flags a proposal: {s}");
    key(&mut app, KeyCode::Char('a'));
    let s = screen(&mut app);
    assert!(s.contains("press y to approve, esc to abandon"), "{s}");
    assert_eq!(app.world.nodes.len(), nodes, "nothing launched yet");
    key(&mut app, KeyCode::Char('y'));
    assert_eq!(app.status, "approved p1");
    run(&mut app, 60);
    let s = screen(&mut app);
    assert!(s.contains("done       ████████ 2/2"), "{s}");
    assert!(s.contains("✓ wait for nodeclaim 1 of 1 Ready"), "{s}");
    key(&mut app, KeyCode::Char('1'));
    let s = screen(&mut app);
    assert!(s.contains("ip-10-0-0-1 ") && s.contains("spot"), "{s}");
}

#[test]
fn a_drain_blocked_by_a_pdb_shows_the_refusal_and_can_be_cancelled() {
    let mut app = console(NGINX_PDB, quiet(), Some(journal("pdb")));
    // ip-172-31-55-131 runs the nginx pod; nodes are sorted by name, so it is the first row.
    let node = "ip-172-31-55-131.ap-southeast-1.compute.internal";
    assert_eq!(app.selected_node().as_deref(), Some(node));
    key(&mut app, KeyCode::Char('d'));
    assert_eq!(app.view, View::Plans);
    let s = screen(&mut app);
    assert!(s.contains(&format!("drain {node}")), "{s}");
    assert!(
        s.contains("· evict nlb-app-karpenter/nginx-deployment"),
        "{s}"
    );
    key(&mut app, KeyCode::Char('a'));
    let s = screen(&mut app);
    assert!(s.contains(&format!("type \"{node}\"")), "{s}");
    typed(&mut app, "ip-172");
    key(&mut app, KeyCode::Enter);
    assert!(
        app.status.starts_with("type "),
        "a partial name does not approve"
    );
    typed(&mut app, &node["ip-172".len()..]);
    key(&mut app, KeyCode::Enter);
    assert!(app.status.starts_with("approved p"), "{}", app.status);
    run(&mut app, 10);
    let s = screen(&mut app);
    assert!(
        s.contains("blocked (")
            && s.contains("PodDisruptionBudget")
            && s.contains("nlb-app-karpenter/nginx allows 0 more"),
        "{s}"
    );
    assert!(s.contains("✓ cordon ip-172-31-55-131"), "{s}");
    // Per pod: coredns is leaving within its grace period, nginx is refused; the gauge shows
    // the step under way.
    assert!(s.contains("pods: 0/2 gone"), "{s}");
    assert!(s.contains("terminating kube-system/coredns-"), "{s}");
    assert!(
        s.contains("refused     nlb-app-karpenter/nginx-deployment-"),
        "{s}"
    );
    assert!(s.contains("step 3/"), "{s}");
    key(&mut app, KeyCode::Char('C'));
    run(&mut app, 1);
    let s = screen(&mut app);
    assert!(s.contains("cancelled"), "{s}");
    assert!(s.contains("cordoned with 1 pod(s) on it"), "{s}");
    assert!(
        s.contains("stayed      nlb-app-karpenter/nginx-deployment-"),
        "{s}"
    );
    key(&mut app, KeyCode::Char('7'));
    let s = screen(&mut app);
    assert!(s.contains("step-blocked") && s.contains("cancelled"), "{s}");
}

#[test]
fn an_interruption_response_is_proposed_shown_and_approved() {
    let (mut app, plan) = interrupted();
    let node = plan.targets[0].clone();
    key(&mut app, KeyCode::Char('1'));
    let s = screen(&mut app);
    assert!(s.contains("INTERRUPTED"), "{s}");
    // Select the response and approve it by typing the node's name.
    select_plan(&mut app, &plan.id);
    let s = screen(&mut app);
    assert!(
        s.contains("interruption-response") && s.contains("instance goes at"),
        "{s}"
    );
    key(&mut app, KeyCode::Char('a'));
    typed(&mut app, &node);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.status, format!("approved {}", plan.id));
    run(&mut app, 60);
    let x = app.world.plan(&plan.id).unwrap();
    assert_eq!(x.state(), karpdeck::exec::State::Done, "{:?}", x.report());
}

#[test]
fn read_only_refuses_approvals_in_the_console() {
    let sim = karpdeck::sim::demo(quiet(), &LoadOptions::default()).unwrap();
    let settings = Settings {
        user: "oncall".into(),
        journal: None,
        read_only: true,
        approve_interruptions: false,
        read_only_contexts: Default::default(),
    };
    let sup = Supervisor::new(sim, settings, false, 1);
    let mut w = Vec::new();
    let mut app = App::new(
        sup,
        "demo".into(),
        Theme::load("default", None, &mut w),
        Keymap::load("default", None, &mut w),
        w,
    )
    .unwrap();
    let nodes = app.world.nodes.len();
    run(&mut app, 5);
    let s = screen(&mut app);
    assert!(s.contains(" READ-ONLY "), "{s}");
    // What it would refuse is not advertised: no approve key in the footer or the plans' title.
    assert!(!s.contains("a approve"), "{s}");
    key(&mut app, KeyCode::Char('1'));
    key(&mut app, KeyCode::Char('d'));
    assert!(
        app.status.contains("previewed (read-only"),
        "{}",
        app.status
    );
    let s = screen(&mut app);
    assert!(s.contains("previews only (read-only)"), "{s}");
    assert!(
        !s.contains("a approve") && !s.contains("approve (a)"),
        "{s}"
    );
    key(&mut app, KeyCode::Char('?'));
    let s = screen(&mut app);
    assert!(s.contains("not in read-only mode"), "{s}");
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('6'));
    key(&mut app, KeyCode::Char('a'));
    assert_eq!(app.status, "read-only: approvals are refused");
    run(&mut app, 60);
    assert_eq!(app.world.nodes.len(), nodes, "nothing launched");
}

#[test]
fn filter_palette_and_help() {
    let mut app = console("", quiet(), None);
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "7560");
    key(&mut app, KeyCode::Enter);
    let s = screen(&mut app);
    assert!(s.contains("nodes (1 matching /7560"), "{s}");
    assert!(s.contains("ip-172-31-75-60 "), "{s}");
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, "nodep");
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Pools, "tab completes :nodep to :nodepools");
    key(&mut app, KeyCode::Char('?'));
    let s = screen(&mut app);
    assert!(
        s.contains("j/down") && s.contains("Propose draining the selected node."),
        "{s}"
    );
    key(&mut app, KeyCode::Char('x'));
    key(&mut app, KeyCode::Char('q'));
    assert!(app.quit);
}

#[test]
fn what_ifs_are_previewed_and_change_nothing() {
    let mut app = console("", quiet(), None);
    let command = |app: &mut App, text: &str| {
        key(app, KeyCode::Char(':'));
        typed(app, text);
        key(app, KeyCode::Enter);
    };
    let pods = (app.world.pod_count, app.world.pending_count);
    command(&mut app, "scale nlb-app-karpenter/nginx-deployment 6");
    let s = screen(&mut app);
    assert!(
        s.contains("what if: scale nlb-app-karpenter/nginx-deployment 6"),
        "{s}"
    );
    // The lab's numbers: one more pod fits a node; two NodeClaims for the rest.
    assert!(s.contains("Karpenter would launch 2 nodeclaim(s):"), "{s}");
    assert!(
        s.contains("nodepool default: 3 pod(s), spot c6g.2xlarge"),
        "{s}"
    );
    assert!(s.contains("a preview only"), "{s}");
    key(&mut app, KeyCode::Esc);
    assert_eq!(
        (app.world.pod_count, app.world.pending_count),
        pods,
        "nothing changed"
    );
    command(&mut app, "lose-zone ap-southeast-1a");
    let s = screen(&mut app);
    assert!(
        s.contains("nodes lost: 1 (ip-172-31-55-131.ap-southeast-1.compute.internal)"),
        "{s}"
    );
    key(&mut app, KeyCode::Esc);
    command(&mut app, "lose-zone mars-1a");
    assert_eq!(app.status, "zone mars-1a is not in region ap-southeast-1");
    command(&mut app, "scale nginx 6");
    assert!(app.status.starts_with("usage: :scale"), "{}", app.status);
}

fn cli(args: &[&str]) -> std::process::Output {
    let dir = std::env::temp_dir().join(format!("karpdeck-console-cli-{}", std::process::id()));
    std::process::Command::new(env!("CARGO_BIN_EXE_karpdeck"))
        .args(args)
        .env("XDG_STATE_HOME", &dir)
        .env("XDG_CONFIG_HOME", &dir)
        .output()
        .expect("run karpdeck")
}

#[test]
fn without_a_terminal_the_console_says_so_instead_of_panicking() {
    let out = cli(&["demo"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "karpdeck: error: the console needs a terminal; use --snapshot VIEW to print one frame"
    );
}

#[test]
fn snapshot_renders_one_frame_and_bad_views_are_refused() {
    let out = cli(&[
        "demo",
        "--snapshot",
        "plans",
        "--at",
        "30s",
        "--width",
        "100",
        "--height",
        "30",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 30);
    assert!(text.lines().all(|l| l.chars().count() <= 100));
    assert!(
        text.contains("p1     scale-out             previewed"),
        "{text}"
    );
    let out = cli(&["demo", "--snapshot", "everything"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        "karpdeck: error: --snapshot everything: not a view (one of nodes, pending, nodepools, tree, spot, plans, journal)"
    );
}

#[test]
fn a_context_can_be_read_only_on_its_own() {
    let dir = std::env::temp_dir().join(format!("karpdeck-console-ctx-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        "[contexts.prod]\nread_only = true\n[contexts.sim]\nread_only = true\n[contexts.dev]\nread_only = \"no\"\n",
    )
    .unwrap();
    let loaded = karpdeck::ui::console::load_settings(
        Some(&dir),
        &karpdeck::ui::console::ConsoleOptions::default(),
    );
    assert!(!loaded.read_only);
    assert_eq!(
        loaded.read_only_contexts.iter().collect::<Vec<_>>(),
        ["prod", "sim"]
    );
    let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.0.clone()).collect();
    assert_eq!(
        warnings,
        [format!(
            "{}: contexts.dev.read_only: \"no\" has the wrong type; ignored",
            dir.join("config.toml").display()
        )]
    );
    // The simulator's context is `sim`: there every approval is refused, and none offered.
    let sim = karpdeck::sim::demo(quiet(), &LoadOptions::default()).unwrap();
    let settings = Settings {
        read_only_contexts: loaded.read_only_contexts.clone(),
        ..Settings::new(None)
    };
    let sup = Supervisor::new(sim, settings, false, 1);
    assert!(sup.read_only());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn user_settings_override_partially_and_bad_entries_are_warnings() {
    let dir =
        std::env::temp_dir().join(format!("karpdeck-console-settings-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        "theme = \"light\"\nread_only = true\nfont = \"big\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("keymap.toml"),
        "[keys]\napprove = [\"ctrl-k\", \"enter\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("theme.toml"),
        "[colors]\nok = \"chartreuse-ish\"\n",
    )
    .unwrap();
    let options = karpdeck::ui::console::ConsoleOptions::default();
    let loaded = karpdeck::ui::console::load_settings(Some(&dir), &options);
    assert!(loaded.read_only);
    assert_eq!(
        loaded.theme.ok,
        ratatui::style::Color::Rgb(0x1a, 0x7f, 0x37),
        "light's ok kept"
    );
    let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.0.clone()).collect();
    let file = |name: &str| dir.join(name).display().to_string();
    assert_eq!(
        warnings,
        [
            format!("{}: font: unknown key; ignored", file("config.toml")),
            format!("{}: colors.ok: \"chartreuse-ish\" is not a color (a name, 0-255 or #rrggbb); ignored", file("theme.toml")),
            format!("{}: keys.approve: ctrl-k is never bound to a destructive action; ignored", file("keymap.toml")),
        ]
    );
    let enter = KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE);
    assert_eq!(
        loaded.keymap.action(&enter),
        Some(karpdeck::ui::keymap::KeyAction::Approve)
    );
    // Flags win over the file.
    let options = karpdeck::ui::console::ConsoleOptions {
        theme: Some("high-contrast".into()),
        ..Default::default()
    };
    let loaded = karpdeck::ui::console::load_settings(Some(&dir), &options);
    assert_eq!(loaded.theme.ok, ratatui::style::Color::LightGreen);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn expired_expiring_and_drifted_nodes_are_marked() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/console-expired-drifted.yaml");
    let out = cli(&[
        "demo",
        "--scenario",
        path.to_str().unwrap(),
        "--snapshot",
        "nodes",
        "--width",
        "100",
        "--height",
        "20",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let row = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("│{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{text}"))
            .to_string()
    };
    assert!(row("old").contains("expired"), "{text}");
    assert!(row("soon").contains("expires in 6h"), "{text}");
    assert!(row("moved-on").contains("drifted"), "{text}");
}

#[test]
fn capitals_in_the_filter_match_and_selections_follow_their_rows() {
    let mut app = console("", quiet(), None);
    key(&mut app, KeyCode::Char('/'));
    typed(&mut app, "IP-172-31-82");
    key(&mut app, KeyCode::Enter);
    assert_eq!(
        app.selected_node().as_deref(),
        Some("ip-172-31-82-248.ap-southeast-1.compute.internal"),
        "case-insensitive"
    );
    key(&mut app, KeyCode::Esc);
    // Select the last node; NodeClaims sorting above it must not move the cursor.
    key(&mut app, KeyCode::Char('G'));
    let chosen = app.selected_node().unwrap();
    approve_all(&mut app, true);
    run(&mut app, 5);
    assert!(app.world.launching() > 0, "a NodeClaim row arrived");
    assert_eq!(app.selected_node().unwrap(), chosen);
    // In Plans the cursor stays on the plan it is on while new ones arrive on top.
    approve_all(&mut app, false);
    key(&mut app, KeyCode::Char('6'));
    let first = app.selected_plan().unwrap();
    run(&mut app, 240);
    assert!(app.plan_rows().len() > 1);
    assert_eq!(app.selected_plan().unwrap(), first);
}

#[test]
fn an_interruption_response_run_by_policy_is_said_loudly() {
    let mut app = console_with("", stormy(), None, false);
    approving(&mut app, 160);
    for _ in 0..1200 {
        run(&mut app, 1);
        let by_policy = app
            .world
            .plans
            .iter()
            .find(|x| x.policy().is_some() && x.state().is_running())
            .map(|x| x.action().id.clone());
        if let Some(id) = by_policy {
            assert!(
                app.status.starts_with(&format!("RUN BY POLICY: {id} ")),
                "{}",
                app.status
            );
            let s = screen(&mut app);
            let header = s.lines().next().unwrap();
            assert!(header.contains(" INTERRUPTION "), "{header}");
            assert!(
                header.contains(&format!("{id} answering by policy")),
                "{header}"
            );
            return;
        }
    }
    panic!("no interruption answered by policy within 20 minutes");
}

#[test]
fn rejecting_an_interruption_response_asks_first() {
    let (mut app, plan) = interrupted();
    let plan = plan.id;
    select_plan(&mut app, &plan);
    key(&mut app, KeyCode::Char('x'));
    let s = screen(&mut app);
    assert!(
        s.contains("leaves the node to EC2's deadline: press y to reject"),
        "{s}"
    );
    key(&mut app, KeyCode::Esc);
    assert_eq!(
        app.world.plan(&plan).unwrap().state(),
        karpdeck::exec::State::Previewed
    );
    // The palette asks too.
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, &format!("reject {plan}"));
    key(&mut app, KeyCode::Enter);
    assert!(
        matches!(
            app.mode,
            karpdeck::ui::app::Mode::Confirm { reject: true, .. }
        ),
        "{:?}",
        app.mode
    );
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('x'));
    key(&mut app, KeyCode::Char('y'));
    assert_eq!(
        app.world.plan(&plan).unwrap().state(),
        karpdeck::exec::State::Rejected
    );
}

#[test]
fn a_drain_preview_says_where_each_pod_lands_and_what_blocks() {
    let pdb = "\n---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: nginx\n  namespace: nlb-app-karpenter\nspec:\n  maxUnavailable: 0\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: nginx\n";
    let mut app = console(pdb, quiet(), None);
    key(&mut app, KeyCode::Char('d'));
    let s = screen(&mut app);
    assert!(
        s.contains("leave kube-system/aws-node-55131"),
        "DaemonSet pods stay: {s}"
    );
    assert!(
        s.contains("evict kube-system/coredns-5c5677bc78-4xk2p (30s grace): lands on ip-172-31-"),
        "{s}"
    );
    assert!(
        s.contains("7pvlg: PodDisruptionBudget nlb-app-karpenter/nginx allows 0")
            && s.contains("(use --disable-eviction to override)"),
        "{s}"
    );
}

#[test]
fn a_consolidation_proposal_shows_its_budget_and_savings() {
    let mut app = console("", quiet(), None);
    approving(&mut app, 16 * 60 + 40);
    let mut plan = None;
    for _ in 0..300 {
        plan = app
            .world
            .plans
            .iter()
            .find(|x| {
                x.state() == karpdeck::exec::State::Previewed
                    && x.action().kind.as_str() == "delete"
            })
            .map(|x| x.action().id.clone());
        if plan.is_some() {
            break;
        }
        run(&mut app, 1);
    }
    let plan = plan.expect("the scale-down leads to a consolidation proposal");
    select_plan(&mut app, &plan);
    let s = screen(&mut app);
    assert!(
        s.contains("Emptiness delete of ip-10-0-0-2.sim.internal"),
        "{s}"
    );
    assert!(s.contains("saves $0.4797/h"), "{s}");
    assert!(
        s.contains("budget: nodepool default allows unlimited for Empty, 0 disrupting already, this takes 3"),
        "the lab's v1alpha5 Provisioner sets no budget: {s}"
    );
    assert!(
        s.contains("make sure nothing landed on ip-10-0-0-2.sim.internal"),
        "{s}"
    );
}

#[test]
fn the_palette_completes_nodes_and_plans() {
    let mut app = console("", quiet(), None);
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, "drain ip-172-31-8");
    key(&mut app, KeyCode::Tab);
    assert_eq!(
        app.mode,
        karpdeck::ui::app::Mode::Command(
            "drain ip-172-31-82-248.ap-southeast-1.compute.internal".into()
        )
    );
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Plans);
    assert!(app.status.starts_with("p1 proposed"), "{}", app.status);
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, "reject p");
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.status, "rejected p1");
}

#[test]
fn a_scheduled_retirement_is_marked_and_answered() {
    let mut app = console(
        "",
        SimConfig {
            seed: 5,
            interruption_multiplier: 200_000.0,
            ..SimConfig::default()
        },
        None,
    );
    approve_all(&mut app, true);
    let mut found = None;
    for _ in 0..40 {
        run(&mut app, 30);
        found = app
            .world
            .plans
            .iter()
            .find(|x| x.action().summary.starts_with("scheduled retirement of"))
            .map(|x| (x.action().id.clone(), x.action().targets[0].clone()));
        if found.is_some() {
            break;
        }
    }
    let (plan, node) = found.expect("a scheduled change within 20 minutes");
    approve_all(&mut app, false);
    key(&mut app, KeyCode::Char('1'));
    let s = screen(&mut app);
    let short = node.split('.').next().unwrap();
    let row = s
        .lines()
        .find(|l| l.contains(short))
        .unwrap_or_else(|| panic!("{short} listed while it drains: {s}"));
    assert!(row.contains("RETIRING in 13d"), "{row}");
    key(&mut app, KeyCode::Char('5'));
    let s = screen(&mut app);
    assert!(
        s.contains("scheduled-change") && s.contains("instance-retirement"),
        "{s}"
    );
    assert!(s.contains("SCHEDULED"), "{s}");
    // Karpenter's answer (cordon, drain, delete) runs as any interruption response does.
    run(&mut app, 120);
    assert!(
        app.world.plan(&plan).unwrap().state().is_final(),
        "{plan} finished"
    );
}

#[test]
fn an_urgent_drain_passes_over_a_refused_pod_and_says_so_per_pod() {
    let (mut app, plan) = interrupted_with(NGINX_PDB);
    let node = plan.targets[0].clone();
    let nginx = plan
        .steps
        .iter()
        .find_map(|st| match st {
            karpdeck::exec::Step::Evict { pod, .. } if pod.contains("nginx") => Some(pod.clone()),
            _ => None,
        })
        .expect("the interrupted node runs nginx");
    select_plan(&mut app, &plan.id);
    key(&mut app, KeyCode::Char('a'));
    typed(&mut app, &node);
    key(&mut app, KeyCode::Enter);
    // Cordon, taint, two launches, then the evictions: a step a second.
    run(&mut app, 5);
    let s = screen(&mut app);
    // The budget refuses nginx; the urgent drain goes on without it and retries it later.
    let short = &nginx[..nginx.len().min(40)];
    assert!(s.contains(&format!("refused     {short}")), "{s}");
    assert!(s.contains(" ↻ evict"), "{s}");
}

#[test]
fn a_what_if_answer_waits_while_the_operator_types() {
    let mut app = console("", quiet(), None);
    let press = |app: &mut App, c: KeyCode| {
        app.update(Msg::Key(KeyEvent::new(c, KeyModifiers::NONE)));
    };
    press(&mut app, KeyCode::Char(':'));
    for c in "lose-spot".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Enter);
    // A filter started before the preview came back is not swallowed by it.
    press(&mut app, KeyCode::Char('/'));
    press(&mut app, KeyCode::Char('i'));
    app.settle();
    assert_eq!(app.mode, Mode::Filter);
    assert_eq!(app.filter, "i");
    key(&mut app, KeyCode::Enter);
    assert!(matches!(app.mode, Mode::WhatIf(_)), "{:?}", app.mode);
}

#[test]
fn drain_flags_in_the_palette_change_the_plan() {
    let mut app = console(NGINX_PDB, quiet(), None);
    let node = "ip-172-31-55-131.ap-southeast-1.compute.internal";
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, &format!("drain {node} --forse"));
    key(&mut app, KeyCode::Enter);
    assert!(
        app.status.starts_with("unknown drain flag --forse"),
        "{}",
        app.status
    );
    // --disable-eviction deletes the pods: the budget that blocks the eviction is bypassed.
    key(&mut app, KeyCode::Char(':'));
    typed(&mut app, &format!("drain {node} --disable-eviction"));
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Plans);
    let plan = app.selected_plan().unwrap();
    assert!(
        app.world
            .plan(&plan)
            .unwrap()
            .action()
            .options
            .disable_eviction
    );
    key(&mut app, KeyCode::Char('a'));
    typed(&mut app, node);
    key(&mut app, KeyCode::Enter);
    run(&mut app, 90);
    let x = app.world.plan(&plan).unwrap();
    assert_eq!(x.state(), karpdeck::exec::State::Done, "{:?}", x.report());
    assert!(x.blocked().is_none());
}

#[test]
fn an_approval_on_its_way_is_not_offered_again() {
    let mut app = console("", quiet(), None);
    run(&mut app, 5);
    key(&mut app, KeyCode::Char('6'));
    let press = |app: &mut App, c: KeyCode| {
        app.update(Msg::Key(KeyEvent::new(c, KeyModifiers::NONE)));
    };
    // A refused proposal whose answer is still on its way when p1 is approved.
    press(&mut app, KeyCode::Char(':'));
    for c in "cordon nosuch".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Enter);
    std::thread::sleep(std::time::Duration::from_millis(300));
    press(&mut app, KeyCode::Char('a'));
    press(&mut app, KeyCode::Char('y'));
    // Take updates up to the first reply only: the refusal, not p1's answer.
    loop {
        if let Some(u) = app.link.try_recv() {
            let reply = matches!(u, karpdeck::ui::driver::Update::Reply(_));
            app.update(u.into());
            if reply {
                break;
            }
        }
    }
    assert!(app.status.contains("nosuch"), "{}", app.status);
    press(&mut app, KeyCode::Char('a'));
    assert_eq!(
        app.mode,
        Mode::Normal,
        "p1 is not offered for approval twice"
    );
    app.settle();
    assert_eq!(app.status, "approved p1");
}

#[test]
fn observing_karpenters_moves_stay_in_sight_beside_the_operators_plan() {
    let mut app = observing(quiet());
    // The load test scales nginx out; the simulated Karpenter launches for it.
    run(&mut app, 90);
    key(&mut app, KeyCode::Char('6'));
    let s = screen(&mut app);
    assert!(s.contains("Karpenter, observed"), "{s}");
    assert!(s.contains("predicted"), "{s}");
    // The operator proposes a drain of their own: its steps and Karpenter's moves both show.
    key(&mut app, KeyCode::Char('1'));
    key(&mut app, KeyCode::Char('d'));
    assert_eq!(app.view, View::Plans);
    let s = screen(&mut app);
    assert!(s.contains("the plan: steps"), "{s}");
    assert!(s.contains("Karpenter, observed"), "{s}");
    assert!(s.contains("predicted"), "{s}");
}

/// A drain approved after a pod landed on its node is not run as previewed: the console says
/// the plan is stale and moves to the plan made in its place.
#[test]
fn a_stale_drain_is_planned_again_and_the_new_plan_shown() {
    let mut app = console("", quiet(), None);
    key(&mut app, KeyCode::Char(':'));
    typed(
        &mut app,
        "drain ip-172-31-75-60.ap-southeast-1.compute.internal",
    );
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Plans);
    let first = app.selected_plan().expect("the drain is proposed");
    // The load test's new nginx pod binds to the node meanwhile.
    run(&mut app, 5);
    select_plan(&mut app, &first);
    key(&mut app, KeyCode::Char('a'));
    typed(&mut app, "ip-172-31-75-60.ap-southeast-1.compute.internal");
    key(&mut app, KeyCode::Enter);
    assert!(
        app.status
            .contains("the cluster changed since its preview; review its new plan"),
        "{}",
        app.status
    );
    let fresh = app.selected_plan().unwrap();
    assert_ne!(fresh, first);
    let s = screen(&mut app);
    assert!(
        s.contains(&format!("{first}     drain")) && s.contains("withdrawn"),
        "{s}"
    );
    assert!(s.contains(&format!("{fresh} drain previewed")), "{s}");
}
