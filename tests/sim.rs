//! The simulated cluster, as `karpdeck sim` shows it: the lab's HPA load test replayed on a
//! virtual clock, with Karpenter in autopilot acting on the engine's plans.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use chrono::Duration;
use karpdeck::catalog::Catalog;
use karpdeck::control::{ClusterEvent, EventKind};
use karpdeck::scenario::{load_str, LoadOptions};
use karpdeck::sim::{demo_hpas, Hpa, Sim, SimConfig, DEMO_SCENARIO};
use serde_json::Value;

fn run_cli(args: &[&str]) -> std::process::Output {
    let state = std::env::temp_dir().join(format!("karpdeck-sim-test-{}", std::process::id()));
    Command::new(env!("CARGO_BIN_EXE_karpdeck"))
        .args(args)
        .env("XDG_STATE_HOME", state)
        .output()
        .expect("run karpdeck")
}

/// One event from the JSON-lines stream.
struct Event {
    seconds: i64,
    kind: String,
    message: String,
    objects: Vec<String>,
}

fn events(stdout: &[u8]) -> Vec<Event> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            Event {
                seconds: v["seconds"].as_f64().unwrap() as i64,
                kind: v["kind"].as_str().unwrap().to_string(),
                message: v["message"].as_str().unwrap().to_string(),
                objects: v["objects"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|o| o.as_str().unwrap().to_string())
                    .collect(),
            }
        })
        .collect()
}

fn first<'a>(events: &'a [Event], kind: &str, text: &str) -> &'a Event {
    events
        .iter()
        .find(|e| e.kind == kind && e.message.contains(text))
        .unwrap_or_else(|| panic!("no {kind} event mentioning {text:?}"))
}

#[test]
fn demo_replays_the_lab_scale_up_and_consolidation() {
    let out = run_cli(&["sim", "--autopilot", "--duration", "30m", "--events-json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = events(&out.stdout);

    let up = first(&events, "hpa-scaled", "to 12 replicas");
    let down = first(&events, "hpa-scaled", "from 12 to 3 replicas");
    assert!(
        down.seconds >= up.seconds + 300,
        "scale-down waits out the stabilisation window"
    );
    assert!(events
        .iter()
        .any(|e| e.kind == "pods-pending" && e.seconds >= up.seconds && e.seconds < down.seconds));

    // Every NodeClaim follows the lab's timings, and pods bind to its node only once it is Ready.
    let mut created: BTreeMap<&str, i64> = BTreeMap::new();
    let mut ready: BTreeMap<&str, i64> = BTreeMap::new();
    for e in &events {
        match e.kind.as_str() {
            "node-claim-created" => {
                assert!(
                    e.message.contains(" spot "),
                    "the Provisioner is spot-only: {}",
                    e.message
                );
                created.insert(&e.objects[0], e.seconds);
            }
            "node-claim-launched" => assert_eq!(e.seconds, created[e.objects[0].as_str()] + 2),
            "node-registered" => assert_eq!(e.seconds, created[e.objects[0].as_str()] + 20),
            "node-initialized" => {
                assert_eq!(e.seconds, created[e.objects[0].as_str()] + 45);
                ready.insert(&e.objects[1], e.seconds);
            }
            "pods-bound" => {
                let node = e.message.rsplit(' ').next().unwrap();
                if node.ends_with(".sim.internal") {
                    assert!(e.seconds >= ready[node], "bound before {node} was ready");
                }
            }
            _ => {}
        }
    }
    assert!(
        created.len() >= 3,
        "the scale-out needs new capacity: {created:?}"
    );
    assert_eq!(created.len(), ready.len(), "every NodeClaim initialized");

    // After the scale-down Karpenter deletes the spot nodes it launched and that are now empty.
    let disruption = events
        .iter()
        .find(|e| e.kind == "disruption" && e.seconds >= down.seconds)
        .expect("a disruption after the scale-down");
    assert!(
        disruption.message.contains("delete"),
        "{}",
        disruption.message
    );
    assert!(!disruption.objects.is_empty());
    for node in &disruption.objects {
        assert!(
            ready.contains_key(node.as_str()),
            "{node} is not a node Karpenter launched"
        );
        assert!(
            events.iter().any(|e| e.kind == "node-deleted"
                && &e.objects[0] == node
                && e.seconds > disruption.seconds),
            "{node} never deleted"
        );
    }
}

/// A simulation of scenario `text` (called `name` in errors), from its newest timestamp.
fn sim_of(name: &str, text: &str, config: SimConfig, hpas: Vec<Hpa>) -> Sim {
    let loaded = load_str(name, text, &LoadOptions::default(), Catalog::embedded()).unwrap();
    Sim::at_scenario_time(loaded.snapshot, config, hpas)
}

/// The text of a shared acceptance scenario.
fn shared(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/scenarios")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

fn demo_sim(minutes: i64, config: SimConfig) -> Sim {
    let mut sim = sim_of("demo", DEMO_SCENARIO, config, demo_hpas());
    sim.run_for(Duration::minutes(minutes));
    sim
}

fn demo_run(minutes: i64) -> Vec<ClusterEvent> {
    demo_sim(minutes, SimConfig::default()).events().to_vec()
}

/// Spot interruptions often enough to see several in a short run.
fn stormy(seed: u64) -> SimConfig {
    SimConfig {
        seed,
        interruption_multiplier: 20_000.0,
        ..SimConfig::default()
    }
}

fn seconds(e: &ClusterEvent) -> i64 {
    e.seconds as i64
}

#[test]
fn spot_interruptions_are_drained_before_ec2_reclaims_the_node() {
    let config = stormy(3);
    let sim = demo_sim(20, config.clone());
    let events = sim.events();
    let warnings: Vec<&ClusterEvent> = events
        .iter()
        .filter(|e| e.kind == EventKind::SpotInterruption)
        .collect();
    assert!(
        !warnings.is_empty(),
        "the multiplier makes interruptions visible"
    );
    for w in warnings {
        let node = &w.objects[0];
        let after = |kind: EventKind| {
            events
                .iter()
                .find(|e| e.kind == kind && &e.objects[0] == node && e.seconds >= w.seconds)
        };
        let handled = after(EventKind::InterruptionHandled).expect("Karpenter answers the warning");
        assert_eq!(
            seconds(handled),
            seconds(w),
            "at once: budgets do not apply"
        );
        let gone = after(EventKind::NodeDeleted).expect("the node goes");
        assert!(
            seconds(gone) <= seconds(w) + 120,
            "{node} outlived its two minutes"
        );
        assert!(gone.message.contains("(drained)"), "{}", gone.message);
    }
    assert!(
        !sim.snapshot().pods.iter().any(|p| p.is_pending()),
        "evicted pods found new nodes"
    );
    let other = demo_sim(20, SimConfig { seed: 4, ..config });
    assert_ne!(events, other.events(), "the seed drives the draws");
}

#[test]
fn capacity_errors_fall_back_to_the_next_offering_and_are_cached() {
    let config = SimConfig {
        seed: 3,
        insufficient_capacity: 0.3,
        ..SimConfig::default()
    };
    let sim = demo_sim(10, config);
    let events = sim.events();
    let errors: Vec<usize> = (0..events.len())
        .filter(|&i| events[i].kind == EventKind::InsufficientCapacity)
        .collect();
    assert!(!errors.is_empty());
    for i in errors {
        let e = &events[i];
        // "TYPE:ZONE:CT": no later launch of that offering for the next three minutes.
        let parts: Vec<&str> = e.objects[0].split(':').collect();
        let there = format!("-> {} {} {}", parts[0], parts[2], parts[1]);
        assert!(
            !events[i..]
                .iter()
                .any(|c| c.kind == EventKind::NodeClaimCreated
                    && c.seconds < e.seconds + 180.0
                    && c.message.ends_with(&there)),
            "{there} launched while cached unavailable"
        );
    }
    assert!(
        !sim.snapshot().pods.iter().any(|p| p.is_pending()),
        "every pod found capacity"
    );
}

#[test]
fn same_scenario_same_event_stream() {
    let a = demo_run(20);
    assert!(a.len() > 10);
    assert_eq!(a, demo_run(20));
}

#[test]
fn demo_is_the_lab_scenario() {
    let shared =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/scenarios/seed-lab.yaml");
    if let Ok(text) = std::fs::read_to_string(shared) {
        assert_eq!(
            text, DEMO_SCENARIO,
            "src/sim/demo.yaml drifted from seed-lab.yaml"
        );
    }
}

const UNKNOWN_DRAIN: &[&str] = &[
    "sim",
    "--supervised",
    "--drain",
    "no-such-node",
    "--journal",
    "/dev/null",
];

#[test]
fn bad_mode_flags_get_one_line_and_status_2() {
    for args in [
        &["sim", "--approve-all", "--duration", "1m"][..],
        &["sim", "--autopilot", "--supervised", "--duration", "1m"],
        &["sim", "--autopilot", "--duration", "soon"],
        &["sim", "--speed", "0", "--duration", "1m"],
        UNKNOWN_DRAIN,
    ] {
        let out = run_cli(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error:") || first.starts_with("karpdeck: error:"),
            "{args:?}: {err}"
        );
    }
    let out = run_cli(UNKNOWN_DRAIN);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        "karpdeck: error: --drain no-such-node: no such node"
    );
}

#[test]
fn launched_nodes_match_their_pool_so_nothing_drifts() {
    let text = shared("best-practices.yaml");
    let mut sim = sim_of("best-practices", &text, SimConfig::default(), Vec::new());
    sim.run_for(Duration::minutes(2));
    let s = sim.snapshot();
    let launched: Vec<_> = s
        .nodes
        .iter()
        .filter(|n| n.name.ends_with(".sim.internal"))
        .collect();
    assert!(
        launched.len() > 10,
        "the scenario's pending pods need new nodes"
    );
    for node in launched {
        let pool = s
            .nodepool(node.nodepool().expect("nodepool label"))
            .unwrap();
        assert_eq!(
            karpdeck::engine::disruption::drift::drift(node, pool),
            None,
            "{}",
            node.name
        );
    }
    assert!(!sim.events().iter().any(|e| e.kind == EventKind::Disruption));
    assert_eq!(s.pods.iter().filter(|p| p.is_pending()).count(), 0);
}

fn pdb_demo(max_unavailable: u32, minutes: i64) -> Vec<ClusterEvent> {
    let pdb = format!("\n---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: nginx\n  namespace: nlb-app-karpenter\nspec:\n  maxUnavailable: {max_unavailable}\n  selector:\n    matchLabels:\n      app.kubernetes.io/name: nginx\n");
    let text = format!("{DEMO_SCENARIO}{pdb}");
    let config = SimConfig {
        seed: 3,
        interruption_multiplier: 100_000.0,
        ..SimConfig::default()
    };
    let mut sim = sim_of("demo+pdb", &text, config, demo_hpas());
    sim.run_for(Duration::minutes(minutes));
    sim.events().to_vec()
}

#[test]
fn a_pdb_refusal_is_retried_and_reported_never_bypassed() {
    let events = pdb_demo(0, 15);
    let blocked: Vec<&ClusterEvent> = events
        .iter()
        .filter(|e| e.kind == EventKind::EvictionBlocked)
        .collect();
    assert!(!blocked.is_empty(), "an interrupted node holds nginx pods");
    for b in blocked {
        assert!(
            b.message
                .contains("PodDisruptionBudget nlb-app-karpenter/nginx allows 0"),
            "{}",
            b.message
        );
        let (pod, node) = (&b.objects[0], &b.objects[1]);
        assert!(
            !events
                .iter()
                .any(|e| e.kind == EventKind::PodsEvicted && e.objects.contains(pod)),
            "{pod} was evicted despite its PDB"
        );
        // The drain waits on the budget; EC2 takes the instance at the deadline all the same.
        let gone = events
            .iter()
            .find(|e| e.kind == EventKind::NodeDeleted && &e.objects[0] == node)
            .expect("the interrupted node goes at its deadline");
        assert!(gone.message.contains("without a drain"), "{}", gone.message);
    }
}

#[test]
fn a_refused_eviction_goes_through_once_the_budget_allows() {
    let events = pdb_demo(1, 15);
    let retried = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.kind == EventKind::EvictionBlocked)
        .any(|(i, b)| {
            events[i..]
                .iter()
                .any(|e| e.kind == EventKind::PodsEvicted && e.objects.contains(&b.objects[0]))
        });
    assert!(retried, "a refused pod is evicted on a later retry");
    for e in events.iter().filter(|e| e.kind == EventKind::PodsEvicted) {
        assert_eq!(
            e.objects.len(),
            1,
            "maxUnavailable 1 lets one nginx pod go at a time"
        );
    }
}

/// Whatever the draws, the cluster stays consistent: pods sit on nodes that exist and fit them,
/// every launched node has its NodeClaim, names are unique.
#[test]
fn the_cluster_stays_consistent_under_interruptions_and_capacity_errors() {
    for seed in 1..=3 {
        let config = SimConfig {
            seed,
            interruption_multiplier: 50_000.0,
            insufficient_capacity: 0.2,
            ..SimConfig::default()
        };
        let mut sim = sim_of("demo", DEMO_SCENARIO, config, demo_hpas());
        for minute in 1..=20 {
            sim.run_for(Duration::minutes(1));
            let s = sim.snapshot();
            let names: std::collections::BTreeSet<&str> =
                s.nodes.iter().map(|n| n.name.as_str()).collect();
            assert_eq!(
                names.len(),
                s.nodes.len(),
                "seed {seed} minute {minute}: duplicate node"
            );
            for node in &s.nodes {
                let mut used = karpdeck::model::Resources::default();
                for p in s
                    .pods
                    .iter()
                    .filter(|p| p.node_name.as_deref() == Some(node.name.as_str()))
                {
                    used.add_assign(&p.requests_with_slot());
                }
                assert!(
                    used.fits_in(&node.allocatable),
                    "seed {seed} minute {minute}: {} overcommitted",
                    node.name
                );
                if node.name.ends_with(".sim.internal") {
                    assert!(
                        s.nodeclaims
                            .iter()
                            .any(|c| c.node_name.as_deref() == Some(node.name.as_str())),
                        "seed {seed} minute {minute}: {} has no NodeClaim",
                        node.name
                    );
                }
            }
            for p in &s.pods {
                if let Some(n) = &p.node_name {
                    assert!(
                        names.contains(n.as_str()),
                        "seed {seed} minute {minute}: {} on missing {n}",
                        p.key()
                    );
                }
            }
        }
    }
}

/// A pod nothing can be launched for does not hold consolidation back (Karpenter's disruption
/// controller runs whatever is pending).
#[test]
fn an_unprovisionable_pod_does_not_block_consolidation() {
    let huge = "\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: huge\n  namespace: nlb-app-karpenter\nspec:\n  containers:\n  - name: main\n    image: busybox\n    resources:\n      requests:\n        cpu: '900'\n";
    let text = format!("{}{huge}", shared("seed-lab-scaledown.yaml"));
    let mut sim = sim_of("scaledown+huge", &text, SimConfig::default(), Vec::new());
    sim.run_for(Duration::minutes(2));
    let deleted: Vec<&str> = sim
        .events()
        .iter()
        .filter(|e| e.kind == EventKind::NodeDeleted)
        .map(|e| e.objects[0].as_str())
        .collect();
    assert_eq!(
        deleted,
        [
            "ip-172-31-56-118.ap-southeast-1.compute.internal",
            "ip-172-31-86-165.ap-southeast-1.compute.internal"
        ]
    );
    assert!(sim
        .snapshot()
        .pods
        .iter()
        .any(|p| p.name == "huge" && p.is_pending()));
}

/// Karpenter does not disrupt a node whose replacement cannot launch: the claims it did create
/// are withdrawn and the node is left as it was (not cordoned, not drained).
#[test]
fn a_disruption_whose_replacement_cannot_launch_is_abandoned() {
    let config = SimConfig {
        seed: 8,
        insufficient_capacity: 0.6,
        ..SimConfig::default()
    };
    let text = shared("best-practices.yaml");
    let mut sim = sim_of("best-practices", &text, config, Vec::new());
    sim.run_for(Duration::minutes(4));
    let events = sim.events();
    let (i, abandoned) = events
        .iter()
        .enumerate()
        .find(|(_, e)| e.kind == EventKind::Disruption && e.message.starts_with("abandoned"))
        .expect("with 60 % capacity errors some replacement fails");
    for node in &abandoned.objects {
        let touched = events[i..].iter().any(|e| {
            (e.kind == EventKind::NodeDeleted && e.objects.contains(node))
                || (e.kind == EventKind::PodsEvicted
                    && e.message.ends_with(&format!("from {node}")))
        });
        let redisrupted = events[i + 1..]
            .iter()
            .any(|e| e.kind == EventKind::Disruption && e.objects.contains(node));
        assert!(
            !touched || redisrupted,
            "{node} was drained after its disruption was abandoned"
        );
        let n = sim.snapshot().nodes.iter().find(|n| &n.name == node);
        if !redisrupted {
            assert!(
                n.is_some_and(|n| !n.unschedulable),
                "{node} should be back in service"
            );
        }
    }
}

#[test]
fn spot_prices_move_within_bounds_and_rebalance_recommendations_change_nothing() {
    let config = stormy(3);
    let sim = demo_sim(60, config.clone());
    let start = sim.events()[0].time - Duration::seconds(1);
    let s = sim.snapshot();
    let mut pools = 0;
    for n in s.nodes.iter().filter(|n| n.name.ends_with(".sim.internal")) {
        let (t, z) = (n.instance_type().unwrap(), n.zone().unwrap());
        let history = sim.spot_price_history(t, z);
        if n.created.unwrap() > sim.now() - Duration::minutes(5) {
            continue;
        }
        pools += 1;
        assert!(history.len() >= 2, "{t} {z} has been in use for 5 minutes");
        for w in history.windows(2) {
            let step = w[1].1 / w[0].1 - 1.0;
            assert!(step.abs() <= 0.04 + 1e-9, "{t} {z}: {step}");
            assert!((0.6..=1.6).contains(&w[1].1));
            assert_eq!((w[1].0 - w[0].0).num_seconds() % 300, 0);
        }
        let catalog = s
            .catalog
            .offerings(&s.region, t)
            .into_iter()
            .find(|o| o.zone == z && o.capacity_type == n.capacity_type())
            .unwrap()
            .price;
        let now = sim.spot_price(t, z).unwrap();
        assert!((now - catalog * history.last().unwrap().1).abs() < 1e-9);
    }
    assert!(pools > 0);
    assert!(sim
        .events()
        .iter()
        .any(|e| e.kind == EventKind::SpotPriceChanged));
    // Karpenter takes no action on a rebalance recommendation: the node stays in service.
    let mut sim = sim_of("demo", DEMO_SCENARIO, config, demo_hpas());
    let node = loop {
        sim.step();
        let now = sim.now();
        let last = sim
            .events()
            .iter()
            .rev()
            .take_while(|e| e.time == now)
            .find(|e| e.kind == EventKind::RebalanceRecommendation);
        if let Some(e) = last {
            break e.objects[0].clone();
        }
        assert!(
            sim.now() < start + Duration::hours(1),
            "no recommendation within an hour"
        );
    };
    let n = sim
        .snapshot()
        .nodes
        .iter()
        .find(|n| n.name == node)
        .unwrap();
    assert!(!n.unschedulable && !n.deleting, "{node}");
}

#[test]
fn scheduled_changes_are_answered_at_once_and_the_node_drained_long_before_it_retires() {
    // Ten times the stormy rates: a scheduled change (0.5 % a month) within 20 minutes.
    let config = SimConfig {
        seed: 5,
        interruption_multiplier: 200_000.0,
        ..SimConfig::default()
    };
    let sim = demo_sim(20, config);
    let events = sim.events();
    let changes: Vec<&ClusterEvent> = events
        .iter()
        .filter(|e| e.kind == EventKind::ScheduledChange)
        .collect();
    assert!(!changes.is_empty(), "the multiplier makes one visible");
    for c in changes {
        assert!(c.message.contains("instance-retirement"), "{}", c.message);
        let node = &c.objects[0];
        assert!(
            sim.snapshot().nodes.iter().all(|n| &n.name != node) || {
                // Still here only while its drain runs.
                events
                    .iter()
                    .any(|e| e.kind == EventKind::InterruptionHandled && &e.objects[0] == node)
            }
        );
        let after = |kind: EventKind| {
            events
                .iter()
                .find(|e| e.kind == kind && &e.objects[0] == node && e.seconds >= c.seconds)
        };
        let handled = after(EventKind::InterruptionHandled).expect("Karpenter answers it");
        assert_eq!(seconds(handled), seconds(c), "at once, like a Spot warning");
        if let Some(gone) = after(EventKind::NodeDeleted) {
            assert!(
                !gone.message.contains("retired by EC2"),
                "drained and deleted by Karpenter, not taken at the start: {}",
                gone.message
            );
        }
    }
}
