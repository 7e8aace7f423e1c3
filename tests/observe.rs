//! Observe mode over the simulator: Karpenter acts on its own, karpdeck predicts each move and
//! matches what Karpenter does against the predictions.

use chrono::Duration;
use karpdeck::control::{Outcome, Supervisor, Verdict};
use karpdeck::exec::Settings;
use karpdeck::scenario::LoadOptions;
use karpdeck::sim::{self, Sim, SimConfig};

fn settings() -> Settings {
    Settings {
        user: "oncall".into(),
        journal: None,
        read_only: false,
        approve_interruptions: false,
        read_only_contexts: Default::default(),
    }
}

/// The lab demo with Spot interruptions often enough to see some, Karpenter acting when
/// `autopilot`, observed.
fn observed(autopilot: bool) -> Supervisor<Sim> {
    let config = SimConfig {
        seed: 1,
        interruption_multiplier: 10_000.0,
        autopilot,
        ..SimConfig::default()
    };
    let sim = sim::demo(config, &LoadOptions::default()).unwrap();
    Supervisor::observing(sim, settings(), 1)
}

fn outcomes(sup: &Supervisor<Sim>) -> Vec<Outcome> {
    sup.observer().unwrap().outcomes().cloned().collect()
}

#[tokio::test]
async fn every_move_of_the_simulated_karpenter_is_predicted() {
    let mut sup = observed(true);
    sup.run_for(Duration::minutes(30)).await;
    let all = outcomes(&sup);
    let launches = all
        .iter()
        .filter(|o| o.summary.starts_with("nodeclaim"))
        .count();
    let removals = all
        .iter()
        .filter(|o| o.summary.ends_with("removed"))
        .count();
    // The load test scales out and back, and interruptions take nodes away.
    assert!(launches >= 3 && removals >= 3, "{all:#?}");
    let missed: Vec<&Outcome> = all
        .iter()
        .filter(|o| o.verdict != Verdict::Predicted)
        .collect();
    assert!(missed.is_empty(), "{missed:#?}");
    // karpdeck proposed nothing of its own: Karpenter acted.
    assert!(sup.executors().is_empty());
}

#[tokio::test]
async fn a_karpenter_that_does_not_act_leaves_predictions_not_done() {
    let mut sup = observed(false);
    sup.run_for(Duration::minutes(6)).await;
    let all = outcomes(&sup);
    let not_done: Vec<&Outcome> = all
        .iter()
        .filter(|o| o.verdict == Verdict::PredictedNotDone)
        .collect();
    assert!(
        not_done
            .iter()
            .any(|o| o.summary.starts_with("launch a nodeclaim from default")),
        "{all:#?}"
    );
    // Nothing happened, so nothing was matched.
    assert!(
        all.iter().all(|o| o.verdict == Verdict::PredictedNotDone),
        "{all:#?}"
    );
}

#[tokio::test]
async fn what_the_operator_does_is_told_apart_from_karpenters_moves() {
    let mut sup = observed(true);
    sup.run_for(Duration::minutes(3)).await;
    let node = sup
        .cluster()
        .snapshot()
        .nodes
        .iter()
        .find(|n| n.nodepool().is_some())
        .map(|n| n.name.clone())
        .expect("a Karpenter node after the scale-out");
    let replaced = node.clone();
    let id = sup
        .submit(move |id, s| {
            let i = s.nodes.iter().position(|n| n.name == replaced).unwrap();
            Ok(karpdeck::exec::Action::replace(
                id,
                s,
                &karpdeck::engine::replace::replacement_plan(s, i),
            ))
        })
        .unwrap();
    sup.approve(&id).unwrap();
    sup.run_for(Duration::minutes(3)).await;
    let all = outcomes(&sup);
    let removed = format!("node {node} removed");
    let o = all
        .iter()
        .find(|o| o.summary == removed)
        .expect("the replaced node goes");
    assert_eq!(o.verdict, Verdict::Operator, "{all:#?}");
    // Its replacement, launched by the plan, is the operator's too.
    let claim = sup
        .executor(&id)
        .unwrap()
        .created_claims()
        .next()
        .unwrap()
        .to_string();
    let launched = all
        .iter()
        .find(|o| o.summary.starts_with(&format!("nodeclaim {claim} created")))
        .expect("the replacement is seen");
    assert_eq!(launched.verdict, Verdict::Operator, "{all:#?}");
}

/// Pending pods that find room before Karpenter launches for them: the launch predicted for
/// them is withdrawn ("no longer needed"), not left to end "predicted but not done".
#[tokio::test]
async fn a_launch_whose_pods_found_room_is_no_longer_needed() {
    use karpdeck::control::{Cluster, Observer};
    use karpdeck::exec::Backend;
    use std::collections::BTreeSet;

    let config = SimConfig {
        seed: 1,
        interruption_multiplier: 0.0,
        autopilot: false,
        ..SimConfig::default()
    };
    // The lab without its load test: nothing else makes pods pending.
    let loaded = karpdeck::scenario::load_str(
        "demo",
        sim::DEMO_SCENARIO,
        &LoadOptions::default(),
        karpdeck::catalog::Catalog::embedded(),
    )
    .unwrap();
    let mut sim = Sim::at_scenario_time(loaded.snapshot, config, Vec::new());
    let nodes: Vec<String> = sim
        .snapshot()
        .nodes
        .iter()
        .map(|n| n.name.clone())
        .collect();
    for n in &nodes {
        assert!(sim.set_unschedulable(n, true).await.unwrap());
    }
    // An evicted nginx pod's replacement has nowhere to go: Karpenter would launch for it.
    let nginx = sim
        .snapshot()
        .pods
        .iter()
        .find(|p| p.name.starts_with("nginx") && p.node_name.is_some())
        .map(|p| (p.key(), p.node_name.clone().unwrap()))
        .unwrap();
    sim.evict(&nginx.0, &nginx.1, false).await.unwrap();
    sim.run_for(Duration::seconds(31));
    let mut observer = Observer::default();
    let operated = BTreeSet::new();
    observer.predict(&sim, &operated, true);
    observer.predict(&sim, &operated, true);
    assert!(
        observer.open().iter().any(|p| p
            .expected
            .summary()
            .starts_with("launch a nodeclaim from default")),
        "{:#?}",
        observer.open()
    );
    // The old pod has exited; the node takes its replacement back once uncordoned.
    assert!(sim.set_unschedulable(&nginx.1, false).await.unwrap());
    sim.run_for(Duration::seconds(2));
    assert_eq!(sim.pending_pods(), 0);
    observer.predict(&sim, &operated, true);
    let all: Vec<&Outcome> = observer.outcomes().collect();
    assert!(
        all.iter().any(|o| o.verdict == Verdict::Withdrawn
            && o.summary.starts_with("launch a nodeclaim from default")),
        "{all:#?}"
    );
    assert!(observer.open().is_empty(), "{:#?}", observer.open());
    assert!(
        all.iter().all(|o| o.verdict != Verdict::PredictedNotDone),
        "{all:#?}"
    );
}
