//! What karpdeck reads from a cluster, and which of it this API server serves: each source is
//! a resource at the first of its versions that discovery finds (policy/v1 before v1beta1,
//! karpenter.sh/v1 before v1beta1). A source the server lacks (no Karpenter CRDs) is absent,
//! which is normal.

use std::collections::HashMap;

use ::kube::core::ApiResource;
use ::kube::Client;

/// One resource karpdeck watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKind {
    /// v1 Namespaces (labels for namespace selectors).
    Namespaces,
    /// v1 Nodes.
    Nodes,
    /// v1 Pods.
    Pods,
    /// apps/v1 DaemonSets.
    DaemonSets,
    /// apps/v1 Deployments.
    Deployments,
    /// apps/v1 ReplicaSets.
    ReplicaSets,
    /// apps/v1 StatefulSets.
    StatefulSets,
    /// PodDisruptionBudgets (policy/v1 or v1beta1).
    PodDisruptionBudgets,
    /// karpenter.sh NodePools (v1 or v1beta1).
    NodePools,
    /// karpenter.sh/v1alpha5 Provisioners.
    Provisioners,
    /// karpenter.sh NodeClaims (v1 or v1beta1).
    NodeClaims,
    /// karpenter.sh/v1alpha5 Machines.
    Machines,
    /// karpenter.k8s.aws EC2NodeClasses.
    Ec2NodeClasses,
    /// karpenter.k8s.aws/v1alpha1 AWSNodeTemplates.
    AwsNodeTemplates,
    /// The `coredns` ConfigMap (the audit reads its Corefile).
    CoreDnsConfig,
    /// Karpenter's `karpenter-global-settings` ConfigMap.
    KarpenterSettings,
    /// Events Karpenter records (why it launched, disrupted, or would not).
    KarpenterEvents,
}

/// A resource as karpdeck asks for it: versions in order of preference.
struct Wanted {
    kind: SourceKind,
    group: &'static str,
    versions: &'static [&'static str],
    api_kind: &'static str,
    plural: &'static str,
    field_selector: Option<&'static str>,
}

const WANTED: &[Wanted] = &[
    wanted(
        SourceKind::Namespaces,
        "",
        &["v1"],
        "Namespace",
        "namespaces",
    ),
    wanted(SourceKind::Nodes, "", &["v1"], "Node", "nodes"),
    wanted(SourceKind::Pods, "", &["v1"], "Pod", "pods"),
    wanted(
        SourceKind::DaemonSets,
        "apps",
        &["v1"],
        "DaemonSet",
        "daemonsets",
    ),
    wanted(
        SourceKind::Deployments,
        "apps",
        &["v1"],
        "Deployment",
        "deployments",
    ),
    wanted(
        SourceKind::ReplicaSets,
        "apps",
        &["v1"],
        "ReplicaSet",
        "replicasets",
    ),
    wanted(
        SourceKind::StatefulSets,
        "apps",
        &["v1"],
        "StatefulSet",
        "statefulsets",
    ),
    wanted(
        SourceKind::PodDisruptionBudgets,
        "policy",
        &["v1", "v1beta1"],
        "PodDisruptionBudget",
        "poddisruptionbudgets",
    ),
    wanted(
        SourceKind::NodePools,
        "karpenter.sh",
        &["v1", "v1beta1"],
        "NodePool",
        "nodepools",
    ),
    wanted(
        SourceKind::Provisioners,
        "karpenter.sh",
        &["v1alpha5"],
        "Provisioner",
        "provisioners",
    ),
    wanted(
        SourceKind::NodeClaims,
        "karpenter.sh",
        &["v1", "v1beta1"],
        "NodeClaim",
        "nodeclaims",
    ),
    wanted(
        SourceKind::Machines,
        "karpenter.sh",
        &["v1alpha5"],
        "Machine",
        "machines",
    ),
    wanted(
        SourceKind::Ec2NodeClasses,
        "karpenter.k8s.aws",
        &["v1", "v1beta1"],
        "EC2NodeClass",
        "ec2nodeclasses",
    ),
    wanted(
        SourceKind::AwsNodeTemplates,
        "karpenter.k8s.aws",
        &["v1alpha1"],
        "AWSNodeTemplate",
        "awsnodetemplates",
    ),
    Wanted {
        field_selector: Some("metadata.name=coredns"),
        ..wanted(
            SourceKind::CoreDnsConfig,
            "",
            &["v1"],
            "ConfigMap",
            "configmaps",
        )
    },
    Wanted {
        field_selector: Some("metadata.name=karpenter-global-settings"),
        ..wanted(
            SourceKind::KarpenterSettings,
            "",
            &["v1"],
            "ConfigMap",
            "configmaps",
        )
    },
    Wanted {
        field_selector: Some("source=karpenter"),
        ..wanted(SourceKind::KarpenterEvents, "", &["v1"], "Event", "events")
    },
];

const fn wanted(
    kind: SourceKind,
    group: &'static str,
    versions: &'static [&'static str],
    api_kind: &'static str,
    plural: &'static str,
) -> Wanted {
    Wanted {
        kind,
        group,
        versions,
        api_kind,
        plural,
        field_selector: None,
    }
}

impl SourceKind {
    /// Every source, in the order a snapshot is assembled.
    pub fn all() -> impl Iterator<Item = SourceKind> {
        WANTED.iter().map(|w| w.kind)
    }

    fn wanted(self) -> &'static Wanted {
        WANTED
            .iter()
            .find(|w| w.kind == self)
            .expect("every SourceKind is in WANTED")
    }

    /// The resource's plural, as the API and kubectl name it (`nodes`, `nodepools`).
    pub fn plural(self) -> &'static str {
        self.wanted().plural
    }

    /// The source as messages name it: its plural, or which ConfigMap or events.
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::CoreDnsConfig => "coredns configmap",
            SourceKind::KarpenterSettings => "karpenter settings configmap",
            SourceKind::KarpenterEvents => "karpenter events",
            other => other.plural(),
        }
    }

    /// Whether karpdeck can do without the source where it may not read it (the ConfigMaps
    /// only the audit reads).
    pub fn optional(self) -> bool {
        matches!(
            self,
            SourceKind::CoreDnsConfig | SourceKind::KarpenterSettings | SourceKind::KarpenterEvents
        )
    }

    /// The field selector that narrows the source (the two ConfigMaps), if any.
    pub fn field_selector(self) -> Option<&'static str> {
        self.wanted().field_selector
    }
}

/// A source the server serves, at the version discovery chose.
#[derive(Debug, Clone)]
pub struct Source {
    /// Which source.
    pub kind: SourceKind,
    /// The resource at its served version.
    pub resource: ApiResource,
}

impl Source {
    /// The API to list and watch it with: cluster-wide, but for the `coredns` ConfigMap,
    /// which is kube-system's (another namespace's of that name is not the cluster's DNS).
    pub fn api(&self, client: &Client) -> ::kube::Api<super::raw::Raw> {
        match self.kind {
            SourceKind::CoreDnsConfig => {
                ::kube::Api::namespaced_with(client.clone(), "kube-system", &self.resource)
            }
            _ => ::kube::Api::all_with(client.clone(), &self.resource),
        }
    }
}

/// Which sources the server serves. Each group/version is asked once; a 404 means absent.
pub async fn discover(client: &Client) -> Result<Vec<Source>, ::kube::Error> {
    let mut served: HashMap<String, Vec<String>> = HashMap::new();
    let mut sources = Vec::new();
    for w in WANTED {
        for version in w.versions {
            let api_version = if w.group.is_empty() {
                version.to_string()
            } else {
                format!("{}/{version}", w.group)
            };
            if !served.contains_key(&api_version) {
                let list = if w.group.is_empty() {
                    client.list_core_api_resources(version).await
                } else {
                    client.list_api_group_resources(&api_version).await
                };
                let plurals = match list {
                    Ok(l) => l.resources.into_iter().map(|r| r.name).collect(),
                    Err(::kube::Error::Api(s)) if s.code == 404 => Vec::new(),
                    Err(e) => return Err(e),
                };
                served.insert(api_version.clone(), plurals);
            }
            if served[&api_version].iter().any(|p| p == w.plural) {
                sources.push(Source {
                    kind: w.kind,
                    resource: ApiResource {
                        group: w.group.to_string(),
                        version: version.to_string(),
                        api_version,
                        kind: w.api_kind.to_string(),
                        plural: w.plural.to_string(),
                    },
                });
                break;
            }
        }
    }
    Ok(sources)
}
