//! What the watchers have seen, converted: per source its slim objects and its state (syncing,
//! live, reconnecting since …). A watch event changes one entry; a re-list swaps a source's
//! objects whole at its end, as kube-runtime's reflector does.

use std::collections::BTreeMap;
use std::sync::Arc;

use ::kube::runtime::watcher::Event;
use chrono::{DateTime, Utc};

use super::raw::Raw;
use super::sources::{Source, SourceKind};
use crate::catalog::Catalog;
use crate::control::SourceState;
use crate::k8s::{self, Converted, Field, Origin};
use crate::model::Snapshot;

/// One source: what it holds and how it stands.
#[derive(Debug, Clone)]
pub struct SourceStatus {
    /// Which source.
    pub kind: SourceKind,
    /// The group/version it is read at.
    pub api_version: String,
    /// Its state.
    pub state: SourceState,
    /// When it last delivered an event (data or error).
    pub last_event: Option<DateTime<Utc>>,
    /// Whether it has completed a list at least once.
    pub synced_once: bool,
}

/// Objects keyed by namespace and name.
type Objects = BTreeMap<(String, String), Converted>;

#[derive(Debug)]
struct Entry {
    status: SourceStatus,
    source: Source,
    objects: Objects,
    /// Objects of a re-list in progress: swapped in when it completes.
    relist: Option<Objects>,
    /// Objects the converter refused, with its message, by namespace and name.
    refused: BTreeMap<(String, String), String>,
}

/// Everything the watchers have seen of one cluster.
#[derive(Debug)]
pub struct Store {
    context: String,
    entries: Vec<Entry>,
    /// Bumped on every change, so a reader can tell whether to rebuild.
    generation: u64,
}

impl Store {
    /// An empty store for these sources of `context`'s cluster.
    pub fn new(context: &str, sources: Vec<Source>) -> Self {
        let entries = sources
            .into_iter()
            .map(|source| Entry {
                status: SourceStatus {
                    kind: source.kind,
                    api_version: source.resource.api_version.clone(),
                    state: SourceState::Syncing,
                    last_event: None,
                    synced_once: false,
                },
                source,
                objects: Objects::new(),
                relist: None,
                refused: BTreeMap::new(),
            })
            .collect();
        Self {
            context: context.to_string(),
            entries,
            generation: 0,
        }
    }

    /// The context the store reads.
    pub fn context(&self) -> &str {
        &self.context
    }

    /// Changes so far: a reader rebuilds when this moved.
    pub fn generation(&self) -> u64 {
        self.generation
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

    /// Whether every source has completed a list.
    pub fn synced(&self) -> bool {
        self.entries.iter().all(|e| e.status.synced_once)
    }

    /// How many objects a source holds.
    pub fn len(&self, kind: SourceKind) -> usize {
        self.entries
            .iter()
            .find(|e| e.status.kind == kind)
            .map_or(0, |e| e.objects.len())
    }

    /// Whether the store holds no objects at all.
    pub fn is_empty(&self) -> bool {
        self.entries.iter().all(|e| e.objects.is_empty())
    }

    /// Objects the converter refused: `(location, message)` lines naming object and field.
    pub fn refused(&self) -> Vec<String> {
        self.entries
            .iter()
            .flat_map(|e| e.refused.values().cloned())
            .collect()
    }

    /// Record a watcher error for source `index`: it is reconnecting.
    pub fn failed(&mut self, index: usize, error: String, now: DateTime<Utc>) {
        let status = &mut self.entries[index].status;
        let since = match &status.state {
            SourceState::Reconnecting { since, .. } => *since,
            _ => now,
        };
        status.state = SourceState::Reconnecting { since, error };
        status.last_event = Some(now);
        self.generation += 1;
    }

    /// Apply one watch event to source `index`.
    pub fn apply(&mut self, index: usize, event: Event<Raw>, now: DateTime<Utc>) {
        let context = self.context.clone();
        let entry = &mut self.entries[index];
        entry.status.last_event = Some(now);
        match event {
            Event::Init => {
                entry.relist = Some(Objects::new());
                if entry.status.synced_once {
                    // A re-list after a gap: the data stays shown until the new list completes.
                    entry.status.state = SourceState::Syncing;
                }
            }
            Event::InitApply(raw) => {
                if let Some((key, converted)) = entry.convert(&context, &raw) {
                    entry
                        .relist
                        .get_or_insert_with(Objects::new)
                        .insert(key, converted);
                }
            }
            Event::InitDone => {
                if let Some(objects) = entry.relist.take() {
                    entry.refused.retain(|k, _| !objects.contains_key(k));
                    entry.objects = objects;
                }
                entry.status.state = SourceState::Live;
                entry.status.synced_once = true;
            }
            Event::Apply(raw) => {
                entry.status.state = SourceState::Live;
                if let Some((key, converted)) = entry.convert(&context, &raw) {
                    entry.objects.insert(key, converted);
                }
            }
            Event::Delete(raw) => {
                entry.status.state = SourceState::Live;
                let key = key_of(&raw);
                entry.objects.remove(&key);
                entry.refused.remove(&key);
            }
        }
        self.generation += 1;
    }

    /// The cluster as a snapshot, objects in a stable order (source, then namespace and name).
    /// The region is left for the caller to infer, as a scenario file's is.
    pub fn snapshot(&self, catalog: Arc<Catalog>) -> Snapshot {
        let mut s = Snapshot::empty(crate::scenario::DEFAULT_REGION, catalog);
        for e in &self.entries {
            for c in e.objects.values() {
                c.clone().add_to(&mut s);
            }
        }
        s
    }
}

fn key_of(raw: &Raw) -> (String, String) {
    (
        raw.meta.namespace.clone().unwrap_or_default(),
        raw.meta.name.clone().unwrap_or_default(),
    )
}

impl Entry {
    /// Convert a served object with the one converter; a refusal is kept to be shown, and the
    /// object's earlier version (if any) is dropped, since it no longer describes the cluster.
    fn convert(&mut self, context: &str, raw: &Raw) -> Option<((String, String), Converted)> {
        let key = key_of(raw);
        let kind = &self.source.resource.kind;
        let origin = Origin {
            file: format!("context {context}"),
            position: String::new(),
            object: k8s::describe(kind, &raw.value),
        };
        let root = Field::root(&raw.value, &origin);
        match k8s::convert(&self.source.resource.api_version, kind, &root) {
            Ok(Ok(converted)) => {
                self.refused.remove(&key);
                Some((key, converted))
            }
            Ok(Err(_skip)) => None,
            Err(e) => {
                self.objects.remove(&key);
                self.refused.insert(key, e.to_string());
                None
            }
        }
    }
}
