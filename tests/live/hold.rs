//! karpdeck's holds on NodePools through the real apiserver: `freeze`, `supervise`,
//! `unfreeze` and `release` as an operator runs them (the binary, previewed, then `--yes`),
//! each NodePool's spec back exactly as it was, another karpdeck's supervision refused, a
//! supervision released by a new process, and a user who may not patch NodePools refused
//! before anything is asked of the cluster.

use std::process::{Command, Output};

use kube::api::{ApiResource, DynamicObject};
use kube::Api;
use serde_json::{json, Value};

use super::{apply, stdout, Rig};

/// The two NodePools held: one with limits and two budgets, one with neither.
fn pools() -> [Value; 2] {
    let template = json!({"spec": {
        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
        "requirements": [{"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]}],
    }});
    [
        json!({
            "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {"name": "hold-general", "annotations": {"team": "platform"}},
            "spec": {
                "limits": {"cpu": "1000", "memory": "4000Gi"},
                "disruption": {
                    "consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "30s",
                    "budgets": [{"nodes": "10%"},
                                {"nodes": "0", "schedule": "0 9 * * mon-fri", "duration": "8h", "reasons": ["Drifted"]}],
                },
                "template": template,
            },
        }),
        json!({
            "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {"name": "hold-batch"},
            "spec": {"template": template},
        }),
    ]
}

/// `karpdeck ARGS --kubeconfig K` as `user`, with a journal of its own.
fn run(rig: &Rig, user: &str, args: &[&str]) -> Output {
    let live = ["--kubeconfig", rig.k()];
    let live = if args[0] == "journal" {
        &live[..0]
    } else {
        &live[..]
    };
    Command::new(env!("CARGO_BIN_EXE_karpdeck"))
        .args(args)
        .args(live)
        .env("USER", user)
        .env("XDG_STATE_HOME", rig.scratch.join("hold-state"))
        .output()
        .expect("run karpdeck")
}

/// The command succeeded; its output.
fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
}

pub fn holds_change_only_what_they_say_and_come_off_exactly(
    rig: &Rig,
    rt: &tokio::runtime::Runtime,
) {
    let api: Api<DynamicObject> = Api::all_with(
        rig.client.clone(),
        &ApiResource {
            group: "karpenter.sh".into(),
            version: "v1".into(),
            api_version: "karpenter.sh/v1".into(),
            kind: "NodePool".into(),
            plural: "nodepools".into(),
        },
    );
    for pool in pools() {
        rt.block_on(apply::create(&rig.client, &pool, false));
    }
    let read = |name: &str| -> Value {
        let o = rt.block_on(api.get(name)).unwrap();
        json!({"spec": o.data["spec"], "annotations": o.metadata.annotations})
    };
    let before = [read("hold-general"), read("hold-batch")];

    // Previewed only: nothing changes without --yes.
    let preview = ok(run(rig, "alice", &["freeze"]));
    assert!(preview.contains("nothing changed"), "{preview}");
    assert!(preview.contains("does NOT stop"), "{preview}");
    assert_eq!([read("hold-general"), read("hold-batch")], before);

    // A user who may not patch NodePools is refused before anything is asked.
    let viewer = super::access::as_reader(rig, rt, || {
        run(
            rig,
            "viewer",
            &["freeze", "--context", "rig-viewer", "--yes"],
        )
    });
    assert!(!viewer.status.success());
    let why = String::from_utf8_lossy(&viewer.stderr);
    assert!(
        why.contains("may not patch nodepools.karpenter.sh"),
        "{why}"
    );

    ok(run(rig, "alice", &["freeze", "--yes"]));
    for name in ["hold-general", "hold-batch"] {
        let now = read(name);
        assert_eq!(
            now["spec"]["disruption"]["budgets"],
            json!([{"nodes": "0"}]),
            "{name}"
        );
        let by = now["annotations"]["karpdeck.io/frozen"].as_str().unwrap();
        assert!(by.starts_with("alice@"), "{by}");
    }
    // The rest of the spec is untouched.
    let frozen = read("hold-general");
    assert_eq!(frozen["spec"]["limits"], before[0]["spec"]["limits"]);
    assert_eq!(
        frozen["spec"]["disruption"]["consolidateAfter"],
        before[0]["spec"]["disruption"]["consolidateAfter"]
    );
    // Freezing again changes nothing and is no failure.
    assert!(ok(run(rig, "alice", &["freeze", "--yes"])).contains("nothing to do"));

    let supervised = ok(run(rig, "alice", &["supervise", "hold-general", "--yes"]));
    assert!(supervised.contains("done"), "{supervised}");
    let now = read("hold-general");
    // No node of the pool exists: its usage, and so its limits, are zero.
    assert_eq!(now["spec"]["limits"], json!({"cpu": "0", "memory": "0"}));
    // Another karpdeck is refused, and told whose supervision it is.
    let bob = run(rig, "bob", &["supervise", "hold-general", "--yes"]);
    assert!(!bob.status.success());
    let why = String::from_utf8_lossy(&bob.stderr);
    assert!(why.contains("already supervised by alice@"), "{why}");

    // Unfrozen while supervised: budgets stay at zero, limits stay pinned.
    ok(run(rig, "alice", &["unfreeze", "--yes"]));
    assert_eq!(read("hold-batch"), before[1]);
    let now = read("hold-general");
    assert_eq!(
        now["spec"]["disruption"]["budgets"],
        json!([{"nodes": "0"}])
    );
    assert_eq!(now["spec"]["limits"], json!({"cpu": "0", "memory": "0"}));

    // alice's karpdeck is gone; a new one (bob's) releases what it held, exactly.
    ok(run(rig, "bob", &["release", "hold-general", "--yes"]));
    assert_eq!(read("hold-general"), before[0]);

    // The console does the same through its palette: proposed, approved, shown in the header.
    let session = rig.console("hold", "console", 40);
    session.wait_for("hold-general");
    for (command, frozen) in [(":freeze", true), (":unfreeze", false)] {
        session.keys(&[command, "Enter"]);
        session.wait_for("proposed: review it");
        session.keys(&["a"]);
        session.wait_for("press y to approve");
        session.keys(&["y"]);
        let started = std::time::Instant::now();
        loop {
            let screen = session.screen();
            let header = screen.lines().next().unwrap_or_default().to_string();
            // Both pools frozen as the watch shows them, before the next proposal is built.
            if header.contains("(2 of 2 nodepools)") == frozen
                && header.contains(" FROZEN ") == frozen
            {
                break;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(20),
                "{command}: the header never changed:\n{screen}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let budgets = &read("hold-batch")["spec"]["disruption"]["budgets"];
        assert_eq!(
            budgets == &json!([{"nodes": "0"}]),
            frozen,
            "{command}: {budgets}"
        );
    }
    drop(session);
    assert_eq!(read("hold-general"), before[0]);
    assert_eq!(read("hold-batch"), before[1]);

    // Each change is in the journal, approved and done.
    let journal = ok(run(rig, "bob", &["journal"]));
    for action in ["freeze", "supervise", "unfreeze", "release"] {
        assert!(
            journal
                .lines()
                .any(|l| l.contains(action) && l.contains(" done ")),
            "{action}:\n{journal}"
        );
    }
}
