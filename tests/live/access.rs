//! Permissions on the real apiserver: what the user may not do is shown disabled with the
//! missing permission, never offered and then refused.

use kube::api::{DeleteParams, DynamicObject};
use kube::Api;
use serde_json::json;

use super::{apply, Rig};

/// The rig's `viewer`, allowed to read everything and to change nothing, opens the console:
/// drain is refused before it is proposed, naming what is missing, and help shows it disabled.
pub fn a_user_who_may_not_evict_sees_drain_disabled(rig: &Rig, rt: &tokio::runtime::Runtime) {
    as_reader(rig, rt, || {
        let session = rig.console("access", "console --context rig-viewer", 40);
        let screen = session.wait_for("ip-172-31-55-131");
        assert!(screen.contains("context rig-viewer"), "{screen}");
        session.keys(&["d"]);
        session.wait_for(
            "not permitted: context rig-viewer may not patch nodes, create pods/eviction",
        );
        session.keys(&["?"]);
        // Waited for, not read once: tmux may catch the help box half drawn.
        let help = session.wait_for("Propose draining the selected node. — not permitted");
        assert!(help.contains("keys (any key closes)"), "{help}");
    });
}

/// Run `f` while the rig's `viewer` may read everything (and change nothing).
pub fn as_reader<T>(rig: &Rig, rt: &tokio::runtime::Runtime, f: impl FnOnce() -> T) -> T {
    let role = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "karpdeck-reader"},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}],
    });
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "karpdeck-reader-viewer"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "karpdeck-reader"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "viewer"}],
    });
    rt.block_on(apply::create(&rig.client, &role, false));
    rt.block_on(apply::create(&rig.client, &binding, false));
    // Taken back however `f` ends: a failed test must not leave the viewer able to read.
    struct Revoke<'a>(&'a Rig, &'a tokio::runtime::Runtime, [serde_json::Value; 2]);
    impl Drop for Revoke<'_> {
        fn drop(&mut self) {
            for object in &self.2 {
                let api: Api<DynamicObject> =
                    Api::all_with(self.0.client.clone(), &apply::resource(object));
                let name = object["metadata"]["name"].as_str().unwrap_or_default();
                let _ = self.1.block_on(api.delete(name, &DeleteParams::default()));
            }
        }
    }
    let _revoke = Revoke(rig, rt, [binding, role]);
    // The apiserver's authorizer learns of the binding from its own watch, a moment later.
    let review = json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "metadata": {},
        "spec": {"user": "viewer", "resourceAttributes": {
            "verb": "list", "group": "karpenter.sh", "resource": "nodepools"}},
    });
    let reviews: Api<DynamicObject> = Api::all_with(rig.client.clone(), &apply::resource(&review));
    let allowed = || -> Result<(), String> {
        let r: DynamicObject = serde_json::from_value(review.clone()).unwrap();
        let answer = rt
            .block_on(reviews.create(&Default::default(), &r))
            .map_err(|e| e.to_string())?;
        match answer.data["status"]["allowed"].as_bool() {
            Some(true) => Ok(()),
            _ => Err(answer.data["status"].to_string()),
        }
    };
    super::wait_until(
        rt,
        std::time::Duration::from_secs(30),
        "viewer may read",
        allowed,
    );
    f()
}

/// A console session in `--read-only`, with the keys for every action, makes not one mutating
/// request: the apiserver's audit log is the witness. Only the rig's `admin` user's requests
/// count (the control plane's own components write as themselves), less the kubelet stand-in's
/// status updates and karpdeck's access reviews, which change nothing.
pub fn a_read_only_console_changes_nothing(rig: &Rig, _rt: &tokio::runtime::Runtime) {
    let audit_log = std::env::var("KARPDECK_RIG_AUDIT_LOG").expect("the rig's audit log");
    let session = rig.console("readonly", "--read-only", 40);
    session.wait_for("live (");
    let from = std::fs::metadata(&audit_log).unwrap().len() as usize;
    let node = "ip-172-31-55-131.ap-southeast-1.compute.internal";
    // Every key that proposes, approves, rejects or cancels; and the palette's drain.
    for keys in [
        &["1", "g", "d"][..],
        &["a", node, "Enter"],
        &["y"],
        &["1", "c"],
        &["a", "y"],
        &["1", "r"],
        &["A", "approve all", "Enter"],
        &["x"],
        &["C"],
        &[":drain ", node, " --disable-eviction --force", "Enter"],
        &["a", node, "Enter"],
        &[":approve p1", "Enter"],
    ] {
        session.keys(keys);
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    std::thread::sleep(std::time::Duration::from_secs(3));
    let screen = session.screen();
    drop(session);
    let text = std::fs::read_to_string(&audit_log).unwrap();
    let mutating: Vec<String> = text[from..]
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["stage"] == "ResponseComplete" && e["user"]["username"] == "admin")
        .filter(|e| {
            matches!(
                e["verb"].as_str(),
                Some("create" | "update" | "patch" | "delete" | "deletecollection")
            )
        })
        .filter(|e| e["objectRef"]["subresource"] != "status")
        .filter(|e| e["objectRef"]["apiGroup"] != "authorization.k8s.io")
        .map(|e| format!("{} {} ({})", e["verb"], e["requestURI"], e["userAgent"]))
        .collect();
    assert!(mutating.is_empty(), "{mutating:#?}\n{screen}");
}
