//! karpdeck against a real Kubernetes control plane (kube-apiserver, kube-scheduler,
//! kube-controller-manager and etcd, started by `tests/live/rig.sh`). The tests share one
//! cluster and build on each other's state, so they run in order, one at a time.
//!
//! Without a rig (`KARPDECK_RIG_KUBECONFIG` unset) they are skipped with one line.
//!
//! Two more uses of the same binary (`cargo test --test live -- MODE`): `serve-lab` applies
//! the lab cluster and plays its kubelets until stopped (`tests/live/rig.sh lab DIR`, to try
//! karpdeck on a real API server), and `populate NODES PODS_PER_NODE` fills the cluster for
//! `karpdeck bench --kubeconfig`.

mod access;
mod act;
mod apply;
mod bulk;
mod crash;
mod drain;
mod hold;
mod kubelet;
mod launcher;
#[path = "../support/output.rs"]
mod output;
mod populate;
mod scaleout;
#[path = "../support/tmux.rs"]
mod tmux;

use output::stdout;

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde_json::{json, Value};

use karpdeck::catalog::Catalog;
use karpdeck::control::Supervisor;
use karpdeck::exec::{Settings, State};
use karpdeck::kube::cluster::LiveCluster;
use kubelet::Kubelets;

/// The moment every plan here is made at, so node ages do not depend on when the test runs.
const NOW: &str = "2026-12-01T00:00:00Z";

/// The shared state of a run: the rig's kubeconfig, an admin client, the kubelets.
struct Rig {
    kubeconfig: PathBuf,
    client: Client,
    kubelets: Kubelets,
    scratch: PathBuf,
}

type Case = fn(&Rig, &tokio::runtime::Runtime);

fn main() {
    let cases: &[(&str, Case)] = &[
        (
            "lab_plan_matches_the_scenario_file",
            lab_plan_matches_the_scenario_file,
        ),
        (
            "the_console_follows_the_cluster_and_switches_context",
            the_console_follows_the_cluster_and_switches_context,
        ),
        (
            "scaled_nginx_gives_the_labs_two_nodeclaims",
            scaled_nginx_gives_the_labs_two_nodeclaims,
        ),
        (
            "nodeclaims_are_created_as_karpenter_writes_them",
            act::nodeclaims_are_created_as_karpenter_writes_them,
        ),
        (
            "dump_replays_with_the_same_plan",
            dump_replays_with_the_same_plan,
        ),
        (
            "errors_name_the_context_and_the_refusal",
            errors_name_the_context_and_the_refusal,
        ),
        (
            "a_user_who_may_not_evict_sees_drain_disabled",
            access::a_user_who_may_not_evict_sees_drain_disabled,
        ),
        (
            "a_read_only_console_changes_nothing",
            access::a_read_only_console_changes_nothing,
        ),
        (
            "watchers_reconnect_after_an_apiserver_outage",
            watchers_reconnect_after_an_apiserver_outage,
        ),
        (
            "without_karpenter_the_cluster_still_opens",
            without_karpenter_the_cluster_still_opens,
        ),
        ("evictions_arrive_as_asked", act::evictions_arrive_as_asked),
        (
            "the_disruption_taint_goes_on_and_off",
            act::the_disruption_taint_goes_on_and_off,
        ),
        (
            "holds_change_only_what_they_say_and_come_off_exactly",
            hold::holds_change_only_what_they_say_and_come_off_exactly,
        ),
        (
            "an_approved_drain_runs_through_the_api",
            drain::an_approved_drain_runs_through_the_api,
        ),
        (
            "an_approved_scale_out_launches_and_the_pods_land",
            scaleout::an_approved_scale_out_launches_and_the_pods_land,
        ),
        (
            "a_drain_killed_midway_is_named_and_resumed",
            crash::a_drain_killed_midway_is_named_and_resumed,
        ),
        (
            "twenty_nodes_drain_under_budgets",
            bulk::twenty_nodes_drain_under_budgets,
        ),
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        // What test runners ask before running (cargo nextest, IDEs).
        for (name, _) in cases {
            println!("{name}: test");
        }
        return;
    }
    // A name (or part of one) runs only the tests it matches, as libtest's filter does.
    let filter: Option<&str> = args
        .iter()
        .map(String::as_str)
        .find(|a| !a.starts_with('-') && !["serve-lab", "populate"].contains(a));
    let Some(kubeconfig) = std::env::var_os("KARPDECK_RIG_KUBECONFIG").map(PathBuf::from) else {
        println!(
            "live: {} tests skipped: no control plane (run .ci/run, or tests/live/rig.sh start DIR and export DIR/env)",
            cases.len()
        );
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let client = rt.block_on(admin_client(&kubeconfig));
    let _guard = rt.enter();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["serve-lab"] => return serve_lab(&kubeconfig, client, &rt),
        ["populate", nodes, pods] => {
            let (nodes, pods) = (
                nodes.parse().expect("nodes"),
                pods.parse().expect("pods per node"),
            );
            return rt.block_on(populate::populate(&client, nodes, pods));
        }
        _ => {}
    }
    let nodes: Api<Node> = Api::all(client.clone());
    let existing = rt
        .block_on(nodes.list(&ListParams::default()))
        .expect("list nodes");
    assert!(
        existing.items.is_empty(),
        "live: the control plane already has nodes: the tests need a fresh one (tests/live/rig.sh start NEWDIR)"
    );
    let scratch = std::env::temp_dir().join(format!("karpdeck-live-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let rig = Rig {
        kubeconfig,
        kubelets: Kubelets::start(client.clone()),
        client,
        scratch,
    };
    println!("\nrunning {} tests", cases.len());
    let (mut passed, mut failed) = (0, 0);
    for (name, case) in cases
        .iter()
        .filter(|(name, _)| filter.is_none_or(|f| name.contains(f)))
    {
        let started = Instant::now();
        match std::panic::catch_unwind(AssertUnwindSafe(|| case(&rig, &rt))) {
            Ok(()) => {
                passed += 1;
                println!(
                    "test {name} ... ok ({:.1} s)",
                    started.elapsed().as_secs_f64()
                );
            }
            Err(_) => {
                failed += 1;
                println!("test {name} ... FAILED");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&rig.scratch);
    println!(
        "\ntest result: {}. {passed} passed; {failed} failed; 0 ignored; 0 measured; 0 filtered out\n",
        if failed == 0 { "ok" } else { "FAILED" }
    );
    if failed > 0 {
        std::process::exit(101);
    }
}

async fn admin_client(kubeconfig: &Path) -> Client {
    let kc = Kubeconfig::read_from(kubeconfig).expect("rig kubeconfig");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("rig config");
    Client::try_from(config).expect("rig client")
}

fn karpdeck(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_karpdeck"))
        .args(args)
        .env(
            "XDG_STATE_HOME",
            std::env::temp_dir().join("karpdeck-live-state"),
        )
        .output()
        .expect("run karpdeck")
}

/// The rig's cluster opened as the console opens it (off this runtime), observed by the
/// workflow acting as `oncall`, journaling to `journal` in the scratch directory.
fn observed(rig: &Rig, journal: &str) -> Supervisor<LiveCluster> {
    let target = rig.target();
    let cluster = std::thread::spawn(move || LiveCluster::open(&target, Catalog::embedded()))
        .join()
        .unwrap()
        .unwrap();
    let settings = Settings {
        user: "oncall".into(),
        journal: Some(rig.scratch.join(journal)),
        ..Settings::new(None)
    };
    Supervisor::observing(cluster, settings, 1)
}

/// Tick the workflow every `pause` until plan `id` ends — Done, within `limit` — with `each`
/// (a stand-in's turn) every round; how long it took.
fn run_plan(
    sup: &mut Supervisor<LiveCluster>,
    rt: &tokio::runtime::Runtime,
    id: &str,
    (limit, pause): (Duration, Duration),
    mut each: impl FnMut(),
) -> Duration {
    let started = Instant::now();
    loop {
        sup.refresh();
        rt.block_on(sup.tick());
        each();
        let x = sup.executor(id).unwrap();
        if x.state().is_final() {
            assert_eq!(x.state(), State::Done, "{:?}", x.report());
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "{id} is still {} after {limit:?}: at {:?}; {:?}",
            x.state().as_str(),
            x.current_step(),
            x.report()
        );
        std::thread::sleep(pause);
    }
}

/// `karpdeck ARGS` with the consoles' state directory (their journal); its output.
fn karpdeck_in(rig: &Rig, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_karpdeck"))
        .args(args)
        .env("XDG_STATE_HOME", rig.scratch.join("state"))
        .output()
        .expect("run karpdeck");
    stdout(&out)
}

fn lab() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/scenarios/seed-lab.yaml")
}

impl Rig {
    fn k(&self) -> &str {
        self.kubeconfig.to_str().unwrap()
    }

    /// The rig's cluster through its kubeconfig's current context.
    fn target(&self) -> karpdeck::kube::Target {
        karpdeck::kube::Target {
            kubeconfig: Some(self.kubeconfig.clone()),
            context: None,
        }
    }

    /// `karpdeck plan --json` of the live cluster.
    fn live_plan(&self) -> Value {
        let out = karpdeck(&["plan", "--kubeconfig", self.k(), "--json", "--now", NOW]);
        serde_json::from_str(&stdout(&out)).unwrap()
    }
}

fn file_plan(file: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "plan",
        "--scenario",
        file.to_str().unwrap(),
        "--json",
        "--now",
        NOW,
    ];
    args.extend_from_slice(extra);
    serde_json::from_str(&stdout(&karpdeck(&args))).unwrap()
}

/// Poll `check` until it holds, or fail after `limit` with what it last saw.
fn wait_until<T: std::fmt::Debug>(
    rt: &tokio::runtime::Runtime,
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let started = Instant::now();
    loop {
        match check() {
            Ok(v) => return v,
            Err(last) if started.elapsed() > limit => {
                panic!("{what}: not after {limit:?}; last seen: {last}")
            }
            Err(_) => rt.block_on(tokio::time::sleep(Duration::from_millis(250))),
        }
    }
}

/// Pods by phase and whether the scheduler found them unschedulable.
fn pod_states(rig: &Rig, rt: &tokio::runtime::Runtime) -> Vec<(String, String, bool)> {
    let api: Api<Pod> = Api::all(rig.client.clone());
    let pods = rt.block_on(api.list(&ListParams::default())).unwrap();
    pods.items
        .into_iter()
        .map(|p| {
            let status = p.status.unwrap_or_default();
            let unschedulable =
                status.conditions.unwrap_or_default().iter().any(|c| {
                    c.type_ == "PodScheduled" && c.reason.as_deref() == Some("Unschedulable")
                });
            (
                format!(
                    "{}/{}",
                    p.metadata.namespace.unwrap_or_default(),
                    p.metadata.name.unwrap_or_default()
                ),
                status.phase.unwrap_or_default(),
                unschedulable,
            )
        })
        .collect()
}

fn lab_plan_matches_the_scenario_file(rig: &Rig, rt: &tokio::runtime::Runtime) {
    let text = std::fs::read_to_string(lab()).unwrap();
    let docs = apply::documents(&text);
    let expected_pods = docs.iter().filter(|d| d["kind"] == "Pod").count();
    rt.block_on(apply::apply(&rig.client, &rig.kubelets, &docs));
    // Settled: every pod of the file Running on its node, and the Deployment has adopted its
    // ReplicaSet without rolling anything.
    wait_until(rt, Duration::from_secs(60), "lab pods running", || {
        let states = pod_states(rig, rt);
        let running = states.iter().filter(|s| s.1 == "Running").count();
        if running == expected_pods && states.len() == expected_pods {
            Ok(())
        } else {
            Err(format!("{states:?}"))
        }
    });
    let deployments: Api<Deployment> = Api::namespaced(rig.client.clone(), "nlb-app-karpenter");
    wait_until(
        rt,
        Duration::from_secs(30),
        "nginx deployment settled",
        || {
            let d = rt.block_on(deployments.get("nginx-deployment")).unwrap();
            let s = d.status.unwrap_or_default();
            if s.observed_generation == d.metadata.generation && s.updated_replicas == Some(1) {
                Ok(())
            } else {
                Err(format!("{s:?}"))
            }
        },
    );
    assert_eq!(rig.live_plan(), file_plan(&lab(), &[]));
}

/// Scale the lab's nginx Deployment through the API.
fn scale_nginx(rig: &Rig, rt: &tokio::runtime::Runtime, replicas: i32) {
    let deployments: Api<Deployment> = Api::namespaced(rig.client.clone(), "nlb-app-karpenter");
    rt.block_on(deployments.patch(
        "nginx-deployment",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": replicas}})),
    ))
    .unwrap();
}

impl Rig {
    /// karpdeck run with `args` (and the rig's kubeconfig) in a tmux session of `rows` rows,
    /// as an operator opens it.
    fn console(&self, label: &str, args: &str, rows: u16) -> tmux::Session {
        let name = format!("karpdeck-{label}-{}", std::process::id());
        let command = format!(
            "XDG_STATE_HOME={} {} {args} --kubeconfig {}; sleep 30",
            self.scratch.join("state").display(),
            env!("CARGO_BIN_EXE_karpdeck"),
            self.k()
        );
        let rows = rows.to_string();
        tmux::tmux(&[
            "new-session",
            "-d",
            "-s",
            &name,
            "-x",
            "160",
            "-y",
            &rows,
            &command,
        ]);
        tmux::Session(name)
    }
}

fn the_console_follows_the_cluster_and_switches_context(rig: &Rig, rt: &tokio::runtime::Runtime) {
    let session = rig.console("live", "--read-only", 32);
    // The lab's nodes, every source live.
    let screen = session.wait_for("live (17 sources");
    for node in ["ip-172-31-55-131", "ip-172-31-75-60", "ip-172-31-82-248"] {
        assert!(screen.contains(node), "{screen}");
    }
    assert!(
        screen.contains("context rig ") && screen.contains("OBSERVE"),
        "{screen}"
    );
    // Scaled through the API: the real scheduler leaves four pods pending, and the console
    // shows them with Karpenter's answer.
    session.keys(&["2"]);
    let scaled = Instant::now();
    scale_nginx(rig, rt, 6);
    let screen = session.wait_for("4 pending");
    println!(
        "  (pending pods on screen {:.2} s after the scale request)",
        scaled.elapsed().as_secs_f64()
    );
    let screen = if screen.contains("needs a new node from nodepool default") {
        screen
    } else {
        session.wait_for("needs a new node from nodepool default")
    };
    assert!(screen.contains("nginx-deployment-75d9ffff7-"), "{screen}");
    // --read-only: approvals are refused, karpdeck only observes.
    assert!(screen.contains("READ-ONLY"), "{screen}");
    // Karpenter's next move is predicted (the lab's NodeClaims for the pending pods); a
    // NodeClaim made by hand, which Karpenter would not make, is told apart.
    session.keys(&["6"]);
    session.wait_for("next  launch a nodeclaim from default");
    let claim = json!({
        "apiVersion": "karpenter.sh/v1alpha5", "kind": "Machine",
        "metadata": {"name": "made-by-hand", "labels": {
            "karpenter.sh/provisioner-name": "default",
            "node.kubernetes.io/instance-type": "m5.24xlarge",
        }},
        "spec": {"requirements": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["m5.24xlarge"]}]},
    });
    rt.block_on(apply::create(&rig.client, &claim, false));
    let screen = session.wait_for("nodeclaim made-by-hand created");
    assert!(screen.contains("not predicted"), "{screen}");
    // What Karpenter records about its decisions is shown beside them.
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let said = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "karpenter-said", "namespace": "default"},
        "involvedObject": {"kind": "Node", "name": "ip-172-31-55-131.ap-southeast-1.compute.internal"},
        "reason": "Unconsolidatable",
        "message": "can't replace with a cheaper node",
        "source": {"component": "karpenter"},
        "type": "Normal", "count": 1, "firstTimestamp": now, "lastTimestamp": now,
    });
    rt.block_on(apply::create(&rig.client, &said, false));
    session.wait_for(
        "Unconsolidatable Node ip-172-31-55-131.ap-southeast-1.compute.internal: can't replace",
    );
    // An object karpdeck cannot read is left out and counted, not fatal.
    let malformed = json!({
        "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
        "metadata": {"name": "malformed"},
        "spec": {"template": {"spec": {"requirements": [
            {"key": "kubernetes.io/arch", "operator": "Sometimes", "values": ["arm64"]}
        ]}}},
    });
    rt.block_on(apply::create(&rig.client, &malformed, false));
    session.wait_for("1 objects refused (see the log)");
    let ar = apply::resource(&malformed);
    let nodepools: Api<kube::api::DynamicObject> = Api::all_with(rig.client.clone(), &ar);
    rt.block_on(nodepools.delete("malformed", &DeleteParams::default()))
        .unwrap();
    wait_until(rt, Duration::from_secs(10), "the refusal cleared", || {
        let screen = session.screen();
        if screen.contains("objects refused") {
            Err(screen)
        } else {
            Ok(())
        }
    });
    // Another context of the same kubeconfig: everything is read anew.
    session.keys(&[":ctx rig-b", "Enter"]);
    let screen = session.wait_for("context rig-b ");
    assert!(screen.contains("OBSERVE"), "{screen}");
    session.wait_for("live (17 sources");
    session.keys(&[":ctx rig-viewer", "Enter"]);
    let screen = session.wait_for("reconnecting since");
    assert!(screen.contains("forbidden"), "{screen}");
    session.keys(&["q"]);
}

fn scaled_nginx_gives_the_labs_two_nodeclaims(rig: &Rig, rt: &tokio::runtime::Runtime) {
    scale_nginx(rig, rt, 6);
    // The real ReplicaSet controller makes five pods; the real scheduler binds the one that
    // fits (on ip-172-31-75-60) and marks four Unschedulable: Karpenter's cue.
    wait_until(
        rt,
        Duration::from_secs(30),
        "four nginx pods unschedulable",
        || {
            let states = pod_states(rig, rt);
            let nginx: Vec<_> = states.iter().filter(|s| s.0.contains("/nginx-")).collect();
            let unschedulable = nginx.iter().filter(|s| s.2).count();
            let running = nginx.iter().filter(|s| s.1 == "Running").count();
            if nginx.len() == 6 && unschedulable == 4 && running == 2 {
                Ok(())
            } else {
                Err(format!("{nginx:?}"))
            }
        },
    );
    let plan = rig.live_plan();
    let mut requests: Vec<String> = plan["provisioning"]["nodeclaims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let r = &c["requests"];
            format!(
                "{}/{}/{}",
                r["cpu"].as_str().unwrap(),
                r["memory"].as_str().unwrap(),
                r["pods"].as_str().unwrap()
            )
        })
        .collect();
    requests.sort();
    assert_eq!(
        requests,
        ["2825m/4213450Ki/5", "6825m/12025950Ki/7"],
        "{plan:#}"
    );
    assert_eq!(plan["provisioning"]["unschedulable"], json!([]), "{plan:#}");
    // The same cluster from the file with the same scale: the same NodeClaims.
    let file = file_plan(&lab(), &["--scale", "nlb-app-karpenter/nginx-deployment=6"]);
    assert_eq!(
        plan["provisioning"]["nodeclaims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (&c["requests"], &c["instance_types"], &c["zones"]))
            .collect::<Vec<_>>(),
        file["provisioning"]["nodeclaims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (&c["requests"], &c["instance_types"], &c["zones"]))
            .collect::<Vec<_>>()
    );
}

fn dump_replays_with_the_same_plan(rig: &Rig, _rt: &tokio::runtime::Runtime) {
    let out = karpdeck(&["dump", "--kubeconfig", rig.k()]);
    let dump = rig.scratch.join("dump.yaml");
    std::fs::write(&dump, stdout(&out)).unwrap();
    assert_eq!(file_plan(&dump, &[]), rig.live_plan());
}

fn errors_name_the_context_and_the_refusal(rig: &Rig, _rt: &tokio::runtime::Runtime) {
    let denied = karpdeck(&["plan", "--kubeconfig", rig.k(), "--context", "rig-viewer"]);
    assert_eq!(denied.status.code(), Some(1));
    let err = String::from_utf8_lossy(&denied.stderr);
    assert!(
        err.starts_with("karpdeck: error: context rig-viewer: cannot list "),
        "{err}"
    );
    assert!(err.trim_end().ends_with("(HTTP 403)"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let missing = karpdeck(&["inspect", "--kubeconfig", rig.k(), "--context", "nope"]);
    assert_eq!(missing.status.code(), Some(2));
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        err.contains("no context \"nope\" (contexts: rig, rig-viewer, rig-b)"),
        "{err}"
    );
    // The second context reads the same cluster.
    let other = karpdeck(&[
        "inspect",
        "--kubeconfig",
        rig.k(),
        "--context",
        "rig-b",
        "--json",
    ]);
    let other: Value = serde_json::from_str(&stdout(&other)).unwrap();
    assert_eq!(other["scenario"], "context rig-b");
    assert_eq!(other["nodes"].as_array().unwrap().len(), 3);
}

fn without_karpenter_the_cluster_still_opens(rig: &Rig, rt: &tokio::runtime::Runtime) {
    let crds: Api<CustomResourceDefinition> = Api::all(rig.client.clone());
    let all = rt.block_on(crds.list(&ListParams::default())).unwrap();
    for crd in all.items {
        let name = crd.metadata.name.unwrap();
        if name.contains("karpenter") {
            rt.block_on(crds.delete(&name, &DeleteParams::default()))
                .unwrap();
        }
    }
    wait_until(rt, Duration::from_secs(30), "Karpenter's CRDs gone", || {
        let left = rt
            .block_on(crds.list(&ListParams::default()))
            .unwrap()
            .items
            .len();
        if left == 0 {
            Ok(())
        } else {
            Err(format!("{left} CRDs left"))
        }
    });
    let out = karpdeck(&["inspect", "--kubeconfig", rig.k()]);
    let text = stdout(&out);
    assert!(text.contains("3 nodes"), "{text}");
    assert!(text.contains("no Karpenter"), "{text}");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nodes: Api<Node> = Api::all(rig.client.clone());
    assert_eq!(
        rt.block_on(nodes.list(&ListParams::default()))
            .unwrap()
            .items
            .len(),
        3
    );
    // Karpenter's CRDs back, as the rig installs them, for the tests that follow.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/live/fixtures/crds");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let crd: CustomResourceDefinition =
            serde_json::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
        names.push(crd.metadata.name.clone().unwrap());
        rt.block_on(crds.create(&Default::default(), &crd)).unwrap();
    }
    wait_until(
        rt,
        Duration::from_secs(30),
        "Karpenter's CRDs established",
        || {
            for name in &names {
                let crd = rt.block_on(crds.get(name)).map_err(|e| e.to_string())?;
                let established = crd
                    .status
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True");
                if !established {
                    return Err(format!("{name} not established"));
                }
            }
            Ok(())
        },
    );
}

fn watchers_reconnect_after_an_apiserver_outage(rig: &Rig, rt: &tokio::runtime::Runtime) {
    use karpdeck::control::SourceState;
    use karpdeck::kube::SourceKind;
    let target = rig.target();
    let watching = std::cell::RefCell::new(rt.block_on(async {
        let conn = karpdeck::kube::connect(&target).await.unwrap();
        karpdeck::kube::sync(&conn, Duration::from_secs(30), Catalog::embedded())
            .await
            .unwrap()
    }));
    // The store as of now: the watchers' changes so far taken in.
    let store = || {
        let mut w = watching.borrow_mut();
        w.pump();
        std::cell::RefMut::map(w, |w| &mut w.store)
    };
    let states = || -> Vec<(SourceKind, SourceState)> {
        store()
            .statuses()
            .map(|s| (s.kind, s.state.clone()))
            .collect()
    };
    let pods_before = store().len(SourceKind::Pods);
    let dir = std::env::var("KARPDECK_RIG_DIR").expect("KARPDECK_RIG_DIR");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/live/rig.sh");
    let outage = std::thread::spawn(move || {
        let out = Command::new(script)
            .args(["restart-apiserver", &dir, "20"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    // Every source says it is reconnecting, since when and why.
    let started = chrono::Utc::now();
    wait_until(
        rt,
        Duration::from_secs(30),
        "every source reconnecting",
        || {
            let s = states();
            let all = s.iter().all(|(_, state)| match state {
                SourceState::Reconnecting { since, error } => {
                    *since >= started - chrono::Duration::seconds(1) && !error.is_empty()
                }
                _ => false,
            });
            if all {
                Ok(())
            } else {
                Err(format!("{s:?}"))
            }
        },
    );
    let (_, error) = states()
        .into_iter()
        .find_map(|(k, s)| match s {
            SourceState::Reconnecting { error, .. } => Some((k, error)),
            _ => None,
        })
        .unwrap();
    assert!(!error.contains('\n'), "{error}");
    // Retries during the outage do not move the time it began.
    let since = |states: Vec<(SourceKind, SourceState)>| -> Vec<chrono::DateTime<chrono::Utc>> {
        states
            .into_iter()
            .filter_map(|(_, s)| match s {
                SourceState::Reconnecting { since, .. } => Some(since),
                _ => None,
            })
            .collect()
    };
    let first = since(states());
    rt.block_on(tokio::time::sleep(Duration::from_secs(5)));
    assert_eq!(since(states()), first);
    // The data stays while the server is away.
    assert_eq!(store().len(SourceKind::Pods), pods_before);
    outage.join().unwrap();
    // Within 10 s of the server answering again, every source is live and a change made
    // now arrives.
    wait_until(
        rt,
        Duration::from_secs(10),
        "every source live again",
        || {
            let s = states();
            if s.iter().all(|(_, state)| *state == SourceState::Live) {
                Ok(())
            } else {
                Err(format!("{s:?}"))
            }
        },
    );
    // Made directly: the controllers have their own reconnecting to do.
    let pods: Api<Pod> = Api::namespaced(rig.client.clone(), "default");
    let probe: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "after-the-outage"},
        "spec": {"containers": [{"name": "c", "image": "example/img"}]},
    }))
    .unwrap();
    rt.block_on(pods.create(&Default::default(), &probe))
        .unwrap();
    wait_until(
        rt,
        Duration::from_secs(10),
        "the pod made after the outage seen",
        || {
            let n = store().len(SourceKind::Pods);
            if n == pods_before + 1 {
                Ok(())
            } else {
                Err(format!("{n} pods"))
            }
        },
    );
}

/// Apply the lab and keep its kubelets running until the process is stopped.
fn serve_lab(kubeconfig: &Path, client: Client, rt: &tokio::runtime::Runtime) {
    let kubelets = Kubelets::start(client.clone());
    let text = std::fs::read_to_string(lab()).unwrap();
    rt.block_on(apply::apply(&client, &kubelets, &apply::documents(&text)));
    println!("the lab cluster is up; its kubelets run until this stops (ctrl-c). Open it with:");
    println!(
        "  cargo run --release -- inspect --kubeconfig {}",
        kubeconfig.display()
    );
    println!(
        "  cargo run --release -- plan --kubeconfig {}",
        kubeconfig.display()
    );
    rt.block_on(std::future::pending::<()>());
}
