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
    let id = sup
        .submit(|id, s| {
            let i = s.nodes.iter().position(|n| n.name == node).unwrap();
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
