//! The commands as a user runs them: output, JSON shape, and one-line errors with exit status 2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

#[path = "support/output.rs"]
mod output;

use output::stdout;

fn scenario(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/scenarios")
        .join(name)
        .display()
        .to_string()
}

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("karpdeck-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn karpdeck(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_karpdeck"))
        .args(args)
        // Keep the log out of the developer's home.
        .env("XDG_STATE_HOME", scratch_dir().join("state"))
        .output()
        .expect("run karpdeck")
}

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&stdout(&karpdeck(args))).unwrap()
}

#[test]
fn inspect_seed_lab_text() {
    let out = stdout(&karpdeck(&[
        "inspect",
        "--scenario",
        &scenario("seed-lab.yaml"),
    ]));
    assert!(out.contains("region ap-southeast-1"), "{out}");
    for expected in [
        "2925m / 3920m",
        "1825m / 3920m",
        "1324Mi / 15186996Ki",
        "1925m / 3920m",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in\n{out}");
    }
    assert!(
        out.contains("nlb-app-karpenter/nginx-deployment  Deployment  1         1        0"),
        "{out}"
    );
    assert!(
        out.contains("default  (Provisioner karpenter.sh/v1alpha5"),
        "{out}"
    );
    assert!(
        out.contains("limits: cpu 0 / 1000, memory 0 / 1000Gi"),
        "{out}"
    );
    assert!(out.contains("PENDING PODS (0)"), "{out}");
}

#[test]
fn inspect_seed_lab_scaled_json() {
    let v = json(&[
        "inspect",
        "--scenario",
        &scenario("seed-lab.yaml"),
        "--scale",
        "nlb-app-karpenter/nginx-deployment=6",
        "--json",
    ]);
    let pending = v["pending_pods"].as_array().unwrap();
    assert_eq!(pending.len(), 5);
    for p in pending {
        assert!(p["pod"]
            .as_str()
            .unwrap()
            .starts_with("nlb-app-karpenter/nginx-deployment-"));
        assert_eq!(p["requests"]["cpu"], "2");
        assert_eq!(p["requests"]["memory"], "3906250Ki");
    }
    let nodes = v["nodes"].as_array().unwrap();
    let cpu: Vec<&str> = nodes
        .iter()
        .map(|n| n["requests"]["cpu"].as_str().unwrap())
        .collect();
    assert_eq!(cpu, ["2925m", "1825m", "1925m"]);
    assert_eq!(nodes[1]["requests"]["memory"], "1324Mi");
    let pool = &v["nodepools"][0];
    assert_eq!(pool["name"], "default");
    assert_eq!(pool["limits"]["cpu"], "1000");
    assert_eq!(pool["limits"]["memory"], "1000Gi");
    assert_eq!(v["workloads"][0]["pending"], 5);
    assert_eq!(v["workloads"][0]["running"], 1);
}

#[test]
fn inspect_scaled_text_shows_pending_group() {
    let out = stdout(&karpdeck(&[
        "inspect",
        "--scenario",
        &scenario("seed-lab.yaml"),
        "--scale",
        "nlb-app-karpenter/nginx-deployment=6",
    ]));
    assert!(out.contains("PENDING PODS (5)"), "{out}");
    assert!(out.contains("cpu 2  memory 4G"), "{out}");
}

#[test]
fn catalog_json_has_the_reference_types() {
    let v = json(&["catalog", "--json"]);
    let types = v.as_array().unwrap();
    assert!(types.len() >= 500, "{}", types.len());
    let get = |name: &str| types.iter().find(|t| t["name"] == name).unwrap().clone();
    let m5 = get("m5.large");
    assert_eq!(m5["vcpus"], 2);
    assert_eq!(m5["memory_mib"], 8192);
    assert_eq!(m5["max_pods"], 29);
    assert_eq!(m5["arch"], "amd64");
    assert_eq!(m5["gpu_count"], 0);
    assert_eq!(m5["allocatable"]["cpu"], "1930m");
    assert_eq!(m5["allocatable"]["memory"], "6903Mi");
    assert_eq!(m5["allocatable"]["pods"], "29");
    assert!(m5["on_demand_price"].as_f64().unwrap() > 0.0);
    assert!(m5["spot_price"].as_f64().unwrap() < m5["on_demand_price"].as_f64().unwrap());
    assert!(m5["interruption_bucket"].is_string());
    for (name, cpu) in [("m6g.xlarge", "3920m"), ("c6g.2xlarge", "7910m")] {
        let t = get(name);
        assert_eq!(t["max_pods"], 58, "{name}");
        assert_eq!(t["allocatable"]["cpu"], cpu, "{name}");
        assert_eq!(t["arch"], "arm64", "{name}");
    }
    let m5_4x = get("m5.4xlarge");
    assert_eq!(m5_4x["max_pods"], 234);
    assert_eq!(m5_4x["max_pods_eks_managed"], 110);
    assert_eq!(get("p3.8xlarge")["gpu_count"], 4);
    assert_eq!(get("p3.8xlarge")["allocatable"]["nvidia.com/gpu"], "4");
}

#[test]
fn catalog_filters() {
    let v = json(&[
        "catalog",
        "--region",
        "eu-west-1",
        "--arch",
        "arm64",
        "--min-vcpus",
        "4",
        "--min-memory",
        "16Gi",
        "--json",
    ]);
    let types = v.as_array().unwrap();
    assert!(!types.is_empty());
    for t in types {
        assert_eq!(t["arch"], "arm64");
        assert!(t["vcpus"].as_u64().unwrap() >= 4);
        assert!(t["memory_mib"].as_u64().unwrap() >= 16384);
        assert_eq!(t["region"], "eu-west-1");
    }
    let gpus = json(&["catalog", "--gpu", "--json"]);
    assert!(gpus
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["gpu_count"].as_u64().unwrap() > 0));
    let table = stdout(&karpdeck(&[
        "catalog",
        "--min-vcpus",
        "96",
        "--arch",
        "amd64",
    ]));
    assert!(table.starts_with("NAME"), "{table}");
    assert!(table.contains("instance types in us-east-1"), "{table}");
}

/// Run with a scenario file written from `text`; expect exit 2 and one error line.
fn bad_scenario(name: &str, text: &str) -> String {
    let path = scratch_dir().join(name);
    std::fs::write(&path, text).unwrap();
    let o = karpdeck(&["inspect", "--scenario", path.to_str().unwrap()]);
    let stderr = String::from_utf8(o.stderr).unwrap();
    assert_eq!(o.status.code(), Some(2), "stderr: {stderr}");
    assert!(o.stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("karpdeck: error: "), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    stderr
}

#[test]
fn malformed_input_is_one_line_and_exit_2() {
    let e = bad_scenario(
        "yaml.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: [\n",
    );
    assert!(e.contains("yaml.yaml: invalid YAML"), "{e}");

    let e = bad_scenario(
        "quantity.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\nspec:\n  containers:\n  - name: c\n    resources: {requests: {memory: 12XB}}\n",
    );
    assert!(
        e.contains("quantity.yaml: document 1 (Pod ns/p): spec.containers[0].resources.requests.memory: invalid quantity \"12XB\""),
        "{e}"
    );

    let e = bad_scenario(
        "nocontainers.yaml",
        "apiVersion: v1\nkind: Node\nmetadata: {name: n}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\nspec:\n  nodeName: n\n",
    );
    assert!(
        e.contains("document 2 (Pod ns/p): spec: containers: a pod needs at least one container"),
        "{e}"
    );

    let e = bad_scenario(
        "operator.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c}]\n  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        nodeSelectorTerms:\n        - matchExpressions:\n          - {key: zone, operator: Near, values: [a]}\n",
    );
    assert!(
        e.contains("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator: unknown operator \"Near\""),
        "{e}"
    );

    let e = bad_scenario(
        "provisioner.yaml",
        "apiVersion: karpenter.sh/v1alpha5\nkind: Provisioner\nmetadata: {name: default}\nspec:\n  limits: {resources: {cpu: lots}}\n",
    );
    assert!(
        e.contains("(Provisioner default): spec.limits.resources.cpu: invalid quantity \"lots\""),
        "{e}"
    );
}

#[test]
fn bad_flags_and_files_exit_2() {
    let missing = karpdeck(&["inspect", "--scenario", "/nonexistent/cluster.yaml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/cluster.yaml: cannot read")
    );

    let scale = karpdeck(&[
        "inspect",
        "--scenario",
        &scenario("seed-lab.yaml"),
        "--scale",
        "default/nope=3",
    ]);
    assert_eq!(scale.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&scale.stderr).contains("--scale default/nope=3: no Deployment")
    );

    let memory = karpdeck(&["catalog", "--min-memory", "12XB"]);
    assert_eq!(memory.status.code(), Some(2));
    let region = karpdeck(&["catalog", "--region", "mars-north-1"]);
    assert_eq!(region.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&region.stderr).contains("not in the embedded catalog"));
}

#[test]
fn plan_seed_lab_json_matches_the_lab_log() {
    let v = json(&[
        "plan",
        "--scenario",
        &scenario("seed-lab.yaml"),
        "--scale",
        "nlb-app-karpenter/nginx-deployment=6",
        "--strategy",
        "karpenter",
        "--json",
    ]);
    let prov = &v["provisioning"];
    let existing = prov["existing_placements"].as_array().unwrap();
    assert_eq!(existing.len(), 1);
    assert_eq!(
        existing[0]["node"],
        "ip-172-31-75-60.ap-southeast-1.compute.internal"
    );
    let claims = prov["nodeclaims"].as_array().unwrap();
    assert_eq!(claims.len(), 2);
    assert_eq!(claims[0]["pods"].as_array().unwrap().len(), 3);
    assert_eq!(claims[0]["requests"]["cpu"], "6825m");
    assert_eq!(claims[0]["requests"]["memory"], "12025950Ki");
    assert_eq!(claims[0]["requests"]["pods"], "7");
    assert_eq!(
        claims[0]["instance_types"],
        serde_json::json!(["c6g.2xlarge"])
    );
    assert_eq!(claims[1]["pods"].as_array().unwrap().len(), 1);
    assert_eq!(claims[1]["requests"]["cpu"], "2825m");
    assert_eq!(claims[1]["requests"]["memory"], "4213450Ki");
    assert_eq!(claims[1]["requests"]["pods"], "5");
    let mut types: Vec<&str> = claims[1]["instance_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    types.sort();
    assert_eq!(types, ["c6g.2xlarge", "m6g.xlarge", "r6g.xlarge"]);
    for c in claims {
        assert_eq!(c["capacity_types"], serde_json::json!(["spot"]));
        assert_eq!(c["nodepool"], "default");
    }
    assert!(prov["unschedulable"].as_array().unwrap().is_empty());
    assert_eq!(v["disruption"]["actions"], serde_json::json!([]));
    let cost = &v["cost"];
    assert!(
        cost["planned_per_hour"].as_f64().unwrap() > cost["current_per_hour"].as_f64().unwrap()
    );
}

#[test]
fn plan_text_reads_like_karpenters_log() {
    let out = stdout(&karpdeck(&[
        "plan",
        "--scenario",
        &scenario("seed-lab.yaml"),
        "--scale",
        "nlb-app-karpenter/nginx-deployment=6",
    ]));
    assert!(out.contains("found provisionable pod(s)  pods=5"), "{out}");
    assert!(
        out.contains("computed new nodeclaim(s) to fit pod(s)  nodeclaims=2 pods=4"),
        "{out}"
    );
    assert!(out.contains(r#"created nodeclaim  nodepool=default requests={"cpu":"6825m","memory":"12025950Ki","pods":"7"} instance-types=c6g.2xlarge"#), "{out}");
    assert!(out.contains("COST  now $"), "{out}");
    let bad = karpdeck(&[
        "plan",
        "--scenario",
        &scenario("seed-lab.yaml"),
        "--strategy",
        "cheapest",
    ]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn gen_writes_a_loadable_reproducible_scenario() {
    let a = stdout(&karpdeck(&[
        "gen",
        "--nodes",
        "3",
        "--pending",
        "40",
        "--seed",
        "9",
        "--types",
        "60",
    ]));
    let b = stdout(&karpdeck(&[
        "gen",
        "--nodes",
        "3",
        "--pending",
        "40",
        "--seed",
        "9",
        "--types",
        "60",
    ]));
    assert_eq!(a, b);
    let path = scratch_dir().join("gen.yaml");
    std::fs::write(&path, &a).unwrap();
    let v = json(&["plan", "--scenario", path.to_str().unwrap(), "--json"]);
    let placed = v["provisioning"]["existing_placements"]
        .as_array()
        .unwrap()
        .len()
        + v["provisioning"]["nodeclaims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["pods"].as_array().unwrap().len())
            .sum::<usize>();
    let failed = v["provisioning"]["unschedulable"].as_array().unwrap().len();
    assert_eq!(placed + failed, 40);
}

#[test]
fn drain_prints_a_plan_and_rejects_unknown_nodes() {
    let node = "ip-172-31-82-248.ap-southeast-1.compute.internal";
    let out = stdout(&karpdeck(&[
        "drain",
        "--scenario",
        &scenario("seed-lab.yaml"),
        node,
    ]));
    assert!(
        out.contains("DaemonSet-managed pod (use --ignore-daemonsets to override)"),
        "{out}"
    );
    assert!(out.contains("the drain would stop"), "{out}");
    let v = json(&[
        "drain",
        "--scenario",
        &scenario("seed-lab.yaml"),
        node,
        "--ignore-daemonsets",
        "--json",
    ]);
    assert_eq!(v["can_proceed"], true);
    assert_eq!(v["steps"].as_array().unwrap().len(), 7);
    let bad = karpdeck(&[
        "drain",
        "--scenario",
        &scenario("seed-lab.yaml"),
        "no-such-node",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("node \"no-such-node\" is not in"));
}

#[test]
fn plan_shows_the_lab_scale_down() {
    let v = json(&[
        "plan",
        "--scenario",
        &scenario("seed-lab-scaledown.yaml"),
        "--now",
        "2023-07-12T15:00:00Z",
        "--json",
    ]);
    let actions = v["disruption"]["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0]["kind"], "delete");
    assert_eq!(actions[0]["reason"], "empty");
    let mut nodes: Vec<&str> = actions[0]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    nodes.sort();
    assert_eq!(
        nodes,
        [
            "ip-172-31-56-118.ap-southeast-1.compute.internal",
            "ip-172-31-86-165.ap-southeast-1.compute.internal"
        ]
    );
    assert_eq!(actions[0]["pods_moved"], 0);
    assert!(actions[0]["savings_per_hour"].as_f64().unwrap() > 0.0);
    let bad = karpdeck(&[
        "plan",
        "--scenario",
        &scenario("seed-lab.yaml"),
        "--now",
        "yesterday",
    ]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn audit_reports_findings() {
    let out = stdout(&karpdeck(&[
        "audit",
        "--scenario",
        &scenario("best-practices.yaml"),
    ]));
    assert!(out.contains("WARN nodepool-without-limits"), "{out}");
    let v = json(&["audit", "--scenario", &scenario("seed-lab.yaml"), "--json"]);
    let rules: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"spot-too-few-types"), "{rules:?}");
}

#[test]
fn a_reader_that_stops_early_ends_the_output_quietly() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_karpdeck"))
        .args(["sim", "--autopilot", "--duration", "2h"])
        .env("XDG_STATE_HOME", scratch_dir())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run karpdeck");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("hpa-scaled"), "{first}");
    // The reader is gone (like `| head -1`): karpdeck stops without an error.
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// karpdeck with `KUBECONFIG` (several files) and `HOME` set as given, nothing else of the
/// developer's.
fn karpdeck_with_kubeconfig(kubeconfig: Option<&str>, home: &Path, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_karpdeck"));
    c.args(args)
        .env("XDG_STATE_HOME", scratch_dir().join("state"))
        .env("HOME", home)
        .env_remove("KUBECONFIG");
    if let Some(k) = kubeconfig {
        c.env("KUBECONFIG", k);
    }
    c.output().expect("run karpdeck")
}

#[test]
fn without_a_kubeconfig_the_live_commands_say_so_and_point_at_the_demo() {
    let home = scratch_dir().join("empty-home");
    std::fs::create_dir_all(&home).unwrap();
    for args in [&["console"][..], &["plan"], &["dump"], &[]] {
        let out = karpdeck_with_kubeconfig(None, &home, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("no kubeconfig") && err.contains("karpdeck demo"),
            "{err}"
        );
    }
}

#[test]
fn kubeconfig_files_merge_as_kubectl_merges_them() {
    let dir = scratch_dir().join("kubeconfigs");
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str, context: &str, port: u16, current: bool| {
        let path = dir.join(name);
        let current = if current {
            format!("current-context: {context}\n")
        } else {
            String::new()
        };
        std::fs::write(
            &path,
            format!("apiVersion: v1\nkind: Config\n{current}clusters:\n- name: c-{context}\n  cluster: {{server: 'https://127.0.0.1:{port}'}}\nusers:\n- name: u-{context}\n  user: {{token: t}}\ncontexts:\n- name: {context}\n  context: {{cluster: c-{context}, user: u-{context}}}\n"),
        )
        .unwrap();
        path.display().to_string()
    };
    let joined = format!(
        "{}:{}",
        file("a.yaml", "first", 1, true),
        file("b.yaml", "second", 2, false)
    );
    let home = scratch_dir();
    // An unknown context lists those of both files.
    let out = karpdeck_with_kubeconfig(Some(&joined), &home, &["plan", "--context", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no context \"nope\" (contexts: first, second)"),
        "{err}"
    );
    // The second file's context is used (its server is not there: a one-line error, exit 1).
    let out = karpdeck_with_kubeconfig(Some(&joined), &home, &["inspect", "--context", "second"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(
            "karpdeck: error: context second: discovering the API of https://127.0.0.1:2/:"
        ),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// A pod's grace period is input: one beyond any clock's reach is taken as ten years (a drain
/// that evicts it runs, no overflow panic), and a negative one is refused naming the field.
#[test]
fn grace_periods_from_input_are_bounded() {
    let lab = std::fs::read_to_string(scenario("seed-lab.yaml")).unwrap();
    let pod = |grace: &str| {
        format!(
            "\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: forever\n  namespace: default\n  ownerReferences:\n  - apiVersion: apps/v1\n    kind: ReplicaSet\n    name: forever-1\n    controller: true\n    uid: uid-forever-1\nspec:\n  terminationGracePeriodSeconds: {grace}\n  containers:\n  - name: c\n    image: example/img\n    resources:\n      requests:\n        cpu: 100m\n  nodeName: ip-172-31-55-131.ap-southeast-1.compute.internal\nstatus:\n  phase: Running\n  conditions:\n  - type: Ready\n    status: 'True'\n"
        )
    };
    let dir = scratch_dir();
    let huge = dir.join("grace-huge.yaml");
    std::fs::write(&huge, format!("{lab}{}", pod("9223372036854775807"))).unwrap();
    let out = karpdeck(&[
        "sim",
        "--scenario",
        huge.to_str().unwrap(),
        "--supervised",
        "--approve-all",
        "--drain",
        "ip-172-31-55-131.ap-southeast-1.compute.internal",
        "--duration",
        "3m",
        "--journal",
        dir.join("grace-journal.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let negative = dir.join("grace-negative.yaml");
    std::fs::write(&negative, format!("{lab}{}", pod("-5"))).unwrap();
    let out = karpdeck(&["plan", "--scenario", negative.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("spec.terminationGracePeriodSeconds") && err.contains("-5 is negative"),
        "{err}"
    );
}

/// Only regular files are read: `/dev/zero` and a FIFO are refused at once, naming the file.
#[test]
fn devices_and_pipes_are_refused_as_scenarios() {
    let out = karpdeck(&["plan", "--scenario", "/dev/zero"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/dev/zero: cannot read: not a regular file"),
        "{err}"
    );
    let fifo = scratch_dir().join("scenario.fifo");
    let _ = std::fs::remove_file(&fifo);
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_karpdeck"))
        .args(["plan", "--scenario", fifo.to_str().unwrap()])
        .env("XDG_STATE_HOME", scratch_dir().join("state"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(10) {
            let _ = child.kill();
            panic!("karpdeck blocked reading a FIFO");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(2));
    let _ = std::fs::remove_file(&fifo);
}

/// Values karpdeck cannot honour are refused with one line and exit 2, never planned around:
/// a region the catalog lacks, a negative limit, a limit naming no resource.
#[test]
fn unusable_values_are_refused() {
    let lab = scenario("seed-lab.yaml");
    for (args, says) in [
        (
            vec!["plan", "--scenario", lab.as_str(), "--region", "nope-1"],
            "--region nope-1: not in the embedded catalog",
        ),
        (
            vec!["sim", "--region", "nope-1", "--duration", "1m"],
            "--region nope-1: not in the embedded catalog",
        ),
        (
            vec![
                "plan",
                "--scenario",
                lab.as_str(),
                "--set-limit",
                "default:cpu=-5",
            ],
            "a limit cannot be negative",
        ),
        (
            vec![
                "plan",
                "--scenario",
                lab.as_str(),
                "--set-limit",
                "default:=5",
            ],
            "a part is empty",
        ),
    ] {
        let out = karpdeck(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
