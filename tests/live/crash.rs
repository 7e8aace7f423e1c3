//! karpdeck killed (-9) in the middle of a drain on the real apiserver: the next start names
//! the unfinished plan and what it left (the node cordoned, the pods still on it), and
//! `:resume` plans the drain again from the cluster as it is, to its end.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::Api;
use serde_json::json;

use super::kubelet::empty_node;
use super::{apply, karpdeck_in, tmux, wait_until, Rig};

const NS: &str = "crash";

/// Register an empty node the crash pods (and only they) go to.
fn register(rig: &Rig, rt: &tokio::runtime::Runtime, name: &str) {
    rt.block_on(rig.kubelets.register(&empty_node(
        name,
        "ap-southeast-1c",
        "m6g.xlarge",
        ("4", "16Gi"),
        "crash",
    )));
}

/// Where each crash pod is, of those Ready.
fn ready_on(pods: &[Pod]) -> Vec<String> {
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .filter_map(|p| p.spec.as_ref()?.node_name.clone())
        .collect()
}

pub fn a_drain_killed_midway_is_named_and_resumed(rig: &Rig, rt: &tokio::runtime::Runtime) {
    register(rig, rt, "crash-a");
    rt.block_on(
        apply::Budgeted {
            namespace: NS,
            name: "slow",
            replicas: 4,
            placement: json!({"nodeSelector": {"crash": "true"}}),
            requests: ("100m", "64Mi"),
            grace: 1,
        }
        .create(&rig.client),
    );
    let pods: Api<Pod> = Api::namespaced(rig.client.clone(), NS);
    let list = || {
        rt.block_on(pods.list(&ListParams::default()))
            .map(|l| l.items)
    };
    wait_until(
        rt,
        Duration::from_secs(60),
        "4 pods Ready on crash-a",
        || {
            let on = ready_on(&list().map_err(|e| e.to_string())?);
            if on.len() == 4 && on.iter().all(|n| n == "crash-a") {
                Ok(())
            } else {
                Err(format!("{on:?}"))
            }
        },
    );
    register(rig, rt, "crash-b");
    // Each replacement Ready only after a while: the budget holds the drain back between
    // evictions, long enough to kill karpdeck in the middle.
    rig.kubelets.set_ready_after(Duration::from_secs(4));

    let journal = rig.scratch.join("state/karpdeck/journal.jsonl");
    let lines = || std::fs::read_to_string(&journal).unwrap_or_default();
    let before = lines().lines().count();
    let session = rig.console("crash", "console", 40);
    session.wait_for("crash-a");
    session.keys(&[":drain crash-a", "Enter"]);
    session.wait_for("proposed: review it");
    session.keys(&["a"]);
    session.wait_for("type");
    session.keys(&["crash-a", "Enter"]);
    // One pod evicted: then karpdeck is killed, as a crash or an OOM kill would.
    let started = Instant::now();
    let plan = loop {
        let evicted = lines()
            .lines()
            .skip(before)
            .find(|l| l.contains("\"step-done\"") && l.contains("evict crash/"))
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["plan"]
                    .as_str()
                    .unwrap()
                    .to_string()
            });
        if let Some(plan) = evicted {
            break plan;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no eviction:\n{}",
            session.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let shell = tmux::tmux(&["list-panes", "-t", &session.0, "-F", "#{pane_pid}"]);
    let killed = std::process::Command::new("pkill")
        .args(["-9", "-P", shell.trim(), "karpdeck"])
        .status()
        .unwrap();
    assert!(killed.success(), "karpdeck was not running");
    drop(session);
    let tail = lines();
    assert!(
        !tail
            .lines()
            .any(|l| l.contains(&format!("\"plan\":\"{plan}\"")) && l.contains("\"done\"")),
        "the drain finished before the kill: the test proves nothing"
    );

    // The next start names the plan and what it left.
    let listed = karpdeck_in(rig, &["journal"]);
    assert!(listed.contains("UNFINISHED"), "{listed}");
    assert!(
        listed.contains(&format!("{plan} (drain crash-a)")),
        "{listed}"
    );
    let session = rig.console("crash-again", "console", 40);
    session.wait_for(&format!("journal: {plan} (drain crash-a) unfinished"));
    session.keys(&[":plans", "Enter"]);
    let screen = session.wait_for("node crash-a: cordoned,");
    assert!(
        screen.contains("pod(s) still on it (crash/slow-"),
        "{screen}"
    );
    // Resumed: planned again from what is there, approved, run to its end.
    session.keys(&[&format!(":resume {plan}"), "Enter"]);
    session.wait_for("proposed: review it");
    session.keys(&["a"]);
    session.wait_for("type");
    session.keys(&["crash-a", "Enter"]);
    wait_until(
        rt,
        Duration::from_secs(90),
        "every pod Ready on crash-b",
        || {
            let on = ready_on(&list().map_err(|e| e.to_string())?);
            if on.len() == 4 && on.iter().all(|n| n == "crash-b") {
                Ok(())
            } else {
                Err(format!("{on:?}"))
            }
        },
    );
    let started = Instant::now();
    loop {
        let all = lines();
        let resumed = all
            .lines()
            .any(|l| l.contains(&format!("\"plan\":\"{plan}\"")) && l.contains("\"resumed\""));
        let done = all
            .lines()
            .skip(before)
            .filter(|l| l.contains("\"outcome\":\"done\""))
            .count();
        if resumed && done == 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "resumed {resumed}, done {done}:\n{all}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(session);
    rig.kubelets.set_ready_after(Duration::ZERO);
    assert!(!karpdeck_in(rig, &["journal"]).contains("UNFINISHED"));
}
