//! One kube-runtime watcher per source (list, then watch; listed again only after an error, with
//! back-off, never periodically), each feeding the [`Store`]; readers are told of every change.

use std::sync::{Arc, Mutex};

use ::kube::runtime::watcher;
use ::kube::Api;
use chrono::Utc;
use futures::StreamExt;
use tokio::sync::watch as signal;
use tokio::task::JoinHandle;

use super::backoff::Reconnect;
use super::connect::{watch_error_text, Connection};
use super::raw::Raw;
use super::sources::Source;
use super::store::Store;

/// Watchers running for one cluster; dropping this stops them.
pub struct Watching {
    /// What they have seen.
    pub store: Arc<Mutex<Store>>,
    /// Carries the store's generation after every change.
    pub changed: signal::Receiver<u64>,
    tasks: Vec<JoinHandle<()>>,
}

impl Watching {
    /// Start a watcher per source on the current tokio runtime.
    pub fn start(conn: &Connection, sources: Vec<Source>) -> Self {
        let store = Arc::new(Mutex::new(Store::new(&conn.context, sources.clone())));
        let (tx, changed) = signal::channel(0);
        let tx = Arc::new(tx);
        let tasks = sources
            .into_iter()
            .enumerate()
            .map(|(index, source)| {
                let api: Api<Raw> = Api::all_with(conn.client.clone(), &source.resource);
                let mut config = watcher::Config::default();
                if let Some(selector) = source.kind.field_selector() {
                    config = config.fields(selector);
                }
                let store = store.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut delays = Reconnect::new(index);
                    loop {
                        // A fresh list+watch each time: after any error the source is listed
                        // again, so it is whole when it says Live (a resumed watch would say
                        // nothing until its next change).
                        let mut events = Box::pin(watcher(api.clone(), config.clone()));
                        while let Some(event) = events.next().await {
                            let failed = event.is_err();
                            let generation = {
                                let mut s = store.lock().unwrap_or_else(|p| p.into_inner());
                                match event {
                                    Ok(e) => {
                                        if matches!(e, watcher::Event::InitDone) {
                                            delays.reset();
                                        }
                                        s.apply(index, e, Utc::now());
                                    }
                                    Err(e) => s.failed(index, watch_error_text(&e), Utc::now()),
                                }
                                s.generation()
                            };
                            tx.send_replace(generation);
                            if failed {
                                break;
                            }
                        }
                        let delay = delays.next().unwrap_or_default();
                        tokio::time::sleep(delay).await;
                    }
                })
            })
            .collect();
        Self {
            store,
            changed,
            tasks,
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
