//! The executor against the simulator, supervised: nothing moves until approved, approved actions
//! run step by step with every approval and step journaled, cancel stops between steps with a
//! report, PDB refusals are retried and reported (bypassed only on request), and a driver killed
//! mid-drain leaves a journal that shows the interrupted plan.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::Duration;
use karpdeck::catalog::Catalog;
use karpdeck::control::{Cluster, ClusterEvent, EventKind, Supervisor};
use karpdeck::engine::drain::{drain_plan, DrainOptions};
use karpdeck::engine::replace::replacement_plan;
use karpdeck::exec::journal::{self, Outcome};
use karpdeck::exec::{Action, ApprovalError, Executor, Settings, State, Step};
use karpdeck::scenario::{load_str, LoadOptions};
use karpdeck::sim::{demo_hpas, Sim, SimConfig, DEMO_SCENARIO};

/// A PodDisruptionBudget over the demo's nginx pods.
fn nginx_pdb(max_unavailable: u32) -> String {
    format!("\n---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: nginx\n  namespace: nlb-app-karpenter\nspec:\n  maxUnavailable: {max_unavailable}\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: nginx\n")
}

fn settings(journal: Option<PathBuf>) -> Settings {
    Settings {
        user: "oncall".into(),
        journal,
        read_only: false,
        approve_interruptions: true,
        read_only_contexts: Default::default(),
    }
}

/// The lab demo plus `extra` YAML under `config`, supervised.
fn supervised(
    extra: &str,
    config: SimConfig,
    approve_all: bool,
    settings: Settings,
) -> Supervisor<Sim> {
    let text = format!("{DEMO_SCENARIO}{extra}");
    let loaded = load_str("demo", &text, &LoadOptions::default(), Catalog::embedded()).unwrap();
    let sim = Sim::at_scenario_time(loaded.snapshot, config, demo_hpas());
    Supervisor::new(sim, settings, approve_all, 1)
}

/// Spot interruptions often enough to see several in a short run.
fn stormy(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        interruption_multiplier: 20_000.0,
        ..SimConfig::default()
    }
}

/// The lab demo (no interruptions) plus `extra` YAML, supervised.
fn demo(extra: &str, approve_all: bool, settings: Settings) -> Supervisor<Sim> {
    let config = SimConfig {
        interruption_multiplier: 0.0,
        ..SimConfig::default()
    };
    supervised(extra, config, approve_all, settings)
}

/// A temporary journal path, fresh for each test.
fn journal_path(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("karpdeck-exec-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("journal.jsonl")
}

fn count(events: &[ClusterEvent], kind: EventKind) -> usize {
    events.iter().filter(|e| e.kind == kind).count()
}

/// Propose draining `node` as an operator would (kubectl flags for Karpenter-style drains).
fn submit_drain(sup: &mut Supervisor<Sim>, node: &str, disable_eviction: bool) -> String {
    let options = DrainOptions {
        ignore_daemonsets: true,
        delete_emptydir_data: true,
        force: false,
        disable_eviction,
    };
    let node = node.to_string();
    sup.submit(move |id, s| {
        let i = s.nodes.iter().position(|n| n.name == node).unwrap();
        Action::drain(id, s, &drain_plan(s, &[i], &options), &options)
    })
    .unwrap()
}

/// The demo after the HPA reached 12 replicas and the new nodes took them: the busiest
/// karpdeck-launched node and how many nginx pods it runs.
async fn scaled_demo(extra: &str, journal: Option<PathBuf>) -> (Supervisor<Sim>, String) {
    let mut sup = demo(extra, true, settings(journal));
    sup.run_for(Duration::minutes(5)).await;
    let s = sup.cluster().snapshot();
    assert_eq!(s.pods.iter().filter(|p| p.is_pending()).count(), 0);
    let node = s
        .nodes
        .iter()
        .filter(|n| n.name.ends_with(".sim.internal"))
        .max_by_key(|n| {
            s.pods
                .iter()
                .filter(|p| p.node_name.as_deref() == Some(n.name.as_str()))
                .count()
        })
        .unwrap()
        .name
        .clone();
    (sup, node)
}

/// Step until the action is over (at most five virtual minutes).
async fn run_to_end<'a>(sup: &'a mut Supervisor<Sim>, id: &str) -> &'a Executor {
    for _ in 0..300 {
        if sup.executor(id).unwrap().state().is_final() {
            break;
        }
        sup.step().await;
    }
    sup.executor(id).unwrap()
}

/// Step the simulation until an interruption response that `wanted` says is the one appears
/// (within the hour); its plan id.
async fn next_interruption(
    sup: &mut Supervisor<Sim>,
    wanted: impl Fn(&Executor) -> bool,
) -> String {
    loop {
        sup.step().await;
        let found = sup
            .executors()
            .iter()
            .find(|x| x.action().kind.as_str() == "interruption-response" && wanted(x));
        if let Some(x) = found {
            return x.action().id.clone();
        }
        assert!(
            sup.cluster().events().last().unwrap().seconds < 3600.0,
            "no such interruption response within the hour"
        );
    }
}

/// The node of that name in the cluster now.
fn node_named<'a>(sup: &'a Supervisor<Sim>, name: &str) -> &'a karpdeck::model::Node {
    sup.cluster()
        .snapshot()
        .nodes
        .iter()
        .find(|n| n.name == name)
        .unwrap()
}

/// Propose replacing `node`; the plan id.
fn propose_replace(sup: &mut Supervisor<Sim>, node: &str) -> String {
    let replaced = node.to_string();
    sup.submit(move |id, s| {
        let i = s.nodes.iter().position(|n| n.name == replaced).unwrap();
        Ok(Action::replace(id, s, &replacement_plan(s, i)))
    })
    .unwrap()
}

/// `namespace/name` of the pods on the node, DaemonSet pods aside.
fn pods_on(sup: &Supervisor<Sim>, node: &str) -> Vec<String> {
    sup.cluster()
        .snapshot()
        .pods
        .iter()
        .filter(|p| p.node_name.as_deref() == Some(node) && !p.is_daemon())
        .map(|p| p.key())
        .collect()
}

fn nginx_on(sup: &Supervisor<Sim>, node: &str) -> usize {
    // Evicted pods still exiting are on their way out.
    sup.cluster()
        .snapshot()
        .pods
        .iter()
        .filter(|p| p.node_name.as_deref() == Some(node) && p.name.starts_with("nginx"))
        .filter(|p| !p.deleting)
        .count()
}

#[tokio::test]
async fn nothing_is_launched_or_deleted_until_approved() {
    let path = journal_path("approval");
    let mut sup = demo("", false, settings(Some(path.clone())));
    sup.run_for(Duration::minutes(30)).await;
    let events = sup.cluster().events();
    assert_eq!(count(events, EventKind::NodeClaimCreated), 0);
    assert_eq!(count(events, EventKind::NodeDeleted), 0);
    assert!(sup.cluster().snapshot().nodeclaims.is_empty());
    // One proposal waits; Karpenter's passes do not pile more on top of it.
    assert_eq!(count(events, EventKind::PlanProposed), 1);
    let x = &sup.executors()[0];
    assert_eq!(x.state(), State::Previewed);
    assert_eq!(x.action().kind.as_str(), "scale-out");
    assert!(journal::read(&path).unwrap().entries.is_empty());

    // Made 30 minutes ago for the pods pending then, p1 is planned again at approval: the
    // load test has changed what is pending, so p1 is withdrawn and p2 asked instead.
    let before = sup.executor("p1").unwrap().action().summary.clone();
    match sup.approve("p1") {
        Err(ApprovalError::Stale {
            replanned: Some(p2),
            ..
        }) => assert_eq!(p2, "p2"),
        other => panic!("p1 approved as first proposed: {other:?}"),
    }
    assert_eq!(sup.executor("p1").unwrap().state(), State::Withdrawn);
    let p2 = sup.executor("p2").unwrap();
    assert_eq!(p2.state(), State::Previewed);
    assert_ne!(
        p2.action().summary,
        before,
        "p2 is planned for the pods pending now"
    );
    sup.approve("p2").unwrap();
    assert!(matches!(
        sup.approve("p2"),
        Err(ApprovalError::NotPreviewed { .. })
    ));
    sup.run_for(Duration::minutes(1)).await;
    let events = sup.cluster().events();
    let launched = sup.executor("p2").unwrap().action().launches.len();
    assert_eq!(count(events, EventKind::NodeClaimCreated), launched);
    let p2 = sup.executor("p2").unwrap();
    assert_eq!(p2.state(), State::Done, "{:?}", p2.report());
    let j = journal::read(&path).unwrap();
    assert!(j.entries.iter().all(|e| e.plan == "p2"), "p1 never ran");
    let outcomes: Vec<Outcome> = j.entries.iter().map(|e| e.outcome).collect();
    let steps = p2.action().steps.len();
    let expected: Vec<Outcome> = std::iter::once(Outcome::Approved)
        .chain((0..steps).flat_map(|_| [Outcome::StepStarted, Outcome::StepDone]))
        .chain([Outcome::Done])
        .collect();
    assert_eq!(outcomes, expected);
    assert!(j
        .entries
        .iter()
        .all(|e| e.user == "oncall" && e.context == "sim"));
    assert!(j.unfinished().is_empty());
}

#[tokio::test]
async fn read_only_refuses_approval_and_journals_nothing() {
    let path = journal_path("readonly");
    let mut s = settings(Some(path.clone()));
    s.read_only = true;
    let mut sup = demo("", true, s);
    sup.run_for(Duration::minutes(3)).await;
    let events = sup.cluster().events();
    assert_eq!(count(events, EventKind::NodeClaimCreated), 0);
    assert!(events
        .iter()
        .any(|e| e.kind == EventKind::PlanFailed && e.message.contains("read-only mode")));
    assert!(!path.exists());
}

#[tokio::test]
async fn approve_all_replays_the_lab_through_the_executor() {
    let path = journal_path("approve-all");
    let mut sup = demo("", true, settings(Some(path.clone())));
    sup.run_for(Duration::minutes(30)).await;
    let kinds: Vec<&str> = sup
        .executors()
        .iter()
        .map(|x| x.action().kind.as_str())
        .collect();
    assert_eq!(kinds, ["scale-out", "scale-out", "scale-out", "delete"]);
    for x in sup.executors() {
        assert_eq!(
            x.state(),
            State::Done,
            "{}: {:?}",
            x.action().id,
            x.report()
        );
    }
    // The lab's shape: 1 + 1 + 2 NodeClaims launched, the three now-empty spot nodes deleted.
    let events = sup.cluster().events();
    assert_eq!(count(events, EventKind::NodeClaimCreated), 4);
    let deleted: Vec<&ClusterEvent> = events
        .iter()
        .filter(|e| e.kind == EventKind::NodeDeleted)
        .collect();
    assert_eq!(deleted.len(), 3);
    assert!(deleted
        .iter()
        .all(|e| e.message.contains("deleted by karpdeck")));
    let j = journal::read(&path).unwrap();
    assert_eq!(
        j.entries
            .iter()
            .filter(|e| e.outcome == Outcome::Approved)
            .count(),
        4
    );
    assert!(j.unfinished().is_empty());
}

#[tokio::test]
async fn a_drain_cordons_launches_then_evicts_and_waits_for_grace_periods() {
    let (mut sup, node) = scaled_demo("", None).await;
    let before = nginx_on(&sup, &node);
    assert!(before >= 2, "{node} runs {before} nginx pods");
    let id = submit_drain(&mut sup, &node, false);
    let x = run_to_end(&mut sup, &id).await;
    assert_eq!(x.state(), State::Done, "{:?}", x.report());
    let done = x.done_steps();
    assert!(done[0].starts_with("cordon"), "{done:?}");
    let first_evict = done.iter().position(|s| s.starts_with("evict")).unwrap();
    let readies = done.iter().filter(|s| s.contains("Ready")).count();
    assert!(
        !x.action().launches.is_empty(),
        "the packed cluster needs a node"
    );
    assert_eq!(readies, x.action().launches.len());
    assert!(
        done[..first_evict]
            .iter()
            .filter(|s| s.contains("Ready"))
            .count()
            == readies,
        "new capacity is Ready before the first eviction: {done:?}"
    );
    assert!(done.last().unwrap().starts_with("wait for"), "{done:?}");
    let n = sup
        .cluster()
        .snapshot()
        .nodes
        .iter()
        .find(|n| n.name == node)
        .unwrap();
    assert!(n.unschedulable, "a drain leaves the node cordoned");
    assert_eq!(nginx_on(&sup, &node), 0);
    assert_eq!(sup.cluster().pending_pods(), 0);
    let exited = sup
        .cluster()
        .events()
        .iter()
        .find(|e| {
            e.message
                .starts_with(&format!("plan {id} step-done wait for 3 evicted"))
        })
        .unwrap();
    let first = sup
        .cluster()
        .events()
        .iter()
        .find(|e| e.message.starts_with(&format!("plan {id} step-done evict")))
        .unwrap();
    assert!(
        exited.seconds - first.seconds >= 30.0,
        "nginx pods take their 30 s grace period to exit"
    );
}

/// As an apiserver shows it: an evicted pod stays bound with its deletion mark for its grace
/// period while its controller's replacement is pending elsewhere, then it is gone.
#[tokio::test]
async fn an_evicted_pod_is_terminating_in_the_snapshot_until_its_grace_period_ends() {
    let (mut sup, node) = scaled_demo("", None).await;
    let id = submit_drain(&mut sup, &node, false);
    let evicted = loop {
        let done = sup.executor(&id).unwrap().done_steps();
        if let Some(step) = done.iter().find(|s| s.starts_with("evict ")) {
            break step["evict ".len()..]
                .split(' ')
                .next()
                .unwrap()
                .to_string();
        }
        sup.step().await;
    };
    let copies = |sup: &Supervisor<Sim>| -> Vec<(Option<String>, bool)> {
        sup.cluster()
            .snapshot()
            .pods
            .iter()
            .filter(|p| p.key() == evicted)
            .map(|p| (p.node_name.clone(), p.deleting))
            .collect()
    };
    let now = copies(&sup);
    assert!(
        now.contains(&(Some(node.clone()), true)),
        "{evicted} is terminating on {node}: {now:?}"
    );
    assert!(
        now.iter()
            .any(|(n, deleting)| !deleting && n.as_deref() != Some(&node)),
        "its replacement is not on {node}: {now:?}"
    );
    sup.run_for(Duration::seconds(31)).await;
    let later = copies(&sup);
    assert!(
        later.iter().all(|(_, deleting)| !deleting),
        "{evicted} has exited after its 30 s grace period: {later:?}"
    );
}

#[tokio::test]
async fn cancel_mid_drain_stops_between_steps_with_a_report() {
    let path = journal_path("cancel");
    let (mut sup, node) = scaled_demo("", Some(path.clone())).await;
    let before = nginx_on(&sup, &node);
    let id = submit_drain(&mut sup, &node, false);
    while !sup
        .executor(&id)
        .unwrap()
        .done_steps()
        .iter()
        .any(|s| s.starts_with("evict"))
    {
        sup.step().await;
    }
    assert!(sup.cancel(&id));
    sup.step().await;
    let x = sup.executor(&id).unwrap();
    assert_eq!(x.state(), State::Cancelled);
    let report = x.report().unwrap().to_string();
    assert!(report.starts_with("cancelled between steps"), "{report}");
    assert!(
        report.contains(&format!(
            "{node} stays cordoned with {} pod(s) on it",
            before - 1
        )),
        "{report}"
    );
    assert_eq!(nginx_on(&sup, &node), before - 1);
    // The cancelled action takes no further step.
    let steps = x.done_steps().len();
    sup.run_for(Duration::seconds(5)).await;
    let x = sup.executor(&id).unwrap();
    assert_eq!(x.state(), State::Cancelled);
    assert_eq!(x.done_steps().len(), steps);
    assert!(!sup.cancel(&id), "a finished action cannot be cancelled");
    let j = journal::read(&path).unwrap();
    let ending = j.entries.iter().rfind(|e| e.plan == id).unwrap();
    assert_eq!(ending.outcome, Outcome::Cancelled);
    assert_eq!(ending.detail.as_deref(), Some(report.as_str()));
}

#[tokio::test]
async fn a_pdb_refusal_is_retried_and_reported_once_and_never_bypassed_unasked() {
    let path = journal_path("pdb");
    let (mut sup, node) = scaled_demo(&nginx_pdb(0), Some(path.clone())).await;
    let before = nginx_on(&sup, &node);
    let id = submit_drain(&mut sup, &node, false);
    sup.run_for(Duration::minutes(5)).await;
    let x = sup.executor(&id).unwrap();
    assert_eq!(x.state(), State::Executing);
    let (why, attempts) = x.blocked().unwrap();
    assert!(
        why.contains(
            "PodDisruptionBudget nlb-app-karpenter/nginx allows 0 more disruptions (HTTP 429)"
        ),
        "{why}"
    );
    assert!(attempts > 200, "retried every second: {attempts}");
    assert_eq!(nginx_on(&sup, &node), before, "nothing evicted");
    let blocked: Vec<&ClusterEvent> = sup
        .cluster()
        .events()
        .iter()
        .filter(|e| e.kind == EventKind::EvictionBlocked)
        .collect();
    assert_eq!(blocked.len(), 1, "reported once, not every retry");
    assert!(blocked[0].message.ends_with("retrying"));
    let j = journal::read(&path).unwrap();
    let failed = j
        .entries
        .iter()
        .filter(|e| e.plan == id && e.outcome == Outcome::StepBlocked)
        .count();
    assert_eq!(failed, 1);
    assert_eq!(j.unfinished().len(), 1, "still running");

    // The operator cancels and asks for a drain that bypasses the budget.
    sup.cancel(&id);
    sup.step().await;
    let forced = submit_drain(&mut sup, &node, true);
    sup.run_for(Duration::minutes(3)).await;
    let x = sup.executor(&forced).unwrap();
    assert_eq!(x.state(), State::Done, "{:?}", x.report());
    assert!(x
        .done_steps()
        .iter()
        .any(|s| s.starts_with("delete nlb-app-karpenter/nginx")));
    assert_eq!(nginx_on(&sup, &node), 0);
}

#[tokio::test]
async fn a_pdb_that_allows_one_at_a_time_lets_the_drain_finish() {
    let (mut sup, node) = scaled_demo(&nginx_pdb(1), None).await;
    let id = submit_drain(&mut sup, &node, false);
    sup.run_for(Duration::minutes(5)).await;
    let x = sup.executor(&id).unwrap();
    assert_eq!(x.state(), State::Done, "{:?}", x.report());
    let events = sup.cluster().events();
    assert!(
        count(events, EventKind::EvictionBlocked) >= 1,
        "the second eviction waits for the first pod's replacement"
    );
    assert_eq!(nginx_on(&sup, &node), 0);
}

#[tokio::test]
async fn a_launch_without_capacity_fails_the_action_and_says_what_ran() {
    let config = SimConfig {
        interruption_multiplier: 0.0,
        insufficient_capacity: 1.0,
        ..SimConfig::default()
    };
    let mut sup = supervised("", config, true, settings(None));
    sup.run_for(Duration::seconds(5)).await;
    let x = sup.executor("p1").unwrap();
    assert_eq!(x.state(), State::Failed);
    let report = x.report().unwrap();
    assert!(report.contains("InsufficientInstanceCapacity"), "{report}");
    assert!(report.contains("0 of 2 step(s) done"), "{report}");
}

fn run_cli(args: &[&str], state: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_karpdeck"))
        .args(args)
        .env("XDG_STATE_HOME", state)
        .output()
        .expect("run karpdeck")
}

#[tokio::test]
async fn a_driver_killed_mid_drain_leaves_the_plan_unfinished_in_the_journal() {
    let path = journal_path("kill");
    let (mut sup, node) = scaled_demo(&nginx_pdb(1), Some(path.clone())).await;
    let id = submit_drain(&mut sup, &node, false);
    let task = tokio::spawn(async move {
        sup.run_for(Duration::minutes(10)).await;
        sup
    });
    // Watch the journal like a second terminal would, and kill the driver after the first
    // eviction.
    loop {
        tokio::task::yield_now().await;
        let j = journal::read(&path).unwrap();
        let evicted = j.entries.iter().any(|e| {
            e.plan == id
                && e.outcome == Outcome::StepDone
                && e.step.as_deref().is_some_and(|s| s.starts_with("evict"))
        });
        if evicted {
            break;
        }
        assert!(
            !task.is_finished(),
            "the drain finished before it could be killed"
        );
    }
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());

    // A new process reads the journal: the drain is unfinished, shown, and not re-run.
    let j = journal::read(&path).unwrap();
    let unfinished = j.unfinished();
    assert_eq!(unfinished.len(), 1);
    let u = &unfinished[0];
    assert_eq!(u.first.plan, id);
    assert_eq!(u.first.outcome, Outcome::Approved);
    assert_eq!(u.first.targets, std::slice::from_ref(&node));
    assert!(
        u.steps_done >= 4,
        "launch, ready, cordon, evict: {}",
        u.steps_done
    );
    let state = path.parent().unwrap();
    let out = run_cli(&["journal", "--file", path.to_str().unwrap()], state);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("UNFINISHED plan {id} (drain {node})")),
        "{text}"
    );
    // A supervised run on the same journal warns about it and numbers its plans after it.
    let out = run_cli(
        &[
            "sim",
            "--supervised",
            "--duration",
            "5s",
            "--journal",
            path.to_str().unwrap(),
        ],
        state,
    );
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("warning: plan {id} (drain {node})"))
            && err.contains("will not be re-run"),
        "{err}"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("plan p1 "), "{text}");
    // Abandoning it closes it.
    let out = run_cli(
        &[
            "journal",
            "--file",
            path.to_str().unwrap(),
            "--abandon",
            &id,
        ],
        state,
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(journal::read(&path).unwrap().unfinished().is_empty());
}

#[tokio::test]
async fn supervised_runs_are_deterministic() {
    async fn run(seed: u64) -> Vec<ClusterEvent> {
        let mut sup = supervised("", stormy(seed), true, settings(None));
        sup.run_for(Duration::minutes(20)).await;
        sup.cluster().events().to_vec()
    }
    let a = run(3).await;
    assert_eq!(a, run(3).await);
    assert_ne!(a, run(4).await);
}

#[tokio::test]
async fn interruption_notices_are_answered_before_ec2_reclaims_the_node() {
    let mut sup = supervised("", stormy(3), true, settings(None));
    sup.run_for(Duration::minutes(20)).await;
    let responses: Vec<_> = sup
        .executors()
        .iter()
        .filter(|x| x.action().kind.as_str() == "interruption-response")
        .collect();
    assert!(!responses.is_empty(), "seed 3 interrupts a spot node");
    for x in &responses {
        let done = x.done_steps();
        // Fenced off at once, as Karpenter does: cordoned, and its disruption taint.
        assert!(
            done.first().is_some_and(|s| s.starts_with("cordon"))
                && done
                    .get(1)
                    .is_some_and(|s| s.starts_with("taint")
                        && s.ends_with("karpenter.sh/disrupted:NoSchedule")),
            "{done:?}"
        );
        assert_eq!(x.state(), State::Done, "{:?}", x.report());
    }
    let events = sup.cluster().events();
    assert!(
        !events
            .iter()
            .any(|e| e.kind == EventKind::NodeDeleted
                && e.message.contains("killed without a drain")),
        "every interrupted node was drained in time"
    );
    assert_eq!(sup.cluster().pending_pods(), 0);
}

#[tokio::test]
async fn replace_launches_waits_taints_drains_and_deletes_in_that_order() {
    let (mut sup, node) = scaled_demo("", None).await;
    let id = propose_replace(&mut sup, &node);
    let x = run_to_end(&mut sup, &id).await;
    assert_eq!(x.state(), State::Done, "{:?}", x.report());
    let done = x.done_steps();
    let at = |prefix: &str| done.iter().position(|s| s.starts_with(prefix)).unwrap();
    assert_eq!(at("cordon"), 0, "nothing new lands on it meanwhile");
    assert_eq!(
        at("taint"),
        1,
        "Karpenter's disruption taint, as Karpenter removes nodes"
    );
    assert!(at("launch") < at("wait for nodeclaim"));
    assert!(at("wait for nodeclaim") < at("evict"));
    assert!(at("evict") < at("delete"));
    assert_eq!(done.last().unwrap(), &format!("delete {node}"));
    assert_eq!(x.created_claims().count(), x.action().launches.len());
    assert!(!sup
        .cluster()
        .snapshot()
        .nodes
        .iter()
        .any(|n| n.name == node));
    assert_eq!(sup.cluster().pending_pods(), 0);
}

#[tokio::test]
async fn a_cancelled_replacement_takes_karpenters_taint_off_again() {
    let (mut sup, node) = scaled_demo("", None).await;
    sup.set_approve_all(false);
    let id = propose_replace(&mut sup, &node);
    sup.approve(&id).unwrap();
    let tainted = |sup: &Supervisor<Sim>| {
        node_named(sup, &node)
            .taints
            .iter()
            .any(|t| t.key == "karpenter.sh/disrupted")
    };
    while !tainted(&sup) {
        sup.step().await;
    }
    assert!(sup.cancel(&id));
    let x = run_to_end(&mut sup, &id).await;
    assert_eq!(x.state(), State::Cancelled);
    let report = x.report().unwrap().to_string();
    assert!(
        !tainted(&sup),
        "the taint stays only while the node is being removed"
    );
    assert!(
        report.contains(&format!("{node} stays cordoned with"))
            && report.contains("; its karpenter.sh/disrupted taint taken off"),
        "{report}"
    );
}

#[tokio::test]
async fn cordon_and_uncordon_are_actions_too() {
    let path = journal_path("cordon");
    let mut sup = demo("", false, settings(Some(path.clone())));
    let node = sup.cluster().snapshot().nodes[0].name.clone();
    let unschedulable = |sup: &Supervisor<Sim>| node_named(sup, &node).unschedulable;
    let cordon = sup
        .submit({
            let node = node.clone();
            move |id, _| Ok(Action::cordon(id, &node, true))
        })
        .unwrap();
    sup.step().await;
    assert!(!unschedulable(&sup), "not before approval");
    sup.approve(&cordon).unwrap();
    sup.step().await;
    assert!(unschedulable(&sup));
    let uncordon = sup
        .submit({
            let node = node.clone();
            move |id, _| Ok(Action::cordon(id, &node, false))
        })
        .unwrap();
    assert!(sup.reject(&uncordon));
    sup.step().await;
    assert!(unschedulable(&sup), "a rejected action does nothing");
    assert_eq!(sup.executor(&uncordon).unwrap().state(), State::Rejected);
    let lines: Vec<String> = journal::read(&path)
        .unwrap()
        .entries
        .iter()
        .map(|e| {
            format!(
                "{} {} {}",
                e.plan,
                e.action,
                e.step.as_deref().unwrap_or("-")
            )
        })
        .collect();
    let step = format!("cordon {node}");
    assert_eq!(
        lines,
        [
            format!("{cordon} cordon -"),
            format!("{cordon} cordon {step}"),
            format!("{cordon} cordon {step}"),
            format!("{cordon} cordon -"),
        ],
        "approved, step started, step done, done — nothing for the rejected uncordon"
    );
}

#[tokio::test]
async fn an_approval_that_cannot_be_journaled_does_not_happen() {
    let dir = journal_path("unwritable");
    let blocker = dir.parent().unwrap().to_path_buf();
    std::fs::create_dir_all(blocker.parent().unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&blocker);
    std::fs::write(&blocker, "a file where the journal's directory should be").unwrap();
    let mut sup = demo("", false, settings(Some(dir)));
    sup.run_for(Duration::seconds(2)).await;
    let err = sup.approve("p1").unwrap_err();
    assert!(matches!(err, ApprovalError::Journal(_)), "{err}");
    assert!(err.to_string().contains("cannot create directory"), "{err}");
    assert_eq!(
        sup.executor("p1").unwrap().state(),
        State::Previewed,
        "the plan is kept"
    );
    sup.run_for(Duration::minutes(1)).await;
    assert_eq!(
        count(sup.cluster().events(), EventKind::NodeClaimCreated),
        0
    );
    let _ = std::fs::remove_file(&blocker);
}

/// The preview no longer holds once a pod lands on the node: approval plans the drain again
/// (the new pod included), and only that plan runs.
#[tokio::test]
async fn a_pod_that_lands_between_preview_and_approval_makes_the_drain_stale() {
    let mut sup = demo("", false, settings(None));
    let node = "ip-172-31-75-60.ap-southeast-1.compute.internal";
    let id = submit_drain(&mut sup, node, false);
    let evicts = |sup: &Supervisor<Sim>, id: &str| -> Vec<String> {
        sup.executor(id)
            .unwrap()
            .action()
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Evict { pod, .. } => Some(pod.clone()),
                _ => None,
            })
            .collect()
    };
    let previewed = evicts(&sup, &id);
    sup.run_for(Duration::seconds(5)).await;
    let late: Vec<String> = pods_on(&sup, node)
        .into_iter()
        .filter(|k| !previewed.contains(k))
        .collect();
    assert!(!late.is_empty(), "the HPA's new pod binds to {node}");
    let fresh = match sup.approve(&id) {
        Err(ApprovalError::Stale {
            replanned: Some(fresh),
            ..
        }) => fresh,
        other => panic!("{id} approved as first previewed: {other:?}"),
    };
    assert_eq!(sup.executor(&id).unwrap().state(), State::Withdrawn);
    let fresh_evicts = evicts(&sup, &fresh);
    assert!(fresh_evicts.contains(&late[0]), "{fresh_evicts:?}");
    sup.approve(&fresh).unwrap();
    let x = run_to_end(&mut sup, &fresh).await;
    assert_eq!(x.state(), State::Done, "{:?}", x.report());
    let on_node = pods_on(&sup, node);
    assert!(on_node.is_empty(), "{on_node:?}");
}

#[tokio::test]
async fn a_rejected_proposal_is_not_proposed_again_for_five_minutes() {
    let mut sup = demo("", false, settings(None));
    sup.run_for(Duration::seconds(2)).await;
    assert!(sup.reject("p1"));
    assert!(!sup.reject("p1"), "only once");
    sup.run_for(Duration::minutes(4)).await;
    assert_eq!(count(sup.cluster().events(), EventKind::PlanProposed), 1);
    sup.run_for(Duration::minutes(2)).await;
    assert_eq!(count(sup.cluster().events(), EventKind::PlanProposed), 2);
    assert_eq!(
        sup.executor("p2").unwrap().action().kind.as_str(),
        "scale-out"
    );
}

#[tokio::test]
async fn interruption_responses_run_at_once_by_standing_policy() {
    let dir = std::env::temp_dir().join(format!("karpdeck-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let journal = dir.join("journal.jsonl");
    let by_policy = Settings {
        approve_interruptions: false,
        read_only_contexts: Default::default(),
        ..settings(Some(journal.clone()))
    };
    // Everything else is approved while the cluster grows, then nothing is: only the policy
    // may run what comes next.
    let mut sup = supervised("", stormy(3), true, by_policy);
    sup.run_for(Duration::minutes(4)).await;
    sup.set_approve_all(false);
    let response = next_interruption(&mut sup, |x| x.status().policy().is_some()).await;
    // Never left waiting for a person; run to its end and journaled as the policy's.
    sup.run_for(Duration::minutes(3)).await;
    let x = sup.executor(&response).unwrap();
    assert_eq!(x.state(), State::Done, "{:?}", x.report());
    let j = karpdeck::exec::journal::read(&journal).unwrap();
    let approval = j
        .entries
        .iter()
        .find(|e| e.plan == response && e.outcome == karpdeck::exec::journal::Outcome::Approved)
        .unwrap();
    assert!(
        approval
            .detail
            .as_deref()
            .unwrap()
            .contains("approved by standing policy"),
        "{approval:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_interruption_response_left_unapproved_is_withdrawn_when_ec2_takes_the_node() {
    let mut sup = supervised("", stormy(3), true, settings(None));
    sup.run_for(Duration::minutes(4)).await;
    sup.set_approve_all(false);
    let response = next_interruption(&mut sup, |x| x.state() == State::Previewed).await;
    sup.run_for(Duration::minutes(3)).await;
    let x = sup.executor(&response).unwrap();
    assert_eq!(x.state(), State::Withdrawn);
    assert!(sup
        .cluster()
        .events()
        .iter()
        .any(|e| e.kind == EventKind::PlanWithdrawn
            && e.message
                .starts_with(&format!("plan {response} withdrawn: node"))));
    assert!(matches!(
        sup.approve(&response),
        Err(ApprovalError::NotPreviewed { .. })
    ));
}

#[test]
fn the_headless_runner_closes_what_is_still_running_when_it_ends() {
    let path = journal_path("cli-end");
    let dir = path.parent().unwrap().to_path_buf();
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = dir.join("lab-pdb.yaml");
    std::fs::write(&scenario, format!("{DEMO_SCENARIO}{}", nginx_pdb(0))).unwrap();
    let node = "ip-172-31-55-131.ap-southeast-1.compute.internal";
    let out = run_cli(
        &[
            "sim",
            "--scenario",
            scenario.to_str().unwrap(),
            "--supervised",
            "--approve-all",
            "--drain",
            node,
            "--duration",
            "2m",
            "--journal",
            path.to_str().unwrap(),
        ],
        &dir,
    );
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("eviction-blocked") && text.contains("allows 0 more disruptions (HTTP 429)"),
        "{text}"
    );
    let summary = text
        .lines()
        .find(|l| l.starts_with("plan p1 drain"))
        .unwrap();
    assert!(
        summary.contains("cancelled")
            && summary.contains(&format!("{node} stays cordoned with 1 pod(s) on it")),
        "{summary}"
    );
    let j = journal::read(&path).unwrap();
    assert!(j.unfinished().is_empty());
    assert_eq!(j.entries.last().unwrap().outcome, Outcome::Cancelled);
}

#[tokio::test]
async fn an_operator_action_on_a_node_another_action_holds_is_refused() {
    let mut sup = demo("", false, settings(None));
    let node = sup.cluster().snapshot().nodes[0].name.clone();
    let cordon = sup
        .submit({
            let node = node.clone();
            move |id, _| Ok(Action::cordon(id, &node, true))
        })
        .unwrap();
    let options = DrainOptions {
        ignore_daemonsets: true,
        delete_emptydir_data: true,
        ..DrainOptions::default()
    };
    let err = sup
        .submit(move |id, s| Action::drain(id, s, &drain_plan(s, &[0], &options), &options))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{node} is held by plan {cordon} (cordon previewed); reject or cancel it first")
    );
    assert!(sup.reject(&cordon));
    let drain = sup
        .submit(move |id, s| Action::drain(id, s, &drain_plan(s, &[0], &options), &options))
        .unwrap();
    assert_eq!(drain, "p2", "a refused submission uses no plan id");
}

/// A drain previewed to land its pods on a node that is cordoned by the time it is approved:
/// approval plans it again, and the new preview lands them elsewhere.
#[tokio::test]
async fn a_drain_whose_landing_node_went_away_is_planned_again_before_it_runs() {
    let mut sup = demo("", false, settings(None));
    let (a, b) = (
        "ip-172-31-55-131.ap-southeast-1.compute.internal",
        "ip-172-31-82-248.ap-southeast-1.compute.internal",
    );
    let first = submit_drain(&mut sup, a, false);
    let lands_on_b = |sup: &Supervisor<Sim>, id: &str| {
        sup.executor(id)
            .unwrap()
            .action()
            .preview
            .iter()
            .any(|l| l.ends_with(&format!("lands on {b}")))
    };
    assert!(lands_on_b(&sup, &first), "{first} lands a pod on {b}");
    let other = submit_drain(&mut sup, b, false);
    sup.approve(&other).unwrap();
    let x = run_to_end(&mut sup, &other).await;
    assert_eq!(x.state(), State::Done, "{:?}", x.report());
    let fresh = match sup.approve(&first) {
        Err(e @ ApprovalError::Stale { .. }) => {
            assert!(e.to_string().contains("review its new plan"), "{e}");
            let ApprovalError::Stale { replanned, .. } = e else {
                unreachable!()
            };
            replanned.expect("a drain of a still has an answer")
        }
        other => panic!("{first} approved as first previewed: {other:?}"),
    };
    assert_eq!(sup.executor(&first).unwrap().state(), State::Withdrawn);
    assert!(!lands_on_b(&sup, &fresh), "{b} is cordoned now");
    sup.approve(&fresh).unwrap();
    let x = run_to_end(&mut sup, &fresh).await;
    assert_eq!(x.state(), State::Done, "{:?}", x.report());
}

/// A plan planned again to the same outcome is approved as it stands.
#[tokio::test]
async fn an_unchanged_plan_is_approved_as_previewed() {
    let mut sup = demo("", false, settings(None));
    sup.run_for(Duration::seconds(1)).await;
    let node = "ip-172-31-75-60.ap-southeast-1.compute.internal";
    let id = sup
        .submit(move |id, _| Ok(Action::cordon(id, node, true)))
        .unwrap();
    sup.run_for(Duration::seconds(3)).await;
    sup.approve(&id).unwrap();
    assert_eq!(sup.executor(&id).unwrap().state(), State::Approved);
}

/// karpdeck's own consolidation, approved some seconds after it was proposed with nothing
/// changed meanwhile: planned again, found the same, and run.
#[tokio::test]
async fn a_consolidation_approved_later_is_the_same_and_runs() {
    let mut sup = demo("", true, settings(None));
    // The load test scales out (approved as proposed) and back in.
    sup.run_for(Duration::minutes(12)).await;
    sup.set_approve_all(false);
    let mut waited = 0;
    let id = loop {
        sup.step().await;
        waited += 1;
        let found = sup.executors().iter().find(|x| {
            x.state() == State::Previewed
                && matches!(x.action().kind.as_str(), "delete" | "replace")
        });
        if let Some(x) = found {
            break x.action().id.clone();
        }
        assert!(waited < 20 * 60, "no consolidation proposed");
    };
    sup.run_for(Duration::seconds(2)).await;
    sup.approve(&id).unwrap();
    let x = run_to_end(&mut sup, &id).await;
    assert_eq!(x.state(), State::Done, "{:?}", x.report());
}
