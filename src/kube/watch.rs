//! One kube-runtime watcher per source (list, then watch; listed again only after an error, with
//! back-off, never periodically). Each converts what it receives with the one converter on the
//! watchers' runtime and sends the changes to the [`Store`]'s owner, who takes them in when it
//! looks ([`Watching::pump`]): no lock between the watchers and the reader.

use ::kube::runtime::watcher;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;

use super::backoff::Reconnect;
use super::connect::{watch_error_text, Connection};
use super::raw::Raw;
use super::sources::Source;
use super::store::{Change, Key, Store};
use crate::catalog::Catalog;
use crate::k8s::{self, Field, Origin};

/// How long a watch must have stayed up for its next failure to start the back-off afresh.
const WATCH_STEADY: Duration = Duration::from_secs(30);

/// Whether a watcher's error is one retrying will not cure: the server refuses (401, 403) or
/// does not have the resource (404).
fn permanent(e: &watcher::Error) -> bool {
    use watcher::Error as W;
    match e {
        W::InitialListFailed(::kube::Error::Api(s))
        | W::WatchStartFailed(::kube::Error::Api(s))
        | W::WatchFailed(::kube::Error::Api(s)) => matches!(s.code, 401 | 403 | 404),
        W::WatchError(s) => matches!(s.code, 401 | 403 | 404),
        _ => false,
    }
}

/// Watchers running for one cluster and the store they feed; dropping this stops them.
pub struct Watching {
    /// What they have seen, as of the last [`Watching::pump`].
    pub store: Store,
    changes: UnboundedReceiver<(usize, Change)>,
    tasks: Vec<JoinHandle<()>>,
}

impl Watching {
    /// Start a watcher per source on the current tokio runtime.
    pub fn start(
        conn: &Connection,
        sources: Vec<Source>,
        catalog: std::sync::Arc<Catalog>,
    ) -> Self {
        let store = Store::new(&sources, catalog);
        let (tx, changes) = unbounded_channel();
        let tasks = sources
            .into_iter()
            .enumerate()
            .map(|(index, source)| tokio::spawn(run(conn.clone(), index, source, tx.clone())))
            .collect();
        Self {
            store,
            changes,
            tasks,
        }
    }

    /// Take in every change sent so far; true if there was any.
    pub fn pump(&mut self) -> bool {
        let mut any = false;
        while let Ok((index, change)) = self.changes.try_recv() {
            self.store.apply(index, change, Utc::now());
            any = true;
        }
        any
    }

    /// Wait for the next change, then take in all that have come.
    pub async fn next(&mut self) -> bool {
        match self.changes.recv().await {
            Some((index, change)) => {
                self.store.apply(index, change, Utc::now());
                self.pump();
                true
            }
            None => false,
        }
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// One source's watcher, until its receiver is gone.
async fn run(conn: Connection, index: usize, source: Source, tx: UnboundedSender<(usize, Change)>) {
    let api = source.api(&conn.client);
    let mut config = watcher::Config::default();
    if let Some(selector) = source.kind.field_selector() {
        config = config.fields(selector);
    }
    let origin_file = format!("context {}", conn.context);
    let mut delays = Reconnect::new(index);
    loop {
        // A fresh list+watch each time: after any error the source is listed again, so it is
        // whole when it says Live (a resumed watch would say nothing until its next change).
        let mut events = Box::pin(watcher(api.clone(), config.clone()));
        let mut listed: Option<Instant> = None;
        while let Some(event) = events.next().await {
            let convert = |raw: &Raw| convert(&origin_file, &source, raw);
            let (change, failed) = match event {
                Ok(watcher::Event::Init) => (Change::Relisting, false),
                Ok(watcher::Event::InitApply(raw)) => (
                    match convert(&raw) {
                        Ok((key, c)) => Change::Listed(key, c),
                        Err((key, why)) => Change::Refused(key, why),
                    },
                    false,
                ),
                Ok(watcher::Event::InitDone) => {
                    listed = Some(Instant::now());
                    (Change::ListDone, false)
                }
                Ok(watcher::Event::Apply(raw)) => (
                    match convert(&raw) {
                        Ok((key, c)) => Change::Applied(key, c),
                        Err((key, why)) => Change::Refused(key, why),
                    },
                    false,
                ),
                Ok(watcher::Event::Delete(raw)) => (Change::Deleted(key_of(&source, &raw)), false),
                Err(e) => (
                    Change::Failed {
                        error: watch_error_text(&e),
                        permanent: permanent(&e),
                    },
                    true,
                ),
            };
            if tx.send((index, change)).is_err() {
                return;
            }
            if failed {
                break;
            }
        }
        // A list that succeeds with a watch that fails at once (watch not allowed, a proxy
        // cutting streams) must not re-list the source every half second.
        if listed.is_some_and(|t| t.elapsed() > WATCH_STEADY) {
            delays.reset();
        }
        tokio::time::sleep(delays.next().unwrap_or_default()).await;
    }
}

fn key_of(source: &Source, raw: &Raw) -> Key {
    (
        source.kind,
        raw.meta.namespace.clone().unwrap_or_default(),
        raw.meta.name.clone().unwrap_or_default(),
    )
}

/// Convert a served object with the one converter: the object, or why it was refused (naming
/// the object and the field).
fn convert(
    origin_file: &str,
    source: &Source,
    raw: &Raw,
) -> Result<(Key, k8s::Converted), (Key, String)> {
    let key = key_of(source, raw);
    // A converter bug must cost one object, not the source's watcher.
    std::panic::catch_unwind(|| convert_object(origin_file, source, raw, key.clone()))
        .unwrap_or_else(|_| {
            Err((
                key,
                format!("{origin_file}: the converter failed on this object"),
            ))
        })
}

fn convert_object(
    origin_file: &str,
    source: &Source,
    raw: &Raw,
    key: Key,
) -> Result<(Key, k8s::Converted), (Key, String)> {
    let kind = &source.resource.kind;
    let origin = Origin {
        file: origin_file.to_string(),
        position: String::new(),
        object: k8s::describe(kind, &raw.value),
    };
    let root = Field::root(&raw.value, &origin);
    match k8s::convert(&source.resource.api_version, kind, &root) {
        Ok(Ok(converted)) => Ok((key, converted)),
        Ok(Err(skip)) => {
            let location = origin.error("", "").location;
            Err((key, format!("{location}: {skip}")))
        }
        Err(e) => Err((key, e.to_string())),
    }
}
