//! Permissions on the real apiserver: what the user may not do is shown disabled with the
//! missing permission, never offered and then refused.

use kube::api::{DeleteParams, DynamicObject};
use kube::Api;
use serde_json::json;

use super::{apply, Rig};

/// The rig's `viewer`, allowed to read everything and to change nothing, opens the console:
/// drain is refused before it is proposed, naming what is missing, and help shows it disabled.
pub fn a_user_who_may_not_evict_sees_drain_disabled(rig: &Rig, rt: &tokio::runtime::Runtime) {
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
    let session = rig.console("access", "console --context rig-viewer", 40);
    let screen = session.wait_for("ip-172-31-55-131");
    assert!(screen.contains("context rig-viewer"), "{screen}");
    session.keys(&["d"]);
    session.wait_for("not permitted: context rig-viewer may not patch nodes, create pods/eviction");
    session.keys(&["?"]);
    let help = session.wait_for("keys (any key closes)");
    assert!(
        help.contains("Propose draining the selected node. — not permitted"),
        "{help}"
    );
    drop(session);
    for object in [&binding, &role] {
        let api: Api<DynamicObject> = Api::all_with(rig.client.clone(), &apply::resource(object));
        let name = object["metadata"]["name"].as_str().unwrap();
        rt.block_on(api.delete(name, &DeleteParams::default()))
            .unwrap();
    }
}
