//! What the watchers have seen, kept as the [`Snapshot`] itself: a watch event replaces,
//! adds or removes one object in place (an index finds it), so a change costs the object, not
//! the cluster; a re-list swaps a source's objects whole when it completes, as kube-runtime's
//! reflector does. Each source's state (syncing, live, reconnecting since …) is kept beside.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::sources::{Source, SourceKind};
use crate::catalog::Catalog;
use crate::control::SourceState;
use crate::k8s::{Converted, KubeEvent, Object};
use crate::model::{PodTally, Snapshot};

/// Karpenter events kept for a reader that has not looked yet.
const MAX_FRESH_EVENTS: usize = 1000;

/// One source: how it stands.
#[derive(Debug, Clone)]
pub struct SourceStatus {
    /// Which source.
    pub kind: SourceKind,
    /// Its state.
    pub state: SourceState,
    /// When it last delivered an event (data or error).
    pub last_event: Option<DateTime<Utc>>,
    /// Whether it has completed a list at least once.
    pub synced_once: bool,
    /// Whether its latest failure is one retrying will not cure (401, 403, 404).
    pub permanent: bool,
}

/// An object's identity: its source, namespace and name.
pub type Key = (SourceKind, String, String);

/// What a watcher tells the store, in the order it happened.
#[derive(Debug)]
pub enum Change {
    /// A re-list began: its objects replace the source's when it is done.
    Relisting,
    /// An object of the re-list in progress.
    Listed(Key, Converted),
    /// The re-list is complete.
    ListDone,
    /// An object was added or changed.
    Applied(Key, Converted),
    /// An object is gone.
    Deleted(Key),
    /// The converter refused an object: the message names it and the field.
    Refused(Key, String),
    /// The list or watch failed; the watcher tries again.
    Failed {
        /// The error, on one line.
        error: String,
        /// Whether retrying will not cure it (401, 403, 404).
        permanent: bool,
    },
}

/// Positions of one kind of object in its snapshot list, by key, with the keys in list order
/// (so a removal can move the last object into the gap and fix its index).
#[derive(Debug, Default)]
struct Slots {
    keys: Vec<Key>,
    index: HashMap<Key, usize>,
}

impl Slots {
    fn put<T>(&mut self, list: &mut Vec<T>, key: Key, value: T) {
        match self.index.get(&key) {
            Some(&i) => list[i] = value,
            None => {
                self.index.insert(key.clone(), list.len());
                self.keys.push(key);
                list.push(value);
            }
        }
    }

    fn remove<T>(&mut self, list: &mut Vec<T>, key: &Key) {
        let Some(i) = self.index.remove(key) else {
            return;
        };
        list.swap_remove(i);
        self.keys.swap_remove(i);
        if let Some(moved) = self.keys.get(i) {
            self.index.insert(moved.clone(), i);
        }
    }

    fn remove_source<T>(&mut self, list: &mut Vec<T>, source: SourceKind) {
        let mut i = 0;
        while i < self.keys.len() {
            if self.keys[i].0 == source {
                let key = self.keys[i].clone();
                self.remove(list, &key);
            } else {
                i += 1;
            }
        }
    }

    fn forget<T>(&mut self, list: &mut Vec<T>, scope: Scope) {
        match scope {
            Scope::One(key) => self.remove(list, key),
            Scope::All(source) => self.remove_source(list, source),
        }
    }

    fn get<'a, T>(&self, list: &'a [T], key: &Key) -> Option<&'a T> {
        self.index.get(key).map(|&i| &list[i])
    }

    fn count(&self, source: SourceKind) -> usize {
        self.keys.iter().filter(|k| k.0 == source).count()
    }
}

/// What to drop: one object, or every object of a source.
#[derive(Debug, Clone, Copy)]
enum Scope<'a> {
    One(&'a Key),
    All(SourceKind),
}

/// The snapshot's lists, each with its slots.
#[derive(Debug, Default)]
struct Index {
    nodes: Slots,
    pods: Slots,
    workloads: Slots,
    daemonsets: Slots,
    pdbs: Slots,
    nodepools: Slots,
    nodeclaims: Slots,
    nodeclasses: Slots,
}

/// The objects a re-list has brought so far, and those the converter refused.
type Relist = (Vec<(Key, Converted)>, BTreeMap<Key, String>);

#[derive(Debug)]
struct Entry {
    status: SourceStatus,
    /// A re-list in progress.
    relist: Option<Relist>,
    /// Objects the converter refused, with its message.
    refused: BTreeMap<Key, String>,
}

/// Everything the watchers have seen of one cluster.
#[derive(Debug)]
pub struct Store {
    entries: Vec<Entry>,
    snapshot: Snapshot,
    index: Index,
    /// The snapshot's pods summed per node, changed with each pod's change.
    tally: PodTally,
    /// Objects that mark a Karpenter controller, with its interruption queue where set; and
    /// the settings ConfigMaps' values.
    karpenter_marks: BTreeMap<Key, Option<String>>,
    karpenter_settings: Option<Option<String>>,
    /// Karpenter's events seen (by key, with their count), to tell a new one or a repeat from
    /// one seen again in a re-list.
    event_counts: BTreeMap<Key, i64>,
    /// Events not yet taken by the reader, oldest first.
    fresh_events: Vec<KubeEvent>,
}

impl Store {
    /// An empty store for these sources.
    pub fn new(sources: &[Source], catalog: Arc<Catalog>) -> Self {
        let entries = sources
            .iter()
            .map(|source| Entry {
                status: SourceStatus {
                    kind: source.kind,
                    state: SourceState::Syncing,
                    last_event: None,
                    synced_once: false,
                    permanent: false,
                },
                relist: None,
                refused: BTreeMap::new(),
            })
            .collect();
        Self {
            entries,
            snapshot: Snapshot::empty(crate::scenario::DEFAULT_REGION, catalog),
            index: Index::default(),
            tally: PodTally::default(),
            karpenter_marks: BTreeMap::new(),
            karpenter_settings: None,
            event_counts: BTreeMap::new(),
            fresh_events: Vec::new(),
        }
    }

    /// Karpenter's events that are new (or happened again) since the last call, oldest first.
    pub fn take_fresh_events(&mut self) -> Vec<KubeEvent> {
        std::mem::take(&mut self.fresh_events)
    }

    /// The cluster as the watchers have seen it (its region is the default until a reader
    /// infers it, as for a scenario file).
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The pods' totals per node, as of the last change.
    pub fn tally(&self) -> &PodTally {
        &self.tally
    }

    /// The snapshot, for a reader that finishes it (region, PDB links) in place; pods' nodes,
    /// phases and requests are the watchers' to change (the tally follows them).
    pub fn snapshot_mut(&mut self) -> &mut Snapshot {
        &mut self.snapshot
    }

    /// Take the snapshot away (a one-shot read is done with the store), leaving an empty one.
    pub fn take_snapshot(&mut self) -> Snapshot {
        let empty = Snapshot::empty(&self.snapshot.region, self.snapshot.catalog.clone());
        self.tally = PodTally::default();
        std::mem::replace(&mut self.snapshot, empty)
    }

    /// Each source's state, in snapshot order.
    pub fn statuses(&self) -> impl Iterator<Item = &SourceStatus> {
        self.entries.iter().map(|e| &e.status)
    }

    /// Whether a source is served at all (Karpenter's are absent without its CRDs).
    pub fn serves(&self, kind: SourceKind) -> bool {
        self.entries.iter().any(|e| e.status.kind == kind)
    }

    /// Whether Karpenter is installed: its NodePool or Provisioner resource is served.
    pub fn has_karpenter(&self) -> bool {
        self.serves(SourceKind::NodePools) || self.serves(SourceKind::Provisioners)
    }

    /// Whether every source has completed a list (an optional one the server refuses for
    /// good excepted).
    pub fn synced(&self) -> bool {
        self.entries
            .iter()
            .all(|e| e.status.synced_once || (e.status.permanent && e.status.kind.optional()))
    }

    /// How many objects a source holds.
    pub fn len(&self, kind: SourceKind) -> usize {
        let i = &self.index;
        match kind {
            SourceKind::Namespaces => self.snapshot.namespaces.len(),
            SourceKind::Nodes => i.nodes.count(kind),
            SourceKind::Pods => i.pods.count(kind),
            SourceKind::Deployments | SourceKind::ReplicaSets | SourceKind::StatefulSets => {
                i.workloads.count(kind)
            }
            SourceKind::DaemonSets => i.daemonsets.count(kind),
            SourceKind::PodDisruptionBudgets => i.pdbs.count(kind),
            SourceKind::NodePools | SourceKind::Provisioners => i.nodepools.count(kind),
            SourceKind::NodeClaims | SourceKind::Machines => i.nodeclaims.count(kind),
            SourceKind::Ec2NodeClasses | SourceKind::AwsNodeTemplates => i.nodeclasses.count(kind),
            SourceKind::CoreDnsConfig => {
                usize::from(self.snapshot.settings.coredns_corefile.is_some())
            }
            SourceKind::KarpenterSettings => usize::from(self.karpenter_settings.is_some()),
            SourceKind::KarpenterEvents => self.event_counts.len(),
        }
    }

    /// How many objects of a source the converter refused.
    pub fn refused_count(&self, kind: SourceKind) -> usize {
        self.entries
            .iter()
            .filter(|e| e.status.kind == kind)
            .map(|e| e.refused.len())
            .sum()
    }

    /// Objects the converter refused: one line each naming object and field.
    pub fn refused(&self) -> Vec<String> {
        self.entries
            .iter()
            .flat_map(|e| e.refused.values().cloned())
            .collect()
    }

    /// Take one change of source `index`, seen at `now`.
    pub fn apply(&mut self, index: usize, change: Change, now: DateTime<Utc>) {
        let entry = &mut self.entries[index];
        entry.status.last_event = Some(now);
        let source = entry.status.kind;
        if let Change::Refused(key, message) = &change {
            // Refused objects are left out of the cluster: the log names each (once), the
            // console counts them.
            if !entry.refused.contains_key(key) {
                tracing::warn!(%message, "object refused");
            }
        }
        match change {
            Change::Relisting => {
                // The data stays shown until the new list is done; a source reconnecting
                // stays so (and keeps its since) until the server answers the list.
                entry.relist = Some(Default::default());
                if entry.status.state == SourceState::Live {
                    entry.status.state = SourceState::Syncing;
                }
            }
            Change::Listed(key, converted) => {
                entry.status.state = SourceState::Syncing;
                entry
                    .relist
                    .get_or_insert_with(Default::default)
                    .0
                    .push((key, converted));
            }
            Change::ListDone => {
                let (listed, refused) = entry.relist.take().unwrap_or_default();
                entry.status.state = SourceState::Live;
                entry.status.synced_once = true;
                entry.status.permanent = false;
                entry.refused = refused;
                self.clear_source(source);
                for (key, converted) in listed {
                    self.put(key, converted);
                }
            }
            Change::Applied(key, converted) => {
                entry.status.state = SourceState::Live;
                entry.refused.remove(&key);
                self.put(key, converted);
            }
            Change::Deleted(key) => {
                entry.status.state = SourceState::Live;
                entry.refused.remove(&key);
                self.remove(&key);
            }
            Change::Refused(key, message) => match &mut entry.relist {
                Some((_, refused)) => {
                    refused.insert(key, message);
                }
                None => {
                    // The object's earlier version no longer describes the cluster.
                    entry.refused.insert(key.clone(), message);
                    self.remove(&key);
                }
            },
            Change::Failed { error, permanent } => {
                let since = match &entry.status.state {
                    SourceState::Reconnecting { since, .. } => *since,
                    _ => now,
                };
                entry.status.state = SourceState::Reconnecting { since, error };
                entry.status.permanent = permanent;
                entry.relist = None;
            }
        }
    }

    fn put(&mut self, key: Key, converted: Converted) {
        match converted.karpenter {
            Some(queue) => {
                self.karpenter_marks.insert(key.clone(), queue);
            }
            None => {
                self.karpenter_marks.remove(&key);
            }
        }
        let (s, i) = (&mut self.snapshot, &mut self.index);
        match converted.object {
            Object::Namespace { name, labels } => {
                s.namespaces.insert(name, labels);
            }
            Object::Node(n) => i.nodes.put(&mut s.nodes, key, n),
            Object::Pod(p) => {
                if let Some(old) = i.pods.get(&s.pods, &key) {
                    self.tally.remove(old);
                }
                self.tally.add(&p);
                i.pods.put(&mut s.pods, key, p)
            }
            Object::Workload(w) => i.workloads.put(&mut s.workloads, key, w),
            Object::DaemonSet(d) => i.daemonsets.put(&mut s.daemonsets, key, d),
            Object::Pdb(p) => i.pdbs.put(&mut s.pdbs, key, p),
            Object::NodePool(p) => i.nodepools.put(&mut s.nodepools, key, p),
            Object::NodeClaim(c) => i.nodeclaims.put(&mut s.nodeclaims, key, c),
            Object::NodeClass(c) => i.nodeclasses.put(&mut s.nodeclasses, key, c),
            Object::CoreDns(corefile) => s.settings.coredns_corefile = corefile,
            Object::KarpenterSettings(queue) => self.karpenter_settings = Some(queue),
            Object::OtherConfigMap => {}
            Object::Event(e) => {
                if self.event_counts.insert(key, e.count) != Some(e.count) {
                    self.fresh_events.push(e);
                    // A reader that never looks must not make this grow without end.
                    if self.fresh_events.len() > MAX_FRESH_EVENTS {
                        self.fresh_events.remove(0);
                    }
                }
            }
        }
        self.settle_karpenter();
    }

    fn remove(&mut self, key: &Key) {
        self.forget(Scope::One(key));
    }

    /// Drop every object of a source (before its re-list's objects go in).
    fn clear_source(&mut self, source: SourceKind) {
        self.forget(Scope::All(source));
    }

    /// Drop one object, or all of a source's.
    fn forget(&mut self, scope: Scope) {
        let source = match scope {
            Scope::One(key) => key.0,
            Scope::All(source) => source,
        };
        match scope {
            Scope::One(key) => {
                self.karpenter_marks.remove(key);
            }
            Scope::All(_) => self.karpenter_marks.retain(|k, _| k.0 != source),
        }
        let (s, i) = (&mut self.snapshot, &mut self.index);
        match source {
            SourceKind::Namespaces => match scope {
                Scope::One(key) => {
                    s.namespaces.remove(&key.2);
                }
                Scope::All(_) => s.namespaces.clear(),
            },
            SourceKind::Nodes => i.nodes.forget(&mut s.nodes, scope),
            SourceKind::Pods => {
                match scope {
                    Scope::One(key) => {
                        if let Some(old) = i.pods.get(&s.pods, key) {
                            self.tally.remove(old);
                        }
                    }
                    // Pods have the one source.
                    Scope::All(_) => self.tally = PodTally::default(),
                }
                i.pods.forget(&mut s.pods, scope)
            }
            SourceKind::Deployments | SourceKind::ReplicaSets | SourceKind::StatefulSets => {
                i.workloads.forget(&mut s.workloads, scope)
            }
            SourceKind::DaemonSets => i.daemonsets.forget(&mut s.daemonsets, scope),
            SourceKind::PodDisruptionBudgets => i.pdbs.forget(&mut s.pdbs, scope),
            SourceKind::NodePools | SourceKind::Provisioners => {
                i.nodepools.forget(&mut s.nodepools, scope)
            }
            SourceKind::NodeClaims | SourceKind::Machines => {
                i.nodeclaims.forget(&mut s.nodeclaims, scope)
            }
            SourceKind::Ec2NodeClasses | SourceKind::AwsNodeTemplates => {
                i.nodeclasses.forget(&mut s.nodeclasses, scope)
            }
            SourceKind::CoreDnsConfig => s.settings.coredns_corefile = None,
            SourceKind::KarpenterSettings => self.karpenter_settings = None,
            SourceKind::KarpenterEvents => {
                // Seen events stay seen: a re-list brings them again, and they are not news.
                if let Scope::One(key) = scope {
                    self.event_counts.remove(key);
                }
            }
        }
        self.settle_karpenter();
    }

    /// The settings that Karpenter's controller objects and its settings ConfigMap imply.
    fn settle_karpenter(&mut self) {
        let settings = &mut self.snapshot.settings;
        settings.karpenter_seen =
            !self.karpenter_marks.is_empty() || self.karpenter_settings.is_some();
        settings.interruption_queue = self
            .karpenter_marks
            .values()
            .chain(self.karpenter_settings.iter())
            .find_map(|q| q.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::field::{Field, Origin};

    fn pods_store() -> Store {
        let source = Source {
            kind: SourceKind::Pods,
            resource: ::kube::core::ApiResource {
                group: String::new(),
                version: "v1".into(),
                api_version: "v1".into(),
                kind: "Pod".into(),
                plural: "pods".into(),
            },
        };
        Store::new(&[source], Catalog::embedded())
    }

    /// A pod asking for `cpu` millicores, bound to `node` (pending without one).
    fn pod(name: &str, node: Option<&str>, cpu: i64) -> (Key, Converted) {
        let spec = match node {
            Some(n) => format!("nodeName: {n}, "),
            None => String::new(),
        };
        let text = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: default}}\n\
             spec: {{{spec}containers: [{{name: c, resources: {{requests: {{cpu: {cpu}m}}}}}}]}}\n\
             status: {{phase: {}}}\n",
            if node.is_some() { "Running" } else { "Pending" }
        );
        let value: serde_json::Value = serde_yaml::from_str(&text).unwrap();
        let origin = Origin {
            file: "test".into(),
            position: String::new(),
            object: format!("Pod default/{name}"),
        };
        let converted = crate::k8s::convert("v1", "Pod", &Field::root(&value, &origin))
            .unwrap()
            .unwrap();
        ((SourceKind::Pods, "default".into(), name.into()), converted)
    }

    #[test]
    fn the_tally_follows_each_pod_change_and_relist() {
        let now = Utc::now();
        let mut store = pods_store();
        store.apply(0, Change::Relisting, now);
        for (name, node) in [("a", Some("n1")), ("b", Some("n1")), ("c", None)] {
            let (key, converted) = pod(name, node, 100);
            store.apply(0, Change::Listed(key, converted), now);
        }
        store.apply(0, Change::ListDone, now);
        assert_eq!(store.tally().node("n1").cpu_millis, 200);
        assert_eq!(store.tally().unplaced(), 1);
        // c binds to n2, a grows, b goes.
        for (name, node, cpu) in [("c", Some("n2"), 100), ("a", Some("n1"), 300)] {
            let (key, converted) = pod(name, node, cpu);
            store.apply(0, Change::Applied(key, converted), now);
        }
        store.apply(0, Change::Deleted(pod("b", None, 0).0), now);
        assert_eq!(store.tally(), &PodTally::of(store.snapshot()));
        assert_eq!(store.tally().node("n1").cpu_millis, 300);
        assert_eq!(store.tally().node("n2").pods, 1);
        assert_eq!((store.tally().pods(), store.tally().unplaced()), (2, 0));
        // A re-list replaces the pods whole.
        store.apply(0, Change::Relisting, now);
        let (key, converted) = pod("d", Some("n3"), 50);
        store.apply(0, Change::Listed(key, converted), now);
        store.apply(0, Change::ListDone, now);
        assert_eq!(store.tally(), &PodTally::of(store.snapshot()));
        assert_eq!(store.tally().pods(), 1);
    }
}
